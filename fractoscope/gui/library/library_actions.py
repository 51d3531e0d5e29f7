"""Wires the reference library into the main window: the library dock, "Label as…", "Update
model" with the switch to the new model, the model menu (bundled + every adapted model, so earlier
ones stay selectable), the active model in the status bar, and "Similar labelled images".

``install_library(window)`` is all the window calls; everything else lives here so the window
file stays small. Only GUI-thread code: workers are the JobQueues of the widgets it creates.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QMenu, QMessageBox, QToolBar, QToolButton

from fractoscope.gui.library.adapt_worker import AdaptSummary, list_models, models_dir_for
from fractoscope.gui.library.library_dock import LibraryDock, library_root, set_library_root
from fractoscope.gui.library.similar_panel import SimilarPanel
from fractoscope.gui.library.teach_dialog import TeachDialog
from fractoscope.gui.settings import TEACH_WINDOW
from fractoscope.gui.worker import JobQueue, load_image_job


def _card(path: str | Path | None) -> dict:
    if not path:
        return {}
    try:
        return json.loads(Path(path).with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def model_label(path: str | Path | None) -> str:
    """How the status bar and the model menu name a checkpoint: always whether it was adapted to
    the lab's images (and from which base)."""
    if not path:
        from fractoscope.model.checkpoint import default_model_path

        try:
            return f"{default_model_path().stem} (bundled, not adapted)"
        except Exception:  # noqa: BLE001 - a missing bundle shows up when the model loads
            return "bundled model (not adapted)"
    card = _card(path)
    base = card.get("adaptation", {}).get("base_model", {}).get("name")
    return f"{Path(path).stem} (adapted from {base})" if base else f"{Path(path).stem} (not adapted)"


def is_adapted(path: str | Path | None) -> bool:
    return bool(path) and bool(_card(path).get("adaptation"))


class LibraryFeature(QObject):
    """The library's part of the main window (see module doc)."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.w = window
        self.bundled_path = window.service.model_path  # what the window started with
        root = library_root(window.settings)
        self.dock = LibraryDock(root, window)
        self.lib = self.dock.widget_
        self.lib.base_model = str(self.bundled_path) if self.bundled_path else None
        self.lib.device = window.service.device
        self._share_library()
        window.add_dock_widget(self.dock, shortcut="Ctrl+L")  # also calls the dock's shutdown
        window.add_shutdown(self.shutdown)
        self.similar = SimilarPanel(window)
        self.reference_loader = JobQueue("reference", self)
        self.reference_loader.finished.connect(self._reference_loaded)
        self.reference_loader.failed.connect(lambda m: window.show_error(f"Cannot open the reference image: {m}"))

        self.lib.openImage.connect(lambda p: window.open_paths([Path(p)]))
        self.lib.message.connect(lambda m: window.statusBar().showMessage(m, 8000))
        self.lib.modelReady.connect(self._model_ready)
        self.lib.libraryChanged.connect(self._library_changed)
        self.similar.openReference.connect(self.show_reference)
        self.similar.back_button.clicked.connect(self.clear_reference)
        window.analysisFinished.connect(self._analysed)
        window.imageLoaded.connect(self._image_loaded)

        self.model_status = QLabel()
        self.model_status.setToolTip("The model that analyses the images (Library ▸ Model)")
        window.statusBar().addPermanentWidget(self.model_status)
        self.teach: TeachDialog | None = None
        self._hinted = False  # the one-time "teach it" notice of a session
        self._build_menu()
        self._build_panel_actions()
        self._show_active_model()

    # --- menus --------------------------------------------------------------------------------
    def _build_menu(self) -> None:
        w = self.w
        self.label_menu = QMenu("&Label as…", w)
        self.label_menu.aboutToShow.connect(self._fill_label_menu)
        m = w.add_menu("&Library")
        m.addMenu(self.label_menu)
        self.act_update = QAction("&Update model from library", w)
        self.act_update.setShortcut(QKeySequence("Ctrl+U"))
        self.act_update.triggered.connect(self.lib.update_model)
        m.addAction(self.act_update)
        self.act_teach = QAction("&Teach it your lab…", w)
        self.act_teach.setShortcut(QKeySequence("Ctrl+Shift+T"))
        self.act_teach.setStatusTip("Add a few of your own labelled images per mechanism and adapt the model to them")
        self.act_teach.triggered.connect(self.open_teach)
        m.addAction(self.act_teach)
        w.addAction(self.act_teach)
        self.act_folder = QAction("Library &folder…", w)
        self.act_folder.triggered.connect(self._choose_folder)
        m.addAction(self.act_folder)
        m.addSeparator()
        m.addAction(self.dock.toggleViewAction())
        self.model_menu = QMenu("&Model", w)
        self.model_menu.aboutToShow.connect(self._fill_model_menu)
        m.addMenu(self.model_menu)
        # "Label as…" beside the prediction it corrects or confirms.
        self.label_button = QToolButton()
        self.label_button.setText("Label as…")
        self.label_button.setToolTip("Add this image to the reference library under a class")
        self.label_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.label_button.setMenu(self.label_menu)
        # In the toolbar (not inside the prediction panel: its tree keeps all its height), and
        # on a right-click in the prediction tree.
        bar = w.findChild(QToolBar, "main_toolbar")
        if bar is not None:
            bar.addSeparator()
            bar.addWidget(self.label_button)
        panel = getattr(w, "prediction_panel", None)
        tree = getattr(panel, "tree", None)
        if tree is not None:
            tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            tree.customContextMenuRequested.connect(
                lambda pos: (self._fill_label_menu(), self.label_menu.exec(tree.viewport().mapToGlobal(pos)))
            )
        tabs = getattr(w, "tabs", None)
        if tabs is not None:
            tabs.addTab(self.similar, "Similar")

    def _build_panel_actions(self) -> None:
        """Beside a result the model does not recognise: Label as… and Teach it your lab…
        (the prediction panel shows this row only for flagged results)."""
        panel = getattr(self.w, "prediction_panel", None)
        if panel is None or not hasattr(panel, "actions_layout"):
            return
        self.panel_label_button = QToolButton()
        self.panel_label_button.setText("Label as…")
        self.panel_label_button.setToolTip("You know what it is: add this image to the reference library under its class")
        self.panel_label_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.panel_label_button.setMenu(self.label_menu)
        self.teach_button = QToolButton()
        self.teach_button.setText("Teach it your lab…")
        self.teach_button.setToolTip(self.act_teach.statusTip() + " (Ctrl+Shift+T)")
        self.teach_button.clicked.connect(self.open_teach)
        lay = panel.actions_layout
        lay.insertWidget(0, self.teach_button)
        lay.insertWidget(0, self.panel_label_button)
        panel.showSimilar.connect(self.show_similar_tab)

    def open_teach(self) -> TeachDialog:
        """The guided "Teach it your lab" flow (one dialog; raised again if already open)."""
        if self.teach is not None and self.teach.isVisible():
            self.teach.raise_()
            self.teach.activateWindow()
            return self.teach
        path = getattr(self.w, "current_path", None)
        self.teach = TeachDialog(self.lib, self._taxonomy(), path, self.w)
        self.w.settings.restore_window(self.teach, TEACH_WINDOW)  # where the analyst last left it
        res = getattr(self.w, "result", None)
        if res is not None:  # start on the class the model guessed: often the right mechanism
            pred = res.prediction
            self.teach.select_class(pred.level1.label, pred.level2.label if pred.has_level2 else None)
        self.teach.modelChosen.connect(self.set_model)
        self.teach.finished.connect(self._teach_closed)
        self.teach.open()
        return self.teach

    def _teach_closed(self, _result: int) -> None:
        if self.teach is not None:
            self.w.settings.save_window(self.teach, TEACH_WINDOW)
            self.teach.shutdown()

    def show_similar_tab(self) -> None:
        tabs = getattr(self.w, "tabs", None)
        if tabs is not None:
            tabs.setCurrentWidget(self.similar)

    def _fill_label_menu(self) -> None:
        from fractoscope.gui.library.library_dock import build_label_menu

        build_label_menu(self.w, self._taxonomy(), self.lib.library, self._label_current, menu=self.label_menu)

    def _fill_model_menu(self) -> None:
        self.model_menu.clear()
        group = QActionGroup(self.model_menu)
        active = str(self.w.service.model_path or "")
        choices = [self.bundled_path] + [p for p in list_models(models_dir_for(self.lib.library.root))]
        for p in choices:
            a = QAction(model_label(p), self.model_menu, checkable=True)
            a.setChecked(str(p or "") == active)
            a.triggered.connect(lambda _c=False, path=p: self.set_model(path))
            group.addAction(a)
            self.model_menu.addAction(a)

    def _taxonomy(self):
        res = getattr(self.w, "result", None)
        if res is not None:
            return res.prediction.taxonomy
        from fractoscope.model.taxonomy import Taxonomy

        return Taxonomy.default()

    def _label_current(self, level1: str, level2: str | None) -> None:
        path = getattr(self.w, "current_path", None)
        if not path:
            self.w.statusBar().showMessage("Open an image first", 5000)
            return
        self.lib.label_image(path, level1, level2)

    def _choose_folder(self) -> None:
        self.lib._choose_root()  # noqa: SLF001 - the dock's own dialog
        set_library_root(self.w.settings, self.lib.library.root)
        self._share_library()

    def _share_library(self) -> None:
        """The analysis service adjusts single images to the library's lab statistics (plain
        paths: it opens the library in its own thread)."""
        self.w.service.library_root = Path(self.lib.library.root)
        cache = self.lib.cache_dir
        self.w.service.library_cache_dir = Path(cache) if cache else None

    # --- models -----------------------------------------------------------------------------------
    def active_model(self) -> str | None:
        p = self.w.service.model_path
        return str(p) if p else None

    def set_model(self, path: str | Path | None) -> None:
        """Analyse with ``path`` from now on (None = the model the window started with)."""
        svc = self.w.service
        new = str(path) if path else None
        if str(svc.model_path or "") == str(new or ""):
            return
        svc.set_model_path(new)
        self._show_active_model()
        self.w.statusBar().showMessage(f"Model: {model_label(new)}", 8000)
        if getattr(self.w, "sem", None) is not None:
            self.w.analyse()

    def _show_active_model(self) -> None:
        self.model_status.setText(f"Model: {model_label(self.active_model())}")

    def _model_ready(self, weights: str) -> None:
        if self.teach is not None and self.teach.updating:
            return  # asked for in "Teach it your lab": it switches to the model itself
        s: AdaptSummary | None = self.lib.last_summary
        text = (s.text() if s else f"New model {Path(weights).stem}") + "\n\nUse the new model now?"
        box = QMessageBox(QMessageBox.Icon.Question, "Model updated", text,
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self.w)
        box.setDefaultButton(QMessageBox.StandardButton.Yes)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.finished.connect(lambda r: self.set_model(weights) if r == QMessageBox.StandardButton.Yes else None)
        self._question = box
        box.open()

    # --- similar images -----------------------------------------------------------------------------
    def _analysed(self, pred) -> None:
        if self.lib.taxonomy is not pred.taxonomy:
            self.lib.set_taxonomy(pred.taxonomy)
        n = len(self.lib.library)
        panel = getattr(self.w, "prediction_panel", None)
        if panel is not None and hasattr(panel, "set_library_images"):
            panel.set_library_images(n)
        flagged = bool(pred.confidence is not None and pred.confidence.uncertain)
        if flagged and n == 0 and not self._hinted and not is_adapted(self.active_model()):
            # The first result the bundled model does not recognise: say what to do about it.
            self._hinted = True
            self.w.message_bar.show_message(  # the bar only: the status bar keeps the model's name
                "Not recognised with confidence. The bundled model has not seen your lab's surfaces: "
                "label this image (Label as…) or teach it a few of your images (Teach it your lab…).",
                error=False,
            )
        if n == 0:
            self.similar.clear('The reference library is empty: label images with "Label as…".')
            return
        if flagged:
            tabs = getattr(self.w, "tabs", None)
            if tabs is not None and tabs.currentWidget() is not getattr(self.w, "batch_tab", None):
                tabs.setCurrentWidget(self.similar)  # the evidence beside a result it does not know
        self.similar.request(pred, self.lib.library.root, self.active_model(), self.w.service.device,
                             self.lib.cache_dir)

    def report_evidence(self, pred) -> tuple[list, tuple[str, int]]:
        """(similar library images of ``pred``, (library folder, labelled images)) for the PDF
        report: the Similar tab's images when they are this prediction's, else the neighbours
        among the cached library features (no model run in the GUI thread)."""
        lib = self.lib.library
        n = len(lib)
        items: list = []
        if n:
            if self.similar.prediction is pred and self.similar.items:
                items = list(self.similar.items)
            else:
                from fractoscope.errors import FractoscopeError

                try:
                    items = lib.similar(pred, k=self.similar.k)
                except FractoscopeError:
                    items = []
        return items, (str(lib.root), n)

    def _image_loaded(self, _sem) -> None:
        self.similar.back_button.setVisible(False)  # a new image resets the second pane
        self.similar.clear("Analyse the image to find similar labelled images.")

    def _library_changed(self) -> None:
        set_library_root(self.w.settings, self.lib.library.root)
        self._share_library()
        res = getattr(self.w, "result", None)
        if res is not None:
            self._analysed(res.prediction)

    def show_reference(self, path: str) -> None:
        """Open a library image in the second pane, beside the current one."""
        self.reference_loader.submit(load_image_job(Path(path)))

    def _reference_loaded(self, loaded) -> None:
        item = next((s for s in self.similar.items if Path(s.path) == Path(loaded.sem.path)), None)
        title = f"Reference: {Path(loaded.sem.path).name}"
        if item is not None:
            t = self.similar.taxonomy
            name = t.display_name(item.level1) if t and item.level1 in t.level1 else item.level1
            if item.level2:
                name += " → " + (t.display_name(item.level2) if t and item.level2 in t.level2 else item.level2)
            title = f"Reference: {name} (similarity {item.similarity:.2f})"
        viewer = self.w.viewer
        viewer.show_reference(loaded.display, loaded.levels, loaded.pyramid, title,
                              loaded.sem.calibration.pixel_size_m)
        self.similar.back_button.setVisible(True)
        self.w.statusBar().showMessage(title, 8000)

    def clear_reference(self) -> None:
        self.w.viewer.clear_reference()
        self.similar.back_button.setVisible(False)

    def shutdown(self) -> None:
        if self.teach is not None and self.teach.isVisible():  # the window closes over it
            self.w.settings.save_window(self.teach, TEACH_WINDOW)
        self.similar.shutdown()
        self.reference_loader.shutdown(5000)


def install_library(window) -> LibraryFeature:
    return LibraryFeature(window)


__all__ = ["LibraryFeature", "install_library", "is_adapted", "model_label"]
