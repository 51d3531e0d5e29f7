"""How long ``fractoscope adapt`` takes on a lab-sized folder: first run (features computed) vs a
second run (features from the cache), in one process on the same images and base model.

    python tests/benchmarks/adapt_speed.py [--images 50] [--size 1152] [--data DIR] [--json]

Generates ``--images`` fractographs of ``--size`` px (1152 px = 1.3 Mpx) spread over five
mechanisms (one morphology each, so every class has ~10 images) unless ``--data`` names an existing
labelled folder, then adapts twice with a fresh feature cache. Prints the wall times, the share of
feature extraction and the cached/first ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

MORPHOLOGIES = ["equiaxed_dimples", "cleavage", "striations", "abrasive_grooves", "pitting"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=50)
    ap.add_argument("--size", type=int, default=1152)
    ap.add_argument("--data", default=None, help="an existing level1/level2/* folder instead of generated images")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import torch

    from fractoscope.adapt.adapter import adapt_model
    from fractoscope.analysis.pipeline import Analyzer

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="adapt-bench-") as tmp:
        tmp = Path(tmp)
        data = Path(args.data) if args.data else tmp / "data"
        t0 = time.perf_counter()
        if not args.data:
            from fractoscope.synth.generate import generate_dataset

            per = max(1, round(args.images / len(MORPHOLOGIES)))
            generate_dataset(data, per_class=per, seed=2026, size=args.size, classes=MORPHOLOGIES)
        t_gen = time.perf_counter() - t0
        files = sorted(p for p in data.rglob("*") if p.suffix.lower() in (".tif", ".tiff", ".png", ".jpg"))
        analyzer = Analyzer(device=args.device, tile_cache=False)  # loaded once: both runs pay the same
        runs = []
        for name in ("first", "cached"):
            t = time.perf_counter()
            res = adapt_model(data, tmp / f"model-{name}", cache_dir=tmp / "cache", analyzer=analyzer)
            runs.append({
                "run": name,
                "wall_s": round(time.perf_counter() - t, 2),
                "features_s": round(res.seconds["features"], 2),
                "fit_s": round(res.seconds["fit"], 2),
                "computed": res.computed,
                "cached": res.cached,
                "cv_level1": res.cv_level1.accuracy,
            })
        tiles = sum(len(f.tile_weights) for f in _features(tmp / "cache", analyzer))
        mpx = _mean_mpx(files)
    out = {
        "images": len(files),
        "mean_megapixels": round(mpx, 2),
        "tiles": tiles,
        "torch_threads": torch.get_num_threads(),
        "device": analyzer.device,
        "generate_s": round(t_gen, 1),
        "runs": runs,
        "cached_over_first": round(runs[1]["wall_s"] / runs[0]["wall_s"], 4),
    }
    if args.json:
        json.dump(out, sys.stdout, indent=2)
        print()
    else:
        print(f"{out['images']} images, {out['mean_megapixels']} Mpx mean, {tiles} tiles, "
              f"{out['torch_threads']} torch threads on {out['device']}")
        for r in runs:
            print(f"  {r['run']:>6}: {r['wall_s']:7.2f} s  (features {r['features_s']:.2f} s, fit {r['fit_s']:.2f} s; "
                  f"{r['computed']} computed, {r['cached']} cached)")
        print(f"  cached / first = {out['cached_over_first']:.3f}")
    return 0


def _features(cache_root: Path, analyzer):
    from fractoscope.adapt.features import FeatureCache, features_sha256

    cache = FeatureCache(cache_root, features_sha256(analyzer.model_info))
    for p in cache.folder.rglob("*.npz"):
        f = cache.get(p.stem)
        if f is not None:
            yield f


def _mean_mpx(files: list[Path]) -> float:
    from fractoscope.io import read_sem

    if not files:
        return 0.0
    shapes = [read_sem(f).image.shape[:2] for f in files[:5]]
    return sum(r * c for r, c in shapes) / len(shapes) / 1e6


if __name__ == "__main__":
    sys.exit(main())
