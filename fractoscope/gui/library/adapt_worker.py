"""Background work of the reference library: adapting a model, similar images, thumbnails.

Every job here is a plain function of plain data (paths, numpy arrays, Analyzer objects) run by a
``JobQueue`` (Qt-free worker thread, results drained in the GUI thread); nothing in a job touches
Qt. ``AdaptController`` is the GUI-thread side of "Update model".
"""

from __future__ import annotations

import datetime as _dt
import threading
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from fractoscope.gui.worker import JobFn, JobQueue

SIMILAR_K = 3
MODEL_PREFIX = "lab-"


# --- model files ------------------------------------------------------------------------------
def models_dir_for(library_root: str | Path) -> Path:
    """Adapted models live beside the images they were fitted on: ``<library>/.models/``
    (a hidden folder, so ``adapt`` never mistakes it for a class)."""
    return Path(library_root) / ".models"


def list_models(folder: str | Path) -> list[Path]:
    """Adapted checkpoints in ``folder`` (newest last); each has its card beside it."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("*.safetensors") if p.with_suffix(".json").is_file()]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def new_model_path(folder: str | Path) -> Path:
    """``lab-YYYYMMDD-HHMMSS`` (a new name each time: earlier models stay selectable)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    p = Path(folder) / f"{MODEL_PREFIX}{stamp}.safetensors"
    n = 1
    while p.exists():
        p = Path(folder) / f"{MODEL_PREFIX}{stamp}-{n}.safetensors"
        n += 1
    return p


# --- jobs (worker thread, Qt-free) -----------------------------------------------------------------
@dataclass
class AdaptSummary:
    """What "Update model" reports back (plain data)."""

    weights: str
    name: str
    counts: dict[str, dict[str, int]]
    has_level2: bool
    cv_level1: float | None
    cv_level2: float | None
    folds: int
    warnings: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    computed: int = 0
    cached: int = 0
    seconds: float = 0.0

    def text(self) -> str:
        n = sum(sum(k.values()) for k in self.counts.values())
        lines = [f"{self.name}: fitted on {n} images of {len(self.counts)} classes."]
        if self.folds:
            acc = f"{self.folds}-fold cross-validated accuracy: level 1 {self.cv_level1:.0%}"
            if self.has_level2 and self.cv_level2 is not None:
                acc += f", level 2 {self.cv_level2:.0%}"
            elif not self.has_level2:
                acc += " (level 2 not trained)"
            lines.append(acc + ".")
        else:
            lines.append("Accuracy not measured: a class has fewer than 2 images.")
        lines += [f"Warning: {w}" for w in self.warnings]
        lines += [f"Skipped {Path(p).name}: {why}" for p, why in self.failed]
        return "\n".join(lines)


def adapt_job(
    library_root: str | Path,
    out: str | Path,
    base_model: str | Path | None,
    device: str = "auto",
    cache_dir: str | Path | None = None,
    folds: int = 5,
) -> JobFn:
    library_root, out = str(library_root), str(out)
    base_model = str(base_model) if base_model else None
    cache_dir = str(cache_dir) if cache_dir else None

    def run(progress, cancel) -> AdaptSummary:
        from fractoscope.adapt.adapter import adapt_model

        res = adapt_model(
            library_root, out, base_model=base_model, folds=folds, device=device, cache_dir=cache_dir,
            progress=progress, cancel=cancel, command=f"Fractoscope window: Update model from {library_root}",
        )
        cv1, cv2 = res.cv_level1, res.cv_level2
        return AdaptSummary(
            weights=str(res.weights),
            name=res.weights.stem,
            counts=res.counts,
            has_level2=res.has_level2,
            cv_level1=cv1.accuracy,
            cv_level2=cv2.accuracy if cv2 is not None else None,
            folds=cv1.folds,
            warnings=list(res.warnings),
            failed=[(str(p), why) for p, why in res.failed],
            computed=res.computed,
            cached=res.cached,
            seconds=res.seconds.get("total", 0.0),
        )

    return run


class FeatureService:
    """A Qt-free holder of the Analyzer that computes library features (made in the worker
    thread, reused while the model stays the same)."""

    def __init__(self, device: str = "auto") -> None:
        self.device = device
        self._analyzer = None
        self._path: str | None = None
        self._lock = threading.Lock()

    def analyzer(self, model_path: str | None):
        from fractoscope.analysis.pipeline import Analyzer

        key = str(model_path or "")
        if self._analyzer is None or self._path != key:
            self._analyzer = Analyzer(model_path or None, device=self.device)
            self._path = key
        return self._analyzer


def similar_job(
    library_root: str | Path,
    pred,
    model_path: str | Path | None,
    service: FeatureService,
    cache_dir: str | Path | None = None,
    k: int = SIMILAR_K,
) -> JobFn:
    """The ``k`` nearest library images of ``pred`` (library features computed when missing)."""
    library_root = str(library_root)
    model_path = str(model_path) if model_path else None

    def run(progress, cancel):
        from fractoscope.adapt.library import ReferenceLibrary

        lib = ReferenceLibrary(library_root, cache_dir=cache_dir)
        if len(lib) == 0:
            return []
        with service._lock:  # noqa: SLF001 - one caller of the service's analyzer at a time
            analyzer = service.analyzer(model_path)
            return lib.similar(pred, k=k, analyzer=analyzer, progress=progress, cancel=cancel)

    return run


def thumbnails_job(paths: list[str], size: int = 96) -> JobFn:
    """Grey uint8 thumbnails {path: array} of library images (unreadable ones left out)."""
    paths = [str(p) for p in paths]

    def run(progress, cancel) -> dict[str, object]:
        from fractoscope.adapt.features import make_thumbnail
        from fractoscope.errors import AnalysisCancelled, FractoscopeError
        from fractoscope.io import read_sem

        out: dict[str, object] = {}
        for i, p in enumerate(paths):
            if cancel():
                raise AnalysisCancelled("cancelled")
            try:
                out[p] = make_thumbnail(read_sem(p).image, size)
            except FractoscopeError:
                continue
            progress((i + 1) / max(len(paths), 1), f"thumbnail {i + 1}/{len(paths)}")
        return out

    return run


# --- GUI-thread side ------------------------------------------------------------------------------
class AdaptController(QObject):
    """Runs "Update model" in a worker; all signals arrive in the GUI thread."""

    progress = Signal(float, str)
    finished = Signal(object)  # AdaptSummary
    failed = Signal(str)
    cancelled = Signal()
    busyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.queue = JobQueue("adapt", self)
        self.queue.progress.connect(self.progress)
        self.queue.finished.connect(self.finished)
        self.queue.failed.connect(self.failed)
        self.queue.cancelled.connect(self.cancelled)
        self.queue.busyChanged.connect(self.busyChanged)

    @property
    def busy(self) -> bool:
        return self.queue.busy

    def start(
        self,
        library_root: str | Path,
        base_model: str | Path | None = None,
        device: str = "auto",
        cache_dir: str | Path | None = None,
        out: str | Path | None = None,
    ) -> Path:
        """Adapt ``base_model`` (None = bundled) to the library; returns the model path to be."""
        target = Path(out) if out else new_model_path(models_dir_for(library_root))
        self.queue.submit(adapt_job(library_root, target, base_model, device, cache_dir))
        return target

    def cancel(self) -> bool:
        return self.queue.cancel()

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        return self.queue.shutdown(timeout_ms)


__all__ = [
    "AdaptController",
    "AdaptSummary",
    "FeatureService",
    "adapt_job",
    "list_models",
    "models_dir_for",
    "new_model_path",
    "similar_job",
    "thumbnails_job",
]
