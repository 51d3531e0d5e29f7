"""Batch throughput, Dask overhead and memory (not a test: run by hand on a machine you can load).

    OMP_NUM_THREADS=2 python tests/benchmarks/batch_throughput.py --images 4 --sizes 1024x768 2048x1536

For each image size it generates ``--images`` calibrated fractographs, then runs the same batch
three ways into fresh output folders: embedded (in-process), ``--workers 1`` and ``--workers 2``
(local Dask clusters; N workers x threads = cores), and prints images/min for each, measured from
the run's ``started`` event to the last finished image (cluster start-up and the model's one-off
load per worker come before it and are reported separately: they do not grow with the archive).
Then:

- Dask overhead per task: ``--tasks`` trivial tasks (no model) through a 2-worker cluster with
  the same bounded in-flight window as a batch run -> the scheduler's tasks/s;
- peak resident memory (ru_maxrss) of the client and of each worker process;
- the resume path (a second embedded run on the same folder: everything reused);
- what this implies for 10^5 images on k workers (measured seconds per image x 10^5 / k).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

CLASSES = ["equiaxed_dimples", "cleavage", "striations", "intergranular", "pitting", "abrasive_grooves"]


def peak_rss_mb(dask_worker=None) -> float:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: Linux carries that across
    fork + exec, so a spawned worker would report its parent's peak."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _noop(i: int) -> int:
    return i


def timed_run(files, out: Path, analyzer, workers: int | None) -> dict:
    from fractoscope.batch import run_batch

    stamps: list[float] = []
    started: list[float] = []
    t0 = time.perf_counter()

    def on_event(ev) -> None:
        if ev.kind == "started":  # the cluster is up and every worker has loaded the model
            started.append(time.perf_counter())
        elif ev.kind == "image_done" and not ev.reused:
            stamps.append(time.perf_counter())

    s = run_batch(files, out, analyzer, progress=on_event, workers=workers)
    total = time.perf_counter() - t0
    # From the start of the images (after cluster start-up) to the last finished one.
    work = stamps[-1] - started[0] if stamps else float("nan")
    per = work / max(1, len(stamps))
    return {
        "ok": s.ok,
        "failed": s.failed,
        "total_s": total,
        "startup_s": started[0] - t0,
        "s_per_image": per,
        "images_per_min": 60.0 / per,
    }


def worker_rss(client) -> dict:
    return client.run(peak_rss_mb)


def dask_overhead(tasks: int) -> dict:
    from distributed import Client, LocalCluster, as_completed

    from fractoscope.batch.distributed import TASKS_PER_THREAD

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    ) as lc, Client(lc, set_as_default=False) as client:
        cap = TASKS_PER_THREAD * sum(client.nthreads().values())
        client.submit(_noop, -1, pure=False).result()  # warm the connections
        t = time.perf_counter()
        ac = as_completed(loop=client.loop)
        submitted = done = 0
        while done < tasks:
            while submitted < tasks and submitted - done < cap:
                ac.add(client.submit(_noop, submitted, pure=False))
                submitted += 1
            for fut in ac.next_batch(block=True):
                fut.result()
                done += 1
        dt = time.perf_counter() - t
        return {"tasks": tasks, "tasks_per_s": tasks / dt, "ms_per_task": 1000 * dt / tasks}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=4, help="images per size")
    ap.add_argument("--sizes", nargs="+", default=["1024x768", "2048x1536"])
    ap.add_argument("--modes", nargs="+", default=["embedded", "1", "2"], help="embedded and/or worker counts")
    ap.add_argument("--tasks", type=int, default=300, help="trivial tasks for the Dask overhead")
    ap.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: temp)")
    args = ap.parse_args()

    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.commands.bench import _generated_image, _size

    work = args.keep or Path(tempfile.mkdtemp(prefix="fractoscope-bench-"))
    analyzer = Analyzer(device="cpu", tile_cache=False)
    print(
        f"{os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    per_image: dict[str, float] = {}
    for size in args.sizes:
        w, h = _size(size)
        src = work / f"in-{size}"
        src.mkdir(parents=True, exist_ok=True)
        files = [
            _generated_image(src, w, h, CLASSES[i % len(CLASSES)], i) for i in range(args.images)
        ]
        for mode in args.modes:
            workers = None if mode == "embedded" else int(mode)
            out = work / f"out-{size}-{mode}"
            shutil.rmtree(out, ignore_errors=True)
            r = timed_run(files, out, analyzer, workers)
            label = "embedded" if workers is None else f"--workers {workers}"
            per_image[f"{size} {label}"] = r["s_per_image"]
            print(
                f"{size:>10} {label:<12} {r['images_per_min']:6.1f} images/min "
                f"({r['s_per_image']:.1f} s/image; start-up {r['startup_s']:.1f} s, "
                f"run {r['total_s']:.1f} s, {r['ok']} ok, {r['failed']} failed)"
            )
        t = time.perf_counter()
        from fractoscope.batch import run_batch

        s2 = run_batch(files, work / f"out-{size}-embedded", analyzer)
        print(f"{size:>10} resume run: {s2.reused} reused in {time.perf_counter() - t:.2f} s")

    # Worker memory: one more small run on a 2-worker cluster, then ask each worker.
    from distributed import Client, LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    ) as lc, Client(lc, set_as_default=False) as client:
        big = sorted((work / f"in-{args.sizes[-1]}").glob("*.tif"))
        out = work / "out-rss"
        shutil.rmtree(out, ignore_errors=True)
        from fractoscope.batch import run_batch

        run_batch(big, out, analyzer, scheduler=lc.scheduler_address)
        rss = worker_rss(client)
    print(
        f"peak RSS: client {peak_rss_mb():.0f} MB; workers "
        + ", ".join(f"{v:.0f} MB" for v in rss.values())
        + f" (after {len(big)} images of {args.sizes[-1]})"
    )
    o = dask_overhead(args.tasks)
    print(
        f"Dask overhead: {o['tasks']} trivial tasks, {o['tasks_per_s']:.0f} tasks/s "
        f"({o['ms_per_task']:.1f} ms per task, bounded in-flight window)"
    )
    for key, s in per_image.items():
        print(
            f"10^5 images at {key}: {s * 1e5 / 3600:.0f} h on this machine; "
            f"on k such machines {s * 1e5 / 3600:.0f}/k h (scheduler needs {1e5 / o['tasks_per_s'] / 60:.1f} min of its time)"
        )
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
