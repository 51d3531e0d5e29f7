""""Similar labelled images": the reference-library images nearest to the current analysis
(cosine similarity of the model's pooled features), with thumbnails, labels and similarity.
Clicking one asks the window to show it beside the current image."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fractoscope.adapt.library import SimilarImage
from fractoscope.gui.library.adapt_worker import SIMILAR_K, FeatureService, similar_job
from fractoscope.gui.library.library_dock import grey_pixmap
from fractoscope.gui.worker import JobQueue

PATH_ROLE = Qt.ItemDataRole.UserRole + 11
ICON = 96


class SimilarPanel(QWidget):
    """k nearest library images of the current prediction; a click emits ``openReference``."""

    openReference = Signal(str)

    def __init__(self, parent: QWidget | None = None, k: int = SIMILAR_K) -> None:
        super().__init__(parent)
        self.k = k
        self.items: list[SimilarImage] = []
        self.taxonomy = None
        self.prediction = None  # whose neighbours ``items`` are
        self.service = FeatureService()
        self.queue = JobQueue("similar", self)
        self.queue.finished.connect(self.set_items)
        self.queue.failed.connect(lambda m: self.set_message(f"Similar images unavailable: {m}"))
        self.queue.progress.connect(lambda f, m: self.set_message(f"Finding similar images… {m}"))
        self.title = QLabel("Similar labelled images")
        f = self.title.font()
        f.setBold(True)
        self.title.setFont(f)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: gray;")
        self.list = QListWidget()
        self.list.setIconSize(QSize(ICON, ICON))
        self.list.setSpacing(2)
        self.list.itemClicked.connect(self._clicked)
        self.list.itemActivated.connect(self._clicked)
        self.list.setToolTip("Click to show the reference image beside the current one")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.title)
        lay.addWidget(self.note)
        lay.addWidget(self.list, 1)
        # Shown while a reference occupies the second pane (the window connects it).
        self.back_button = QPushButton("Show the Grad-CAM pane again")
        self.back_button.setVisible(False)
        lay.addWidget(self.back_button)
        self.set_message("Analyse an image to see the closest images of the reference library.")

    def set_message(self, text: str) -> None:
        self.note.setText(text)

    def clear(self, message: str = "") -> None:
        self.queue.cancel(silent=True)
        self.items = []
        self.prediction = None
        self.list.clear()
        self.set_message(message)

    def request(
        self, pred, library_root: str | Path, model_path: str | Path | None, device: str = "auto",
        cache_dir: str | Path | None = None,
    ) -> None:
        """Find the neighbours of ``pred`` in a worker (library features computed once, cached)."""
        self.taxonomy = pred.taxonomy
        self.prediction = pred  # the items that arrive are this prediction's neighbours
        self.items = []  # until they arrive, none are (the report then uses the cached features)
        self.service.device = device
        self.list.clear()
        self.set_message("Finding similar images…")
        self.queue.submit(similar_job(library_root, pred, model_path, self.service, cache_dir, self.k))

    def set_items(self, items: list[SimilarImage]) -> None:
        self.items = list(items)
        self.list.clear()
        if not self.items:
            self.set_message("The reference library is empty: label images with \"Label as…\".")
            return
        self.set_message("Closest images of the reference library (cosine similarity of the model's features). "
                         "Click one to compare it side by side.")
        for s in self.items:
            name = self._name(s.level1)
            if s.level2:
                name += f" → {self._name(s.level2)}"
            it = QListWidgetItem(QIcon(grey_pixmap(s.thumbnail)), f"{name}\nsimilarity {s.similarity:.2f}\n{Path(s.path).name}")
            it.setData(PATH_ROLE, s.path)
            it.setToolTip(s.path)
            self.list.addItem(it)

    def _name(self, label: str) -> str:
        t = self.taxonomy
        if t is not None and (label in t.level1 or label in t.level2):
            return t.display_name(label)
        return label.replace("_", " ").capitalize()

    def _clicked(self, item: QListWidgetItem) -> None:
        path = item.data(PATH_ROLE)
        if path:
            self.openReference.emit(path)

    def shutdown(self) -> None:
        self.queue.shutdown(10000)


__all__ = ["SimilarPanel"]
