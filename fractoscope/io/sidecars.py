"""Calibration from text files written beside the image (JEOL, Hitachi, TESCAN ``.hdr``).

A missing sidecar is normal (the image is simply uncalibrated); an unreadable one adds a note.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from fractoscope.io.sem_image import StagePosition
from fractoscope.io.units import (
    length_to_m,
    magnification,
    parse_length,
    raw_float,
    to_float,
    voltage_to_kv,
)
from fractoscope.io.vendors import VendorMeta, parse_key_values, tescan_from_dict

MAX_SIDECAR_BYTES = 1_000_000  # real sidecars are a few kB; anything huge is not one

JEOL_VENDOR = "JEOL"
HITACHI_VENDOR = "Hitachi"


def decode_text(raw: bytes) -> str:
    """Sidecars come as ASCII, Latin-1, UTF-8 or UTF-16 (Hitachi writes NUL-padded text)."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", "replace")
    if raw.count(b"\x00") > len(raw) // 4:
        try:
            return raw.decode("utf-16-le")
        except UnicodeDecodeError:
            pass
    raw = raw.replace(b"\x00", b"")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _read_small(path: Path, notes: list[str]) -> str | None:
    try:
        if not path.is_file():
            return None
        if path.stat().st_size > MAX_SIDECAR_BYTES:
            notes.append(f"ignored sidecar {path.name}: too large to be instrument metadata")
            return None
        return decode_text(path.read_bytes())
    except OSError as exc:
        notes.append(f"could not read sidecar {path.name}: {exc.strerror or exc}")
        return None


def _rescale(px: float | None, full_width: float | None, cols: int, vendor: str,
             notes: list[str]) -> float | None:
    """Scale bars refer to the acquisition width; rescale when the file was saved resized."""
    if px is None or not full_width or full_width <= 0 or full_width == cols:
        return px
    notes.append(
        f"{vendor} sidecar describes a {full_width:g}-pixel-wide image, file is {cols} wide: "
        "pixel size rescaled"
    )
    return px * full_width / cols


def _size_pair(text: str | None) -> tuple[float, float] | None:
    nums = re.findall(r"\d+(?:\.\d+)?", text or "")
    if len(nums) >= 2:
        return float(nums[0]), float(nums[1])
    return None


# --- JEOL ----------------------------------------------------------------------------------


def _jeol_stage(value: str | None) -> StagePosition | None:
    """``$CM_STAGE_POS X Y Z T R``: X, Y, Z in mm, tilt and rotation in degrees.

    The field order is JEOL's documented layout; no real JEOL file with it is in our test data.
    """
    nums = [to_float(v) for v in (value or "").split()]
    if len(nums) < 2 or nums[0] is None or nums[1] is None:
        return None

    def at(i: int, scale: float = 1.0) -> float | None:
        return nums[i] * scale if len(nums) > i and nums[i] is not None else None

    return StagePosition(
        x_m=at(0, 1e-3), y_m=at(1, 1e-3), z_m=at(2, 1e-3), tilt_deg=at(3), rotation_deg=at(4)
    )


def parse_jeol(text: str, rows: int, cols: int) -> VendorMeta | None:
    d: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("$"):
            key, _, value = line.partition(" ")
            d.setdefault(key.upper(), value.strip())
    if not any(k.startswith("$CM_") or k.startswith("$$SM_") for k in d):
        return None
    out = VendorMeta(source="JEOL sidecar")
    info = out.instrument
    info.vendor = JEOL_VENDOR
    info.model = d.get("$CM_INSTRUMENT") or None
    kv = d.get("$CM_ACCEL_VOLT")
    info.high_voltage_kv = voltage_to_kv(kv) if kv else None
    info.magnification = magnification(d.get("$CM_MAG"))
    for key in ("$$SM_WD", "$SM_WD", "$CM_WD"):
        if key in d:
            wd = parse_length(d[key]) if re.search(r"[a-zA-Z]", d[key]) else None
            info.working_distance_mm = wd * 1e3 if wd is not None else to_float(d[key])
            break
    info.detector = d.get("$CM_SIGNAL") or None
    info.date = " ".join(x for x in (d.get("$CM_DATE"), d.get("$CM_TIME")) if x) or None

    info.stage = _jeol_stage(d.get("$CM_STAGE_POS") or d.get("$$SM_STAGE_POS"))

    full = _size_pair(d.get("$CM_FULL_SIZE"))
    bar_px = to_float(d.get("$$SM_MICRON_BAR") or d.get("$SM_MICRON_BAR"))
    marker = parse_length(d.get("$$SM_MICRON_MARKER") or d.get("$SM_MICRON_MARKER"))
    if bar_px is not None and marker is not None:
        px = marker / bar_px if bar_px != 0 else math.inf  # rejected later, with a warning
        out.pixel_x_m = _rescale(px, full[0] if full else None, cols, "JEOL", out.notes)
    elif bar_px is not None or marker is not None:
        out.notes.append("JEOL sidecar scale bar entries incomplete or malformed")
    if full and 0 < full[1] < rows and full[1].is_integer():
        # JEOL stores the information bar as extra rows below the acquired frame.
        out.databar_rows = rows - int(full[1])
    return out


# --- Hitachi -------------------------------------------------------------------------------


def parse_hitachi(text: str, rows: int, cols: int) -> VendorMeta | None:
    if "[SemImageFile]" not in text:
        return None
    d = parse_key_values(text)
    out = VendorMeta(source="Hitachi sidecar")
    info = out.instrument
    info.vendor = HITACHI_VENDOR
    info.model = d.get("InstructName") or d.get("Model") or None
    hv = d.get("AcceleratingVoltage")
    info.high_voltage_kv = voltage_to_kv(hv) if hv else None
    wd = d.get("WorkingDistance")
    if wd:
        m = re.match(r"\s*([-+0-9.eE]+)\s*([A-Za-z\u00b5\u03bc]+)?", wd)
        if m:
            w = length_to_m(m.group(1), m.group(2) or "um")  # Hitachi writes "8100 um"
            info.working_distance_mm = w * 1e3 if w is not None else None
    info.magnification = magnification(d.get("Magnification"))
    info.detector = d.get("SignalName") or None
    info.date = " ".join(x for x in (d.get("Date"), d.get("Time")) if x) or None
    px_nm = raw_float(d.get("PixelSize"))
    size = _size_pair(d.get("DataSize"))
    if px_nm is not None:
        out.pixel_x_m = _rescale(px_nm * 1e-9, size[0] if size else None, cols, "Hitachi",
                                 out.notes)
    if size and 0 < size[1] < rows and size[1].is_integer():
        out.databar_rows = rows - int(size[1])
    return out


# --- TESCAN .hdr ---------------------------------------------------------------------------


def parse_tescan_hdr(text: str, rows: int, cols: int) -> VendorMeta | None:
    if "PixelSizeX" not in text:
        return None
    return tescan_from_dict(parse_key_values(text), rows, "TESCAN sidecar")


def sidecar_paths(image: Path) -> list[Path]:
    """Where instruments put their text files: ``img.txt``, ``img-tif.hdr``, ``img.hdr``."""
    ext = image.suffix.lstrip(".")
    return [
        image.with_suffix(".txt"),
        image.with_name(f"{image.stem}-{ext}.hdr"),
        image.with_suffix(".hdr"),
    ]


def read_sidecar(image: Path, rows: int, cols: int) -> VendorMeta | None:
    """The first sidecar beside ``image`` that carries recognisable metadata, or None."""
    notes: list[str] = []
    for path in sidecar_paths(image):
        if path == image:
            continue
        text = _read_small(path, notes)
        if text is None:
            continue
        parsers = (parse_tescan_hdr,) if path.suffix.lower() == ".hdr" else (
            parse_hitachi, parse_jeol)
        for parse in parsers:
            meta = parse(text, rows, cols)
            if meta is not None:
                meta.notes[:0] = notes
                meta.notes.insert(0, f"metadata from sidecar {path.name}")
                return meta
    if notes:
        return VendorMeta(source="none", notes=notes)
    return None
