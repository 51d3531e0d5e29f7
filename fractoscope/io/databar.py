"""Detect an instrument information bar burned into the bottom of an image.

Used only when the metadata does not say where the bar is (JEOL/Hitachi/Zeiss images, FEI
images saved without metadata). The bars these instruments write are a band of rows that are
almost entirely pure black and pure white (background plus text, scale bar and frame lines),
under image rows that are not. The test is deliberately conservative: it needs text in the band,
a band height of 2-30 % of the frame, and ordinary image content right above it; anything else
is "no data bar" (a missed bar costs a little accuracy, a false crop loses real image).
"""

from __future__ import annotations

import numpy as np

EXTREME = 0.08  # within 8 % of the image's min or max counts as black / white
BAR_ROW_EXTREME_FRACTION = 0.85  # a bar row is >= 85 % black/white pixels ...
UNIFORM_FRACTION = 0.95  # ... or a uniform line (frame/separator): >= 95 % of its pixels ...
UNIFORM_TOLERANCE = 0.02  # ... within 2 % of the row's median
MIN_TEXT_FRACTION = 0.2  # >= 20 % of the band's rows carry text ...
MIN_TEXT_CROSSINGS = 10  # ... i.e. >= 10 black/white crossings along the row
MIN_BAND_FRACTION = 0.02
MAX_BAND_FRACTION = 0.30
ABOVE_ROWS = 8  # rows above the band that must look like image, not bar
MAX_BAR_LIKE_ABOVE = 0.25
MAX_TRAILING_ROWS = 4  # non-bar rows tolerated below the bar (a grey frame line)


def _grey(data: np.ndarray) -> np.ndarray:
    a = data.astype(np.float32, copy=False)
    if a.ndim == 3:
        a = a.mean(axis=2)
    return a


def row_statistics(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: is it bar-like (black/white or uniform), does it carry text."""
    a = _grey(data)
    lo, hi = float(a.min()), float(a.max())
    if not hi > lo:
        n = a.shape[0]
        return np.ones(n, bool), np.zeros(n, bool)
    a = (a - lo) / (hi - lo)
    black = (a <= EXTREME).mean(axis=1)
    # Lettering is drawn at one bright level per bar, not always the image's brightest pixel
    # (a saturated specimen highlight can be brighter): measure white against the row's own peak.
    row_white = np.maximum(a.max(axis=1, keepdims=True), 1 - 2 * EXTREME)
    white = (a >= row_white - EXTREME).mean(axis=1)
    # A frame line can carry a few pixels of the lettering or the image edge (Zeiss NVision frames
    # its bar with two grey rows holding a handful of darker pixels), so "uniform" counts pixels at
    # the row's level rather than using the row's standard deviation, which those few pixels inflate.
    level = np.median(a, axis=1, keepdims=True)
    uniform = (np.abs(a - level) <= UNIFORM_TOLERANCE).mean(axis=1) >= UNIFORM_FRACTION
    bar_like = (black + white >= BAR_ROW_EXTREME_FRACTION) | uniform
    # Lettering crosses between black and white many times per row; an object's outline on a
    # dark background (a specimen edge) crosses only a few times.
    crossings = (np.diff(a > 0.5, axis=1)).sum(axis=1)
    text = bar_like & (crossings >= MIN_TEXT_CROSSINGS)
    return bar_like, text


def detect_databar(data: np.ndarray) -> int:
    """Rows of a burned-in data bar at the bottom of ``data`` (0 when there is none)."""
    rows = int(data.shape[0])
    if rows < 64 or data.shape[1] < 64:
        return 0
    bar_like, text = row_statistics(data)
    # Some instruments frame the bar with a few grey rows at the very bottom: skip those.
    end = rows
    while end > rows - MAX_TRAILING_ROWS and end > 0 and not bar_like[end - 1]:
        end -= 1
    if end == 0 or not bar_like[end - 1]:
        return 0
    not_bar = np.flatnonzero(~bar_like[:end])
    if not_bar.size == 0:
        return 0  # the whole frame is flat / binary: nothing to tell apart
    band = rows - 1 - int(not_bar[-1])  # the crop includes the skipped bottom rows
    if not (max(8, MIN_BAND_FRACTION * rows) <= band <= MAX_BAND_FRACTION * rows):
        return 0
    top = rows - band
    if text[top:end].mean() < MIN_TEXT_FRACTION:
        return 0
    above = bar_like[max(0, top - ABOVE_ROWS):top]
    if above.size == 0 or above.mean() > MAX_BAR_LIKE_ABOVE:
        return 0
    return band
