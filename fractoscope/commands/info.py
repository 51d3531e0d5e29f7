"""``fractoscope info FILE...``: what the microscope wrote about each image.

Failed files get one line on stderr (``fractoscope: <path>: <reason>``) and exit status 2; the
other files are still reported.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "info",
        help="show calibration and instrument metadata of SEM images",
        description="Show vendor, instrument settings, pixel size (and where it came from), "
        "image size before/after the data-bar crop and the physical field of view.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="image files (TIFF, PNG, JPEG, BMP)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per file")
    p.add_argument("--no-crop", action="store_true", help="do not crop the instrument data bar")
    p.add_argument("--force", action="store_true",
                   help="open images above the megapixel safety limit")
    p.set_defaults(func=run)


def text_report(d: dict) -> str:
    """The text block of one file; every value worded by ``io.describe.metadata_text`` (the same
    strings as the window's Image tab and the PDF report)."""
    from fractoscope.io.describe import metadata_text

    t = metadata_text(d)
    lines = [d["path"]]
    lines.append(f"  vendor:          {t.vendor}")
    lines.append(f"  instrument:      {t.instrument}")
    lines.append(f"  high voltage:    {t.high_voltage}")
    lines.append(f"  working dist.:   {t.working_distance}")
    lines.append(f"  magnification:   {t.magnification}")
    lines.append(f"  detector:        {t.detector}")
    lines.append(f"  date:            {t.date}")
    if t.calibrated:
        lines.append(f"  pixel size:      {t.pixel_size} ({t.calibration_source})")
    else:
        lines.append(f"  pixel size:      {t.pixel_size} (no usable scale in the file)")
    lines.append(f"  image size:      {t.image_size}  [{t.pixel_type}]")
    lines.append(f"  data bar:        {t.data_bar}")
    lines.append(f"  field of view:   {t.field_of_view}")
    if t.stage:
        lines.append(f"  stage:           {t.stage}")
    for note in t.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import warnings

    from fractoscope.errors import FractoscopeError
    from fractoscope.io import describe, read_sem

    results: list[dict] = []
    failed = 0
    for path in args.files:
        try:
            with warnings.catch_warnings():
                # Warnings are also in the notes, which we print; do not repeat them raw.
                warnings.simplefilter("ignore")
                sem = read_sem(path, crop_databar=not args.no_crop, force=args.force)
            d = describe(sem)
            d["path"] = str(path)
        except FractoscopeError as exc:
            failed += 1
            msg = str(exc)
            if not msg.startswith(str(path)):
                msg = f"{path}: {msg}"
            print(f"fractoscope: {msg}", file=sys.stderr)
            results.append({"path": str(path), "error": msg})
            continue
        results.append(d)
        if not args.json:
            print(text_report(d))
            sys.stdout.flush()
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    return 2 if failed else 0
