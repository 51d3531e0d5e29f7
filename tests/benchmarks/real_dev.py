"""Scores models on the real development fractographs (../shared/realdev, evaluation only).

Lay the images out first (they are never committed, never trained on):

    ../shared/realdev/extract.sh /tmp/realdev        # after fetching the three repositories
    python tests/benchmarks/real_dev.py /tmp/realdev [--model M.safetensors ...] [--adapt 5 --seeds 2]

For each model it prints the balanced level-1 accuracy over the mechanisms present (the mean of
their recalls), each mechanism's recall, the confusion, the share of answers that are "wear", and
the uncertain flag's figures: the share of wrong answers it catches and of right answers it
flags. ``--adapt K`` also adapts each model (``fractoscope adapt``) to K images per mechanism drawn
from the folder, in a temporary folder, and scores the adapted model on the other images, per
seed: the figures a lab gets after labelling a few of its own images. With ``--lab-stats`` the
images are also scored as one lab (features aligned to the lab's own statistics). A missing
folder prints a line and exits 0 (the set is not part of the repository).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np


def summarise(ev, label: str) -> dict:
    """The figures of one evaluation (fractoscope.train.evaluate.Evaluation)."""
    labels = ev.level1_labels
    c = ev.confusion_level1
    present = [i for i in range(len(labels)) if c[i].sum() > 0]
    recall = {labels[i]: float(c[i, i] / c[i].sum()) for i in present}
    wrong = [im for im in ev.images if not im["correct_level1"]]
    right = [im for im in ev.images if im["correct_level1"]]
    answers = [im["predicted_level1"] for im in ev.images]
    out = {
        "model": label,
        "n": ev.n,
        "balanced_level1": float(np.mean(list(recall.values()))) if recall else float("nan"),
        "recall": recall,
        "wear_answers": float(np.mean([a == "wear" for a in answers])) if answers else float("nan"),
        "wrong": len(wrong),
        "wrong_flagged": float(np.mean([im["uncertain"] for im in wrong])) if wrong else float("nan"),
        "right_flagged": float(np.mean([im["uncertain"] for im in right])) if right else float("nan"),
        "confusion_level1": c[np.ix_(present, range(len(labels)))].tolist(),
        "rows": [labels[i] for i in present],
        "cols": labels,
        "failed": len(ev.failed),
    }
    return out


def show(s: dict) -> None:
    rec = ", ".join(f"{k} {v:.2f}" for k, v in s["recall"].items())
    print(f"{s['model']}: n={s['n']} balanced L1 {s['balanced_level1']:.3f} ({rec}); wear answers {s['wear_answers']:.2f}; "
          f"flag: {s['wrong_flagged']:.2f} of {s['wrong']} wrong caught, {s['right_flagged']:.2f} of right flagged"
          + (f"; {s['failed']} failed" if s["failed"] else ""))
    w = max(len(r) for r in s["rows"])
    print(" " * (w + 2) + " ".join(f"{c[:8]:>8}" for c in s["cols"]))
    for r, row in zip(s["rows"], s["confusion_level1"], strict=True):
        print(f"  {r:<{w}} " + " ".join(f"{v:>8d}" for v in row))


def adapt_split(data: Path, k: int, seed: int, tmp: Path) -> tuple[Path, Path]:
    """Copies ``k`` images per mechanism (seeded) to ``tmp/train`` and the rest to ``tmp/test``."""
    rng = np.random.default_rng(seed)
    train, test = tmp / "train", tmp / "test"
    for cls in sorted(p for p in data.iterdir() if p.is_dir()):
        files = sorted(f for f in cls.iterdir() if f.is_file())
        pick = set(rng.permutation(len(files))[:k].tolist())
        for i, f in enumerate(files):
            dst = (train if i in pick else test) / cls.name / f.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dst)
    return train, test


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--model", action="append", default=None, help="checkpoint (repeat; default: the bundled one)")
    ap.add_argument("--adapt", type=int, default=0, help="also adapt to K images per mechanism (0: no)")
    ap.add_argument("--seeds", type=int, default=2, help="adaptation draws")
    ap.add_argument("--lab-stats", action="store_true", help="also score with the folder as one lab")
    ap.add_argument("--lab-draws", type=int, default=0, help="with --lab-stats: random 20-image labs to score")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args()
    if not args.data_dir.is_dir():
        print(f"real_dev: {args.data_dir} not found: skipped (lay it out with ../shared/realdev/extract.sh)")
        return 0
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.cli import main as cli
    from fractoscope.train.evaluate import evaluate_folder

    results = []
    for model in args.model or [None]:
        an = Analyzer(model)
        s = summarise(evaluate_folder(args.data_dir, an), an.model_info.name)
        show(s)
        results.append(s)
        if args.lab_stats:
            from fractoscope.analysis.labfiles import fit_from_files, sample_indices

            files = sorted(p for p in args.data_dir.rglob("*") if p.is_file() and p.parent != args.data_dir)
            lab, why = fit_from_files(an, [files[i] for i in sample_indices(len(files))])
            if lab is None:
                print(f"real_dev: no lab statistics: {why}")
            else:
                an.set_lab_stats(lab)
                s = summarise(evaluate_folder(args.data_dir, an), f"{an.model_info.name} + lab statistics ({lab.images} images)")
                show(s)
                results.append(s)
                an.set_lab_stats(None)
            for draw in range(args.lab_draws):
                # A random 20-image "lab" drawn from the folder: its own statistics, scored on itself.
                rng = np.random.default_rng(draw)
                pick = [files[i] for i in sorted(rng.permutation(len(files))[:20])]
                with tempfile.TemporaryDirectory() as td:
                    sub = Path(td)
                    for f in pick:
                        dst = sub / f.relative_to(args.data_dir)
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(f, dst)
                    plain = summarise(evaluate_folder(sub, an), f"draw {draw}: 20 images")
                    lab, _ = fit_from_files(an, pick)
                    an.set_lab_stats(lab)
                    adj = summarise(evaluate_folder(sub, an), f"draw {draw}: 20 images + their lab statistics")
                    an.set_lab_stats(None)
                show(plain)
                show(adj)
                results += [plain, adj]
        for seed in range(args.seeds if args.adapt else 0):
            with tempfile.TemporaryDirectory() as td:
                tmp = Path(td)
                train, test = adapt_split(args.data_dir, args.adapt, seed, tmp)
                argv = ["adapt", str(train), "--out", str(tmp / "adapted")]
                if model:
                    argv += ["--model", str(model)]
                if cli(argv) != 0:
                    print("real_dev: adaptation failed", file=sys.stderr)
                    return 1
                ad = Analyzer(tmp / "adapted.safetensors")
                s = summarise(evaluate_folder(test, ad), f"{an.model_info.name} adapted {args.adapt}/mechanism seed {seed}")
                show(s)
                results.append(s)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
