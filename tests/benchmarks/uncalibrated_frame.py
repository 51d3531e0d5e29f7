"""Does an uncalibrated large scan need reducing to a training-like frame size?

Real fractographs are mostly uncalibrated and 640-2144 px wide, while the model was trained on
448-px generated frames. An operator frames the same features whatever the scan resolution, so a
2048-px scan shows each feature 4x larger in pixels than a 512-px one. This benchmark imitates that
on labelled generated images: each is enlarged ``--factor`` times (bicubic; a finer scan of the
same field, without the detail a real finer scan would add), its pixel size removed, and it is
analysed with the model card's ``uncalibrated_max_side`` replaced by each value of ``--sides``
(``none``: analysed as stored). The row "original" is the image as generated, uncalibrated.

    fractoscope synth T --per-class 30 --seed 4242 --size 512
    python tests/benchmarks/uncalibrated_frame.py T --every 5 --factor 3 --sides none,1024,768,512
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
from skimage.transform import resize

from fractoscope.analysis.pipeline import Analyzer
from fractoscope.calibration import Calibration
from fractoscope.io import read_sem
from fractoscope.io.sem_image import SemImage
from fractoscope.train.data import scan_labelled_folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir")
    ap.add_argument("--every", type=int, default=1, help="use every N-th image")
    ap.add_argument("--factor", type=float, default=3.0, help="enlargement imitating a finer scan")
    ap.add_argument("--sides", default="none,1024,768,512", help="uncalibrated_max_side values to compare")
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    analyzer = Analyzer(args.model)
    base_spec = analyzer.input_spec
    items, _ = scan_labelled_folder(Path(args.data_dir))
    items = items[:: args.every]
    originals, enlarged = [], []
    for it in items:
        sem = read_sem(it.path)
        img = sem.image.astype(np.float32)
        big = resize(img, (round(img.shape[0] * args.factor), round(img.shape[1] * args.factor)), order=3,
                     mode="reflect", anti_aliasing=False, preserve_range=True)
        originals.append(SemImage(data=img))
        enlarged.append(SemImage(data=big.astype(np.float32), calibration=Calibration.none()))
    rows = [("original, as stored", "none", originals)]
    for side in args.sides.split(","):
        rows.append((f"enlarged x{args.factor:g}", side, enlarged))
    for name, side, sems in rows:
        analyzer.input_spec = dataclasses.replace(
            base_spec, uncalibrated_max_side=None if side == "none" else int(side)
        )
        ok1 = ok2 = 0
        t0 = time.perf_counter()
        for it, sem in zip(items, sems, strict=True):
            pred = analyzer.analyze(sem, with_cams=False)
            ok1 += pred.level1.label == it.level1
            ok2 += pred.level2.label == it.level2
        n = len(items)
        print(f"{name:22s} max side {side:>5s}  n={n}  level-1 {ok1 / n:.3f}  level-2 {ok2 / n:.3f}  "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    analyzer.input_spec = base_spec


if __name__ == "__main__":
    main()
