"""``fractoscope evaluate DATA_DIR``: accuracy, per-class precision/recall, confusion matrices."""

from __future__ import annotations

import argparse

from fractoscope.commands._common import add_model_options, fail, print_json, print_progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a model on a labelled folder (level1/level2/* or level1/*)",
        description="Image-level evaluation through the full pipeline (tiling, weighting, aggregation).",
    )
    p.add_argument("data_dir")
    add_model_options(p)
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.errors import FractoscopeError
    from fractoscope.train.evaluate import evaluate_folder, format_confusion

    try:
        analyzer = Analyzer(args.model, args.device)
        ev = evaluate_folder(args.data_dir, analyzer, print_progress("evaluating"))
    except FractoscopeError as exc:
        return fail(exc)
    if args.json:
        print_json(ev.to_json_dict())
    else:
        print(f"model: {analyzer.model_info.name} ({analyzer.model_info.sha256[:12]}…)  images: {ev.n}")
        print(f"level-1 accuracy: {ev.level1_accuracy:.4f}")
        if ev.level2_accuracy is not None:
            print(f"level-2 accuracy: {ev.level2_accuracy:.4f}")
        d = ev.to_json_dict()
        sel = d["selective"]
        if sel["n"]:
            acc = sel["confident_level1_accuracy"]
            print(
                f"flagged uncertain: {sel['flagged']} of {sel['n']} images ({sel['flagged_fraction']:.1%}); "
                f"level-1 accuracy of the others: {'n/a' if acc is None else f'{acc:.4f}'}"
            )
        for lvl in ("level1", "level2"):
            pc = d[f"per_class_{lvl}"]
            if not pc:
                continue
            print(f"\n{lvl} per class (precision / recall / n):")
            for lab, v in pc.items():
                if v["support"] or v["precision"] == v["precision"]:
                    print(f"  {lab:24s} {v['precision']:.3f} / {v['recall']:.3f} / {v['support']}")
        weak = {k: v for k, v in d["by_family"].items() if v["level1_accuracy"] < 1.0}
        if weak:
            print("\ngenerator families with wrong level-1 answers (accuracy / n):")
            for fam, v in sorted(weak.items(), key=lambda kv: kv[1]["level1_accuracy"]):
                print(f"  {fam:24s} {v['level1_accuracy']:.3f} / {v['n']}")
        print("\nlevel-1 confusion (rows true, cols predicted):")
        print(format_confusion(ev.confusion_level1, ev.level1_labels))
        if ev.confusion_level2 is not None:
            print("\nlevel-2 confusion:")
            print(format_confusion(ev.confusion_level2, ev.level2_labels))
    for p, e in ev.failed:
        print(f"fractoscope: {p}: {e}", file=__import__("sys").stderr)
    return 2 if ev.failed else 0
