"""Pixels for people: the one luma formula, percentile stretch, block-mean pyramid, CAM colormap
and class colours shared by the viewer (``gui``), the PDF reports and batch PNGs, and (luma,
percentiles) the model's preprocessing (:mod:`fractoscope.imaging.grey`).

Plain numpy, no Qt, nothing from higher layers: functions that draw a prediction only call its
``cam()`` / read its ``taxonomy`` (duck typing), so ``batch`` and ``report`` can both use this
module without importing each other.
"""

from __future__ import annotations

import io
import math
from typing import Any, Protocol

import numpy as np

# --- grey ----------------------------------------------------------------------------------------
# Rec. 709 luma. SEM "RGB" files are nearly always grey replicated in three channels, for which any
# weights summing to 1 return the grey exactly; true colour (optical) images get the luma of the
# sRGB primaries. The model was trained through this formula (``imaging.grey``), so the viewer and
# reports showing the same grey means a user sees what the model saw.
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)


def luma(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3|4) colour (alpha ignored) -> (H, W) float luma (float64 for 64-bit input, else
    float32), in the input's value units."""
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3|4) colour image, got shape {a.shape}")
    dt = np.float64 if a.dtype in (np.float64, np.int64, np.uint64, np.int32, np.uint32) else np.float32
    w = np.asarray(LUMA_WEIGHTS, dtype=dt)
    return np.tensordot(a[..., :3].astype(dt, copy=False), w, axes=([-1], [0]))


def to_grey(data: np.ndarray) -> np.ndarray:
    """A 2-D array to show: grey images unchanged (any dtype), colour ones as luma."""
    a = np.asarray(data)
    if a.ndim == 2:
        return a
    if a.ndim == 3 and a.shape[2] == 1:
        return a[..., 0]
    if a.ndim == 3 and a.shape[2] >= 3:
        return luma(a[..., :4] if a.shape[2] == 4 else a[..., :3])
    raise ValueError(f"cannot display an array of shape {a.shape}")


# --- percentile stretch ----------------------------------------------------------------------------
DISPLAY_PERCENTILES = (0.5, 99.5)
# Display levels are estimated on about this many pixels (a regular grid, so fast on 4096² images);
# preprocessing passes ``max_samples=None`` and uses every pixel (what the model was trained with).
LEVEL_SAMPLES = 1 << 18


def percentile_range(
    img: np.ndarray,
    low: float = DISPLAY_PERCENTILES[0],
    high: float = DISPLAY_PERCENTILES[1],
    mask: np.ndarray | None = None,
    max_samples: int | None = None,
) -> tuple[float, float]:
    """``(lo, hi)``: the ``low`` / ``high`` percentiles of the finite pixels (inside ``mask``).

    When they coincide (a mostly flat image) the min/max of those pixels is returned instead, so a
    few distinct pixels still get contrast. ``hi == lo`` means constant; ``(0.0, 0.0)`` no pixels.
    ``max_samples`` takes the percentiles on a regular sub-grid of about that many pixels.
    """
    if not 0.0 <= low < high <= 100.0:
        raise ValueError(f"need 0 <= low < high <= 100, got {low}, {high}")
    a = np.asarray(img)
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != a.shape:
            raise ValueError(f"mask shape {m.shape} does not match image shape {a.shape}")
    if max_samples is not None and a.size > max_samples:
        step = max(1, int(math.sqrt(a.size / max_samples)))
        a = a[::step, ::step] if a.ndim == 2 else a.ravel()[:: step * step]
        if mask is not None:
            m = m[::step, ::step] if m.ndim == 2 else m.ravel()[:: step * step]
    vals = a[m] if mask is not None else a.ravel()
    if vals.dtype.kind == "f":
        vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return 0.0, 0.0
    lo, hi = (float(v) for v in np.percentile(vals, [low, high]))
    if not hi > lo:
        lo, hi = float(vals.min()), float(vals.max())
    return lo, hi


def stretch(img: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``[lo, hi]`` linearly to float32 ``[0, 1]``, clipping outside; zeros when ``hi <= lo``.
    Non-finite pixels become 0."""
    a = np.asarray(img)
    if not hi > lo:
        return np.zeros(a.shape, np.float32)
    out = (a.astype(np.float32, copy=False) - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    out = np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0).astype(np.float32, copy=False)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def to_grey_u8(image: np.ndarray) -> np.ndarray:
    """Any SEM pixel array (int/float, grey or colour) -> uint8 grey with the display stretch.

    The same levels as the viewer's automatic contrast, so a report shows what the screen shows.
    A constant image is mid-grey.
    """
    g = to_grey(image)
    lo, hi = percentile_range(g, max_samples=LEVEL_SAMPLES)
    if not hi > lo:
        return np.full(g.shape, 128, dtype=np.uint8)
    return (stretch(g, lo, hi) * np.float32(255.0) + np.float32(0.5)).astype(np.uint8)


# --- block-mean pyramid -----------------------------------------------------------------------------
PYRAMID_MIN_SIDE = 512


def block_mean(img: np.ndarray, f: int) -> np.ndarray:
    """``f`` x ``f`` block means (a box filter, so fine striations do not alias into false patterns
    when zoomed out), as float32; a remainder of fewer than ``f`` rows/columns is dropped."""
    a = np.asarray(img)
    if f <= 1:
        return a.astype(np.float32, copy=False)
    h, w = (a.shape[0] // f) * f, (a.shape[1] // f) * f
    if h == 0 or w == 0:
        raise ValueError(f"cannot take {f} x {f} block means of a {a.shape[0]} x {a.shape[1]} image")
    b = a[:h, :w].astype(np.float32, copy=False)
    return b.reshape(h // f, f, w // f, f, *a.shape[2:]).mean(axis=(1, 3), dtype=np.float32)


def downscale_factor(shape: tuple[int, ...], max_side: int) -> int:
    """Integer factor that brings the longer side to at most ``max_side`` pixels."""
    return max(1, int(math.ceil(max(shape[:2]) / float(max_side))))


def shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    """Block-mean downscale by the integer factor :func:`downscale_factor` (uint8 in, uint8 out).

    The shrunken image covers ``factor * shape`` pixels of the original (remainder dropped), so its
    pixel size is exactly ``factor`` original pixels.
    """
    f = downscale_factor(image.shape, max_side)
    if f == 1:
        return image
    out = block_mean(image, f)
    if image.dtype == np.uint8:
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return out


def pyramid(img: np.ndarray, min_side: int = PYRAMID_MIN_SIDE) -> list[np.ndarray]:
    """``[img, img/2, img/4, ...]`` of 2 x 2 block means, down to ``min_side`` on the long side.

    The viewer shows the level matching the zoom, so a zoom step never re-filters the 4096² image.
    """
    levels = [img]
    cur = img
    while max(cur.shape[:2]) > 2 * min_side:
        cur = block_mean(cur, 2)
        levels.append(cur)
    return levels


# --- CAM colormap ----------------------------------------------------------------------------------
# One default for the viewer and the PDF. Inferno, not turbo/jet: its lightness rises monotonically
# from black to pale yellow, so the order of relevance survives a greyscale printout and
# colour-blind readers, and no band of middling relevance looks "hot" (turbo's yellow/green middle
# and dark-red top do exactly that). It is also perceptually uniform, so equal CAM steps look equal.
DEFAULT_CAM_COLORMAP = "inferno"

# matplotlib's inferno (van der Walt & Smith, CC0) sampled at 33 evenly spaced points; linear
# interpolation between them stays within 2/255 of the 256-entry table (tests compare it with
# the table pyqtgraph ships, which the viewer uses), without needing matplotlib at run time.
_INFERNO_KNOTS = np.array(
    [
        [0, 0, 4], [4, 3, 18], [11, 7, 36], [21, 11, 55], [33, 12, 74], [47, 10, 91],
        [61, 9, 101], [74, 12, 107], [87, 16, 110], [100, 21, 110], [113, 25, 110],
        [125, 30, 109], [138, 34, 106], [151, 39, 102], [163, 44, 97], [176, 49, 91],
        [188, 55, 84], [198, 61, 77], [208, 69, 69], [218, 78, 60], [227, 89, 51],
        [235, 100, 41], [241, 113, 31], [246, 126, 20], [249, 140, 10], [251, 155, 6],
        [252, 170, 15], [251, 186, 31], [249, 201, 50], [245, 217, 73], [242, 232, 101],
        [243, 245, 134], [252, 255, 164],
    ],
    dtype=np.float32,
)  # fmt: skip
_KNOTS = {"inferno": _INFERNO_KNOTS}


def colormap_lut(name: str = DEFAULT_CAM_COLORMAP, n: int = 256) -> np.ndarray:
    """(n, 3) uint8 lookup table of a CAM colormap (value 0 -> row 0, value 1 -> row n-1)."""
    try:
        knots = _KNOTS[name]
    except KeyError:
        raise ValueError(f"unknown colormap {name!r} (known: {', '.join(_KNOTS)})") from None
    xk = np.linspace(0.0, 1.0, len(knots))
    x = np.linspace(0.0, 1.0, n)
    lut = np.stack([np.interp(x, xk, knots[:, c]) for c in range(3)], axis=1)
    return np.clip(lut + 0.5, 0, 255).astype(np.uint8)


def apply_colormap(values: np.ndarray, name: str = DEFAULT_CAM_COLORMAP) -> np.ndarray:
    """Values in [0, 1] -> uint8 RGB through :func:`colormap_lut` (NaN counts as 0)."""
    lut = colormap_lut(name, 256)
    v = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0)
    idx = (np.clip(v, 0.0, 1.0) * 255.0 + 0.5).astype(np.intp)
    return lut[idx]


def cam_overlay(grey_u8: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a [0, 1] CAM (same shape as the image) over the grey image; weak CAM stays grey.

    The blend weight follows the CAM value so low-relevance areas keep the original texture,
    which is what a fractographer needs to judge whether the highlighted feature is real.
    """
    c = np.clip(np.nan_to_num(np.asarray(cam, dtype=np.float32), nan=0.0), 0.0, 1.0)
    colour = apply_colormap(c)
    w = alpha * np.sqrt(c)
    grey_part = grey_u8.astype(np.float32) * (1 - w)
    # Channel by channel, the same float32 operations in the same order as the one-line blend
    # g * (1 - w) + colour * w + 0.5 (bit-identical), without its three (h, w, 3) float copies: a
    # batch makes two overlays per image on its writer thread, beside the model (issue 26).
    out = np.empty(c.shape + (3,), np.uint8)
    for ch in range(3):
        out[..., ch] = np.clip(grey_part + colour[..., ch] * w + 0.5, 0, 255)
    return out


class _HasCams(Protocol):
    def cam(self, level: int, label: str | None = None, shape: tuple[int, int] | None = None) -> Any: ...


def overlays_for(
    prediction: _HasCams, image: np.ndarray, max_side: int | None = None, levels: tuple[int, ...] = (1, 2)
) -> tuple[np.ndarray, ...]:
    """``(grey, overlay of each level)`` uint8 arrays, optionally block-mean shrunk to ``max_side``.

    ``levels`` defaults to both; a level-1-only model passes ``(1,)``.
    """
    grey = to_grey_u8(image)
    if max_side is not None:
        grey = shrink(grey, max_side)
    shape = grey.shape[:2]
    return (grey, *(cam_overlay(grey, prediction.cam(lv, shape=shape)) for lv in levels))


# --- class colours ---------------------------------------------------------------------------------
# Qualitative base hues, one per level-1 class (Tableau 10: print friendly, distinct for most
# colour-blind readers); each class's morphologies are shades of its mechanism's hue, so the tile
# map reads as mechanism first, morphology second.
_BASE = np.array(
    [
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (148, 103, 189), (214, 39, 40),
        (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    ],
    dtype=np.float32,
)  # fmt: skip
NOT_ASSESSED_RGB = (200, 200, 200)  # tiles that did not vote (blank, saturated, text)
UNKNOWN_RGB = (120, 120, 120)  # a label the taxonomy does not know


def class_colours(taxonomy: Any) -> dict[str, tuple[int, int, int]]:
    """A colour per label: each level-1 class a hue, its level-2 children shades of that hue.

    ``taxonomy`` needs ``level1`` (ordered labels) and ``children(label)``.
    """
    out: dict[str, tuple[int, int, int]] = {}
    for i, parent in enumerate(taxonomy.level1):
        base = _BASE[i % len(_BASE)]
        out[parent] = tuple(int(v) for v in base)
        kids = list(taxonomy.children(parent))
        for j, child in enumerate(kids):
            # Spread children from darker to lighter around the base colour.
            t = 0.0 if len(kids) == 1 else j / (len(kids) - 1)
            mix = -0.35 + 0.7 * t
            c = base * (1 + mix) if mix < 0 else base + (255 - base) * mix
            out[child] = tuple(int(np.clip(v, 0, 255)) for v in c)
    return out


def class_colour(taxonomy: Any, label: str) -> tuple[int, int, int]:
    """The colour of ``label`` (level 1 or 2) wherever it is drawn: viewer tile grid, PDF, PNGs."""
    return class_colours(taxonomy).get(label, UNKNOWN_RGB)


def hex_colour(rgb: tuple[int, int, int]) -> str:
    """``(r, g, b)`` -> ``"#rrggbb"`` (for Qt widgets and CSS)."""
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb[:3]))


# --- files ----------------------------------------------------------------------------------------
def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode a uint8 grey or RGB array as PNG (Pillow, which scikit-image already needs).

    zlib level 1: on a 1280 x 960 CAM overlay it takes 91 ms against level 3's 155 ms for a file
    1 % larger (the blended micrograph barely compresses at any level); in a batch this runs on the
    writer thread beside the model, so its CPU time slows the model (issue 26)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
