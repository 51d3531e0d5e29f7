"""``adapt``: new heads for a lab's own labelled images on the frozen features of a base model.

Steps: scan ``DATA/level1[/level2]/*``; pooled features of every tile of every image (cached,
the same tiling/normalisation as ``predict``); level-1 head = multinomial logistic regression
over mechanisms; level-2 head = one multinomial per mechanism over its children (so level 2 stays
conditional on level 1); the regularisation of each chosen by cross-validation over images; write
``NAME.safetensors`` (the base network with the new heads) and its model card.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from fractoscope.adapt.dataset import (
    MIN_IMAGES_PER_CLASS,
    RECOMMENDED_IMAGES_PER_CLASS,
    LabelledFile,
    LabelledFolder,
    scan_folder,
)
from fractoscope.adapt.features import (
    FeatureCache,
    ImageFeatures,
    extract_features,
    features_sha256,
)
from fractoscope.adapt.heads import (
    C_GRID,
    CVResult,
    ImageSample,
    LinearHead,
    fit_head,
    n_splits_for,
    select_C,
)
from fractoscope.analysis.results import top_down_indices
from fractoscope.errors import AnalysisCancelled, FractoscopeError
from fractoscope.imaging.weights import image_probabilities
from fractoscope.model.taxonomy import Taxonomy

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]

# Share of the progress bar for feature extraction (it dominates the first run).
_FEATURE_SHARE = 0.85
ADAPT_METHOD = (
    "frozen base features; per-level multinomial L2 logistic regression on tile-pooled features "
    "(level 2 per mechanism over its children), C by stratified K-fold CV over images"
)


@dataclass
class AdaptResult:
    weights: Path
    card: dict
    taxonomy: Taxonomy
    has_level2: bool
    counts: dict[str, dict[str, int]]  # usable images per class
    cv_level1: CVResult
    cv_level2: CVResult | None
    warnings: list[str] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    computed: int = 0  # images whose features were computed in this run
    cached: int = 0  # images whose features came from the cache
    seconds: dict[str, float] = field(default_factory=dict)


def _progress_slice(progress: ProgressFn | None, lo: float, hi: float) -> ProgressFn | None:
    if progress is None:
        return None
    return lambda f, msg: progress(lo + (hi - lo) * min(max(f, 0.0), 1.0), msg)


def _samples(items: list[tuple[ImageFeatures, int]], sl: slice) -> list[ImageSample]:
    return [ImageSample(f.tile_features[:, sl], f.tile_weights, lab) for f, lab in items]


def class_warnings(counts: dict[str, dict[str, int]], has_level2: bool) -> list[str]:
    """One line per class with too few usable images."""
    out = []
    for l1, kids in counts.items():
        n1 = sum(kids.values())
        if n1 < MIN_IMAGES_PER_CLASS:
            out.append(
                f"{l1}: only {n1} image{'s' if n1 != 1 else ''}; at least {MIN_IMAGES_PER_CLASS} per class "
                f"are needed for a usable head ({RECOMMENDED_IMAGES_PER_CLASS}+ recommended)"
            )
        named = {k: n for k, n in kids.items() if k}  # "" counts the mechanism-only images
        if has_level2 and len(named) > 1:
            for l2, n2 in named.items():
                if n2 < MIN_IMAGES_PER_CLASS:
                    out.append(
                        f"{l1}/{l2}: only {n2} image{'s' if n2 != 1 else ''}; at least "
                        f"{MIN_IMAGES_PER_CLASS} per class are needed ({RECOMMENDED_IMAGES_PER_CLASS}+ recommended)"
                    )
    return out


def fit_level2(
    items: list[tuple[ImageFeatures, int, int]],
    taxonomy: Taxonomy,
    d1: int,
    folds: int,
    cancel: CancelFn | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, dict]]:
    """Per-mechanism heads over its children, stacked into (n_level2, d2) weights and biases.

    ``items`` are (features, level-1 index, level-2 index or -1 for an image labelled with its
    mechanism only); only images with a morphology are fitted on. Mechanisms with one child (or
    no image with a morphology) keep a constant row (P(child | mechanism) = 1 whatever the row).
    """
    l2 = taxonomy.level2
    d2 = items[0][0].tile_features.shape[1] - d1
    weight = np.zeros((len(l2), d2))
    bias = np.zeros(len(l2))
    info: dict[str, dict] = {}
    for p, parent in enumerate(taxonomy.level1):
        kids = [l2.index(c) for c in taxonomy.children(parent)]
        if len(kids) < 2:
            continue
        sub = [(f, kids.index(j)) for f, i, j in items if i == p and j >= 0]
        if not sub:
            continue
        head, cv = select_C(_samples(sub, slice(d1, None)), len(kids), folds, list(taxonomy.children(parent)), cancel)
        weight[kids] = head.weight
        bias[kids] = head.bias
        info[parent] = {"C": head.C, "cv_accuracy": cv.accuracy, "cv_folds": cv.folds}
    return weight, bias, info


@dataclass
class OutOfFold:
    """Every image's tile logits from heads fitted without it (K-fold over images)."""

    logits_level1: list[np.ndarray]  # per image (tiles, n1)
    logits_level2: list[np.ndarray]  # per image (tiles, n2); 0 where a mechanism has one child
    folds: int


def out_of_fold_logits(
    items: list[tuple[ImageFeatures, int, int]],
    taxonomy: Taxonomy,
    d1: int,
    C1: float,
    C2: dict[str, float],
    folds: int,
    has_level2: bool,
    cancel: CancelFn | None = None,
) -> OutOfFold | None:
    """Held-out logits of the whole two-level model; None when a class has fewer than 2 images.

    Folds are stratified by the finest label available (the morphology, else the mechanism), so
    every morphology is tested. The number of folds is capped by the smallest morphology, or
    mechanism without morphologies; the mechanism-only images of a mechanism that also has
    morphology folders are spread as evenly as they go."""
    import warnings

    from sklearn.model_selection import StratifiedKFold

    l2 = taxonomy.level2
    labels = [j if j >= 0 else len(l2) + i for _, i, j in items]
    with_kids = {i for _, i, j in items if j >= 0}
    k = n_splits_for([s for s, (_, i, j) in zip(labels, items, strict=True) if j >= 0 or i not in with_kids], folds)
    if k < 2:
        return None
    with warnings.catch_warnings():
        # "The least populated class has fewer members than n_splits": only such spread strata.
        warnings.simplefilter("ignore", UserWarning)
        splits = list(StratifiedKFold(k, shuffle=True, random_state=0).split(np.arange(len(items)), labels))
    z1: list[np.ndarray] = [np.empty(0)] * len(items)
    z2: list[np.ndarray] = [np.empty(0)] * len(items)
    for tr, te in splits:
        if cancel is not None and cancel():
            raise AnalysisCancelled("cancelled")
        train = [items[i] for i in tr]
        h1 = fit_head(_samples([(f, i) for f, i, _ in train], slice(0, d1)), len(taxonomy.level1), C1)
        heads2: list[tuple[list[int], LinearHead]] = []
        for p, name in enumerate(taxonomy.level1):
            kids = [l2.index(c) for c in taxonomy.children(name)]
            sub = [(f, kids.index(j)) for f, i, j in train if i == p and j >= 0]
            if has_level2 and len(kids) > 1 and sub:
                heads2.append((kids, fit_head(_samples(sub, slice(d1, None)), len(kids), C2.get(name, 0.1))))
        for i in te:
            tf = items[i][0].tile_features.astype(np.float64)
            z1[i] = tf[:, :d1] @ h1.weight.T + h1.bias
            z = np.zeros((len(tf), len(l2)))
            for kids, h in heads2:
                z[:, kids] = tf[:, d1:] @ h.weight.T + h.bias
            z2[i] = z
    return OutOfFold(z1, z2, k)


def hierarchical_cv(
    items: list[tuple[ImageFeatures, int, int]], taxonomy: Taxonomy, oof: OutOfFold | None
) -> tuple[CVResult, CVResult]:
    """Image-level (level-1, level-2) accuracy of the whole top-down decision from held-out logits,
    aggregated and decoded exactly as the pipeline does.

    Both levels come from the same held-out predictions, so level 2 (right only when its mechanism
    is right too) can never score above level 1. Level 2 is scored on the images that have a
    morphology; it means nothing when none has."""
    from fractoscope.analysis.confidence import hierarchical_probabilities

    if oof is None:
        return CVResult(None, None, 0), CVResult(None, None, 0)
    l1, l2 = taxonomy.level1, taxonomy.level2
    parent = np.array(taxonomy.parent_index())
    y1 = np.array([i for _, i, _ in items])
    y2 = np.array([j for _, _, j in items])
    pred1 = np.zeros(len(items), int)
    pred2 = np.zeros(len(items), int)
    for i, (f, _, _) in enumerate(items):
        p1, p2 = hierarchical_probabilities(oof.logits_level1[i], oof.logits_level2[i], parent)
        pred1[i], pred2[i] = top_down_indices(
            image_probabilities(p1, f.tile_weights), image_probabilities(p2, f.tile_weights), taxonomy
        )

    def result(y: np.ndarray, pred: np.ndarray, names: list[str]) -> CVResult:
        recall = {names[c]: float((pred[y == c] == c).mean()) for c in np.unique(y)}
        return CVResult(float((pred == y).mean()), float(np.mean(list(recall.values()))), oof.folds, recall)

    has2 = y2 >= 0
    if not has2.any():
        return result(y1, pred1, l1), CVResult(None, None, 0)
    return result(y1, pred1, l1), result(y2[has2], pred2[has2], l2)


# Below this many images the fitted temperatures and thresholds would rest on too little; the
# adapted model then keeps the analysis's plain margin rule.
MIN_IMAGES_FOR_CONFIDENCE = 12


def refit_confidence(
    items: list[tuple[ImageFeatures, int, int]],
    paths: list[Path],
    taxonomy: Taxonomy,
    oof: OutOfFold | None,
) -> tuple[dict | None, str]:
    """The card's confidence block for the adapted heads, fitted on their held-out logits.

    Temperatures and the probability floor come from images the heads were not fitted on; the
    out-of-distribution statistics describe the lab's own images (the backbone is unchanged, so
    "unlike these" is what the flag should mean for this model). Returns (block, note)."""
    if oof is None or len(items) < MIN_IMAGES_FOR_CONFIDENCE:
        return None, (
            f"not fitted: needs at least {MIN_IMAGES_FOR_CONFIDENCE} images with 2+ per class; "
            "the analysis uses its margin rule"
        )
    from fractoscope.analysis.confidence import OOD_COMPONENTS, CalibrationData, fit_confidence

    weights = [f.tile_weights.astype(np.float64) for f, _, _ in items]
    data = CalibrationData(
        paths=[str(p) for p in paths],
        labels_level1=np.array([i for _, i, _ in items]),
        labels_level2=np.array([j for _, _, j in items]),  # -1: mechanism only
        logits_level1=oof.logits_level1,
        logits_level2=oof.logits_level2,
        weights=weights,
        features=np.stack([f.features for f, _, _ in items]).astype(np.float32),
        tile_features=[f.tile_features for f, _, _ in items],
    )
    n_tiles = sum(int((w > 0).sum()) for w in weights)
    try:
        block = fit_confidence(
            data, taxonomy, n_components=int(max(4, min(OOD_COMPONENTS, n_tiles // 4))),
            source={"images": len(items), "logits": f"out-of-fold ({oof.folds}-fold over images)"},
        )
    except (ValueError, np.linalg.LinAlgError) as exc:
        return None, f"not fitted ({exc}); the analysis uses its margin rule"
    return block, f"fitted on the {oof.folds}-fold held-out logits of the {len(items)} training images"


def build_model(base_net, taxonomy: Taxonomy, head1: LinearHead, w2: np.ndarray, b2: np.ndarray):
    """The base network (an HFFNet2d) with its two heads replaced, sized for ``taxonomy``."""
    import torch

    from fractoscope.model.hffnet import HFFNet2d, HFFNetConfig

    d = base_net.cfg.to_dict()
    d.update(n_level1=len(taxonomy.level1), n_level2=len(taxonomy.level2),
             parent_index=list(taxonomy.parent_index()))
    model = HFFNet2d(HFFNetConfig.from_dict(d))
    state = {k: v.detach().cpu() for k, v in base_net.state_dict().items()
             if not k.startswith(("head_level1.", "head_level2."))}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(("head_level1.", "head_level2.")) for k in missing):
        raise FractoscopeError("the base model's layers do not fit the adapted network (unexpected checkpoint)")
    with torch.no_grad():
        model.head_level1.weight.copy_(torch.from_numpy(head1.weight).float())
        model.head_level1.bias.copy_(torch.from_numpy(head1.bias).float())
        model.head_level2.weight.copy_(torch.from_numpy(w2).float())
        model.head_level2.bias.copy_(torch.from_numpy(b2).float())
    return model.eval()


def _cv_dict(cv: CVResult | None) -> dict | None:
    if cv is None:
        return None
    return {
        "accuracy": cv.accuracy,
        "balanced_accuracy": cv.balanced_accuracy,
        "folds": cv.folds,
        "per_class_recall": cv.per_class_recall,
        "note": "image-level, tile probabilities aggregated like predict, both levels from the same "
        "held-out predictions; the regularisation was chosen on the same images, so this is slightly "
        "optimistic" if cv.folds else
        "not measured: a class has fewer than 2 images",
    }


class Stage(Enum):
    """The named steps of :func:`adapt_model`: where each starts on the progress bar and what it
    says there. Each runs until the next one starts (feature extraction reports its own images)."""

    LOAD = (0.0, "loading the base model")
    FEATURES = (0.0, "computing features")
    LEVEL1 = (_FEATURE_SHARE, "fitting the level-1 head")
    LEVEL2 = (0.93, "fitting the level-2 head")
    CROSS_VALIDATION = (0.96, "cross-validating the hierarchy")
    WRITE = (0.98, "writing the model")
    DONE = (1.0, "done")

    @property
    def start(self) -> float:
        return self.value[0]

    @property
    def message(self) -> str:
        return self.value[1]


@dataclass
class _Progress:
    """Named progress stages on top of an optional ``progress(fraction, message)`` callback."""

    fn: ProgressFn | None

    def enter(self, stage: Stage) -> None:
        if self.fn:
            self.fn(stage.start, stage.message)

    def within(self, stage: Stage, end: Stage) -> ProgressFn | None:
        """A callback for sub-steps of ``stage``, mapped onto [stage.start, end.start]."""
        return _progress_slice(self.fn, stage.start, end.start)


@dataclass
class _Labelled:
    """The images adapting can use: their features and labels (step 2's output)."""

    folder: LabelledFolder
    usable: list[LabelledFile]
    # (features, level-1 index, level-2 index or -1 for an image labelled with its mechanism only)
    items: list[tuple[ImageFeatures, int, int]]
    counts: dict[str, dict[str, int]]
    failed: list[tuple[Path, str]]
    computed: int
    cached: int


@dataclass
class _Heads:
    """The fitted heads and their cross-validated accuracy (steps 3 and 4)."""

    level1: LinearHead
    weight2: np.ndarray
    bias2: np.ndarray
    level2_info: dict[str, dict]
    cv_level1: CVResult
    cv_level2: CVResult | None = None
    oof: OutOfFold | None = None


def _weights_path(out: str | Path) -> Path:
    out = Path(out)
    return (out.with_suffix("") if out.suffix == ".safetensors" else out).with_suffix(".safetensors")


def _load_base(analyzer, base_model, device: str, weights: Path, stages: _Progress):
    """Step 1: the base model (unless given), refused as the output file itself."""
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.hashing import sha256_file

    if analyzer is None:
        stages.enter(Stage.LOAD)
        analyzer = Analyzer(base_model, device=device)
    if weights.is_file() and sha256_file(weights) == analyzer.model_info.sha256:
        raise FractoscopeError(f"{weights}: is the base model itself; choose another --out name")
    return analyzer


def _labelled_features(
    folder: LabelledFolder, analyzer, cache_dir, stages: _Progress, cancel: CancelFn | None
) -> _Labelled:
    """Step 2: pooled features of every image (cached), the usable ones counted per class."""
    stages.enter(Stage.FEATURES)
    cache = FeatureCache(cache_dir, features_sha256(analyzer.model_info))
    ext = extract_features(
        [f.path for f in folder.files], analyzer, cache, stages.within(Stage.FEATURES, Stage.LEVEL1), cancel
    )
    usable = [f for f in folder.files if f.path in ext.features]
    if not usable:
        raise FractoscopeError(f"{folder.root}: none of the {len(folder.files)} images could be used")
    tax = folder.taxonomy
    counts: dict[str, dict[str, int]] = {c: {} for c in tax.level1}
    for f in usable:
        key = f.level2 if f.level2 is not None else ""
        counts[f.level1][key] = counts[f.level1].get(key, 0) + 1
    empty = [c for c, k in counts.items() if not k]
    if empty:
        raise FractoscopeError(f"no usable image left for {', '.join(empty)} (all its files failed to read)")
    l1, l2 = tax.level1, tax.level2
    items = [(ext.features[f.path], l1.index(f.level1), l2.index(f.level2) if f.level2 else -1) for f in usable]
    return _Labelled(folder, usable, items, counts, ext.failed, ext.computed, ext.cached)


def _fit_heads(
    data: _Labelled, tax: Taxonomy, cfg, folds: int, stages: _Progress, cancel: CancelFn | None
) -> _Heads:
    """Step 3: the level-1 head and the per-mechanism level-2 heads, C chosen by CV."""
    stages.enter(Stage.LEVEL1)
    d1 = cfg.fused_dim
    items = data.items
    head1, cv1 = select_C(
        _samples([(f, i) for f, i, _ in items], slice(0, d1)), len(tax.level1), folds, tax.level1, cancel,
        stages.within(Stage.LEVEL1, Stage.LEVEL2),
    )
    if data.folder.has_level2:
        stages.enter(Stage.LEVEL2)
        w2, b2, info = fit_level2(items, tax, d1, folds, cancel)
    else:
        # One placeholder child per mechanism: any constant row gives P(child | mechanism) = 1.
        w2, b2, info = np.zeros((len(tax.level2), cfg.fine_dim)), np.zeros(len(tax.level2)), {}
    return _Heads(head1, w2, b2, info, cv1)


def _cross_validate(
    heads: _Heads, data: _Labelled, tax: Taxonomy, d1: int, folds: int, stages: _Progress,
    cancel: CancelFn | None,
) -> None:
    """Step 4: both levels' accuracy from the same held-out predictions of the whole hierarchy."""
    stages.enter(Stage.CROSS_VALIDATION)
    has_level2 = data.folder.has_level2
    heads.oof = out_of_fold_logits(
        data.items, tax, d1, heads.level1.C, {k: v["C"] for k, v in heads.level2_info.items()}, folds,
        has_level2, cancel,
    )
    held1, held2 = hierarchical_cv(data.items, tax, heads.oof)
    if heads.oof is not None:
        # Report level 1 from the same held-out predictions as level 2 (select_C's folds differ, so
        # its figure could sit below level 2's); keep its scores of the regularisation grid.
        heads.cv_level1 = dataclasses.replace(held1, C_scores=heads.cv_level1.C_scores)
    heads.cv_level2 = held2 if has_level2 else None


def _card_extra(
    base_info, data: _Labelled, heads: _Heads, warn: list[str], confidence: dict | None,
    confidence_note: str, command: str | None,
) -> dict:
    """Step 5: what the adapted model's card says besides the taxonomy and weights."""
    base_card = base_info.card
    folder, usable = data.folder, data.usable
    cv1, cv2 = heads.cv_level1, heads.cv_level2
    training = {
        "method": "adapt",
        "data_dir": str(folder.root),
        "images": len(usable),
        "skipped": len(data.failed),
    }
    rng = base_card.get("training", {}).get("pixel_size_range_m")
    if rng:
        training["pixel_size_range_m"] = rng  # same resampling as the base: its features, its scales
    adaptation = {
        "method": ADAPT_METHOD,
        "base_model": {"name": base_info.name, "sha256": base_info.sha256},
        # The backbone that computes this model's features (the base's own, or its base's).
        "features_sha256": features_sha256(base_info),
        "level2_trained": folder.has_level2,
        "counts": data.counts,
        "images": [
            {"sha256": f.file_sha256, "level1": u.level1, "level2": u.level2}
            for u, (f, _, _) in zip(usable, data.items, strict=True)
        ],
        "regularisation": {"level1_C": heads.level1.C, "level2": heads.level2_info, "grid": list(C_GRID)},
        "cross_validation": {"level1": _cv_dict(cv1), "level2": _cv_dict(cv2)},
        "confidence": confidence_note,
        "warnings": warn,
        "command": command,
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    extra = {
        # The base's input block (tile size, percentile clip, mean/std): the features were computed
        # with it, so the adapted model must see images prepared exactly the same way.
        "input": base_card["input"],
        "training": training,
        "adaptation": adaptation,
        # Read by the analysis: False = the level-2 head is a placeholder ("not trained").
        "level2_trained": folder.has_level2,
        "metrics": {
            "cross_validated": {
                "level1_accuracy": cv1.accuracy,
                "level1_balanced_accuracy": cv1.balanced_accuracy,
                "level2_accuracy": cv2.accuracy if cv2 else None,
                "folds": cv1.folds,
                "n_images": len(usable),
            }
        },
        "intended_use": base_card.get(
            "intended_use",
            "Decision support for SEM fractography; every result must be confirmed by a qualified failure analyst.",
        ),
        "limitations": "Heads fitted on a small labelled set of one laboratory's images on top of "
        f"the frozen features of {base_info.name}; judge it on images it was not fitted on.",
    }
    if confidence is not None:
        extra["confidence"] = confidence
    return extra


def adapt_model(
    data_dir: str | Path,
    out: str | Path,
    base_model: str | Path | None = None,
    folds: int = 5,
    device: str = "auto",
    cache_dir: str | Path | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    command: str | None = None,
    analyzer=None,
) -> AdaptResult:
    """Adapt ``base_model`` (default: bundled) to the labelled images in ``data_dir``.

    Writes ``out``.safetensors + ``out``.json and returns what was done. Raises FractoscopeError
    with one line for unusable input, AnalysisCancelled when ``cancel()`` turns true. Steps (and
    progress stages, :class:`Stage`): scan the folder and load the base model; features of every
    image; fit the heads; cross-validate the hierarchy and refit the confidence block; write.
    """
    from fractoscope.model.checkpoint import save_checkpoint

    t0 = time.perf_counter()
    stages = _Progress(progress)
    weights = _weights_path(out)
    if folds < 2:
        raise FractoscopeError("--folds must be at least 2")
    folder = scan_folder(data_dir)
    tax = folder.taxonomy
    analyzer = _load_base(analyzer, base_model, device, weights, stages)
    t1 = time.perf_counter()
    data = _labelled_features(folder, analyzer, cache_dir, stages, cancel)
    t2 = time.perf_counter()
    warn = class_warnings(data.counts, folder.has_level2)
    cfg = analyzer.model.cfg
    heads = _fit_heads(data, tax, cfg, folds, stages, cancel)
    _cross_validate(heads, data, tax, cfg.fused_dim, folds, stages, cancel)
    confidence, confidence_note = refit_confidence(data.items, [f.path for f in data.usable], tax, heads.oof)
    if cancel is not None and cancel():
        raise AnalysisCancelled("cancelled")
    stages.enter(Stage.WRITE)
    model = build_model(analyzer.model, tax, heads.level1, heads.weight2, heads.bias2)
    t3 = time.perf_counter()
    extra = _card_extra(analyzer.model_info, data, heads, warn, confidence, confidence_note, command)
    card = save_checkpoint(model, tax, weights, extra)
    t4 = time.perf_counter()
    stages.enter(Stage.DONE)
    return AdaptResult(
        weights=weights,
        card=card,
        taxonomy=tax,
        has_level2=folder.has_level2,
        counts=data.counts,
        cv_level1=heads.cv_level1,
        cv_level2=heads.cv_level2,
        warnings=warn,
        failed=data.failed,
        computed=data.computed,
        cached=data.cached,
        seconds={
            "load_model": t1 - t0,
            "features": t2 - t1,
            "fit": t3 - t2,
            "write": t4 - t3,
            "total": t4 - t0,
        },
    )


__all__ = ["ADAPT_METHOD", "AdaptResult", "Stage", "adapt_model", "build_model", "class_warnings"]
