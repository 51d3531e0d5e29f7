"""Overlapping tile grids over an image and extraction of fixed-size tiles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TileBox:
    """A tile's extent in image pixels: rows ``y0:y1``, columns ``x0:x1`` (end exclusive)."""

    y0: int
    x0: int
    y1: int
    x1: int

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def overlap_pixels(tile: int, overlap: float | int) -> int:
    """Overlap in pixels: a float in [0, 1) is a fraction of ``tile``, anything else is pixels.

    A fraction is always valid: it is capped at ``tile - 1`` so the grid keeps moving.
    """
    if isinstance(overlap, float) and 0.0 <= overlap < 1.0:
        px = min(int(round(overlap * tile)), tile - 1)
    else:
        px = int(round(overlap))
    if px < 0 or px >= tile:
        raise ValueError(f"overlap must be >= 0 and smaller than the tile ({tile} px), got {overlap!r}")
    return px


def _starts(size: int, tile: int, step: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile + 1, step))
    if starts[-1] != size - tile:
        starts.append(size - tile)  # last tile flush with the edge so it stays tile-sized
    return starts


def tile_grid(shape: tuple[int, ...], tile: int, overlap: float | int) -> list[TileBox]:
    """Tiles of ``tile x tile`` px covering all of an image of ``shape`` (rows, cols, ...).

    Tiles start at 0, step, 2*step, ... with ``step = tile - overlap`` (see :func:`overlap_pixels`);
    the last tile in each direction is placed flush at ``size - tile`` so that every box is exactly
    tile-sized and the right/bottom edges are covered. Along a dimension smaller than ``tile`` there
    is a single box spanning that whole dimension (so that box is smaller than the tile; see
    :func:`extract_tiles` for the padding). Boxes are unique, in row-major order.
    """
    if int(tile) != tile or tile < 1:
        raise ValueError(f"tile must be a positive integer, got {tile!r}")
    tile = int(tile)
    h, w = int(shape[0]), int(shape[1])
    if h < 1 or w < 1:
        raise ValueError(f"cannot tile an empty image of shape {tuple(shape)}")
    step = tile - overlap_pixels(tile, overlap)
    ys, xs = _starts(h, tile, step), _starts(w, tile, step)
    return [
        TileBox(y, x, y + min(tile, h), x + min(tile, w)) for y in ys for x in xs
    ]


def extract_tiles(img: np.ndarray, boxes: list[TileBox], tile: int) -> np.ndarray:
    """Cut ``boxes`` out of a 2-D image as a float32 array of shape (N, tile, tile).

    A box smaller than the tile (image smaller than the tile) is placed at the tile's top-left
    corner and padded on the bottom/right by reflection (by edge repetition along a 1-px side,
    where there is nothing to reflect). Stitcher.add relies on this top-left placement.
    """
    a = np.asarray(img)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {a.shape}")
    out = np.empty((len(boxes), tile, tile), np.float32)
    for i, b in enumerate(boxes):
        if b.height > tile or b.width > tile or b.y0 < 0 or b.x0 < 0 or b.y1 > a.shape[0] or b.x1 > a.shape[1]:
            raise ValueError(f"{b} does not fit a {tile}-px tile inside an image of shape {a.shape}")
        crop = a[b.slices]
        if crop.shape != (tile, tile):
            pad = ((0, tile - crop.shape[0]), (0, tile - crop.shape[1]))
            mode = "edge" if min(crop.shape) == 1 else "reflect"
            crop = np.pad(crop, pad, mode=mode)
        out[i] = crop
    return out
