"""What the tile cache costs on a first analysis and saves on a second, in one process.

    OMP_NUM_THREADS=2 python tests/benchmarks/tile_cache.py [IMAGE] [--repeats 3] [--json out.json]

Times ``Analyzer.analyze`` (both CAMs) of one image, best of ``--repeats``, alternating the
variants so that load on the machine hits them alike:

- ``uncached``: ``Analyzer(tile_cache=False)``, every tile through the whole network;
- ``first``: with a cache emptied before each call (hashing the tiles and storing the entries);
- ``again``: the same image again (only the heads run);
- ``without_pixel_size``: the same image without its calibration (the fusion runs, not the
  backbones);
- ``other_heads``: the first Analyzer's entries read by a second Analyzer of the same model whose
  heads differ (an adapted model, lab statistics).

Default image: the first bundled sample. Prints the times and the ratios to ``uncached``, and the
largest probability difference of each variant from ``uncached``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("image", nargs="?", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import numpy as np
    import torch

    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.analysis.tilecache import TileCache
    from fractoscope.calibration import Calibration
    from fractoscope.io import read_sem

    path = args.image or sorted((REPO / "resources" / "samples").glob("*.tif"))[0]
    sem = read_sem(path)
    bare = sem.with_calibration(Calibration.none())
    cache = TileCache(2 << 30)
    plain = Analyzer(device="cpu", tile_cache=False)
    cached = Analyzer(device="cpu", tile_cache=cache)
    other = Analyzer(device="cpu", tile_cache=cache)
    with torch.no_grad():
        other.model.head_level1.bias.add_(0.25)  # other heads on the same backbone and fusion
    plain.analyze(sem)  # warm-up: oneDNN's kernels chosen
    ref = plain.analyze(sem)
    ref_bare = plain.analyze(bare)

    def timed(fn):
        t = time.perf_counter()
        out = fn()
        return time.perf_counter() - t, out

    best: dict[str, float] = {}
    diff: dict[str, float] = {}

    def keep(name: str, t: float, pred, want) -> None:
        best[name] = min(best.get(name, float("inf")), t)
        if want is not None:
            d = float(max(np.abs(pred.p_level1 - want.p_level1).max(), np.abs(pred.p_level2 - want.p_level2).max()))
            diff[name] = max(diff.get(name, 0.0), d)

    for _ in range(max(1, args.repeats)):
        t, p = timed(lambda: plain.analyze(sem))
        keep("uncached", t, p, ref)
        cache.clear()
        t, p = timed(lambda: cached.analyze(sem))
        keep("first", t, p, ref)
        t, p = timed(lambda: cached.analyze(sem))
        keep("again", t, p, ref)
        t, p = timed(lambda: cached.analyze(bare))
        keep("without_pixel_size", t, p, ref_bare)
        t, p = timed(lambda: other.analyze(sem))
        keep("other_heads", t, p, None)
    report = {
        "image": str(path),
        "shape": list(sem.shape),
        "tiles": len(ref.tiles),
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "seconds": {k: round(v, 4) for k, v in best.items()},
        "vs_uncached": {k: round(v / best["uncached"], 3) for k, v in best.items()},
        "max_abs_dp_vs_uncached": diff,
        "cache_mb": round(cache.nbytes / 2**20, 1),
    }
    for k, v in best.items():
        print(f"{k:20s} {v:7.3f} s  {v / best['uncached']:6.3f} x uncached  max |dp| {diff.get(k, float('nan')):.1e}")
    print(f"{report['tiles']} tiles of {path.name}; cache holds {report['cache_mb']} MB for this image")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
