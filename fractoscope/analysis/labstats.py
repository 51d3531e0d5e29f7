"""Lab statistics: align a lab's image features to the training images' before the heads.

A lab's instrument, detector, alloy and habits shift every image's pooled features the same way;
the heads, fitted on generated images, then read the shift as a class. Given enough of the lab's
own images (labels not needed), each feature dimension is standardised over the lab's images and
mapped onto the training images' mean and spread (issue 23: on real fractographs this raised a
generated-image head from 0.53 to 0.65 balanced over v2's features, 0.60 to 0.68 over DINOv2-S).

Both heads are a global average pool followed by a linear map, so aligning the pooled features
``f' = a * f + c`` (per dimension) is the same as replacing the head weights ``W`` by ``W * a`` and
the bias ``b`` by ``b + W c``. The network, its level-2 conditioning and its exact Grad-CAMs stay
as they are; only the heads change (:meth:`fractoscope.analysis.pipeline.Analyzer.set_lab_stats`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fractoscope.errors import FractoscopeError

# Fewer images than this give a mean and spread too noisy to move the heads by (and a single
# image's "lab" would be itself: predict judges loose files each on its own).
MIN_LAB_IMAGES = 20
# A dimension the lab's images hardly vary along is not divided by ~0: its spread is floored at
# this fraction of the training images' spread.
MIN_SPREAD_RATIO = 0.25


@dataclass(frozen=True)
class LabStats:
    """Mean and spread of a lab's image-level pooled features (level-1 head input ++ level-2)."""

    mean: np.ndarray  # (D,)
    std: np.ndarray  # (D,)
    images: int
    model_sha256: str = ""  # the features are the model's: stats of another model do not apply

    def to_dict(self) -> dict:
        return {
            "format": "fractoscope-lab-stats/1",
            "images": int(self.images),
            "model_sha256": self.model_sha256,
            "mean": [round(float(v), 6) for v in self.mean],
            "std": [round(float(v), 6) for v in self.std],
        }

    @classmethod
    def from_dict(cls, d: dict) -> LabStats:
        try:
            if d.get("format") != "fractoscope-lab-stats/1":
                raise ValueError(f"format {d.get('format')!r}")
            mean = np.asarray(d["mean"], np.float64)
            std = np.asarray(d["std"], np.float64)
            if mean.shape != std.shape or mean.ndim != 1 or not np.all(np.isfinite(mean)) or not np.all(std > 0):
                raise ValueError("mean and std must be finite vectors of one length, std > 0")
            return cls(mean, std, int(d["images"]), str(d.get("model_sha256", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise FractoscopeError(f"unreadable lab statistics ({exc})") from None

    def describe(self) -> str:
        return f"adjusted to this lab's {self.images} images"


def fit_lab_stats(image_features: np.ndarray, model_sha256: str = "") -> LabStats:
    """Lab statistics of ``image_features`` (N, D): one tile-weighted pooled vector per image."""
    f = np.asarray(image_features, np.float64)
    if f.ndim != 2 or f.shape[0] < MIN_LAB_IMAGES:
        n = 0 if f.ndim != 2 else f.shape[0]
        raise FractoscopeError(f"lab statistics need at least {MIN_LAB_IMAGES} of the lab's images, got {n}")
    return LabStats(f.mean(0), f.std(0) + 1e-12, int(f.shape[0]), model_sha256)


def feature_affine(lab: LabStats, train_mean: np.ndarray, train_std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(a, c)`` with ``a * f + c`` mapping the lab's feature distribution onto the training one."""
    tm = np.asarray(train_mean, np.float64)
    ts = np.asarray(train_std, np.float64)
    if lab.mean.shape != tm.shape:
        raise FractoscopeError(
            f"lab statistics have {lab.mean.size} feature dimensions, the model {tm.size}: they were "
            "computed with another model"
        )
    spread = np.maximum(lab.std, MIN_SPREAD_RATIO * ts)
    a = ts / spread
    return a, tm - a * lab.mean


def adjusted_head(weight: np.ndarray, bias: np.ndarray, a: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear head ``(W, b)`` applied to ``a * f + c`` instead of ``f``."""
    w = np.asarray(weight, np.float64)
    return w * a[None, :], np.asarray(bias, np.float64) + w @ c
