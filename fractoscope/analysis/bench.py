"""Throughput benchmark of the model with and without CAMs, against fair Grad-CAM baselines.

All figures come from one process on the same model, the same tiles and the same number of
repeats, so they are reported as ratios against baselines measured alongside them:

- **forward only**: the network's forward pass without CAMs (``cam_overhead`` = ours with both
  CAMs / forward only);
- **lean autograd Grad-CAM**: both levels' Grad-CAM from one forward and one backward on the
  same layers (the backward starts at the CAM layers' outputs, so it runs through the heads only;
  the level-1 and level-2 targets are each level's most probable class);
- **pytorch-grad-cam**: the library as users call it, ``targets=None`` (it picks the most
  probable class itself), one ``GradCAM`` per level.

Ours is the end-to-end ``Analyzer.infer_tiles`` step (normalisation, forward with every class's
CAM at both levels, probabilities and CAMs copied out), so the comparison favours the baselines.

Two references put the network's speed against the hardware and against the whole analysis
(issue 26's ratios; the third, batch wall time / predict wall time on the same images, is
``tests/benchmarks/batch_vs_predict.py``):

- **matmul**: a plain 2048 x 2048 fp32 matrix product on the same threads (best of the same
  repeats), what this CPU does at its easiest; ``forward_vs_matmul`` = forward GFLOP/s / matmul
  GFLOP/s;
- **end to end**: ``Analyzer.analyze`` of one image with CAMs, as ``predict`` runs it (normalise,
  tiles, tile weights, forward, stitching, vote, confidence), in tiles through the network per
  second; ``end_to_end_vs_forward`` = that / forward-only tiles/s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from fractoscope.analysis.pipeline import Analyzer


@dataclass
class BenchResult:
    device: str
    threads: int
    tiles: int
    batch_size: int
    tile_size: int
    repeats: int
    forward_tiles_per_s: float  # network forward alone, no CAMs
    tiles_per_s: float  # ours without CAMs (end to end: normalise, forward, probabilities out)
    tiles_per_s_with_cams: float  # ours with both levels' CAMs of every class
    cam_overhead: float  # ours with CAMs / forward only
    lean_gradcam_tiles_per_s: float
    vs_lean_gradcam: float  # our time for both levels' CAMs / lean autograd Grad-CAM's
    cam_max_abs_diff_vs_lean_gradcam: float  # max |Δ| of the raw (un-normalised) target maps
    pytorch_grad_cam_tiles_per_s: float | None
    vs_pytorch_grad_cam: float | None  # our time for both maps / theirs
    cam_max_abs_diff_vs_pytorch_grad_cam: float | None
    gflop_per_tile: float
    gflops: float  # achieved GFLOP/s of the forward pass
    matmul_gflops: float  # plain 2048 x 2048 fp32 matmul on the same threads (best of repeats)
    forward_vs_matmul: float  # gflops / matmul_gflops
    end_to_end_tiles_per_s: float | None = None  # Analyzer.analyze with CAMs, tiles run / wall s
    end_to_end_vs_forward: float | None = None  # end_to_end_tiles_per_s / forward_tiles_per_s
    end_to_end_image: dict | None = None  # what it analysed: shape, tiles in the grid, tiles run

    def to_json_dict(self) -> dict:
        return asdict(self)


def _best_time(fn: Callable[[], object], repeats: int) -> float:
    """Minimum of ``repeats`` timings after one warm-up (least disturbed by other load)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


MATMUL_N = 2048


def matmul_gflops(repeats: int = 3, n: int = MATMUL_N, device: torch.device | str = "cpu") -> float:
    """GFLOP/s of a plain ``n x n`` fp32 matrix product (2 n^3 flops) on torch's current threads,
    best of ``repeats`` after one warm-up: the reference the network's GFLOP/s is read against."""
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(n, n, generator=gen).to(dev)
    b = torch.rand(n, n, generator=gen).to(dev)
    out = torch.empty(n, n, device=dev)

    def mm() -> None:
        torch.mm(a, b, out=out)
        if dev.type == "cuda":
            torch.cuda.synchronize()

    return 2.0 * n**3 / _best_time(mm, max(1, repeats)) / 1e9


def end_to_end(analyzer: Analyzer, sem, repeats: int = 3) -> tuple[float, dict]:
    """Tiles through the network per second of ``analyzer.analyze(sem)`` with CAMs (best of
    ``repeats`` after a warm-up), i.e. what ``predict``'s JSON timings give; and what was run."""
    best = float("inf")
    pred = None
    for i in range(max(1, repeats) + 1):
        t = time.perf_counter()
        pred = analyzer.analyze(sem, with_cams=True)
        if i:  # the first call is the warm-up
            best = min(best, time.perf_counter() - t)
    run = int(pred.timings.get("tiles_run", len(pred.tiles)))
    info = {"shape": list(sem.shape), "tiles": len(pred.tiles), "tiles_run": run, "total_s": best}
    return run / best, info


def _flops_per_tile(model: torch.nn.Module, size: int, device: torch.device) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, 1, size, size, device=device)
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        model(x, None, with_cams=False)
    return fc.get_total_flops() / 1e9


class _LogitsOf(torch.nn.Module):
    """Adapter: pytorch-grad-cam wants a model returning one logits tensor."""

    def __init__(self, model: torch.nn.Module, level: int, scale: torch.Tensor) -> None:
        super().__init__()
        self.model, self.level, self.scale = model, level, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x, self.scale[: x.shape[0]], with_cams=False)
        return out.logits_level1 if self.level == 1 else out.logits_level2


def lean_gradcam(
    model: torch.nn.Module, x: torch.Tensor, scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grad-CAM of both levels' most probable class from one forward and one backward.

    Forward hooks replace each CAM layer's output by a detached leaf that requires grad, with
    the parameters frozen: the graph then starts at the CAM layers, and one ``autograd.grad``
    of (level-1 score + level-2 score) gives each level's gradient separately (the level-2
    score depends on the level-1 layer only through its own, detached, leaf).
    Returns ReLU(sum_c mean(dS/dA_c) A_c) per level, at each layer's resolution.
    """
    layers = model.cam_layers()
    acts: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(_m, _inp, out):
            leaf = out.detach().requires_grad_(True)
            acts[name] = leaf
            return leaf

        return hook

    handles = [layers[k].register_forward_hook(keep(k)) for k in ("level1", "level2")]
    flags = [p.requires_grad for p in model.parameters()]
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        with torch.enable_grad():
            out = model(x, scale[: x.shape[0]], with_cams=False)
            s1 = out.logits_level1.gather(1, out.logits_level1.argmax(1, keepdim=True)).sum()
            s2 = out.logits_level2.gather(1, out.logits_level2.argmax(1, keepdim=True)).sum()
            g1, g2 = torch.autograd.grad(s1 + s2, [acts["level1"], acts["level2"]])
    finally:
        for h in handles:
            h.remove()
        for p, f in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(f)
    cams = []
    for g, a in ((g1, acts["level1"]), (g2, acts["level2"])):
        alpha = g.mean((2, 3), keepdim=True)
        cams.append(torch.relu((alpha * a.detach()).sum(1)))
    return cams[0], cams[1]


def run_bench(
    analyzer: Analyzer,
    n_tiles: int = 32,
    batch_size: int = 16,
    repeats: int = 3,
    seed: int = 0,
    image=None,
) -> BenchResult:
    """All figures in one process. ``image``: a SemImage for the end-to-end figure (None: skipped)."""
    model = analyzer.model
    dev = next(model.parameters()).device
    size = analyzer.input_spec.tile_size
    rng = np.random.default_rng(seed)
    # Random tiles in [0, 1]: the timing does not depend on content.
    tiles = rng.random((n_tiles, size, size)).astype(np.float32)
    px = 20e-9
    x_all = torch.from_numpy(analyzer.input_spec.standardise(tiles))[:, None].to(dev)
    scale = torch.full((batch_size,), px * 1e9, device=dev)
    batches = [x_all[s : s + batch_size] for s in range(0, n_tiles, batch_size)]

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def forward_only() -> None:
        with torch.inference_mode():
            for x in batches:
                model(x, scale[: x.shape[0]], with_cams=False)
        sync()

    def ours(with_cams: bool) -> None:
        for s in range(0, n_tiles, batch_size):
            analyzer.infer_tiles(tiles[s : s + batch_size], px, with_cams=with_cams)
        sync()

    def lean() -> None:
        for x in batches:
            lean_gradcam(model, x, scale)
        sync()

    t_fwd = _best_time(forward_only, repeats)
    t_plain = _best_time(lambda: ours(False), repeats)
    t_cams = _best_time(lambda: ours(True), repeats)
    t_lean = _best_time(lean, repeats)

    # Same maps? The lean Grad-CAM of each level's top class equals ReLU of our CAM of that class.
    x = batches[0]
    l1, l2 = lean_gradcam(model, x, scale)
    with torch.inference_mode():
        out = model(x, scale[: x.shape[0]], with_cams=True)
    idx = torch.arange(x.shape[0], device=dev)
    o1 = torch.relu(out.cam_level1[idx, out.logits_level1.argmax(1)])
    o2 = torch.relu(out.cam_level2[idx, out.logits_level2.argmax(1)])
    lean_diff = max(float((o1 - l1).abs().max()), float((o2 - l2).abs().max()))

    theirs_t = diff = None
    try:
        from pytorch_grad_cam import GradCAM
    except ImportError:
        GradCAM = None  # noqa: N806 - optional dependency
    if GradCAM is not None:
        m1, m2 = _LogitsOf(model, 1, scale).eval(), _LogitsOf(model, 2, scale).eval()
        layers = model.cam_layers()
        cam1 = GradCAM(model=m1, target_layers=[layers["level1"]])
        cam2 = GradCAM(model=m2, target_layers=[layers["level2"]])
        try:

            def theirs() -> None:
                for xb in batches:
                    cam1(input_tensor=xb, targets=None)
                    cam2(input_tensor=xb, targets=None)
                sync()

            theirs_t = _best_time(theirs, repeats)
            # Same maps? Level-1 maps of the first batch, both min-max normalised per tile the
            # way pytorch-grad-cam does, at the input resolution.
            ref = cam1(input_tensor=x, targets=None)
            ours_n = torch.nn.functional.interpolate(
                o1[:, None], size=(size, size), mode="bilinear", align_corners=False
            )[:, 0]
            ours_n = ours_n - ours_n.amin((1, 2), keepdim=True)
            ours_n = ours_n / (ours_n.amax((1, 2), keepdim=True) + 1e-7)
            diff = float(np.abs(ours_n.cpu().numpy() - ref).max())
        finally:
            cam1.activations_and_grads.release()
            cam2.activations_and_grads.release()

    gft = _flops_per_tile(model, size, dev)
    gflops = gft * n_tiles / t_fwd
    mm = matmul_gflops(repeats, device=dev)
    e2e = e2e_info = None
    if image is not None:
        e2e, e2e_info = end_to_end(analyzer, image, repeats)
    return BenchResult(
        device=dev.type,
        threads=torch.get_num_threads(),
        tiles=n_tiles,
        batch_size=batch_size,
        tile_size=size,
        repeats=repeats,
        forward_tiles_per_s=n_tiles / t_fwd,
        tiles_per_s=n_tiles / t_plain,
        tiles_per_s_with_cams=n_tiles / t_cams,
        cam_overhead=t_cams / t_fwd,
        lean_gradcam_tiles_per_s=n_tiles / t_lean,
        vs_lean_gradcam=t_cams / t_lean,
        cam_max_abs_diff_vs_lean_gradcam=lean_diff,
        pytorch_grad_cam_tiles_per_s=None if theirs_t is None else n_tiles / theirs_t,
        vs_pytorch_grad_cam=None if theirs_t is None else t_cams / theirs_t,
        cam_max_abs_diff_vs_pytorch_grad_cam=diff,
        gflop_per_tile=gft,
        gflops=gflops,
        matmul_gflops=mm,
        forward_vs_matmul=gflops / mm,
        end_to_end_tiles_per_s=e2e,
        end_to_end_vs_forward=None if e2e is None else e2e / (n_tiles / t_fwd),
        end_to_end_image=e2e_info,
    )
