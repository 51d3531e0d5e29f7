"""Batch runs on a Dask cluster: one task per image, the model loaded once per worker process.

The client (the process running ``fractoscope batch``) keeps everything that makes a run durable:
it hashes each image, decides what an earlier run already did, submits at most a few tasks per
worker thread at a time (a 10⁵-image archive never has 10⁵ futures), and writes each result into
the output folder as it arrives, exactly as the embedded path does. Workers only read images and
compute; a worker that dies mid-image has written nothing, and the scheduler re-runs its task on
another worker.

The model travels to the workers inside a ``WorkerPlugin``: the client sends the weights file and
its model card; each worker process loads it once, after checking the weights' sha256 against the
client's card, and keeps it for every task of the run. So workers need Fractoscope installed and
read access to the image paths, but not the model file. The plugin is registered under a name
that carries the model's sha256, and a run on a cluster whose scheduler holds that plugin and
whose workers have all loaded that model sends nothing (v3's weights are 73 MB per worker).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from fractoscope.batch.work import AnalyzerLike, ImageJob, ImageOutcome, analyse_image, read_image
from fractoscope.errors import FractoscopeError, ModelError
from fractoscope.hashing import sha256_bytes, sha256_file

if TYPE_CHECKING:
    from fractoscope.batch.runner import BatchRun

PLUGIN_NAME = "fractoscope-analyzer"
# Tasks in flight per worker thread: one running, one queued so a thread never waits for the
# client between images, one spare for results in transit.
TASKS_PER_THREAD = 3
CONNECT_TIMEOUT_S = 10  # a reachable scheduler answers in well under a second

# Per worker process: model sha256 -> Analyzer. Filled by AnalyzerPlugin.setup, read by tasks.
_ANALYZERS: dict[str, object] = {}
_LOADS: dict[str, int] = {}
_RECEIVED: dict[str, int] = {}  # model sha256 -> plugin set-ups (the weights arrived) in this worker
# Per worker process: the lab statistics each model's heads are adjusted to now (their JSON), and
# one lock per model so a task's "adjust the heads, analyse" is never split by another task's.
_LAB_APPLIED: dict[str, str] = {}
_LAB_LOCKS: dict[str, threading.Lock] = {}


class ClusterError(FractoscopeError):
    """The Dask cluster could not be started, reached or used."""


class WorkerModelMissing(FractoscopeError):
    """A task ran on a worker whose model plugin is not set up (it failed to load the model)."""


def _plugin_base():
    from distributed.diagnostics.plugin import WorkerPlugin

    return WorkerPlugin


class AnalyzerPlugin(_plugin_base()):
    """Loads the client's model once in each worker process, verified by sha256 against its card."""

    name = PLUGIN_NAME
    idempotent = False

    def __init__(self, weights: bytes, card: dict, model_sha256: str, device: str = "cpu") -> None:
        self.weights = weights
        self.card = card
        self.model_sha256 = model_sha256
        self.device = device
        self._dir: str | None = None

    def setup(self, worker) -> None:
        _RECEIVED[self.model_sha256] = _RECEIVED.get(self.model_sha256, 0) + 1
        actual = sha256_bytes(self.weights)
        if actual != self.model_sha256 or self.card.get("sha256") != self.model_sha256:
            raise ModelError(
                f"model sent to worker {worker.address} has sha256 {actual[:12]}…, "
                f"the client's model card says {self.model_sha256[:12]}…"
            )
        if self.model_sha256 in _ANALYZERS:  # registered again for another run: already loaded
            self.weights = b""
            return
        import json

        import torch

        from fractoscope.analysis.pipeline import Analyzer

        # The worker's threads share the cores it was given; torch must not oversubscribe them.
        torch.set_num_threads(max(1, int(getattr(worker.state, "nthreads", 1))))
        self._dir = tempfile.mkdtemp(prefix="fractoscope-model-")
        name = str(self.card.get("name") or "model")
        path = Path(self._dir) / f"{name}.safetensors"
        path.write_bytes(self.weights)
        path.with_suffix(".json").write_text(json.dumps(self.card), encoding="utf-8")
        # Checks the file against the card again. No tile cache: a worker sees each image once (a
        # re-run after a lost worker lands anywhere), so it would only hold memory.
        analyzer = Analyzer(path, device=self.device, tile_cache=False)
        if analyzer.model_info.sha256 != self.model_sha256:
            raise ModelError("worker loaded a different model than the client's")
        self.weights = b""  # the loaded model is all the worker needs now
        _ANALYZERS[self.model_sha256] = analyzer
        _LOADS[self.model_sha256] = _LOADS.get(self.model_sha256, 0) + 1

    def teardown(self, worker) -> None:
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)


def analyse_on_worker(job: ImageJob) -> ImageOutcome:
    """The Dask task: read and analyse one image with this worker's model."""
    analyzer = _ANALYZERS.get(job.model_sha256)
    if analyzer is None:
        raise WorkerModelMissing(
            f"worker has no model {job.model_sha256[:12]}… loaded (its plugin failed to load it)"
        )
    loaded = read_image(job, analyzer)  # outside the lock: decoding runs beside the model
    lock = _LAB_LOCKS.setdefault(job.model_sha256, threading.Lock())
    with lock:
        _apply_lab_stats(job.model_sha256, analyzer, job.lab_stats)
        return analyse_image(job, loaded, analyzer)


def _apply_lab_stats(model_sha256: str, analyzer, lab: dict | None) -> None:
    """Adjust this worker's heads to the run's lab statistics (sent with every task as plain
    data); recomputed only when they differ from what the heads already carry."""
    import json

    from fractoscope.analysis.labstats import LabStats

    key = json.dumps(lab, sort_keys=True) if lab else ""
    if _LAB_APPLIED.get(model_sha256, "") == key:
        return
    analyzer.set_lab_stats(LabStats.from_dict(lab) if lab else None)
    _LAB_APPLIED[model_sha256] = key


def worker_model_loads(dask_worker=None) -> dict[str, int]:
    """How often each model was loaded in this worker process (``client.run`` diagnostic)."""
    return {"pid": os.getpid(), **_LOADS}


def worker_model_receipts(dask_worker=None) -> dict[str, int]:
    """How often each model's weights reached this worker process (``client.run`` diagnostic)."""
    return {"pid": os.getpid(), **_RECEIVED}


def plugin_name(model_sha256: str) -> str:
    return f"{PLUGIN_NAME}-{model_sha256[:16]}"


def _model_weights(analyzer: AnalyzerLike) -> tuple[bytes, dict]:
    """The client's weights file and card, checked against the model it is running."""
    from fractoscope.model.checkpoint import default_model_path, read_card

    path = getattr(analyzer, "model_path", None)
    path = Path(path) if path else default_model_path()
    sha = analyzer.model_info.sha256
    if not path.is_file() or sha256_file(path) != sha:
        raise ClusterError(
            f"cannot find the weights file of model {analyzer.model_info.name} "
            f"(sha256 {sha[:12]}…) to send to the workers"
        )
    return path.read_bytes(), read_card(path)


class DaskPool:
    """A Dask client (on a local cluster it starts, or on an existing scheduler) with the model
    plugin registered; ``process`` runs a ``BatchRun``'s images on it."""

    def __init__(
        self, analyzer: AnalyzerLike, workers: int | None = None, scheduler: str | None = None
    ) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - a dependency; only a broken install lacks it
            raise ClusterError("dask.distributed is not installed (pip install distributed)") from None
        self.cluster = None
        self.client = None
        self.model_sha256 = analyzer.model_info.sha256
        weights, card = _model_weights(analyzer)
        try:
            if scheduler:
                self.client = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
            else:
                n = int(workers or 1)
                if n < 1:
                    raise ClusterError("--workers must be at least 1")
                cores = os.cpu_count() or 1
                self.cluster = LocalCluster(
                    n_workers=n,
                    threads_per_worker=max(1, cores // n),  # N workers x threads = cores
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                self.client = Client(self.cluster, set_as_default=False)
        except ClusterError:
            self.close()
            raise
        except Exception as exc:  # noqa: BLE001 - timeouts, refused connections, bad addresses
            self.close()
            what = f"cannot use Dask scheduler {scheduler}" if scheduler else "cannot start a local Dask cluster"
            raise ClusterError(f"{what}: {exc}") from None
        device = getattr(analyzer, "device", "cpu")
        try:
            if not self._holds_model():
                self._register(AnalyzerPlugin(weights, card, self.model_sha256, device))
        except Exception as exc:
            self.close()
            raise ClusterError(f"a Dask worker could not load the model: {exc}") from None

    def _holds_model(self) -> bool:
        """True when an earlier run left this model on the cluster: its plugin registered on the
        scheduler (so a worker that joins or restarts loads it) and loaded by every worker now."""
        name = plugin_name(self.model_sha256)
        try:
            # A lambda travels by value: the scheduler need not have Fractoscope installed.
            names = self.client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.worker_plugins))
            loads = self.client.run(worker_model_loads)
        except Exception:  # noqa: BLE001 - any doubt: send the model as usual
            return False
        return name in names and bool(loads) and all(self.model_sha256 in v for v in loads.values())

    def _register(self, plugin: AnalyzerPlugin) -> None:
        """Register this model's plugin in place of any other model's (workers that join later
        load only the newest model, as when every model's plugin had one name)."""
        name = plugin_name(self.model_sha256)
        try:
            names = self.client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.worker_plugins))
        except Exception:  # noqa: BLE001 - nothing to tidy up is not a reason to fail
            names = []
        for other in names:
            if other.startswith(PLUGIN_NAME) and other != name:
                self.client.unregister_worker_plugin(other)
        self.client.register_plugin(plugin, name=name)

    def __enter__(self) -> DaskPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            except Exception:  # noqa: BLE001 - closing a broken connection must not mask the cause
                pass
        if self.cluster is not None:
            try:
                self.cluster.close()
            except Exception:  # noqa: BLE001
                pass
        self.client = self.cluster = None

    def capacity(self) -> int:
        """How many tasks to keep in flight: a few per worker thread, at least two."""
        threads = sum(self.client.nthreads().values())
        return max(2, TASKS_PER_THREAD * threads)

    # -- the run ----------------------------------------------------------------------------
    def process(self, run: BatchRun) -> None:
        from distributed import as_completed

        jobs = run.jobs()
        run.restart_eta()  # starting the cluster is not part of the images' pace
        exhausted = False
        in_flight: dict = {}  # future -> ImageJob
        # Bound to this client's loop: ``distributed.wait`` would use the process's default
        # client, which in a host application (or a test) may be another one.
        finished = as_completed(loop=self.client.loop)
        cap, cap_checked = self.capacity(), time.monotonic()
        try:
            while True:
                if run.cancelled():
                    run.summary.cancelled = True
                    return
                paused = run.paused()
                if paused and not in_flight:
                    run.wait_while_paused()
                    continue
                if time.monotonic() - cap_checked > 5:  # workers may join or leave a cluster
                    cap, cap_checked = self.capacity(), time.monotonic()
                while not paused and not exhausted and len(in_flight) < cap:
                    item = next(jobs, None)
                    if item is None:
                        exhausted = True
                        break
                    if item.reused is not None:
                        run.reuse(item)
                    elif item.error:
                        run.commit(run.hash_failure(item))
                    else:
                        fut = self.client.submit(analyse_on_worker, item.job, pure=False)
                        in_flight[fut] = item.job
                        finished.add(fut)
                        run.event(
                            "image_started",
                            index=item.job.index,
                            path=item.job.path,
                            message=Path(item.job.path).name,
                        )
                if not in_flight:
                    if exhausted:
                        return
                    continue
                done = finished.next_batch(block=False)
                if not done:  # short naps: cancel and pause stay responsive
                    time.sleep(0.05)
                    continue
                for fut in done:
                    job = in_flight.pop(fut)
                    run.commit(self._outcome(fut, job))
        finally:
            for fut in in_flight:
                fut.cancel()

    @staticmethod
    def _outcome(fut, job: ImageJob) -> ImageOutcome:
        """The task's result; a task the cluster gave up on is a failed row with the reason."""
        from distributed import KilledWorker

        try:
            return fut.result()
        except KilledWorker:
            reason = "the worker processes analysing this image died repeatedly (out of memory?)"
        except WorkerModelMissing as exc:
            raise ClusterError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - e.g. a worker without Fractoscope installed
            raise ClusterError(f"Dask task failed: {type(exc).__name__}: {exc}") from None
        return ImageOutcome(job.index, job.failed_record(reason, finished=True))
