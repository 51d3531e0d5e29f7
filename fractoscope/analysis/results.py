"""Result objects of an analysis, shared by the CLI, the GUI, batch runs and reports."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fractoscope.model.info import ModelInfo
from fractoscope.model.taxonomy import Taxonomy

# Without a fitted confidence block, a prediction is uncertain when the two most likely
# mechanisms are this close (the rule used before calibration existed).
MARGIN_RULE = 0.2


def top_down_indices(p_level1: np.ndarray, p_level2: np.ndarray, taxonomy: Taxonomy) -> tuple[int, int]:
    """The decoding rule: the most probable mechanism, then its most probable morphology.

    Used for the image and for every tile, so a tile's morphology always belongs to its mechanism.
    """
    i1 = int(np.argmax(p_level1))
    kids = taxonomy.children_indices(i1)
    i2 = kids[int(np.argmax(np.asarray(p_level2)[kids]))]
    return i1, i2


@dataclass
class Confidence:
    """How far to trust a prediction (see ``fractoscope.analysis.confidence``).

    ``calibrated``: temperature-calibrated probability of the headline mechanism; ``ood_score``:
    how unlike the training images the image's features are (higher = less alike; NaN when the
    model has no fitted statistics); ``uncertain`` with ``reason`` in plain words ("" when not).
    """

    calibrated: float
    ood_score: float
    uncertain: bool
    reason: str = ""

    def to_dict(self) -> dict:
        s = float(self.ood_score)
        return {
            "calibrated": round(float(self.calibrated), 6),
            "ood_score": round(s, 4) if math.isfinite(s) else None,
            "uncertain": bool(self.uncertain),
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Confidence:
        s = d.get("ood_score")
        return cls(
            calibrated=float(d["calibrated"]),
            ood_score=float("nan") if s is None else float(s),
            uncertain=bool(d["uncertain"]),
            reason=str(d.get("reason") or ""),
        )

    @classmethod
    def from_margin(cls, p_level1: np.ndarray) -> Confidence:
        """For a model without a fitted confidence block: raw probability, margin rule only."""
        s = np.sort(np.asarray(p_level1, dtype=np.float64))[::-1]
        margin = float(s[0] - (s[1] if len(s) > 1 else 0.0))
        low = margin < MARGIN_RULE
        return cls(float(s[0]), float("nan"), low, "low confidence" if low else "")


@dataclass(frozen=True)
class ClassProb:
    label: str
    probability: float

    def to_dict(self) -> dict:
        return {"label": self.label, "probability": round(float(self.probability), 6)}


@dataclass
class TilePrediction:
    """One tile's own prediction. Box in pixels of the cropped image at original resolution."""

    y0: int
    x0: int
    y1: int
    x1: int
    weight: float  # 0 for blank, saturated or text tiles: they do not vote
    p_level1: np.ndarray  # (n_level1,)
    p_level2: np.ndarray  # (n_level2,) joint P(l2) = P(l1) * P(l2 | l1)

    def indices(self, taxonomy: Taxonomy) -> tuple[int, int]:
        """(level-1, level-2) indices by the top-down rule: level 2 is a child of level 1."""
        return top_down_indices(self.p_level1, self.p_level2, taxonomy)

    def labels(self, taxonomy: Taxonomy) -> tuple[str, str]:
        """(level-1, level-2) class names by the top-down rule (see :meth:`indices`)."""
        i1, i2 = self.indices(taxonomy)
        return taxonomy.level1[i1], taxonomy.level2[i2]

    def to_dict(self, taxonomy: Taxonomy) -> dict:
        i1, i2 = self.indices(taxonomy)
        return {
            "box": [self.y0, self.x0, self.y1, self.x1],
            "weight": round(float(self.weight), 4),
            "level1": taxonomy.level1[i1],
            "p_level1": round(float(self.p_level1[i1]), 4),
            "level2": taxonomy.level2[i2],
            "p_level2": round(float(self.p_level2[i2]), 4),
        }


@dataclass(frozen=True)
class Alternative:
    """One entry of the ranked list that explains a prediction (see ``Prediction.ranked``).

    ``level2`` is None for a mechanism entry, whose ``probability`` is P(mechanism) and whose
    ``best_level2`` is its own most likely morphology; a morphology entry's probability is
    P(mechanism and morphology).
    """

    level1: str
    level2: str | None
    probability: float
    best_level2: str | None = None

    def to_dict(self) -> dict:
        return {
            "level1": self.level1,
            "level2": self.level2,
            "probability": round(float(self.probability), 6),
            "best_level2": self.best_level2,
        }


@dataclass
class Prediction:
    """Image-level hierarchical prediction, per-tile results and class activation maps.

    ``cams_level1`` / ``cams_level2`` hold, for every class, the stitched (pre-ReLU) class
    activation map over the cropped image, sampled every ``cam_stride`` original pixels.
    Grad-CAM of a class is ``relu`` of that map (exact for a GAP + linear head); see ``cam``.
    """

    taxonomy: Taxonomy
    p_level1: np.ndarray  # (n_level1,)
    p_level2: np.ndarray  # (n_level2,) joint, sums to 1, children of each parent sum to its p
    tiles: list[TilePrediction]
    cams_level1: np.ndarray | None  # (n_level1, h, w) float32
    cams_level2: np.ndarray | None  # (n_level2, h, w) float32
    cam_stride: float  # original pixels per CAM sample
    image_shape: tuple[int, int]  # cropped image (rows, cols) the maps cover
    model: ModelInfo
    device: str
    pixel_size_m: float | None
    calibration_source: str
    analysis_pixel_size_m: float | None  # pixel size the model saw (after any resampling)
    path: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # Pooled head inputs: [level-1 (fused_dim) ++ level-2 (fine_dim)], tile-weighted mean over the
    # image, and one row per tile. None for predictions reopened from storage.
    features: np.ndarray | None = None
    tile_features: np.ndarray | None = None
    confidence: Confidence | None = None
    # Provenance of what changed the heads or the classes considered (empty / None: nothing did):
    # "adjusted to this lab's 37 images" (fractoscope.analysis.labstats), and the analyst's
    # surface context (fractoscope.analysis.context.SurfaceContext.to_dict()).
    lab_adjustment: str = ""
    surface_context: dict | None = None

    def __post_init__(self) -> None:
        if self.confidence is None:
            self.confidence = Confidence.from_margin(self.p_level1)

    @property
    def has_level2(self) -> bool:
        """False when the model's level-2 head was not trained: no morphology is given."""
        return self.model.has_level2

    # --- hierarchical labels -------------------------------------------------------------
    @property
    def level1(self) -> ClassProb:
        i, _ = top_down_indices(self.p_level1, self.p_level2, self.taxonomy)
        return ClassProb(self.taxonomy.level1[i], float(self.p_level1[i]))

    @property
    def level2(self) -> ClassProb:
        """The most probable child of the predicted level-1 class (never an orphan).

        Its probability is the joint P(mechanism and morphology). Meaningless when
        ``has_level2`` is False (the JSON then says ``null``).
        """
        _, j = top_down_indices(self.p_level1, self.p_level2, self.taxonomy)
        return ClassProb(self.taxonomy.level2[j], float(self.p_level2[j]))

    def ranked(self, k: int | None = None) -> list[Alternative]:
        """The headline first, then the alternatives, by the top-down rule.

        Entry 0 is the headline (mechanism, with its best morphology as ``level2``). Then, by
        decreasing probability: the other mechanisms (each with its own best morphology) and the
        other morphologies of the headline mechanism. ``k`` limits the alternatives (not counting
        the headline). Without a trained level 2 only mechanisms are listed.
        """
        t = self.taxonomy
        i1, j = top_down_indices(self.p_level1, self.p_level2, t)
        head = Alternative(t.level1[i1], t.level2[j] if self.has_level2 else None, float(self.p_level1[i1]))
        alts: list[Alternative] = []
        for i, lab in enumerate(t.level1):
            if i == i1:
                continue
            kids = t.children_indices(i)
            best = kids[int(np.argmax(self.p_level2[kids]))]
            alts.append(Alternative(lab, None, float(self.p_level1[i]), t.level2[best] if self.has_level2 else None))
        if self.has_level2:
            for jj in t.children_indices(i1):
                if jj != j:
                    alts.append(Alternative(t.level1[i1], t.level2[jj], float(self.p_level2[jj])))
        alts.sort(key=lambda a: -a.probability)
        return [head] + (alts if k is None else alts[:k])

    @property
    def probabilities(self) -> dict[str, dict[str, float]]:
        t = self.taxonomy
        return {
            "level1": {k: float(v) for k, v in zip(t.level1, self.p_level1, strict=True)},
            "level2": {k: float(v) for k, v in zip(t.level2, self.p_level2, strict=True)},
        }

    def top(self, k: int = 3) -> list[tuple[str, str, float]]:
        """Top-k (level1, level2, joint probability) paths, ranked by joint probability alone.

        Not the decoding rule (a morphology of another mechanism can outrank the headline's):
        for what to show a user, use :meth:`ranked` / ``fractoscope.analysis.wording``.
        """
        t = self.taxonomy
        order = np.argsort(-self.p_level2)[:k]
        return [(t.parent_of(t.level2[j]), t.level2[j], float(self.p_level2[j])) for j in order]

    @property
    def margin(self) -> float:
        """Gap between the best and second-best level-1 probabilities (low = uncertain)."""
        s = np.sort(self.p_level1)[::-1]
        return float(s[0] - (s[1] if len(s) > 1 else 0.0))

    # --- class activation maps ------------------------------------------------------------
    def cam(self, level: int, label: str | None = None, shape: tuple[int, int] | None = None) -> np.ndarray:
        """Grad-CAM of ``label`` (default: the predicted class) at ``level``, in [0, 1].

        Normalised over the whole image (not per tile), so tiles compare; resized to ``shape``
        (e.g. ``image_shape``) with bilinear interpolation when given.
        """
        labels = self.taxonomy.level1 if level == 1 else self.taxonomy.level2
        maps = self.cams_level1 if level == 1 else self.cams_level2
        if maps is None:
            raise ValueError("this prediction was computed without CAMs")
        if label is None:
            label = self.level1.label if level == 1 else self.level2.label
        m = np.maximum(maps[labels.index(label)], 0.0)
        peak = float(m.max())
        m = m / peak if peak > 0 else m
        if shape is not None and tuple(shape) != m.shape:
            from skimage.transform import resize

            m = resize(m, shape, order=1, mode="edge", anti_aliasing=False, preserve_range=True)
        return m.astype(np.float32)

    def tile_labels(self) -> list[tuple[str, str | None]]:
        """Each tile's (mechanism, morphology) by the top-down rule, in ``tiles`` order; the
        morphology is None when the model's level 2 was not trained.

        The one per-tile decoding: the window's tile grid, the JSON tiles, the area fractions and
        the report's class map all go through :meth:`TilePrediction.indices`, so they agree."""
        out: list[tuple[str, str | None]] = []
        for t in self.tiles:
            l1, l2 = t.labels(self.taxonomy)
            out.append((l1, l2 if self.has_level2 else None))
        return out

    def class_area_fractions(self, level: int = 2) -> dict[str, float]:
        """Share of the (weighted) tile area assigned to each class: mixed-mode fractures."""
        labels = self.taxonomy.level1 if level == 1 else self.taxonomy.level2
        acc = dict.fromkeys(labels, 0.0)
        total = 0.0
        for t in self.tiles:
            if t.weight <= 0:
                continue
            # Top-down per tile too, so level-2 areas add up to their mechanism's area.
            i1, i2 = t.indices(self.taxonomy)
            lab = labels[i1] if level == 1 else labels[i2]
            acc[lab] += t.weight
            total += t.weight
        return {k: (v / total if total > 0 else 0.0) for k, v in acc.items()}

    def to_json_dict(self) -> dict:
        """The ``predict --json`` object (also a line of batch ``results.jsonl``)."""
        return {
            "path": self.path,
            "level1": self.level1.to_dict(),
            "level2": self.level2.to_dict() if self.has_level2 else None,
            "has_level2": self.has_level2,
            "confidence": self.confidence.to_dict(),
            "alternatives": [a.to_dict() for a in self.ranked(3)[1:]],
            "probabilities": {
                lvl: {k: round(v, 6) for k, v in d.items()} for lvl, d in self.probabilities.items()
            },
            "margin": round(self.margin, 6),
            "pixel_size_m": self.pixel_size_m,
            "calibration_source": self.calibration_source,
            "analysis_pixel_size_m": self.analysis_pixel_size_m,
            "image_shape": list(self.image_shape),
            "tiles": {
                "count": len(self.tiles),
                "voting": sum(1 for t in self.tiles if t.weight > 0),
                "items": [t.to_dict(self.taxonomy) for t in self.tiles],
            },
            "area_fractions_level1": {
                k: round(v, 4) for k, v in self.class_area_fractions(1).items()
            },
            "area_fractions_level2": {
                k: round(v, 4) for k, v in self.class_area_fractions(2).items()
            }
            if self.has_level2
            else None,
            "device": self.device,
            "model": {"name": self.model.name, "sha256": self.model.sha256},
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "warnings": list(self.warnings),
            "lab_stats": self.lab_adjustment or None,
            "surface_context": self.surface_context or {"context": "unknown", "applied": False},
        }


__all__ = ["Alternative", "ClassProb", "Confidence", "ModelInfo", "Prediction", "TilePrediction", "top_down_indices"]
