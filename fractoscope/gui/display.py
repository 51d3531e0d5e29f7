"""Pixels for display: grey conversion, contrast levels, overlay sizes, scale-bar lengths.

Plain numpy (no Qt) so the numbers the viewer draws are easy to test.
"""

from __future__ import annotations

import math

import numpy as np

from fractoscope.calibration import format_length, nice_length

# Luma, percentile stretch, block-mean pyramid, CAM colormap and class colours have one owner,
# shared with the PDF reports and preprocessing: fractoscope.imaging.display.
from fractoscope.imaging.display import (  # noqa: F401  (re-exported for the viewer)
    DEFAULT_CAM_COLORMAP,
    LEVEL_SAMPLES,
    PYRAMID_MIN_SIDE,
    class_colour,
    hex_colour,
    percentile_range,
    pyramid,
)
from fractoscope.imaging.display import to_grey as display_array  # noqa: F401

# Overlays are drawn at most this many samples on the long side and stretched over the image:
# the CAM is smooth, so a 4096² float map would cost 64 MB per level for no visible gain.
OVERLAY_MAX_SIDE = 1024


def pyramid_level(image_px_per_screen_px: float, n_levels: int) -> int:
    """The pyramid level to show: the coarsest one that still has >= 1 pixel per screen pixel."""
    if not (image_px_per_screen_px > 1 and math.isfinite(image_px_per_screen_px)):
        return 0
    return max(0, min(n_levels - 1, int(math.floor(math.log2(image_px_per_screen_px)))))


def percentile_levels(img: np.ndarray, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """Contrast levels that clip ``low`` % dark and ``100 - high`` % bright pixels."""
    lo, hi = percentile_range(img, low, high, max_samples=LEVEL_SAMPLES)
    if hi <= lo:  # constant image (or none): a unit window keeps the display defined
        hi = lo + 1.0
    return lo, hi


def full_levels(img: np.ndarray) -> tuple[float, float]:
    """The "reset" levels: the data range (not the dtype range: 12-bit data in uint16 is common)."""
    s = img[np.isfinite(img)] if img.dtype.kind == "f" else img
    if s.size == 0:
        return 0.0, 1.0
    lo, hi = float(s.min()), float(s.max())
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def overlay_shape(image_shape: tuple[int, int], max_side: int = OVERLAY_MAX_SIDE) -> tuple[int, int]:
    """Shape of the overlay map for an image: the image's own, shrunk to ``max_side``."""
    rows, cols = image_shape
    f = min(1.0, max_side / max(rows, cols, 1))
    return max(1, round(rows * f)), max(1, round(cols * f))


def sample_map(m: np.ndarray, image_shape: tuple[int, int], x: float, y: float) -> float | None:
    """Value of a map covering ``image_shape`` at image pixel (x, y), or None outside it."""
    rows, cols = image_shape
    if not (0 <= x < cols and 0 <= y < rows):
        return None
    r = min(m.shape[0] - 1, int(y * m.shape[0] / rows))
    c = min(m.shape[1] - 1, int(x * m.shape[1] / cols))
    return float(m[r, c])


def scale_bar(pixel_size_m: float, max_length_px: float) -> tuple[float, str, float]:
    """The longest 1-2-5 scale bar (1, 2, 5, 10, 20 ... nm/µm/mm) of at most ``max_length_px``.

    Returns (length in metres, label, length in image pixels).
    """
    if not (pixel_size_m and pixel_size_m > 0 and max_length_px > 0):
        raise ValueError("scale bar needs a positive pixel size and length")
    length_m = nice_length(max_length_px * pixel_size_m)
    return length_m, format_length(length_m), length_m / pixel_size_m


def tile_cores(boxes: list[tuple[int, int, int, int]], shape: tuple[int, int]) -> list[tuple[float, float, float, float]]:
    """Non-overlapping cells of overlapping grid tiles (y0, x0, y1, x1 each).

    Each tile's cell reaches halfway into the overlap with its neighbours (and to the image
    edge at the border), so the drawn grid is a clean partition with one class per cell.
    """

    def cuts(starts_ends: list[tuple[int, int]], size: int) -> dict[int, tuple[float, float]]:
        ends = dict(sorted(set(starts_ends)))
        starts = sorted(ends)
        out = {}
        for k, s0 in enumerate(starts):
            lo = 0.0 if k == 0 else (s0 + ends[starts[k - 1]]) / 2
            hi = float(size) if k == len(starts) - 1 else (starts[k + 1] + ends[s0]) / 2
            out[s0] = (lo, max(lo, hi))
        return out

    rows, cols = shape
    ys = cuts([(b[0], b[2]) for b in boxes], rows)
    xs = cuts([(b[1], b[3]) for b in boxes], cols)
    return [(ys[b[0]][0], xs[b[1]][0], ys[b[0]][1], xs[b[1]][1]) for b in boxes]


def value_text(v: float) -> str:
    """A pixel value for the status bar: integers as such, floats to 4 significant digits."""
    if v is None or not math.isfinite(v):
        return "n/a"
    return str(int(v)) if float(v).is_integer() else f"{v:.4g}"


def cursor_readout(sem, x: float, y: float, cams: dict) -> tuple[dict, str]:
    """What the status bar says about image pixel (x, y): position in µm (when calibrated) and
    pixels, the pixel value, and each shown CAM's value there. Returns (values, text)."""
    rows, cols = sem.shape
    col, row = math.floor(x), math.floor(y)
    inside = 0 <= col < cols and 0 <= row < rows
    cal = sem.calibration
    readout: dict = {"x_px": x, "y_px": y, "inside": inside}
    parts = []
    if cal.is_calibrated:
        xu = x * cal.pixel_size_x_m * 1e6
        yu = y * (cal.pixel_size_y_m or cal.pixel_size_x_m) * 1e6
        readout.update(x_um=xu, y_um=yu)
        parts.append(f"x {xu:.3f} µm  y {yu:.3f} µm")
    parts.append(f"({col}, {row}) px")
    if inside:
        v = sem.image[row, col]
        readout["value"] = v.tolist() if np.ndim(v) else float(v)
        parts.append("value " + (", ".join(value_text(float(c)) for c in np.ravel(v))))
        for lv, cam in sorted(cams.items()):
            if cam is not None:
                c = sample_map(cam, (rows, cols), x, y)
                readout[f"cam{lv}"] = c
                parts.append(f"CAM{lv} {c:.2f}")
    return readout, "   ".join(parts)
