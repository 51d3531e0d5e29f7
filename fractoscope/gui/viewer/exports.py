"""Exports of the main window: the view as PNG/TIFF and the PDF failure report.

``ExportController(host)`` reads what it exports from its host window (``sem``, ``result``,
``viewer``, ``settings``) and reports through ``host.show_error`` / the status bar.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog

from fractoscope.errors import FractoscopeError

EXPORT_FILTER = "PNG image (*.png);;TIFF image (*.tif *.tiff)"


class ExportController(QObject):
    def __init__(self, host) -> None:
        super().__init__(host)
        self.host = host

    def render_view(self):
        """The visible panes as an image (overlay, grid and scale bars burned in)."""
        return self.host.viewer.splitter.grab().toImage()

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
        h = self.host
        if h.sem is None:
            h.show_error("Open an image first.", error=False)
            return
        stem = h.sem.path.stem if h.sem.path else "view"
        start = str(Path(h.settings.last_folder or ".") / f"{stem}-view.png")
        path, _ = QFileDialog.getSaveFileName(h, "Export view", start, EXPORT_FILTER)
        if path:
            try:
                out = self.export_view(path)
            except FractoscopeError as exc:
                h.show_error(f"Export failed: {exc}")
            else:
                h.statusBar().showMessage(f"Saved {out}", 8000)

    def export_report(self, path: str | Path, meta=None, page_size: str = "A4") -> Path:
        """Write the PDF failure report of the current analysis (fractoscope.report.pdf)."""
        from fractoscope.report.data import ReportMeta
        from fractoscope.report.pdf import write_image_report

        h = self.host
        if h.result is None or h.sem is None:
            raise FractoscopeError("analyse an image before exporting a report")
        if meta is None:
            meta = ReportMeta(sample_id=h.sem.path.stem if h.sem.path else "")
        similar, library = None, None
        feature = getattr(h, "library", None)  # the reference library, when the window has one
        if feature is not None and hasattr(feature, "report_evidence"):
            similar, library = feature.report_evidence(h.result.prediction)
        return write_image_report(Path(path), h.sem, h.result.prediction, meta, page_size, similar, library)

    def export_report_dialog(self) -> None:
        h = self.host
        if h.result is None or h.sem is None:
            h.show_error("Analyse an image before exporting a report.", error=False)
            return
        from fractoscope.gui.report_dialog import ask_report_meta
        from fractoscope.report.data import ReportMeta

        stem = h.sem.path.stem if h.sem.path else "report"
        asked = ask_report_meta(h, ReportMeta(sample_id=stem))
        if asked is None:
            return
        meta, page_size = asked
        start = str(Path(h.settings.last_folder or ".") / f"{stem}-report.pdf")
        path, _ = QFileDialog.getSaveFileName(h, "Export report", start, "PDF (*.pdf)")
        if not path:
            return
        try:
            out = self.export_report(path, meta, page_size)
        except FractoscopeError as exc:
            h.show_error(f"Report failed: {exc}")
        else:
            h.statusBar().showMessage(f"Saved {out}", 8000)
