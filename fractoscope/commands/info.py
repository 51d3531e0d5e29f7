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


def _fmt(value, unit: str = "", digits: int = 4) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, float):
        return f"{value:.{digits}g}{unit}"
    return f"{value}{unit}"


def stage_text(stage: dict) -> str:
    """``X 12.3456 mm  Y ...  R 30.0°  T 0.0°  scan rotation 18.0°`` (stated values only)."""
    parts = []
    for key, name in (("x_m", "X"), ("y_m", "Y"), ("z_m", "Z")):
        if stage.get(key) is not None:
            parts.append(f"{name} {stage[key] * 1e3:.4f} mm")
    for key, name in (("rotation_deg", "R"), ("tilt_deg", "T"), ("scan_rotation_deg", "scan rotation")):
        if stage.get(key) is not None:
            parts.append(f"{name} {stage[key]:.1f}\u00b0")
    return "  ".join(parts)


def text_report(d: dict) -> str:
    from fractoscope.calibration import format_length

    rows, cols = d["shape"]
    raw_rows, raw_cols = d["raw_shape"]
    lines = [d["path"]]
    vendor = d["vendor"] or "unknown"
    lines.append(f"  vendor:          {vendor}" + (f" ({d['model']})" if d["model"] else ""))
    lines.append(f"  high voltage:    {_fmt(d['high_voltage_kv'], ' kV')}")
    lines.append(f"  working dist.:   {_fmt(d['working_distance_mm'], ' mm')}")
    mag = d["magnification"]
    lines.append(f"  magnification:   {'unknown' if mag is None else f'{mag:,.0f}x'}")
    lines.append(f"  detector:        {_fmt(d['detector'])}")
    if d["date"]:
        lines.append(f"  date:            {d['date']}")
    if d["pixel_size_m"] is not None:
        px = format_length(d["pixel_size_m"])
        py = d["pixel_size_y_m"]
        if py is not None and abs(py - d["pixel_size_m"]) > 1e-6 * d["pixel_size_m"]:
            px += f" x {format_length(py)}"
        lines.append(f"  pixel size:      {px} ({d['calibration_source']})")
    else:
        lines.append("  pixel size:      uncalibrated (no usable scale in the file)")
    bar = d["databar_rows"]
    size = f"{cols} x {rows} px"
    if bar:
        size += f" ({raw_cols} x {raw_rows} with a {bar}-row data bar, {d['databar_source']})"
    elif d["databar_source"] == "disabled":
        size += " (data-bar crop disabled)"
    lines.append(f"  image size:      {size}  [{d['dtype']}, {d['channels']} channel(s)]")
    fov = d["field_of_view_m"]
    if fov:
        lines.append(f"  field of view:   {format_length(fov[0])} x {format_length(fov[1])}")
    stage = d.get("stage")
    if stage:
        lines.append(f"  stage:           {stage_text(stage)}")
    for note in d["notes"]:
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
