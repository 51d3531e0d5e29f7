"""The main window: linked viewer, prediction / image / model panels, background analysis."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
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
from fractoscope.gui import display, theme
from fractoscope.gui.batch_panel import BatchPanel
from fractoscope.gui.gc_guard import collect_garbage_in_gui_thread
from fractoscope.gui.panels import ImageInfoPanel, ModelPanel, PredictionPanel
from fractoscope.gui.set_scale import SetScaleDialog
from fractoscope.gui.settings import COLORMAPS, AppSettings
from fractoscope.gui.viewer import LinkedViewer, TileMark
from fractoscope.gui.worker import (
    AnalysisResult,
    AnalysisService,
    JobQueue,
    LoadedImage,
    batch_analyzer_factory,
    load_image_job,
)
from fractoscope.io import SUPPORTED_SUFFIXES, is_supported, save_manual_calibration

log = logging.getLogger(__name__)

IMAGE_FILTER = "SEM images ({});;All files (*)".format(" ".join(f"*{s}" for s in SUPPORTED_SUFFIXES))
EXPORT_FILTER = "PNG image (*.png);;TIFF image (*.tif *.tiff)"


class MessageBar(QFrame):
    """An in-window banner for errors and notices (never a modal box, never a traceback)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 4, 4)
        lay.addWidget(self.label, 1)
        lay.addWidget(close)
        self.hide()

    def show_message(self, text: str, error: bool = True) -> None:
        colour = theme.ERROR_COLOR if error else theme.HIGHLIGHT_COLOR
        self.setStyleSheet(f"MessageBar {{ background: {colour}; border-radius: 3px; }} QLabel {{ color: white; }}")
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""


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
        self.result: AnalysisResult | None = None
        self.current_path: Path | None = None
        self.last_error = ""
        self.cursor_readout: dict = {}
        self._scale_dialog: SetScaleDialog | None = None
        self._first_shown = False

        # Command-line choices apply to this session only; the saved preferences stay.
        self._auto_analyse_override = auto_analyse
        self.service = AnalysisService(model_path, device or self.settings.device)
        self.loader = JobQueue("load", self)
        self.analysis = JobQueue("analysis", self)

        self._build_widgets()
        self._build_actions()
        self._build_menus_and_toolbar()
        self._connect()
        self._restore_settings()

    # ================================================================================ building
    def _build_widgets(self) -> None:
        self.viewer = LinkedViewer()
        self.message_bar = MessageBar()
        self.prediction_panel = PredictionPanel()
        self.info_panel = ImageInfoPanel()
        self.model_panel = ModelPanel()
        self.model_panel.set_model(None, None)
        self.image_list = QListWidget()
        self.image_list.setToolTip("Images to step through (PgUp / PgDown); drop files here or on the window")
        self.tabs = QTabWidget()
        self.tabs.addTab(self.info_panel, "Image")
        self.tabs.addTab(self.model_panel, "Model")
        self.tabs.addTab(self.image_list, "Images")
        self.batch_panel = BatchPanel(batch_analyzer_factory(self.service), self)
        self.batch_panel.open_result.connect(self.open_stored_result)
        # In a scroll area: its button row must not dictate the side panel's width.
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.batch_panel)
        self.batch_tab = scroll
        self.tabs.addTab(scroll, "Batch")

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
        self.act_open = A("&Open…", self.open_dialog, K.Open, tip="Open an image")
        self.act_open_folder = A("Open &folder…", self.open_folder_dialog, "Ctrl+Shift+O")
        self.act_next = A("&Next image", lambda: self.step_image(1), ["PgDown", "N"])
        self.act_prev = A("&Previous image", lambda: self.step_image(-1), ["PgUp", "P"])
        self.act_export_view = A("&Export view as PNG/TIFF…", self.export_view_dialog, "Ctrl+E")
        self.act_export_report = A("Export &report (PDF)…", self.export_report_dialog, "Ctrl+Shift+E")
        self.act_quit = A("&Quit", self.close, K.Quit)

        self.act_l1 = A("Level-&1 CAM", lambda on: self._set_level(1, on), "1", True, "Show the level-1 (mechanism) Grad-CAM")
        self.act_l2 = A("Level-&2 CAM", lambda on: self._set_level(2, on), "2", True, "Show the level-2 (morphology) Grad-CAM")
        self.act_tiles = A("&Tile grid", self._set_tiles, "T", True, "Show the tiles with their level-2 class")
        self.act_three = A("&Three panes", self._set_three, "3", True, "Original | level 1 | level 2")
        self.act_fit = A("&Fit", self.viewer.fit, "F", tip="Fit the image in the view")
        self.act_100 = A("&100 % (1:1)", self.viewer.one_to_one, ["Ctrl+1", "Z"], tip="One image pixel per screen pixel")
        self.act_zoom_in = A("Zoom &in", lambda: self.viewer.zoom(1.5), ["+", "=", K.ZoomIn], tip="Zoom in about the cursor")
        self.act_zoom_out = A("Zoom &out", lambda: self.viewer.zoom(1 / 1.5), ["-", K.ZoomOut], tip="Zoom out about the cursor")
        self.act_auto = A("&Auto contrast", self.viewer.auto_contrast, "A", tip="Percentile contrast (0.5–99.5 %)")
        self.act_reset = A("&Reset contrast", self.viewer.reset_contrast, "R", tip="Full data range")
        self.act_hist = A("&Histogram", self.viewer.histogram.setVisible, "H", True)
        self.act_hist.setChecked(True)
        self.act_set_scale = A("&Set scale…", self._set_measure, "S", True, "Drag a line over the scale bar, then type its length")

        self.act_analyse = A("&Analyse", self.analyse, "F5", tip="Analyse the current image")
        self.act_cancel = A("&Cancel analysis", self.cancel_analysis, "Esc", tip="Stop the running analysis")
        self.act_auto_analyse = A("Analyse on &open", self._set_auto_analyse, None, True)
        self.act_about = A("&About Fractoscope", self._about)

        self.theme_group = QActionGroup(self)
        self.theme_actions = {}
        for name in ("dark", "light"):
            a = QAction(name.capitalize(), self, checkable=True)
            a.triggered.connect(lambda _c=False, n=name: self.set_theme(n))
            self.theme_group.addAction(a)
            self.theme_actions[name] = a

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
        m = mb.addMenu("&View")
        m.addActions([self.act_l1, self.act_l2, self.act_tiles, self.act_three])
        m.addSeparator()
        m.addActions([self.act_fit, self.act_100, self.act_zoom_in, self.act_zoom_out])
        m.addSeparator()
        m.addActions([self.act_auto, self.act_reset, self.act_hist])
        tm = m.addMenu("T&heme")
        tm.addActions(list(self.theme_actions.values()))
        m = mb.addMenu("&Analysis")
        m.addActions([self.act_analyse, self.act_cancel, self.act_auto_analyse])
        m.addSeparator()
        m.addAction(self.act_set_scale)
        mb.addMenu("&Help").addAction(self.act_about)

        tb = QToolBar("Main")
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        self.addToolBar(tb)
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

    def _connect(self) -> None:
        self.loader.finished.connect(self._image_loaded)
        self.loader.failed.connect(self._image_failed)
        self.loader.busyChanged.connect(self._update_busy)
        self.analysis.progress.connect(self._analysis_progress)
        self.analysis.finished.connect(self._analysis_finished)
        self.analysis.failed.connect(self._analysis_failed)
        self.analysis.cancelled.connect(self._analysis_cancelled)
        self.analysis.busyChanged.connect(self._update_busy)
        self.cancel_button.clicked.connect(self.cancel_analysis)
        self.opacity_slider.valueChanged.connect(self._set_opacity)
        self.cmap_combo.currentTextChanged.connect(self._set_cmap)
        self.prediction_panel.classSelected.connect(self.show_class_cam)
        self.model_panel.deviceChanged.connect(self.set_device)
        self.viewer.cursorMoved.connect(self._cursor_moved)
        self.viewer.cursorLeft.connect(lambda: self.cursor_label.setText(""))
        self.viewer.vb.sigRangeChanged.connect(self._update_zoom_label)
        self.viewer.panes[0].vb.sigLineDrawn.connect(self._scale_line_drawn)
        self.image_list.itemActivated.connect(self._list_item_activated)
        self.image_list.currentItemChanged.connect(lambda cur, _prev: self._list_item_activated(cur))

    # ================================================================================ settings
    def _restore_settings(self) -> None:
        s = self.settings
        if s.geometry is not None:
            self.restoreGeometry(s.geometry)
        if s.window_state is not None:
            self.restoreState(s.window_state)
        for name, sp in self._splitters().items():
            sizes = s.splitter_sizes(name)
            if sizes and len(sizes) == sp.count() and sum(sizes) > 0:
                sp.setSizes(sizes)
        self.opacity_slider.setValue(round(100 * s.overlay_opacity))
        self.viewer.set_opacity(s.overlay_opacity)
        self.cmap_combo.setCurrentText(s.colormap)
        self.viewer.set_colormap(s.colormap)
        self.act_l1.setChecked(s.show_level1)
        self.act_l2.setChecked(s.show_level2)
        self.viewer.set_level_visible(1, s.show_level1)
        self.viewer.set_level_visible(2, s.show_level2)
        self.act_tiles.setChecked(s.show_tiles)
        self.act_three.setChecked(s.three_panes)
        auto = s.auto_analyse if self._auto_analyse_override is None else self._auto_analyse_override
        self.act_auto_analyse.blockSignals(True)
        self.act_auto_analyse.setChecked(auto)
        self.act_auto_analyse.blockSignals(False)
        self.model_panel.set_device_choice(self.service.device)
        self.theme_actions.get(s.theme, self.theme_actions["dark"]).setChecked(True)
        self._apply_view_background(s.theme)
        self._refresh_recent_menu()

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
        s.geometry = self.saveGeometry()
        s.window_state = self.saveState()
        for name, sp in self._splitters().items():
            s.set_splitter_sizes(name, sp.sizes())
        s.overlay_opacity = self.opacity_slider.value() / 100
        s.colormap = self.cmap_combo.currentText()
        s.show_level1 = self.act_l1.isChecked()
        s.show_level2 = self.act_l2.isChecked()
        s.show_tiles = self.act_tiles.isChecked()
        s.three_panes = self.act_three.isChecked()
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.save_settings()
        # Cancel and join every worker before the widgets go (none holds a Qt object, so one
        # that overruns its timeout cannot crash the app; it just finishes unseen).
        self.batch_panel.shutdown()
        self.loader.shutdown()
        self.analysis.shutdown()
        super().closeEvent(event)

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
        """Files go to the image list (first new one opens); folders to the batch panel."""
        files: list[Path] = []
        for p in (Path(x) for x in paths):
            if p.is_dir():
                if self._send_folder_to_batch(p):
                    continue
                found = sorted(f for f in p.iterdir() if f.is_file() and is_supported(f))
                if not found:
                    self.show_error(f"{p}: no supported images in this folder")
                files.extend(found)
            else:
                files.append(p)
        if not files:
            return
        known = {self.image_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.image_list.count())}
        for f in files:
            if str(f) not in known:
                item = QListWidgetItem(f.name)
                item.setData(Qt.ItemDataRole.UserRole, str(f))
                item.setToolTip(str(f))
                self.image_list.addItem(item)
                known.add(str(f))
        if len(files) > 1:
            self.tabs.setCurrentWidget(self.image_list)
        self.open_file(files[0])

    def _send_folder_to_batch(self, folder: Path) -> bool:
        bp = self.batch_panel
        try:
            n = bp.add_paths([folder])
        except FractoscopeError as exc:
            self.show_error(f"Batch: {exc}")
            return True
        self.tabs.setCurrentWidget(self.batch_tab)
        self.statusBar().showMessage(f"Batch: {n} images added from {folder.name}", 8000)
        return True

    def open_stored_result(self, image_path: str, stored_path: str) -> None:
        """Open an image with the prediction a batch run stored for it (no recomputation)."""
        self.open_file(Path(image_path), stored_prediction=Path(stored_path))

    def open_file(self, path: Path | str, stored_prediction: Path | None = None) -> None:
        """Read in the background; the image shows as soon as it is read, then (optionally) analysed.

        With ``stored_prediction`` (a batch result) that prediction is shown instead of analysing.
        """
        path = Path(path)
        self.analysis.cancel(silent=True)
        self.current_path = path
        self.settings.last_folder = str(path.parent)
        self._select_in_list(path)
        self.progress_label.setText(f"Reading {path.name}…")
        self.loader.submit(load_image_job(path, stored_prediction))

    def _select_in_list(self, path: Path) -> None:
        for i in range(self.image_list.count()):
            it = self.image_list.item(i)
            if it.data(Qt.ItemDataRole.UserRole) == str(path):
                self.image_list.blockSignals(True)
                self.image_list.setCurrentRow(i)
                self.image_list.blockSignals(False)
                return

    def _list_item_activated(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        p = Path(item.data(Qt.ItemDataRole.UserRole))
        if p != self.current_path:
            self.open_file(p)

    def step_image(self, delta: int) -> None:
        n = self.image_list.count()
        if n == 0:
            return
        row = self.image_list.currentRow()
        row = min(n - 1, max(0, (row if row >= 0 else 0) + delta))
        self.image_list.setCurrentRow(row)  # opens it through currentItemChanged

    def _image_loaded(self, loaded: LoadedImage) -> None:
        sem = loaded.sem
        self.sem = sem
        self.display_image = loaded.display
        self.result = None
        self.message_bar.hide()
        self.viewer.set_image(loaded.display, loaded.levels, loaded.pyramid)
        self.viewer.set_pixel_size(sem.calibration.pixel_size_x_m)
        self.viewer.set_tiles([])
        self.info_panel.set_image(sem)
        self.prediction_panel.clear("Not analysed yet (F5)")
        self.setWindowTitle(f"Fractoscope — {sem.name}")
        if sem.path is not None:
            self.settings.add_recent(sem.path)
            self._refresh_recent_menu()
        self.progress_label.setText("")
        self.imageLoaded.emit(sem)
        if loaded.stored is not None:
            self._show_result(loaded.stored)
        elif self.act_auto_analyse.isChecked():
            self.analyse()

    def _image_failed(self, message: str) -> None:
        name = self.current_path.name if self.current_path else "image"
        self.show_error(f"Cannot open {name}: {message}")
        self.imageFailed.emit(message)

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_files
        for i, p in enumerate(recent):
            a = self.recent_menu.addAction(f"&{(i + 1) % 10} {Path(p).name}")
            a.setToolTip(p)
            a.triggered.connect(lambda _c=False, path=p: self.open_paths([Path(path)]))
        self.recent_menu.setEnabled(bool(recent))

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
        self.result = None
        self.viewer.set_cam(1, None)
        self.viewer.set_cam(2, None)
        self.viewer.set_tiles([])
        self.prediction_panel.clear("Analysing…")
        self.progress.setValue(0)
        self.progress_label.setText("Analysing…")
        self.analysis.submit(self.service.job(self.sem))

    def cancel_analysis(self) -> None:
        if self._scale_dialog is None and self.act_set_scale.isChecked():
            self.act_set_scale.setChecked(False)  # Esc also leaves the Set scale tool
        if self.analysis.cancel():
            self.progress_label.setText("Cancelling…")

    def set_device(self, device: str) -> None:
        self.service.device = device
        self.settings.device = device
        self.model_panel.set_device_choice(device)

    def _update_busy(self, _busy: bool = False) -> None:
        busy = self.analysis.busy or self.loader.busy
        for w in (self.progress_label, self.progress):
            w.setVisible(busy)
        self.cancel_button.setVisible(self.analysis.busy)
        self.act_cancel.setEnabled(self.analysis.busy)

    def _analysis_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(1000 * fraction))
        self.progress_label.setText(f"Analysing: {message}")

    def _analysis_finished(self, result: AnalysisResult) -> None:
        if result.sem is not self.sem:
            return  # a late result for an image (or calibration) no longer shown
        self._show_result(result)

    def _show_result(self, result: AnalysisResult) -> None:
        self.result = result
        pred = result.prediction
        t = pred.taxonomy
        self.prediction_panel.set_prediction(pred)
        self.model_panel.set_model(result.model, result.device)
        self.viewer.set_cam(1, result.cams.get(1), t.display_name(pred.level1.label))
        self.viewer.set_cam(2, result.cams.get(2), t.display_name(pred.level2.label))
        l2 = t.level2
        marks = []
        for tile in pred.tiles:
            j = int(np.argmax(tile.p_level2))
            marks.append(TileMark(tile.y0, tile.x0, tile.y1, tile.x1, t.display_name(l2[j]),
                                  display.hex_colour(display.class_colour(t, l2[j])), tile.weight > 0))
        self.viewer.set_tiles(marks)
        secs = pred.timings.get("total_s")
        self.statusBar().showMessage(
            f"Analysed on {result.device}" + (f" in {secs:.1f} s" if secs else ""), 8000
        )
        self.analysisFinished.emit(pred)

    def _analysis_failed(self, message: str) -> None:
        self.prediction_panel.clear("Analysis failed")
        self.show_error(f"Analysis failed: {message}")
        self.analysisFailed.emit(message)

    def _analysis_cancelled(self) -> None:
        self.prediction_panel.clear("Analysis cancelled (F5 to run again)")
        self.statusBar().showMessage("Analysis cancelled", 5000)
        self.analysisCancelled.emit()

    def show_class_cam(self, level: int, label: str) -> None:
        """Show the Grad-CAM of any class (not only the predicted one) at its level."""
        if self.result is None or self.sem is None:
            return
        pred = self.result.prediction
        if pred.cams_level1 is None:
            self.statusBar().showMessage("This result was stored without Grad-CAM maps", 5000)
            return
        cam = pred.cam(level, label, shape=display.overlay_shape(self.sem.shape))
        self.viewer.set_cam(level, cam, pred.taxonomy.display_name(label))
        (self.act_l1 if level == 1 else self.act_l2).setChecked(True)

    # ================================================================================ view state
    def _set_level(self, level: int, on: bool) -> None:
        self.viewer.set_level_visible(level, on)
        if level == 1:
            self.settings.show_level1 = on
        else:
            self.settings.show_level2 = on

    def _set_tiles(self, on: bool) -> None:
        self.viewer.set_tiles_visible(on)
        self.settings.show_tiles = on

    def _set_three(self, on: bool) -> None:
        self.viewer.set_three_panes(on)
        self.settings.three_panes = on

    def _set_opacity(self, value: int) -> None:
        self.viewer.set_opacity(value / 100)
        self.settings.overlay_opacity = value / 100

    def _set_cmap(self, name: str) -> None:
        self.viewer.set_colormap(name)
        self.settings.colormap = name

    def _set_auto_analyse(self, on: bool) -> None:
        self.settings.auto_analyse = on

    def set_theme(self, name: str) -> None:
        app = QApplication.instance()
        if app is not None:
            theme.apply_theme(app, name)
        self.settings.theme = name
        self.theme_actions[name].setChecked(True)
        self._apply_view_background(name)

    def _apply_view_background(self, name: str) -> None:
        bg = theme.VIEW_BACKGROUND.get(name, theme.VIEW_BACKGROUND["dark"])
        for pane in self.viewer.panes:
            pane.setBackground(bg)
        self.viewer.histogram.setBackground(bg)

    def _update_zoom_label(self, *_: object) -> None:
        if self.viewer.image_shape is not None:
            self.zoom_label.setText(f"zoom {100 * self.viewer.zoom_factor():.0f} %")

    # ================================================================================ cursor
    def _cursor_moved(self, x: float, y: float) -> None:
        sem = self.sem
        if sem is None:
            return
        rows, cols = sem.shape
        col, row = math.floor(x), math.floor(y)
        inside = 0 <= col < cols and 0 <= row < rows
        cal = sem.calibration
        readout: dict = {"x_px": x, "y_px": y, "inside": inside}
        parts = []
        if cal.is_calibrated:
            xu = x * cal.pixel_size_x_m * 1e6
            yu = y * (cal.pixel_size_y_m or cal.pixel_size_x_m) * 1e6
            readout.update(x_um=xu, y_um=yu)
            parts.append(f"x {xu:.3f} µm  y {yu:.3f} µm")
        parts.append(f"({col}, {row}) px")
        if inside:
            v = sem.image[row, col]
            readout["value"] = v.tolist() if np.ndim(v) else float(v)
            parts.append("value " + (", ".join(display.value_text(float(c)) for c in np.ravel(v))))
            for lv in (1, 2):
                cam = self.viewer.cams.get(lv)
                if cam is not None:
                    c = display.sample_map(cam, (rows, cols), x, y)
                    readout[f"cam{lv}"] = c
                    parts.append(f"CAM{lv} {c:.2f}")
        self.cursor_readout = readout
        self.cursor_label.setText("   ".join(parts))

    # ================================================================================ set scale
    def _set_measure(self, on: bool) -> None:
        if on and self.sem is None:
            self.act_set_scale.setChecked(False)
            return
        self.viewer.panes[0].vb.set_measure_mode(on)
        if on:
            self.statusBar().showMessage(
                "Set scale: drag a line over the scale bar in the left pane (Shift = horizontal), Esc to stop"
            )
        else:
            self.statusBar().clearMessage()

    def _scale_line_drawn(self, p0: QPointF, p1: QPointF) -> None:
        length = math.hypot(p1.x() - p0.x(), p1.y() - p0.y())
        if length < 3:
            self.statusBar().showMessage("Set scale: the line is too short, drag along the scale bar", 5000)
            return
        self.open_scale_dialog(length)

    def open_scale_dialog(self, length_px: float) -> SetScaleDialog:
        dlg = SetScaleDialog(length_px, self.sem.calibration if self.sem else None, self)
        dlg.accepted.connect(lambda: self._scale_accepted(dlg))
        dlg.finished.connect(lambda _r: setattr(self, "_scale_dialog", None))
        self._scale_dialog = dlg
        dlg.open()  # window-modal, non-blocking: the event loop keeps running
        return dlg

    def _scale_accepted(self, dlg: SetScaleDialog) -> None:
        try:
            cal = dlg.calibration()
        except FractoscopeError as exc:
            self.show_error(f"Set scale: {exc}")
            return
        self.apply_calibration(cal)

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
        """The visible panes as an image (overlay, grid and scale bars burned in)."""
        return self.viewer.splitter.grab().toImage()

    def export_view(self, path: str | Path) -> Path:
        path = Path(path)
        if path.suffix.lower() not in (".png", ".tif", ".tiff"):
            path = path.with_suffix(".png")
        img = self.render_view()
        fmt = "TIFF" if path.suffix.lower() in (".tif", ".tiff") else "PNG"
        if not img.save(str(path), fmt):
            raise FractoscopeError(f"cannot write {path}")
        return path

    def export_view_dialog(self) -> None:
        if self.sem is None:
            self.show_error("Open an image first.", error=False)
            return
        stem = self.sem.path.stem if self.sem.path else "view"
        start = str(Path(self.settings.last_folder or ".") / f"{stem}-view.png")
        path, _ = QFileDialog.getSaveFileName(self, "Export view", start, EXPORT_FILTER)
        if path:
            try:
                out = self.export_view(path)
            except FractoscopeError as exc:
                self.show_error(f"Export failed: {exc}")
            else:
                self.statusBar().showMessage(f"Saved {out}", 8000)

    def export_report(self, path: str | Path, meta=None, page_size: str = "A4") -> Path:
        """Write the PDF failure report of the current analysis (fractoscope.report.pdf)."""
        from fractoscope.report.data import ReportMeta
        from fractoscope.report.pdf import write_image_report

        if self.result is None or self.sem is None:
            raise FractoscopeError("analyse an image before exporting a report")
        if meta is None:
            meta = ReportMeta(sample_id=self.sem.path.stem if self.sem.path else "")
        return write_image_report(Path(path), self.sem, self.result.prediction, meta, page_size)

    def export_report_dialog(self) -> None:
        if self.result is None or self.sem is None:
            self.show_error("Analyse an image before exporting a report.", error=False)
            return
        from fractoscope.gui.report_dialog import ask_report_meta
        from fractoscope.report.data import ReportMeta

        stem = self.sem.path.stem if self.sem.path else "report"
        asked = ask_report_meta(self, ReportMeta(sample_id=stem))
        if asked is None:
            return
        meta, page_size = asked
        start = str(Path(self.settings.last_folder or ".") / f"{stem}-report.pdf")
        path, _ = QFileDialog.getSaveFileName(self, "Export report", start, "PDF (*.pdf)")
        if not path:
            return
        try:
            out = self.export_report(path, meta, page_size)
        except ImportError:
            self.show_error("PDF reports are not available in this build.")
        except FractoscopeError as exc:
            self.show_error(f"Report failed: {exc}")
        else:
            self.statusBar().showMessage(f"Saved {out}", 8000)

    # ================================================================================ misc
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

        self.show_error(
            f"Fractoscope {__version__}: SEM fractography with hierarchical Grad-CAM. "
            "Keys: 1/2 overlays, T tiles, 3 three panes, F fit, Ctrl+1 100 %, +/- zoom, "
            "A/R contrast, S set scale, F5 analyse, Esc cancel, PgUp/PgDown images.",
            error=False,
        )
