"""Run the analyzer over many images: prefetching, durable incremental results, resume.

Qt-free; the CLI and the GUI batch panel both drive ``run_batch``. A reader thread hashes and
decodes the next image while the model works on the current one; the queue between them holds
one image, so memory stays flat however many images there are.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fractoscope import __version__
from fractoscope.analysis.results import ModelInfo, Prediction
from fractoscope.batch.inputs import collect_inputs
from fractoscope.batch.records import STATUS_ERROR, STATUS_OK, BatchRecord
from fractoscope.batch.store import ResultStore, write_atomic
from fractoscope.batch.stored import save_prediction
from fractoscope.errors import AnalysisCancelled, FractoscopeError
from fractoscope.io.sem_image import SemImage
from fractoscope.report.imaging import overlays_for, png_bytes, shrink

OVERLAY_MAX_SIDE = 2048  # overlay PNGs: full resolution up to this size
THUMB_MAX_SIDE = 320


class AnalyzerLike(Protocol):
    model_info: ModelInfo
    device: str

    def analyze(
        self, sem: SemImage, progress=None, cancel=None, with_cams: bool = True
    ) -> Prediction: ...


@dataclass
class BatchEvent:
    """Progress report. ``kind``: ``started``, ``image_started``, ``image_progress``,
    ``image_done`` (``record`` set; also for images already done by an earlier run, with
    ``reused=True``), ``paused`` or ``finished``."""

    kind: str
    index: int = -1  # position of the image in the run (0-based)
    total: int = 0
    path: str = ""
    record: BatchRecord | None = None
    reused: bool = False
    fraction: float = 0.0  # of the whole run
    eta_s: float | None = None
    message: str = ""
    done: int = 0
    failed: int = 0


@dataclass
class BatchSummary:
    out_dir: Path
    total: int = 0  # images attempted (ignored files not included)
    ok: int = 0
    failed: int = 0
    reused: int = 0  # already done by an earlier run with the same content and model
    ignored: int = 0  # non-image files in the folders
    cancelled: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)
    elapsed_s: float = 0.0
    repaired_lines: int = 0

    @property
    def remaining(self) -> int:
        return self.total - self.ok - self.failed

    @property
    def exit_code(self) -> int:
        """0 all ok; 1 some image failed; 130 cancelled before the end."""
        if self.cancelled:
            return 130
        return 1 if self.failed else 0


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).astimezone().isoformat(timespec="seconds")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def result_key(content_sha256: str, model_sha256: str, settings: dict) -> str:
    """Resume key: same bytes + same model + same result-relevant settings = same result."""
    blob = json.dumps([content_sha256, model_sha256, settings], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _safe_stem(path: Path) -> str:
    keep = "".join(c if (c.isalnum() or c in "-_.") else "_" for c in path.stem)
    return keep[:60] or "image"


@dataclass
class _Item:
    index: int
    path: Path
    sha: str = ""
    key: str = ""
    sem: SemImage | None = None
    prepared: object | None = None  # PreparedImage from the reader thread, when available
    error: str = ""
    done: BatchRecord | None = None
    read_s: float = 0.0


def _read_error_text(exc: BaseException, path: Path) -> str:
    if isinstance(exc, FractoscopeError):
        msg = str(exc)
        # The row already names the file: keep only the reason.
        for prefix in (f"{path}: ", f"{path.name}: "):
            if msg.startswith(prefix):
                return msg[len(prefix) :]
        return msg
    if isinstance(exc, OSError):
        return f"cannot read file: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


def run_batch(
    inputs: Iterable[Path | str],
    out_dir: Path | str,
    analyzer: AnalyzerLike,
    recursive: bool = False,
    progress: Callable[[BatchEvent], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    pause: Callable[[], bool] | None = None,
    crop_databar: bool = True,
) -> BatchSummary:
    """Analyse every image of ``inputs`` into ``out_dir``; resume what an earlier run left.

    Never raises for a bad image (it becomes an error row). Raises ``FractoscopeError`` only when
    the output folder cannot be used (not writable, or another run holds it).
    """
    from fractoscope.io import read_sem

    t_start = time.monotonic()
    out_dir = Path(out_dir)
    cancel = cancel or (lambda: False)
    pause = pause or (lambda: False)
    emit = progress or (lambda ev: None)

    inputs = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    found = collect_inputs(inputs, recursive=recursive, exclude=out_dir)
    images = found.images
    summary = BatchSummary(out_dir=out_dir, total=len(images), ignored=len(found.ignored))
    model = analyzer.model_info
    settings = {"crop_databar": crop_databar, "with_cams": True}

    store = ResultStore(out_dir)
    try:
        previous = store.load()
        summary.repaired_lines = store.repaired_lines
        wanted = {str(p) for p in images}
        # Earlier errors of images in this run are retried; everything else stays until superseded.
        kept = [r for r in previous if r.ok or r.path not in wanted]
        done_by_path = {r.path: r for r in kept if r.ok}
        store.rewrite(kept)

        manifest: dict[str, Any] = {
            "format": "fractoscope-batch",
            "version": 1,
            "app": {"name": "fractoscope", "version": __version__},
            "model": {
                "name": model.name,
                "sha256": model.sha256,
                "input_size": model.input_size,
                "taxonomy": model.taxonomy.to_dict()["tree"],
            },
            "device": getattr(analyzer, "device", "cpu"),
            "settings": {**settings, "recursive": recursive},
            "inputs": [str(Path(p)) for p in inputs],
            "started_at": _now(),
            "status": "running",
            "platform": {"python": platform.python_version(), "system": platform.platform()},
            "counts": {"images": len(images), "ignored": len(found.ignored)},
            "ignored_files": [str(p) for p in found.ignored[:1000]],
        }
        store.write_manifest(manifest)
        emit(BatchEvent("started", total=len(images), message=f"{len(images)} images"))

        stop = threading.Event()
        q: queue.Queue[_Item | None] = queue.Queue(maxsize=1)

        def reader() -> None:
            for i, p in enumerate(images):
                if stop.is_set():
                    break
                item = _Item(i, p)
                t0 = time.monotonic()
                try:
                    item.sha = file_sha256(p)
                    item.key = result_key(item.sha, model.sha256, settings)
                    prev = done_by_path.get(str(p))
                    if (
                        prev is not None
                        and prev.key == item.key
                        and (out_dir / prev.item).is_file()
                    ):
                        item.done = prev
                    else:
                        item.sem = read_sem(p, crop_databar=crop_databar)
                        prepare = getattr(analyzer, "prepare", None)
                        if prepare is not None:  # normalise here, off the model's thread
                            item.prepared = prepare(item.sem)
                except Exception as exc:  # noqa: BLE001 - every bad file becomes a row
                    item.error = _read_error_text(exc, p)
                item.read_s = time.monotonic() - t0
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
            while not stop.is_set():
                try:
                    q.put(None, timeout=0.2)
                    break
                except queue.Full:
                    continue

        th = threading.Thread(target=reader, name="batch-reader", daemon=True)
        th.start()
        n = len(images)
        computed_s: list[float] = []

        def eta(position: float) -> float | None:
            if not computed_s:
                return None
            return max(0.0, (n - position) * (sum(computed_s[-20:]) / len(computed_s[-20:])))

        try:
            while True:
                if cancel():
                    summary.cancelled = True
                    break
                if pause():
                    emit(BatchEvent("paused", total=n, done=summary.ok, failed=summary.failed))
                    while pause() and not cancel():
                        time.sleep(0.1)
                    continue
                item = q.get()
                if item is None:
                    break
                base = item.index / n if n else 1.0
                if item.done is not None:
                    summary.ok += 1
                    summary.reused += 1
                    emit(
                        BatchEvent(
                            "image_done",
                            item.index,
                            n,
                            str(item.path),
                            item.done,
                            True,
                            (item.index + 1) / n,
                            eta(item.index + 1),
                            "already done",
                            summary.ok,
                            summary.failed,
                        )
                    )
                    continue
                emit(
                    BatchEvent(
                        "image_started",
                        item.index,
                        n,
                        str(item.path),
                        fraction=base,
                        eta_s=eta(item.index),
                        message=item.path.name,
                        done=summary.ok,
                        failed=summary.failed,
                    )
                )
                t0 = time.monotonic()
                record = BatchRecord(
                    path=str(item.path),
                    name=item.path.name,
                    status=STATUS_ERROR,
                    key=item.key,
                    content_sha256=item.sha,
                    model_sha256=model.sha256,
                )
                if item.error:
                    record.error = item.error
                else:

                    def on_progress(
                        f: float, msg: str, _i: int = item.index, _p: str = str(item.path)
                    ) -> None:
                        emit(
                            BatchEvent(
                                "image_progress",
                                _i,
                                n,
                                _p,
                                fraction=(_i + max(0.0, min(1.0, f))) / n,
                                eta_s=eta(_i + f),
                                message=msg,
                                done=summary.ok,
                                failed=summary.failed,
                            )
                        )

                    try:
                        extra = {"prepared": item.prepared} if item.prepared is not None else {}
                        pred = analyzer.analyze(
                            item.sem, progress=on_progress, cancel=cancel, with_cams=True, **extra
                        )
                        _write_outputs(out_dir, item, pred, record)
                    except AnalysisCancelled:
                        summary.cancelled = True
                        break
                    except Exception as exc:  # noqa: BLE001 - one bad image must not stop the batch
                        record.status = STATUS_ERROR
                        record.error = (
                            str(exc)
                            if isinstance(exc, FractoscopeError)
                            else f"{type(exc).__name__}: {exc}"
                        )
                item.sem = item.prepared = None  # release pixels before waiting for the next image
                record.seconds = round(time.monotonic() - t0 + item.read_s, 3)
                record.finished_at = _now()
                store.append(record)
                if record.ok:
                    summary.ok += 1
                    computed_s.append(record.seconds)
                else:
                    summary.failed += 1
                    summary.failures.append((record.path, record.error))
                emit(
                    BatchEvent(
                        "image_done",
                        item.index,
                        n,
                        record.path,
                        record,
                        False,
                        (item.index + 1) / n,
                        eta(item.index + 1),
                        record.status,
                        summary.ok,
                        summary.failed,
                    )
                )
        finally:
            stop.set()
            th.join(timeout=30)

        # Final compaction: one row per path, superseded rows of changed files gone.
        final, _ = _dedupe(store)
        store.rewrite(final)
        summary.elapsed_s = time.monotonic() - t_start
        manifest.update(
            finished_at=_now(),
            status="cancelled" if summary.cancelled else "complete",
            counts={
                "images": summary.total,
                "ok": summary.ok,
                "failed": summary.failed,
                "reused": summary.reused,
                "ignored": summary.ignored,
                "rows": len(final),
            },
            elapsed_s=round(summary.elapsed_s, 2),
        )
        store.write_manifest(manifest)
        emit(
            BatchEvent(
                "finished",
                total=n,
                fraction=1.0,
                done=summary.ok,
                failed=summary.failed,
                message="cancelled" if summary.cancelled else "complete",
            )
        )
        return summary
    finally:
        store.close()


def _dedupe(store: ResultStore) -> tuple[list[BatchRecord], int]:
    store.close_files()
    return store.load(), store.repaired_lines


def _write_outputs(out_dir: Path, item: _Item, pred: Prediction, record: BatchRecord) -> None:
    """Item .npz, overlays and thumbnail first (atomic each), then fill the record that refers to them."""
    sem = item.sem
    assert sem is not None
    pred.path = str(item.path)
    key = item.key
    item_rel = f"items/{key}.npz"
    save_prediction(out_dir / item_rel, pred)
    grey, o1, o2 = overlays_for(pred, sem.image, max_side=OVERLAY_MAX_SIDE)
    stem = f"{_safe_stem(item.path)}-{key[:8]}"
    ov1, ov2, thumb = (
        f"overlays/{stem}-level1.png",
        f"overlays/{stem}-level2.png",
        f"thumbs/{key}.png",
    )
    write_atomic(out_dir / ov1, png_bytes(o1))
    write_atomic(out_dir / ov2, png_bytes(o2))
    write_atomic(out_dir / thumb, png_bytes(shrink(grey, THUMB_MAX_SIDE)))

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
    l1, l2 = pred.level1, pred.level2
    record.status = STATUS_OK
    record.level1, record.p_level1 = l1.label, round(l1.probability, 6)
    record.level2, record.p_level2 = l2.label, round(l2.probability, 6)
    record.margin = round(pred.margin, 6)
    record.pixel_size_m = pred.pixel_size_m
    record.calibration_source = pred.calibration_source
    record.overlay_level1, record.overlay_level2, record.thumbnail = ov1, ov2, thumb
    record.item = item_rel
    record.details = details
