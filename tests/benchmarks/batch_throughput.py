"""Batch throughput and memory benchmark (not a test: run by hand, once, on a quiet machine).

    OMP_NUM_THREADS=2 python tests/benchmarks/batch_throughput.py --images 200 --size 256

Generates ``--images`` fractographs with ``fractoscope synth`` (in a child process, so its memory
does not count), runs ``run_batch`` on them with the bundled model and prints images/s and the
resident memory (VmRSS) sampled after every image: peak memory must not grow with the count.
A second run on the same output folder measures the resume path (everything reused).
"""

from __future__ import annotations

import argparse
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: temp)")
    args = ap.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="fractoscope-bench-"))
    src, out = work / "in", work / "out"
    per_class = math.ceil(args.images / 10)
    t = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "fractoscope",
            "synth",
            str(src),
            "--per-class",
            str(per_class),
            "--size",
            str(args.size),
            "--seed",
            "1",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    files = sorted(src.rglob("*.tif"))[: args.images]
    print(f"generated {len(files)} images of {args.size} px in {time.perf_counter() - t:.1f} s")

    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.batch import run_batch

    analyzer = Analyzer(device=args.device)
    rss0 = rss_mb()
    samples: list[float] = []

    def on_event(ev) -> None:
        if ev.kind == "image_done":
            samples.append(rss_mb())

    t = time.perf_counter()
    s = run_batch(files, out, analyzer, progress=on_event)
    dt = time.perf_counter() - t
    n = len(samples)
    print(
        f"run: {s.ok} ok, {s.failed} failed in {dt:.1f} s = {s.ok / dt:.2f} images/s "
        f"({1000 * dt / max(1, s.ok):.0f} ms/image), device {analyzer.device}"
    )
    print(
        f"RSS after model load {rss0:.0f} MB; after image 10: {samples[min(9, n - 1)]:.0f} MB, "
        f"{n // 2}: {samples[n // 2 - 1]:.0f} MB, {n}: {samples[-1]:.0f} MB; "
        f"max sampled {max(samples):.0f} MB; peak (ru_maxrss) "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    first, last = samples[: n // 4], samples[-(n // 4) :]
    print(
        f"mean RSS first quarter {sum(first) / len(first):.0f} MB, last quarter {sum(last) / len(last):.0f} MB"
    )
    t = time.perf_counter()
    s2 = run_batch(files, out, analyzer)
    print(f"resume run: {s2.reused} reused in {time.perf_counter() - t:.1f} s")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"output folder: {size / 1e6:.1f} MB ({size / max(1, s.ok) / 1e3:.0f} kB/image)")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
