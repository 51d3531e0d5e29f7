"""Blending per-tile maps (class probabilities, Grad-CAMs) back into one seamless full-image map."""

from __future__ import annotations

import math

import numpy as np

from .tiles import TileBox

WINDOW_FLOOR = 1e-3  # keeps every covered pixel's weight > 0 without visibly denting the blend


def _axis_samples(n_out: int, stride: float, size: int) -> np.ndarray:
    """Image coordinates (pixel centres = integers) of output samples, clamped inside the image.

    Output sample i stands for image pixels [i*stride, (i+1)*stride); its centre is
    (i + 0.5) * stride - 0.5. When size is not a multiple of stride the last centre can fall past
    the image, so it is clamped to the last pixel, where tiles still cover it.
    """
    c = (np.arange(n_out, dtype=np.float64) + 0.5) * stride - 0.5
    return np.clip(c, 0.0, size - 1.0)


def _window(c: np.ndarray, lo: int, hi: int, size: int) -> np.ndarray:
    """Raised-cosine weight for coordinates ``c`` inside box [lo, hi) of an axis of length size.

    The taper towards a box side that lies on the image border is replaced by 1: nothing else
    covers that border, and it must not be down-weighted relative to the neighbour's taper.
    """
    u = (c - lo + 0.5) / (hi - lo)  # 0..1 across the box
    w = np.sin(np.pi * np.clip(u, 0.0, 1.0)) ** 2
    if lo == 0:
        w = np.where(u < 0.5, 1.0, w)
    if hi == size:
        w = np.where(u > 0.5, 1.0, w)
    return WINDOW_FLOOR + (1.0 - WINDOW_FLOOR) * w


def _interp_axis(values: np.ndarray, k: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of ``values`` along ``axis`` at fractional indices ``k`` (edge-clamped)."""
    m = values.shape[axis]
    k = np.clip(k, 0.0, m - 1.0)
    k0 = np.floor(k).astype(np.intp)
    k1 = np.minimum(k0 + 1, m - 1)
    f = k - k0
    shape = [1] * values.ndim
    shape[axis] = f.size
    f = f.reshape(shape)
    return np.take(values, k0, axis=axis) * (1.0 - f) + np.take(values, k1, axis=axis) * f


class Stitcher:
    """Accumulates (C, h, w) per-tile maps into a (C, ceil(H/stride), ceil(W/stride)) image map.

    Each tile map covers its tile's full ``tile x tile`` extent (for a box smaller than the tile,
    i.e. an image smaller than the tile, the padded tile from :func:`extract_tiles`, whose content
    is at the top-left; only the part over the box is used). Maps are bilinearly resampled to the
    output grid and blended with a separable raised-cosine window (tapering only towards sides
    inside the image, with a small positive floor) times the tile's ``weight``; the result is
    ``sum(w * v) / sum(w)``. Blending a constant gives exactly that constant, and overlapping tiles
    meet without seams.

    Tiles added with weight 0 (blank/data-bar tiles) are accumulated separately and only used
    where no weighted tile covers a pixel -- the limit of giving them a tiny epsilon weight -- so
    the map stays defined everywhere the grid covers without those tiles pulling on the rest.

    Accumulators are float64 (exact constants, no drift); memory is about 16 * C * h_out * w_out
    bytes, which is what ``stride`` is for on large images.
    """

    def __init__(self, shape: tuple[int, int], channels: int, tile: int, stride: float = 1.0):
        h, w = int(shape[0]), int(shape[1])
        if h < 1 or w < 1:
            raise ValueError(f"image shape must be positive, got {tuple(shape)}")
        if channels < 1 or tile < 1:
            raise ValueError(f"channels and tile must be >= 1, got {channels}, {tile}")
        if not (math.isfinite(stride) and stride > 0):
            raise ValueError(f"stride must be positive, got {stride!r}")
        self.shape = (h, w)
        self.channels = int(channels)
        self.tile = int(tile)
        self.stride = float(stride)
        self.out_shape = (math.ceil(h / stride), math.ceil(w / stride))
        self._cy = _axis_samples(self.out_shape[0], self.stride, h)
        self._cx = _axis_samples(self.out_shape[1], self.stride, w)
        self._acc = np.zeros((self.channels, *self.out_shape), np.float64)
        self._wsum = np.zeros(self.out_shape, np.float64)
        # Separate accumulators for weight-0 tiles (fallback only, see class docstring).
        self._acc0 = np.zeros((self.channels, *self.out_shape), np.float64)
        self._wsum0 = np.zeros(self.out_shape, np.float64)

    @staticmethod
    def _range(c: np.ndarray, lo: int, hi: int) -> slice:
        # Output samples whose (clamped) centre lies in the box's pixel span [lo - 0.5, hi - 0.5);
        # clamped centres are <= size - 1, so the last box always takes the last samples.
        return slice(
            int(np.searchsorted(c, lo - 0.5, side="left")),
            int(np.searchsorted(c, hi - 0.5, side="left")),
        )

    def add(self, box: TileBox, values: np.ndarray, weight: float = 1.0) -> None:
        """Blend one tile's (C, h, w) map, covering the full tile extent, into the result."""
        v = np.asarray(values, dtype=np.float64)
        if v.ndim != 3 or v.shape[0] != self.channels or v.shape[1] < 1 or v.shape[2] < 1:
            raise ValueError(f"expected a ({self.channels}, h, w) map, got shape {v.shape}")
        weight = float(weight)
        if not (math.isfinite(weight) and weight >= 0.0):
            raise ValueError(f"tile weight must be finite and >= 0, got {weight!r}")
        h, w = self.shape
        if not (0 <= box.y0 < box.y1 <= h and 0 <= box.x0 < box.x1 <= w):
            raise ValueError(f"{box} lies outside the image of shape {self.shape}")
        if box.y1 - box.y0 > self.tile or box.x1 - box.x0 > self.tile:
            raise ValueError(f"{box} is larger than the {self.tile}-px tile")
        sy, sx = self._range(self._cy, box.y0, box.y1), self._range(self._cx, box.x0, box.x1)
        cy, cx = self._cy[sy], self._cx[sx]
        if cy.size == 0 or cx.size == 0:
            return
        # Map pixel k's centre sits at image coordinate y0 + (k + 0.5) * tile / m - 0.5.
        ky = (cy - box.y0 + 0.5) * (v.shape[1] / self.tile) - 0.5
        kx = (cx - box.x0 + 0.5) * (v.shape[2] / self.tile) - 0.5
        patch = _interp_axis(_interp_axis(v, ky, 1), kx, 2)
        win = np.outer(_window(cy, box.y0, box.y1, h), _window(cx, box.x0, box.x1, w))
        if weight > 0.0:
            win *= weight
            self._acc[:, sy, sx] += patch * win
            self._wsum[sy, sx] += win
        else:
            self._acc0[:, sy, sx] += patch * win
            self._wsum0[sy, sx] += win

    @property
    def coverage(self) -> np.ndarray:
        """(h_out, w_out) float32 summed blending weight of weighted tiles (0 = none)."""
        return self._wsum.astype(np.float32)

    @property
    def covered(self) -> np.ndarray:
        """(h_out, w_out) bool: some tile (even a weight-0 one) covers the sample."""
        return (self._wsum > 0) | (self._wsum0 > 0)

    def result(self, fill: float = 0.0) -> np.ndarray:
        """(C, h_out, w_out) float32 blended map; ``fill`` where no tile covers a sample."""
        out = np.full((self.channels, *self.out_shape), fill, np.float64)
        main = self._wsum > 0
        np.divide(self._acc, self._wsum, out=out, where=main[None])
        fallback = ~main & (self._wsum0 > 0)
        np.divide(self._acc0, self._wsum0, out=out, where=fallback[None])
        return out.astype(np.float32)
