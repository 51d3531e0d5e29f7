"""Throughput benchmark: prediction alone vs. prediction + both CAMs vs. pytorch-grad-cam.

All figures come from one process on the same model and the same tiles, so they are reported as
ratios against the baseline (prediction alone) measured alongside them.
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
    tiles_per_s: float  # prediction alone
    tiles_per_s_with_cams: float
    cam_overhead: float  # time with CAMs / time without
    pytorch_grad_cam_tiles_per_s: float | None
    vs_pytorch_grad_cam: float | None  # our time for both maps / theirs
    cam_max_abs_diff_vs_pytorch_grad_cam: float | None
    gflop_per_tile: float
    gflops: float  # achieved GFLOP/s for prediction alone

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


def run_bench(
    analyzer: Analyzer, n_tiles: int = 32, batch_size: int = 16, repeats: int = 3, seed: int = 0
) -> BenchResult:
    model = analyzer.model
    dev = next(model.parameters()).device
    size = analyzer.model_info.input_size
    rng = np.random.default_rng(seed)
    # Real-looking input: smoothed noise tiles in [0, 1] (the timing does not depend on content).
    tiles = rng.random((n_tiles, size, size)).astype(np.float32)
    px = 20e-9

    def predict(with_cams: bool) -> None:
        for s in range(0, n_tiles, batch_size):
            analyzer.infer_tiles(tiles[s : s + batch_size], px, with_cams=with_cams)
        if dev.type == "cuda":
            torch.cuda.synchronize()

    t_plain = _best_time(lambda: predict(False), repeats)
    t_cams = _best_time(lambda: predict(True), repeats)

    theirs_t = diff = None
    try:
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError:
        GradCAM = None  # noqa: N806 - optional dependency
    if GradCAM is not None:
        scale = torch.full((batch_size,), px * 1e9, device=dev)
        m1, m2 = _LogitsOf(model, 1, scale).eval(), _LogitsOf(model, 2, scale).eval()
        layers = model.cam_layers()
        cam1 = GradCAM(model=m1, target_layers=[layers["level1"]])
        cam2 = GradCAM(model=m2, target_layers=[layers["level2"]])
        x_all = (torch.from_numpy(tiles)[:, None] - 0.5) / 0.25

        def theirs() -> list[np.ndarray]:
            maps = []
            for s in range(0, n_tiles, batch_size):
                x = x_all[s : s + batch_size].to(dev)
                with torch.no_grad():
                    out = model(x, scale[: x.shape[0]], with_cams=False)
                t1 = [ClassifierOutputTarget(int(i)) for i in out.logits_level1.argmax(1)]
                t2 = [ClassifierOutputTarget(int(i)) for i in out.logits_level2.argmax(1)]
                maps.append(cam1(input_tensor=x, targets=t1))
                maps.append(cam2(input_tensor=x, targets=t2))
            return maps

        theirs_t = _best_time(theirs, max(1, repeats - 1))
        # Same maps? Compare level-1 maps of the first batch, both min-max normalised per tile
        # the way pytorch-grad-cam does, at the input resolution.
        x = x_all[:batch_size].to(dev)
        ref = cam1(input_tensor=x, targets=None)
        with torch.inference_mode():
            out = model(x, scale[: x.shape[0]], with_cams=True)
        ours = torch.relu(out.cam_level1[torch.arange(x.shape[0]), out.logits_level1.argmax(1)])
        ours = torch.nn.functional.interpolate(ours[:, None], size=(size, size), mode="bilinear", align_corners=False)[:, 0]
        ours = ours - ours.amin((1, 2), keepdim=True)
        ours = ours / (ours.amax((1, 2), keepdim=True) + 1e-7)
        diff = float(np.abs(ours.cpu().numpy() - ref).max())
        cam1.activations_and_grads.release()
        cam2.activations_and_grads.release()

    gft = _flops_per_tile(model, size, dev)
    return BenchResult(
        device=dev.type,
        threads=torch.get_num_threads(),
        tiles=n_tiles,
        batch_size=batch_size,
        tile_size=size,
        tiles_per_s=n_tiles / t_plain,
        tiles_per_s_with_cams=n_tiles / t_cams,
        cam_overhead=t_cams / t_plain,
        pytorch_grad_cam_tiles_per_s=None if theirs_t is None else n_tiles / theirs_t,
        vs_pytorch_grad_cam=None if theirs_t is None else t_cams / theirs_t,
        cam_max_abs_diff_vs_pytorch_grad_cam=diff,
        gflop_per_tile=gft,
        gflops=gft * n_tiles / t_plain,
    )
