"""CUDA vs CPU: same predictions and CAMs? images/s on the GPU. (Needs a GPU; not a test.)

    python tests/benchmarks/cuda_check.py --images 8 [--json results.json]

Analyses the same images (generated 2048 x 1536 fractographs plus the real vendor TIFFs in
../shared/data/sem-tiff when present) on the CPU and on CUDA with the bundled model, and prints
the largest difference of the image-level probabilities, the per-tile probabilities and the CAMs
(relative to the largest CAM value), then the GPU's images/s on the generated images and the
tiles/s of ``fractoscope bench`` on CUDA. Exit status 1 when the predictions disagree beyond
tolerance (a different label, or a probability differing by more than 1e-3), 2 without CUDA.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
SEM_TIFF = (REPO / ".." / "shared" / "data" / "sem-tiff").resolve()
CLASSES = ["equiaxed_dimples", "cleavage", "striations", "intergranular", "pitting", "abrasive_grooves"]
P_TOL = 1e-3


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=8, help="generated 2048x1536 images")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check", file=sys.stderr)
        return 2

    from fractoscope.analysis.bench import run_bench
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.commands.bench import _generated_image
    from fractoscope.io import read_sem

    cpu = Analyzer(device="cpu")
    gpu = Analyzer(device="cuda")
    report: dict = {
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "images": [],
    }
    print(f"GPU {report['gpu']}, torch {report['torch']} (CUDA {report['cuda']})")
    with tempfile.TemporaryDirectory() as d:
        generated = [
            _generated_image(Path(d), 2048, 1536, CLASSES[i % len(CLASSES)], i) for i in range(args.images)
        ]
        real = sorted(p for p in SEM_TIFF.rglob("*") if p.suffix.lower() in (".tif", ".tiff"))
        worst = {"p": 0.0, "tile_p": 0.0, "cam_rel": 0.0, "label_mismatches": 0}
        for path in generated + real:
            try:
                sem = read_sem(path)
                a, b = cpu.analyze(sem), gpu.analyze(sem)
            except Exception as exc:  # noqa: BLE001 - e.g. a tiny test image is refused on both
                print(f"  {path.name}: skipped ({exc})")
                continue
            dp = max(np.abs(a.p_level1 - b.p_level1).max(), np.abs(a.p_level2 - b.p_level2).max())
            dt = max(
                max(np.abs(ta.p_level1 - tb.p_level1).max(), np.abs(ta.p_level2 - tb.p_level2).max())
                for ta, tb in zip(a.tiles, b.tiles, strict=True)
            )
            dc = 0.0
            for ca, cb in ((a.cams_level1, b.cams_level1), (a.cams_level2, b.cams_level2)):
                if ca is not None and cb is not None:
                    dc = max(dc, float(np.abs(ca - cb).max() / max(np.abs(ca).max(), 1e-12)))
            same = a.level1.label == b.level1.label and (
                not a.has_level2 or a.level2.label == b.level2.label
            )
            worst["p"] = max(worst["p"], float(dp))
            worst["tile_p"] = max(worst["tile_p"], float(dt))
            worst["cam_rel"] = max(worst["cam_rel"], dc)
            worst["label_mismatches"] += 0 if same else 1
            report["images"].append(
                {"name": path.name, "max_dp": float(dp), "max_tile_dp": float(dt), "max_cam_rel": dc, "same_labels": same}
            )
            print(f"  {path.name}: max|Δp| {dp:.1e}, tiles {dt:.1e}, CAM {dc:.1e}, labels {'same' if same else 'DIFFER'}")
        # GPU images/s on the generated images (read + analyse with CAMs, as a batch does).
        sems = [read_sem(p) for p in generated]
        gpu.analyze(sems[0])  # warm-up: cuDNN picks kernels
        torch.cuda.synchronize()
        t = time.perf_counter()
        for sem in sems:
            gpu.analyze(sem)
        torch.cuda.synchronize()
        gpu_ips = len(sems) / (time.perf_counter() - t)
        t = time.perf_counter()
        for sem in sems[:2]:
            cpu.analyze(sem)
        cpu_ips = 2 / (time.perf_counter() - t)
    bench = run_bench(gpu, n_tiles=256, batch_size=64, repeats=3)
    report.update(worst=worst, gpu_images_per_s=gpu_ips, cpu_images_per_s=cpu_ips, bench=bench.to_json_dict())
    print(
        f"worst: max|Δp| {worst['p']:.1e}, per-tile {worst['tile_p']:.1e}, CAM {worst['cam_rel']:.1e} "
        f"(relative), label mismatches {worst['label_mismatches']}"
    )
    print(
        f"2048x1536 images: GPU {gpu_ips:.2f} images/s, CPU {cpu_ips:.3f} images/s "
        f"({gpu_ips / cpu_ips:.0f}x); bench on CUDA: {bench.forward_tiles_per_s:.0f} tiles/s forward, "
        f"{bench.tiles_per_s_with_cams:.0f} with CAMs, cam_overhead {bench.cam_overhead:.2f}"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if worst["label_mismatches"] == 0 and worst["p"] <= P_TOL else 1


if __name__ == "__main__":
    sys.exit(main())
