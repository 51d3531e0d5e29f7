"""``fractoscope adapt DATA_DIR --out NAME``: new heads for your own labelled images, in seconds."""

from __future__ import annotations

import argparse
import sys

from fractoscope.commands._common import add_model_options, fail


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "adapt",
        help="adapt the model to your own labelled images (level1/level2/* or level1/*), in seconds",
        description="Fit new level-1 and level-2 heads on the frozen features of a model (default: the "
        "bundled one) from DATA_DIR/<level1>/<level2>/*.tif|png|jpg, or DATA_DIR/<level1>/*.tif for a "
        "level-1-only model. Works from 3 images per class (5+ recommended). Prints the K-fold "
        "cross-validated image accuracy and writes NAME.safetensors + NAME.json (model card). Features "
        "are cached, so re-running after adding images only computes the new ones.",
    )
    p.add_argument("data_dir", help="folder of labelled images: <level1>/<level2>/*.tif or <level1>/*.tif")
    p.add_argument("--out", required=True, help="output NAME (writes NAME.safetensors + NAME.json)")
    add_model_options(p)
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds over images (default 5)")
    p.add_argument("--cache", default=None, help="feature cache folder (default: the user cache folder)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def _progress(quiet: bool):
    if quiet or not sys.stderr.isatty():
        # Not a terminal (a log file, a pipe): a line every tenth of the way, no carriage returns.
        last = [-1]

        def line(frac: float, msg: str) -> None:
            step = int(frac * 10)
            if not quiet and step != last[0]:
                last[0] = step
                print(f"adapt: {frac:4.0%} {msg}", file=sys.stderr, flush=True)

        return line

    def bar(frac: float, msg: str) -> None:
        print(f"\radapt: {frac:4.0%} {msg[:70]:<70}", end="", file=sys.stderr, flush=True)
        if frac >= 1.0:
            print(file=sys.stderr)

    return bar


def _pct(x: float | None) -> str:
    return "not measured" if x is None else f"{x:.3f}"


def run(args: argparse.Namespace) -> int:
    import shlex

    from fractoscope.errors import FractoscopeError

    try:
        from fractoscope.adapt.adapter import adapt_model

        parts = ["fractoscope", "adapt", args.data_dir, "--out", args.out, "--folds", str(args.folds)]
        if args.model:
            parts += ["--model", args.model]
        command = shlex.join(parts)
        res = adapt_model(
            args.data_dir,
            args.out,
            base_model=args.model,
            folds=args.folds,
            device=args.device,
            cache_dir=args.cache,
            progress=_progress(args.quiet),
            command=command,
        )
    except FractoscopeError as exc:
        return fail(exc)
    for path, why in res.failed:
        print(f"fractoscope: skipped {path}: {why}", file=sys.stderr)
    tax = res.taxonomy
    print(f"images per class ({sum(sum(k.values()) for k in res.counts.values())} usable, "
          f"{len(res.failed)} skipped):")
    for l1, kids in res.counts.items():
        n1 = sum(kids.values())
        if res.has_level2:
            # "": images filed under their mechanism only (they train level 1 alone).
            parts = ", ".join(f"{tax.display_name(k) if k else 'mechanism only'} {n}" for k, n in kids.items())
            print(f"  {tax.display_name(l1)}: {n1} ({parts})")
        else:
            print(f"  {tax.display_name(l1)}: {n1}")
    for w in res.warnings:
        print(f"warning: {w}", file=sys.stderr)
    cv1, cv2 = res.cv_level1, res.cv_level2
    if cv1.folds:
        # Folds are stratified by the finest label: a class with fewer images than --folds caps them.
        fewer = f" (fewer than --folds {args.folds}: a class has only {cv1.folds} images)" if cv1.folds < args.folds else ""
        print(f"{cv1.folds}-fold cross-validated image accuracy{fewer}: level 1 {_pct(cv1.accuracy)} "
              f"(balanced {_pct(cv1.balanced_accuracy)})", end="")
        if cv2 is not None:
            print(f", level 2 {_pct(cv2.accuracy)}" + ("" if cv2.folds else " (a morphology has < 2 images)"))
        else:
            print(", level 2 not trained (level-1-only folder)")
    else:
        print("cross-validated accuracy: not measured (a class has fewer than 2 images)")
    print(f"features: {res.computed} images computed, {res.cached} from the cache "
          f"({res.seconds['features']:.1f} s); fit {res.seconds['fit']:.1f} s")
    print(f"wrote {res.weights} and {res.weights.with_suffix('.json')}")
    print(f"use it with: fractoscope predict IMAGE --model {res.weights}")
    return 0
