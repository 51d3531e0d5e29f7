"""Pixel-size calibration: the physical size of one pixel, and where that number came from."""

from __future__ import annotations

import math
from dataclasses import dataclass

from fractoscope.errors import CalibrationError

# Plausible SEM pixel sizes: 10 pm (beyond any SEM) .. 1 mm (a low-mag optical overview).
MIN_PIXEL_SIZE_M = 1e-11
MAX_PIXEL_SIZE_M = 1e-3

NO_CALIBRATION = "none"


def is_plausible_pixel_size(value: float | None) -> bool:
    """True for a finite pixel size (metres) inside the range any SEM could produce."""
    if value is None:
        return False
    try:
        v = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(v) and MIN_PIXEL_SIZE_M <= v <= MAX_PIXEL_SIZE_M


@dataclass(frozen=True)
class Calibration:
    """Pixel size in metres along x (columns) and y (rows), and its source.

    ``source`` is a human-readable origin such as ``"FEI metadata"``, ``"Zeiss metadata"``,
    ``"TESCAN metadata"``, ``"JEOL sidecar"``, ``"Hitachi sidecar"``, ``"ImageJ"``, ``"manual"``
    or ``"none"`` when the image is uncalibrated.
    """

    pixel_size_x_m: float | None = None
    pixel_size_y_m: float | None = None
    source: str = NO_CALIBRATION

    @property
    def is_calibrated(self) -> bool:
        return self.pixel_size_x_m is not None

    @property
    def pixel_size_m(self) -> float | None:
        """Pixel size along x (the one quoted when a single number is wanted)."""
        return self.pixel_size_x_m

    @classmethod
    def none(cls) -> Calibration:
        return cls(None, None, NO_CALIBRATION)

    @classmethod
    def isotropic(cls, pixel_size_m: float, source: str) -> Calibration:
        return cls.checked(pixel_size_m, pixel_size_m, source)

    @classmethod
    def checked(cls, x_m: float | None, y_m: float | None, source: str) -> Calibration:
        """Build a calibration, raising CalibrationError for a zero/negative/NaN/absurd size."""
        if not is_plausible_pixel_size(x_m):
            raise CalibrationError(f"implausible pixel size {x_m!r} m from {source}")
        if y_m is None:
            y_m = x_m
        if not is_plausible_pixel_size(y_m):
            raise CalibrationError(f"implausible pixel size {y_m!r} m (y) from {source}")
        return cls(float(x_m), float(y_m), source)

    @classmethod
    def from_scale_bar(cls, length_px: float, length_m: float, source: str = "manual") -> Calibration:
        """Calibration from a scale bar of ``length_px`` pixels that represents ``length_m`` metres."""
        try:
            lp, lm = float(length_px), float(length_m)
        except (TypeError, ValueError) as exc:
            raise CalibrationError(f"scale bar length must be numbers: {exc}") from None
        if not (math.isfinite(lp) and lp > 0):
            raise CalibrationError(f"scale bar must be longer than 0 pixels (got {length_px!r})")
        if not (math.isfinite(lm) and lm > 0):
            raise CalibrationError(f"scale bar length must be positive (got {length_m!r} m)")
        return cls.isotropic(lm / lp, source)

    def to_dict(self) -> dict:
        return {
            "pixel_size_x_m": self.pixel_size_x_m,
            "pixel_size_y_m": self.pixel_size_y_m,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        x = d.get("pixel_size_x_m")
        if x is None:
            return cls.none()
        return cls.checked(x, d.get("pixel_size_y_m"), str(d.get("source", "manual")))


_UNITS = (("mm", 1e-3), ("µm", 1e-6), ("nm", 1e-9), ("pm", 1e-12))


def format_length(metres: float, digits: int = 3) -> str:
    """A length in the unit a human would pick: 4.54 nm, 2.62 µm, 1.2 mm."""
    if metres is None or not math.isfinite(metres):
        return "n/a"
    a = abs(metres)
    for unit, scale in _UNITS:
        if a >= scale or unit == "pm":
            return f"{metres / scale:.{digits}g} {unit}"
    return f"{metres:.{digits}g} m"


def nice_length(max_m: float) -> float:
    """The largest 1-2-5 rounded length not above ``max_m`` (for scale bars)."""
    if not (max_m > 0 and math.isfinite(max_m)):
        raise ValueError("max length must be positive")
    exp = math.floor(math.log10(max_m))
    for mant in (5, 2, 1):
        v = mant * 10.0**exp
        if v <= max_m * (1 + 1e-9):
            return v
    return 10.0 ** (exp - 1) * 5
