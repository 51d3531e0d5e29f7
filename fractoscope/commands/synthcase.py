"""``fractoscope synth-case OUT``: write a generated failure case (overview, frames, truth)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "synth-case",
        help="generate a failure case: a round bar in bending fatigue, its overview and frames",
        description="Write OUT/overview.tif (about 33x), OUT/frame_NN.tif (300x-5000x) with "
        "Thermo Fisher-style stage metadata, optionally frames without metadata, and OUT/case_truth.json "
        "(each frame's true position on the overview, its zone and mechanism). "
        "Open it with `fractoscope case OUT`.",
    )
    p.add_argument("out", type=Path, help="output folder (created if needed)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed -> same case)")
    p.add_argument("--unplaced", type=int, default=0,
                   help="extra frames written without metadata, to be placed by hand (default 0)")
    p.add_argument("--no-rotation", action="store_true", help="every frame at stage and scan rotation 0")
    p.add_argument("--flip-x", action="store_true", help="an instrument whose stage X runs to the left")
    p.add_argument("--flip-y", action="store_true", help="an instrument whose stage Y runs down")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fractoscope.errors import FractoscopeError
    from fractoscope.synth.case import generate_case

    if args.out.exists() and not args.out.is_dir():
        print(f"fractoscope synth-case: {args.out} is a file", file=sys.stderr)
        return 2
    try:
        truth = generate_case(args.out, args.seed, unplaced=max(0, args.unplaced), flip_x=args.flip_x,
                              flip_y=args.flip_y, rotations=not args.no_rotation)
    except (FractoscopeError, OSError) as exc:
        print(f"fractoscope synth-case: {exc}", file=sys.stderr)
        return 2
    print(f"synth-case: wrote the overview and {len(truth['frames'])} frames to {args.out}",
          file=sys.stderr)
    return 0
