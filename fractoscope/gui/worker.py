"""Background jobs: reading images and running the model off the GUI thread.

A ``JobQueue`` owns one worker thread (see ``fractoscope.gui.background`` for the threading
rules). ``submit(fn)`` runs ``fn(progress, cancel)`` there; the worker posts plain-data messages
to a mailbox that the GUI thread drains, and only then are the Qt signals emitted, in the GUI
thread. Submitting again cancels the previous job, whose late results are dropped. Errors
become one-line messages (FractoscopeError text); anything unexpected is logged with its
traceback and reported as a short line, never raised at the user.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from fractoscope.applog import log_unexpected
from fractoscope.errors import AnalysisCancelled, FractoscopeError
from fractoscope.gui.background import Drain, Outbox, ensure_qt_free, start_worker

log = logging.getLogger(__name__)

JobFn = Callable[[Callable[[float, str], None], Callable[[], bool]], Any]

_STOP = None  # the inbox sentinel: the worker thread returns


def _serve_jobs(inbox: queue.SimpleQueue, outbox: Outbox) -> None:
    """Worker thread (Qt-free): run each ``(job_id, fn, cancel_event)`` and post its outcome."""
    while True:
        item = inbox.get()
        if item is _STOP:
            return
        job_id, fn, cancel_event = item
        del item
        _run_one(job_id, fn, cancel_event, outbox)
        del fn  # plain data, but drop it here rather than keep it until the next job


def _run_one(job_id: int, fn: JobFn, cancel_event: threading.Event, outbox: Outbox) -> None:
    if cancel_event.is_set():
        outbox.post("cancelled", job_id)
        return

    def progress(fraction: float, message: str = "") -> None:
        outbox.post("progress", job_id, float(fraction), str(message))

    try:
        result = fn(progress, cancel_event.is_set)
    except AnalysisCancelled:
        outbox.post("cancelled", job_id)
    except FractoscopeError as exc:
        outbox.post("failed", job_id, str(exc) or type(exc).__name__)
    except MemoryError:
        outbox.post("failed", job_id, "not enough memory for this image")
    except Exception as exc:  # a bug, not user input: keep the app alive, log the details
        log_unexpected(log, "background job failed", exc)
        outbox.post("failed", job_id, f"unexpected error ({type(exc).__name__}: {exc})")
    else:
        if cancel_event.is_set():
            outbox.post("cancelled", job_id)
        else:
            outbox.post("done", job_id, result)


class JobQueue(QObject):
    """One worker thread; the latest submitted job is the only one whose results arrive.

    Every signal is emitted in the GUI thread (from the mailbox drain).
    """

    progress = Signal(float, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    busyChanged = Signal(bool)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._ids = itertools.count(1)
        self._current: tuple[int, threading.Event] | None = None
        self._events: dict[int, threading.Event] = {}  # submitted, not yet reported back
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._outbox = Outbox()
        self._drain = Drain(self._outbox, self._dispatch, self)
        self._thread: threading.Thread | None = None
        self._closed = False
        # Dropped without shutdown() (a window deleted, not closed): the thread still ends. The
        # finalizer only puts a sentinel on a plain queue, so any thread may run it.
        weakref.finalize(self, self._inbox.put, _STOP)

    @property
    def busy(self) -> bool:
        return self._current is not None

    @property
    def pending(self) -> int:
        """Jobs submitted and not yet reported back (including superseded ones)."""
        return len(self._events)

    def submit(self, fn: JobFn) -> int:
        """Run ``fn`` next (cancelling the current job); returns its id, 0 after ``shutdown``."""
        if self._closed:  # the window is closing: nothing new starts
            return 0
        ensure_qt_free(fn, what="background job")
        self.cancel(silent=True)
        if self._thread is None:
            self._thread = start_worker(_serve_jobs, (self._inbox, self._outbox), f"fractoscope-{self.name}")
        job_id = next(self._ids)
        ev = threading.Event()
        self._current = (job_id, ev)
        self._events[job_id] = ev
        self.busyChanged.emit(True)
        self._drain.start()
        self._inbox.put((job_id, fn, ev))
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

    def _dispatch(self, msg: tuple) -> None:
        """GUI thread: one message from the worker."""
        kind, job_id, *payload = msg
        if kind == "progress":
            if self._is_current(job_id) and not self._current[1].is_set():
                self.progress.emit(*payload)
            return
        self._events.pop(job_id, None)
        if not self._events:
            self._drain.stop()
        if not self._is_current(job_id):
            return
        self._current = None
        self.busyChanged.emit(False)
        if kind == "done":
            self.finished.emit(payload[0])
        elif kind == "failed":
            self.failed.emit(payload[0])
        else:
            self.cancelled.emit()

    def wait_idle(self, timeout_s: float) -> bool:
        """Block (GUI thread) until every submitted job has reported back; for tests/shutdown."""
        import time

        end = time.monotonic() + timeout_s
        while self._events and time.monotonic() < end:
            if not self._drain.pump():
                time.sleep(0.005)
        return not self._events

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel every job, stop the thread and wait for it; True when it has ended.

        Late results are dropped. A thread that overruns ``timeout_ms`` (a model that cannot be
        interrupted mid-load) is left to finish on its own: it holds no Qt object.
        """
        self._closed = True
        for ev in self._events.values():
            ev.set()
        self._current = None
        self._drain.stop()
        self._inbox.put(_STOP)
        t, self._thread = self._thread, None
        if t is None:
            return True
        t.join(timeout_ms / 1000)
        if t.is_alive():
            log.warning("worker thread %s did not stop in time", t.name)
            return False
        self._outbox.drain(limit=1 << 30)  # results nobody will show
        self._events.clear()
        return True


# --- the concrete jobs ---------------------------------------------------------------------------


@dataclass
class AnalysisResult:
    prediction: Any  # Prediction
    cams: dict[int, np.ndarray]  # overlay-sized CAMs of the predicted classes
    model: Any  # ModelInfo
    device: str
    sem: Any  # the SemImage analysed (its calibration may since have changed)
    lab_note: str = ""  # what the reference library's lab statistics did (status bar)


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
    """Overlay-sized CAMs of the predicted class at each trained level (empty without CAMs)."""
    from fractoscope.gui import display

    if pred.cams_level1 is None:
        return {}
    shape = display.overlay_shape(image_shape)
    levels = (1, 2) if pred.has_level2 and pred.cams_level2 is not None else (1,)
    return {lv: pred.cam(lv, None, shape=shape) for lv in levels}


class AnalysisService:
    """Owns the Analyzer; it is created (and the model loaded) in the worker thread."""

    def __init__(self, model_path: str | Path | None = None, device: str = "auto") -> None:
        self.model_path = model_path
        self.device = device
        self._analyzer = None
        self._analyzer_device: str | None = None  # the choice the analyzer was set up with
        self._analyzer_model: str | Path | None = None  # the checkpoint it loaded
        self._lock = threading.Lock()
        # Plain data the GUI thread sets and the worker reads at the start of each job: the
        # analyst's surface context, and the reference library whose lab statistics (20 or more
        # images) single images are adjusted to (None: each image judged on its own).
        self.surface = "unknown"
        self.library_root: Path | None = None
        self.library_cache_dir: Path | None = None

    def set_model_path(self, model_path: str | Path | None) -> None:
        """Analyse with another checkpoint from the next job on (loaded in the worker thread).

        Never blocks the GUI: a job in progress finishes with the model it started with.
        """
        self.model_path = model_path

    def _get_analyzer(self, progress):
        from fractoscope.analysis.pipeline import Analyzer

        wanted = self.model_path
        if self._analyzer is None or self._analyzer_model != wanted:
            progress(0.0, "Loading model…")
            self._analyzer = Analyzer(model_path=wanted, device=self.device)
            self._analyzer_model = wanted
        elif self._analyzer_device != self.device:
            progress(0.0, f"Switching to {self.device}…")
            self._analyzer.set_device(self.device)
        self._analyzer_device = self.device
        return self._analyzer

    def job(self, sem) -> JobFn:
        def run(progress, cancel) -> AnalysisResult:
            with self._lock:
                analyzer = self._get_analyzer(progress)
                note = self._library_lab_stats(analyzer, progress, cancel)
                pred = analyzer.analyze(
                    sem, progress=progress, cancel=cancel, with_cams=True, surface=self.surface
                )
                cams = predicted_cams(pred, sem.shape)
                return AnalysisResult(pred, cams, analyzer.model_info, analyzer.device, sem, note)

        return run


    def _library_lab_stats(self, analyzer, progress, cancel) -> str:
        """Adjust ``analyzer`` to the reference library's lab statistics (fitted, stored and
        refreshed by the library itself); back to the trained heads when there are none."""
        from fractoscope.errors import AnalysisCancelled, FractoscopeError

        lab, note = None, ""
        if self.library_root is not None:
            from fractoscope.adapt.library import ReferenceLibrary

            lib = ReferenceLibrary(self.library_root, cache_dir=self.library_cache_dir)
            try:
                lab, note = lib.lab_stats(
                    analyzer, lambda f, m: progress(0.0, f"lab statistics: {m}"), cancel
                )
            except AnalysisCancelled:
                raise
            except (FractoscopeError, OSError) as exc:  # an unreadable library: judged alone
                lab, note = None, f"lab statistics off: {exc}"
        if lab is not analyzer.lab_stats:
            try:
                analyzer.set_lab_stats(lab)
            except FractoscopeError as exc:
                analyzer.set_lab_stats(None)
                lab, note = None, f"lab statistics off: {exc}"
        # Said when used (a library under 20 images, or none, is the ordinary case: no notice).
        return note if lab is not None else ""


def batch_analyzer_factory(service: AnalysisService) -> Callable[[], Any]:
    """The batch panel's own Analyzer maker (run in its worker thread; the viewer keeps its own).

    A closure over the Qt-free service, never over a widget: the worker may hold it last.
    """

    def make():
        from fractoscope.analysis.pipeline import Analyzer

        return Analyzer(model_path=service.model_path, device=service.device)

    return make
