"""Wires the case view into the main window (``install_case(window)`` is all the window calls).

File ▸ Open case folder… (Ctrl+Alt+O; a folder with a ``case.json`` also opens as a case from
File ▸ Open folder, drag and drop and the command line), File ▸ Export case report…; the case
view in a dock beside the viewer. Opening, analysing and preparing the report run through
``JobQueue``s (``gui/worker.py``: plain data in, a mailbox the GUI thread drains); the report
is drawn in the GUI thread. Every edit in the view is saved to ``case.json`` at once
(``save_case``: atomic, the previous file kept). The last case folder and the tile-map toggle
persist in QSettings (the window's store).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog

from fractoscope.errors import FractoscopeError
from fractoscope.gui.case.jobs import (
    AnalysedCase,
    LoadedCase,
    analyse_case_job,
    load_case_job,
    report_content_job,
)
from fractoscope.gui.case.view import CaseView
from fractoscope.gui.worker import JobQueue

log = logging.getLogger(__name__)

CASE_FILE = "case.json"
_KEY_FOLDER = "case/last_folder"
_KEY_TILES = "case/show_tile_map"


def is_case_folder(path: Path | str) -> bool:
    p = Path(path)
    return p.is_dir() and (p / CASE_FILE).is_file()


class CaseFeature(QObject):
    """The case's part of the main window (see module doc)."""

    shown = Signal(object)  # the Case, once drawn (and analysed, when that was started with it)
    saved = Signal(str)  # the case.json path

    def __init__(self, window) -> None:
        super().__init__(window)
        self.w = window
        self.view = CaseView()
        self.dock = QDockWidget("Case", window)
        self.dock.setObjectName("dock_case")
        self.dock.setWidget(self.view)
        window.add_dock_widget(self.dock, area=Qt.DockWidgetArea.LeftDockWidgetArea)
        self.dock.hide()  # until a case is opened
        window.add_shutdown(self.shutdown)
        self.loader = JobQueue("case-open", self)
        self.analysis = JobQueue("case-analysis", self)
        self.reporter = JobQueue("case-report", self)
        self._pending_report: tuple[Path, object, str] | None = None
        self._shown_after_analysis = False

        self.loader.finished.connect(self._loaded)
        self.loader.failed.connect(lambda m: window.show_error(f"Cannot open the case: {m}"))
        self.analysis.progress.connect(self.view.set_progress)
        self.analysis.finished.connect(self._analysed)
        self.analysis.failed.connect(self._analysis_failed)
        self.analysis.cancelled.connect(self._analysis_cancelled)
        self.analysis.busyChanged.connect(self.view.set_busy)
        self.reporter.progress.connect(lambda f, t: window.statusBar().showMessage(f"Case report: {t}", 4000))
        self.reporter.finished.connect(self._report_ready)
        self.reporter.failed.connect(lambda m: window.show_error(f"Case report failed: {m}"))

        self.view.frameActivated.connect(self.open_frame)
        self.view.changed.connect(self._changed)
        self.view.analyseRequested.connect(self.analyse)
        self.view.tileMapWanted.connect(lambda: None if self.analysis.busy else self.analyse())
        self.view.cancelRequested.connect(self.cancel)
        self.view.exportRequested.connect(self.export_report_dialog)
        self.view.tileMapToggled.connect(lambda on: window.settings.q.setValue(_KEY_TILES, bool(on)))
        self.view.act_tiles.setChecked(self._setting_bool(_KEY_TILES, False))

        self.act_open = QAction("Open &case folder…", window)
        self.act_open.setShortcut(QKeySequence("Ctrl+Alt+O"))
        self.act_open.setStatusTip("Open a failure case: a folder with an overview and its frames")
        self.act_open.triggered.connect(self.open_dialog)
        self.act_export = QAction("Export &case report (PDF)…", window)
        self.act_export.setStatusTip("The case's map, its frames' table and one page per frame")
        self.act_export.triggered.connect(self.export_report_dialog)
        self.act_export.setEnabled(False)
        for a in (self.act_open, self.act_export):
            window.addAction(a)
        self._add_to_file_menu()
        window.panels_menu.addAction(self.dock.toggleViewAction())

    def _add_to_file_menu(self) -> None:
        """After File ▸ Open folder and after File ▸ Export report (the window's own entries)."""
        for anchor, action in ((self.w.act_open_folder, self.act_open), (self.w.act_export_report, self.act_export)):
            menu = next((m for m in anchor.associatedObjects() if hasattr(m, "insertAction")
                         and m is not self.w and hasattr(m, "actions")), None)
            if menu is None:
                continue
            acts = menu.actions()
            i = acts.index(anchor) if anchor in acts else len(acts) - 1
            menu.insertAction(acts[i + 1] if i + 1 < len(acts) else None, action)

    def _setting_bool(self, key: str, default: bool) -> bool:
        v = self.w.settings.q.value(key, None)
        if v is None or v == "":
            return default
        return v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes")

    @property
    def case(self):
        return self.view.case

    @property
    def busy(self) -> bool:
        return self.loader.busy or self.analysis.busy

    # ================================================================================ opening
    def open_dialog(self) -> None:
        start = str(self.w.settings.q.value(_KEY_FOLDER, "") or self.w.settings.last_folder or "")
        folder = QFileDialog.getExistingDirectory(self.w, "Open case folder", start)
        if folder:
            self.open_case(Path(folder))

    def open_case(self, folder: Path | str) -> None:
        """Open (in the background) the case in ``folder``; a folder without ``case.json`` becomes
        a new case (written on the first edit)."""
        folder = Path(folder)
        self.w.settings.q.setValue(_KEY_FOLDER, str(folder))
        self.w.statusBar().showMessage(f"Opening case {folder.name}…", 5000)
        self.loader.submit(load_case_job(folder, self.w.service.model_path))

    def _loaded(self, loaded: LoadedCase) -> None:
        self.view.set_loaded(loaded)
        self.dock.setWindowTitle(f"Case — {loaded.case.folder.name}")
        self.dock.show()
        self.dock.raise_()
        # The map wants room: about half the window's width.
        self.w.resizeDocks([self.dock], [max(500, self.w.width() // 2)], Qt.Orientation.Horizontal)
        self.act_export.setEnabled(True)
        n_unplaced = sum(1 for f in loaded.case.frames if f.placement is None)
        todo = [f for f in loaded.case.frames if f.result is None]
        self.w.statusBar().showMessage(
            f"Case {loaded.case.folder.name}: {len(loaded.case.frames)} frames, {n_unplaced} not placed"
            + (f", {len(todo)} not analysed (Shift+F5)" if todo else ""), 10000)
        if loaded.overview_error:
            self.w.show_error(f"Case overview: {loaded.overview_error}")
        problems = [w for w in loaded.warnings if "unplaced" not in w]
        if problems:
            self.w.show_error(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
        # "Analyse on open" analyses what is missing: frames, and the overview when its tile
        # map is wanted and not there yet.
        want_map = self.view.act_tiles.isChecked() and loaded.tile_map is None
        auto = self.w.act_auto_analyse.isChecked() and (bool(todo) or want_map)
        if auto:
            self._shown_after_analysis = True
            self.analyse()
        else:
            QTimer.singleShot(0, lambda: self.shown.emit(loaded.case))

    # ================================================================================ analysis
    def analyse(self) -> None:
        if self.case is None or self.view.loaded is None:
            self.w.show_error("Open a case first (File ▸ Open case folder).", error=False)
            return
        svc = self.w.service
        # The overview is classified too (tile by tile) only while its tile map is wanted.
        with_overview = self.view.act_tiles.isChecked()
        self.analysis.submit(
            analyse_case_job(self.case, self.view.loaded.overview_shape, svc.model_path, svc.device, with_overview)
        )

    def cancel(self) -> bool:
        if self.analysis.cancel():
            self.view.set_progress(self.view.progress.value() / 1000, "Cancelling…")
            return True
        return False

    def _analysed(self, res: AnalysedCase) -> None:
        self.view.set_results(res.results, res.tile_map, res.tile_classes)
        self.case.overview_result = res.overview_result
        self.save("analysed")
        n = sum(1 for r in res.results.values() if r and r.get("level1"))
        self.view.status.setText(f"{n} of {len(res.results)} frames analysed")
        self._emit_shown_if_waiting()

    def _analysis_failed(self, message: str) -> None:
        self.w.show_error(f"Case analysis failed: {message}")
        self._emit_shown_if_waiting()

    def _analysis_cancelled(self) -> None:
        self.view.status.setText("Analysis cancelled; the frames done so far are kept and reused")
        self._emit_shown_if_waiting()

    def _emit_shown_if_waiting(self) -> None:
        if self._shown_after_analysis:
            self._shown_after_analysis = False
            QTimer.singleShot(0, lambda: self.shown.emit(self.case))

    # ================================================================================ edits
    def _changed(self, what: str) -> None:
        if self.save(what):
            self.w.statusBar().showMessage(f"Case: {what} (saved)", 5000)

    def save(self, what: str = "") -> bool:
        from fractoscope.case.model import save_case

        if self.case is None:
            return False
        try:
            path = save_case(self.case)
        except FractoscopeError as exc:
            self.w.show_error(f"The case could not be saved ({what}): {exc}")
            return False
        self.saved.emit(str(path))
        return True

    def open_frame(self, path: str, stored: str) -> None:
        """Open a frame in the side-by-side viewer (with its stored prediction: no re-analysis)."""
        self.w.open_file(Path(path), stored_prediction=Path(stored) if stored else None)

    # ================================================================================ report
    def export_report(self, path: Path | str, meta=None, page_size: str = "A4") -> Path:
        """Write the case report now (GUI thread; tests, scripts)."""
        from fractoscope.report.pdf.case import write_case_report

        if self.case is None:
            raise FractoscopeError("open a case before exporting its report")
        return write_case_report(self.case, Path(path), page_size, meta)

    def export_report_dialog(self) -> None:
        if self.case is None:
            self.w.show_error("Open a case first (File ▸ Open case folder).", error=False)
            return
        from fractoscope.gui.report_dialog import ask_report_meta
        from fractoscope.report.data import ReportMeta
        from fractoscope.report.pdf.case import CASE_TITLE

        name = self.case.folder.name
        asked = ask_report_meta(self.w, ReportMeta(title=CASE_TITLE, sample_id=name))
        if asked is None:
            return
        meta, page_size = asked
        start = str(self.case.folder.parent / f"{name}-case-report.pdf")
        path, _ = QFileDialog.getSaveFileName(self.w, "Export case report", start, "PDF (*.pdf)")
        if path:
            self.start_report(Path(path), meta, page_size)

    def start_report(self, path: Path, meta=None, page_size: str = "A4") -> None:
        """Prepare the report's content in the background, then draw it here."""
        self._pending_report = (Path(path), meta, page_size)
        self.reporter.submit(report_content_job(self.case))

    def _report_ready(self, content) -> None:
        from fractoscope.report.pdf.case import draw_case_report

        if self._pending_report is None:
            return
        path, meta, page_size = self._pending_report
        self._pending_report = None
        try:
            draw_case_report(content, path, page_size, meta)
        except FractoscopeError as exc:
            self.w.show_error(f"Case report failed: {exc}")
            return
        self.w.statusBar().showMessage(f"Saved {path}", 8000)

    def shutdown(self) -> None:
        for q in (self.loader, self.analysis, self.reporter):
            q.shutdown(10000)
        self.view.shutdown()


def install_case(window) -> CaseFeature:
    return CaseFeature(window)
