"""Detect an instrument information bar burned into the bottom of an image."""

from __future__ import annotations

import numpy as np


def detect_databar(data: np.ndarray) -> int:
    return 0
