"""Write a report PDF: one offscreen-capable Qt application, a dry pass to count pages, an
atomic write (a temporary file in the target folder renamed into place, so a half-written PDF
never replaces a good one)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice

from fractoscope.atomic import atomic_path
from fractoscope.errors import FractoscopeError
from fractoscope.report.data import BatchReport, ImageReport, ReportMeta
from fractoscope.report.pdf.batch import render_batch
from fractoscope.report.pdf.canvas import Canvas
from fractoscope.report.pdf.single import render_image

FOOTER = "Decision support - to be confirmed by a qualified fractographer"
_APP = None  # the QGuiApplication made here, kept alive for the process


def ensure_offscreen_app():
    """The Qt application drawing needs (fonts, QPdfWriter). An existing one (the desktop app's,
    pytest-qt's) is used as it is; otherwise a QGuiApplication is made, on the offscreen platform
    when Linux has no display (servers, CI, the self-test)."""
    global _APP
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance()
    if app is not None:
        return app
    if threading.current_thread() is not threading.main_thread():
        raise FractoscopeError("PDF reports must first be drawn from the main thread (Qt needs its application there)")
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    _APP = QGuiApplication(["fractoscope"])
    return _APP


def render_pages(
    path: Path,
    page_size: str,
    title: str,
    header_left: str,
    header_right: str,
    render: Callable[[Canvas], None],
) -> Canvas:
    """Draw the document into ``path`` and return the finished canvas (its ``boxes`` say what
    was drawn where)."""
    ensure_offscreen_app()
    path = Path(path)
    # Dry pass: the same layout without pictures, to know the page count for "Page i of N".
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    dry = Canvas(buf, page_size, title, header_left, header_right, FOOTER, None, True)
    render(dry)
    dry.finish()
    try:
        with atomic_path(path) as tmp:
            canvas = Canvas(str(tmp), page_size, title, header_left, header_right, FOOTER, dry.page, False)
            render(canvas)
            canvas.finish()
            canvas.writer = None  # QPdfWriter closes the file when it is destroyed
    except OSError as exc:
        raise FractoscopeError(f"cannot write {path}: {exc.strerror or exc}") from None
    return canvas


def image_report_pages(
    path: Path | str, sem, prediction, meta: ReportMeta, page_size: str = "A4", similar=None, library=None
) -> Canvas:
    rep = ImageReport.build(sem, prediction, similar=similar, library=library)
    sample = f"Sample {meta.sample_id}" if meta.sample_id else rep.image_name
    return render_pages(
        Path(path),
        page_size,
        meta.title,
        f"Fractoscope {meta.app_version} - fractography report",
        f"{sample} - {meta.date}",
        lambda c: render_image(c, rep, meta),
    )


def write_image_report(
    path: Path | str, sem, prediction, meta: ReportMeta, page_size: str = "A4", similar=None, library=None
) -> Path:
    """The single-image failure report; ``similar``: reference images
    (``fractoscope.adapt.library.SimilarImage``) to show beside the result; ``library``: (the
    reference library folder, its number of labelled images), so the report says what was compared."""
    image_report_pages(path, sem, prediction, meta, page_size, similar, library)
    return Path(path)


def batch_report_pages(path: Path | str, batch_report: BatchReport, meta: ReportMeta, page_size: str = "A4") -> Canvas:
    sample = f"Sample {meta.sample_id}" if meta.sample_id else f"{batch_report.images} images"
    return render_pages(
        Path(path),
        page_size,
        meta.title,
        f"Fractoscope {meta.app_version} - batch report",
        f"{sample} - {meta.date}",
        lambda c: render_batch(c, batch_report, meta),
    )


def write_batch_report(path: Path | str, batch_report: BatchReport, meta: ReportMeta, page_size: str = "A4") -> Path:
    """The batch summary report (summary, every image, failures, thumbnails, model)."""
    batch_report_pages(path, batch_report, meta, page_size)
    return Path(path)


def write_batch_folder_report(out_dir: Path | str, pdf: Path | str, meta: ReportMeta, page_size: str = "A4") -> Path:
    """The batch report of a results folder written by ``fractoscope batch`` (CLI and GUI)."""
    return write_batch_report(pdf, BatchReport.from_out_dir(out_dir), meta, page_size)
