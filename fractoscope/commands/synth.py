"""``fractoscope synth``: write a calibrated synthetic fractograph dataset (training/test data)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "synth",
        help="generate synthetic SEM fractographs for every morphology class",
        description="Write OUT/<level1>/<level2>/<level2>_<seed>_<index>.tif: procedurally generated "
        "secondary-electron fractographs, calibrated (ImageJ-style pixel size in the TIFF).",
    )
    p.add_argument("out", help="output folder (created if needed)")
    p.add_argument("--per-class", type=int, required=True, help="images per level-2 class")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed -> same images)")
    p.add_argument("--size", type=int, default=512, help="image width and height in pixels (default 512)")
    p.add_argument("--classes", default="", help="comma-separated level-2 classes (default: all)")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fractoscope.errors import FractoscopeError
    from fractoscope.synth.generate import generate_dataset

    classes = [c.strip() for c in args.classes.split(",") if c.strip()] or None
    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        # One updating line on a terminal, sparse lines in logs.
        if tty:
            print(f"\rsynth: {done}/{total} images", end="" if done < total else "\n", file=sys.stderr, flush=True)
        elif done == total or done % max(1, total // 10) == 0:
            print(f"synth: {done}/{total} images", file=sys.stderr, flush=True)

    try:
        paths = generate_dataset(args.out, args.per_class, args.seed, size=args.size, classes=classes,
                                 workers=max(1, args.workers), progress=progress)
    except FractoscopeError as exc:
        print(f"fractoscope synth: error: {exc}", file=sys.stderr)
        return 2
    print(f"synth: wrote {len(paths)} images to {args.out}", file=sys.stderr)
    return 0
