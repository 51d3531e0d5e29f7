"""The images of a session: the list to step through, opening (read in the background), recent
files, and folders handed to the batch panel.

``FileListController`` owns the loader ``JobQueue`` and the ``QListWidget``; the window hears
``loaded`` / ``failed`` and shows the image. Bad files are named once in their message.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QMenu

from fractoscope.errors import FractoscopeError
from fractoscope.gui.worker import JobQueue, LoadedImage, load_image_job


def without_path_prefix(message: str, path: Path) -> str:
    """``"x.tif: not an image"`` -> ``"not an image"`` (the caller names the file once)."""
    for prefix in (str(path), path.name):
        for sep in (": ", ":"):
            if message.startswith(prefix + sep):
                return message[len(prefix) + len(sep):].strip()
    return message


class FileListController(QObject):
    opening = Signal(object)  # Path being read
    loaded = Signal(object)  # LoadedImage
    failed = Signal(str)  # one line naming the file once
    notice = Signal(str, bool)  # text, is_error
    folderQueued = Signal(str, int)  # folder name, images added to the batch panel

    def __init__(self, settings, batch_panel, recent_menu: QMenu, parent: QObject) -> None:
        super().__init__(parent)
        self.settings = settings
        self.batch_panel = batch_panel
        self.recent_menu = recent_menu
        self.current_path: Path | None = None
        self.list = QListWidget()
        self.list.setToolTip("Images to step through (PgUp / PgDown); drop files here or on the window")
        self.loader = JobQueue("load", self)
        self.loader.finished.connect(self._loaded)
        self.loader.failed.connect(self._failed)
        self.list.itemActivated.connect(self._activated)
        self.list.currentItemChanged.connect(lambda cur, _prev: self._activated(cur))
        self.refresh_recent_menu()

    # --- opening ---------------------------------------------------------------------------------
    def open_paths(self, paths: list[Path | str]) -> bool:
        """Files go to the list (the first opens); folders to the batch panel. True when a file
        is being opened."""
        files: list[Path] = []
        for p in (Path(x) for x in paths):
            if p.is_dir():
                self._send_folder_to_batch(p)
            else:
                files.append(p)
        if not files:
            return False
        known = {self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())}
        for f in files:
            if str(f) not in known:
                item = QListWidgetItem(f.name)
                item.setData(Qt.ItemDataRole.UserRole, str(f))
                item.setToolTip(str(f))
                self.list.addItem(item)
                known.add(str(f))
        self.open_file(files[0])
        return True

    def _send_folder_to_batch(self, folder: Path) -> None:
        try:
            n = self.batch_panel.add_paths([folder])
        except FractoscopeError as exc:
            self.notice.emit(f"Batch: {exc}", True)
            return
        self.folderQueued.emit(folder.name, n)

    def open_file(self, path: Path | str, stored_prediction: Path | None = None) -> None:
        """Read in the background; ``loaded`` follows (with a batch's stored prediction if given)."""
        path = Path(path)
        self.current_path = path
        self.settings.last_folder = str(path.parent)
        self._select(path)
        self.opening.emit(path)
        self.loader.submit(load_image_job(path, stored_prediction))

    def step(self, delta: int) -> None:
        n = self.list.count()
        if n == 0:
            return
        row = self.list.currentRow()
        row = min(n - 1, max(0, (row if row >= 0 else 0) + delta))
        self.list.setCurrentRow(row)  # opens it through currentItemChanged

    def _select(self, path: Path) -> None:
        for i in range(self.list.count()):
            it = self.list.item(i)
            if it.data(Qt.ItemDataRole.UserRole) == str(path):
                self.list.blockSignals(True)
                self.list.setCurrentRow(i)
                self.list.blockSignals(False)
                return

    def _activated(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        p = Path(item.data(Qt.ItemDataRole.UserRole))
        if p != self.current_path:
            self.open_file(p)

    def _loaded(self, loaded: LoadedImage) -> None:
        if loaded.sem.path is not None:
            self.settings.add_recent(loaded.sem.path)
            self.refresh_recent_menu()
        self.loaded.emit(loaded)

    def _failed(self, message: str) -> None:
        path = self.current_path
        if path is None:
            self.failed.emit(f"Cannot open the image: {message}")
            return
        self.failed.emit(f"Cannot open {path.name}: {without_path_prefix(message, path)}")

    # --- recent files ----------------------------------------------------------------------------
    def refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_files
        for i, p in enumerate(recent):
            a = self.recent_menu.addAction(f"&{(i + 1) % 10} {Path(p).name}")
            a.setToolTip(p)
            a.triggered.connect(lambda _c=False, path=p: self.open_paths([Path(path)]))
        self.recent_menu.setEnabled(bool(recent))

    def shutdown(self) -> None:
        self.loader.shutdown()


__all__ = ["FileListController", "without_path_prefix"]
