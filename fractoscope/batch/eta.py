"""Time-left estimates for long runs, and their one text form (CLI lines and the GUI batch panel).

Qt-free so the command line and the window show the same words for the same estimate.
"""

from __future__ import annotations

import time
from collections import deque


def format_eta(seconds: float | None) -> str:
    """``ETA 0:42``, ``ETA 12:05``, ``ETA 3 h 07 min``; ``ETA --`` before the first estimate."""
    if seconds is None or seconds != seconds or seconds < 0:  # None, NaN, negative
        return "ETA --"
    s = int(round(seconds))
    if s >= 3600:
        return f"ETA {s // 3600} h {s % 3600 // 60:02d} min"
    return f"ETA {s // 60}:{s % 60:02d}"


class EtaEstimator:
    """Remaining time from the wall-clock rate of the last ``window`` computed results.

    Wall-clock intervals between completions (not per-image compute times) make the estimate
    right both for one image at a time and for many workers finishing images in parallel.
    Images reused from an earlier run cost nothing and are not counted as computed.
    """

    def __init__(self, window: int = 20, clock=time.monotonic) -> None:
        self._clock = clock
        self._t0 = clock()
        self._stamps: deque[float] = deque(maxlen=window + 1)
        self._stamps.append(self._t0)

    def restart(self) -> None:
        """Start timing afresh (e.g. after a pause), keeping no stale intervals."""
        self._t0 = self._clock()
        self._stamps.clear()
        self._stamps.append(self._t0)

    def computed(self) -> None:
        """One image was computed (finished or failed) just now."""
        self._stamps.append(self._clock())

    def seconds_per_image(self) -> float | None:
        if len(self._stamps) < 2:
            return None
        return (self._stamps[-1] - self._stamps[0]) / (len(self._stamps) - 1)

    def eta(self, remaining: float) -> float | None:
        """Seconds left for ``remaining`` images (fractions allowed), None before the first."""
        per = self.seconds_per_image()
        if per is None:
            return None
        return max(0.0, remaining * per)
