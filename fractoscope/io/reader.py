"""``read_sem``: open an SEM image, its calibration, instrument metadata and data-bar crop.

Calibration precedence: a saved manual scale > metadata embedded in the file (FEI, Zeiss,
TESCAN) > ImageJ scale > a vendor sidecar beside the file (JEOL, Hitachi, TESCAN .hdr) > none.
Implausible pixel sizes (zero, negative, NaN, outside 10 pm .. 1 mm) are rejected with a warning
and the image is treated as uncalibrated. Bad files raise ImageReadError naming the file.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import tifffile

from fractoscope.calibration import Calibration, is_plausible_pixel_size
from fractoscope.errors import CalibrationError, FractoscopeError, ImageReadError
from fractoscope.io import pixels
from fractoscope.io.databar import detect_databar
from fractoscope.io.faults import is_parser_bug
from fractoscope.io.manual import load_manual_calibration
from fractoscope.io.sem_image import InstrumentInfo, SemImage
from fractoscope.io.sidecars import read_sidecar
from fractoscope.io.vendors import EMBEDDED_READERS, VendorMeta

SUPPORTED_SUFFIXES: tuple[str, ...] = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")

# A data bar is never more than this fraction of the frame (FEI/Zeiss/JEOL/TESCAN: 4-14 %).
MAX_DATABAR_FRACTION = 0.3

_MAGIC = {
    b"II*\x00": "tiff",
    b"MM\x00*": "tiff",
    b"II+\x00": "tiff",
    b"MM\x00+": "tiff",
    b"\x89PNG": "png",
    b"\xff\xd8\xff": "jpeg",
    b"BM": "bmp",
}

# tifffile logs header problems at WARNING and ERROR (e.g. "ImageJ series metadata invalid or
# corrupted file" for a truncated file) before it raises or recovers; the reader reports its own
# one-line reason for every bad file, so tifffile's log lines would be a second, stray line.
logging.getLogger("tifffile").setLevel(logging.CRITICAL)


def is_supported(path: str | os.PathLike) -> bool:
    """True for a file name with a suffix ``read_sem`` opens (case-insensitive, not hidden)."""
    p = Path(path)
    return p.suffix.lower() in SUPPORTED_SUFFIXES and not p.name.startswith(".")


def _sniff(path: Path) -> str:
    """Format from the first bytes; raises ImageReadError for anything not an image."""
    try:
        if path.is_dir():
            raise ImageReadError("is a directory, not an image")
        with open(path, "rb") as fh:
            head = fh.read(16)
    except FileNotFoundError:
        raise ImageReadError("no such file") from None
    except PermissionError:
        raise ImageReadError("permission denied") from None
    except IsADirectoryError:
        raise ImageReadError("is a directory, not an image") from None
    except OSError as exc:
        raise ImageReadError(f"cannot read file ({exc.strerror or exc})") from None
    if not head:
        raise ImageReadError("empty file (0 bytes)")
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        raise ImageReadError("not an image: the file contains text")
    raise ImageReadError("not a supported image format (TIFF, PNG, JPEG or BMP)")


def _read_tiff(path: Path, force: bool, notes: list[str]) -> tuple[np.ndarray, list[VendorMeta]]:
    metas: list[VendorMeta] = []
    try:
        size = path.stat().st_size
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            rows, cols, _ = pixels.tiff_layout(page)
            pixels.check_dimensions(rows, cols, force)
            try:
                series = tif.series[0] if tif.series else None
                if series is not None and series.ndim >= 5 and series.size > rows * cols * 4:
                    raise ImageReadError(
                        f"unsupported layout: {series.ndim}-D image stack {series.shape}"
                    )
                npages = len(tif.pages)
            except ImageReadError:
                raise
            except Exception as exc:
                if is_parser_bug(exc):
                    raise
                npages = 1
            if npages > 1:
                notes.append(f"page 1 of {npages} read")
            for reader in EMBEDDED_READERS:
                try:
                    meta = reader(tif, rows, cols)
                except Exception as exc:  # a damaged metadata block must not stop the pixels
                    if is_parser_bug(exc):  # but a bug in our reader is not a damaged block
                        raise
                    notes.append(f"{reader.__name__[5:]} metadata unreadable ({pixels.short_reason(exc)})")
                    continue
                if meta is not None:
                    metas.append(meta)
            pixels.check_tiff_extent(page, size)
            try:
                data = pixels.tiff_page_array(page, notes)
            except ImageReadError:
                raise
            except MemoryError:
                raise ImageReadError("not enough memory to decode the image") from None
            except Exception as exc:
                if is_parser_bug(exc):
                    raise
                if page.compression == 1:
                    raise ImageReadError(f"cannot decode TIFF pixels ({pixels.short_reason(exc)})") from exc
                # e.g. a compression tifffile needs imagecodecs for: Pillow may manage it.
                data = None
    except ImageReadError:
        raise
    except MemoryError:
        raise ImageReadError("not enough memory to read the image") from None
    except Exception as exc:  # tifffile raises TiffFileError, ValueError, struct.error, ...
        if is_parser_bug(exc):  # raised in our own code: a bug, not a corrupt file (io/faults.py)
            raise
        raise ImageReadError(f"corrupt or unsupported TIFF ({pixels.short_reason(exc)})") from exc
    if data is None:
        data = pixels.read_with_pillow(path, force, notes)
    return data, metas


def _validated(meta: VendorMeta, notes: list[str]) -> Calibration | None:
    """The calibration ``meta`` states, or None (with a warning) when it is implausible."""
    if not meta.has_pixel_size:
        return None
    x, y = meta.pixel_x_m, meta.pixel_y_m
    if y is not None and not is_plausible_pixel_size(y):
        if is_plausible_pixel_size(x):
            _warn(notes, f"ignored implausible y pixel size {y!r} m from {meta.source}")
        y = None
    if not is_plausible_pixel_size(x):
        _warn(notes, f"ignored implausible pixel size {x!r} m from {meta.source}: "
              "image treated as uncalibrated")
        return None
    return Calibration.checked(x, y, meta.source)


def _warn(notes: list[str], message: str) -> None:
    notes.append(message)
    warnings.warn(message, UserWarning, stacklevel=4)


def _merge_instrument(metas: list[VendorMeta]) -> InstrumentInfo:
    info = InstrumentInfo()
    for meta in metas:
        src = meta.instrument
        for name in ("vendor", "model", "high_voltage_kv", "working_distance_mm", "magnification",
                     "horizontal_field_width_m", "detector", "date", "stage"):
            if getattr(info, name) is None and getattr(src, name) is not None:
                setattr(info, name, getattr(src, name))
    return info


def read_sem(
    path: str | os.PathLike, *, crop_databar: bool = True, force: bool = False
) -> SemImage:
    """Open an SEM image (TIFF, PNG, JPEG, BMP): pixels, calibration, instrument, data bar.

    ``force`` lifts the MAX_MEGAPIXELS limit. Raises ImageReadError("<path>: <reason>") for a
    file that cannot be read; a bug in the reading code itself (``io.faults.is_parser_bug``)
    propagates unchanged, with its traceback, for the caller to log.
    """
    p = Path(path)
    try:
        return _read(p, crop_databar, force)
    except FractoscopeError as exc:
        raise ImageReadError(f"{p}: {exc}") from None
    except MemoryError:
        raise ImageReadError(f"{p}: not enough memory to read the image") from None
    except Exception as exc:  # last resort: never let a library exception reach the user
        if is_parser_bug(exc):
            raise
        raise ImageReadError(f"{p}: unexpected error reading image ({pixels.short_reason(exc)})") from exc


def _read(p: Path, crop_databar: bool, force: bool) -> SemImage:
    notes: list[str] = []
    kind = _sniff(p)
    metas: list[VendorMeta] = []
    if kind == "tiff":
        data, metas = _read_tiff(p, force, notes)
    else:
        data = pixels.read_with_pillow(p, force, notes)
    data = pixels.finalize(data, notes)
    rows, cols = int(data.shape[0]), int(data.shape[1])

    side = read_sidecar(p, rows, cols)
    if side is not None:
        metas.append(side)
    for meta in metas:
        notes.extend(meta.notes)

    calibration = Calibration.none()
    for meta in metas:
        cal = _validated(meta, notes)
        if cal is not None:
            calibration = cal
            break
    try:
        manual = load_manual_calibration(p)
    except CalibrationError as exc:
        _warn(notes, f"saved manual calibration ignored: {exc}")
        manual = None
    if manual is not None:
        if calibration.is_calibrated:
            notes.append(f"manual calibration overrides {calibration.source}")
        calibration = manual

    instrument = _merge_instrument(metas)

    bar_rows, bar_source = 0, "none"
    stated = next((m.databar_rows for m in metas if m.databar_rows is not None), None)
    if not crop_databar:
        bar_source = "disabled"
    elif stated is not None:
        if 0 < stated <= rows * MAX_DATABAR_FRACTION:
            bar_rows, bar_source = stated, "metadata"
        elif stated:
            notes.append(f"metadata data-bar height {stated} rows ignored (implausible)")
    else:
        detected = detect_databar(data)
        if detected:
            bar_rows, bar_source = detected, "detected"

    return SemImage(
        data=data,
        calibration=calibration,
        instrument=instrument,
        path=p,
        databar_rows=bar_rows,
        databar_source=bar_source,
        notes=notes,
    )
