"""``fractoscope self-test`` (also ``fractoscope --self-test``): check that this installation works.

Analyses the bundled sample(s) with the bundled model on the CPU, writes a PDF report with
offscreen Qt into a temporary folder and checks it. Exit 0 when every check passes; otherwise
one line saying what failed and exit 1. Used to accept a frozen (PyInstaller) build.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "self-test",
        help="check this installation: analyse the bundled sample and write a PDF report",
        description="Analyse the bundled sample image(s) with the bundled model (CPU), check the "
        "prediction, write a PDF report with offscreen Qt into a temporary folder and check it. "
        "Exit status 0 when everything works, 1 with a one-line reason otherwise.",
    )
    p.add_argument(
        "--keep",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the report into DIR and keep it (default: a temporary folder, removed)",
    )
    p.add_argument(
        "--sample",
        type=Path,
        action="append",
        default=None,
        metavar="IMAGE",
        help="analyse this image instead of the bundled samples (repeatable)",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="print each step")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fractoscope.errors import FractoscopeError
    from fractoscope.selftest import run_self_test

    log = (lambda m: print(f"self-test: {m}", file=sys.stderr)) if args.verbose else None
    try:
        res = run_self_test(work_dir=args.keep, samples=args.sample, log=log)
    except FractoscopeError as exc:
        print(f"fractoscope self-test: FAILED: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a self-test reports any breakage in one line
        if args.verbose:
            import traceback

            traceback.print_exc()
        print(f"fractoscope self-test: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(res.summary())
    return 0
