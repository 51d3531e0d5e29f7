"""How much a tile should count: 0 for blank, saturated or text/data-bar tiles, ~1 for texture."""

from __future__ import annotations

import numpy as np


def _ramp(x: float, lo: float, hi: float) -> float:
    """0 below ``lo``, 1 above ``hi``, smooth (smoothstep) in between."""
    t = min(max((x - lo) / (hi - lo), 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


def tile_weight(
    tile_img: np.ndarray,
    *,
    min_std: float = 0.01,
    full_std: float = 0.03,
    saturated_fraction: float = 0.5,
    flat_fraction: float = 0.6,
    glyph_contrast: float = 0.2,
) -> float:
    """Usefulness of one tile for classification, in [0, 1].

    ``tile_img`` is a 2-D tile with values in [0, 1] (output of :func:`to_float_grey` /
    :func:`normalize_contrast`). The weight is the product of three smooth factors:

    * **contrast**: 0 when the standard deviation is below ``min_std`` (blank tile, e.g. an empty
      frame), 1 above ``full_std``;
    * **saturation**: falls to 0 as the fraction of pixels clipped at 0 or 1 approaches
      ``saturated_fraction`` (over-/under-exposed areas carry no texture);
    * **text / data bar**: rendered overlays (data bars, labels, scale bars) are noise-free: most
      pixels share one or two exact background grey levels and the rest are high-contrast glyph
      strokes. Real SEM texture, even smooth areas, has shot noise and no such exact plateau. The
      factor goes to 0 when more than ``flat_fraction`` of the pixels sit in the two most
      populated fine (1/512) grey-level bins *and* the remaining pixels are mostly more than
      ``glyph_contrast`` away from that background.
    """
    t = np.asarray(tile_img, dtype=np.float32)
    if t.ndim != 2 or t.size == 0:
        raise ValueError(f"expected a non-empty 2-D tile, got shape {t.shape}")
    t = t[np.isfinite(t)]
    if t.size < 4:
        return 0.0
    t = np.clip(t, 0.0, 1.0)
    n = t.size

    w_contrast = _ramp(float(t.std()), min_std, full_std)
    if w_contrast == 0.0:
        return 0.0

    eps = 1.0 / 1024.0
    sat = float(np.count_nonzero((t <= eps) | (t >= 1.0 - eps))) / n
    w_sat = 1.0 - _ramp(sat, 0.5 * saturated_fraction, saturated_fraction)
    if w_sat == 0.0:
        return 0.0

    counts, edges = np.histogram(t, bins=512, range=(0.0, 1.0))
    top = np.argsort(counts)[-2:]
    flat = float(counts[top].sum()) / n
    text = 0.0
    if flat > 0.5 * flat_fraction:
        in_bg = np.zeros(t.shape, bool)
        for b in top:
            in_bg |= (t >= edges[b]) & (t <= edges[b + 1])
        rest = t[~in_bg]
        if rest.size:
            centres = 0.5 * (edges[top] + edges[top + 1])
            dist = np.min(np.abs(rest[:, None] - centres[None, :].astype(np.float32)), axis=1)
            glyph = float(np.count_nonzero(dist > glyph_contrast)) / rest.size
            text = _ramp(flat, 0.5 * flat_fraction, flat_fraction) * _ramp(glyph, 0.2, 0.5)
    return float(np.clip(w_contrast * w_sat * (1.0 - text), 0.0, 1.0))
