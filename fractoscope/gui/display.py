"""Pixels for display: grey conversion, contrast levels, overlay sizes, scale-bar lengths.

Plain numpy (no Qt) so the numbers the viewer draws are easy to test.
"""

from __future__ import annotations

import math

import numpy as np

from fractoscope.calibration import format_length, nice_length

# Overlays are drawn at most this many samples on the long side and stretched over the image:
# the CAM is smooth, so a 4096² float map would cost 64 MB per level for no visible gain.
OVERLAY_MAX_SIDE = 1024
# Percentile levels are estimated on roughly this many pixels (fast on 4096² images).
LEVEL_SAMPLES = 1 << 18


def display_array(data: np.ndarray) -> np.ndarray:
    """A 2-D array to show: grey images unchanged (any dtype), colour ones as luminance."""
    if data.ndim == 2:
        return data
    if data.ndim == 3 and data.shape[2] == 1:
        return data[..., 0]
    if data.ndim == 3 and data.shape[2] >= 3:
        rgb = data[..., :3].astype(np.float32)
        return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    raise ValueError(f"cannot display an array of shape {data.shape}")


PYRAMID_MIN_SIDE = 512


def pyramid(img: np.ndarray, min_side: int = PYRAMID_MIN_SIDE) -> list[np.ndarray]:
    """``[img, img/2, img/4, ...]``: 2 x 2 block means (a box filter, so fine striations do not
    alias into false patterns when zoomed out), down to ``min_side`` on the long side.

    The viewer shows the level matching the zoom, so a zoom step never re-filters the 4096² image.
    """
    levels = [img]
    cur = img
    while max(cur.shape[:2]) > 2 * min_side:
        r, c = (cur.shape[0] // 2) * 2, (cur.shape[1] // 2) * 2
        a = cur[:r, :c].astype(np.float32, copy=False)
        cur = 0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2])
        levels.append(cur)
    return levels


def pyramid_level(image_px_per_screen_px: float, n_levels: int) -> int:
    """The pyramid level to show: the coarsest one that still has >= 1 pixel per screen pixel."""
    if not (image_px_per_screen_px > 1 and math.isfinite(image_px_per_screen_px)):
        return 0
    return max(0, min(n_levels - 1, int(math.floor(math.log2(image_px_per_screen_px)))))


def _sample(img: np.ndarray) -> np.ndarray:
    step = max(1, int(math.sqrt(img.size / LEVEL_SAMPLES)))
    s = img[::step, ::step]
    s = s[np.isfinite(s)] if s.dtype.kind == "f" else s.ravel()
    return s


def percentile_levels(img: np.ndarray, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """Contrast levels that clip ``low`` % dark and ``100 - high`` % bright pixels."""
    s = _sample(img)
    if s.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(s, [low, high]))
    if hi <= lo:
        lo, hi = float(s.min()), float(s.max())
    if hi <= lo:
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


# Qualitative colours for the tile grid (one per level-2 class, cycled).
TILE_COLORS = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)
