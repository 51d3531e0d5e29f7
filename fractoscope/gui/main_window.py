"""The main window: composes the viewer, the side panels and the controllers.

What the viewer shows lives in one Qt-free ``ViewerState`` (``gui/viewer/viewer_state.py``): the
menu actions, toolbar check boxes and sliders write to it and follow it, the viewer draws it and the
preferences are saved from it. The work is split into controllers, each in its own module:

* ``FileListController`` (``gui/viewer/file_list.py``): the image list, opening files, recent
  files, folders to the batch panel;
* ``AnalysisController`` (``gui/viewer/analysis_controller.py``): the model run, its progress/cancel
  and what a result changes;
* ``SetScaleController`` (``gui/viewer/set_scale.py``): the Set scale tool;
* ``ExportController`` (``gui/viewer/exports.py``): view and PDF exports.

Other features add themselves through ``add_dock_widget``, ``add_menu`` / ``tools_menu`` and
``add_shutdown`` (the reference library does), so this file does not grow with them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFrame,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QScrollArea,
    QSlider,
    QSplitter,
    QTabWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fractoscope.calibration import Calibration, format_length
from fractoscope.errors import FractoscopeError
from fractoscope.gui import display
from fractoscope.gui.batch.batch_panel import BatchPanel
from fractoscope.gui.case import install_case, is_case_folder
from fractoscope.gui.gc_guard import collect_garbage_in_gui_thread
from fractoscope.gui.library.library_actions import install_library
from fractoscope.gui.preferences import PreferencesController
from fractoscope.gui.settings import COLORMAPS, AppSettings
from fractoscope.gui.viewer.analysis_controller import AnalysisController
from fractoscope.gui.viewer.exports import ExportController
from fractoscope.gui.viewer.file_list import FileListController
from fractoscope.gui.viewer.panels import ImageInfoPanel, MessageBar, ModelPanel, PredictionPanel
from fractoscope.gui.viewer.set_scale import SetScaleController, SetScaleDialog
from fractoscope.gui.viewer.surface import install_surface
from fractoscope.gui.viewer.viewer import LinkedViewer
from fractoscope.gui.viewer.viewer_state import ViewerState
from fractoscope.gui.worker import (
    AnalysisResult,
    AnalysisService,
    LoadedImage,
    batch_analyzer_factory,
)
from fractoscope.io import SUPPORTED_SUFFIXES, save_manual_calibration

log = logging.getLogger(__name__)

IMAGE_FILTER = "SEM images ({});;All files (*)".format(" ".join(f"*{s}" for s in SUPPORTED_SUFFIXES))

# ViewerState fields saved as preferences (state field -> AppSettings attribute).
_SAVED_VIEW = {
    "show_level1": "show_level1",
    "show_level2": "show_level2",
    "show_tiles": "show_tiles",
    "three_panes": "three_panes",
    "opacity": "overlay_opacity",
    "colormap": "colormap",
    "show_histogram": "show_histogram",
}


class MainWindow(QMainWindow):
    imageLoaded = Signal(object)  # SemImage
    imageFailed = Signal(str)
    analysisFinished = Signal(object)  # Prediction
    analysisFailed = Signal(str)
    analysisCancelled = Signal()
    calibrationChanged = Signal(object)  # Calibration

    def __init__(
        self,
        settings: AppSettings | None = None,
        model_path: str | Path | None = None,
        device: str | None = None,
        auto_analyse: bool | None = None,
    ) -> None:
        super().__init__()
        collect_garbage_in_gui_thread()
        self.settings = settings or AppSettings()
        self.setWindowTitle("Fractoscope")
        self.setAcceptDrops(True)
        self.resize(1500, 900)

        self.sem = None  # current SemImage
        self.display_image: np.ndarray | None = None
        self.last_error = ""
        self.cursor_readout: dict = {}
        self._first_shown = False
        self._shutdown_hooks: list[Callable[[], None]] = []
        self._docks: list[QDockWidget] = []

        # Command-line choices apply to this session only; the saved preferences stay.
        self._auto_analyse_override = auto_analyse
        self.service = AnalysisService(model_path, device or self.settings.device)
        s = self.settings
        self.view_state = ViewerState(**{f: getattr(s, a) for f, a in _SAVED_VIEW.items()})

        self._build_widgets()
        self._build_actions()
        self._build_menus_and_toolbar()
        self._build_controllers()
        self._connect()
        self._restore_settings()
        self.library = install_library(self)  # reference library, Update model, similar images
        self.surface = install_surface(self)  # the analyst's surface context (toolbar)
        self.case = install_case(self)  # failure cases: File ▸ Open case folder, the case map dock

    # ================================================================================ building
    def _build_widgets(self) -> None:
        self.viewer = LinkedViewer(self.view_state)
        self.message_bar = MessageBar()
        self.prediction_panel = PredictionPanel()
        self.info_panel = ImageInfoPanel()
        self.model_panel = ModelPanel()
        self.model_panel.set_model(None, None)
        self.batch_panel = BatchPanel(batch_analyzer_factory(self.service), self)
        self.batch_panel.scheduler = self.settings.batch_scheduler or None
        self.batch_panel.open_result.connect(self.open_stored_result)
        self.tabs = QTabWidget()

        self.side_splitter = QSplitter(Qt.Orientation.Vertical)
        self.side_splitter.addWidget(self.prediction_panel)
        self.side_splitter.addWidget(self.tabs)
        self.side_splitter.setSizes([420, 380])
        self.main_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.main_splitter.addWidget(self.viewer)
        self.main_splitter.addWidget(self.side_splitter)
        self.main_splitter.setStretchFactor(0, 1)
        self.main_splitter.setSizes([1120, 380])

        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(4, 4, 4, 0)
        lay.setSpacing(4)
        lay.addWidget(self.message_bar)
        lay.addWidget(self.main_splitter, 1)
        self.setCentralWidget(central)

        sb = self.statusBar()
        self.cursor_label = QLabel("")
        self.cursor_label.setMinimumWidth(560)
        self.zoom_label = QLabel("")
        self.progress_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        for w in (self.progress_label, self.progress, self.cancel_button):
            w.setVisible(False)
        # Permanent (not normal) widgets: temporary status messages must not hide the read-out.
        sb.addPermanentWidget(self.cursor_label)
        sb.addPermanentWidget(self.progress_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        sb.addPermanentWidget(self.zoom_label)

    def _action(self, text: str, slot, shortcut=None, checkable: bool = False, tip: str = "") -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            keys = shortcut if isinstance(shortcut, list | tuple) else [shortcut]
            a.setShortcuts([QKeySequence(k) for k in keys])
        a.setCheckable(checkable)
        if tip:
            a.setStatusTip(tip)
            a.setToolTip(f"{tip} ({a.shortcut().toString()})" if shortcut else tip)
        (a.toggled if checkable else a.triggered).connect(slot)
        self.addAction(a)  # shortcuts work even when the action is only in a toolbar
        return a

    def _build_actions(self) -> None:
        A = self._action  # noqa: N806
        K = QKeySequence.StandardKey  # noqa: N806
        st = self.view_state
        self.act_open = A("&Open…", self.open_dialog, K.Open, tip="Open an image")
        self.act_open_folder = A("Open &folder…", self.open_folder_dialog, "Ctrl+Shift+O")
        self.act_next = A("&Next image", lambda: self.step_image(1), ["PgDown", "N"])
        self.act_prev = A("&Previous image", lambda: self.step_image(-1), ["PgUp", "P"])
        self.act_export_view = A("&Export view as PNG/TIFF…", lambda: self.exports.export_view_dialog(), "Ctrl+E")
        self.act_export_report = A("Export &report (PDF)…", lambda: self.exports.export_report_dialog(), "Ctrl+Shift+E")
        self.act_quit = A("&Quit", self.close, K.Quit)

        self.act_l1 = A("Level-&1 CAM", lambda on: st.set_shown(1, on), "1", True, "Show the level-1 (mechanism) Grad-CAM")
        self.act_l2 = A("Level-&2 CAM", lambda on: st.set_shown(2, on), "2", True, "Show the level-2 (morphology) Grad-CAM")
        self.act_tiles = A("&Tile grid", lambda on: setattr(st, "show_tiles", on), "T", True,
                           "Show the tiles with their level-2 class")
        self.act_three = A("&Three panes", lambda on: setattr(st, "three_panes", on), "3", True,
                           "Original | level 1 | level 2")
        self.act_fit = A("&Fit", self.viewer.fit, "F", tip="Fit the image in the view")
        self.act_100 = A("&100 % (1:1)", self.viewer.one_to_one, ["Ctrl+1", "Z"], tip="One image pixel per screen pixel")
        self.act_zoom_in = A("Zoom &in", lambda: self.viewer.zoom(1.5), ["+", "=", K.ZoomIn], tip="Zoom in about the cursor")
        self.act_zoom_out = A("Zoom &out", lambda: self.viewer.zoom(1 / 1.5), ["-", K.ZoomOut], tip="Zoom out about the cursor")
        self.act_auto = A("&Auto contrast", self.viewer.auto_contrast, "A", tip="Percentile contrast (0.5–99.5 %)")
        self.act_reset = A("&Reset contrast", self.viewer.reset_contrast, "R", tip="Full data range")
        self.act_hist = A("&Histogram", lambda on: setattr(st, "show_histogram", on), "H", True,
                          "Show the contrast histogram")
        self.act_set_scale = A("&Set scale…", lambda _on: None, "S", True, "Drag a line over the scale bar, then type its length")

        self.act_analyse = A("&Analyse", self.analyse, "F5", tip="Analyse the current image")
        # Always enabled: Esc leaves the Set scale tool as well as stopping an analysis.
        self.act_cancel = A("&Cancel / leave tool", self.cancel_analysis, "Esc",
                            tip="Stop the running analysis, or leave the Set scale tool")
        self.act_auto_analyse = A("Analyse on &open", self._set_auto_analyse, None, True)
        self.act_scheduler = A("Batch &cluster…", self.ask_batch_scheduler,
                               tip="Run batches on a Dask cluster (scheduler address) or on this computer")
        self.act_about = A("&About Fractoscope", self._about)

        # Theme and batch cluster: gui/preferences.py (its View > Theme actions are used below).
        self.preferences = PreferencesController(self)
        self.theme_group = self.preferences.theme_group
        self.theme_actions = self.preferences.theme_actions

    def _build_menus_and_toolbar(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addActions([self.act_open, self.act_open_folder])
        self.recent_menu = m.addMenu("Open &recent")
        m.addSeparator()
        m.addActions([self.act_prev, self.act_next])
        m.addSeparator()
        m.addActions([self.act_export_view, self.act_export_report])
        m.addSeparator()
        m.addAction(self.act_quit)
        m = self.view_menu = mb.addMenu("&View")
        m.addActions([self.act_l1, self.act_l2, self.act_tiles, self.act_three])
        m.addSeparator()
        m.addActions([self.act_fit, self.act_100, self.act_zoom_in, self.act_zoom_out])
        m.addSeparator()
        m.addActions([self.act_auto, self.act_reset, self.act_hist])
        tm = m.addMenu("T&heme")
        tm.addActions(list(self.theme_actions.values()))
        self.panels_menu = m.addMenu("&Panels")  # one entry per dock (add_dock_widget)
        self.panels_menu.menuAction().setVisible(False)
        m = self.analysis_menu = mb.addMenu("&Analysis")
        m.addActions([self.act_analyse, self.act_cancel, self.act_auto_analyse])
        m.addSeparator()
        m.addAction(self.act_set_scale)
        self.tools_menu = mb.addMenu("&Tools")
        self.tools_menu.addAction(self.act_scheduler)
        self.help_menu = mb.addMenu("&Help")
        self.help_menu.addAction(self.act_about)

        tb = QToolBar("Main")
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        self.addToolBar(tb)
        self.toolbar = tb
        tb.addActions([self.act_open, self.act_analyse])
        tb.addSeparator()
        self.cb_l1 = QCheckBox("Level 1")
        self.cb_l2 = QCheckBox("Level 2")
        self.cb_tiles = QCheckBox("Tiles")
        for cb, act in ((self.cb_l1, self.act_l1), (self.cb_l2, self.act_l2), (self.cb_tiles, self.act_tiles)):
            cb.setToolTip(act.toolTip())
            cb.toggled.connect(act.setChecked)
            act.toggled.connect(cb.setChecked)
            tb.addWidget(cb)
        self._cb_l2_action = tb.actions()[-1]  # hidden with level 2 when the model has none
        tb.addWidget(QLabel("  Opacity "))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setFixedWidth(110)
        self.opacity_slider.setToolTip("Overlay opacity")
        tb.addWidget(self.opacity_slider)
        tb.addWidget(QLabel("  "))
        self.cmap_combo = QComboBox()
        self.cmap_combo.addItems(COLORMAPS)
        self.cmap_combo.setToolTip("Overlay colour map")
        tb.addWidget(self.cmap_combo)
        tb.addAction(self.act_three)
        tb.addSeparator()
        tb.addActions([self.act_fit, self.act_100, self.act_zoom_in, self.act_zoom_out])
        tb.addSeparator()
        tb.addActions([self.act_auto, self.act_reset, self.act_set_scale])

    def _build_controllers(self) -> None:
        self.files = FileListController(self.settings, self.batch_panel, self.recent_menu, self)
        self.image_list = self.files.list
        self.loader = self.files.loader
        self.analysis_controller = AnalysisController(
            self.service, self.view_state, self.prediction_panel, self.model_panel, lambda: self.sem, self
        )
        self.analysis = self.analysis_controller.queue
        self.set_scale = SetScaleController(
            self.act_set_scale, self.viewer.panes[0].vb, lambda: self.sem.calibration if self.sem else None, self
        )
        self.exports = ExportController(self)

        self.tabs.addTab(self.info_panel, "Image")
        self.tabs.addTab(self.model_panel, "Model")
        self.tabs.addTab(self.image_list, "Images")
        # In a scroll area: the batch panel's button row must not dictate the side panel's width.
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.batch_panel)
        self.batch_tab = scroll
        self.tabs.addTab(scroll, "Batch")

    def _connect(self) -> None:
        f, a = self.files, self.analysis_controller
        f.opening.connect(self._opening)
        f.loaded.connect(self._image_loaded)
        f.failed.connect(self._image_failed)
        f.notice.connect(lambda text, err: self.show_error(text, err))
        f.folderQueued.connect(self._folder_queued)
        self.loader.busyChanged.connect(self._update_busy)
        a.progress.connect(self._analysis_progress)
        a.finished.connect(self._analysis_finished)
        a.failed.connect(self._analysis_failed)
        a.cancelled.connect(self._analysis_cancelled)
        a.busyChanged.connect(self._update_busy)
        self.set_scale.calibrationAccepted.connect(self.apply_calibration)
        self.set_scale.failed.connect(self.show_error)
        self.set_scale.status.connect(self._status)
        self.cancel_button.clicked.connect(self.cancel_analysis)
        self.opacity_slider.valueChanged.connect(lambda v: setattr(self.view_state, "opacity", v / 100))
        self.cmap_combo.currentTextChanged.connect(lambda name: setattr(self.view_state, "colormap", name))
        self.prediction_panel.classSelected.connect(self.show_class_cam)
        self.model_panel.deviceChanged.connect(self.set_device)
        self.viewer.cursorMoved.connect(self._cursor_moved)
        self.viewer.cursorLeft.connect(lambda: self.cursor_label.setText(""))
        self.viewer.vb.sigRangeChanged.connect(self._update_zoom_label)
        self.view_state.observe(self._view_state_changed)

    # ================================================================================ the view state
    def _view_state_changed(self, name: str, value: object) -> None:
        """Keep the controls in step with the state, and save what is a preference."""
        if name in _SAVED_VIEW:
            setattr(self.settings, _SAVED_VIEW[name], value)
        if name in ("show_level1", "show_level2", "show_tiles", "three_panes", "show_histogram",
                    "opacity", "colormap", "level2_available"):
            self._sync_controls()
        if name == "level2_available":
            self.cb_l2.setToolTip(self.act_l2.toolTip() if value else "Level 2 not trained for this model")

    def _sync_controls(self) -> None:
        st = self.view_state
        for act, on in ((self.act_l1, st.show_level1), (self.act_l2, st.show_level2),
                        (self.act_tiles, st.show_tiles), (self.act_three, st.three_panes),
                        (self.act_hist, st.show_histogram)):
            if act.isChecked() != on:
                act.setChecked(on)
        # A level-1-only model has no level-2 map: its toggle and the third pane go away.
        for w in (self.act_l2, self._cb_l2_action, self.act_three):
            w.setVisible(st.level2_available)
        if self.opacity_slider.value() != round(100 * st.opacity):
            self.opacity_slider.setValue(round(100 * st.opacity))
        if self.cmap_combo.currentText() != st.colormap:
            self.cmap_combo.setCurrentText(st.colormap)

    # ================================================================================ settings
    def _restore_settings(self) -> None:
        s = self.settings
        s.restore_window(self)
        for name, sp in self._splitters().items():
            sizes = s.splitter_sizes(name)
            if sizes and len(sizes) == sp.count() and sum(sizes) > 0:
                sp.setSizes(sizes)
        self._sync_controls()
        auto = s.auto_analyse if self._auto_analyse_override is None else self._auto_analyse_override
        self.act_auto_analyse.blockSignals(True)
        self.act_auto_analyse.setChecked(auto)
        self.act_auto_analyse.blockSignals(False)
        self.model_panel.set_device_choice(self.service.device)
        self.preferences.restore_theme()

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._first_shown:
            self._first_shown = True
            if self.settings.splitter_sizes("main") is None:  # first run: 70 % image, 30 % panels
                w = max(self.main_splitter.width(), 800)
                self.main_splitter.setSizes([int(w * 0.7), w - int(w * 0.7)])

    def _splitters(self) -> dict[str, QSplitter]:
        return {"main": self.main_splitter, "side": self.side_splitter, "panes": self.viewer.splitter}

    def save_settings(self) -> None:
        s = self.settings
        s.save_window(self)
        for name, sp in self._splitters().items():
            s.set_splitter_sizes(name, sp.sizes())
        for f, a in _SAVED_VIEW.items():
            setattr(s, a, getattr(self.view_state, f))
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.save_settings()
        # Cancel and join every worker before the widgets go (none holds a Qt object, so one
        # that overruns its timeout cannot crash the app; it just finishes unseen).
        for hook in self._shutdown_hooks:
            try:
                hook()
            except Exception:  # noqa: BLE001 - one feature's problem must not stop the others closing
                log.warning("shutdown hook failed", exc_info=True)
        self.batch_panel.shutdown()
        self.files.shutdown()
        self.analysis_controller.shutdown()
        super().closeEvent(event)

    # ================================================================================ extension points
    def add_dock_widget(
        self,
        widget: QWidget,
        title: str | None = None,
        area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea,
        shortcut: str | None = None,
    ) -> QDockWidget:
        """Dock ``widget`` (a QDockWidget is used as it is) and list it under View ▸ Panels.

        Its visibility and place are saved with the window; a ``shutdown()`` method, if it has
        one, is called when the window closes.
        """
        dock = widget if isinstance(widget, QDockWidget) else QDockWidget(title or widget.windowTitle(), self)
        if dock is not widget:
            dock.setWidget(widget)
        if not dock.objectName():
            dock.setObjectName(f"dock_{(title or dock.windowTitle() or 'panel').lower().replace(' ', '_')}")
        self.addDockWidget(area, dock)
        toggle = dock.toggleViewAction()
        if shortcut:
            toggle.setShortcut(QKeySequence(shortcut))
        self.panels_menu.addAction(toggle)
        self.panels_menu.menuAction().setVisible(True)
        for obj in (widget, dock.widget()):
            stop = getattr(obj, "shutdown", None)
            if callable(stop):
                self.add_shutdown(stop)
                break
        self._docks.append(dock)
        self.settings.restore_window(self, geometry=False)  # its saved place and visibility
        return dock

    def add_menu(self, title: str, before: QMenu | None = None) -> QMenu:
        """A top-level menu (before Help unless ``before`` says otherwise)."""
        menu = QMenu(title, self)
        self.menuBar().insertMenu((before or self.help_menu).menuAction(), menu)
        return menu

    def add_shutdown(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` when the window closes (before its own workers stop)."""
        self._shutdown_hooks.append(fn)

    # ================================================================================ state read by others
    @property
    def result(self) -> AnalysisResult | None:
        return self.analysis_controller.result

    @property
    def current_path(self) -> Path | None:
        return self.files.current_path

    @property
    def _scale_dialog(self) -> SetScaleDialog | None:
        return self.set_scale.dialog

    # ================================================================================ opening
    def open_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open SEM images", self.settings.last_folder, IMAGE_FILTER)
        if paths:
            self.open_paths([Path(p) for p in paths])

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open folder", self.settings.last_folder)
        if folder:
            self.open_paths([Path(folder)])

    def open_paths(self, paths: list[Path | str]) -> None:
        """Files go to the image list (the first opens); folders to the batch panel; a folder
        with a case.json opens as a failure case."""
        cases = [p for p in paths if is_case_folder(p)]
        if cases:
            self.case.open_case(Path(cases[0]))
            paths = [p for p in paths if p not in cases]
            if not paths:
                return
        files = [p for p in paths if not Path(p).is_dir()]
        self.files.open_paths(paths)
        if len(files) > 1:
            self.tabs.setCurrentWidget(self.image_list)

    def open_file(self, path: Path | str, stored_prediction: Path | None = None) -> None:
        """Read in the background; the image shows as soon as it is read, then (optionally) analysed.

        With ``stored_prediction`` (a batch result) that prediction is shown instead of analysing.
        """
        self.files.open_file(path, stored_prediction)

    def open_stored_result(self, image_path: str, stored_path: str) -> None:
        """Open an image with the prediction a batch run stored for it (no recomputation)."""
        self.open_file(Path(image_path), stored_prediction=Path(stored_path))

    def step_image(self, delta: int) -> None:
        self.files.step(delta)

    def _opening(self, path: Path) -> None:
        self.analysis_controller.forget()
        self.progress_label.setText(f"Reading {path.name}…")

    def _folder_queued(self, name: str, n: int) -> None:
        self.tabs.setCurrentWidget(self.batch_tab)
        if n == 0 and not self.batch_panel.model.rows:
            self.show_error(f"{name}: no supported images in this folder")
        else:
            self.statusBar().showMessage(f"Batch: {n} images added from {name}", 8000)

    def _image_loaded(self, loaded: LoadedImage) -> None:
        sem = loaded.sem
        self.sem = sem
        self.display_image = loaded.display
        self.analysis_controller.forget()
        self.message_bar.hide()
        self.viewer.set_image(loaded.display, loaded.levels, loaded.pyramid)
        self.viewer.set_pixel_size(sem.calibration.pixel_size_x_m)
        self.info_panel.set_image(sem)
        self.prediction_panel.clear("Not analysed yet (F5)")
        self.setWindowTitle(f"Fractoscope — {sem.name}")
        self.progress_label.setText("")
        self.imageLoaded.emit(sem)
        if loaded.stored is not None:
            self.analysis_controller.show_result(loaded.stored)
        elif self.act_auto_analyse.isChecked():
            self.analyse()

    def _image_failed(self, message: str) -> None:
        self.show_error(message)
        self.imageFailed.emit(message)

    # ================================================================================ drag & drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        md = event.mimeData()
        if md.hasUrls() and any(u.isLocalFile() for u in md.urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    # ================================================================================ analysis
    def analyse(self) -> None:
        if self.sem is None:
            self.show_error("Open an image first.", error=False)
            return
        self.progress.setValue(0)
        self.progress_label.setText("Analysing…")
        self.analysis_controller.analyse(self.sem)

    def cancel_analysis(self) -> None:
        """Esc: leave the Set scale tool if it is on, else stop the analysis (or the reading)."""
        if self.set_scale.leave():
            return
        if self.analysis_controller.cancel():
            self.progress_label.setText("Cancelling…")
        elif self.loader.cancel():
            self.progress_label.setText("")

    def set_device(self, device: str) -> None:
        self.service.device = device
        self.settings.device = device
        self.model_panel.set_device_choice(device)

    def _update_busy(self, _busy: bool = False) -> None:
        busy = self.analysis.busy or self.loader.busy
        for w in (self.progress_label, self.progress):
            w.setVisible(busy)
        self.cancel_button.setVisible(self.analysis.busy)

    def _analysis_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(1000 * fraction))
        self.progress_label.setText(f"Analysing: {message}")

    def _analysis_finished(self, result: AnalysisResult) -> None:
        pred = result.prediction
        secs = pred.timings.get("total_s")
        self.statusBar().showMessage(
            f"Analysed on {result.device}" + (f" in {secs:.1f} s" if secs else "")
            + (f"; {result.lab_note}" if getattr(result, "lab_note", "") else ""),
            8000,
        )
        self.analysisFinished.emit(pred)

    def _analysis_failed(self, message: str) -> None:
        self.show_error(f"Analysis failed: {message}")
        self.analysisFailed.emit(message)

    def _analysis_cancelled(self) -> None:
        self.statusBar().showMessage("Analysis cancelled", 5000)
        self.analysisCancelled.emit()

    def show_class_cam(self, level: int, label: str) -> None:
        """Show the Grad-CAM of any class (not only the predicted one) at its level."""
        if self.sem is None:
            return
        problem = self.analysis_controller.show_class_cam(level, label, self.sem.shape)
        if problem:
            self.statusBar().showMessage(problem, 5000)

    # ================================================================================ preferences
    def _set_auto_analyse(self, on: bool) -> None:
        self.settings.auto_analyse = on

    def set_theme(self, name: str) -> None:
        self.preferences.set_theme(name)

    def set_batch_scheduler(self, address: str | None) -> None:
        """Batch runs go to this Dask scheduler (``tcp://host:8786``); empty = this computer."""
        self.preferences.set_batch_scheduler(address)

    def ask_batch_scheduler(self) -> None:
        self.preferences.ask_batch_scheduler()

    def _update_zoom_label(self, *_: object) -> None:
        if self.viewer.image_shape is not None:
            self.zoom_label.setText(f"zoom {100 * self.viewer.zoom_factor():.0f} %")

    # ================================================================================ cursor
    def _cursor_moved(self, x: float, y: float) -> None:
        if self.sem is None:
            return
        self.cursor_readout, text = display.cursor_readout(
            self.sem, x, y, {lv: self.view_state.cam(lv) for lv in (1, 2)}
        )
        self.cursor_label.setText(text)

    # ================================================================================ set scale
    def apply_calibration(self, cal: Calibration) -> None:
        """Use ``cal`` at once and save it beside the image (the sidecar read_sem applies)."""
        if self.sem is None:
            return
        self.act_set_scale.setChecked(False)
        if self.sem.path is not None:
            try:
                save_manual_calibration(self.sem.path, cal)
            except FractoscopeError as exc:
                self.show_error(f"Scale used for this session only: {exc}")
        self.sem = self.sem.with_calibration(cal)
        self.viewer.set_pixel_size(cal.pixel_size_x_m)
        self.info_panel.set_image(self.sem)
        self.statusBar().showMessage(f"Scale set: {format_length(cal.pixel_size_x_m)}/px (saved)", 8000)
        self.calibrationChanged.emit(cal)
        if self.act_auto_analyse.isChecked():
            self.analyse()  # the model's input scale depends on the calibration

    # ================================================================================ export
    def render_view(self):
        return self.exports.render_view()

    def export_view(self, path: str | Path) -> Path:
        return self.exports.export_view(path)

    def export_report(self, path: str | Path, meta=None, page_size: str = "A4") -> Path:
        return self.exports.export_report(path, meta, page_size)

    # ================================================================================ misc
    def _status(self, text: str, timeout_ms: int) -> None:
        if text:
            self.statusBar().showMessage(text, timeout_ms)
        else:
            self.statusBar().clearMessage()

    def show_error(self, message: str, error: bool = True) -> None:
        """One clear line in the window (and the status bar); the app carries on."""
        message = " ".join(str(message).split())
        if error:
            self.last_error = message
        self.message_bar.show_message(message, error)
        self.progress_label.setText("")
        self.statusBar().showMessage(message, 10000)

    def _about(self) -> None:
        from fractoscope import __version__
        from fractoscope.applog import configured_log_path, log_path

        self.show_error(
            f"Fractoscope {__version__}: SEM fractography with hierarchical Grad-CAM. "
            "Keys: 1/2 overlays, T tiles, 3 three panes, F fit, Ctrl+1 100 %, +/- zoom, "
            "A/R contrast, H histogram, S set scale, F5 analyse, Esc cancel, PgUp/PgDown images. "
            f"Error log: {configured_log_path() or log_path()}",
            error=False,
        )
