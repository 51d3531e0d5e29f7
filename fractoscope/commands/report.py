"""``fractoscope report FILE --out X.pdf``: a PDF failure report for one image or a batch folder.

FILE is an image (analysed now, or taken from a batch's stored results with ``--results``) or a
batch output folder (the batch report). Qt is imported inside ``run`` only: drawing uses Qt's
PDF engine (``fractoscope.report.pdf``), offscreen when there is no display.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fractoscope.commands._common import add_model_options, fail


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="write a PDF failure report for an image or a batch output folder",
        description="Write a PDF report. FILE is an image (single-image report) or a folder "
        "written by 'fractoscope batch' (batch report).",
    )
    p.add_argument("file", type=Path, metavar="FILE_OR_BATCH_DIR")
    p.add_argument("--out", "-o", required=True, type=Path, metavar="X.pdf", help="PDF to write")
    p.add_argument(
        "--title",
        default=None,
        help="report title (default: \"Fractography failure report\"; for a batch folder \"Batch fractography report\")",
    )
    p.add_argument("--sample-id", default="", help="sample ID")
    p.add_argument("--analyst", default="", help="analyst name")
    p.add_argument("--notes", default="", help="free-text notes")
    p.add_argument("--date", default=None, help="report date (default: today)")
    p.add_argument("--page-size", choices=("A4", "Letter"), default="A4")
    p.add_argument(
        "--results",
        type=Path,
        default=None,
        metavar="BATCH_DIR",
        help="take the image's stored prediction from this batch folder (no recomputation)",
    )
    p.add_argument(
        "--library",
        type=Path,
        default=None,
        metavar="DIR",
        help="reference library (level1/level2/*): show its most similar labelled images and say "
        "which were compared",
    )
    add_model_options(p)
    p.add_argument("--no-crop", action="store_true", help="do not crop the instrument data bar")
    p.set_defaults(func=run)


def _meta(args: argparse.Namespace, default_title: str):
    from fractoscope.report import ReportMeta

    meta = ReportMeta(
        title=getattr(args, "title", None) or default_title,
        sample_id=getattr(args, "sample_id", "") or "",
        analyst=getattr(args, "analyst", "") or "",
        notes=getattr(args, "notes", "") or "",
    )
    if getattr(args, "date", None):
        meta.date = args.date
    return meta


def find_stored(batch_dir: Path, image: Path):
    """The stored prediction of ``image`` in a batch folder, or None."""
    from fractoscope.batch import load_stored_prediction, read_records

    records, _ = read_records(batch_dir)
    target = str(image.resolve())
    for r in reversed(records):
        if r.ok and r.path == target and r.item and (batch_dir / r.item).is_file():
            return load_stored_prediction(batch_dir / r.item)
    return None


def run(args: argparse.Namespace) -> int:
    from fractoscope.errors import FractoscopeError

    try:
        if args.file.is_dir():
            from fractoscope.report import BATCH_TITLE
            from fractoscope.report.pdf import write_batch_folder_report

            pdf = write_batch_folder_report(
                args.file, args.out, _meta(args, BATCH_TITLE), args.page_size
            )
        else:
            from fractoscope.io import read_sem

            sem = read_sem(args.file, crop_databar=not args.no_crop)
            pred = find_stored(args.results, args.file) if args.results else None
            if args.results and pred is None:
                print(
                    f"fractoscope report: {args.file.name} not in {args.results}; analysing it now",
                    file=sys.stderr,
                )
            analyzer = None
            if pred is None or args.library:
                from fractoscope.analysis.pipeline import Analyzer

                analyzer = Analyzer(args.model, device=args.device)
            if pred is None:
                pred = analyzer.analyze(sem)
            similar, library = None, None
            if args.library:
                from fractoscope.adapt.library import ReferenceLibrary

                if not args.library.is_dir():
                    raise FractoscopeError(f"{args.library}: no such reference library folder")
                lib = ReferenceLibrary(args.library)
                if pred.features is None:  # a stored prediction keeps no features: recompute
                    pred = analyzer.analyze(sem)
                similar = lib.similar(pred, k=3, analyzer=analyzer) if len(lib) else []
                library = (str(args.library), len(lib))
            from fractoscope.report import DEFAULT_TITLE
            from fractoscope.report.pdf import write_image_report

            pdf = write_image_report(
                args.out, sem, pred, _meta(args, DEFAULT_TITLE), args.page_size, similar, library
            )
    except FractoscopeError as exc:
        return fail(exc)
    print(str(pdf))
    return 0
