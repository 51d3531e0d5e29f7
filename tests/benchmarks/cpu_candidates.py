"""CPU network speed candidates for the bundled model, in one process (issue 26 deliverable 1).

    OMP_NUM_THREADS=2 python tests/benchmarks/cpu_candidates.py [--tiles 64] [--batch 16] [--repeats 3]
        [--only eager,compile,...] [--json out.json]

Every candidate runs the same real tiles (cut from a generated 2048 x 1536 fractograph prepared
exactly as the pipeline prepares it) with both levels' CAMs, in batches of ``--batch``, and is
compared with the eager model as ``Analyzer`` runs it (fp32, channels-last):

- probabilities (level 1 and the joint level 2) within ``P_TOL`` = 1e-3, and CAMs within
  ``CAM_TOL`` = 1e-3 of the eager CAM's range (per level), on the tiles with their pixel size and
  again without one (the "unknown scale" embedding); a candidate outside them is rejected
  whatever its speed;
- tiles/s: best of ``--repeats`` timed passes over all tiles, the candidates interleaved round
  by round so that load that comes and goes on a shared machine hits all of them alike; the
  set-up (compilation, export, quantisation, warm-up) is timed separately.

Candidates (``--only`` picks some; ``eager`` always runs as the reference):

- ``eager``: the baseline (timm's ViT blocks already use ``F.scaled_dot_product_attention``:
  ``Attention.fused_attn`` is printed);
- ``eager-no-sdpa``: the same with timm's fused attention off (what SDPA buys);
- ``compile``: ``torch.compile`` (inductor, default mode), warmed up on the batch shape;
- ``compile-freezing``: the same with inductor's ``freezing`` (weights folded and pre-packed
  for oneDNN);
- ``jit-freeze``: TorchScript trace + ``torch.jit.freeze`` + ``optimize_for_inference``
  (oneDNN conv/BN/activation fusions);
- ``int8-linear``: ``torch.ao.quantization.quantize_dynamic`` of every ``nn.Linear`` except the
  two heads (the CAMs are the heads' weights applied to the fused maps, so the heads stay fp32);
- ``onnxruntime``: ONNX export (fixed batch shape) run by ONNX Runtime's CPU provider with all
  graph optimisations, on torch's thread count (skipped when ``onnxruntime`` is not installed).

Exit status 0 when the script ran (whatever the candidates measured), 2 on bad arguments.
Nothing here changes the analysis; see the README's "Speed" section for which were kept.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

P_TOL = 1e-3
CAM_TOL = 1e-3  # of the eager CAM's range, per level
ALL = ("eager", "eager-no-sdpa", "compile", "compile-freezing", "jit-freeze", "int8-linear", "onnxruntime")

Outputs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # P(l1), joint P(l2), CAM1, CAM2
Runner = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, ...] | list[np.ndarray]]


class _Tuple(torch.nn.Module):
    """The network with tuple outputs (log P1, log P2, CAM1, CAM2), as tracers and exporters want."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, scale: torch.Tensor):
        o = self.model(x, scale, with_cams=True)
        return o.log_p_level1, o.log_p_level2, o.cam_level1, o.cam_level2


def cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = sorted({f for f in ("avx512_bf16", "amx_bf16", "amx_tile", "avx512f", "avx512_vnni", "avx2") if f in text})
    return " ".join(flags) or "none of avx2/avx512/amx"


def _tiles(analyzer, n: int, size: str) -> tuple[torch.Tensor, float]:
    """``n`` standardised real tiles of a generated frame, and its analysis pixel size in nm."""
    from fractoscope.commands.bench import _generated_image, _size
    from fractoscope.imaging import extract_tiles, tile_grid
    from fractoscope.io import read_sem

    w, h = _size(size)
    with tempfile.TemporaryDirectory() as d:
        sem = read_sem(_generated_image(Path(d), w, h))
    prep = analyzer.prepare(sem)
    spec = analyzer.input_spec
    boxes = tile_grid(prep.image.shape, spec.tile_size, analyzer.overlap)
    if len(boxes) < n:
        boxes = (boxes * (n // len(boxes) + 1))[:n]
    tiles = extract_tiles(prep.image, boxes[:n], spec.tile_size)
    x = torch.from_numpy(spec.standardise(tiles))[:, None].contiguous(memory_format=torch.channels_last)
    nm = prep.analysis_pixel_size_m * 1e9 if prep.analysis_pixel_size_m else float("nan")
    return x, nm


# --- the candidates: each returns a runner(x_batch, scale_batch) -> 4 outputs --------------------
def make_eager(model) -> Runner:
    tm = _Tuple(model).eval()

    def run(x, s):
        with torch.inference_mode():
            return tm(x, s)

    return run


def make_eager_no_sdpa(model) -> Runner:
    m = copy.deepcopy(model)
    for blk in m.blocks:
        blk.attn.fused_attn = False
    return make_eager(m)


def make_compile(model, freezing: bool = False) -> Runner:
    # dynamic=False: the timed batches all have one shape (tiles is a multiple of the batch).
    options = {"freezing": True} if freezing else None
    tm = torch.compile(_Tuple(model).eval(), backend="inductor", dynamic=False, options=options)

    def run(x, s):
        with torch.no_grad():
            return tm(x, s)

    return run


def make_jit_freeze(model, x: torch.Tensor, s: torch.Tensor) -> Runner:
    tm = _Tuple(model).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(tm, (x, s), check_trace=False)
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))

    def run(xb, sb):
        with torch.no_grad():
            return frozen(xb, sb)

    return run


def make_int8_linear(model) -> Runner:
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    heads = {"head_level1", "head_level2"}
    names = {
        name: default_dynamic_qconfig
        for name, mod in model.named_modules()
        if isinstance(mod, torch.nn.Linear) and name not in heads
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize_dynamic(copy.deepcopy(model).eval(), qconfig_spec=names, dtype=torch.qint8)
    return make_eager(q)


def make_onnxruntime(model, x: torch.Tensor, s: torch.Tensor, folder: Path) -> Runner:
    import onnxruntime as ort

    path = folder / "hffnet.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript exporter, fixed batch shape: the network's adaptive pooling to the
        # stride-32 map's size needs constant sizes.
        names = {"input_names": ["x", "scale"], "output_names": ["log_p1", "log_p2", "cam1", "cam2"]}
        try:
            torch.onnx.export(_Tuple(model).eval(), (x, s), str(path), dynamo=False, opset_version=18, **names)
        except torch.onnx.errors.UnsupportedOperatorError:
            # The TorchScript exporter has no antialiased resize (a DINOv2 branch resamples its
            # input with one); the dynamo exporter has, and needs the onnxscript package.
            import onnxscript  # noqa: F401 - ImportError: reported as not installed

            torch.onnx.export(_Tuple(model).eval(), (x, s), str(path), dynamo=True, opset_version=18, **names)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = torch.get_num_threads()
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    def run(xb, sb):
        return sess.run(None, {"x": xb.contiguous().numpy(), "scale": sb.numpy()})

    return run


# --- measuring ------------------------------------------------------------------------------------
def _numpy(outs) -> Outputs:
    a = [o.float().numpy() if isinstance(o, torch.Tensor) else np.asarray(o, np.float32) for o in outs]
    return np.exp(a[0]), np.exp(a[1]), a[2], a[3]


def run_all(runner: Runner, x: torch.Tensor, scale: float, batch: int) -> Outputs:
    parts = []
    for i in range(0, x.shape[0], batch):
        xb = x[i : i + batch]
        parts.append(_numpy(runner(xb, torch.full((xb.shape[0],), scale))))
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(4))  # type: ignore[return-value]


def differences(ref: Outputs, got: Outputs) -> tuple[float, float]:
    """Largest |Δp| (both levels) and largest |ΔCAM| / eager CAM range (per level)."""
    dp = max(float(np.abs(got[k] - ref[k]).max()) for k in (0, 1))
    dc = max(float(np.abs(got[k] - ref[k]).max()) / max(float(ref[k].max() - ref[k].min()), 1e-12) for k in (2, 3))
    return dp, dc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiles", type=int, default=64, help="tiles per timed pass (rounded up to a multiple of --batch)")
    ap.add_argument("--batch", type=int, default=16, help="tiles per forward pass (Analyzer's default: 16)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", default="2048x1536", help="generated frame the tiles come from")
    ap.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {', '.join(ALL)}")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    wanted = [c.strip() for c in args.only.split(",") if c.strip()]
    bad = [c for c in wanted if c not in ALL]
    if bad or args.tiles < 1 or args.batch < 1 or args.repeats < 1:
        ap.error(f"unknown candidates {bad}" if bad else "--tiles, --batch and --repeats must be >= 1")
    names = ["eager"] + [c for c in wanted if c != "eager"]

    from fractoscope.analysis.pipeline import Analyzer

    analyzer = Analyzer(device="cpu", tile_cache=False)
    model = analyzer.model.eval()
    n = -(-args.tiles // args.batch) * args.batch
    x, nm = _tiles(analyzer, n, args.size)
    x0, s0 = x[: args.batch], torch.full((args.batch,), nm)
    fused = sorted({bool(getattr(b.attn, "fused_attn", False)) for b in model.blocks})
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU flags: {cpu_flags()}; "
        f"{n} tiles of {x.shape[-1]} px in batches of {args.batch}, pixel size {nm:.1f} nm; "
        f"timm ViT blocks use scaled_dot_product_attention (Attention.fused_attn): {fused}",
        flush=True,
    )

    report: dict = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu_flags": cpu_flags(),
                    "tiles": n, "batch": args.batch, "repeats": args.repeats, "candidates": {}}  # fmt: skip
    runners: dict[str, Runner] = {}
    with tempfile.TemporaryDirectory(prefix="cpu-candidates-") as d:
        makers: dict[str, Callable[[], Runner]] = {
            "eager": lambda: make_eager(model),
            "eager-no-sdpa": lambda: make_eager_no_sdpa(model),
            "compile": lambda: make_compile(model),
            "compile-freezing": lambda: make_compile(model, freezing=True),
            "jit-freeze": lambda: make_jit_freeze(model, x0, s0),
            "int8-linear": lambda: make_int8_linear(model),
            "onnxruntime": lambda: make_onnxruntime(model, x0, s0, Path(d)),
        }
        ref: dict[str, Outputs] = {}
        for name in names:
            entry: dict = {}
            report["candidates"][name] = entry
            t = time.perf_counter()
            try:
                runner = makers[name]()
                # Warm-up (compilation happens on the first calls) and the outputs to check, with
                # the pixel size and without it.
                outs = {"calibrated": run_all(runner, x, nm, args.batch),
                        "uncalibrated": run_all(runner, x, float("nan"), args.batch)}  # fmt: skip
            except ImportError as exc:
                entry.update(status="skipped", reason=f"not installed: {exc.name or exc}")
                print(f"{name}: skipped ({entry['reason']})", flush=True)
                continue
            except Exception as exc:  # noqa: BLE001 - a candidate that fails is reported, not fatal
                entry.update(status="failed", reason=f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
                print(f"{name}: FAILED to build or run: {entry['reason']}", flush=True)
                traceback.print_exc(limit=3)
                continue
            entry["setup_s"] = time.perf_counter() - t
            if name == "eager":
                ref = outs
            worst = [differences(ref[k], outs[k]) for k in ("calibrated", "uncalibrated")]
            dp, dc = max(w[0] for w in worst), max(w[1] for w in worst)
            ok = dp <= P_TOL and dc <= CAM_TOL
            entry.update(max_dp=dp, max_dcam_rel=dc, within_tolerance=ok, status="ok" if ok else "rejected")
            runners[name] = runner
            print(f"{name}: set up in {entry['setup_s']:.1f} s; max|Δp| {dp:.1e}, max|ΔCAM|/range {dc:.1e}"
                  f"{'' if ok else '  OUTSIDE TOLERANCE'}", flush=True)  # fmt: skip

        best = dict.fromkeys(runners, float("inf"))
        for _ in range(args.repeats):
            for name, runner in runners.items():
                t = time.perf_counter()
                run_all(runner, x, nm, args.batch)
                best[name] = min(best[name], time.perf_counter() - t)
    t0 = best["eager"]
    print(f"\n{'candidate':<18} {'tiles/s':>8} {'vs eager':>9} {'max|Δp|':>9} {'|ΔCAM|/range':>13}  verdict")
    for name in names:
        e = report["candidates"][name]
        if name not in best:
            print(f"{name:<18} {'-':>8} {'-':>9} {'-':>9} {'-':>13}  {e['status']}: {e.get('reason', '')}")
            continue
        e["tiles_per_s"] = n / best[name]
        e["speed_vs_eager"] = t0 / best[name]
        print(f"{name:<18} {e['tiles_per_s']:8.1f} {e['speed_vs_eager']:9.2f} {e['max_dp']:9.1e} "
              f"{e['max_dcam_rel']:13.1e}  {'within tolerance' if e['within_tolerance'] else 'REJECTED (outputs)'}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
