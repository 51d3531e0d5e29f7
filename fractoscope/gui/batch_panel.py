"""The Batch panel: a table of images being analysed into an output folder, with progress/ETA,
Pause/Cancel, sort and filter. Double-clicking a finished row asks the host window to open that
image with its stored results (``open_result(image_path, stored_prediction_path)``): no
recomputation. The work itself is ``fractoscope.batch.run_batch`` on a background thread.

Host API: ``BatchPanel(analyzer_factory, parent=None)``, ``add_paths(paths)``, ``start(out_dir)``,
``pause(on)``, ``cancel()``, ``is_running``, signals ``open_result``, ``finished``,
``running_changed``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
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

from fractoscope.batch import BatchEvent, BatchRecord, BatchSummary, run_batch
from fractoscope.batch.inputs import collect_inputs
from fractoscope.calibration import format_length
from fractoscope.gui.gc_guard import collect_garbage_in_gui_thread

COLUMNS = ("Name", "Status", "Level 1", "P(L1)", "Level 2", "P(L2)", "Pixel size", "Error")
STATUS_PENDING, STATUS_RUNNING = "pending", "running"
_STATUS_COLOURS = {
    "ok": QColor(40, 130, 60),
    "error": QColor(190, 40, 50),
    STATUS_RUNNING: QColor(22, 78, 160),
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
            return (
                row.path
                if col == 0
                else (r.error if r is not None and col == 7 and r.error else None)
            )
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
            return (r.error if r is not None else "") if col == 7 else ""
        return {
            2: r.level1,
            3: f"{r.p_level1:.3f}" if r.p_level1 is not None else "",
            4: r.level2,
            5: f"{r.p_level2:.3f}" if r.p_level2 is not None else "",
            6: format_length(r.pixel_size_m) if r.pixel_size_m else "uncalibrated",
            7: "",
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


class _Bridge(QObject):
    """Carries events from the worker thread to the GUI thread (queued signal)."""

    event = Signal(object)
    done = Signal(object)
    failed = Signal(str)


def _fmt_eta(s: float | None) -> str:
    if s is None:
        return "ETA --"
    s = int(round(s))
    return f"ETA {s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"ETA {s // 60}:{s % 60:02d}"


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
        self._factory = analyzer_factory
        self._analyzer = None
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._pause = threading.Event()
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
        self.status_combo.addItems(["All", "ok", "error", STATUS_PENDING, STATUS_RUNNING])
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

        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.status_combo)
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

        self._bridge = _Bridge(self)
        self._bridge.event.connect(self._on_event)
        self._bridge.done.connect(self._on_done)
        self._bridge.failed.connect(self._on_failed)
        self._update_buttons()

    # -- public API -------------------------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

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
        self._cancel.clear()
        self._pause.clear()
        self.pause_button.setChecked(False)
        paths = [r.path for r in self.model.rows]
        for r in self.model.rows:
            if r.status != "ok":
                self.model.set_status(r.path, STATUS_PENDING)
        self.progress.setValue(0)
        self.eta_label.setText("Loading model...")
        self._thread = threading.Thread(
            target=self._work, args=(paths, self._out_dir), name="batch-panel", daemon=True
        )
        self._thread.start()
        self._update_buttons()
        self.running_changed.emit(True)

    def pause(self, on: bool = True) -> None:
        if on:
            self._pause.set()
        else:
            self._pause.clear()
        if self.pause_button.isChecked() != on:
            self.pause_button.setChecked(on)
        self.pause_button.setText("Resume" if on else "Pause")

    def cancel(self) -> None:
        self._cancel.set()
        self._pause.clear()
        self.eta_label.setText("Cancelling...")

    def wait(self, timeout_s: float = 60.0) -> bool:
        """Block until the worker ends (for shutdown); True when it has."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return not self.is_running

    def record_for(self, path: str) -> BatchRecord | None:
        i = self.model._index.get(path)
        return None if i is None else self.model.rows[i].record

    # -- worker thread ----------------------------------------------------------------------------
    def _work(self, paths: list[str], out_dir: Path) -> None:
        try:
            if self._analyzer is None:
                self._analyzer = self._factory()
            summary = run_batch(
                paths,
                out_dir,
                self._analyzer,
                progress=self._bridge.event.emit,
                cancel=self._cancel.is_set,
                pause=self._pause.is_set,
            )
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a traceback
            self._bridge.failed.emit(str(exc) or type(exc).__name__)
            return
        self._bridge.done.emit(summary)

    # -- GUI-thread slots ---------------------------------------------------------------------------
    def _on_event(self, ev: BatchEvent) -> None:
        if ev.kind == "image_started":
            self.model.set_status(ev.path, STATUS_RUNNING)
        elif ev.kind == "image_done" and ev.record is not None:
            self.model.set_status(ev.path, ev.record.status, ev.record)
        elif ev.kind == "paused":
            self.eta_label.setText("Paused")
            return
        if ev.kind in ("image_started", "image_progress", "image_done"):
            self.progress.setValue(int(round(1000 * ev.fraction)))
            self.eta_label.setText(
                f"{ev.done + ev.failed}/{ev.total}  {ev.failed} failed  {_fmt_eta(ev.eta_s)}"
            )
        if ev.kind == "image_done":
            self.proxy.refresh()

    def _on_done(self, summary: BatchSummary) -> None:
        self.last_summary = summary
        self._thread = None
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
        self._thread = None
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
        from fractoscope.report.pdf import write_batch_report
        from fractoscope.report import BatchReport, ReportMeta

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

    # -- drag and drop ----------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.add_paths(paths)
            event.acceptProposedAction()

    def closeEvent(self, event) -> None:  # noqa: N802
        self.cancel()
        self.wait(30)
        super().closeEvent(event)
