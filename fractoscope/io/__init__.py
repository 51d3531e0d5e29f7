"""Image input: SEM files with their calibration, instrument metadata and data-bar crop.

Never imports Qt (core module).
"""

from fractoscope.io.describe import describe
from fractoscope.io.manual import (
    load_manual_calibration,
    manual_calibration_path,
    save_manual_calibration,
)
from fractoscope.io.pixels import MAX_MEGAPIXELS
from fractoscope.io.reader import SUPPORTED_SUFFIXES, is_supported, read_sem
from fractoscope.io.sem_image import InstrumentInfo, SemImage, StagePosition

__all__ = [
    "MAX_MEGAPIXELS",
    "SUPPORTED_SUFFIXES",
    "InstrumentInfo",
    "SemImage",
    "StagePosition",
    "describe",
    "is_supported",
    "load_manual_calibration",
    "manual_calibration_path",
    "read_sem",
    "save_manual_calibration",
]
