"""New linear heads on frozen pooled features: regularised multinomial logistic regression.

Training samples are tiles (the unit the network classifies); every image carries the same total
weight whatever its size, and every class the same total weight whatever its count, so a few big
images of one class do not drown the others. The L2 strength ``C`` is chosen by stratified K-fold
cross-validation over *images*: the tiles of one image are always on the same side of a split.
Accuracy is measured per image after aggregating tile probabilities with the tile weights, the
way ``Analyzer`` does, and decoded top-down (level 2 = best child of the predicted level 1).

Features are standardised for the fit, and the scaling is folded back into the weights, so each
head stays one linear map ``W x + b`` of the raw pooled features: the model's exact Grad-CAM
(``W_c . A / hw``) remains valid. Level 2 is fitted per mechanism, over its children only; the
rows are stacked into the level-2 head so the network's within-group softmax is P(l2 | l1).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fractoscope.errors import AnalysisCancelled
from fractoscope.imaging.weights import image_probabilities

C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
DEFAULT_C = 0.1  # used when a class has too few images to cross-validate
MAX_TILES_PER_IMAGE = 32  # enough to describe an image; keeps fits fast on 1-2 Mpx images
MAX_ITER = 300
TOL = 1e-4

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


@dataclass
class ImageSample:
    """What the fit needs from one labelled image."""

    tile_features: np.ndarray  # (n, d) raw pooled features of one level
    tile_weights: np.ndarray  # (n,) Analyzer vote weights
    label: int


@dataclass
class LinearHead:
    weight: np.ndarray  # (n_classes, d) on raw features
    bias: np.ndarray  # (n_classes,)
    C: float


@dataclass
class CVResult:
    accuracy: float | None  # image-level, None when not enough images to cross-validate
    balanced_accuracy: float | None
    folds: int
    per_class_recall: dict[str, float] = field(default_factory=dict)
    C_scores: dict[float, float] = field(default_factory=dict)  # C -> mean balanced accuracy


def _fit_tiles(samples: list[ImageSample], n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack at most MAX_TILES_PER_IMAGE voting tiles per image with balanced sample weights."""
    counts = np.bincount([s.label for s in samples], minlength=n_classes).astype(float)
    xs, ys, ws = [], [], []
    for s in samples:
        idx = np.flatnonzero(s.tile_weights > 0)
        if len(idx) == 0:
            continue
        if len(idx) > MAX_TILES_PER_IMAGE:  # evenly spread over the image, deterministic
            idx = idx[np.linspace(0, len(idx) - 1, MAX_TILES_PER_IMAGE).round().astype(int)]
        w = s.tile_weights[idx].astype(float)
        w = w / w.sum() / counts[s.label]  # each image 1/n_c of its class, each class equal
        xs.append(s.tile_features[idx])
        ys.append(np.full(len(idx), s.label))
        ws.append(w)
    x = np.concatenate(xs).astype(np.float64)
    w = np.concatenate(ws)
    return x, np.concatenate(ys), w * (len(w) / w.sum())  # mean weight 1: C means what it says


@dataclass
class _Prepared:
    """One training set, stacked and standardised once (reused for every C of a grid)."""

    x: np.ndarray  # standardised tile features
    y: np.ndarray
    w: np.ndarray
    mu: np.ndarray
    sd: np.ndarray
    n_classes: int


def _prepare(samples: list[ImageSample], n_classes: int) -> _Prepared:
    x, y, w = _fit_tiles(samples, n_classes)
    mu = x.mean(0)
    sd = x.std(0)
    sd[sd < 1e-6] = 1.0
    return _Prepared((x - mu) / sd, y, w, mu, sd, n_classes)


def _solve(prep: _Prepared, C: float, clf=None) -> tuple[LinearHead, object]:
    """Fit at ``C``; ``clf`` from the previous (smaller) C of the same set warm-starts lbfgs."""
    from sklearn.linear_model import LogisticRegression

    present = np.unique(prep.y)
    d = prep.x.shape[1]
    weight = np.zeros((prep.n_classes, d))
    bias = np.zeros(prep.n_classes)
    if len(present) < 2:
        # One class only (e.g. a fold without the other): a constant head predicting it.
        bias[:] = -30.0
        bias[present] = 0.0
        return LinearHead(weight, bias, C), None
    if clf is None:
        clf = LogisticRegression(C=C, max_iter=MAX_ITER, tol=TOL, warm_start=True)
    else:
        clf.set_params(C=C)
    with warnings.catch_warnings():
        # Non-convergence at max_iter on separable data only means "even sharper"; harmless here.
        warnings.simplefilter("ignore")
        clf.fit(prep.x, prep.y, sample_weight=prep.w)
    coef = np.asarray(clf.coef_, float)
    icpt = np.asarray(clf.intercept_, float)
    if coef.shape[0] == 1:  # binary: sklearn keeps one row; softmax of [-z/2, z/2] = sigmoid(z)
        coef = np.vstack([-coef / 2, coef / 2])
        icpt = np.array([-icpt[0] / 2, icpt[0] / 2])
    wraw = coef / prep.sd  # fold the standardisation into the head
    braw = icpt - wraw @ prep.mu
    weight[present] = wraw
    bias[present] = braw
    absent = np.setdiff1d(np.arange(prep.n_classes), present)
    bias[absent] = -30.0  # a class never seen in training is never predicted
    return LinearHead(weight, bias, C), clf


def fit_head(samples: list[ImageSample], n_classes: int, C: float) -> LinearHead:
    """Multinomial L2 logistic regression; returns weights on the *raw* features, all classes."""
    return _solve(_prepare(samples, n_classes), C)[0]


def tile_probabilities(head: LinearHead, tile_features: np.ndarray) -> np.ndarray:
    z = tile_features.astype(np.float64) @ head.weight.T + head.bias
    z -= z.max(1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(1, keepdims=True)


def n_splits_for(labels: list[int], folds: int) -> int:
    """Folds we can afford: every class needs an image in every test fold."""
    if not labels:
        return 0
    smallest = min(np.bincount(labels)[np.unique(labels)])
    return int(min(folds, smallest))


def _splits(labels: list[int], k: int, seed: int = 0):
    from sklearn.model_selection import StratifiedKFold

    idx = np.arange(len(labels))
    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(idx, labels))


def _balanced(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    cls = np.unique(y_true)
    return float(np.mean([(y_pred[y_true == c] == c).mean() for c in cls]))


def select_C(
    samples: list[ImageSample],
    n_classes: int,
    folds: int,
    class_names: list[str],
    cancel: CancelFn | None = None,
    progress: ProgressFn | None = None,
) -> tuple[LinearHead, CVResult]:
    """Cross-validate C over images, refit on all images with the best one."""
    labels = [s.label for s in samples]
    k = n_splits_for(labels, folds)
    if k < 2 or len(set(labels)) < 2:
        return fit_head(samples, n_classes, DEFAULT_C), CVResult(None, None, 0)
    splits = _splits(labels, k)
    y = np.array(labels)
    grid = sorted(C_GRID)
    preds = {C: np.zeros(len(samples), int) for C in grid}
    for fi, (tr, te) in enumerate(splits):
        prep = _prepare([samples[i] for i in tr], n_classes)
        clf = None
        for C in grid:  # ascending: each fit starts from the more regularised solution
            if cancel is not None and cancel():
                raise AnalysisCancelled("cancelled")
            head, clf = _solve(prep, C, clf)
            for i in te:
                s = samples[i]
                preds[C][i] = int(np.argmax(image_probabilities(tile_probabilities(head, s.tile_features), s.tile_weights)))
        if progress is not None:
            progress((fi + 1) / len(splits), f"cross-validating fold {fi + 1}/{len(splits)}")
    scores = {C: _balanced(y, preds[C]) for C in grid}
    # Best balanced accuracy; on a tie the stronger regularisation (smaller C) is the safer bet.
    best = max(C_GRID, key=lambda c: (round(scores[c], 9), -c))
    pred = preds[best]
    recall = {
        class_names[c]: float((pred[y == c] == c).mean()) for c in np.unique(y)
    }
    cv = CVResult(float((pred == y).mean()), scores[best], k, recall, scores)
    return fit_head(samples, n_classes, best), cv


__all__ = [
    "C_GRID",
    "CVResult",
    "ImageSample",
    "LinearHead",
    "fit_head",
    "n_splits_for",
    "select_C",
    "tile_probabilities",
]
