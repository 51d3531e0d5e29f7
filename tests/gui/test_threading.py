"""The GUI's threading model (issue 13): worker threads see plain data only, every signal is
emitted in the GUI thread, nothing a worker holds can keep a widget alive, and closing the
window (or dropping a panel) while work runs cancels, joins and exits without a crash or hang.

The threaded paths (start, pause, resume, cancel, finish, close and drop while running) are
repeated by ``_exercise``: once in the default suite, many times under ``-m slow``.
"""

from __future__ import annotations

import functools
import gc
import threading
import time
import weakref
from pathlib import Path

import pytest
from gui_helpers import write_textured_tiff
from PySide6.QtWidgets import QWidget

from fractoscope.errors import AnalysisCancelled
from fractoscope.gui.background import Drain, Outbox, ensure_qt_free, start_worker
from fractoscope.gui.batch.batch_panel import BatchPanel
from fractoscope.gui.worker import JobQueue

MAIN = threading.main_thread()


def _folder(root: Path, n: int, size: int = 256) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_textured_tiff(root / f"img{i}.tif", size=size, seed=100 + i)
    return root


def _threads_named(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


# ------------------------------------------------------------------------------ the boundary
def test_worker_threads_refuse_qt_objects(qtbot, analyzer):
    w = QWidget()
    qtbot.addWidget(w)

    def closure():
        return w.size()

    for bad in (w, w.show, closure, functools.partial(print, w)):
        with pytest.raises(TypeError, match="Qt object"):
            ensure_qt_free(bad)
    with pytest.raises(TypeError):
        start_worker(print, (w,), "refused")
    assert not _threads_named("refused")
    ensure_qt_free(lambda: 1, 3, "text", threading.Event(), Outbox(), [1, 2])  # plain data passes

    q = JobQueue("refuse", w)
    with pytest.raises(TypeError):
        q.submit(lambda progress, cancel: w.size())
    assert not q.busy
    with pytest.raises(TypeError):
        BatchPanel(w.size)  # an analyzer factory bound to a widget would run in the worker
    BatchPanel(lambda: analyzer).deleteLater()


def test_drain_holds_its_owner_weakly(qtbot):
    box = Outbox()
    seen = []

    class Owner(QWidget):
        def handle(self, msg):
            seen.append((msg, threading.current_thread() is MAIN))

    owner = Owner()
    drain = Drain(box, owner.handle)  # no parent: it outlives the owner here
    box.post("a", 1)
    threading.Thread(target=box.post, args=("b", 2)).start()
    qtbot.waitUntil(lambda: not box.empty() or len(seen) == 2, timeout=2000)
    drain.start()
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=2000)
    assert seen == [(("a", 1), True), (("b", 2), True)]
    ref = weakref.ref(owner)
    del owner
    gc.collect()
    assert ref() is None  # the drain did not keep it alive
    box.post("c", 3)
    assert drain.pump() == 0 and not drain.active  # and stops itself


# ------------------------------------------------------------------------------ job queue
def _counting_job(k: int, steps: int = 15):
    def fn(progress, cancel):
        for i in range(steps):
            if cancel():
                raise AnalysisCancelled()
            progress(i / steps, f"step {i}")
            time.sleep(0.002)
        return k

    return fn


def _watch_job_queue(q: JobQueue) -> dict:
    seen = {"finished": [], "failed": [], "cancelled": 0, "progress": 0, "off_thread": 0}

    def note(key, value=None):
        if threading.current_thread() is not MAIN:
            seen["off_thread"] += 1
        if isinstance(seen[key], list):
            seen[key].append(value)
        else:
            seen[key] += 1

    q.finished.connect(lambda r: note("finished", r))
    q.failed.connect(lambda m: note("failed", m))
    q.cancelled.connect(lambda: note("cancelled"))
    q.progress.connect(lambda f, m: note("progress"))
    return seen


def test_job_queue_latest_job_wins_and_signals_come_from_the_gui_thread(qtbot):
    q = JobQueue("churn")
    seen = _watch_job_queue(q)
    for k in range(40):  # each submit supersedes (and cancels) the one before
        q.submit(_counting_job(k))
    qtbot.waitUntil(lambda: q.pending == 0, timeout=30_000)
    assert seen["finished"] == [39] and not seen["failed"]
    assert seen["off_thread"] == 0 and seen["progress"] > 0
    assert not q.busy

    q.submit(lambda progress, cancel: 1 / 0)  # a bug in a job: one line, the queue carries on
    qtbot.waitUntil(lambda: q.pending == 0, timeout=10_000)
    assert seen["failed"] and "ZeroDivisionError" in seen["failed"][0]

    q.submit(_counting_job(99, steps=10_000))
    qtbot.waitUntil(lambda: seen["progress"] > 5, timeout=10_000)
    assert q.cancel()
    qtbot.waitUntil(lambda: not q.busy, timeout=10_000)
    assert seen["cancelled"] == 1

    q.submit(_counting_job(7, steps=10_000))  # still running when shut down
    thread = q._thread
    assert q.shutdown(timeout_ms=10_000)
    assert not thread.is_alive()
    assert q.submit(_counting_job(8)) == 0  # nothing starts after shutdown
    assert seen["finished"] == [39]


def test_job_queue_dropped_without_shutdown_ends_its_thread(qtbot):
    q = JobQueue("dropped")
    q.submit(_counting_job(1))
    assert q.wait_idle(10)
    thread = q._thread
    del q
    gc.collect()
    thread.join(5)
    assert not thread.is_alive()


# ------------------------------------------------------------------------------ batch panel
def test_dropped_panel_is_freed_while_its_batch_runs_and_the_run_stops(qtbot, tmp_path, analyzer):
    """The crash of issue 13: the worker thread held the panel (its target was ``panel._work``)
    and freed the widget in that thread. Now a running panel can be freed by its owner."""
    panel = BatchPanel(lambda: analyzer)
    panel.add_paths([_folder(tmp_path / "in", 6)])
    panel.start(tmp_path / "out")
    _wait_until_an_image_started(qtbot, panel)
    thread, job = panel._thread, panel._job
    ref = weakref.ref(panel)
    del panel
    gc.collect()
    assert ref() is None, "something other than the test holds the panel"
    assert thread.is_alive() or job.cancel.is_set()
    assert job.cancel.is_set()  # dropping the panel cancelled its run
    thread.join(60)
    assert not thread.is_alive()


def _wait_until_an_image_started(qtbot, panel: BatchPanel) -> None:
    qtbot.waitUntil(lambda: any(r.status != "pending" for r in panel.model.rows), timeout=60_000)


def _run(qtbot, panel: BatchPanel, out: Path, action=None, timeout: int = 120_000):
    with qtbot.waitSignal(panel.finished, timeout=timeout) as blocker:
        panel.start(out)
        assert panel.is_running
        if action is not None:
            action(panel)
    assert not panel.is_running
    assert panel._thread is None or not panel._thread.is_alive()
    return blocker.args[0]


def _pause_resume_cancel(qtbot):
    def act(panel):
        panel.pause(True)
        qtbot.wait(30)
        panel.pause(False)
        qtbot.wait(30)
        panel.pause(True)
        panel.cancel()

    return act


def _exercise(qtbot, tmp_path: Path, analyzer, rounds: int) -> None:
    folder = _folder(tmp_path / "in", 3)
    for r in range(rounds):
        panel = BatchPanel(lambda: analyzer)
        qtbot.addWidget(panel)
        panel.add_paths([folder])
        out = tmp_path / f"out{r}"
        s = _run(qtbot, panel, out)  # start -> finish
        assert (s.ok, s.failed, s.cancelled) == (3, 0, False)
        assert {row.status for row in panel.model.rows} == {"ok"}
        s = _run(qtbot, panel, tmp_path / f"cancel{r}", lambda p: p.cancel())  # cancel at once
        assert s.cancelled and s.ok < 3
        s = _run(qtbot, panel, tmp_path / f"pause{r}", _pause_resume_cancel(qtbot))
        assert s.cancelled
        assert {row.status for row in panel.model.rows} <= {"ok", "pending"}
        s = _run(qtbot, panel, out)  # again on a finished folder: everything reused
        assert s.reused == 3

        panel.start(tmp_path / f"close{r}")  # close while running: cancel + join
        thread = panel._thread
        t0 = time.monotonic()
        panel.close()
        assert time.monotonic() - t0 < 30
        assert not thread.is_alive() and not panel.is_running

        dropped = BatchPanel(lambda: analyzer)  # drop while running: freed, run stops
        dropped.add_paths([folder])
        dropped.start(tmp_path / f"drop{r}")
        thread = dropped._thread
        del dropped
        gc.collect()
        thread.join(60)
        assert not thread.is_alive()

        q = JobQueue(f"stress{r}")  # analysis-style queue: supersede, cancel, shut down mid-job
        for k in range(10):
            q.submit(_counting_job(k, steps=50))
        qtbot.wait(5)
        t = q._thread
        assert q.shutdown(timeout_ms=10_000) and not t.is_alive()
    assert not _threads_named("fractoscope-batch")


def test_threaded_paths_short(qtbot, tmp_path, analyzer):
    _exercise(qtbot, tmp_path, analyzer, rounds=1)


@pytest.mark.slow
def test_threaded_paths_stress(qtbot, tmp_path, analyzer):
    _exercise(qtbot, tmp_path, analyzer, rounds=15)


# ------------------------------------------------------------------------------ the window
def _close_while_busy(make_window, qtbot, tmp_path: Path, big_tiff: Path) -> None:
    w = make_window(auto_analyse=True)
    w.open_paths([_folder(tmp_path / "batch", 4)])  # a folder goes to the batch panel
    assert len(w.batch_panel.model.rows) == 4
    w.batch_panel.start(tmp_path / "batch-out")
    w.open_paths([big_tiff])  # read, then analysed (auto-analyse)
    qtbot.waitUntil(lambda: w.analysis.busy, timeout=60_000)
    assert w.batch_panel.is_running
    threads = [t for t in (w.batch_panel._thread, w.loader._thread, w.analysis._thread) if t]
    t0 = time.monotonic()
    assert w.close()
    assert time.monotonic() - t0 < 30, "closing the window hung"
    assert all(not t.is_alive() for t in threads)
    assert not w.batch_panel.is_running
    # what the batch finished before the close is on disk: a later run resumes from it
    assert (tmp_path / "batch-out" / "results.csv").is_file()


def test_closing_the_window_during_batch_and_analysis(make_window, qtbot, tmp_path):
    big = write_textured_tiff(tmp_path / "big.tif", size=1024, seed=5)
    _close_while_busy(make_window, qtbot, tmp_path, big)


@pytest.mark.slow
def test_closing_the_window_while_busy_repeatedly(make_window, qtbot, tmp_path):
    big = write_textured_tiff(tmp_path / "big.tif", size=1024, seed=5)
    for r in range(8):
        _close_while_busy(make_window, qtbot, tmp_path / f"r{r}", big)
