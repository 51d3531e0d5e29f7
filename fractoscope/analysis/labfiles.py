"""Lab statistics on disk and from image files: what batch runs, cases and the library share.

``fractoscope.analysis.labstats`` holds the statistics and the head adjustment; this module picks
the images to fit them on, fits them from files, and reads and writes ``lab_stats.json`` (a
batch's output folder, the reference library), so a resumed run or a reopened library uses the
very statistics it used before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from fractoscope.analysis.labstats import MIN_LAB_IMAGES, LabStats, fit_lab_stats
from fractoscope.atomic import write_atomic
from fractoscope.errors import AnalysisCancelled, FractoscopeError

LAB_STATS_FILE = "lab_stats.json"
# A batch fits on an evenly spaced sample of at most this many of its images: enough for a stable
# mean and spread of each feature, and a bounded extra cost before a run of thousands of images.
MAX_SAMPLE = 50
STAGE = "lab statistics"  # the progress stage's name


def sample_indices(n: int, k: int = MAX_SAMPLE) -> list[int]:
    """``min(n, k)`` indices spread evenly over ``range(n)`` (first and last included)."""
    if n <= 0:
        return []
    if n <= k:
        return list(range(n))
    return sorted({int(round(v)) for v in np.linspace(0, n - 1, k)})


def not_enough_text(n: int) -> str:
    """The one message when there are too few images (said once per run)."""
    return (
        f"lab statistics off: {n} usable image{'s' if n != 1 else ''}, they need at least "
        f"{MIN_LAB_IMAGES} of the lab's images; each image is judged on its own"
    )


def fit_from_files(
    analyzer,
    paths: Sequence[Path | str],
    crop_databar: bool = True,
    progress: Callable[[float, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> tuple[LabStats | None, str]:
    """Lab statistics over ``paths`` (all of them: sample first), or ``(None, why not)``.

    Images that cannot be read or are too small are left out; fewer than ``MIN_LAB_IMAGES``
    usable ones give None and the message to show. Raises AnalysisCancelled when ``cancel()``.
    """
    from fractoscope.io import read_sem

    feats: list[np.ndarray] = []
    n = len(paths)
    for i, p in enumerate(paths):
        if cancel is not None and cancel():
            raise AnalysisCancelled("cancelled")
        if progress is not None:
            progress(i / max(n, 1), f"{STAGE}: image {i + 1}/{n}")
        try:
            sem = read_sem(Path(p), crop_databar=crop_databar)
            f = np.asarray(analyzer.image_features(sem), np.float64)
        except (FractoscopeError, OSError, MemoryError):
            continue  # its own row says what is wrong with it
        if f.ndim == 1 and f.size and np.all(np.isfinite(f)):
            feats.append(f)
    if progress is not None:
        progress(1.0, f"{STAGE}: {len(feats)} images")
    if len(feats) < MIN_LAB_IMAGES:
        return None, not_enough_text(len(feats))
    return fit_lab_stats(np.stack(feats), analyzer.model_info.sha256), ""


def digest(lab: LabStats) -> str:
    """A short fingerprint of the statistics (part of a batch's resume key)."""
    blob = json.dumps(lab.to_dict(), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def write_lab_stats(path: Path | str, lab: LabStats, extra: dict | None = None) -> None:
    """Write ``lab`` (plus ``extra`` keys, e.g. what it was fitted on) atomically as JSON."""
    d = lab.to_dict()
    d.update(extra or {})
    write_atomic(Path(path), json.dumps(d, indent=1).encode("utf-8"))


def read_lab_stats_file(path: Path | str) -> tuple[LabStats, dict]:
    """``(LabStats, the whole JSON object)``; FractoscopeError naming the file when unreadable."""
    path = Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(d, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise FractoscopeError(f"{path}: cannot read lab statistics ({exc})") from None
    try:
        return LabStats.from_dict(d), d
    except FractoscopeError as exc:
        raise FractoscopeError(f"{path}: {exc}") from None


def read_lab_stats(path: Path | str, model_sha256: str) -> LabStats | None:
    """The stored statistics when ``path`` holds readable ones of this model, else None (a file
    of another model, or a damaged one, is simply fitted again by the caller)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        lab, _ = read_lab_stats_file(path)
    except FractoscopeError:
        return None
    return lab if lab.model_sha256 == model_sha256 else None


__all__ = [
    "LAB_STATS_FILE",
    "MAX_SAMPLE",
    "MIN_LAB_IMAGES",
    "STAGE",
    "digest",
    "fit_from_files",
    "not_enough_text",
    "read_lab_stats",
    "read_lab_stats_file",
    "sample_indices",
    "write_lab_stats",
]
