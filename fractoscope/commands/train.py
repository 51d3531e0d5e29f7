"""``fractoscope train DATA_DIR --out NAME``: train or fine-tune HFFNet-2d on a labelled folder."""

from __future__ import annotations

import argparse

from fractoscope.commands._common import fail


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train / fine-tune the model on a level1/level2/* folder of images",
        description="Train HFFNet-2d on DATA_DIR/<level1>/<level2>/*.tif|png|jpg. Writes NAME.safetensors "
        "and NAME.json (model card), checkpointing every epoch (resume with --resume).",
    )
    p.add_argument("data_dir")
    p.add_argument("--out", required=True, help="output NAME (NAME.safetensors + NAME.json)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--steps-per-epoch", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1.5e-3)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from NAME's last epoch checkpoint")
    p.add_argument("--init-from", default=None, help="fine-tune from this checkpoint (same taxonomy)")
    p.add_argument("--no-pretrained", action="store_true", help="do not initialise the CNN from ImageNet")
    p.add_argument("--freeze-blocks", type=int, default=3)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--note", default=None, help="free text stored in the model card (e.g. the command line)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fractoscope.errors import FractoscopeError
    from fractoscope.train.trainer import TrainConfig, train

    cfg = TrainConfig(
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        threads=args.threads,
        seed=args.seed,
        init_from=args.init_from,
        pretrained=not args.no_pretrained,
        freeze_blocks=args.freeze_blocks,
        val_fraction=args.val_fraction,
    )
    extra = {"training": {"note": args.note}} if args.note else None
    try:
        res = train(args.data_dir, args.out, cfg, resume=args.resume, card_extra=extra)
    except FractoscopeError as exc:
        return fail(exc)
    last = res.history[-1] if res.history else None
    print(f"wrote {res.weights} and {res.weights.with_suffix('.json')}")
    if last:
        print(f"validation tile accuracy: level 1 {last.val_level1_accuracy:.3f}, level 2 {last.val_level2_accuracy:.3f}")
    return 0
