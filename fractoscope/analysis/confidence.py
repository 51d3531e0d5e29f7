"""Honest confidence: temperature-calibrated probabilities and an out-of-distribution score.

Two questions decide whether a prediction deserves trust, and they fail differently:

* **Is the model sure?** The network's softmax is over-confident on some data and under-confident
  on other (label smoothing makes it under-confident on easy images). One temperature per level,
  fitted by minimising the negative log-likelihood of held-out labelled images *through the whole
  pipeline* (tile-weighted mean of tempered tile probabilities), turns the scores into calibrated
  probabilities (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017).
* **Has the model seen anything like it?** A softmax can be confidently wrong on an image unlike
  all training data. The image's pooled head inputs (``Prediction.features``) are compared with
  the training data's feature statistics: class-conditional Mahalanobis distance with one shared
  covariance (Lee et al., NeurIPS 2018), the covariance estimated with Ledoit-Wolf shrinkage
  (288 dimensions from a few hundred images) and stored compactly as its leading principal axes
  plus the mean remaining variance. The score is ``sqrt(d^2 / D)``: about 1 for a typical
  training image, larger the less alike.

Everything fitted lives in the model card's ``confidence`` block, so a checkpoint carries its own
calibration; :func:`fit_confidence` writes it (``fractoscope calibrate``).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fractoscope.analysis.results import Confidence
from fractoscope.model.taxonomy import Taxonomy

if TYPE_CHECKING:
    from fractoscope.analysis.pipeline import Analyzer

FORMAT = "fractoscope-confidence/1"
REASON_OOD = "unlike the images the model was trained on"
REASON_LOW = "low confidence"

# Temperatures are searched in [MIN_TEMPERATURE, MAX_TEMPERATURE]. The floor of 1 means a fit never
# makes the model *more* confident than its raw output: held-out generated images are easier than
# real ones (on a generator the model scores ~100 %, where the likelihood keeps improving as T -> 0),
# so sharpening on them would only make real-image answers look surer than they are.
MIN_TEMPERATURE = 1.0
MAX_TEMPERATURE = 20.0
# Below this calibrated probability of the headline mechanism a result is "low confidence", unless
# the calibration data call for a higher floor (see fit_min_probability).
DEFAULT_MIN_PROBABILITY = 0.5
# Accuracy the confident predictions must reach on the calibration data (selective classification).
TARGET_SELECTIVE_ACCURACY = 0.95


# --- hierarchical probabilities -------------------------------------------------------------------
def _log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    m = np.max(z, axis=axis, keepdims=True)
    return z - m - np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))


def hierarchical_probabilities(
    logits_level1: np.ndarray,
    logits_level2: np.ndarray,
    parent_index: Sequence[int],
    temperature_level1: float = 1.0,
    temperature_level2: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """P(l1) and joint P(l2) = P(l1) P(l2 | l1) from logits, each level with its temperature.

    Same arithmetic as ``HFFNet2d.conditional_log_probs`` (softmax of the level-2 logits within
    each parent's children), in numpy so fits do not need the network.
    """
    l1 = np.asarray(logits_level1, np.float64) / float(temperature_level1)
    l2 = np.asarray(logits_level2, np.float64) / float(temperature_level2)
    parent = np.asarray(parent_index, np.int64)
    log_p1 = _log_softmax(l1, axis=-1)
    log_cond = np.empty_like(l2)
    for g in np.unique(parent):
        kids = np.flatnonzero(parent == g)
        log_cond[..., kids] = _log_softmax(l2[..., kids], axis=-1)
    log_p2 = log_p1[..., parent] + log_cond
    return np.exp(log_p1).astype(np.float32), np.exp(log_p2).astype(np.float32)


# --- temperature ------------------------------------------------------------------------------------
def _image_nll(
    t: float, logits: list[np.ndarray], weights: list[np.ndarray], labels: np.ndarray
) -> float:
    """Mean NLL of image labels under the tile-weighted mean of tempered tile softmaxes."""
    total = 0.0
    for z, w, y in zip(logits, weights, labels, strict=True):
        p = np.exp(_log_softmax(z / t, axis=-1))
        img = (w[:, None] * p).sum(0) / w.sum()
        total -= math.log(max(float(img[y]), 1e-12))
    return total / len(labels)


def fit_temperature(
    logits: Sequence[np.ndarray] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    weights: Sequence[np.ndarray] | None = None,
    bounds: tuple[float, float] = (MIN_TEMPERATURE, MAX_TEMPERATURE),
) -> float:
    """The temperature minimising the negative log-likelihood of ``labels``.

    ``logits`` is either an (N, C) array (one row per sample) or a list of per-image (tiles, C)
    arrays whose tempered softmaxes are averaged with ``weights`` (per-image tile votes), exactly
    as the pipeline forms an image's probabilities. Searched on log T (bounded scalar minimisation).
    """
    from scipy.optimize import minimize_scalar

    if isinstance(logits, np.ndarray) and logits.ndim == 2:
        logits = [row[None, :] for row in logits]
    logits = [np.asarray(z, np.float64) for z in logits]
    if weights is None:
        weights = [np.ones(len(z)) for z in logits]
    weights = [np.asarray(w, np.float64) for w in weights]
    y = np.asarray(labels, np.int64)
    if not len(logits) or len(logits) != len(y):
        raise ValueError("need one label per image and at least one image")
    lo, hi = (math.log(b) for b in bounds)
    if hi - lo < 1e-9:
        return float(bounds[0])
    res = minimize_scalar(
        lambda lt: _image_nll(math.exp(lt), logits, weights, y), bounds=(lo, hi), method="bounded",
        options={"xatol": 1e-4},
    )
    return float(math.exp(res.x))


# --- out-of-distribution score -------------------------------------------------------------------------
def _encode(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a, dtype="<f4")
    return {"dtype": "float32", "shape": list(a.shape), "base64": base64.b64encode(a.tobytes()).decode("ascii")}


def _decode(d: dict) -> np.ndarray:
    if d.get("dtype") != "float32":
        raise ValueError(f"unsupported array dtype {d.get('dtype')!r}")
    raw = base64.b64decode(d["base64"])
    return np.frombuffer(raw, dtype="<f4").reshape(d["shape"]).astype(np.float64)


@dataclass
class MahalanobisOOD:
    """Class-conditional Mahalanobis distance with a shared, shrunk, truncated covariance."""

    class_means: np.ndarray  # (C, D)
    components: np.ndarray  # (D, k) leading eigenvectors of the within-class covariance
    variances: np.ndarray  # (k,) their eigenvalues
    residual_variance: float  # mean of the remaining eigenvalues

    @property
    def dim(self) -> int:
        return int(self.class_means.shape[1])

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, n_components: int = 48) -> MahalanobisOOD:
        from sklearn.covariance import LedoitWolf

        x = np.asarray(features, np.float64)
        y = np.asarray(labels)
        classes = np.unique(y)
        means = np.stack([x[y == c].mean(0) for c in classes])
        centred = x - means[np.searchsorted(classes, y)]
        cov = LedoitWolf(assume_centered=True).fit(centred).covariance_
        evals, evecs = np.linalg.eigh(cov)
        order = np.argsort(evals)[::-1]
        evals, evecs = np.maximum(evals[order], 1e-12), evecs[:, order]
        k = int(min(n_components, x.shape[1] - 1))
        rest = evals[k:]
        return cls(means, evecs[:, :k], evals[:k], float(rest.mean()) if rest.size else 1e-12)

    def score(self, features: np.ndarray) -> np.ndarray:
        """``sqrt(min_c d_c^2 / D)`` for each row of ``features`` (N, D) (or one (D,) vector)."""
        x = np.atleast_2d(np.asarray(features, np.float64))
        best = np.full(len(x), np.inf)
        for mu in self.class_means:
            r = x - mu
            proj = r @ self.components
            within = (proj**2 / self.variances).sum(1)
            resid = np.maximum((r**2).sum(1) - (proj**2).sum(1), 0.0) / self.residual_variance
            best = np.minimum(best, within + resid)
        return np.sqrt(best / self.dim)

    def to_card(self) -> dict:
        return {
            "method": "class-conditional Mahalanobis, shared Ledoit-Wolf covariance, "
            f"{self.components.shape[1]} principal axes + mean residual variance",
            "class_means": _encode(self.class_means),
            "components": _encode(self.components),
            "variances": _encode(self.variances),
            "residual_variance": self.residual_variance,
        }

    @classmethod
    def from_card(cls, d: dict) -> MahalanobisOOD:
        return cls(
            _decode(d["class_means"]),
            _decode(d["components"]),
            _decode(d["variances"]),
            float(d["residual_variance"]),
        )


# --- the model a prediction is judged with -------------------------------------------------------------
@dataclass
class ConfidenceModel:
    """Temperatures, OOD statistics and thresholds (the card's ``confidence`` block)."""

    temperature_level1: float = 1.0
    temperature_level2: float = 1.0
    ood: MahalanobisOOD | None = None
    ood_threshold: float | None = None
    min_probability: float | None = None
    fitted: bool = False
    notes: dict = field(default_factory=dict)

    @classmethod
    def from_card(cls, block: dict | None) -> ConfidenceModel:
        """The card's block, or the identity (no temperature, no OOD score) when there is none.

        A block that cannot be read is reported as a ModelError: a model whose calibration is
        broken must not silently look calibrated."""
        if not block:
            return cls()
        from fractoscope.errors import ModelError

        try:
            ood = block.get("ood")
            return cls(
                temperature_level1=float(block["temperature_level1"]),
                temperature_level2=float(block.get("temperature_level2", 1.0)),
                ood=MahalanobisOOD.from_card(ood["statistics"]) if ood else None,
                ood_threshold=float(ood["threshold"]) if ood else None,
                min_probability=float(block["min_probability"]),
                fitted=True,
                notes={k: v for k, v in block.items() if k not in ("ood",)},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"the model card's confidence block is unreadable ({exc})") from None

    def probabilities(
        self, logits_level1: np.ndarray, logits_level2: np.ndarray, taxonomy: Taxonomy
    ) -> tuple[np.ndarray, np.ndarray]:
        return hierarchical_probabilities(
            logits_level1, logits_level2, taxonomy.parent_index(), self.temperature_level1, self.temperature_level2
        )

    def ood_score(self, features: np.ndarray | None) -> float:
        if self.ood is None or features is None:
            return float("nan")
        return float(self.ood.score(features)[0])

    def assess(
        self,
        p_level1: np.ndarray,
        features: np.ndarray | None,
        tile_features: np.ndarray | None = None,
        tile_weights: np.ndarray | None = None,
    ) -> Confidence:
        """The Confidence of one image from its (calibrated) P(l1) and pooled features."""
        if not self.fitted:
            return Confidence.from_margin(p_level1)
        p = float(np.max(p_level1))
        s = self.ood_score(features)
        reasons = []
        if self.ood_threshold is not None and math.isfinite(s) and s > self.ood_threshold:
            reasons.append(REASON_OOD)
        if self.min_probability is not None and p < self.min_probability:
            reasons.append(REASON_LOW)
        return Confidence(p, s, bool(reasons), "; ".join(reasons))
