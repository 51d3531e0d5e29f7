"""Report content (Qt-free): metadata, single-image and batch report data, overlay pictures.

The PDF itself is drawn by ``fractoscope.gui.report_pdf`` (Qt's PDF engine).
"""

from fractoscope.report.data import (
    DECISION_SUPPORT,
    BatchReport,
    BatchRow,
    ImageReport,
    ReportMeta,
)

__all__ = ["DECISION_SUPPORT", "BatchReport", "BatchRow", "ImageReport", "ReportMeta"]
