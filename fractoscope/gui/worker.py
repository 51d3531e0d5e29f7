"""Background jobs: reading images and running the model off the GUI thread.

A ``JobQueue`` owns one persistent QThread. ``submit(fn)`` runs ``fn(progress, cancel)`` there
and reports back through Qt signals; submitting again cancels the previous job, whose late
results are dropped. Errors become one-line messages (FractoscopeError text); anything
unexpected is logged with its traceback and reported as a short line, never raised at the user.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from fractoscope.errors import AnalysisCancelled, FractoscopeError

log = logging.getLogger(__name__)

JobFn = Callable[[Callable[[float, str], None], Callable[[], bool]], Any]


class _Runner(QObject):
    progress = Signal(int, float, str)
    done = Signal(int, object)
    failed = Signal(int, str)
    cancelled = Signal(int)

    @Slot(int, object, object)
    def run(self, job_id: int, fn: JobFn, cancel_event: threading.Event) -> None:
        if cancel_event.is_set():
            self.cancelled.emit(job_id)
            return

        def progress(fraction: float, message: str = "") -> None:
            self.progress.emit(job_id, float(fraction), str(message))

        try:
            result = fn(progress, cancel_event.is_set)
        except AnalysisCancelled:
            self.cancelled.emit(job_id)
        except FractoscopeError as exc:
            self.failed.emit(job_id, str(exc) or type(exc).__name__)
        except MemoryError:
            self.failed.emit(job_id, "not enough memory for this image")
        except Exception as exc:  # a bug, not user input: keep the app alive, log the details
            log.debug("background job failed", exc_info=True)
            self.failed.emit(job_id, f"unexpected error ({type(exc).__name__}: {exc})")
        else:
            if cancel_event.is_set():
                self.cancelled.emit(job_id)
            else:
                self.done.emit(job_id, result)


class JobQueue(QObject):
    """One worker thread; the latest submitted job is the only one whose results arrive."""

    progress = Signal(float, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    busyChanged = Signal(bool)
    _submit = Signal(int, object, object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._current: tuple[int, threading.Event] | None = None
        self._pending = 0  # jobs submitted and not yet reported back
        self._thread = QThread()
        self._thread.setObjectName(f"fractoscope-{name}")
        self._runner = _Runner()
        self._runner.moveToThread(self._thread)
        self._submit.connect(self._runner.run)
        self._runner.progress.connect(self._on_progress)
        self._runner.done.connect(self._on_done)
        self._runner.failed.connect(self._on_failed)
        self._runner.cancelled.connect(self._on_cancelled)
        self._thread.start()

    @property
    def busy(self) -> bool:
        return self._current is not None

    def submit(self, fn: JobFn) -> int:
        self.cancel(silent=True)
        job_id = next(self._ids)
        ev = threading.Event()
        self._current = (job_id, ev)
        self._pending += 1
        self.busyChanged.emit(True)
        self._submit.emit(job_id, fn, ev)
        return job_id

    def cancel(self, silent: bool = False) -> bool:
        """Ask the running job to stop; True when there was one."""
        if self._current is None:
            return False
        self._current[1].set()
        if silent:
            self._current = None  # its late reports are dropped
        return True

    def _is_current(self, job_id: int) -> bool:
        return self._current is not None and self._current[0] == job_id

    def _end(self, job_id: int) -> bool:
        self._pending = max(0, self._pending - 1)
        if not self._is_current(job_id):
            return False
        self._current = None
        self.busyChanged.emit(False)
        return True

    def _on_progress(self, job_id: int, fraction: float, message: str) -> None:
        if self._is_current(job_id) and not self._current[1].is_set():
            self.progress.emit(fraction, message)

    def _on_done(self, job_id: int, result: object) -> None:
        if self._end(job_id):
            self.finished.emit(result)

    def _on_failed(self, job_id: int, message: str) -> None:
        if self._end(job_id):
            self.failed.emit(message)

    def _on_cancelled(self, job_id: int) -> None:
        if self._end(job_id):
            self.cancelled.emit()

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel, stop the thread and wait for it (so no QThread is destroyed while running)."""
        if self._current is not None:
            self._current[1].set()
        self._thread.quit()
        if not self._thread.wait(timeout_ms):
            log.warning("worker thread %s did not stop in time", self._thread.objectName())


# --- the concrete jobs ---------------------------------------------------------------------------


@dataclass
class AnalysisResult:
    prediction: Any  # Prediction
    cams: dict[int, np.ndarray]  # overlay-sized CAMs of the predicted classes
    model: Any  # ModelInfo
    device: str
    sem: Any  # the SemImage analysed (its calibration may since have changed)


@dataclass
class LoadedImage:
    """What the loader hands the GUI: the image, the array to show and its initial levels."""

    sem: Any  # SemImage
    display: np.ndarray
    levels: tuple[float, float]
    pyramid: list[np.ndarray]
    stored: AnalysisResult | None = None  # a batch run's stored prediction, if asked for


def load_image_job(path: Path, stored_prediction: Path | None = None) -> JobFn:
    def job(progress, cancel) -> LoadedImage:
        from fractoscope.gui import display
        from fractoscope.io import read_sem

        progress(0.0, f"Reading {path.name}…")
        sem = read_sem(path)
        arr = display.display_array(sem.image)
        stored = None
        if stored_prediction is not None:
            from fractoscope.batch.stored import load_stored_prediction

            pred = load_stored_prediction(stored_prediction)
            stored = AnalysisResult(pred, predicted_cams(pred, sem.shape), pred.model, pred.device, sem)
        levels = display.percentile_levels(arr)
        return LoadedImage(sem, arr, levels, display.pyramid(arr), stored)

    return job


def predicted_cams(pred, image_shape: tuple[int, int]) -> dict[int, np.ndarray]:
    """Overlay-sized CAMs of the predicted class at both levels (empty without CAMs)."""
    from fractoscope.gui import display

    if pred.cams_level1 is None or pred.cams_level2 is None:
        return {}
    shape = display.overlay_shape(image_shape)
    return {lv: pred.cam(lv, None, shape=shape) for lv in (1, 2)}


class AnalysisService:
    """Owns the Analyzer; it is created (and the model loaded) in the worker thread."""

    def __init__(self, model_path: str | Path | None = None, device: str = "auto") -> None:
        self.model_path = model_path
        self.device = device
        self._analyzer = None
        self._analyzer_device: str | None = None  # the choice the analyzer was set up with
        self._lock = threading.Lock()

    def _get_analyzer(self, progress):
        from fractoscope.analysis.pipeline import Analyzer

        if self._analyzer is None:
            progress(0.0, "Loading model…")
            self._analyzer = Analyzer(model_path=self.model_path, device=self.device)
        elif self._analyzer_device != self.device:
            progress(0.0, f"Switching to {self.device}…")
            self._analyzer.set_device(self.device)
        self._analyzer_device = self.device
        return self._analyzer

    def job(self, sem) -> JobFn:
        def run(progress, cancel) -> AnalysisResult:
            with self._lock:
                analyzer = self._get_analyzer(progress)
                pred = analyzer.analyze(sem, progress=progress, cancel=cancel, with_cams=True)
                cams = predicted_cams(pred, sem.shape)
                return AnalysisResult(pred, cams, analyzer.model_info, analyzer.device, sem)

        return run
