"""Image-level evaluation of a checkpoint on a labelled folder, through the full analysis pipeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fractoscope.analysis.pipeline import Analyzer
from fractoscope.errors import FractoscopeError
from fractoscope.train.data import scan_labelled_folder


@dataclass
class Evaluation:
    n: int
    level1_labels: list[str]
    level2_labels: list[str]
    confusion_level1: np.ndarray  # rows: true, cols: predicted
    confusion_level2: np.ndarray | None
    failed: list[tuple[str, str]] = field(default_factory=list)
    model: dict = field(default_factory=dict)
    # Per evaluated image: path (relative to the folder), true and predicted labels, flagged
    # uncertain?, level-1 right?, level-2 right? (None: no label), and the generator family /
    # mixture when the folder has a synth manifest. The selective and per-group figures come from it.
    images: list[dict] = field(default_factory=list)

    def by_group(self, key: str) -> dict[str, dict]:
        """Accuracy per generator ``family`` or ``mixture`` ("none" for unmixed frames); empty when
        the folder has no synth manifest. Tells a generator or recipe change which styles fail."""
        if not any(im.get("family") for im in self.images):
            return {}
        groups: dict[str, list[dict]] = {}
        for im in self.images:
            groups.setdefault(im.get(key) or "none", []).append(im)
        out = {}
        for name in sorted(groups):
            ims = groups[name]
            r2 = [im["correct_level2"] for im in ims if im["correct_level2"] is not None]
            out[name] = {
                "n": len(ims),
                "level1_accuracy": float(np.mean([im["correct_level1"] for im in ims])),
                "level2_accuracy": float(np.mean(r2)) if r2 else None,
                "flagged_fraction": float(np.mean([im["uncertain"] for im in ims])),
            }
        return out

    def selective(self) -> dict:
        """Selective classification: how the uncertain flag splits right from wrong answers."""
        u = np.array([im["uncertain"] for im in self.images], bool)
        c1 = np.array([im["correct_level1"] for im in self.images], bool)
        c2 = np.array([im["correct_level2"] for im in self.images if im["correct_level2"] is not None], bool)
        u2 = np.array([im["uncertain"] for im in self.images if im["correct_level2"] is not None], bool)

        def acc(c: np.ndarray, m: np.ndarray) -> float | None:
            return float(c[m].mean()) if m.any() else None

        return {
            "n": int(u.size),
            "flagged": int(u.sum()),
            "flagged_fraction": float(u.mean()) if u.size else None,
            "confident_level1_accuracy": acc(c1, ~u),
            "flagged_level1_accuracy": acc(c1, u),
            "confident_level2_accuracy": acc(c2, ~u2) if c2.size else None,
            # Of the wrong level-1 answers, the share the flag caught (and of the right ones, kept).
            "wrong_flagged_fraction": acc(u, ~c1),
            "right_unflagged_fraction": acc(~u, c1),
        }

    @property
    def level1_accuracy(self) -> float:
        c = self.confusion_level1
        return float(np.trace(c) / c.sum()) if c.sum() else float("nan")

    @property
    def level2_accuracy(self) -> float | None:
        c = self.confusion_level2
        if c is None:
            return None
        return float(np.trace(c) / c.sum()) if c.sum() else float("nan")

    @staticmethod
    def _per_class(c: np.ndarray, labels: list[str]) -> dict[str, dict[str, float]]:
        out = {}
        for i, lab in enumerate(labels):
            tp = c[i, i]
            prec = tp / c[:, i].sum() if c[:, i].sum() else float("nan")
            rec = tp / c[i].sum() if c[i].sum() else float("nan")
            out[lab] = {"precision": float(prec), "recall": float(rec), "support": int(c[i].sum())}
        return out

    def to_json_dict(self) -> dict:
        d = {
            "n": self.n,
            "level1_accuracy": self.level1_accuracy,
            "level2_accuracy": self.level2_accuracy,
            "level1_labels": self.level1_labels,
            "level2_labels": self.level2_labels,
            "confusion_level1": self.confusion_level1.tolist(),
            "confusion_level2": None if self.confusion_level2 is None else self.confusion_level2.tolist(),
            "per_class_level1": self._per_class(self.confusion_level1, self.level1_labels),
            "per_class_level2": None
            if self.confusion_level2 is None
            else self._per_class(self.confusion_level2, self.level2_labels),
            "failed": [{"path": p, "error": e} for p, e in self.failed],
            "model": self.model,
            "selective": self.selective(),
            "by_family": self.by_group("family"),
            "by_mixture": self.by_group("mixture"),
            "images": self.images,
        }
        return d


def evaluate_folder(
    data_dir: Path, analyzer: Analyzer, progress: Callable[[int, int], None] | None = None
) -> Evaluation:
    """Score every image of ``data_dir`` (level1/level2/* or level1/*) with ``analyzer``."""
    from fractoscope.io import read_sem

    data_dir = Path(data_dir)
    items, tree_tax = scan_labelled_folder(data_dir)
    tax = analyzer.model_info.taxonomy
    unknown = sorted({i.level1 for i in items} - set(tax.level1))
    unknown += sorted({i.level2 for i in items if i.level2} - set(tax.level2))
    if unknown:
        raise FractoscopeError(f"{data_dir}: classes not in the model's taxonomy: {', '.join(unknown)}")
    two_level = tree_tax is not None
    c1 = np.zeros((len(tax.level1),) * 2, np.int64)
    c2 = np.zeros((len(tax.level2),) * 2, np.int64) if two_level else None
    failed: list[tuple[str, str]] = []
    images: list[dict] = []
    for k, it in enumerate(items):
        try:
            pred = analyzer.analyze(read_sem(it.path), with_cams=False)
        except FractoscopeError as exc:
            failed.append((str(it.path), str(exc)))
        else:
            c1[tax.level1.index(it.level1), tax.level1.index(pred.level1.label)] += 1
            right2 = None
            if c2 is not None and it.level2 and pred.has_level2:
                c2[tax.level2.index(it.level2), tax.level2.index(pred.level2.label)] += 1
                right2 = pred.level2.label == it.level2
            images.append({
                "path": it.path.relative_to(data_dir).as_posix(),
                "level1": it.level1,
                "level2": it.level2,
                "predicted_level1": pred.level1.label,
                "predicted_level2": pred.level2.label if pred.has_level2 else None,
                "uncertain": bool(pred.confidence.uncertain),
                "correct_level1": pred.level1.label == it.level1,
                "correct_level2": right2,
                "family": it.family,
                "mixture": it.mixture,
            })
        if progress:
            progress(k + 1, len(items))
    info = analyzer.model_info
    return Evaluation(
        n=int(c1.sum()),
        level1_labels=tax.level1,
        level2_labels=tax.level2,
        confusion_level1=c1,
        confusion_level2=c2,
        failed=failed,
        model={"name": info.name, "sha256": info.sha256},
        images=images,
    )


def format_confusion(c: np.ndarray, labels: list[str]) -> str:
    short = [lab[:10] for lab in labels]
    w = max(len(s) for s in short) + 1
    head = " " * (w + 1) + "".join(f"{s:>{w}}" for s in short)
    rows = [head] + [f"{short[i]:>{w}} " + "".join(f"{v:>{w}}" for v in c[i]) for i in range(len(labels))]
    return "\n".join(rows)
