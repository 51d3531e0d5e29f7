""""Teach it your lab": the short guided way from a result the model does not recognise to a model
adapted to the lab's own judged images.

1. Pick a class and add a few images of it (Add images…, the current image, or drop files on the
   dialog), or add a whole folder tree of labelled images (``mechanism/morphology/*.tif``). Images
   are *copied* into the reference library (``fractoscope.adapt.library``); originals stay put.
2. The count per class and the cross-validated accuracy (the one ``fractoscope adapt`` reports)
   update as the library grows; each figure is kept, so the analyst sees it rise.
3. Update model: the library's own "Update model" (``LibraryWidget.update_model``, the adaptation in
   ``gui/library/adapt_worker.py``), and the window switches to the new model (``modelChosen``).

Nothing here re-implements the adaptation: the accuracy check runs the same ``adapt_job`` into a
temporary folder (features come from the cache, so a re-check costs a few seconds) and the update
is the library dock's own. Background work goes through ``JobQueue`` (``gui/background.py``).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QFont,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fractoscope.adapt.dataset import (
    MIN_IMAGES_PER_CLASS,
    RECOMMENDED_IMAGES_PER_CLASS,
    UNTRAINED_CHILD_SUFFIX,
)
from fractoscope.analysis.wording import percent
from fractoscope.gui.library.adapt_worker import AdaptSummary, adapt_job
from fractoscope.gui.worker import JobFn, JobQueue
from fractoscope.io.reader import is_supported

KEY_ROLE = Qt.ItemDataRole.UserRole + 20  # (level1, level2 or None)
SHORT = QColor(200, 120, 20)  # a class with fewer images than adaptation needs


# --- jobs (worker thread, Qt-free) ------------------------------------------------------------------
@dataclass
class ImportResult:
    """What adding images to the library did (plain data)."""

    added: int = 0
    already: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def import_job(library_root: str | Path, items: list[tuple[str, str, str | None]]) -> JobFn:
    """Copy ``(path, level1, level2)`` images into the library (the library's own ``add``)."""
    root = str(library_root)
    items = [(str(p), str(a), str(b) if b else None) for p, a, b in items]

    def run(progress, cancel) -> ImportResult:
        from fractoscope.adapt.library import ReferenceLibrary
        from fractoscope.errors import AnalysisCancelled, FractoscopeError

        lib = ReferenceLibrary(root)
        out = ImportResult()
        present = {e.path.resolve() for e in lib.entries()}  # add() returns these for a file filed already
        for i, (p, l1, l2) in enumerate(items):
            if cancel():
                raise AnalysisCancelled("cancelled")
            try:
                dst = Path(lib.add(p, l1, l2)).resolve()
            except FractoscopeError as exc:
                out.failed.append((p, str(exc)))
                continue
            if dst in present:
                out.already += 1
            else:
                out.added += 1
                present.add(dst)
            progress((i + 1) / len(items), f"copied {i + 1}/{len(items)}")
        return out

    return run


def folder_import_job(library_root: str | Path, folder: str | Path) -> JobFn:
    """Copy a labelled tree (``level1/level2/*`` or ``level1/*``, as ``fractoscope adapt`` reads
    it: the same scanner) into the library."""
    root, folder = str(library_root), str(folder)

    def run(progress, cancel) -> ImportResult:
        from fractoscope.adapt.dataset import scan_folder

        found = scan_folder(folder)
        return import_job(root, [(f.path, f.level1, f.level2) for f in found.files])(progress, cancel)

    return run


def accuracy_job(
    library_root: str | Path, base_model: str | None, device: str = "auto", cache_dir: str | None = None
) -> JobFn:
    """The cross-validated accuracy an update would report now: ``adapt_job`` run into a temporary
    folder that is removed afterwards (same features, same folds, same figures)."""
    root = str(library_root)

    def run(progress, cancel) -> AdaptSummary:
        with tempfile.TemporaryDirectory(prefix="fractoscope-teach-") as tmp:
            summary = adapt_job(root, Path(tmp) / "estimate", base_model, device, cache_dir)(progress, cancel)
        summary.weights = ""  # only the figures were wanted; the model is gone with the folder
        return summary

    return run


def accuracy_text(summary: AdaptSummary) -> str:
    """'Cross-validated accuracy (3-fold, 9 images): mechanism 78 %, morphology 67 %'."""
    n = sum(sum(k.values()) for k in summary.counts.values())
    if not summary.folds or summary.cv_level1 is None:
        return f"{n} images: accuracy not measured yet (every class needs at least 2 images)."
    text = f"Cross-validated accuracy ({summary.folds}-fold, {n} images): mechanism {percent(summary.cv_level1)}"
    if summary.has_level2 and summary.cv_level2 is not None:
        text += f", morphology {percent(summary.cv_level2)}"
    return text


# --- the dialog --------------------------------------------------------------------------------------
class TeachDialog(QDialog):
    """See the module doc. ``lib`` is the window's ``LibraryWidget`` (its library, its Update
    model); ``current_path`` the image on screen (offered as "Add the current image")."""

    modelChosen = Signal(str)  # an adapted model to switch to

    def __init__(self, lib, taxonomy, current_path: str | Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lib = lib
        self.taxonomy = taxonomy
        self.current_path = str(current_path) if current_path else None
        self.history: list[tuple[int, str]] = []  # (images, accuracy text) as the library grew
        self.last_accuracy: AdaptSummary | None = None
        self.updating = False  # True while our Update model runs (the window then asks nothing)
        self.new_model: str | None = None
        self.setWindowTitle("Teach it your lab")
        self.setAcceptDrops(True)
        self.resize(620, 560)
        self.queue = JobQueue("teach", self)
        # What the queue's current job is: an import reports progress in the status line; the
        # cross-validation that follows it must not, or it would wipe the import's "Added N" at once.
        self._job_kind = ""
        self.queue.progress.connect(self._progress)
        self.queue.finished.connect(self._job_done)
        self.queue.failed.connect(lambda m: self._say(f"Could not finish: {m}", error=True))
        self.queue.busyChanged.connect(self._busy)

        title = QLabel("Teach it your lab")
        f = QFont(title.font())
        f.setPointSizeF(f.pointSizeF() * 1.3)
        f.setBold(True)
        title.setFont(f)
        intro = QLabel(
            "The bundled model learnt from generated images only, so real surfaces it has not seen "
            "are often not recognised. A few of your own judged images per mechanism fix that.<br>"
            f"<b>1.</b> Pick a class and add {MIN_IMAGES_PER_CLASS}–{RECOMMENDED_IMAGES_PER_CLASS} of your "
            "images of it (or drop them here), or add a folder of labelled images "
            "(<i>mechanism/morphology/*.tif</i>). <b>2.</b> Watch the cross-validated accuracy. "
            "<b>3.</b> Update the model and use it."
        )
        intro.setWordWrap(True)
        self.where = QLabel()
        self.where.setWordWrap(True)
        self.where.setStyleSheet("color: gray;")
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Class", "Images"])
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(False)
        self.tree.currentItemChanged.connect(lambda *_: self._sync_buttons())
        self.add_button = QPushButton("Add images…")
        self.add_button.setToolTip("Copy images of the selected class into the reference library")
        self.add_button.clicked.connect(self.add_images_dialog)
        self.current_button = QPushButton("Add the current image")
        self.current_button.setToolTip(self.current_path or "")
        self.current_button.setVisible(bool(self.current_path))
        self.current_button.clicked.connect(lambda: self.add_images([self.current_path]))
        self.folder_button = QPushButton("Add a labelled folder…")
        self.folder_button.setToolTip("A folder tree mechanism/morphology/*.tif (or mechanism/*.tif)")
        self.folder_button.clicked.connect(self.add_folder_dialog)
        row = QHBoxLayout()
        for b in (self.add_button, self.current_button, self.folder_button):
            row.addWidget(b)
        row.addStretch(1)
        self.counts_label = QLabel()
        self.counts_label.setWordWrap(True)
        self.accuracy = QLabel("Accuracy: add images of at least two mechanisms.")
        self.accuracy.setWordWrap(True)
        bold = QFont(self.accuracy.font())
        bold.setBold(True)
        self.accuracy.setFont(bold)
        self.history_label = QLabel()
        self.history_label.setWordWrap(True)
        self.history_label.setStyleSheet("color: gray;")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.update_button = QPushButton("Update model and use it")
        self.update_button.setDefault(True)
        self.update_button.setToolTip("Adapt the model to the library's images, then analyse with it (Ctrl+U)")
        self.update_button.clicked.connect(self.update_model)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.cancel_button)
        bottom.addStretch(1)
        bottom.addWidget(self.update_button)
        bottom.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.addWidget(title)
        lay.addWidget(intro)
        lay.addWidget(self.where)
        lay.addWidget(self.tree, 1)
        lay.addLayout(row)
        lay.addWidget(self.counts_label)
        lay.addWidget(self.accuracy)
        lay.addWidget(self.history_label)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addLayout(bottom)
        QShortcut(QKeySequence("Ctrl+U"), self, activated=self.update_model)
        QShortcut(QKeySequence("Ctrl+O"), self, activated=self.add_images_dialog)

        ad = lib.adapter  # the library dock's own Update model
        ad.progress.connect(self._update_progress)
        ad.finished.connect(self._update_done)
        ad.failed.connect(self._update_failed)
        ad.cancelled.connect(self._update_cancelled)
        ad.busyChanged.connect(lambda _b: self._sync_buttons())
        self.refresh()
        self.check_accuracy()

    # --- contents ------------------------------------------------------------------------------
    @property
    def library(self):
        return self.lib.library

    def _name(self, label: str | None) -> str:
        if label is None:
            return "(mechanism only)"
        t = self.taxonomy
        if t is not None and (label in t.level1 or label in t.level2):
            return t.display_name(label)
        return label.replace("_", " ").capitalize()

    def _classes(self) -> dict[str, list[str | None]]:
        """Mechanism -> morphologies: the model's classes and the library's own."""
        tree: dict[str, list[str | None]] = {}
        if self.taxonomy is not None:
            for l1 in self.taxonomy.level1:
                tree[l1] = [c for c in self.taxonomy.children(l1) if not c.endswith(UNTRAINED_CHILD_SUFFIX)]
        for l1, kids in self.library.counts().items():
            cur = tree.setdefault(l1, [])
            cur += [k for k in kids if k not in cur]
        return tree

    def refresh(self) -> None:
        """Counts per class from the library folder (what an update would be fitted on)."""
        keep = self.selected_class()
        counts = self.library.counts()
        self.where.setText(f"Reference library: {self.library.root} (your originals are only copied)")
        self.tree.clear()
        short = QBrush(SHORT)
        select = None
        for l1, kids in self._classes().items():
            n1 = sum(counts.get(l1, {}).values())
            it1 = QTreeWidgetItem([self._name(l1), str(n1)])
            it1.setData(0, KEY_ROLE, (l1, None))
            if 0 < n1 < MIN_IMAGES_PER_CLASS:
                it1.setForeground(1, short)
            self.tree.addTopLevelItem(it1)
            if keep == (l1, None):
                select = it1
            for k in kids:
                n2 = counts.get(l1, {}).get(k, 0)
                it2 = QTreeWidgetItem([self._name(k), str(n2)])
                it2.setData(0, KEY_ROLE, (l1, k))
                it1.addChild(it2)
                if keep == (l1, k):
                    select = it2
        self.tree.expandAll()
        if select is not None:
            self.tree.setCurrentItem(select)
        n = sum(sum(v.values()) for v in counts.values())
        few = sorted(self._name(l1) for l1, v in counts.items() if sum(v.values()) < MIN_IMAGES_PER_CLASS)
        text = f"{n} labelled images in {len(counts)} mechanisms."
        if len(counts) < 2:
            text += " Adapting needs images of at least two mechanisms."
        elif few:
            text += f" Fewer than {MIN_IMAGES_PER_CLASS} images: {', '.join(few)}."
        self.counts_label.setText(text)
        self._sync_buttons()

    def counts_shown(self) -> dict[str, str]:
        """{class display name: count as shown} (for tests and screenshots)."""
        out: dict[str, str] = {}
        for i in range(self.tree.topLevelItemCount()):
            it = self.tree.topLevelItem(i)
            out[it.text(0)] = it.text(1)
            for k in range(it.childCount()):
                out[f"{it.text(0)} / {it.child(k).text(0)}"] = it.child(k).text(1)
        return out

    def selected_class(self) -> tuple[str, str | None] | None:
        it = self.tree.currentItem()
        return tuple(it.data(0, KEY_ROLE)) if it is not None and it.data(0, KEY_ROLE) else None

    def select_class(self, level1: str, level2: str | None = None) -> None:
        for i in range(self.tree.topLevelItemCount()):
            it = self.tree.topLevelItem(i)
            for cand in [it] + [it.child(k) for k in range(it.childCount())]:
                if tuple(cand.data(0, KEY_ROLE)) == (level1, level2):
                    self.tree.setCurrentItem(cand)
                    return

    def _target(self) -> tuple[str, str | None] | None:
        """The class new images go to; a mechanism row with morphologies needs one picked."""
        sel = self.selected_class()
        if sel is None:
            return None
        l1, l2 = sel
        if l2 is None and self._classes().get(l1):
            return None
        return sel

    # --- adding ----------------------------------------------------------------------------------
    def add_images_dialog(self) -> None:
        if self._target() is None:
            self._say("Pick a class first (a morphology under its mechanism).", error=True)
            return
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Images of this class", "", "SEM images (*.tif *.tiff *.png *.jpg *.jpeg *.bmp);;All files (*)"
        )
        if paths:
            self.add_images(paths)

    def add_images(self, paths: list[str | Path]) -> bool:
        """Copy ``paths`` into the library under the selected class (in the worker)."""
        target = self._target()
        if target is None:
            self._say("Pick a class first (a morphology under its mechanism).", error=True)
            return False
        files = [str(p) for p in paths if p and Path(p).is_file() and is_supported(Path(p))]
        if not files:
            self._say("No TIFF, PNG, JPEG or BMP image among those files.", error=True)
            return False
        self.lib.adapter.cancel()  # a running update would miss them
        self.queue.submit(import_job(self.library.root, [(p, target[0], target[1]) for p in files]))
        self._job_kind = "import"
        self._say(f"Adding {len(files)} image{'s' if len(files) != 1 else ''} to {self._label(*target)}…")
        return True

    def add_folder_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder of labelled images (mechanism/morphology/*.tif)")
        if d:
            self.add_folder(d)

    def add_folder(self, folder: str | Path) -> None:
        self.queue.submit(folder_import_job(self.library.root, folder))
        self._job_kind = "import"
        self._say(f"Adding the labelled images of {folder}…")

    def _label(self, l1: str, l2: str | None) -> str:
        return self._name(l1) + (f" → {self._name(l2)}" if l2 else "")

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        folders = [p for p in paths if p.is_dir()]
        event.acceptProposedAction()
        if folders:
            self.add_folder(folders[0])
        else:
            self.add_images(paths)

    # --- accuracy --------------------------------------------------------------------------------
    def adaptable(self) -> bool:
        return len(self.library.counts()) >= 2

    def check_accuracy(self) -> bool:
        """Start the cross-validation of the library as it is now (nothing when it cannot adapt)."""
        if not self.adaptable() or self.lib.adapter.busy:
            return False
        self.accuracy.setText("Cross-validated accuracy: measuring…")
        self.queue.submit(accuracy_job(self.library.root, self.lib.base_model, self.lib.device, self.lib.cache_dir))
        self._job_kind = "accuracy"
        return True

    # --- jobs coming back --------------------------------------------------------------------------
    def _progress(self, frac: float, msg: str) -> None:
        self.progress.setValue(int(1000 * frac))
        if self._job_kind != "accuracy":  # the accuracy line already says "measuring…"
            self.status.setText(msg)

    def _job_done(self, result) -> None:
        if isinstance(result, ImportResult):
            parts = [f"Added {result.added} image{'s' if result.added != 1 else ''}"]
            if result.already:
                parts.append(f"{result.already} already in the library")
            parts += [f"skipped {Path(p).name}: {why}" for p, why in result.failed[:3]]
            self._say("; ".join(parts) + ".", error=bool(result.failed) and not result.added)
            self.lib.refresh()
            self.lib.libraryChanged.emit()
            self.refresh()
            self.check_accuracy()
        elif isinstance(result, AdaptSummary):
            self.last_accuracy = result
            text = accuracy_text(result)
            n = sum(sum(k.values()) for k in result.counts.values())
            if not self.history or self.history[-1][0] != n:
                self.history.append((n, text.split(": ", 1)[-1]))
            self.accuracy.setText(text)
            earlier = [f"{k} images: {t.split('): ', 1)[-1]}" for k, t in self.history[:-1] if "mechanism" in t]
            self.history_label.setText("Earlier: " + "; ".join(earlier[-4:]) if earlier else "")
            if result.warnings:  # else the status keeps what the last import said
                self.status.setText(" ".join(f"Warning: {w}" for w in result.warnings[:2]))

    def _busy(self, busy: bool) -> None:
        self.progress.setVisible(busy or self.lib.adapter.busy)
        self.cancel_button.setVisible(busy or self.lib.adapter.busy)
        if busy:
            self.progress.setValue(0)
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        updating = self.lib.adapter.busy
        self.update_button.setEnabled(self.adaptable() and not updating)
        has_target = self._target() is not None
        self.add_button.setEnabled(has_target and not updating)
        self.current_button.setEnabled(has_target and not updating)
        self.folder_button.setEnabled(not updating)

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet(f"color: {SHORT.name()};" if error else "")
        self.status.setText(text)

    def cancel(self) -> None:
        self.queue.cancel()
        if self.lib.adapter.busy:
            self.lib.adapter.cancel()

    # --- update model ----------------------------------------------------------------------------------
    def update_model(self) -> bool:
        """The library's own Update model; when it is done the window switches to the new model."""
        if not self.adaptable() or self.lib.adapter.busy:
            return False
        self.queue.cancel(silent=True)  # the update reports the same figures
        self.updating = True
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.progress.setValue(0)
        self._say("Updating the model…")
        self.lib.update_model()
        self._sync_buttons()
        return True

    def _update_progress(self, frac: float, msg: str) -> None:
        if self.updating:
            self._progress(frac, msg)

    def _update_done(self, summary: AdaptSummary) -> None:
        if not self.updating:
            return
        self.updating = False
        self._busy(False)
        self.new_model = summary.weights
        self.accuracy.setText(accuracy_text(summary))
        self._say(f"Now analysing with {summary.name}, adapted to your {sum(sum(k.values()) for k in summary.counts.values())} "
                  "labelled images. Add more images and update again whenever you like.")
        self.close_button.setText("Done")
        self.modelChosen.emit(summary.weights)

    def _update_failed(self, message: str) -> None:
        if self.updating:
            self.updating = False
            self._busy(False)
            self._say(f"Update failed: {message}", error=True)

    def _update_cancelled(self) -> None:
        if self.updating:
            self.updating = False
            self._busy(False)
            self._say("Update cancelled.")

    def shutdown(self) -> None:
        self.queue.shutdown(10000)

    def done(self, r: int) -> None:  # closing: stop our checks (an update runs on in the dock)
        self.queue.cancel(silent=True)
        super().done(r)


__all__ = ["ImportResult", "TeachDialog", "accuracy_job", "accuracy_text", "folder_import_job", "import_job"]
