"""What does the tile overlap buy? Image-level answers and maps at 50 %, 33 % and 25 % overlap.

    python tests/benchmarks/tile_overlap.py DIR [--every N] [--overlaps 0.5,0.333,0.25] [--json out.json]

DIR is either a labelled tree (``fractoscope synth T ...`` or ``level1/level2/*.tif`` with the
model's class names: accuracy is reported too) or any folder of images (searched recursively;
agreement only). The overlap is the analyzer's own setting (``Analyzer(overlap=...)``,
``fractoscope.analysis.pipeline.DEFAULT_OVERLAP``; a fraction of the tile). Every image is
analysed at each overlap with the same model; the first overlap is the reference. Reported per
overlap: tiles run (relative to the reference: the network's time goes with it), agreement of the
level-1 / level-2 answer with the reference, accuracy when labelled, the largest and mean
difference of the image probabilities, and for the maps (each level's CAM of the reference's
class, normalised as the viewer shows it, on the same analysis grid) the Pearson correlation with
the reference's map and the mean absolute difference. Images the pipeline refuses (too small,
blank) are counted and skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _items(folder: Path, tax) -> tuple[list[tuple[Path, str | None, str | None]], bool]:
    """(path, level1, level2) of every image; labels only for a tree of the model's classes."""
    from fractoscope.batch.inputs import collect_inputs
    from fractoscope.errors import FractoscopeError
    from fractoscope.train.data import scan_labelled_folder

    try:
        labelled, _ = scan_labelled_folder(folder)
    except FractoscopeError:
        labelled = []
    if labelled and all(
        it.level1 in tax.level1 and (it.level2 is None or it.level2 in tax.level2) for it in labelled
    ):
        return [(Path(it.path), it.level1, it.level2) for it in labelled], True
    found = collect_inputs([folder], recursive=True, require_images=True)
    return [(Path(p), None, None) for p in found.images], False


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--every", type=int, default=1, help="use every N-th image")
    ap.add_argument("--overlaps", default="0.5,0.333,0.25", help="fractions of the tile; the first is the reference")
    ap.add_argument("--model", default=None)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    overlaps = [float(v) for v in args.overlaps.split(",")]
    if any(not 0.0 <= v < 1.0 for v in overlaps):
        ap.error("overlaps are fractions in [0, 1)")

    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.errors import FractoscopeError
    from fractoscope.io import read_sem

    analyzer = Analyzer(args.model, args.device)
    tax = analyzer.model_info.taxonomy
    try:
        items, labelled = _items(args.folder, tax)
    except FractoscopeError as exc:
        print(f"tile_overlap: {exc}", file=sys.stderr)
        return 2
    items = items[:: max(1, args.every)]
    print(
        f"{len(items)} images from {args.folder} ({'labelled' if labelled else 'unlabelled'}); "
        f"overlaps {overlaps}, reference {overlaps[0]}; tile {analyzer.input_spec.tile_size} px",
        flush=True,
    )
    stats = {ov: {"tiles": 0, "agree1": 0, "agree2": 0, "ok1": 0, "ok2": 0, "dp": [], "corr1": [],
                  "corr2": [], "mad1": [], "mad2": []} for ov in overlaps}  # fmt: skip
    refused, n = [], 0
    for path, lab1, lab2 in items:
        try:
            sem = read_sem(path)
            preds = {}
            for ov in overlaps:
                analyzer.overlap = ov
                preds[ov] = analyzer.analyze(sem, with_cams=True)
        except FractoscopeError as exc:
            refused.append((str(path), str(exc)))
            continue
        n += 1
        ref = preds[overlaps[0]]
        for ov, p in preds.items():
            s = stats[ov]
            s["tiles"] += int(p.timings.get("tiles_run", len(p.tiles)))
            s["agree1"] += p.level1.label == ref.level1.label
            s["agree2"] += p.level2.label == ref.level2.label
            s["ok1"] += lab1 is not None and p.level1.label == lab1
            s["ok2"] += lab2 is not None and p.level2.label == lab2
            s["dp"].append(max(float(np.abs(p.p_level1 - ref.p_level1).max()),
                               float(np.abs(p.p_level2 - ref.p_level2).max())))  # fmt: skip
            for level, label in ((1, ref.level1.label), (2, ref.level2.label)):
                a, b = ref.cam(level, label), p.cam(level, label)
                s[f"corr{level}"].append(_corr(a, b))
                s[f"mad{level}"].append(float(np.abs(a - b).mean()))
    analyzer.overlap = overlaps[0]
    if not n:
        print("no image could be analysed", file=sys.stderr)
        return 2
    ref_tiles = stats[overlaps[0]]["tiles"]
    report = {"folder": str(args.folder), "images": n, "labelled": labelled, "refused": refused, "overlaps": {}}
    head = f"{'overlap':>8} {'tiles':>6} {'L1 same':>8} {'L2 same':>8}"
    head += f" {'L1 acc':>7} {'L2 acc':>7}" if labelled else ""
    head += f" {'max|Δp|':>8} {'mean|Δp|':>9} {'CAM1 r':>7} {'CAM2 r':>7} {'CAM1 |Δ|':>9} {'CAM2 |Δ|':>9}"
    print(head)
    for ov in overlaps:
        s = stats[ov]
        row = {
            "tiles_run": s["tiles"],
            "tiles_vs_reference": s["tiles"] / ref_tiles,
            "level1_agreement": s["agree1"] / n,
            "level2_agreement": s["agree2"] / n,
            "max_dp": max(s["dp"]),
            "mean_dp": float(np.mean(s["dp"])),
            "cam1_corr_mean": float(np.nanmean(s["corr1"])),
            "cam2_corr_mean": float(np.nanmean(s["corr2"])),
            "cam1_corr_min": float(np.nanmin(s["corr1"])),
            "cam2_corr_min": float(np.nanmin(s["corr2"])),
            "cam1_mean_abs_diff": float(np.mean(s["mad1"])),
            "cam2_mean_abs_diff": float(np.mean(s["mad2"])),
        }
        if labelled:
            row.update(level1_accuracy=s["ok1"] / n, level2_accuracy=s["ok2"] / n)
        report["overlaps"][str(ov)] = row
        line = (f"{ov:8.3f} {row['tiles_vs_reference']:6.2f} {row['level1_agreement']:8.3f} "
                f"{row['level2_agreement']:8.3f}")  # fmt: skip
        if labelled:
            line += f" {row['level1_accuracy']:7.3f} {row['level2_accuracy']:7.3f}"
        line += (f" {row['max_dp']:8.1e} {row['mean_dp']:9.1e} {row['cam1_corr_mean']:7.3f} "
                 f"{row['cam2_corr_mean']:7.3f} {row['cam1_mean_abs_diff']:9.3f} {row['cam2_mean_abs_diff']:9.3f}")  # fmt: skip
        print(line)
    if refused:
        print(f"{len(refused)} images refused (too small, blank, unreadable): not counted")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
