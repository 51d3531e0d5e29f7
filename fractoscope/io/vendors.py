"""Calibration and instrument metadata embedded in TIFF files (FEI, Zeiss, TESCAN, ImageJ).

Each reader takes an open ``tifffile.TiffFile`` and returns a :class:`VendorMeta` or None.
Readers never raise: a malformed header yields what could be understood plus a note, because
a broken metadata block must never stop the pixels from being opened.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import tifffile

from fractoscope.io.sem_image import InstrumentInfo, StagePosition
from fractoscope.io.units import (
    length_to_m,
    magnification,
    normalize_unit,
    raw_float,
    to_float,
    voltage_to_kv,
)

FEI_VENDOR = "Thermo Fisher/FEI"
ZEISS_VENDOR = "Zeiss"
TESCAN_VENDOR = "TESCAN"

TESCAN_TAG = 50431


@dataclass
class VendorMeta:
    """What one metadata source says: raw pixel size (unvalidated), instrument, data-bar rows."""

    source: str
    instrument: InstrumentInfo = field(default_factory=InstrumentInfo)
    pixel_x_m: float | None = None
    pixel_y_m: float | None = None
    databar_rows: int | None = None  # rows at the bottom that are not image, when stated
    notes: list[str] = field(default_factory=list)

    @property
    def has_pixel_size(self) -> bool:
        return self.pixel_x_m is not None


def _section(meta: dict, *names: str) -> dict:
    for n in names:
        s = meta.get(n)
        if isinstance(s, dict):
            return s
    return {}


def _first(*values: object) -> float | None:
    for v in values:
        f = to_float(v)
        if f is not None:
            return f
    return None


def _text(value: object) -> str | None:
    if value is None:
        return None
    s = str(value).strip()
    return s if s and s.lower() not in ("none", "null", "n/a") else None


def _positive(value: float | None, scale: float = 1.0) -> float | None:
    return value * scale if value is not None and value > 0 else None


def _finite(value: object, scale: float = 1.0) -> float | None:
    f = to_float(value)
    return f * scale if f is not None and math.isfinite(f) else None


def stage_or_none(stage: StagePosition) -> StagePosition | None:
    """``stage`` unless the metadata stated none of its values."""
    return None if stage.is_empty else stage


RAD = 180.0 / math.pi


# --- Thermo Fisher / FEI -------------------------------------------------------------------


def read_fei(tif: tifffile.TiffFile, rows: int, cols: int) -> VendorMeta | None:
    if not tif.is_fei:
        return None
    meta = tif.fei_metadata or {}
    out = VendorMeta(source="FEI metadata")
    system = _section(meta, "System")
    beam = _section(meta, "Beam")
    ebeam = _section(meta, "EBeam")
    scan = _section(meta, "Scan")
    escan = _section(meta, "EScan")
    image = _section(meta, "Image")
    stage = _section(meta, "Stage")
    user = _section(meta, "User")
    det = _section(meta, "Detectors")

    info = out.instrument
    info.vendor = FEI_VENDOR
    info.model = _text(system.get("SystemType")) or _text(system.get("Type"))
    hv = _first(beam.get("HV"), ebeam.get("HV"))
    info.high_voltage_kv = _positive(hv, 1e-3)
    wd = _first(ebeam.get("WD"), stage.get("WorkingDistance"))
    info.working_distance_mm = _positive(wd, 1e3)
    hfw = _first(ebeam.get("HFW"), scan.get("HorFieldsize"), escan.get("HorFieldsize"))
    info.horizontal_field_width_m = hfw
    # FEI quotes magnification relative to a reference canvas width (the "Polaroid" mag).
    canvas = _first(image.get("MagCanvasRealWidth"), system.get("DisplayWidth"))
    if hfw and hfw > 0 and canvas and canvas > 0:
        info.magnification = canvas / hfw
    name, mode = _text(det.get("Name")), _text(det.get("Mode"))
    info.detector = f"{name} ({mode})" if name and mode else name
    date, time = _text(user.get("Date")), _text(user.get("Time"))
    info.date = " ".join(x for x in (date, time) if x) or None
    # [Stage] in metres and radians; the active beam's section repeats it (IRBeam for Nav-Cam).
    active = _section(meta, _text(beam.get("Beam")) or "EBeam")
    info.stage = stage_or_none(StagePosition(
        x_m=_finite(_first(stage.get("StageX"), active.get("StageX"))),
        y_m=_finite(_first(stage.get("StageY"), active.get("StageY"))),
        z_m=_finite(_first(stage.get("StageZ"), active.get("StageZ"))),
        rotation_deg=_finite(_first(stage.get("StageR"), active.get("StageR")), RAD),
        tilt_deg=_finite(_first(stage.get("StageT"), active.get("StageTa")), RAD),
        scan_rotation_deg=_finite(_first(beam.get("ScanRotation"), active.get("ScanRotation")), RAD),
    ))

    px = raw_float(scan.get("PixelWidth", escan.get("PixelWidth")))
    py = raw_float(scan.get("PixelHeight", escan.get("PixelHeight")))
    if px is None and hfw:
        width = _first(image.get("ResolutionX")) or cols
        if width and width > 0:
            px = hfw / width
            out.notes.append("FEI pixel size derived from HFW / image width")
    out.pixel_x_m, out.pixel_y_m = px, py

    res_y = _first(image.get("ResolutionY"))
    if res_y is not None and 0 < res_y < rows and float(res_y).is_integer():
        out.databar_rows = rows - int(res_y)
    elif scan or ebeam:
        out.databar_rows = 0
    bad = [f"[{sec}] {k}" for sec, d in (("Beam", beam), ("EBeam", ebeam), ("Scan", scan))
           for k in ("HV", "PixelWidth", "HFW") if k in d and isinstance(d[k], str) and d[k]]
    if bad:
        out.notes.append("FEI metadata has malformed values: " + ", ".join(bad))
    return out


# --- Zeiss SmartSEM ------------------------------------------------------------------------


def _zeiss_value(meta: dict, key: str) -> tuple[object, str]:
    """(value, unit) of a CZ_SEM entry, which tifffile stores as (label, value[, unit])."""
    entry = meta.get(key)
    if isinstance(entry, tuple):
        if len(entry) >= 3:
            return entry[1], str(entry[2])
        if len(entry) == 2:
            return entry[1], ""
    if entry is None:
        return None, ""
    return entry, ""


def _zeiss_length(meta: dict, key: str) -> float | None:
    value, unit = _zeiss_value(meta, key)
    if value is None:
        return None
    if isinstance(value, str) and not unit:
        m = re.match(r"\s*([-+0-9.eE]+)\s*(\S+)", value)
        if m:
            return length_to_m(m.group(1), m.group(2))
    return length_to_m(value, unit)


def _zeiss_angle(meta: dict, key: str) -> float | None:
    value, unit = _zeiss_value(meta, key)
    f = _finite(value)
    if f is None:
        return None
    unit = unit.strip().lower()
    if unit in ("rad", "radian", "radians"):
        return f * RAD
    return f  # SmartSEM writes degrees ("°")


def _zeiss_stage(meta: dict) -> StagePosition | None:
    """``Stage at X/Y/Z`` (mm as stored), ``Stage at R/T`` and ``Scan Rotation`` (degrees).

    SmartSEM keeps the last scan rotation angle even while scan rotation is switched off
    (``Scan Rot = Off``): the image is then not rotated, so the angle counts as 0.
    """
    scan_rot = _zeiss_angle(meta, "ap_scanrotation")
    enabled = _zeiss_value(meta, "dp_scan_rot")[0]
    if scan_rot is not None and (enabled is False or str(enabled).strip().lower() == "off"):
        scan_rot = 0.0
    return stage_or_none(StagePosition(
        x_m=_zeiss_length(meta, "ap_stage_at_x"),
        y_m=_zeiss_length(meta, "ap_stage_at_y"),
        z_m=_zeiss_length(meta, "ap_stage_at_z"),
        rotation_deg=_zeiss_angle(meta, "ap_stage_at_r"),
        tilt_deg=_zeiss_angle(meta, "ap_stage_at_t"),
        scan_rotation_deg=scan_rot,
    ))


def read_zeiss(tif: tifffile.TiffFile, rows: int, cols: int) -> VendorMeta | None:
    if not tif.is_sem:
        return None
    try:
        meta = tif.sem_metadata or {}
    except Exception as exc:  # tifffile's CZ_SEM parser on a damaged block
        return VendorMeta(source="Zeiss metadata", notes=[f"Zeiss metadata unreadable: {exc}"])
    out = VendorMeta(source="Zeiss metadata")
    info = out.instrument
    info.vendor = ZEISS_VENDOR
    info.model = _text(_zeiss_value(meta, "dp_sem")[0]) or _text(
        _zeiss_value(meta, "dp_column_type")[0]
    )
    kv, unit = _zeiss_value(meta, "ap_actualkv")
    if kv is None:
        kv, unit = _zeiss_value(meta, "ap_manualkv")
    info.high_voltage_kv = voltage_to_kv(kv, unit or "kV") if kv is not None else None
    wd = _zeiss_length(meta, "ap_wd")
    info.working_distance_mm = wd * 1e3 if wd is not None else None
    info.magnification = magnification(_zeiss_value(meta, "ap_mag")[0])
    info.horizontal_field_width_m = _zeiss_length(meta, "ap_width")
    info.detector = _text(_zeiss_value(meta, "dp_detector_type")[0]) or _text(
        _zeiss_value(meta, "dp_detector_channel")[0]
    )
    date, time = _zeiss_value(meta, "ap_date")[0], _zeiss_value(meta, "ap_time")[0]
    info.date = " ".join(str(x) for x in (date, time) if x) or None
    info.stage = _zeiss_stage(meta)

    px = _zeiss_length(meta, "ap_image_pixel_size")
    if px is None:
        px = _zeiss_length(meta, "ap_pixel_size")
        if px is not None:
            out.notes.append("Zeiss pixel size from ap_pixel_size (no ap_image_pixel_size)")
    out.pixel_x_m = px
    hfw = info.horizontal_field_width_m
    if px and hfw and cols:
        ratio = hfw / (px * cols)
        if abs(ratio - 1) > 0.05:
            out.notes.append(
                f"Zeiss field width ({hfw:.4g} m) is {ratio:.2f}x pixel size x image width: "
                "the image may have been resized after acquisition"
            )
    return out


# --- TESCAN --------------------------------------------------------------------------------

_KV_LINE = re.compile(r"([A-Za-z][A-Za-z0-9_]*)=([^\r\n\x00]*)")


def parse_key_values(text: str) -> dict[str, str]:
    """``Key=Value`` lines (INI-like; sections ignored, first occurrence wins)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _KV_LINE.fullmatch(line.strip())
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2).strip()
    return out


def tescan_from_dict(d: dict[str, str], rows: int, source: str) -> VendorMeta:
    out = VendorMeta(source=source)
    info = out.instrument
    info.vendor = TESCAN_VENDOR
    info.model = _text(d.get("Device")) or _text(d.get("DeviceModel"))
    hv = _first(d.get("HV"), d.get("AcceleratorVoltage"))
    info.high_voltage_kv = _positive(hv, 1e-3)
    info.working_distance_mm = _positive(_first(d.get("WD")), 1e3)
    info.magnification = _first(d.get("Magnification"))
    info.detector = _text(d.get("Detector")) or _text(d.get("Detector0"))
    info.date = " ".join(x for x in (_text(d.get("Date")), _text(d.get("Time"))) if x) or None
    # TESCAN: StageX/Y/Z in metres, StageRotation/StageTilt/ScanRotation in degrees.
    info.stage = stage_or_none(StagePosition(
        x_m=_finite(d.get("StageX")),
        y_m=_finite(d.get("StageY")),
        z_m=_finite(d.get("StageZ")),
        rotation_deg=_finite(d.get("StageRotation")),
        tilt_deg=_finite(d.get("StageTilt")),
        scan_rotation_deg=_finite(d.get("ScanRotation")),
    ))
    out.pixel_x_m = raw_float(d.get("PixelSizeX"))
    out.pixel_y_m = raw_float(d.get("PixelSizeY"))
    strip = _first(d.get("ImageStripSize"))
    if strip is not None and 0 <= strip < rows and float(strip).is_integer():
        out.databar_rows = int(strip)
    return out


def read_tescan(tif: tifffile.TiffFile, rows: int, cols: int) -> VendorMeta | None:
    tag = tif.pages.first.tags.get(TESCAN_TAG)
    if tag is None:
        return None
    raw = tag.value
    if isinstance(raw, str):
        raw = raw.encode("latin-1", "replace")
    if not isinstance(raw, (bytes, bytearray)):
        return None
    # The block starts with a binary thumbnail; the text metadata follows it.
    d = parse_key_values(bytes(raw).decode("latin-1").replace("\x00", "\n"))
    if not d:
        return VendorMeta(source="TESCAN metadata", notes=["TESCAN metadata block unreadable"])
    return tescan_from_dict(d, rows, "TESCAN metadata")


# --- ImageJ --------------------------------------------------------------------------------


def read_imagej(tif: tifffile.TiffFile, rows: int, cols: int) -> VendorMeta | None:
    if not tif.is_imagej:
        return None
    meta = tif.imagej_metadata or {}
    unit = meta.get("unit")
    page = tif.pages.first
    xres = page.tags.get("XResolution")
    if xres is None or normalize_unit(unit) in ("", "pixel", "pixels", "inch"):
        return None  # ImageJ writes unit "pixel" (or the TIFF's DPI) for unscaled images
    out = VendorMeta(source="ImageJ")

    def pixel(tagvalue: object) -> float | None:
        try:
            num, den = tagvalue  # rational: pixels per unit
            per_unit = float(num) / float(den)
        except (TypeError, ValueError, ZeroDivisionError):
            return None
        if per_unit <= 0:
            return None
        return length_to_m(1.0 / per_unit, unit)

    out.pixel_x_m = pixel(xres.value)
    yres = page.tags.get("YResolution")
    out.pixel_y_m = pixel(yres.value) if yres is not None else None
    if out.pixel_x_m is None:
        out.notes.append(f"ImageJ scale unit {unit!r} not understood")
    return out


EMBEDDED_READERS: tuple[Callable[[tifffile.TiffFile, int, int], VendorMeta | None], ...] = (
    read_fei,
    read_zeiss,
    read_tescan,
    read_imagej,
)
