"""``fractoscope batch DIR_OR_FILES... --out OUTDIR``: analyse many images, resumably.

Writes ``OUTDIR/results.csv``, ``results.jsonl``, ``manifest.json``, overlays and stored
predictions, one image at a time (see ``fractoscope.batch.store``). Re-running with the same
OUTDIR skips images already done with the same content and model. Exit status: 0 all images ok,
1 some image failed, 2 the run could not start, 130 interrupted (results so far are kept).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "batch",
        help="analyse folders of images into CSV/JSONL results, overlays and an optional PDF report",
        description="Analyse every image of the given folders and files. Results are written "
        "incrementally and durably; re-running resumes where the last run stopped.",
    )
    p.add_argument("inputs", nargs="+", metavar="DIR_OR_FILE", help="folders and/or image files")
    p.add_argument("--out", "-o", required=True, type=Path, metavar="OUTDIR", help="output folder")
    p.add_argument("--recursive", "-r", action="store_true", help="include sub-folders")
    p.add_argument("--report", action="store_true", help="also write OUTDIR/report.pdf")
    p.add_argument("--page-size", choices=("A4", "Letter"), default="A4", help="report page size")
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    p.add_argument("--model", type=Path, default=None, help="model .safetensors (default: bundled)")
    p.add_argument("--no-crop", action="store_true", help="do not crop the instrument data bar")
    p.add_argument("--title", default="Batch fractography report", help="report title")
    p.add_argument("--sample-id", default="", help="report: sample ID")
    p.add_argument("--analyst", default="", help="report: analyst")
    p.add_argument("--notes", default="", help="report: notes")
    p.add_argument("--quiet", "-q", action="store_true", help="only the final summary")
    p.set_defaults(func=run)


def _fmt_eta(s: float | None) -> str:
    if s is None:
        return "ETA --"
    s = int(round(s))
    return f"ETA {s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"ETA {s // 60}m{s % 60:02d}s"


def run(args: argparse.Namespace) -> int:
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.batch import BatchEvent, run_batch
    from fractoscope.errors import FractoscopeError

    interrupted = {"n": 0}

    def on_sigint(signum, frame) -> None:  # first Ctrl-C: stop cleanly after this tile batch
        interrupted["n"] += 1
        if interrupted["n"] > 1:
            raise KeyboardInterrupt
        print("fractoscope batch: stopping (Ctrl-C again to abort)", file=sys.stderr)

    def on_event(ev: BatchEvent) -> None:
        if args.quiet or ev.kind != "image_done" or ev.record is None:
            return
        r = ev.record
        what = (
            f"{r.level1} ({r.p_level1:.2f}) / {r.level2} ({r.p_level2:.2f})"
            if r.ok
            else f"ERROR {r.error}"
        )
        tag = " [done earlier]" if ev.reused else ""
        print(
            f"[{ev.index + 1}/{ev.total}] {r.name}: {what}{tag}  {_fmt_eta(ev.eta_s)}",
            file=sys.stderr,
        )

    try:  # fail fast on an unusable output folder, before the model loads
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(
            f"fractoscope batch: cannot create output folder {args.out}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    try:
        analyzer = Analyzer(args.model, device=args.device)
    except FractoscopeError as exc:
        print(f"fractoscope batch: {exc}", file=sys.stderr)
        return 2
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
        )
    except FractoscopeError as exc:
        print(f"fractoscope batch: {exc}", file=sys.stderr)
        return 2
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
    if args.report and summary.total:
        from fractoscope.commands.report import write_batch_pdf

        try:
            pdf = write_batch_pdf(args.out, args.out / "report.pdf", args, args.page_size)
        except FractoscopeError as exc:
            print(f"fractoscope batch: report: {exc}", file=sys.stderr)
            return 2
        print(f"report: {pdf}", file=sys.stderr)
    return summary.exit_code
