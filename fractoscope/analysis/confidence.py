"""Honest confidence: temperature-calibrated probabilities and an out-of-distribution score.

Two questions decide whether a prediction deserves trust, and they fail differently:

* **Is the model sure?** The network's softmax is over-confident on some data and under-confident
  on other (label smoothing makes it under-confident on easy images). One temperature per level,
  fitted by minimising the negative log-likelihood of held-out labelled images *through the whole
  pipeline* (tile-weighted mean of tempered tile probabilities), turns the scores into calibrated
  probabilities (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017).
* **Has the model seen anything like it?** A softmax can be confidently wrong on an image unlike
  all training data. Each voting tile's pooled head inputs (``Prediction.tile_features``) are
  compared with the calibration images' tile statistics: class-conditional Mahalanobis distance
  with one shared covariance (Lee et al., NeurIPS 2018), the covariance estimated with Ledoit-Wolf
  shrinkage and stored compactly as its leading principal axes plus the mean remaining variance.
  A tile scores ``sqrt(d^2 / D)`` (about 1 for a typical calibration tile); the image scores the
  vote-weighted mean of its tiles. The threshold and why it sits where it does are in the card.

Everything fitted lives in the model card's ``confidence`` block, so a checkpoint carries its own
calibration; :func:`fit_confidence` writes it (``fractoscope calibrate``).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fractoscope.analysis.results import Confidence
from fractoscope.imaging.weights import image_probabilities, tile_weighted_mean
from fractoscope.model.taxonomy import Taxonomy

if TYPE_CHECKING:
    from fractoscope.analysis.pipeline import Analyzer

FORMAT = "fractoscope-confidence/1"
REASON_OOD = "unlike the images the model was trained on"
REASON_LOW = "low confidence"
REASON_SPLIT = "its parts point to different mechanisms"
# Tile agreement floor: the share of right calibration images it may flag. A generated frame shows
# one mechanism (mixtures cover at most 30 % of it), so nearly all its tiles agree; a real surface
# the model does not know splits its tiles between mechanisms even when the image-level
# probability looks decided (the mean of disagreeing tiles).
AGREEMENT_QUANTILE = 0.05

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
# OOD threshold: the IN_QUANTILE of the calibration images' cross-fitted scores, raised to the
# REFERENCE_QUANTILE of a held-out generator family when one is given (those images are fractographs
# of the trained classes in a look the model was not trained on: they must not be flagged), and
# never below MIN_OOD_THRESHOLD spreads (a small calibration set's top percentile is noisy).
IN_QUANTILE = 0.99
REFERENCE_QUANTILE = 0.99
MIN_OOD_THRESHOLD = 2.0
# Principal axes of the tile-feature covariance kept by the Mahalanobis part of the OOD score
# (`calibrate --components`; the bundled model uses more, see its card's metrics.ood_components).
OOD_COMPONENTS = 48
OOD_THRESHOLD_WHY = (
    "Real fractographs differ from generated ones, so a threshold at a usual percentile of the "
    "training data (e.g. the 95th) would flag nearly every real image and the flag would mean "
    "nothing. The threshold sits at the top of the calibration images and of the images of a "
    "held-out generator style (same classes, a look the model was not trained on), so it "
    "marks images unlike any fractograph the model knows (photographs, text, non-fracture "
    "micrographs) rather than every real surface; real fractographs the model reads poorly are "
    "meant to be caught by the low-confidence rule instead."
)


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
        img = image_probabilities(np.exp(_log_softmax(z / t, axis=-1)), w)
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
    def fit(cls, features: np.ndarray, labels: np.ndarray, n_components: int = OOD_COMPONENTS) -> MahalanobisOOD:
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


def image_distance(ood: MahalanobisOOD, tile_features: np.ndarray, weights: np.ndarray) -> float:
    """An image's feature distance: the vote-weighted mean of its tiles' Mahalanobis scores.

    Tiles rather than the image-mean feature: averaging a photograph's sky, face and background
    makes an unremarkable mean, while most of its tiles are individually unlike any fractograph
    tile. Blank / text tiles (weight 0) do not count, as in the prediction; an image without a
    voting tile is refused (FractoscopeError), as by the prediction.
    """
    w = np.asarray(weights, np.float64)
    s = np.zeros(len(w))
    if (w > 0).any():
        s[w > 0] = ood.score(np.asarray(tile_features)[w > 0])
    return float(tile_weighted_mean(s, w))


def image_energy(tile_logits_level1: np.ndarray, weights: np.ndarray) -> float:
    """Free energy ``-logsumexp(logits)`` of the raw level-1 logits, vote-weighted over tiles:
    high when no mechanism is recognised strongly (Liu et al., NeurIPS 2020)."""
    z = np.asarray(tile_logits_level1, np.float64)
    m = z.max(1)
    energy = -(m + np.log(np.exp(z - m[:, None]).sum(1)))
    return float(tile_weighted_mean(energy, weights))


@dataclass
class OODScorer:
    """The out-of-distribution score of an image: two signals, each in units of its spread on the
    calibration images, added. ``mahalanobis``: are the tile features like the calibration
    tiles'? ``energy``: does the network recognise any mechanism strongly? On held-out images of
    the bundled model's own generator vs. photographs each alone separated less well than the sum.
    0 = a typical calibration image; each unit is about one spread (IQR / 1.349) further out."""

    mahalanobis: MahalanobisOOD
    distance_centre: float
    distance_scale: float
    energy_centre: float
    energy_scale: float

    def parts(self, tile_features: np.ndarray, tile_logits_level1: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
        d = image_distance(self.mahalanobis, tile_features, weights)
        e = image_energy(tile_logits_level1, weights)
        return (d - self.distance_centre) / self.distance_scale, (e - self.energy_centre) / self.energy_scale

    def score(self, tile_features: np.ndarray, tile_logits_level1: np.ndarray, weights: np.ndarray) -> float:
        return float(sum(self.parts(tile_features, tile_logits_level1, weights)))

    def to_card(self) -> dict:
        return {
            "mahalanobis": self.mahalanobis.to_card(),
            "distance_centre": self.distance_centre,
            "distance_scale": self.distance_scale,
            "energy_centre": self.energy_centre,
            "energy_scale": self.energy_scale,
        }

    @classmethod
    def from_card(cls, d: dict) -> OODScorer:
        return cls(
            MahalanobisOOD.from_card(d["mahalanobis"]),
            float(d["distance_centre"]),
            float(d["distance_scale"]),
            float(d["energy_centre"]),
            float(d["energy_scale"]),
        )


# --- the model a prediction is judged with -------------------------------------------------------------
@dataclass
class ConfidenceModel:
    """Temperatures, OOD statistics and thresholds (the card's ``confidence`` block)."""

    temperature_level1: float = 1.0
    temperature_level2: float = 1.0
    ood: OODScorer | None = None
    ood_threshold: float | None = None
    min_probability: float | None = None
    fitted: bool = False
    # Below this vote-weighted share of tiles agreeing with the headline mechanism: uncertain.
    min_tile_agreement: float | None = None
    # Mean and spread of the calibration images' pooled features (lab statistics map onto them).
    feature_mean: np.ndarray | None = None
    feature_std: np.ndarray | None = None

    @classmethod
    def from_card(cls, block: dict | None) -> ConfidenceModel:
        """The card's block, or the identity (no temperature, no OOD score) when there is none.

        A block that cannot be read is reported as a ModelError: a model whose calibration is
        broken must not silently look calibrated."""
        if not block:
            return cls()
        from fractoscope.errors import ModelError

        try:
            if block.get("format") != FORMAT:
                raise ValueError(f"format {block.get('format')!r}, expected {FORMAT!r}")
            ood = block.get("ood")
            fs = block.get("feature_stats")
            return cls(
                temperature_level1=float(block["temperature_level1"]),
                temperature_level2=float(block.get("temperature_level2", 1.0)),
                ood=OODScorer.from_card(ood["statistics"]) if ood else None,
                ood_threshold=float(ood["threshold"]) if ood else None,
                min_probability=float(block["min_probability"]),
                fitted=True,
                min_tile_agreement=float(block["min_tile_agreement"]) if "min_tile_agreement" in block else None,
                feature_mean=_decode(fs["mean"]).astype(np.float64) if fs else None,
                feature_std=_decode(fs["std"]).astype(np.float64) if fs else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"the model card's confidence block is unreadable ({exc})") from None

    def probabilities(
        self, logits_level1: np.ndarray, logits_level2: np.ndarray, taxonomy: Taxonomy
    ) -> tuple[np.ndarray, np.ndarray]:
        return hierarchical_probabilities(
            logits_level1, logits_level2, taxonomy.parent_index(), self.temperature_level1, self.temperature_level2
        )

    def ood_score(self, tile_features: np.ndarray, tile_logits_level1: np.ndarray, tile_weights: np.ndarray) -> float:
        if self.ood is None:
            return float("nan")
        return self.ood.score(tile_features, tile_logits_level1, tile_weights)

    def assess(
        self,
        p_level1: np.ndarray,
        tile_features: np.ndarray,
        tile_logits_level1: np.ndarray,
        tile_weights: np.ndarray,
    ) -> Confidence:
        """The Confidence of one image from its calibrated P(l1) and its tiles' raw outputs."""
        if not self.fitted:
            return Confidence.from_margin(p_level1)
        p = float(np.max(p_level1))
        s = self.ood_score(tile_features, tile_logits_level1, tile_weights)
        reasons = []
        if self.ood_threshold is not None and math.isfinite(s) and s > self.ood_threshold:
            reasons.append(REASON_OOD)
        if self.min_probability is not None and p < self.min_probability:
            reasons.append(REASON_LOW)
        if self.min_tile_agreement is not None:
            agree = tile_agreement(tile_logits_level1, tile_weights, int(np.argmax(p_level1)))
            if agree < self.min_tile_agreement:
                reasons.append(REASON_SPLIT)
        return Confidence(p, s, bool(reasons), "; ".join(reasons))


def tile_agreement(tile_logits_level1: np.ndarray, tile_weights: np.ndarray, label: int) -> float:
    """Vote-weighted share of the voting tiles whose own most probable mechanism is ``label``
    (a temperature does not change a tile's argmax, so raw logits do)."""
    w = np.asarray(tile_weights, np.float64)
    if w.sum() <= 0:
        return float("nan")
    top = np.argmax(np.asarray(tile_logits_level1), axis=1)
    return float((w * (top == label)).sum() / w.sum())


# --- fitting ---------------------------------------------------------------------------------------------
@dataclass
class CalibrationData:
    """Raw (untempered) outputs of the pipeline on labelled images, one entry per image."""

    paths: list[str]
    labels_level1: np.ndarray  # (N,) level-1 index
    labels_level2: np.ndarray  # (N,) level-2 index, -1 when the folder has no level 2
    logits_level1: list[np.ndarray]  # per image (tiles, n1)
    logits_level2: list[np.ndarray]  # per image (tiles, n2)
    weights: list[np.ndarray]  # per image (tiles,) votes, summing to > 0
    features: np.ndarray  # (N, D) tile-weighted mean of pooled head inputs
    failed: list[tuple[str, str]] = field(default_factory=list)
    tile_features: list[np.ndarray] = field(default_factory=list)  # per image (tiles, D)

    def __len__(self) -> int:
        return len(self.paths)


def collect(
    analyzer: Analyzer,
    items: Sequence[tuple[Any, str, str | None]],
    progress: Callable[[int, int], None] | None = None,
    uncalibrated_every: int = 2,
) -> CalibrationData:
    """Run ``analyzer`` on ``(path, level1, level2 | None)`` items and keep the raw outputs.

    Every ``uncalibrated_every``-th image is analysed without its pixel size (0 = never): real
    fractographs often come without one, and the network's "unknown scale" embedding changes its
    features and its confidence, so the fits must see both kinds.
    Images the pipeline refuses (too small, blank) are listed in ``failed``, as in ``evaluate``.
    """
    from fractoscope.calibration import Calibration
    from fractoscope.errors import FractoscopeError
    from fractoscope.io import read_sem

    tax = analyzer.model_info.taxonomy
    paths, y1, y2, l1, l2, ws, feats, tfeats, failed = [], [], [], [], [], [], [], [], []
    for k, (path, lab1, lab2) in enumerate(items):
        try:
            sem = read_sem(path)
            if uncalibrated_every and k % uncalibrated_every == uncalibrated_every - 1:
                sem = sem.with_calibration(Calibration.none())
            prep = analyzer.prepare(sem)
            analyzer.check_size(sem, prep)
            out = analyzer.image_outputs(prep, with_cams=False)
            feature = tile_weighted_mean(out.features, out.weights)  # refuses a frame with no vote
        except FractoscopeError as exc:
            failed.append((str(path), str(exc)))
        else:
            w = out.weights.astype(np.float64)
            feats.append(feature)
            paths.append(str(path))
            y1.append(tax.level1.index(lab1))
            y2.append(tax.level2.index(lab2) if lab2 else -1)
            l1.append(out.logits_level1)
            l2.append(out.logits_level2)
            ws.append(w)
            tfeats.append(out.features)
        if progress:
            progress(k + 1, len(items))
    if not paths:
        raise FractoscopeError("no usable labelled images to fit the confidence on")
    return CalibrationData(
        paths, np.array(y1), np.array(y2), l1, l2, ws, np.stack(feats).astype(np.float32), failed, tfeats
    )


def _image_probabilities(
    data: CalibrationData, parent_index: Sequence[int], t1: float, t2: float
) -> tuple[np.ndarray, np.ndarray]:
    """Image-level P(l1), joint P(l2) of every image at temperatures (t1, t2), like the pipeline."""
    p1s, p2s = [], []
    for a, b, w in zip(data.logits_level1, data.logits_level2, data.weights, strict=True):
        p1, p2 = hierarchical_probabilities(a, b, parent_index, t1, t2)
        p1s.append(image_probabilities(p1, w))
        p2s.append(image_probabilities(p2, w))
    return np.stack(p1s), np.stack(p2s)


def _fit_temperature_level2(data: CalibrationData, parent_index: Sequence[int], t1: float) -> float:
    """Level-2 temperature given the level-1 one: NLL of the joint (mechanism, morphology) label."""
    from scipy.optimize import minimize_scalar

    has = data.labels_level2 >= 0
    if not has.any():
        return 1.0
    idx = np.flatnonzero(has)
    sub = CalibrationData(
        [data.paths[i] for i in idx], data.labels_level1[idx], data.labels_level2[idx],
        [data.logits_level1[i] for i in idx], [data.logits_level2[i] for i in idx],
        [data.weights[i] for i in idx], data.features[idx],
    )

    def nll(log_t: float) -> float:
        _, p2 = _image_probabilities(sub, parent_index, t1, math.exp(log_t))
        return float(-np.mean(np.log(np.maximum(p2[np.arange(len(sub)), sub.labels_level2], 1e-12))))

    res = minimize_scalar(
        nll, bounds=(math.log(MIN_TEMPERATURE), math.log(MAX_TEMPERATURE)), method="bounded",
        options={"xatol": 1e-3},
    )
    return float(math.exp(res.x))


def expected_calibration_error(p_max: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE: |accuracy - confidence| averaged over equal-width confidence bins, weighted by count."""
    p_max, correct = np.asarray(p_max, float), np.asarray(correct, float)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p_max, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - p_max[m].mean())
    return float(ece)


def fit_min_probability(p_max: np.ndarray, correct: np.ndarray) -> float:
    """Smallest probability floor at which the kept predictions reach TARGET_SELECTIVE_ACCURACY
    on the calibration data, never below DEFAULT_MIN_PROBABILITY."""
    order = np.argsort(-np.asarray(p_max))
    p, c = np.asarray(p_max)[order], np.asarray(correct, float)[order]
    acc = np.cumsum(c) / np.arange(1, len(c) + 1)
    ok = np.flatnonzero(acc >= TARGET_SELECTIVE_ACCURACY)
    # Keep the longest prefix (lowest floor) whose accuracy still meets the target.
    floor = float(p[ok[-1]]) if ok.size else 1.0
    return float(max(DEFAULT_MIN_PROBABILITY, min(floor, 0.99)))


def _tile_training_set(data: CalibrationData, labels: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Voting tiles of images ``idx``, each labelled with its image's class."""
    xs, ys = [], []
    for i in idx:
        m = data.weights[i] > 0
        xs.append(data.tile_features[i][m])
        ys.append(np.full(int(m.sum()), labels[i]))
    return np.concatenate(xs), np.concatenate(ys)


def _robust_centre_scale(x: np.ndarray) -> tuple[float, float]:
    x = np.asarray(x, np.float64)
    x = x[np.isfinite(x)]
    q25, q50, q75 = np.quantile(x, [0.25, 0.5, 0.75])
    return float(q50), float(max((q75 - q25) / 1.349, 1e-6))


def fit_ood(
    data: CalibrationData, labels: np.ndarray, n_components: int, folds: int = 5, seed: int = 0
) -> tuple[OODScorer, np.ndarray]:
    """The OOD scorer, and the calibration images' scores from statistics fitted *without* each
    image (k-fold over images): thresholds must not be set on in-sample distances (too small)."""
    rng = np.random.default_rng(seed)
    n = len(data)
    fold = rng.permutation(n) % max(2, min(folds, n))
    dist = np.empty(n)
    for f in np.unique(fold):
        test = np.flatnonzero(fold == f)
        x, y = _tile_training_set(data, labels, np.flatnonzero(fold != f))
        maha = MahalanobisOOD.fit(x, y, n_components)
        dist[test] = [image_distance(maha, data.tile_features[i], data.weights[i]) for i in test]
    energy = np.array([image_energy(z, w) for z, w in zip(data.logits_level1, data.weights, strict=True)])
    x, y = _tile_training_set(data, labels, np.arange(n))
    scorer = OODScorer(MahalanobisOOD.fit(x, y, n_components), *_robust_centre_scale(dist), *_robust_centre_scale(energy))
    cross_fitted = (dist - scorer.distance_centre) / scorer.distance_scale + (
        energy - scorer.energy_centre
    ) / scorer.energy_scale
    return scorer, cross_fitted


def score_images(scorer: OODScorer, data: CalibrationData) -> np.ndarray:
    return np.array(
        [
            scorer.score(t, z, w)
            for t, z, w in zip(data.tile_features, data.logits_level1, data.weights, strict=True)
        ]
    )


def choose_ood_threshold(in_scores: np.ndarray, reference_scores: np.ndarray | None = None) -> tuple[float, str]:
    """The OOD threshold and the rule that chose it, in words (stored in the card)."""
    q = float(np.quantile(in_scores, IN_QUANTILE))
    thr = max(q, MIN_OOD_THRESHOLD)
    rule = (
        f"the {100 * IN_QUANTILE:g}th percentile of the cross-fitted scores of the calibration images "
        f"({q:.2f}), at least {MIN_OOD_THRESHOLD:g}"
    )
    if reference_scores is not None and len(reference_scores):
        r = float(np.quantile(reference_scores, REFERENCE_QUANTILE))
        rule += f"; raised to the {100 * REFERENCE_QUANTILE:g}th percentile of the reference images ({r:.2f}) if higher"
        thr = max(thr, r)
    return thr, rule


def fit_confidence(
    data: CalibrationData,
    taxonomy: Taxonomy,
    reference: CalibrationData | None = None,
    n_components: int = OOD_COMPONENTS,
    source: dict | None = None,
) -> dict:
    """Fit temperatures, OOD statistics and thresholds; returns the card's ``confidence`` block.

    ``data``: held-out labelled images like the training data (a fresh generator seed).
    ``reference``: optional labelled images of a *different* style with the same classes (a
    held-out generator family): they should not be flagged, so the OOD threshold is raised to
    cover most of them, and they are also scored for the figures.
    """
    parent = taxonomy.parent_index()
    p1_raw, _ = _image_probabilities(data, parent, 1.0, 1.0)
    t1 = fit_temperature(data.logits_level1, data.labels_level1, data.weights)
    t2 = _fit_temperature_level2(data, parent, t1)
    p1, _ = _image_probabilities(data, parent, t1, t2)
    correct = p1.argmax(1) == data.labels_level1
    p_max = p1.max(1)
    min_p = fit_min_probability(p_max, correct)

    agreement = np.array([tile_agreement(a, w, int(i)) for a, w, i in zip(data.logits_level1, data.weights, p1.argmax(1), strict=True)])
    min_agree = float(np.quantile(agreement[correct], AGREEMENT_QUANTILE)) if correct.any() else 0.0

    labels = np.where(data.labels_level2 >= 0, data.labels_level2, 1000 + data.labels_level1)
    ood, in_scores = fit_ood(data, labels, n_components)
    ref_scores = score_images(ood, reference) if reference is not None and len(reference) else None
    thr, rule = choose_ood_threshold(in_scores, ref_scores)

    def pct(a: np.ndarray) -> dict:
        return {f"p{q}": round(float(np.quantile(a, q / 100)), 4) for q in (50, 90, 99)}

    figures: dict[str, Any] = {
        "images": len(data),
        "level1_accuracy": round(float(correct.mean()), 4),
        "nll_level1_raw": round(float(-np.mean(np.log(np.maximum(p1_raw[np.arange(len(data)), data.labels_level1], 1e-12)))), 4),
        "nll_level1_calibrated": round(float(-np.mean(np.log(np.maximum(p1[np.arange(len(data)), data.labels_level1], 1e-12)))), 4),
        "ece_level1_raw": round(expected_calibration_error(p1_raw.max(1), p1_raw.argmax(1) == data.labels_level1), 4),
        "ece_level1_calibrated": round(expected_calibration_error(p_max, correct), 4),
        "flagged_low_confidence_fraction": round(float((p_max < min_p).mean()), 4),
        "flagged_tile_agreement_fraction": round(float((agreement < min_agree).mean()), 4),
        "ood_scores_calibration_cross_fitted": pct(in_scores),
        "ood_flagged_fraction_calibration": round(float((in_scores > thr).mean()), 4),
    }
    if ref_scores is not None:
        p1r, _ = _image_probabilities(reference, parent, t1, t2)
        figures["reference_images"] = len(reference)
        figures["reference_level1_accuracy"] = round(float((p1r.argmax(1) == reference.labels_level1).mean()), 4)
        figures["ood_scores_reference"] = pct(ref_scores)
        figures["ood_flagged_fraction_reference"] = round(float((ref_scores > thr).mean()), 4)
    return {
        "format": FORMAT,
        "temperature_level1": round(t1, 4),
        "temperature_level2": round(t2, 4),
        "temperature_note": (
            "fitted by minimising the image-level negative log-likelihood through the pipeline; "
            f"never below {MIN_TEMPERATURE:g} (no sharpening: generated images are easier than real ones)"
        ),
        "min_probability": round(min_p, 4),
        "min_probability_rule": (
            f"lowest calibrated level-1 probability at which the kept calibration images are at least "
            f"{TARGET_SELECTIVE_ACCURACY:.0%} right, never below {DEFAULT_MIN_PROBABILITY:g}"
        ),
        "min_tile_agreement": round(min_agree, 4),
        "min_tile_agreement_rule": (
            f"the {AGREEMENT_QUANTILE:.0%} quantile of the right calibration images' vote-weighted share of "
            "tiles whose own mechanism is the headline one"
        ),
        "ood": {
            "score": (
                "sum of two signals, each as (value - median) / (IQR / 1.349) over the calibration "
                "images: (1) feature distance: vote-weighted mean over the voting tiles of "
                "sqrt(min over classes of squared Mahalanobis distance / dimensions) of the pooled "
                "head inputs (level 1 ++ level 2); (2) free energy -logsumexp of the raw level-1 "
                "logits, vote-weighted over tiles. 0 = a typical calibration image."
            ),
            "statistics": ood.to_card(),
            "threshold": round(thr, 4),
            "threshold_rule": rule,
            "threshold_why": OOD_THRESHOLD_WHY,
        },
        "figures": figures,
        "fitted_on": source or {},
        # What lab statistics (fractoscope.analysis.labstats) map a lab's images onto.
        "feature_stats": {
            "images": len(data),
            "mean": _encode(data.features.mean(0).astype(np.float32)),
            "std": _encode((data.features.std(0) + 1e-6).astype(np.float32)),
        },
    }


def write_confidence_block(weights_path: str | Path, block: dict) -> Path:
    """Store ``block`` as the ``confidence`` key of the checkpoint's model card (atomically)."""
    import json

    from fractoscope.atomic import write_atomic
    from fractoscope.model.checkpoint import card_path_for, read_card

    ConfidenceModel.from_card(block)  # refuse to write a block that could not be read back
    card = read_card(Path(weights_path))
    card["confidence"] = block
    path = card_path_for(Path(weights_path))
    write_atomic(path, json.dumps(card, indent=2).encode())
    return path
