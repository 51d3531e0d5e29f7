"""A JSON-ready summary of an opened image (``fractoscope info --json``, reports)."""

from __future__ import annotations

from fractoscope.calibration import format_length
from fractoscope.io.sem_image import SemImage


def describe(sem: SemImage) -> dict:
    """Plain-data summary: path, instrument, calibration, shapes, data bar, notes."""
    cal = sem.calibration
    fov = sem.field_of_view_m
    d = {
        "path": str(sem.path) if sem.path else None,
        "name": sem.name,
        **sem.instrument.to_dict(),
        "pixel_size_m": cal.pixel_size_x_m,
        "pixel_size_y_m": cal.pixel_size_y_m,
        "pixel_size": format_length(cal.pixel_size_x_m) if cal.is_calibrated else None,
        "calibration_source": cal.source,
        "raw_shape": list(sem.raw_shape),
        "shape": list(sem.shape),
        "channels": int(sem.data.shape[2]) if sem.data.ndim == 3 else 1,
        "dtype": str(sem.data.dtype),
        "databar_rows": int(sem.databar_rows),
        "databar_source": sem.databar_source,
        "field_of_view_m": list(fov) if fov else None,
        "notes": list(sem.notes),
    }
    return d
