"""Result objects of an analysis, shared by the CLI, the GUI, batch runs and reports."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fractoscope.model.taxonomy import Taxonomy


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

    def to_dict(self, taxonomy: Taxonomy) -> dict:
        i1, i2 = int(np.argmax(self.p_level1)), int(np.argmax(self.p_level2))
        return {
            "box": [self.y0, self.x0, self.y1, self.x1],
            "weight": round(float(self.weight), 4),
            "level1": taxonomy.level1[i1],
            "p_level1": round(float(self.p_level1[i1]), 4),
            "level2": taxonomy.level2[i2],
            "p_level2": round(float(self.p_level2[i2]), 4),
        }


@dataclass
class ModelInfo:
    name: str
    sha256: str
    taxonomy: Taxonomy
    input_size: int
    pixel_size_range_m: tuple[float, float] | None = None
    card: dict = field(default_factory=dict)


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

    # --- hierarchical labels -------------------------------------------------------------
    @property
    def level1(self) -> ClassProb:
        i = int(np.argmax(self.p_level1))
        return ClassProb(self.taxonomy.level1[i], float(self.p_level1[i]))

    @property
    def level2(self) -> ClassProb:
        """The most probable child of the predicted level-1 class (never an orphan)."""
        parent = self.level1.label
        l2 = self.taxonomy.level2
        best = max(
            (j for j, lab in enumerate(l2) if self.taxonomy.parent_of(lab) == parent),
            key=lambda j: self.p_level2[j],
        )
        return ClassProb(l2[best], float(self.p_level2[best]))

    @property
    def probabilities(self) -> dict[str, dict[str, float]]:
        t = self.taxonomy
        return {
            "level1": {k: float(v) for k, v in zip(t.level1, self.p_level1, strict=True)},
            "level2": {k: float(v) for k, v in zip(t.level2, self.p_level2, strict=True)},
        }

    def top(self, k: int = 3) -> list[tuple[str, str, float]]:
        """Top-k (level1, level2, joint probability) paths."""
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

    def class_area_fractions(self, level: int = 2) -> dict[str, float]:
        """Share of the (weighted) tile area assigned to each class: mixed-mode fractures."""
        labels = self.taxonomy.level1 if level == 1 else self.taxonomy.level2
        acc = dict.fromkeys(labels, 0.0)
        total = 0.0
        for t in self.tiles:
            if t.weight <= 0:
                continue
            if level == 1:
                lab = labels[int(np.argmax(t.p_level1))]
            else:
                lab = labels[int(np.argmax(t.p_level2))]
            acc[lab] += t.weight
            total += t.weight
        return {k: (v / total if total > 0 else 0.0) for k, v in acc.items()}

    def to_json_dict(self) -> dict:
        """The ``predict --json`` object (also a line of batch ``results.jsonl``)."""
        return {
            "path": self.path,
            "level1": self.level1.to_dict(),
            "level2": self.level2.to_dict(),
            "probabilities": {
                lvl: {k: round(v, 6) for k, v in d.items()} for lvl, d in self.probabilities.items()
            },
            "top3": [
                {"level1": a, "level2": b, "probability": round(p, 6)} for a, b, p in self.top(3)
            ],
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
            "area_fractions_level2": {
                k: round(v, 4) for k, v in self.class_area_fractions(2).items()
            },
            "device": self.device,
            "model": {"name": self.model.name, "sha256": self.model.sha256},
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "warnings": list(self.warnings),
        }
