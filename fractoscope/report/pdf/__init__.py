"""PDF reports drawn with Qt's own PDF engine (QPdfWriter + QPainter), headless.

The only place outside ``gui`` that uses Qt (QtGui, no widgets). Text is real, searchable text;
pictures are embedded at about 300 dpi. ``canvas``: drawing primitives; ``single`` / ``batch``:
the two layouts; ``writer``: the Qt application, page counting and the atomic write.
"""

from fractoscope.report.pdf.canvas import PAGE_SIZES, Box
from fractoscope.report.pdf.writer import (
    batch_report_pages,
    ensure_offscreen_app,
    image_report_pages,
    write_batch_folder_report,
    write_batch_report,
    write_image_report,
)

__all__ = [
    "PAGE_SIZES",
    "Box",
    "batch_report_pages",
    "ensure_offscreen_app",
    "image_report_pages",
    "write_batch_folder_report",
    "write_batch_report",
    "write_image_report",
]
