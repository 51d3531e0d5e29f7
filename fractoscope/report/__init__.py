"""Report content (Qt-free): metadata, single-image and batch report data, class-map pictures.

The PDF itself is drawn by ``fractoscope.report.pdf`` (Qt's PDF engine, headless).
"""

from fractoscope.report.data import (
    BATCH_TITLE,
    DECISION_SUPPORT,
    DEFAULT_TITLE,
    BatchReport,
    BatchRow,
    ImageReport,
    ReportMeta,
)

__all__ = [
    "BATCH_TITLE",
    "DECISION_SUPPORT",
    "DEFAULT_TITLE",
    "BatchReport",
    "BatchRow",
    "ImageReport",
    "ReportMeta",
]
