"""Report pictures that need a prediction's tiles: the tile class map (Qt-free numpy).

Colours, overlays and the grey stretch come from :mod:`fractoscope.imaging.display`, the one
owner the viewer uses too.
"""

from __future__ import annotations

import numpy as np

from fractoscope.analysis.results import Prediction
from fractoscope.imaging.display import NOT_ASSESSED_RGB, class_colour


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
        # The tile's own class by the same top-down rule as the image's headline.
        out[take] = t.indices(prediction.taxonomy)[level - 1] if t.weight > 0 else -1
    return out


def class_map_rgb(
    prediction: Prediction, grey_u8: np.ndarray, level: int = 2, alpha: float = 0.55
) -> np.ndarray:
    """The tile class map tinted over the (already downscaled) grey image."""
    tax = prediction.taxonomy
    labels = tax.level1 if level == 1 else tax.level2
    lut = np.array([class_colour(tax, lab) for lab in labels] + [NOT_ASSESSED_RGB], dtype=np.float32)
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
