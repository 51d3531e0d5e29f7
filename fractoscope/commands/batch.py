"""``fractoscope batch DIR_OR_FILES... --out OUTDIR``: analyse many images, resumably.

Writes ``OUTDIR/results.csv``, ``results.jsonl``, ``manifest.json``, overlays and stored
predictions, one image at a time (see ``fractoscope.batch.store``). Re-running with the same
OUTDIR skips images already done with the same content and model. ``--workers N`` or
``--scheduler tcp://HOST:PORT`` spread the images over a Dask cluster; the results are the same.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from fractoscope.commands._common import add_model_options, add_surface_option

EXIT_CODES = """\
exit status:
  0    every image analysed
  1    some images failed (each has a 'failed' row with its reason; the others are done)
  2    usage error: no such file or folder, no images found, unusable output folder,
       model or cluster could not be used (nothing analysed)
  130  interrupted with Ctrl-C (results so far are kept; run again to resume)
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "batch",
        help="analyse folders of images into CSV/JSONL results, overlays and an optional PDF report",
        description="Analyse every image of the given folders and files. Results are written "
        "incrementally and durably; re-running resumes where the last run stopped.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="DIR_OR_FILE", help="folders and/or image files")
    p.add_argument("--out", "-o", required=True, type=Path, metavar="OUTDIR", help="output folder")
    p.add_argument("--recursive", "-r", action="store_true", help="include sub-folders")
    p.add_argument("--report", action="store_true", help="also write OUTDIR/report.pdf")
    p.add_argument("--page-size", choices=("A4", "Letter"), default="A4", help="report page size")
    add_model_options(p)
    p.add_argument("--no-crop", action="store_true", help="do not crop the instrument data bar")
    p.add_argument(
        "--no-lab-stats", action="store_true",
        help="judge each image on its own (default: with 20 or more images, align their features "
        "to the training images' first, fitted on up to 50 of them; stored as OUTDIR/lab_stats.json)",
    )
    add_surface_option(p, "images")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int,
        metavar="N",
        default=None,
        help="analyse on a local Dask cluster of N worker processes (cores shared among them)",
    )
    where.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        default=None,
        help="analyse on an existing Dask cluster (workers need Fractoscope and read access "
        "to the images)",
    )
    p.add_argument("--title", default=None, help='report title (default "Batch fractography report")')
    p.add_argument("--sample-id", default="", help="report: sample ID")
    p.add_argument("--analyst", default="", help="report: analyst")
    p.add_argument("--notes", default="", help="report: notes")
    p.add_argument("--quiet", "-q", action="store_true", help="only the final summary")
    p.set_defaults(func=run)


def _usage_error(message: str) -> int:
    print(f"fractoscope batch: {message}", file=sys.stderr)
    return 2


def _write_report(args: argparse.Namespace) -> Path:
    from fractoscope.report import BATCH_TITLE, ReportMeta
    from fractoscope.report.pdf import write_batch_folder_report

    meta = ReportMeta(
        title=args.title or BATCH_TITLE,
        sample_id=args.sample_id,
        analyst=args.analyst,
        notes=args.notes,
    )
    return write_batch_folder_report(args.out, args.out / "report.pdf", meta, args.page_size)


def run(args: argparse.Namespace) -> int:
    from fractoscope.batch import BatchEvent, collect_inputs, format_eta, run_batch
    from fractoscope.errors import FractoscopeError

    if args.workers is not None and args.workers < 1:
        return _usage_error("--workers must be at least 1")
    if args.scheduler is not None and not args.scheduler.strip():
        return _usage_error("--scheduler needs an address such as tcp://host:8786")
    try:  # before the model loads or the output folder exists: missing paths, no images
        collect_inputs(args.inputs, recursive=args.recursive, exclude=args.out, require_images=True)
    except FractoscopeError as exc:
        return _usage_error(str(exc))
    if args.out.exists() and not args.out.is_dir():
        return _usage_error(f"output folder {args.out} is a file")

    from fractoscope.applog import setup_logging

    # A bug met on one image fails its row in one line; its traceback goes to results.jsonl and here.
    setup_logging()
    interrupted = {"n": 0}

    def on_sigint(signum, frame) -> None:  # first Ctrl-C: stop cleanly after this tile batch
        interrupted["n"] += 1
        if interrupted["n"] > 1:
            raise KeyboardInterrupt
        print("fractoscope batch: stopping (Ctrl-C again to abort)", file=sys.stderr)

    def on_event(ev: BatchEvent) -> None:
        if ev.kind == "lab_stats" and not ev.message.startswith("lab statistics:"):
            # Said once (its progress lines are not): what the run's results are adjusted to.
            print(f"fractoscope batch: {ev.message}", file=sys.stderr)
            return
        if args.quiet or ev.kind != "image_done" or ev.record is None:
            return
        r = ev.record
        what = (
            ("not recognised (closest: " if r.uncertain else "")
            + f"{r.closest_level1} ({r.closest_p_level1:.2f}) / {r.closest_level2 or '-'}"
            + (f" ({r.closest_p_level2:.2f})" if r.closest_p_level2 is not None else "")
            + (f") [uncertain: {r.uncertain_reason}]" if r.uncertain else "")
            if r.ok
            else f"FAILED {r.error}"
        )
        tag = " [done earlier]" if ev.reused else ""
        print(
            f"[{ev.done + ev.failed}/{ev.total}] {r.name}: {what}{tag}  {format_eta(ev.eta_s)}",
            file=sys.stderr,
        )

    try:
        from fractoscope.analysis.pipeline import Analyzer

        analyzer = Analyzer(args.model, device=args.device)
    except FractoscopeError as exc:
        return _usage_error(str(exc))
    old = signal.signal(signal.SIGINT, on_sigint)
    try:
        summary = run_batch(
            args.inputs,
            args.out,
            analyzer,
            recursive=args.recursive,
            progress=on_event,
            cancel=lambda: interrupted["n"] > 0,
            crop_databar=not args.no_crop,
            workers=args.workers,
            scheduler=args.scheduler,
            lab_stats=not args.no_lab_stats,
            surface=args.surface,
        )
    except FractoscopeError as exc:
        return _usage_error(str(exc))
    finally:
        signal.signal(signal.SIGINT, old)

    print(
        f"{summary.total} images: {summary.ok} ok ({summary.reused} done earlier), "
        f"{summary.failed} failed, {summary.ignored} non-image files ignored"
        f"{', CANCELLED' if summary.cancelled else ''} -> {args.out / 'results.csv'}",
        file=sys.stderr,
    )
    for path, reason in summary.failures:
        print(f"fractoscope: {path}: {reason}", file=sys.stderr)
    if args.report:
        if summary.cancelled:
            print("fractoscope batch: report not written: the run was interrupted", file=sys.stderr)
        else:
            try:
                pdf = _write_report(args)
            except FractoscopeError as exc:
                print(f"fractoscope batch: report: {exc}", file=sys.stderr)
                return 2
            print(f"report: {pdf}", file=sys.stderr)
    return summary.exit_code
