"""Run the analyzer over many images: durable incremental results, resume, optional Dask cluster.

Qt-free; the CLI and the GUI batch panel both drive ``run_batch``. A run is a ``BatchRun`` with
named steps: collect the inputs, open (and repair) the output folder, write the manifest,
process the images, finish. Processing is either embedded (a reader thread hashes, decodes and
normalises the next image while the model works on the current one, and a writer thread makes
the overlays, thumbnail and stored prediction of the previous one and writes them and its rows;
the queues between them hold one and two images, so memory stays flat) or spread over a Dask
cluster (``workers`` / ``scheduler``). Either way this process alone writes the output folder,
one image at a time, files first and rows last: an image is done only once its rows are written.
"""

from __future__ import annotations

import logging
import platform
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fractoscope import __version__
from fractoscope.atomic import write_atomic
from fractoscope.batch.eta import EtaEstimator
from fractoscope.batch.inputs import collect_inputs
from fractoscope.batch.records import BatchRecord
from fractoscope.batch.store import ResultStore
from fractoscope.batch.work import (
    AnalyzerLike,
    ImageJob,
    ImageOutcome,
    LoadedImage,
    analyse_image,
    complete_outcome,
    error_text,
    now_iso,
    read_image,
    result_key,
)
from fractoscope.hashing import sha256_file

__all__ = ["AnalyzerLike", "BatchEvent", "BatchRun", "BatchSummary", "result_key", "run_batch"]

log = logging.getLogger(__name__)


@dataclass
class BatchEvent:
    """Progress report. ``kind``: ``started``, ``image_started``, ``image_progress``,
    ``image_done`` (``record`` set; also for images already done by an earlier run, with
    ``reused=True``), ``paused``, ``finished``, or ``lab_stats`` (the lab-statistics stage before
    the images: its progress, then one last event whose ``message`` says what the run uses;
    see ``BatchRun.prepare_lab_stats``)."""

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


@dataclass
class _Item:
    """An image on its way through the embedded path."""

    job: ImageJob
    reused: BatchRecord | None = None  # the earlier run's row, when nothing needs recomputing
    loaded: LoadedImage | None = None
    error: str = ""  # the file could not even be hashed


# Analysed images waiting for the writer: with one being written, the model is at most this many
# images ahead of the folder (each holds its pixels and maps until written).
WRITE_QUEUE = 2


class _Writer:
    """The embedded path's writer thread: overlays, thumbnail, stored prediction, then files and
    rows (``BatchRun.commit``), in the order the images were analysed.

    An image is done only once ``commit`` has written its row. ``close(drain=True)`` writes all
    that is queued; ``drain=False`` (cancelled, interrupted) finishes the image being written and
    drops the rest, as does a cancel seen between images. An exception in this thread stops it
    and is raised again in the model's thread (``check``, ``put``), so a failed write
    fails the run as it did when writing followed the model on one thread.
    """

    def __init__(self, run: BatchRun) -> None:
        self.run = run
        self._q: queue.Queue[tuple[ImageJob, ImageOutcome] | None] = queue.Queue(maxsize=WRITE_QUEUE)
        self._drop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="batch-writer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        try:
            while True:
                got = self._q.get()
                if got is None or self._drop.is_set() or self.run.cancelled():
                    return
                job, outcome = got
                self.run.commit(complete_outcome(job, outcome))
        except BaseException as exc:  # noqa: BLE001 - handed to the model's thread, raised there
            self._error = exc

    def check(self) -> None:
        """Raise the writer's exception, if it had one, in the calling thread."""
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def put(self, job: ImageJob, outcome: ImageOutcome) -> None:
        while True:
            self.check()
            if not self._thread.is_alive():
                self.check()
                return  # stopped (cancelled): nothing more is written
            try:
                self._q.put((job, outcome), timeout=0.2)
                return
            except queue.Full:
                continue

    def close(self, drain: bool) -> None:
        """Stop the thread (after writing what is queued when ``drain``) and wait for it."""
        if not drain:
            self._drop.set()
        while self._thread.is_alive():
            try:
                self._q.put(None, timeout=0.2)
                break
            except queue.Full:
                if not drain:  # make room: what is queued is dropped anyway
                    try:
                        self._q.get_nowait()
                    except queue.Empty:
                        pass
        self._thread.join()


class BatchRun:
    """One batch run over ``inputs`` into ``out_dir``. Use ``run()`` once."""

    def __init__(
        self,
        inputs: Iterable[Path | str] | Path | str,
        out_dir: Path | str,
        analyzer: AnalyzerLike,
        *,
        recursive: bool = False,
        progress: Callable[[BatchEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        pause: Callable[[], bool] | None = None,
        crop_databar: bool = True,
        workers: int | None = None,
        scheduler: str | None = None,
        lab_stats: bool = True,
        surface: str | None = None,
    ) -> None:
        from fractoscope.analysis.context import check_context

        self.inputs = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
        self.out_dir = Path(out_dir)
        self.analyzer = analyzer
        self.recursive = recursive
        self._emit = progress or (lambda ev: None)
        self._cancel = cancel or (lambda: False)
        self._pause = pause or (lambda: False)
        self.crop_databar = crop_databar
        self.workers = workers
        self.scheduler = scheduler
        # Settings that change a result: part of every resume key.
        self.settings = {"crop_databar": crop_databar, "with_cams": True}
        # The analyst's surface context (unknown by default: then not in the key, so results of
        # runs made before it existed are still reused).
        self.surface = check_context(surface)
        if self.surface != "unknown":
            self.settings["surface"] = self.surface
        # Lab statistics (prepare_lab_stats): wanted, what is used (None: each image on its own),
        # and what the run says about them once.
        self.use_lab_stats = lab_stats
        self.lab_stats = None
        self.lab_stats_message = ""
        self._lab_restore: tuple | None = None
        self.model = analyzer.model_info
        self.images: list[Path] = []
        self.summary = BatchSummary(out_dir=self.out_dir)
        self._store: ResultStore | None = None
        self._done_by_path: dict[str, BatchRecord] = {}
        self._manifest: dict[str, Any] = {}
        self._eta = EtaEstimator()
        self._t_start = time.monotonic()
        # The embedded path commits from its writer thread while the model's thread reports
        # progress: one lock keeps the counts, the ETA and the order of events consistent.
        self._lock = threading.RLock()
        self._embedded = False  # run's images analysed by self.analyzer in this process (no cluster)

    # -- the steps, in order ----------------------------------------------------------------
    def run(self) -> BatchSummary:
        """Analyse every image; resume what an earlier run left. Never raises for a bad image.

        Raises ``FractoscopeError`` before anything is written when the inputs make no run
        (missing path, no images), and when the output folder cannot be used (not writable,
        another run holds it) or the cluster cannot be reached.
        """
        self._t_start = time.monotonic()
        self.collect()
        pool = self.connect()  # a cluster that cannot be used fails the run before any write
        try:
            self.open_store()
            try:
                self.start_manifest()
                self.event("started", message=f"{len(self.images)} images")
                self._embedded = pool is None
                self.prepare_lab_stats()
                self._eta.restart()
                if self.summary.cancelled:  # cancelled while fitting the lab statistics
                    pass
                elif pool is not None:
                    pool.process(self)
                else:
                    self.process_embedded()
                self.finish()
            finally:
                self._store.close()
                self.restore_lab_stats()
                release = getattr(self.analyzer, "release_kept_tiles", None)
                if release is not None:
                    release()
        finally:
            if pool is not None:
                pool.close()
        return self.summary

    def collect(self) -> None:
        found = collect_inputs(
            self.inputs, recursive=self.recursive, exclude=self.out_dir, require_images=True
        )
        self.images = found.images
        self._ignored = found.ignored
        self.summary.total = len(found.images)
        self.summary.ignored = len(found.ignored)

    def open_store(self) -> None:
        """Lock the folder, repair a cut-short last line, drop earlier failures to retry them."""
        self._store = store = ResultStore(self.out_dir)
        previous = store.load()
        self.summary.repaired_lines = store.repaired_lines
        wanted = {str(p) for p in self.images}
        kept = [r for r in previous if r.ok or r.path not in wanted]
        self._done_by_path = {r.path: r for r in kept if r.ok}
        store.rewrite(kept)

    def prepare_lab_stats(self) -> None:
        """Lab statistics of this run (``_fit_lab_stats``), recorded in the manifest."""
        self._fit_lab_stats()
        self._manifest_lab_stats()

    def _fit_lab_stats(self) -> None:
        """Lab statistics of this run: the output folder's ``lab_stats.json`` when it holds this
        model's (a resumed run uses the same ones), else fitted on an evenly spaced sample of at
        most 50 of the images (progress events ``lab_stats``) and stored there. Off with fewer
        than 20 usable images, with ``lab_stats=False``, or for a model whose card has no training
        feature statistics; the last ``lab_stats`` event says which, once."""
        from fractoscope.analysis import labfiles
        from fractoscope.analysis.labstats import LabStats
        from fractoscope.errors import AnalysisCancelled, FractoscopeError

        if not self.use_lab_stats:
            self.lab_stats_message = "lab statistics off (--no-lab-stats): each image is judged on its own"
            return
        cm = getattr(self.analyzer, "confidence_model", None)
        if getattr(cm, "feature_mean", None) is None or not hasattr(self.analyzer, "set_lab_stats"):
            self.lab_stats_message = (
                f"lab statistics off: model {self.model.name} has no training feature statistics "
                "in its card (fractoscope calibrate writes them); each image is judged on its own"
            )
            self.event("lab_stats", message=self.lab_stats_message)
            return
        path = self.out_dir / labfiles.LAB_STATS_FILE
        lab = labfiles.read_lab_stats(path, self.model.sha256)
        if lab is None:
            n = len(self.images)
            if n < labfiles.MIN_LAB_IMAGES:
                self.lab_stats_message = labfiles.not_enough_text(n)
            else:
                sample = [self.images[i] for i in labfiles.sample_indices(n)]

                def on_progress(f: float, msg: str) -> None:
                    self.event("lab_stats", fraction=0.0, message=msg)

                # In this process the same analyzer then analyses every image, the sample again:
                # its tiles stay in the tile cache until then, so the sample costs one pass.
                keeping = getattr(self.analyzer, "keeping_tiles", None)
                keep = keeping() if keeping is not None and self._embedded else nullcontext()
                try:
                    with keep:
                        lab, self.lab_stats_message = labfiles.fit_from_files(
                            self.analyzer, sample, self.crop_databar, on_progress, self._cancel
                        )
                except AnalysisCancelled:
                    self.summary.cancelled = True
                    return
                if lab is not None:
                    labfiles.write_lab_stats(path, lab, {"fitted_on": [str(p) for p in sample]})
                    # As stored (rounded): a resumed run and the Dask workers use exactly these.
                    lab = LabStats.from_dict(lab.to_dict())
        if lab is not None:
            prev = self.analyzer.lab_stats
            try:
                self.analyzer.set_lab_stats(lab)
            except FractoscopeError as exc:  # e.g. a damaged file of another feature size
                self.lab_stats_message = f"lab statistics off: {exc}"
                lab = None
            else:
                self._lab_restore = (prev,)
                self.lab_stats = lab
                self.lab_stats_message = lab.describe()
                self.settings["lab_stats"] = labfiles.digest(lab)
        self.event("lab_stats", message=self.lab_stats_message)

    def _manifest_lab_stats(self) -> None:
        """The manifest says what the run's lab statistics are (or why there are none)."""
        self._manifest["lab_stats"] = (
            {"images": self.lab_stats.images, "file": "lab_stats.json", "text": self.lab_stats_message}
            if self.lab_stats is not None
            else {"off": self.lab_stats_message}
        )
        self._manifest["settings"] = {**self.settings, "recursive": self.recursive}
        self._store.write_manifest(self._manifest)

    def restore_lab_stats(self) -> None:
        """Give the analyzer back with the heads it came with (the GUI shares its analyzer)."""
        if self._lab_restore is not None:
            (prev,) = self._lab_restore
            self._lab_restore = None
            self.analyzer.set_lab_stats(prev)

    def start_manifest(self) -> None:
        m = self.model
        self._manifest = {
            "format": "fractoscope-batch",
            "version": 1,
            "app": {"name": "fractoscope", "version": __version__},
            "model": {
                "name": m.name,
                "sha256": m.sha256,
                "input_size": m.input_size,
                "taxonomy": m.taxonomy.to_dict()["tree"],
            },
            "device": getattr(self.analyzer, "device", "cpu"),
            "settings": {**self.settings, "recursive": self.recursive},
            "inputs": [str(Path(p)) for p in self.inputs],
            "started_at": now_iso(),
            "status": "running",
            "platform": {"python": platform.python_version(), "system": platform.platform()},
            "counts": {"images": len(self.images), "ignored": len(self._ignored)},
            "ignored_files": [str(p) for p in self._ignored[:1000]],
        }
        self._manifest["surface"] = self.surface
        if self.workers or self.scheduler:
            self._manifest["cluster"] = (
                {"scheduler": self.scheduler} if self.scheduler else {"local_workers": self.workers}
            )
        self._store.write_manifest(self._manifest)

    def finish(self) -> None:
        """Compact the results (one row per path), close the manifest, report the end."""
        s = self.summary
        store = self._store
        store.close_files()
        final = store.load()
        store.rewrite(final)
        s.elapsed_s = time.monotonic() - self._t_start
        self._manifest.update(
            finished_at=now_iso(),
            status="cancelled" if s.cancelled else "complete",
            counts={
                "images": s.total,
                "ok": s.ok,
                "failed": s.failed,
                "reused": s.reused,
                "ignored": s.ignored,
                "rows": len(final),
            },
            elapsed_s=round(s.elapsed_s, 2),
        )
        store.write_manifest(self._manifest)
        self.event("finished", fraction=1.0, message="cancelled" if s.cancelled else "complete")

    # -- shared by both processing paths ----------------------------------------------------
    def jobs(self) -> Iterator[_Item]:
        """Hash each image and decide: reuse the earlier row, or analyse (a job)."""
        lab = self.lab_stats.to_dict() if self.lab_stats is not None else None
        for i, p in enumerate(self.images):
            item = _Item(ImageJob(
                i, str(p), "", "", self.model.sha256, self.crop_databar, lab, self.surface
            ))
            try:
                item.job.content_sha256 = sha256_file(p)
            except Exception as exc:  # noqa: BLE001 - unreadable file: a failed row
                item.error = error_text(exc, p)
                yield item
                continue
            item.job.key = result_key(item.job.content_sha256, self.model.sha256, self.settings)
            prev = self._done_by_path.get(str(p))
            if prev is not None and prev.key == item.job.key and (self.out_dir / prev.item).is_file():
                item.reused = prev
            yield item

    def commit(self, outcome: ImageOutcome) -> None:
        """Files first (each atomic), then the record that names them: a row always has its files."""
        with self._lock:
            self._commit(outcome)

    def _commit(self, outcome: ImageOutcome) -> None:
        for rel, data in outcome.files.items():
            write_atomic(self.out_dir / rel, data)
        record = outcome.record
        if not record.ok and record.details.get("traceback"):
            # A bug, not bad input (batch.work.failure_details): its traceback goes to the log
            # here, on the run's client, whichever process (thread or Dask worker) computed it.
            log.error("%s: %s\n%s", record.path, record.error, record.details["traceback"].rstrip())
        self._store.append(record)
        s = self.summary
        if record.ok:
            s.ok += 1
        else:
            s.failed += 1
            s.failures.append((record.path, record.error))
        self._eta.computed()
        self.event(
            "image_done",
            index=outcome.index,
            path=record.path,
            record=record,
            message=record.status,
        )

    def reuse(self, item: _Item) -> None:
        with self._lock:
            self._reuse(item)

    def _reuse(self, item: _Item) -> None:
        self.summary.ok += 1
        self.summary.reused += 1
        self.event(
            "image_done",
            index=item.job.index,
            path=item.job.path,
            record=item.reused,
            reused=True,
            message="already done",
        )

    def hash_failure(self, item: _Item) -> ImageOutcome:
        return ImageOutcome(item.job.index, item.job.failed_record(item.error, finished=True))

    def restart_eta(self) -> None:
        self._eta.restart()

    def cancelled(self) -> bool:
        return bool(self._cancel())

    def paused(self) -> bool:
        return bool(self._pause())

    def wait_while_paused(self) -> None:
        if not self._pause():
            return
        self.event("paused")
        while self._pause() and not self._cancel():
            time.sleep(0.1)
        self._eta.restart()  # the pause is not part of the images' pace

    def event(self, kind: str, **kw: Any) -> None:
        with self._lock:
            s = self.summary
            n = s.total
            handled = s.ok + s.failed
            kw.setdefault("fraction", handled / n if n else 1.0)
            if "eta_s" not in kw and kind != "finished":
                kw["eta_s"] = self._eta.eta(n - handled)
            self._emit(BatchEvent(kind=kind, total=n, done=s.ok, failed=s.failed, **kw))

    # -- embedded: one process, a reader thread ahead of the model, a writer thread behind it --
    def process_embedded(self) -> None:
        stop = threading.Event()
        q: queue.Queue[_Item | None] = queue.Queue(maxsize=1)

        def put(x: _Item | None) -> None:
            while not stop.is_set():
                try:
                    q.put(x, timeout=0.2)
                    return
                except queue.Full:
                    continue

        def reader() -> None:  # hash, decode and normalise the next image off the model's thread
            for item in self.jobs():
                if stop.is_set():
                    return
                if item.reused is None and not item.error:
                    item.loaded = read_image(item.job, self.analyzer)
                put(item)
            put(None)

        th = threading.Thread(target=reader, name="batch-reader", daemon=True)
        th.start()
        writer = _Writer(self)
        try:
            finished = self._model_loop(q, writer)
        except BaseException:
            # Interrupted (KeyboardInterrupt) or failed: the writer finishes the image it is
            # writing and drops the rest, which are not done and are analysed again on resume.
            stop.set()
            writer.close(drain=False)
            th.join(timeout=30)
            raise
        stop.set()
        # At the end everything analysed is written; when cancelled, as above.
        writer.close(drain=finished)
        th.join(timeout=30)
        writer.check()

    def _model_loop(self, q: queue.Queue, writer: _Writer) -> bool:
        """Analyse what the reader hands over and pass it to the writer. True at the end of the
        images, False when cancelled."""
        n = self.summary.total
        while True:
            writer.check()
            if self._cancel():
                self.summary.cancelled = True
                return False
            self.wait_while_paused()
            if self._cancel():
                continue
            item = q.get()
            if item is None:
                return True
            if item.reused is not None:
                self.reuse(item)
                continue
            if item.error:
                writer.put(item.job, self.hash_failure(item))
                continue
            job = item.job
            self.event(
                "image_started",
                index=job.index,
                path=job.path,
                message=Path(job.path).name,
            )

            def on_progress(f: float, msg: str, _job: ImageJob = job) -> None:
                f = max(0.0, min(1.0, f))
                handled = self.summary.ok + self.summary.failed
                self.event(
                    "image_progress",
                    index=_job.index,
                    path=_job.path,
                    fraction=(handled + f) / n,
                    eta_s=self._eta.eta(n - handled - f),
                    message=msg,
                )

            outcome = analyse_image(
                job, item.loaded, self.analyzer, on_progress, self._cancel, defer_files=True
            )
            item.loaded = None  # release pixels before waiting for the next image
            if outcome.cancelled:
                self.summary.cancelled = True
                return False
            writer.put(job, outcome)

    # -- distributed: tasks per image on a Dask cluster (fractoscope.batch.distributed) -----
    def connect(self):
        """The Dask pool of a distributed run (model loaded on every worker), else None."""
        if not (self.workers or self.scheduler):
            return None
        from fractoscope.batch.distributed import DaskPool

        return DaskPool(self.analyzer, workers=self.workers, scheduler=self.scheduler)


def run_batch(
    inputs: Iterable[Path | str],
    out_dir: Path | str,
    analyzer: AnalyzerLike,
    recursive: bool = False,
    progress: Callable[[BatchEvent], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    pause: Callable[[], bool] | None = None,
    crop_databar: bool = True,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    lab_stats: bool = True,
    surface: str | None = None,
) -> BatchSummary:
    """Analyse every image of ``inputs`` into ``out_dir``; resume what an earlier run left.

    ``workers``: start a local Dask cluster of that many worker processes; ``scheduler``
    (``tcp://host:port``): use an existing cluster. Neither: the embedded in-process path.
    ``lab_stats``: align the features to this batch's images first (see
    ``BatchRun.prepare_lab_stats``); ``surface``: the analyst's surface context for every image.
    Never raises for a bad image (it becomes a failed row). Raises ``FractoscopeError`` when
    the inputs make no run ("no images found in …", a missing path: before anything is
    created), when the output folder cannot be used, or when the cluster cannot be used.
    """
    return BatchRun(
        inputs,
        out_dir,
        analyzer,
        recursive=recursive,
        progress=progress,
        cancel=cancel,
        pause=pause,
        crop_databar=crop_databar,
        workers=workers,
        scheduler=scheduler,
        lab_stats=lab_stats,
        surface=surface,
    ).run()
