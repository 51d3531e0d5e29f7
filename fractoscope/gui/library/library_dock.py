"""The reference library dock: labelled images by class, with counts and thumbnails; "Label as…"
for the current image; remove / relabel; "Update model" (adapt) with progress and Cancel.

The library is a folder tree ``level1/level2/*`` (see ``fractoscope.adapt.library``); its location
is a preference (QSettings key ``library/root``). Adding copies the image; nothing outside the
library is ever moved or deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, QStandardPaths, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fractoscope.adapt.dataset import UNTRAINED_CHILD_SUFFIX
from fractoscope.adapt.library import ReferenceLibrary
from fractoscope.errors import FractoscopeError
from fractoscope.gui.library.adapt_worker import AdaptController, AdaptSummary, thumbnails_job
from fractoscope.gui.worker import JobQueue

ROOT_KEY = "library/root"
PATH_ROLE = Qt.ItemDataRole.UserRole + 10
THUMB = 64


def default_library_root() -> Path:
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(docs or Path.home()) / "Fractoscope library"


def library_root(settings) -> Path:
    """The library folder from the preferences (``settings`` is an AppSettings)."""
    v = settings.q.value(ROOT_KEY, None)
    return Path(str(v)) if v else default_library_root()


def set_library_root(settings, root: str | Path) -> None:
    settings.q.setValue(ROOT_KEY, str(root))


def grey_pixmap(thumb: np.ndarray) -> QPixmap:
    """A QPixmap of a (h, w) uint8 array (copied: the QImage must not outlive the numpy buffer)."""
    a = np.ascontiguousarray(thumb, dtype=np.uint8)
    h, w = a.shape
    img = QImage(a.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(img)


def _name(taxonomy, label: str | None) -> str:
    if label is None:
        return "(no morphology)"
    return taxonomy.display_name(label) if taxonomy is not None else label.replace("_", " ").capitalize()


def build_label_menu(
    parent: QWidget,
    taxonomy,
    library: ReferenceLibrary | None,
    on_pick: Callable[[str, str | None], None],
    title: str = "Label as…",
    menu: QMenu | None = None,
) -> QMenu:
    """The class tree as a menu: every mechanism -> its morphologies, from the model's taxonomy
    and the library's own classes, plus "New class…". ``on_pick(level1, level2 or None)``.
    Fills ``menu`` (cleared first) when given, else a new one."""
    if menu is None:
        menu = QMenu(title, parent)
    else:
        menu.clear()
    tree: dict[str, list[str | None]] = {}
    if taxonomy is not None:
        for l1 in taxonomy.level1:
            # A level-1-only model's placeholder morphologies are not classes to label with.
            tree[l1] = [c for c in taxonomy.children(l1) if not c.endswith(UNTRAINED_CHILD_SUFFIX)]
    if library is not None:
        for l1, kids in library.counts().items():
            cur = tree.setdefault(l1, [])
            for k in kids:
                if k not in cur:
                    cur.append(k)
    for l1, kids in tree.items():
        sub = menu.addMenu(_name(taxonomy, l1))
        for k in kids:
            act = sub.addAction(_name(taxonomy, k) if k else "(mechanism only)")
            act.triggered.connect(lambda _c=False, a=l1, b=k: on_pick(a, b))
        if None not in kids:
            if kids:
                sub.addSeparator()
            act = sub.addAction("Mechanism only (no morphology)")
            act.triggered.connect(lambda _c=False, a=l1: on_pick(a, None))
    menu.addSeparator()
    new = menu.addAction("New class…")
    new.triggered.connect(lambda: _ask_new_class(parent, on_pick))
    return menu


def _ask_new_class(parent: QWidget, on_pick: Callable[[str, str | None], None]) -> None:
    text, ok = QInputDialog.getText(
        parent, "New class", "Mechanism / morphology (for example  fatigue/striations  or  hydrogen_embrittlement):"
    )
    if not ok or not text.strip():
        return
    parts = [p.strip().replace(" ", "_") for p in text.strip().split("/") if p.strip()]
    on_pick(parts[0], parts[1] if len(parts) > 1 else None)


class LibraryWidget(QWidget):
    """Classes -> morphologies -> images (thumbnails); counts in the class rows."""

    openImage = Signal(str)
    libraryChanged = Signal()
    modelReady = Signal(str)  # path of a newly adapted model
    message = Signal(str)

    def __init__(self, root: str | Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = ReferenceLibrary(root)
        self.taxonomy = None  # the active model's, for display names and the Label-as menu
        self.base_model: str | None = None  # what "Update model" adapts (None = bundled)
        self.device = "auto"
        self.cache_dir: str | None = None
        self.last_summary: AdaptSummary | None = None
        self._thumbs: dict[str, QIcon] = {}
        self.thumbs = JobQueue("thumbnails", self)
        self.thumbs.finished.connect(self._thumbs_ready)
        self.adapter = AdaptController(self)
        self.adapter.progress.connect(self._adapt_progress)
        self.adapter.finished.connect(self._adapt_finished)
        self.adapter.failed.connect(self._adapt_failed)
        self.adapter.cancelled.connect(self._adapt_cancelled)
        self.adapter.busyChanged.connect(self._busy)

        self.root_label = QLabel()
        self.root_label.setWordWrap(True)
        self.root_label.setStyleSheet("color: gray;")
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Class", "Images"])
        self.tree.setIconSize(QSize(THUMB, THUMB))
        self.tree.setColumnWidth(0, 220)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.tree.itemActivated.connect(self._activated)
        self.tree.setToolTip("Double-click an image to open it; right-click to relabel or remove it")
        self.update_button = QPushButton("Update model")
        self.update_button.setToolTip("Fit the model's heads to the library's images (seconds when cached)")
        self.update_button.clicked.connect(self.update_model)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.adapter.cancel)
        self.cancel_button.setVisible(False)
        self.folder_button = QPushButton("Folder…")
        self.folder_button.setToolTip("Choose the library folder")
        self.folder_button.clicked.connect(self._choose_root)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.update_button, 1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.folder_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.root_label)
        lay.addWidget(self.tree, 1)
        lay.addLayout(row)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        self.refresh()

    # --- contents -------------------------------------------------------------------------
    def set_root(self, root: str | Path) -> None:
        self.library = ReferenceLibrary(root, cache_dir=self.cache_dir)
        self._thumbs.clear()
        self.refresh()

    def set_taxonomy(self, taxonomy) -> None:
        self.taxonomy = taxonomy
        self.refresh()

    def refresh(self) -> None:
        self.library.cache_dir = self.cache_dir
        self.root_label.setText(f"Library: {self.library.root}")
        self.tree.clear()
        entries = self.library.entries()
        by_class: dict[str, dict[str | None, list]] = {}
        for e in entries:
            by_class.setdefault(e.level1, {}).setdefault(e.level2, []).append(e)
        for l1, kids in by_class.items():
            n1 = sum(len(v) for v in kids.values())
            it1 = QTreeWidgetItem([_name(self.taxonomy, l1), str(n1)])
            it1.setData(0, PATH_ROLE, None)
            self.tree.addTopLevelItem(it1)
            for l2, items in kids.items():
                parent = it1
                if l2 is not None:
                    parent = QTreeWidgetItem([_name(self.taxonomy, l2), str(len(items))])
                    it1.addChild(parent)
                for e in items:
                    leaf = QTreeWidgetItem([e.path.name, ""])
                    leaf.setData(0, PATH_ROLE, str(e.path))
                    leaf.setToolTip(0, str(e.path))
                    icon = self._thumbs.get(str(e.path))
                    if icon is not None:
                        leaf.setIcon(0, icon)
                    parent.addChild(leaf)
        self.tree.expandAll()  # the thumbnails are the point of the list
        self.tree.resizeColumnToContents(1)
        if not entries:
            self.status.setText('Empty. Label images with "Label as…" (prediction panel or Library menu).')
        elif not self.adapter.busy:
            self.status.setText(f"{len(entries)} labelled images in {len(by_class)} classes.")
        self.update_button.setEnabled(len(by_class) >= 2 and not self.adapter.busy)
        missing = [str(e.path) for e in entries if str(e.path) not in self._thumbs]
        if missing:
            self.thumbs.submit(thumbnails_job(missing, THUMB))

    def _thumbs_ready(self, thumbs: dict) -> None:
        for p, arr in thumbs.items():
            self._thumbs[p] = QIcon(grey_pixmap(arr))
        for it in self._leaves():
            icon = self._thumbs.get(it.data(0, PATH_ROLE))
            if icon is not None:
                it.setIcon(0, icon)

    def _leaves(self) -> list[QTreeWidgetItem]:
        out, stack = [], [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        while stack:
            it = stack.pop()
            if it.data(0, PATH_ROLE):
                out.append(it)
            stack += [it.child(i) for i in range(it.childCount())]
        return out

    def counts(self) -> dict:
        return self.library.counts()

    # --- labelling ---------------------------------------------------------------------------
    def label_image(self, path: str | Path, level1: str, level2: str | None) -> Path | None:
        """Copy ``path`` into the library under (level1, level2); reports errors in one line."""
        try:
            dst = self.library.add(path, level1, level2)
        except FractoscopeError as exc:
            self.message.emit(str(exc))
            return None
        label = _name(self.taxonomy, level1) + (f" → {_name(self.taxonomy, level2)}" if level2 else "")
        self.message.emit(f"Added {Path(path).name} to the library as {label}")
        self.refresh()
        self.libraryChanged.emit()
        return dst

    def label_menu(self, path_fn: Callable[[], str | None], parent: QWidget | None = None) -> QMenu:
        """"Label as…" for whatever image ``path_fn()`` names when a class is picked."""

        def pick(l1: str, l2: str | None) -> None:
            p = path_fn()
            if p:
                self.label_image(p, l1, l2)
            else:
                self.message.emit("Open an image first")

        return build_label_menu(parent or self, self.taxonomy, self.library, pick)

    def remove(self, path: str | Path, confirm: bool = True) -> bool:
        if confirm:
            ans = QMessageBox.question(
                self, "Remove from library",
                f"Delete the library's copy of {Path(path).name}? (The original image is not touched.)",
            )
            if ans != QMessageBox.StandardButton.Yes:
                return False
        try:
            self.library.remove(path)
        except FractoscopeError as exc:
            self.message.emit(str(exc))
            return False
        self._thumbs.pop(str(path), None)
        self.refresh()
        self.libraryChanged.emit()
        return True

    def relabel(self, path: str | Path, level1: str, level2: str | None) -> Path | None:
        try:
            dst = self.library.relabel(path, level1, level2)
        except FractoscopeError as exc:
            self.message.emit(str(exc))
            return None
        icon = self._thumbs.pop(str(path), None)
        if icon is not None:
            self._thumbs[str(dst)] = icon
        self.refresh()
        self.libraryChanged.emit()
        return dst

    def _context_menu(self, pos) -> None:
        it = self.tree.itemAt(pos)
        path = it.data(0, PATH_ROLE) if it is not None else None
        if not path:
            return
        menu = QMenu(self)
        menu.addAction("Open", lambda: self.openImage.emit(path))
        relabel = build_label_menu(menu, self.taxonomy, self.library, lambda a, b: self.relabel(path, a, b), "Relabel as…")
        menu.addMenu(relabel)
        menu.addSeparator()
        menu.addAction("Remove from library…", lambda: self.remove(path))
        menu.exec(self.tree.viewport().mapToGlobal(pos))

    def _activated(self, item: QTreeWidgetItem, _col: int) -> None:
        path = item.data(0, PATH_ROLE)
        if path:
            self.openImage.emit(path)

    def _choose_root(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Reference library folder", str(self.library.root))
        if d:
            self.set_root(d)
            self.libraryChanged.emit()

    # --- update model ------------------------------------------------------------------------
    def update_model(self) -> Path | None:
        if self.adapter.busy:
            return None
        if len(self.library.counts()) < 2:
            self.message.emit("The library needs images of at least two classes to update the model")
            return None
        self.status.setText("Updating the model…")
        return self.adapter.start(self.library.root, self.base_model, self.device, self.cache_dir)

    def _busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.update_button.setEnabled(not busy and len(self.library.counts()) >= 2)
        if busy:
            self.progress.setValue(0)

    def _adapt_progress(self, frac: float, msg: str) -> None:
        self.progress.setValue(int(frac * 1000))
        self.status.setText(msg)

    def _adapt_finished(self, summary: AdaptSummary) -> None:
        self.last_summary = summary
        self.status.setText(summary.text())
        self.modelReady.emit(summary.weights)

    def _adapt_failed(self, message: str) -> None:
        self.status.setText(f"Update failed: {message}")
        self.message.emit(f"Update model failed: {message}")

    def _adapt_cancelled(self) -> None:
        self.status.setText("Update cancelled")

    def shutdown(self) -> None:
        self.thumbs.shutdown(5000)
        self.adapter.shutdown(30000)


class LibraryDock(QDockWidget):
    """Dockable frame around LibraryWidget (object name for saveState)."""

    def __init__(self, root: str | Path, parent: QWidget | None = None) -> None:
        super().__init__("Reference library", parent)
        self.setObjectName("library_dock")
        self.widget_ = LibraryWidget(root, self)
        self.setWidget(self.widget_)


__all__ = [
    "LibraryDock",
    "LibraryWidget",
    "build_label_menu",
    "default_library_root",
    "grey_pixmap",
    "library_root",
    "set_library_root",
]
