"""``fractoscope case DIR``: a failure case's frames placed on its overview and classified.

Opens the case folder (``case.json`` when there is one), places every frame from its stage
metadata (hand placements from ``case.json`` win), analyses the overview and the frames through
the batch engine (results in ``DIR/.fractoscope-case/``, reused on the next run), saves
``case.json`` and prints a summary, or with ``--json`` exactly::

    {"overview": PATH, "frames": [{"path", "x_px", "y_px", "width_px", "height_px",
      "rotation_deg", "placed_by", "level1", "level2", "uncertain"}, ...]}

(centre and size in overview pixels, x right, y down; rotation clockwise on screen; nulls for a
frame that is unplaced or not analysed).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from fractoscope.commands._common import add_model_options, add_surface_option, print_json

EXIT_CODES = """\
exit status:
  0    every frame placed or listed unplaced, and analysed
  1    some frames could not be analysed (their reason is printed; the others are done)
  2    usage error: not a folder, no images, model, cluster or report could not be used
  130  interrupted with Ctrl-C (results so far are kept; run again to resume)
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "case",
        help="place a failure case's frames on its overview, classify them, write the case report",
        description="Open the case folder DIR (an overview and frames; case.json beside them when "
        "the case was saved), place each frame from its stage metadata or its hand placement, "
        "analyse the frames (resumable; results in DIR/.fractoscope-case) and save case.json. "
        "The images are never moved or changed.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("folder", type=Path, metavar="DIR", help="the case folder")
    p.add_argument("--json", action="store_true", help="print the placements and results as JSON")
    p.add_argument("--report", type=Path, default=None, metavar="PDF",
                   help="also write the case report (map page, summary table, one page per frame)")
    p.add_argument("--page-size", choices=("A4", "Letter"), default="A4", help="report page size")
    p.add_argument("--overview", default=None, metavar="FILE",
                   help="use this image of the folder as the overview (saved in case.json)")
    p.add_argument("--flip-x", action="store_true",
                   help="this instrument's stage X runs to the left on the overview (saved)")
    p.add_argument("--flip-y", action="store_true",
                   help="this instrument's stage Y runs down on the overview (saved)")
    p.add_argument("--overview-map", action="store_true",
                   help="also classify the overview tile by tile (a coarse mechanism map; slow)")
    p.add_argument("--no-analyse", action="store_true",
                   help="place only: show stored results, run no model")
    add_model_options(p)
    add_surface_option(p, "case's frames")
    p.add_argument("--no-lab-stats", action="store_true",
                   help="judge each frame on its own (default: a case of 20 or more images is "
                   "aligned to its own images' feature statistics first)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N", default=None,
                       help="analyse on a local Dask cluster of N worker processes")
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT", default=None,
                       help="analyse on an existing Dask cluster")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def _err(message: str) -> None:
    print(f"fractoscope case: {message}", file=sys.stderr)


def case_json(case) -> dict:
    """The ``--json`` object (also used by tests and scripts)."""
    frames = []
    for f in case.frames:
        p, r = f.placement, f.result or {}
        frames.append({
            "path": str(f.path),
            "x_px": p.x_px if p else None,
            "y_px": p.y_px if p else None,
            "width_px": p.width_px if p else None,
            "height_px": p.height_px if p else None,
            "rotation_deg": p.rotation_deg if p else None,
            "placed_by": p.placed_by if p else None,
            "level1": r.get("level1"),
            "level2": r.get("level2"),
            "uncertain": r.get("uncertain"),
        })
    return {"overview": str(case.overview) if case.overview else None, "frames": frames}


def _summary(case) -> str:
    lines = [f"overview: {case.overview}"]
    for f in case.frames:
        p, r = f.placement, f.result or {}
        where = (f"at ({p.x_px:.0f}, {p.y_px:.0f}) px, {p.width_px:.0f} x {p.height_px:.0f} px, "
                 f"{p.rotation_deg:+.1f} deg, by {p.placed_by}") if p else f"unplaced ({f.unplaced_reason})"
        if r.get("error"):
            what = f"FAILED {r['error']}"
        elif r.get("level1"):
            what = f"{r['level1']} / {r.get('level2') or '-'}" + (" [uncertain]" if r.get("uncertain") else "")
        else:
            what = "not analysed"
        lines.append(f"  {f.name}: {where}: {what}")
    placed = sum(f.placement is not None for f in case.frames)
    lines.append(f"{len(case.frames)} frames, {placed} placed, {len(case.frames) - placed} unplaced")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from fractoscope.case.analyse import analyse_case
    from fractoscope.case.layout import place_frames
    from fractoscope.case.model import load_case, save_case
    from fractoscope.errors import FractoscopeError

    if args.workers is not None and args.workers < 1:
        _err("--workers must be at least 1")
        return 2
    try:
        case, warnings = load_case(args.folder, place=False)  # placed below, after the options
    except FractoscopeError as exc:
        _err(str(exc))
        return 2
    if args.overview:
        if case.overview is None or Path(args.overview).name != case.overview.name:
            name = Path(args.overview).name
            if not (case.folder / name).is_file() or case.frame(name) is None:
                _err(f"--overview {args.overview}: not an image of {args.folder}")
                return 2
            case.set_overview(name)
    for flag in ("flip_x", "flip_y"):
        if getattr(args, flag) and not getattr(case, flag):
            setattr(case, flag, True)
    warnings += place_frames(case)
    for w in warnings:
        _err(w)

    status = 0
    if not args.no_analyse:
        interrupted = {"n": 0}

        def on_sigint(signum, frame) -> None:
            interrupted["n"] += 1
            if interrupted["n"] > 1:
                raise KeyboardInterrupt
            _err("stopping (Ctrl-C again to abort)")

        def progress(fraction: float, text: str) -> None:
            if not args.quiet:
                print(f"\r[{fraction * 100:5.1f} %] {text[:70]:<70}", end="", file=sys.stderr, flush=True)

        old = signal.signal(signal.SIGINT, on_sigint)
        try:
            from fractoscope.analysis.pipeline import Analyzer

            analyzer = Analyzer(args.model, device=args.device)
            analyse_case(case, workers=args.workers, scheduler=args.scheduler, progress=progress,
                         cancel=lambda: interrupted["n"] > 0, analyzer=analyzer,
                         include_overview=args.overview_map, surface=args.surface,
                         lab_stats=not args.no_lab_stats)
        except FractoscopeError as exc:
            if not args.quiet:
                print(file=sys.stderr)
            _err(str(exc))
            return 2
        finally:
            signal.signal(signal.SIGINT, old)
        if not args.quiet:
            print(file=sys.stderr)
        if interrupted["n"]:
            status = 130
        for f in case.frames:
            if f.result and f.result.get("error"):
                _err(f"{f.path}: {f.result['error']}")
                status = status or 1
    try:
        save_case(case)
    except FractoscopeError as exc:
        _err(f"case.json not saved: {exc}")  # a read-only folder still gives its answer

    if args.report is not None:
        try:
            from fractoscope.report.pdf.case import write_case_report
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("fractoscope"):
                _err("the case report is not available in this build")
                return 2
            raise
        try:
            pdf = write_case_report(case, args.report, page_size=args.page_size)
        except FractoscopeError as exc:
            _err(f"report: {exc}")
            return 2
        if not args.json:
            print(f"report: {pdf}", file=sys.stderr)

    if args.json:
        print_json(case_json(case))
    else:
        print(_summary(case))
    return status
