"""Read a written report back (QtPdf) and list Qt's image formats: what the self-test checks,
kept here so that only ``gui`` and ``report.pdf`` touch Qt."""

from __future__ import annotations

from pathlib import Path

from fractoscope.errors import FractoscopeError


def image_formats() -> list[str]:
    """Image formats Qt can read (its image-format plugins: jpeg, tiff... when bundled)."""
    from PySide6.QtGui import QImageReader

    from fractoscope.report.pdf.writer import ensure_offscreen_app

    ensure_offscreen_app()
    return sorted({bytes(f.data()).decode() for f in QImageReader.supportedImageFormats()})


def pdf_page_texts(path: Path | str) -> list[str] | None:
    """The text of every page of a PDF as Qt's PDF module reads it; None when this build has no
    QtPdf. Raises FractoscopeError when the file cannot be opened as a PDF."""
    try:
        from PySide6.QtPdf import QPdfDocument
    except ImportError:
        return None
    from fractoscope.report.pdf.writer import ensure_offscreen_app

    ensure_offscreen_app()
    doc = QPdfDocument()
    err = doc.load(str(path))
    if err != QPdfDocument.Error.None_:
        raise FractoscopeError(f"Qt cannot open the PDF {path}: {err}")
    try:
        return [doc.getAllText(i).text() for i in range(doc.pageCount())]
    finally:
        doc.close()
