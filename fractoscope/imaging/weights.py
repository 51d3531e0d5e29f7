"""How much a tile should count: 0 for blank, saturated or text/data-bar tiles, ~1 for texture."""

from __future__ import annotations

import numpy as np

from fractoscope.errors import FractoscopeError

# Said (one line) when no tile of an image votes; a blank frame must not get a confident class.
NOTHING_TO_CLASSIFY = (
    "no part of the image looks like a fracture surface (blank, saturated or text only); nothing to classify"
)


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
    flat_fraction: float = 0.75,
    glyph_contrast: float = 0.2,
    plateau_fraction: float = 0.9,
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
      ``glyph_contrast`` away from that background and thin (within 2 px of it) (white text on black, scale bars); it also
      goes to 0, whatever the glyphs look like, when more than ``plateau_fraction`` of the pixels
      sit on those plateaus (anti-aliased grey-on-grey data bars such as TESCAN's). On the shared
      real SEM images texture tiles have at most ~0.4 (mostly < 0.2) of their pixels in two such
      bins, the data-bar tiles over 0.9.
    """
    t = np.asarray(tile_img, dtype=np.float32)
    if t.ndim != 2 or t.size == 0:
        raise ValueError(f"expected a non-empty 2-D tile, got shape {t.shape}")
    finite = np.isfinite(t)
    if np.count_nonzero(finite) < 4:
        return 0.0
    # Non-finite pixels count as background-level grey (the median); they carry no texture.
    img = np.clip(np.where(finite, t, np.median(t[finite])), 0.0, 1.0)
    t = flat_vals = img.ravel()
    n = t.size

    w_contrast = _ramp(float(t.std()), min_std, full_std)
    if w_contrast == 0.0:
        return 0.0

    eps = 1.0 / 1024.0
    sat = float(np.count_nonzero((t <= eps) | (t >= 1.0 - eps))) / n
    w_sat = 1.0 - _ramp(sat, 0.5 * saturated_fraction, saturated_fraction)
    if w_sat == 0.0:
        return 0.0

    counts, edges = np.histogram(flat_vals, bins=512, range=(0.0, 1.0))
    top = np.argsort(counts)[-2:]
    flat = float(counts[top].sum()) / n
    text = _ramp(flat, 0.8 * plateau_fraction, plateau_fraction)
    if flat > 0.5 * flat_fraction and text < 1.0:
        in_bg = np.zeros(img.shape, bool)
        for b in top:
            in_bg |= (img >= edges[b]) & (img <= edges[b + 1])
        fg = ~in_bg
        if fg.any():
            centres = (0.5 * (edges[top] + edges[top + 1])).astype(np.float32)
            dist = np.min(np.abs(img[fg][:, None] - centres[None, :]), axis=1)
            glyph = float(np.count_nonzero(dist > glyph_contrast)) / dist.size
            # Glyph strokes are thin: nearly all their pixels lie within 2 px of the background.
            # Bright objects on a dark SEM background (rods, particles) have broad interiors.
            thin = float(np.count_nonzero(fg & _dilate(in_bg, 2))) / float(np.count_nonzero(fg))
            glyphs = (
                _ramp(flat, 0.5 * flat_fraction, flat_fraction)
                * _ramp(glyph, 0.2, 0.5)
                * _ramp(thin, 0.6, 0.85)
            )
            text = max(text, glyphs)
    return float(np.clip(w_contrast * w_sat * (1.0 - text), 0.0, 1.0))


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Binary dilation by a (2r+1)^2 square, with plain numpy (separable max of shifts)."""
    out = mask.copy()
    for axis in (0, 1):
        acc = out.copy()
        for d in range(1, r + 1):
            fwd = np.zeros_like(out)
            bwd = np.zeros_like(out)
            src = [slice(None)] * 2
            dst = [slice(None)] * 2
            src[axis], dst[axis] = slice(d, None), slice(None, -d)
            fwd[tuple(dst)] = out[tuple(src)]
            bwd[tuple(src)] = out[tuple(dst)]
            acc |= fwd | bwd
        out = acc
    return out


def tile_weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The one tile -> image aggregation: the mean of ``values`` (one row per tile) weighted by
    the tiles' votes (:func:`tile_weight`), in float64.

    Tiles of weight 0 have no say at all (their rows are not even read, so a non-finite row of a
    tile that was never run cannot leak in). An image none of whose tiles votes is refused with
    FractoscopeError (:data:`NOTHING_TO_CLASSIFY`): there is nothing to average, and equal weights
    would give blank space a class. Used for probabilities, pooled features, confidence scores and
    the adapted heads alike.
    """
    v = np.asarray(values, np.float64)
    w = np.asarray(weights, np.float64)
    if w.ndim != 1 or v.ndim == 0 or len(v) != len(w):
        raise ValueError(f"need one weight per tile: values {v.shape}, weights {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("tile weights must be finite and non-negative")
    vote = w > 0
    if not vote.any():
        raise FractoscopeError(NOTHING_TO_CLASSIFY)
    w = w[vote]
    return np.tensordot(w / w.sum(), v[vote], axes=1)


def image_probabilities(p_tiles: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Image class probabilities: :func:`tile_weighted_mean` of the tiles' probabilities (N, C),
    renormalised so rounding never leaves them summing to other than 1."""
    p = tile_weighted_mean(p_tiles, weights)
    return p / p.sum()
