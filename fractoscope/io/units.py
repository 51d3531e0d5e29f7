"""Tolerant number and unit parsing for vendor metadata (values arrive as str, int, float or junk)."""

from __future__ import annotations

import math
import re

# Length units to metres. Micro appears as "µ" (U+00B5), "μ" (U+03BC), "u", or mis-decoded
# UTF-8 ("Âµ") in Zeiss and ImageJ headers, so all of them are normalised to "u" first.
_LENGTH = {
    "m": 1.0,
    "mm": 1e-3,
    "um": 1e-6,
    "micron": 1e-6,
    "microns": 1e-6,
    "micrometer": 1e-6,
    "micrometre": 1e-6,
    "nm": 1e-9,
    "nanometer": 1e-9,
    "nanometre": 1e-9,
    "pm": 1e-12,
    "fm": 1e-15,
    "cm": 1e-2,
    "a": 1e-10,
    "å": 1e-10,
    "angstrom": 1e-10,
}

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def to_float(value: object) -> float | None:
    """A finite float from a number or the first number in a string; None for anything else."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        v = float(value)
    else:
        if isinstance(value, bytes):
            value = value.decode("latin-1", "replace")
        m = _NUMBER.search(str(value))
        if not m:
            return None
        try:
            v = float(m.group(0))
        except ValueError:
            return None
    return v if math.isfinite(v) else None


def raw_float(value: object) -> float | None:
    """Like to_float but keeps NaN/inf, and gives NaN for a present but unparseable value.

    Used for pixel sizes, so that a malformed value is reported as rejected (with a warning)
    rather than silently treated as absent. None only when the value is absent or empty.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    s = value.decode("latin-1", "replace") if isinstance(value, bytes) else str(value)
    s = s.strip().lower()
    if s.startswith(("nan", "inf", "+inf", "-inf")):
        return float(s[:4].rstrip("n") if s[0] in "+-" else s[:3])
    v = to_float(s)
    return v if v is not None else math.nan


def normalize_unit(unit: object) -> str:
    u = str(unit or "").strip()
    for bad in ("\u00c2\u00b5", "\u00b5", "\u03bc", "\\u00b5", "\\u00B5", "\ufffd"):
        u = u.replace(bad, "u")
    return u.lower().replace(" ", "")


def length_to_m(value: object, unit: object) -> float | None:
    """``value`` in ``unit`` as metres (None when either is not understood; NaN/inf kept)."""
    v = raw_float(value)
    scale = _LENGTH.get(normalize_unit(unit))
    if v is None or scale is None:
        return None
    return v * scale


def parse_length(text: object) -> float | None:
    """A length written with its unit, e.g. "5um", "10 µm", "200nm", "1.5 mm" -> metres."""
    s = str(text or "").strip()
    m = _NUMBER.match(s)
    if not m:
        return None
    return length_to_m(m.group(0), s[m.end():])


def voltage_to_kv(value: object, unit: object = "") -> float | None:
    """An accelerating voltage in kV; a bare number above 500 is taken to be volts."""
    v = to_float(value)
    if v is None:
        return None
    u = normalize_unit(unit) or normalize_unit(re.sub(_NUMBER, "", str(value), count=1))
    if u.startswith("kv"):
        return v
    if u.startswith("v") or u.startswith("volt") or (not u and v > 500):
        return v / 1000.0
    return v


def magnification(value: object) -> float | None:
    """Magnification from 105, "105 X", "10.00 K X", "1.5kx" -> float."""
    v = to_float(value)
    if v is None:
        return None
    rest = str(value).lower() if not isinstance(value, (int, float)) else ""
    rest = re.sub(_NUMBER, "", rest, count=1).strip()
    if rest.startswith("k"):
        v *= 1e3
    elif rest.startswith("m"):
        v *= 1e6
    return v if v > 0 else None
