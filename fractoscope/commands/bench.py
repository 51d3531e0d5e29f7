"""``fractoscope bench``: tiles/s, CAM overhead, comparison with pytorch-grad-cam, GFLOP/s."""

from __future__ import annotations

import argparse

from fractoscope.commands._common import add_model_options, fail, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure inference speed and CAM overhead (ratios against a baseline in the same run)",
    )
    add_model_options(p)
    p.add_argument("--tiles", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fractoscope.analysis.bench import run_bench
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.errors import FractoscopeError

    try:
        analyzer = Analyzer(args.model, args.device)
        r = run_bench(analyzer, args.tiles, args.batch_size, args.repeats)
    except FractoscopeError as exc:
        return fail(exc)
    if args.json:
        print_json(r.to_json_dict())
        return 0
    print(f"device {r.device} ({r.threads} threads), {r.tiles} tiles of {r.tile_size} px, batch {r.batch_size}")
    print(f"prediction alone:          {r.tiles_per_s:8.1f} tiles/s   ({r.gflops:.1f} GFLOP/s, {r.gflop_per_tile:.2f} GFLOP/tile)")
    print(f"prediction + both CAMs:    {r.tiles_per_s_with_cams:8.1f} tiles/s   cam_overhead = {r.cam_overhead:.3f}x (target <= 1.2)")
    if r.vs_pytorch_grad_cam is None:
        print("pytorch-grad-cam:          not installed (pip install 'fractoscope[bench]')")
    else:
        print(
            f"pytorch-grad-cam (2 maps): {r.pytorch_grad_cam_tiles_per_s:8.1f} tiles/s   "
            f"vs_pytorch_grad_cam = {r.vs_pytorch_grad_cam:.3f}x (target <= 0.5); "
            f"max |Δ| of normalised level-1 maps = {r.cam_max_abs_diff_vs_pytorch_grad_cam:.2e}"
        )
    return 0
