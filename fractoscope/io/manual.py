"""Manual pixel-size calibration saved beside the image as ``<image>.fractoscope.json``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from fractoscope.atomic import write_atomic
from fractoscope.calibration import Calibration
from fractoscope.errors import CalibrationError

SIDECAR_SUFFIX = ".fractoscope.json"
_FORMAT = "fractoscope-calibration"
_MAX_BYTES = 100_000


def manual_calibration_path(image_path: str | os.PathLike) -> Path:
    p = Path(image_path)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def save_manual_calibration(image_path: str | os.PathLike, calibration: Calibration) -> Path:
    """Write ``calibration`` (source forced to "manual") next to the image; returns the path.

    Written to a temporary file then renamed, so a crash never leaves half a sidecar.
    """
    if not calibration.is_calibrated:
        raise CalibrationError("cannot save an empty calibration")
    cal = Calibration.checked(calibration.pixel_size_x_m, calibration.pixel_size_y_m, "manual")
    target = manual_calibration_path(image_path)
    payload = {
        "format": _FORMAT,
        "version": 1,
        "image": target.name[: -len(SIDECAR_SUFFIX)],
        "calibration": cal.to_dict(),
    }
    try:
        write_atomic(target, (json.dumps(payload, indent=2) + "\n").encode("utf-8"))
    except OSError as exc:
        raise CalibrationError(
            f"{target}: cannot save manual calibration ({exc.strerror or exc})"
        ) from None
    return target


def load_manual_calibration(image_path: str | os.PathLike) -> Calibration | None:
    """The saved manual calibration, None when there is none.

    Raises CalibrationError when the sidecar exists but is unreadable or invalid.
    """
    path = manual_calibration_path(image_path)
    if not path.is_file():
        return None
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise CalibrationError(f"{path.name}: too large to be a calibration file")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CalibrationError(f"{path.name}: unreadable calibration file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("calibration"), dict):
        raise CalibrationError(f"{path.name}: not a Fractoscope calibration file")
    try:
        cal = Calibration.from_dict(data["calibration"])
    except CalibrationError as exc:
        raise CalibrationError(f"{path.name}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise CalibrationError(f"{path.name}: invalid calibration ({exc})") from None
    if not cal.is_calibrated:
        raise CalibrationError(f"{path.name}: no pixel size in calibration file")
    return Calibration(cal.pixel_size_x_m, cal.pixel_size_y_m, "manual")
