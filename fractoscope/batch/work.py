"""One image's work in a batch run, as plain data in and plain data out.

The same functions run in the embedded path (a reader thread, then the model on the caller's
thread) and on a Dask worker. Neither writes into the output folder: they return the record and
the bytes of the files it refers to, and the run's client alone writes them (atomically, files
first, record last), so results are durable and identical whichever path computed them.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from fractoscope.analysis.results import Prediction
from fractoscope.batch.records import STATUS_FAILED, STATUS_OK, BatchRecord
from fractoscope.batch.stored import prediction_npz_bytes
from fractoscope.errors import AnalysisCancelled, FractoscopeError
from fractoscope.imaging.display import overlays_for, png_bytes, shrink
from fractoscope.io.sem_image import SemImage

OVERLAY_MAX_SIDE = 2048  # overlay PNGs: full resolution up to this size
THUMB_MAX_SIDE = 320


class AnalyzerLike(Protocol):
    """What a batch run needs of ``fractoscope.analysis.pipeline.Analyzer``."""

    @property
    def model_info(self): ...

    @property
    def device(self) -> str: ...

    def analyze(
        self, sem: SemImage, progress=None, cancel=None, with_cams: bool = True
    ) -> Prediction: ...


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).astimezone().isoformat(timespec="seconds")


def result_key(content_sha256: str, model_sha256: str, settings: dict) -> str:
    """Resume key: same bytes + same model + same result-relevant settings = same result."""
    blob = json.dumps([content_sha256, model_sha256, settings], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def safe_stem(path: Path) -> str:
    keep = "".join(c if (c.isalnum() or c in "-_.") else "_" for c in path.stem)
    return keep[:60] or "image"


# What bad input raises: the image's own fault (unreadable, corrupt, too small, too big), told
# completely by one line. Any other exception is a bug (ours or a library's) and keeps its traceback.
INPUT_ERRORS: tuple[type[BaseException], ...] = (FractoscopeError, OSError, MemoryError)


def is_input_error(exc: BaseException) -> bool:
    return isinstance(exc, INPUT_ERRORS)


def error_text(exc: BaseException, path: Path) -> str:
    """The reason a row gives for a failed image (the row already names the file)."""
    if isinstance(exc, FractoscopeError):
        msg = str(exc)
        for prefix in (f"{path}: ", f"{path.name}: "):
            if msg.startswith(prefix):
                return msg[len(prefix) :]
        return msg
    if isinstance(exc, OSError):
        return f"cannot read file: {exc.strerror or exc}"
    if isinstance(exc, MemoryError):
        return "not enough memory for this image"
    return f"unexpected error ({type(exc).__name__}: {exc}); traceback in results.jsonl and the log"


def failure_details(exc: BaseException) -> dict:
    """What a failed row keeps beyond its one line: nothing for bad input, the traceback for a
    bug (it goes into ``results.jsonl`` ``details`` and, from the run's client, into the log)."""
    if is_input_error(exc):
        return {}
    return {
        "error_type": type(exc).__name__,
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }


@dataclass
class ImageJob:
    """One image to analyse: everything a worker needs, nothing it must not touch."""

    index: int  # position in the run (0-based)
    path: str
    content_sha256: str
    key: str
    model_sha256: str
    crop_databar: bool = True
    # The run's lab statistics (LabStats.to_dict(), plain data for a Dask task) or None, and the
    # analyst's surface context (fractoscope.analysis.context).
    lab_stats: dict | None = None
    surface: str = "unknown"

    def failed_record(self, error: str = "", finished: bool = False) -> BatchRecord:
        """This image's row when it could not be analysed (key and hash are empty if hashing failed)."""
        return BatchRecord(
            path=self.path,
            name=Path(self.path).name,
            status=STATUS_FAILED,
            key=self.key,
            content_sha256=self.content_sha256,
            model_sha256=self.model_sha256,
            error=error,
            finished_at=now_iso() if finished else "",
        )


@dataclass
class LoadedImage:
    """The read (and, when the analyzer can, normalised) image, or why it could not be read."""

    sem: SemImage | None = None
    prepared: object | None = None  # PreparedImage, computed off the model's thread
    error: str = ""
    details: dict = field(default_factory=dict)  # failure_details(): a bug's traceback
    seconds: float = 0.0


@dataclass
class ImageOutcome:
    """A finished image: its record, and the files (relative path -> bytes) the record names."""

    index: int
    record: BatchRecord
    files: dict[str, bytes] = field(default_factory=dict)
    cancelled: bool = False
    # analyse_image(defer_files=True): (sem, prediction) whose record fields and files
    # complete_outcome() still has to make (a batch's writer thread does, off the model's thread).
    pending: tuple | None = None


def read_image(job: ImageJob, analyzer: AnalyzerLike) -> LoadedImage:
    """Decode (and normalise) one image; a bad file becomes an error text, never an exception."""
    from fractoscope.io import read_sem

    t0 = time.monotonic()
    out = LoadedImage()
    path = Path(job.path)
    try:
        out.sem = read_sem(path, crop_databar=job.crop_databar)
        prepare = getattr(analyzer, "prepare", None)
        if prepare is not None:
            out.prepared = prepare(out.sem)
    except Exception as exc:  # noqa: BLE001 - every bad file becomes a row
        out.sem = out.prepared = None
        out.error = error_text(exc, path)
        out.details = failure_details(exc)
    out.seconds = time.monotonic() - t0
    return out


def analyse_image(
    job: ImageJob,
    loaded: LoadedImage,
    analyzer: AnalyzerLike,
    progress: Callable[[float, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    defer_files: bool = False,
) -> ImageOutcome:
    """Model, CAMs and output files of one read image. Never raises for a bad image.

    ``defer_files``: stop after the model; the outcome's ``pending`` then holds what
    ``complete_outcome`` turns into the record's answer, overlays, thumbnail and stored prediction.
    """
    path = Path(job.path)
    t0 = time.monotonic()
    record = job.failed_record()
    outcome = ImageOutcome(job.index, record)
    if loaded.error:
        record.error = loaded.error
        record.details = dict(loaded.details)
    else:
        try:
            extra = {"prepared": loaded.prepared} if loaded.prepared is not None else {}
            if job.surface and job.surface != "unknown":
                extra["surface"] = job.surface
            pred = analyzer.analyze(
                loaded.sem, progress=progress, cancel=cancel, with_cams=True, **extra
            )
            if defer_files:
                outcome.pending = (loaded.sem, pred)
            else:
                outcome.files = _fill_record(record, job, loaded.sem, pred)
        except AnalysisCancelled:
            outcome.cancelled = True
        except Exception as exc:  # noqa: BLE001 - one bad image must not stop the batch
            record.status = STATUS_FAILED
            record.error = error_text(exc, path)
            record.details = failure_details(exc)
    record.seconds = round(time.monotonic() - t0 + loaded.seconds, 3)
    record.finished_at = now_iso()
    return outcome


def complete_outcome(job: ImageJob, outcome: ImageOutcome) -> ImageOutcome:
    """The second half of ``analyse_image(..., defer_files=True)``: fill the record from the
    prediction and encode its files. Never raises for a bad image (a failure is the row's error,
    as it is when ``analyse_image`` does all of it)."""
    if outcome.pending is None:
        return outcome
    sem, pred = outcome.pending
    outcome.pending = None
    record = outcome.record
    t0 = time.monotonic()
    try:
        outcome.files = _fill_record(record, job, sem, pred)
    except Exception as exc:  # noqa: BLE001 - one bad image must not stop the batch
        outcome.files = {}
        record.status = STATUS_FAILED
        record.error = error_text(exc, Path(job.path))
        record.details = failure_details(exc)
    record.seconds = round(record.seconds + time.monotonic() - t0, 3)
    record.finished_at = now_iso()
    return outcome


def run_job(job: ImageJob, analyzer: AnalyzerLike) -> ImageOutcome:
    """Read and analyse one image in one call (a Dask task)."""
    return analyse_image(job, read_image(job, analyzer), analyzer)


def _fill_record(
    record: BatchRecord, job: ImageJob, sem: SemImage, pred: Prediction
) -> dict[str, bytes]:
    """Fill ``record`` from ``pred``; return the stored prediction, overlays and thumbnail."""
    pred.path = job.path
    key = job.key
    item_rel = f"items/{key}.npz"
    grey, o1, o2 = overlays_for(pred, sem.image, max_side=OVERLAY_MAX_SIDE)
    stem = f"{safe_stem(Path(job.path))}-{key[:8]}"
    ov1, ov2, thumb = (
        f"overlays/{stem}-level1.png",
        f"overlays/{stem}-level2.png",
        f"thumbs/{key}.png",
    )
    files = {
        item_rel: prediction_npz_bytes(pred),
        ov1: png_bytes(o1),
        ov2: png_bytes(o2),
        thumb: png_bytes(shrink(grey, THUMB_MAX_SIDE)),
    }
    details = pred.to_json_dict()
    details["image"] = {
        "shape": list(sem.shape),
        "raw_shape": list(sem.raw_shape),
        "databar_rows": sem.databar_rows,
        "databar_source": sem.databar_source,
        "calibration": sem.calibration.to_dict(),
        "instrument": sem.instrument.to_dict(),
        "notes": list(sem.notes),
    }
    l1 = pred.level1
    # A level-1-only (adapted) model has no trained level 2: the row leaves it empty.
    l2 = pred.level2 if pred.has_level2 else None
    record.status = STATUS_OK
    conf = pred.confidence
    record.set_answer(
        l1.label, round(l1.probability, 6),
        l2.label if l2 is not None else None, round(l2.probability, 6) if l2 is not None else None,
        bool(conf.uncertain) if conf is not None else None, str(conf.reason) if conf is not None else "",
    )
    record.margin = round(pred.margin, 6)
    record.pixel_size_m = pred.pixel_size_m
    record.calibration_source = pred.calibration_source
    record.overlay_level1, record.overlay_level2, record.thumbnail = ov1, ov2, thumb
    record.item = item_rel
    record.lab_stats = pred.lab_adjustment
    record.surface = (pred.surface_context or {}).get("context", "unknown")
    record.details = details
    return files
