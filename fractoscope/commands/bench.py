"""``fractoscope bench``: tiles/s, CAM overhead against fair baselines, GFLOP/s against a plain
matmul, end-to-end tiles/s against forward-only; ``--profile``: where one image's batch time goes."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from fractoscope.commands._common import add_model_options, fail, print_json

MATMUL_N = 2048  # fractoscope.analysis.bench.MATMUL_N (not imported here: torch loads lazily)


PROFILE_SIZE = "2048x1536"
END_TO_END_SIZE = "1280x960"  # the frame size of issue 26's measurements


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure inference speed and CAM overhead (ratios against baselines in the same run)",
        description="Time the model with and without CAMs against a forward-only pass, a lean "
        "autograd Grad-CAM and pytorch-grad-cam, all on the same tiles with the same repeats; "
        "then a plain 2048x2048 fp32 matmul on the same threads (forward GFLOP/s / matmul GFLOP/s) "
        "and one image analysed as predict does (end-to-end tiles/s / forward-only tiles/s). "
        "--profile instead times each stage of one image's batch work.",
    )
    add_model_options(p)
    p.add_argument("--tiles", type=int, default=32, help="tiles per timing (default 32)")
    p.add_argument("--batch-size", type=int, default=16, help="tiles per forward pass")
    p.add_argument("--repeats", type=int, default=3, help="timings per method; the best counts")
    p.add_argument(
        "--profile",
        nargs="?",
        const="",
        default=None,
        metavar="IMAGE",
        help="time read, normalise, model, tiles/stitch, overlays and writing of one image "
        "(default: a generated fractograph of --size)",
    )
    p.add_argument(
        "--image",
        default=None,
        metavar="FILE",
        help="image for the end-to-end figure (default: a generated fractograph of --size)",
    )
    p.add_argument(
        "--size",
        default=None,
        metavar="WxH",
        help=f"generated image size (default {PROFILE_SIZE} for --profile, {END_TO_END_SIZE} for "
        "the end-to-end figure)",
    )
    p.add_argument(
        "--no-end-to-end", action="store_true", help="skip the end-to-end image (quicker)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must look like 2048x1536, not {text!r}") from None
    if w < 64 or h < 64:
        raise ValueError("--size must be at least 64x64")
    return w, h


def _generated_image(
    folder: Path, width: int, height: int, level2: str = "equiaxed_dimples", index: int = 0
) -> Path:
    """A synthetic calibrated fractograph of width x height px (mirrored out from a square)."""
    import numpy as np

    from fractoscope.synth.generate import image_rng, render_details, write_tiff

    side = min(max(width, height), 1024)
    r = render_details(level2, image_rng(1, level2, index), side)
    img = r.image[: side - r.databar_rows] if r.databar_rows else r.image
    reps = (-(-height // img.shape[0]), -(-width // img.shape[1]))
    tiled = np.block([[img if (i + j) % 2 == 0 else img[::-1, ::-1] for j in range(reps[1])] for i in range(reps[0])])
    path = folder / f"{level2}_{index}_{width}x{height}.tif"
    write_tiff(path, np.ascontiguousarray(tiled[:height, :width]), r.pixel_size_m)
    return path


def run(args: argparse.Namespace) -> int:
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.errors import FractoscopeError

    for name in ("tiles", "batch_size", "repeats"):
        if getattr(args, name) < 1:
            return fail(f"--{name.replace('_', '-')} must be at least 1")
    try:
        if args.size is not None:
            _size(args.size)  # a bad --size is a usage error before the model loads
        analyzer = Analyzer(args.model, args.device, tile_cache=False)  # timed: every run computes
        if args.profile is not None:
            return _profile(args, analyzer)
        from fractoscope.analysis.bench import run_bench
        from fractoscope.io import read_sem

        with tempfile.TemporaryDirectory(prefix="fractoscope-bench-") as d:
            sem = None
            if args.image:
                sem = read_sem(args.image)
            elif not args.no_end_to_end:
                w, h = _size(args.size or END_TO_END_SIZE)
                sem = read_sem(_generated_image(Path(d), w, h))
        r = run_bench(analyzer, args.tiles, args.batch_size, args.repeats, image=sem)
    except (FractoscopeError, ValueError) as exc:
        return fail(exc)
    if args.json:
        print_json(r.to_json_dict())
        return 0
    print(
        f"device {r.device} ({r.threads} threads), {r.tiles} tiles of {r.tile_size} px, "
        f"batch {r.batch_size}, best of {r.repeats}"
    )
    print(
        f"forward only:                    {r.forward_tiles_per_s:8.1f} tiles/s   "
        f"({r.gflops:.1f} GFLOP/s, {r.gflop_per_tile:.2f} GFLOP/tile)"
    )
    print(f"ours, no CAMs (end to end):      {r.tiles_per_s:8.1f} tiles/s")
    print(
        f"ours, both levels' CAMs:         {r.tiles_per_s_with_cams:8.1f} tiles/s   "
        f"cam_overhead = {r.cam_overhead:.3f}x forward only"
    )
    print(
        f"lean autograd Grad-CAM (2 maps): {r.lean_gradcam_tiles_per_s:8.1f} tiles/s   "
        f"ours take {r.vs_lean_gradcam:.3f}x its time; max |Δ| of the maps "
        f"{r.cam_max_abs_diff_vs_lean_gradcam:.1e}"
    )
    if r.vs_pytorch_grad_cam is None:
        print("pytorch-grad-cam:                not installed (pip install 'fractoscope[bench]')")
    else:
        print(
            f"pytorch-grad-cam (2 maps):       {r.pytorch_grad_cam_tiles_per_s:8.1f} tiles/s   "
            f"ours take {r.vs_pytorch_grad_cam:.3f}x its time; max |Δ| of normalised level-1 "
            f"maps {r.cam_max_abs_diff_vs_pytorch_grad_cam:.1e}"
        )
    print(
        f"plain {MATMUL_N}x{MATMUL_N} fp32 matmul:     {r.matmul_gflops:8.1f} GFLOP/s   "
        f"forward / matmul = {r.forward_vs_matmul:.2f}"
    )
    if r.end_to_end_tiles_per_s is not None:
        e = r.end_to_end_image
        rows, cols = e["shape"]
        print(
            f"end to end (analyze, with CAMs): {r.end_to_end_tiles_per_s:8.1f} tiles/s   "
            f"end to end / forward only = {r.end_to_end_vs_forward:.2f} "
            f"({cols} x {rows} px, {e['tiles_run']} of {e['tiles']} tiles run, {e['total_s']:.2f} s)"
        )
    print(
        "batch wall time / predict wall time: python tests/benchmarks/batch_vs_predict.py DIR",
    )
    return 0


def _profile(args: argparse.Namespace, analyzer) -> int:
    from fractoscope.batch.profile import profile_image

    with tempfile.TemporaryDirectory(prefix="fractoscope-bench-") as d:
        if args.profile:
            path = Path(args.profile)
        else:
            w, h = _size(args.size or PROFILE_SIZE)
            path = _generated_image(Path(d), w, h)
        prof = profile_image(analyzer, path, repeats=args.repeats)
    if args.json:
        print_json(prof.to_json_dict())
        return 0
    h, w = prof.shape
    print(
        f"{Path(prof.image).name}: {w} x {h} px, {prof.tiles} tiles, device {prof.device} "
        f"({prof.threads} threads), best of {prof.repeats}"
    )
    total = prof.total_s
    for stage, s in prof.seconds.items():
        print(f"  {stage:<24} {s * 1000:8.0f} ms  {100 * s / total:5.1f} %")
    print(f"  {'total':<24} {total * 1000:8.0f} ms", file=sys.stdout)
    return 0
