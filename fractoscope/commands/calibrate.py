"""``fractoscope calibrate MODEL DATA_DIR``: fit the model's honest-confidence block into its card."""

from __future__ import annotations

import argparse
import sys

from fractoscope.commands._common import fail, print_json, print_progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="fit calibrated probabilities and the 'unlike the training images' check of a model",
        description="Runs MODEL on held-out labelled images (DATA_DIR: level1/level2/*, e.g. a fresh "
        "`fractoscope synth` seed) and stores in MODEL's card: the temperature of each level, the "
        "feature statistics of those images and the thresholds below which a result is marked "
        "uncertain. Images of a different style with the same classes (a held-out generator family) "
        "set the 'unlike' threshold so that they are not flagged: from --reference DIR, or, for a "
        "`fractoscope synth` folder and a model whose card lists held-out families, the images of "
        "those families in DATA_DIR.",
    )
    p.add_argument("model", metavar="MODEL", help="checkpoint .safetensors (its .json card is updated)")
    p.add_argument("data_dir", metavar="DATA_DIR", help="held-out labelled images: level1/level2/*")
    p.add_argument("--reference", metavar="DIR", help="labelled images of a held-out style (optional)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--components", type=int, default=None,
                   help="principal axes kept of the feature covariance (default: fractoscope.analysis.confidence.OOD_COMPONENTS, 48)")
    p.add_argument("--dry-run", action="store_true", help="fit and print, do not write the card")
    p.add_argument("--json", action="store_true", help="print the fitted block (without the statistics)")
    p.set_defaults(func=run)


def _scan(data_dir: str) -> list:
    from pathlib import Path

    from fractoscope.train.data import scan_labelled_folder

    items, _ = scan_labelled_folder(Path(data_dir))
    return items


def _triples(items: list) -> list:
    return [(i.path, i.level1, i.level2) for i in items]


def held_out_families(card: dict) -> set[str]:
    """Generator families the model was *not* trained on (TRAIN's ``--holdout``), from its card."""
    cfg = (card.get("training") or {}).get("config") or {}
    return {str(f) for f in (cfg.get("holdout") or [])}


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fractoscope.analysis.confidence import (
        OOD_COMPONENTS,
        collect,
        fit_confidence,
        write_confidence_block,
    )
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.errors import FractoscopeError

    if args.components is not None and args.components < 1:
        return fail("--components must be at least 1")
    try:
        analyzer = Analyzer(args.model, args.device)
        tax = analyzer.model_info.taxonomy
        scanned = _scan(args.data_dir)
        held = held_out_families(analyzer.model_info.card)
        ref_items = _triples(_scan(args.reference)) if args.reference else []
        if not args.reference and held and any(getattr(i, "family", "") in held for i in scanned):
            # A synth folder with families the model never saw: those become the reference.
            ref_items = _triples([i for i in scanned if i.family in held])
            scanned = [i for i in scanned if i.family not in held]
            print(
                f"{len(scanned)} images of trained generator families calibrate, {len(ref_items)} of the "
                f"held-out families ({', '.join(sorted(held))}) set the 'unlike' threshold",
                file=sys.stderr,
            )
        items = _triples(scanned)
        unknown = sorted({a for _, a, _ in items + ref_items} - set(tax.level1)) + sorted(
            {b for _, _, b in items + ref_items if b} - set(tax.level2)
        )
        if unknown:
            return fail(f"{args.data_dir}: classes not in the model's taxonomy: {', '.join(unknown)}")
        if not items:
            return fail(f"{args.data_dir}: no images of the model's trained generator families")
        data = collect(analyzer, items, print_progress("calibration images"))
        ref = collect(analyzer, ref_items, print_progress("reference images")) if ref_items else None
        command = f"fractoscope calibrate {args.model} {args.data_dir}"
        if args.reference:
            command += f" --reference {args.reference}"
        if args.components is not None:  # recorded so that the card's command reproduces the fit
            command += f" --components {args.components}"
        block = fit_confidence(
            data,
            tax,
            ref,
            n_components=args.components or OOD_COMPONENTS,
            source={
                "data_dir": str(args.data_dir),
                "reference": args.reference or (f"held-out families of DATA_DIR: {sorted(held)}" if ref else None),
                "command": command,
            },
        )
        if not args.dry_run:
            card = write_confidence_block(Path(args.model), block)
    except FractoscopeError as exc:
        return fail(exc)
    for path, reason in data.failed + (ref.failed if ref else []):
        print(f"fractoscope: {path}: skipped: {reason}", file=sys.stderr)
    shown = {k: v for k, v in block.items() if k != "ood"}
    shown["ood"] = {k: v for k, v in block["ood"].items() if k != "statistics"}
    if args.json:
        print_json(shown)
    else:
        f = block["figures"]
        print(f"temperature: level 1 {block['temperature_level1']:.3f}, level 2 {block['temperature_level2']:.3f}")
        print(f"level-1 NLL {f['nll_level1_raw']:.4f} -> {f['nll_level1_calibrated']:.4f}, "
              f"ECE {f['ece_level1_raw']:.4f} -> {f['ece_level1_calibrated']:.4f} ({f['images']} images)")
        print(f"low-confidence floor: {block['min_probability']:.3f}")
        print(f"'unlike the training images' threshold: {block['ood']['threshold']:.3f} "
              f"(calibration images flagged: {f['ood_flagged_fraction_calibration']:.1%}"
              + (f", reference images flagged: {f['ood_flagged_fraction_reference']:.1%}" if ref else "")
              + ")")
        if not args.dry_run:
            print(f"written to {card}")
    return 0
