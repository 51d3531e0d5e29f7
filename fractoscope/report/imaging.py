"""Qt-free pictures for reports and batch outputs: CAM overlays, class maps, thumbnails.

Everything returns ``uint8`` RGB arrays so the same pixels end up in batch PNGs and PDF pages.
"""

from __future__ import annotations

import io

import numpy as np

from fractoscope.analysis.results import Prediction
from fractoscope.model.taxonomy import Taxonomy

# Google "Turbo" colormap, polynomial approximation (Mikhailov 2019): perceptually smoother than
# jet, which Grad-CAM users expect, and needs no matplotlib.
_TURBO_R = (0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943)
_TURBO_G = (0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604)
_TURBO_B = (0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973)


def turbo(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to uint8 RGB with the Turbo colormap."""
    x = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    out = np.empty((*x.shape, 3), dtype=np.float32)
    for c, coef in enumerate((_TURBO_R, _TURBO_G, _TURBO_B)):
        acc = np.zeros_like(x)
        for k in reversed(coef):  # Horner
            acc = acc * x + k
        out[..., c] = acc
    return (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def turbo_lut(n: int = 256) -> np.ndarray:
    """(n, 3) uint8 lookup table, e.g. for a colour bar."""
    return turbo(np.linspace(0.0, 1.0, n, dtype=np.float32))


def to_grey_u8(image: np.ndarray) -> np.ndarray:
    """Any SEM pixel array (int/float, grey or RGB) -> uint8 grey, robust 0.5-99.5 % stretch."""
    a = np.asarray(image)
    if a.ndim == 3:
        a = a[..., :3].astype(np.float32).mean(axis=2) if a.shape[2] >= 3 else a[..., 0]
    a = a.astype(np.float32, copy=False)
    finite = np.isfinite(a)
    if not finite.any():
        return np.zeros(a.shape, dtype=np.uint8)
    sample = a[finite]
    if sample.size > 1_000_000:  # percentiles of a subsample: big 16-bit images stay fast
        sample = sample[:: sample.size // 1_000_000 + 1]
    lo, hi = np.percentile(sample, (0.5, 99.5))
    if hi <= lo:
        lo, hi = float(sample.min()), float(sample.max())
    if hi <= lo:
        return np.full(a.shape, 128, dtype=np.uint8)
    out = (np.nan_to_num(a, nan=lo) - lo) * (255.0 / (hi - lo))
    return np.clip(out, 0, 255).astype(np.uint8)


def downscale_factor(shape: tuple[int, int], max_side: int) -> int:
    """Integer stride that brings the longer side to at most ``max_side`` pixels."""
    return max(1, int(np.ceil(max(shape) / float(max_side))))


def shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    """Block-mean downscale by an integer factor (no aliasing, no dependency on Qt/PIL)."""
    f = downscale_factor(image.shape[:2], max_side)
    if f == 1:
        return image
    h, w = (image.shape[0] // f) * f, (image.shape[1] // f) * f
    a = image[:h, :w].astype(np.float32)
    a = a.reshape(h // f, f, w // f, f, *image.shape[2:]).mean(axis=(1, 3))
    return np.clip(a + 0.5, 0, 255).astype(np.uint8)


def cam_overlay(grey_u8: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a [0, 1] CAM (same shape as the image) over the grey image; weak CAM stays grey.

    The blend weight follows the CAM value so low-relevance areas keep the original texture,
    which is what a fractographer needs to judge whether the highlighted feature is real.
    """
    g = grey_u8.astype(np.float32)[..., None].repeat(3, axis=2)
    colour = turbo(cam).astype(np.float32)
    w = (alpha * np.clip(cam, 0.0, 1.0) ** 0.5)[..., None].astype(np.float32)
    return np.clip(g * (1 - w) + colour * w + 0.5, 0, 255).astype(np.uint8)


# Qualitative base colours, one per level-1 class (Tableau-like, print friendly).
_BASE = np.array(
    [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (148, 103, 189),
        (214, 39, 40),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ],
    dtype=np.float32,
)
NOT_ASSESSED_RGB = (200, 200, 200)


def class_colours(taxonomy: Taxonomy) -> dict[str, tuple[int, int, int]]:
    """A colour per label: each level-1 class a hue, its level-2 children shades of that hue."""
    out: dict[str, tuple[int, int, int]] = {}
    for i, parent in enumerate(taxonomy.level1):
        base = _BASE[i % len(_BASE)]
        out[parent] = tuple(int(v) for v in base)
        kids = taxonomy.children(parent)
        for j, child in enumerate(kids):
            # Spread children from darker to lighter around the base colour.
            t = 0.0 if len(kids) == 1 else j / (len(kids) - 1)
            mix = -0.35 + 0.7 * t
            c = base * (1 + mix) if mix < 0 else base + (255 - base) * mix
            out[child] = tuple(int(np.clip(v, 0, 255)) for v in c)
    return out


def tile_class_index(prediction: Prediction, level: int, shape: tuple[int, int]) -> np.ndarray:
    """Per-pixel class index (-1 = not assessed) on a grid of ``shape`` covering the image.

    Each pixel takes the class of the nearest tile centre (tiles overlap; the nearest centre is
    the tile that saw that spot best). Tiles that did not vote (blank, saturated, text) give -1.
    """
    rows, cols = prediction.image_shape
    h, w = shape
    out = np.full((h, w), -1, dtype=np.int16)
    if not prediction.tiles:
        return out
    yy = (np.arange(h, dtype=np.float32) + 0.5) * (rows / h)
    xx = (np.arange(w, dtype=np.float32) + 0.5) * (cols / w)
    best = np.full((h, w), np.inf, dtype=np.float32)
    for t in prediction.tiles:
        inside_y = (yy >= t.y0) & (yy < t.y1)
        inside_x = (xx >= t.x0) & (xx < t.x1)
        if not inside_y.any() or not inside_x.any():
            continue
        cy, cx = (t.y0 + t.y1) / 2.0, (t.x0 + t.x1) / 2.0
        d = (yy[:, None] - cy) ** 2 + (xx[None, :] - cx) ** 2
        d = np.where(inside_y[:, None] & inside_x[None, :], d, np.inf)
        take = d < best
        best[take] = d[take]
        if t.weight > 0:
            p = t.p_level1 if level == 1 else t.p_level2
            idx = int(np.argmax(p))
        else:
            idx = -1
        out[take] = idx
    return out


def class_map_rgb(
    prediction: Prediction, grey_u8: np.ndarray, level: int = 2, alpha: float = 0.55
) -> np.ndarray:
    """The tile class map tinted over the (already downscaled) grey image."""
    labels = prediction.taxonomy.level1 if level == 1 else prediction.taxonomy.level2
    colours = class_colours(prediction.taxonomy)
    lut = np.array([colours[lab] for lab in labels] + [NOT_ASSESSED_RGB], dtype=np.float32)
    idx = tile_class_index(prediction, level, grey_u8.shape[:2])
    rgb = lut[np.where(idx < 0, len(labels), idx)]
    g = grey_u8.astype(np.float32)[..., None]
    blended = g * (1 - alpha) + rgb * alpha
    # Thin dark borders between regions make the tiles readable in print.
    edge = np.zeros(idx.shape, dtype=bool)
    edge[1:, :] |= idx[1:, :] != idx[:-1, :]
    edge[:, 1:] |= idx[:, 1:] != idx[:, :-1]
    blended[edge] = blended[edge] * 0.35
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def overlays_for(
    prediction: Prediction, image: np.ndarray, max_side: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grey, level-1 overlay, level-2 overlay) uint8 arrays, optionally downscaled."""
    grey = to_grey_u8(image)
    if max_side is not None:
        grey = shrink(grey, max_side)
    shape = grey.shape[:2]
    o1 = cam_overlay(grey, prediction.cam(1, shape=shape))
    o2 = cam_overlay(grey, prediction.cam(2, shape=shape))
    return grey, o1, o2


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode a uint8 grey or RGB array as PNG (Pillow, which scikit-image already needs)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=3)
    return buf.getvalue()
