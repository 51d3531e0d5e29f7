"""How much does the bundled model lean on the pixel size rather than the texture?

Evaluates a labelled folder three ways: as calibrated, with the calibration removed (the model's
"unknown scale" embedding) and with a random wrong pixel size (log-uniform 5-500 nm).

    fractoscope synth T --per-class 30 --seed 4242 --size 512
    python tests/benchmarks/scale_robustness.py T --every 3
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fractoscope.analysis.pipeline import Analyzer
from fractoscope.calibration import Calibration
from fractoscope.io import read_sem
from fractoscope.train.data import scan_labelled_folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir")
    ap.add_argument("--every", type=int, default=1, help="use every N-th image")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    analyzer = Analyzer(args.model)
    items, _ = scan_labelled_folder(Path(args.data_dir))
    items = items[:: args.every]
    rng = np.random.default_rng(args.seed)
    modes = {
        "as calibrated": lambda sem: sem,
        "calibration removed": lambda sem: sem.with_calibration(Calibration.none()),
        "random wrong pixel size": lambda sem: sem.with_calibration(
            Calibration.isotropic(10 ** rng.uniform(np.log10(5e-9), np.log10(5e-7)), "manual")
        ),
    }
    for name, change in modes.items():
        ok1 = ok2 = 0
        for it in items:
            pred = analyzer.analyze(change(read_sem(it.path)), with_cams=False)
            ok1 += pred.level1.label == it.level1
            ok2 += pred.level2.label == it.level2
        n = len(items)
        print(f"{name:26s} n={n}  level-1 {ok1 / n:.3f}  level-2 {ok2 / n:.3f}", flush=True)


if __name__ == "__main__":
    main()
