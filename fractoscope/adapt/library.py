"""A lab's reference library of labelled fractographs (``level1/level2/*``) and image similarity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SimilarImage:
    """One reference image near the analysed one (cosine similarity of pooled model features)."""

    path: str
    level1: str
    level2: str | None  # None in a level-1-only library folder
    similarity: float  # cosine, -1..1
    thumbnail: np.ndarray  # (H, W) uint8 grey
    pixel_size_m: float | None


__all__ = ["SimilarImage"]
