"""Checkpoints: ``NAME.safetensors`` (weights) + ``NAME.json`` (model card), loaded safely.

Weights are read with ``safetensors`` only (no pickle). The card names the file's sha256, and a
file whose hash, keys or tensor shapes do not match the card is refused with a ModelError.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from fractoscope.atomic import atomic_path, write_atomic
from fractoscope.errors import ModelError
from fractoscope.hashing import sha256_file
from fractoscope.imaging.spec import InputSpec
from fractoscope.model.hffnet import HFFNet2d, HFFNetConfig
from fractoscope.model.info import ModelInfo
from fractoscope.model.taxonomy import Taxonomy
from fractoscope.paths import models_dir

CARD_FORMAT = "fractoscope-model-card/1"


def version_key(path: Path) -> tuple:
    """Sort key of a model file by its version: the numbers in its name compare as numbers
    (``hffnet2d-v10`` after ``hffnet2d-v9``; alphabetically "v10" < "v2")."""
    parts = re.split(r"(\d+)", Path(path).stem)
    # re.split alternates text and digits (text first), so every position compares like with like.
    return tuple(int(t) if i % 2 else t for i, t in enumerate(parts))


def default_model_path() -> Path:
    """The bundled checkpoint: the highest version of ``hffnet2d-*.safetensors`` in ``models/``."""
    d = models_dir()
    found = sorted(d.glob("hffnet2d-*.safetensors"), key=version_key)
    if not found:
        raise ModelError(f"no bundled model found in {d} (expected hffnet2d-*.safetensors)")
    return found[-1]


def card_path_for(weights: Path) -> Path:
    return weights.with_suffix(".json")


@dataclass
class LoadedModel:
    model: HFFNet2d
    info: ModelInfo
    card: dict

    @property
    def taxonomy(self) -> Taxonomy:
        return self.info.taxonomy


def save_checkpoint(
    model: HFFNet2d,
    taxonomy: Taxonomy,
    weights_path: Path,
    card_extra: dict | None = None,
    input_spec: InputSpec | None = None,
) -> dict:
    """Write weights (safetensors, atomically) and the model card; returns the card.

    ``input_spec`` is what the model was trained with (default: :class:`InputSpec` defaults at the
    network's input size); it becomes the card's ``input`` block, which analysis reads back.
    """
    weights_path = Path(weights_path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(weights_path) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "model": "HFFNet2d"})
    cfg = model.cfg
    card = {
        "format": CARD_FORMAT,
        "name": weights_path.stem,
        "architecture": "HFFNet-2d (EfficientNet-Lite0 CNN + "
        + ("ViT blocks" if cfg.vit == "own" else f"the first {cfg.vit_blocks} blocks of DINOv2 ViT-S/14 + {cfg.depth} ViT blocks")
        + ", hierarchical fusion, 2 heads)",
        "config": cfg.to_dict(),
        "taxonomy": taxonomy.to_dict(),
        "input": (input_spec or InputSpec(tile_size=cfg.input_size, channels=cfg.in_chans)).to_card(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "weights_file": weights_path.name,
        "sha256": sha256_file(weights_path),
    }
    card.update(card_extra or {})
    write_atomic(card_path_for(weights_path), json.dumps(card, indent=2).encode())
    return card


def read_card(weights_path: Path) -> dict:
    cp = card_path_for(Path(weights_path))
    try:
        card = json.loads(cp.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{weights_path}: model card {cp.name} is missing") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{cp}: unreadable model card ({exc})") from None
    for key in ("config", "taxonomy", "sha256", "input"):
        if key not in card:
            raise ModelError(f"{cp}: model card lacks '{key}'")
    return card


def load_checkpoint(weights_path: Path | None = None, verify_hash: bool = True) -> LoadedModel:
    """Load a checkpoint after checking it against its card. Raises ModelError with a reason."""
    weights_path = Path(weights_path) if weights_path else default_model_path()
    if not weights_path.is_file():
        raise ModelError(f"{weights_path}: model file not found")
    if weights_path.suffix != ".safetensors":
        raise ModelError(f"{weights_path}: only .safetensors checkpoints are accepted")
    card = read_card(weights_path)
    if verify_hash:
        actual = sha256_file(weights_path)
        if actual != card["sha256"]:
            raise ModelError(
                f"{weights_path.name}: sha256 {actual[:12]}… does not match its model card "
                f"({str(card['sha256'])[:12]}…): file altered or card from another model"
            )
    try:
        taxonomy = Taxonomy.from_dict(card["taxonomy"])
        cfg = HFFNetConfig.from_dict(card["config"])
        model = HFFNet2d(cfg)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{weights_path.name}: inconsistent model card ({exc})") from None
    if len(taxonomy.level1) != cfg.n_level1 or len(taxonomy.level2) != cfg.n_level2:
        raise ModelError(f"{weights_path.name}: taxonomy size does not match the network config")
    try:
        state = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{weights_path.name}: not a valid safetensors file ({exc})") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise ModelError(
            f"{weights_path.name}: tensors do not match the card's network "
            f"(missing {missing[:3]}, unexpected {extra[:3]})"
        )
    bad = [k for k, v in state.items() if tuple(v.shape) != tuple(expected[k].shape)]
    if bad:
        raise ModelError(f"{weights_path.name}: tensor shapes differ from the card's network: {bad[:3]}")
    model.load_state_dict(state)
    model.eval()
    rng = card.get("training", {}).get("pixel_size_range_m")
    try:
        spec = InputSpec.from_card(card, default_tile_size=cfg.input_size)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{weights_path.name}: invalid input block in the model card ({exc})") from None
    info = ModelInfo(
        name=str(card.get("name", weights_path.stem)),
        sha256=str(card["sha256"]),
        taxonomy=taxonomy,
        input_size=spec.tile_size,
        pixel_size_range_m=(float(rng[0]), float(rng[1])) if rng else None,
        card=card,
        input_spec=spec,
    )
    return LoadedModel(model, info, card)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; asking for CUDA without it is an error."""
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelError("CUDA was requested but no CUDA device is available (use --device cpu)")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ModelError(f"unknown device '{name}' (use auto, cpu or cuda)")
