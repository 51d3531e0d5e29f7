"""The Batch panel: a table of images being analysed into an output folder, with progress/ETA,
Pause/Cancel, sort and filter. Double-clicking a finished row asks the host window to open that
image with its stored results (``open_result(image_path, stored_prediction_path)``): no
recomputation. The work itself is the Qt-free ``fractoscope.batch.run_batch`` on a worker thread
that sees only plain data and posts its events to a mailbox the GUI thread drains
(``fractoscope.gui.background``).

Host API: ``BatchPanel(analyzer_factory, parent=None)`` (the factory must not hold a Qt object:
it runs in the worker thread), ``add_paths(paths)``, ``start(out_dir)``, ``pause(on)``,
``cancel()``, ``shutdown(timeout_s)``, ``is_running``, ``scheduler`` (a Dask scheduler address or
None), signals ``open_result``, ``finished``, ``running_changed``.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from fractoscope.analysis.context import SURFACE_CONTEXTS, SURFACE_NAMES
from fractoscope.analysis.wording import NOT_RECOGNISED as NOT_RECOGNISED_HEADLINE
from fractoscope.applog import log_unexpected
from fractoscope.batch import (
    STATUS_FAILED,
    STATUS_OK,
    BatchEvent,
    BatchRecord,
    BatchSummary,
    format_eta,
    run_batch,
)
from fractoscope.batch.inputs import collect_inputs
from fractoscope.errors import FractoscopeError
from fractoscope.gui.background import Drain, Outbox, ensure_qt_free, start_worker
from fractoscope.gui.gc_guard import collect_garbage_in_gui_thread
from fractoscope.io.describe import pixel_size_text

log = logging.getLogger(__name__)

COLUMNS = (
    "Name", "Status", "Level 1", "P(L1)", "Level 2", "P(L2)", "Pixel size", "Confidence", "Closest", "Error",
)
COL_CONFIDENCE, COL_CLOSEST, COL_ERROR = (COLUMNS.index(c) for c in ("Confidence", "Closest", "Error"))
NOT_RECOGNISED = "not recognised"  # the Level 1 cell of a flagged row: its guess is under Closest
STATUS_PENDING, STATUS_RUNNING = "pending", "running"
_STATUS_COLOURS = {
    STATUS_OK: QColor(40, 130, 60),
    STATUS_FAILED: QColor(190, 40, 50),
    STATUS_RUNNING: QColor(22, 78, 160),
    "uncertain": QColor(200, 120, 20),
}


@dataclass
class _Row:
    path: str
    name: str
    status: str = STATUS_PENDING
    record: BatchRecord | None = None


class BatchTableModel(QAbstractTableModel):
    """One row per image; sorting uses ``Qt.UserRole`` (numbers sort as numbers)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[_Row] = []
        self._index: dict[str, int] = {}

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt API
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        r, col = row.record, index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, col)
        if role == Qt.ItemDataRole.UserRole:  # sort key
            if r is not None and col == 3:
                return r.p_level1 if r.p_level1 is not None else -1.0
            if r is not None and col == 5:
                return r.p_level2 if r.p_level2 is not None else -1.0
            if r is not None and col == 6:
                return r.pixel_size_m if r.pixel_size_m is not None else -1.0
            return self._text(row, col).lower()
        if role == Qt.ItemDataRole.ForegroundRole and col == 1:
            return _STATUS_COLOURS.get(row.status)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 0:
                return row.path
            if r is not None and col == COL_ERROR and r.error:
                return r.error
            if r is not None and col == COL_CONFIDENCE and r.uncertain:
                return r.uncertain_reason or "uncertain"
            if r is not None and col in (2, COL_CLOSEST) and r.uncertain:
                return f"{NOT_RECOGNISED_HEADLINE}: the closest class is a guess, not a verdict"
            return None
        if role == Qt.ItemDataRole.ForegroundRole and col in (2, COL_CONFIDENCE) and r is not None and r.uncertain:
            return _STATUS_COLOURS["uncertain"]
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (3, 5, 6):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _text(row: _Row, col: int) -> str:
        r = row.record
        if col == 0:
            return row.name
        if col == 1:
            return row.status
        if r is None or not r.ok:
            return (r.error if r is not None else "") if col == COL_ERROR else ""
        if r.uncertain:
            confidence = "uncertain" + (f" — {r.uncertain_reason}" if r.uncertain_reason else "")
        else:
            confidence = "" if r.uncertain is None else "confident"
        closest = ""
        if r.closest_level1:
            closest = r.closest_level1 + (f" ({r.closest_p_level1:.3f})" if r.closest_p_level1 is not None else "")
            if r.closest_level2:
                closest += f", {r.closest_level2}" + (
                    f" ({r.closest_p_level2:.3f})" if r.closest_p_level2 is not None else ""
                )
        return {
            # A flagged row has no answer in the class columns, only its guess under Closest.
            2: NOT_RECOGNISED if r.uncertain else r.level1,
            3: f"{r.p_level1:.3f}" if r.p_level1 is not None else "",
            4: r.level2 or ("not trained" if r.level1 else ""),
            5: f"{r.p_level2:.3f}" if r.p_level2 is not None else "",
            6: pixel_size_text(r.pixel_size_m),  # the Image tab's wording (io.describe)
            COL_CONFIDENCE: confidence,
            COL_CLOSEST: closest,
            COL_ERROR: "",
        }[col]

    def add(self, paths: list[Path]) -> int:
        new = [p for p in paths if str(p) not in self._index]
        if not new:
            return 0
        first = len(self.rows)
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        for p in new:
            self._index[str(p)] = len(self.rows)
            self.rows.append(_Row(str(p), p.name))
        self.endInsertRows()
        return len(new)

    def set_status(self, path: str, status: str, record: BatchRecord | None = None) -> None:
        i = self._index.get(path)
        if i is None:
            self.add([Path(path)])
            i = self._index[path]
        row = self.rows[i]
        row.status = status
        if record is not None:
            row.record = record
        self.dataChanged.emit(self.index(i, 0), self.index(i, len(COLUMNS) - 1))

    def clear(self) -> None:
        self.beginResetModel()
        self.rows.clear()
        self._index.clear()
        self.endResetModel()


class _StatusFilter(QSortFilterProxyModel):
    """Text filter on the name/classes plus a status filter."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.status = ""
        self.text = ""
        self.setSortRole(Qt.ItemDataRole.UserRole)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:  # noqa: N802
        model: BatchTableModel = self.sourceModel()
        row = model.rows[source_row]
        if self.status and row.status != self.status:
            return False
        if self.text:
            hay = " ".join(model._text(row, c) for c in range(len(COLUMNS))).lower()
            return self.text.lower() in hay
        return True

    def refresh(self) -> None:
        self.invalidate()


class AnalyzerCache:
    """The batch's Analyzer, made on first use by ``factory`` in the worker thread (Qt-free)."""

    def __init__(self, factory: Callable[[], object]) -> None:
        ensure_qt_free(factory, what="analyzer factory")
        self._factory = factory
        self._analyzer = None
        self._lock = threading.Lock()

    def get(self):
        with self._lock:
            if self._analyzer is None:
                self._analyzer = self._factory()
            return self._analyzer


@dataclass
class BatchJob:
    """Everything one run's worker thread sees: plain data and thread-safe primitives only."""

    paths: list[str]
    out_dir: Path
    analyzers: AnalyzerCache
    scheduler: str | None = None
    lab_stats: bool = True  # align to the run's own images (20 or more) first
    surface: str = "unknown"  # the analyst's surface context for every image
    cancel: threading.Event = field(default_factory=threading.Event)
    pause: threading.Event = field(default_factory=threading.Event)
    outbox: Outbox = field(default_factory=Outbox)


def run_batch_job(job: BatchJob) -> None:
    """Worker thread: the whole run; every event goes to ``job.outbox``, the last is done/failed."""
    try:
        job.outbox.post("status", "Loading model...")
        analyzer = job.analyzers.get()
        extra = {"scheduler": job.scheduler} if job.scheduler else {}
        summary = run_batch(
            job.paths,
            job.out_dir,
            analyzer,
            progress=lambda ev: job.outbox.post("event", ev),
            cancel=job.cancel.is_set,
            pause=job.pause.is_set,
            lab_stats=job.lab_stats,
            surface=job.surface,
            **extra,
        )
    except Exception as exc:  # noqa: BLE001 - shown to the user, never a traceback
        if not isinstance(exc, FractoscopeError):  # a bug: its traceback goes to the log file
            log_unexpected(log, "batch run failed", exc)
        job.outbox.post("failed", " ".join((str(exc) or type(exc).__name__).split()))
    else:
        job.outbox.post("done", summary)


class BatchPanel(QWidget):
    """Batch processing table; drop folders or files on it (or call ``add_paths``)."""

    open_result = Signal(str, str)  # image path, stored prediction .npz path
    finished = Signal(object)  # BatchSummary
    running_changed = Signal(bool)

    def __init__(
        self, analyzer_factory: Callable[[], object], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        collect_garbage_in_gui_thread()  # the batch thread must never free Qt objects
        self._analyzers = AnalyzerCache(analyzer_factory)
        self._thread: threading.Thread | None = None
        self._job: BatchJob | None = None  # the run in progress (until its done/failed arrives)
        self._drain = Drain(Outbox(), self._on_message, self)  # given each run's outbox
        self.scheduler: str | None = None  # Dask scheduler address; None = in this process
        self._out_dir: Path | None = None
        self._ignored = 0
        self.last_summary: BatchSummary | None = None
        self.recursive = True
        self.setAcceptDrops(True)

        self.model = BatchTableModel(self)
        self.proxy = _StatusFilter(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView(self)
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setStretchLastSection(True)
        self.table.setColumnWidth(0, 220)
        self.table.doubleClicked.connect(self._on_double_click)

        self.filter_edit = QLineEdit(self)
        self.filter_edit.setPlaceholderText("Filter by name or class...")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._on_filter)
        self.status_combo = QComboBox(self)
        self.status_combo.addItems(["All", STATUS_OK, STATUS_FAILED, STATUS_PENDING, STATUS_RUNNING])
        self.status_combo.currentTextChanged.connect(self._on_filter)

        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setFormat("%p %")
        self.eta_label = QLabel("Drop a folder or images here", self)
        self.run_button = QPushButton("Run...", self)
        self.run_button.clicked.connect(self._on_run_clicked)
        self.pause_button = QPushButton("Pause", self)
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self.pause)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel)
        self.report_button = QPushButton("PDF report...", self)
        self.report_button.clicked.connect(self._on_report_clicked)
        # Lab statistics (issue 23): on by default; a run of fewer than 20 images says it is off.
        self.lab_stats_box = QCheckBox("Lab statistics", self)
        self.lab_stats_box.setChecked(True)
        self.lab_stats_box.setToolTip(
            "With 20 or more images, align their features to the training images' first "
            "(fitted on up to 50 of them, stored in the output folder as lab_stats.json); "
            "off: each image is judged on its own"
        )
        self.lab_stats_message = ""  # what the last run said about its lab statistics
        self.surface_combo = QComboBox(self)
        for c in SURFACE_CONTEXTS:
            self.surface_combo.addItem(SURFACE_NAMES[c].capitalize(), c)
        self.surface_combo.setToolTip(
            "What these images show, if you know: only the mechanisms of that surface are considered"
        )

        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.status_combo)
        top.addWidget(self.surface_combo)
        top.addWidget(self.lab_stats_box)
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress, 1)
        bottom.addWidget(self.eta_label)
        bottom.addWidget(self.run_button)
        bottom.addWidget(self.pause_button)
        bottom.addWidget(self.cancel_button)
        bottom.addWidget(self.report_button)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        lay.addLayout(bottom)

        self._update_buttons()

    # -- public API -------------------------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        """True from ``start`` until the run's end has been shown."""
        return self._job is not None

    @property
    def out_dir(self) -> Path | None:
        return self._out_dir

    def add_paths(self, paths: list[Path]) -> int:
        """Add folders (their image files) and files as pending rows; returns rows added."""
        found = collect_inputs(paths, recursive=self.recursive, exclude=self._out_dir)
        self._ignored += len(found.ignored)
        n = self.model.add(found.images)
        self._set_idle_label()
        self._update_buttons()
        return n

    def default_out_dir(self) -> Path | None:
        if not self.model.rows:
            return None
        return Path(self.model.rows[0].path).parent / "fractoscope-results"

    def start(self, out_dir: Path | str) -> None:
        """Analyse every row into ``out_dir`` (resuming what an earlier run there already did)."""
        if self.is_running or not self.model.rows:
            return
        self._out_dir = Path(out_dir)
        self.pause_button.setChecked(False)
        paths = [r.path for r in self.model.rows]
        for r in self.model.rows:
            if r.status != "ok":
                self.model.set_status(r.path, STATUS_PENDING)
        self.progress.setValue(0)
        self.eta_label.setText("Starting...")
        self.join(0)  # the previous run's thread has posted its last message; reap it
        job = BatchJob(
            paths, self._out_dir, self._analyzers, self.scheduler or None,
            lab_stats=self.lab_stats_box.isChecked(), surface=str(self.surface_combo.currentData()),
        )
        self.lab_stats_message = ""
        self._job = job
        # A panel dropped without close() (its window deleted) still stops its run.
        weakref.finalize(self, job.cancel.set)
        self._drain.outbox = job.outbox
        self._drain.start()
        # The thread gets the job alone (plain data): it can never hold the panel.
        self._thread = start_worker(run_batch_job, (job,), "fractoscope-batch")
        self._update_buttons()
        self.running_changed.emit(True)

    def pause(self, on: bool = True) -> None:
        job = self._job
        if job is not None:
            if on:
                job.pause.set()
            else:
                job.pause.clear()
        if self.pause_button.isChecked() != on:
            self.pause_button.setChecked(on)
        self.pause_button.setText("Resume" if on else "Pause")

    def cancel(self) -> None:
        job = self._job
        if job is None:
            return
        job.cancel.set()
        job.pause.clear()
        self.eta_label.setText("Cancelling...")

    def join(self, timeout_s: float | None = 60.0) -> bool:
        """Block until the worker thread has ended; True when it has (or there was none)."""
        t = self._thread
        if t is not None:
            t.join(timeout_s)
            if t.is_alive():
                return False
            self._thread = None
        return True

    def wait(self, timeout_s: float = 60.0) -> bool:
        """Block (GUI thread) until the run has ended and its results are shown; True when so."""
        end = time.monotonic() + timeout_s
        while self._job is not None and time.monotonic() < end:
            if not self._drain.pump():
                time.sleep(0.01)
        return self._job is None and self.join(max(0.0, end - time.monotonic()))

    def shutdown(self, timeout_s: float = 30.0) -> bool:
        """Cancel the run and wait for its thread (the window is closing); True when it ended.

        The images finished so far are in the output folder already; a later run resumes.
        """
        if self._job is not None:
            self._job.cancel.set()
            self._job.pause.clear()
        ended = self.join(timeout_s)
        if not ended:
            log.warning("batch thread did not stop within %.0f s", timeout_s)
        while self._drain.pump():  # show what it finished
            pass
        self._drain.stop()
        return ended

    def record_for(self, path: str) -> BatchRecord | None:
        i = self.model._index.get(path)
        return None if i is None else self.model.rows[i].record

    # -- GUI thread: the worker's messages --------------------------------------------------------
    def _on_message(self, msg: tuple) -> None:
        kind, *payload = msg
        if self._job is None:
            return  # after done/failed nothing more is expected
        if kind == "event":
            self._on_event(payload[0])
        elif kind == "status":
            self.eta_label.setText(payload[0])
        elif kind == "done":
            self._on_done(payload[0])
        elif kind == "failed":
            self._on_failed(payload[0])

    def _end_run(self) -> None:
        self._job = None
        self._drain.stop()
        self.join(1.0)  # it posted its last message: the thread is returning

    def _on_event(self, ev: BatchEvent) -> None:
        if ev.kind == "image_started":
            self.model.set_status(ev.path, STATUS_RUNNING)
        elif ev.kind == "image_done" and ev.record is not None:
            self.model.set_status(ev.path, ev.record.status, ev.record)
        elif ev.kind == "paused":
            self.eta_label.setText("Paused")
            return
        elif ev.kind == "lab_stats":  # the stage before the images, then what the run uses
            self.eta_label.setText(ev.message)
            if not ev.message.startswith("lab statistics:"):
                self.lab_stats_message = ev.message
                self.setToolTip(f"This run: {ev.message}")
            return
        if ev.kind in ("image_started", "image_progress", "image_done"):
            self.progress.setValue(int(round(1000 * ev.fraction)))
            self.eta_label.setText(
                f"{ev.done + ev.failed}/{ev.total}  {ev.failed} failed  {format_eta(ev.eta_s)}"
            )
        if ev.kind == "image_done":
            self.proxy.refresh()

    def _on_done(self, summary: BatchSummary) -> None:
        self.last_summary = summary
        self._end_run()
        for r in self.model.rows:  # rows stopped by a cancel go back to pending
            if r.status == STATUS_RUNNING:
                self.model.set_status(r.path, STATUS_PENDING)
        self.progress.setValue(1000 if not summary.cancelled else self.progress.value())
        self.eta_label.setText(
            f"{summary.ok} ok, {summary.failed} failed"
            + (f", {self._ignored} non-image files ignored" if self._ignored else "")
            + (" - cancelled" if summary.cancelled else "")
        )
        self.proxy.refresh()
        self._update_buttons()
        self.running_changed.emit(False)
        self.finished.emit(summary)

    def _on_failed(self, message: str) -> None:
        self._end_run()
        self.eta_label.setText(f"Batch could not run: {message}")
        self._update_buttons()
        self.running_changed.emit(False)

    def _on_double_click(self, proxy_index: QModelIndex) -> None:
        row = self.model.rows[self.proxy.mapToSource(proxy_index).row()]
        r = row.record
        if r is None or not r.ok or not r.item or self._out_dir is None:
            return
        item = self._out_dir / r.item
        if item.is_file():
            self.open_result.emit(row.path, str(item))

    def _on_filter(self, *_args) -> None:
        self.proxy.text = self.filter_edit.text().strip()
        st = self.status_combo.currentText()
        self.proxy.status = "" if st == "All" else st
        self.proxy.refresh()

    def _on_run_clicked(self) -> None:
        start = str(self._out_dir or self.default_out_dir() or Path.home())
        d = QFileDialog.getExistingDirectory(self, "Output folder for batch results", start)
        if d:
            self.start(Path(d))

    def _on_report_clicked(self) -> None:
        if self._out_dir is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Save batch report", str(self._out_dir / "report.pdf"), "PDF (*.pdf)"
        )
        if not path:
            return
        from fractoscope.errors import FractoscopeError
        from fractoscope.report import BatchReport, ReportMeta
        from fractoscope.report.pdf import write_batch_report

        try:
            write_batch_report(
                path,
                BatchReport.from_out_dir(self._out_dir),
                ReportMeta(title="Batch fractography report"),
            )
        except (FractoscopeError, OSError) as exc:
            QMessageBox.warning(self, "Batch report", str(exc))

    def _set_idle_label(self) -> None:
        if not self.is_running:
            n = len(self.model.rows)
            extra = f", {self._ignored} non-image files ignored" if self._ignored else ""
            self.eta_label.setText(f"{n} images{extra}")

    def _update_buttons(self) -> None:
        running = self.is_running
        self.run_button.setEnabled(not running and bool(self.model.rows))
        self.pause_button.setEnabled(running)
        self.cancel_button.setEnabled(running)
        self.report_button.setEnabled(not running and self._out_dir is not None)
        self.lab_stats_box.setEnabled(not running)
        self.surface_combo.setEnabled(not running)

    # -- drag and drop ----------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.add_paths(paths)
            event.acceptProposedAction()

    def closeEvent(self, event) -> None:  # noqa: N802 - as a top-level window (tests, undocked)
        self.shutdown()
        super().closeEvent(event)
