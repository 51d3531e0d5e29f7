"""HFFNet-2d: a hybrid CNN + Vision Transformer with hierarchical feature fusion and two heads.

After the design of HFFNet-2d (Sci. Rep. 15:19904, 2025), rebuilt from timm parts:

* CNN branch: timm ``efficientnet_lite0`` features at strides 4, 8, 16, 32, with a one-channel stem
  (the ImageNet RGB stem is folded to grey when initialising, so grey SEM input costs nothing extra).
* Transformer branch: timm ViT blocks over tokens (global context), with a learned position
  embedding and a *scale embedding* of the tile's physical pixel size (a learned "unknown scale"
  vector stands in when the image is uncalibrated). The tokens are either the stride-16 CNN
  features (``vit="own"``, v1/v2) or the patch tokens of the first ``vit_blocks`` blocks of a
  DINOv2 ViT-S/14 (``vit="dinov2_s"``, v3) run on the tile resampled so that its 14-px patches
  fall on the CNN's stride-16 grid. Self-supervised features of natural images carry less of our
  generator's idea of each class than features trained on generated images, which is what real
  fractographs need (issue 23: a head over DINOv2-S transferred to real images far better).
* Hierarchical fusion: CNN and transformer features are fused top-down at strides 32, 16 and 8.
* Two heads, each global-average-pool + linear so that the class activation map of a logit is
  exact: level 1 (failure mechanism) reads the stride-16 fusion, level 2 (morphology, finer) the
  stride-8 fusion. Level-2 probabilities are conditional on level 1: softmax of the level-2
  logits within each parent's children gives P(l2 | l1), and P(l2) = P(l1) * P(l2 | l1).

This file defines the network and its config, and nothing else.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import timm
import torch
import torch.nn.functional as F
from timm.layers import trunc_normal_
from timm.models.vision_transformer import Block
from torch import nn

DINO_PATCH = 14  # DINOv2's patch size, px


@dataclass
class HFFNetConfig:
    n_level1: int = 5
    n_level2: int = 10
    parent_index: tuple[int, ...] = (0, 0, 1, 1, 2, 2, 3, 3, 4, 4)
    input_size: int = 192
    in_chans: int = 1
    cnn: str = "efficientnet_lite0"
    embed_dim: int = 192
    depth: int = 3
    num_heads: int = 3
    mlp_ratio: float = 2.0
    fused_dim: int = 160
    fine_dim: int = 128
    drop_rate: float = 0.1
    drop_path_rate: float = 0.05
    # log10(pixel size / nm) is centred and scaled with these before the Fourier features.
    scale_center_log10_nm: float = 1.5
    scale_span_log10_nm: float = 1.0
    scale_frequencies: int = 8
    # "own": tokens from the CNN's stride-16 features; "dinov2_s": from a DINOv2 ViT-S/14 branch.
    vit: str = "own"
    vit_blocks: int = 12  # DINOv2 blocks kept (its first ones): cost grows with each
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["parent_index"] = list(self.parent_index)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> HFFNetConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "parent_index" in known:
            known["parent_index"] = tuple(int(i) for i in known["parent_index"])
        return cls(**known)


@dataclass
class HFFNetOutput:
    logits_level1: torch.Tensor  # (B, n1)
    logits_level2: torch.Tensor  # (B, n2)
    log_p_level1: torch.Tensor  # (B, n1)
    log_p_level2: torch.Tensor  # (B, n2) joint: log P(l1) + log P(l2 | l1)
    cam_level1: torch.Tensor | None  # (B, n1, H/16, W/16) pre-ReLU Grad-CAM of each logit
    cam_level2: torch.Tensor | None  # (B, n2, H/8, W/8)
    features_level1: torch.Tensor  # the maps the heads pool (kept for autograd Grad-CAM checks)
    features_level2: torch.Tensor


def _conv_bn_act(cin: int, cout: int, k: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.SiLU(inplace=True)
    )


class _Refine(nn.Module):
    """Depthwise 3x3 + pointwise residual refinement after a fusion (local mixing across scales)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=False)
        self.bn = nn.BatchNorm2d(dim)
        self.pw = nn.Conv2d(dim, dim, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.silu(self.bn(self.dw(x)))
        return F.silu(x + self.bn2(self.pw(y)))


class ScaleEmbedding(nn.Module):
    """Embeds log pixel size with Fourier features + MLP; a learned vector for 'unknown'."""

    def __init__(self, dim: int, cfg: HFFNetConfig) -> None:
        super().__init__()
        self.center = cfg.scale_center_log10_nm
        self.span = cfg.scale_span_log10_nm
        self.register_buffer(
            "freqs", (2.0 ** torch.arange(cfg.scale_frequencies)).float() * math.pi / 4, persistent=False
        )
        self.mlp = nn.Sequential(nn.Linear(2 * cfg.scale_frequencies + 1, dim), nn.GELU(), nn.Linear(dim, dim))
        self.unknown = nn.Parameter(torch.zeros(dim))
        trunc_normal_(self.unknown, std=0.02)

    def forward(self, pixel_size_nm: torch.Tensor) -> torch.Tensor:
        """``pixel_size_nm`` (B,), NaN or <= 0 meaning unknown. Returns (B, dim)."""
        known = torch.isfinite(pixel_size_nm) & (pixel_size_nm > 0)
        safe = torch.where(known, pixel_size_nm, torch.ones_like(pixel_size_nm))
        s = (torch.log10(safe) - self.center) / self.span
        ang = s[:, None] * self.freqs[None, :]
        emb = self.mlp(torch.cat([s[:, None], torch.sin(ang), torch.cos(ang)], dim=1))
        return torch.where(known[:, None], emb, self.unknown[None, :].expand_as(emb))


class HFFNet2d(nn.Module):
    def __init__(self, cfg: HFFNetConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or HFFNetConfig()
        if len(cfg.parent_index) != cfg.n_level2 or max(cfg.parent_index) >= cfg.n_level1:
            raise ValueError("parent_index must give a level-1 parent for every level-2 class")
        self.cnn = timm.create_model(
            cfg.cnn, pretrained=False, features_only=True, out_indices=(1, 2, 3, 4), in_chans=cfg.in_chans
        )
        c4, c8, c16, c32 = self.cnn.feature_info.channels()
        d = cfg.embed_dim
        grid = cfg.input_size // 16
        if cfg.vit == "dinov2_s":
            # One grey channel: the RGB patch embedding with ImageNet's normalisation folded in
            # at initialisation (fractoscope.train.dinov2), so the tile tensor goes in as it is.
            self.vit = timm.create_model(
                "vit_small_patch14_dinov2", pretrained=False, img_size=grid * DINO_PATCH, depth=cfg.vit_blocks,
                num_classes=0, in_chans=cfg.in_chans, dynamic_img_size=True,
            )
            self.vit.norm = nn.Identity()  # DINOv2's final norm belongs after its last block
            self.vit_norm = nn.LayerNorm(self.vit.embed_dim)
            self.token_proj = nn.Linear(self.vit.embed_dim, d)
        elif cfg.vit == "own":
            self.token_proj = nn.Conv2d(c16, d, 1)
        else:
            raise ValueError(f"unknown transformer branch {cfg.vit!r} (own, dinov2_s)")
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid, d))
        trunc_normal_(self.pos_embed, std=0.02)
        self.scale_embed = ScaleEmbedding(d, cfg)
        dpr = [x.item() for x in torch.linspace(0, cfg.drop_path_rate, cfg.depth)]
        self.blocks = nn.Sequential(
            *[Block(d, cfg.num_heads, cfg.mlp_ratio, qkv_bias=True, drop_path=dpr[i]) for i in range(cfg.depth)]
        )
        self.norm = nn.LayerNorm(d)
        fd, fine = cfg.fused_dim, cfg.fine_dim
        self.fuse32 = _conv_bn_act(c32 + d, fd)
        self.fuse16 = nn.Sequential(_conv_bn_act(c16 + d + fd, fd), _Refine(fd))
        self.fuse8 = nn.Sequential(_conv_bn_act(c8 + fd, fine), _Refine(fine))
        self.drop = nn.Dropout(cfg.drop_rate)
        self.head_level1 = nn.Linear(fd, cfg.n_level1)
        self.head_level2 = nn.Linear(fine, cfg.n_level2)
        self.register_buffer("parent_index", torch.tensor(cfg.parent_index, dtype=torch.long), persistent=False)
        # Which level-2 classes share a parent: additive mask for the within-group softmax.
        groups = torch.full((cfg.n_level1, cfg.n_level2), float("-inf"))
        groups[torch.tensor(cfg.parent_index), torch.arange(cfg.n_level2)] = 0.0
        self.register_buffer("group_mask", groups, persistent=False)

    def _pos_embed(self, h: int, w: int) -> torch.Tensor:
        grid = self.cfg.input_size // 16
        if h == grid and w == grid:
            return self.pos_embed
        pe = self.pos_embed.reshape(1, grid, grid, -1).permute(0, 3, 1, 2)
        pe = F.interpolate(pe, size=(h, w), mode="bicubic", align_corners=False)
        return pe.permute(0, 2, 3, 1).reshape(1, h * w, -1)

    def conditional_log_probs(self, logits_level1: torch.Tensor, logits_level2: torch.Tensor):
        """log P(l1) and joint log P(l2) = log P(l1) + log P(l2 | l1)."""
        log_p1 = F.log_softmax(logits_level1, dim=1)
        # (B, n1, n2): each row a softmax over that parent's children only.
        masked = logits_level2[:, None, :] + self.group_mask[None]
        log_cond = torch.log_softmax(masked, dim=2).gather(
            1, self.parent_index[None, None, :].expand(logits_level2.shape[0], 1, -1)
        )[:, 0]
        return log_p1, log_p1[:, self.parent_index] + log_cond

    def backbone(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The parts that read the tile: CNN maps at strides 8, 16, 32 and the transformer
        branch's raw tokens (the DINOv2 patch tokens; the stride-16 map itself for ``own``).
        Split from :meth:`fuse` so that a recipe that keeps both backbones frozen can compute
        this once per training crop (fractoscope.train.frozen)."""
        _, f8, f16, f32 = self.cnn(x)
        if self.cfg.vit == "own":
            return f8, f16, f32, f16
        h, w = f16.shape[-2:]
        # 192-px tile -> 168 px: 12 x 12 patches of 14 px, the CNN's 12 x 12 stride-16 cells.
        xv = F.interpolate(x, size=(h * DINO_PATCH, w * DINO_PATCH), mode="bilinear", antialias=True, align_corners=False)
        v = self.vit.blocks(self.vit._pos_embed(self.vit.patch_embed(xv.contiguous())))
        return f8, f16, f32, v[:, self.vit.num_prefix_tokens :]

    def _tokens(self, raw: torch.Tensor) -> torch.Tensor:
        """(B, h*w, embed_dim) tokens from the branch's raw output."""
        if self.cfg.vit == "own":
            return self.token_proj(raw).flatten(2).transpose(1, 2)
        return self.token_proj(self.vit_norm(raw))

    def forward(
        self, x: torch.Tensor, pixel_size_nm: torch.Tensor | None = None, with_cams: bool = True
    ) -> HFFNetOutput:
        return self.fuse(*self.backbone(x), pixel_size_nm=pixel_size_nm, with_cams=with_cams)

    def fuse(
        self,
        f8: torch.Tensor,
        f16: torch.Tensor,
        f32: torch.Tensor,
        raw_tokens: torch.Tensor,
        pixel_size_nm: torch.Tensor | None = None,
        with_cams: bool = True,
    ) -> HFFNetOutput:
        """Transformer blocks, hierarchical fusion, heads and CAMs over :meth:`backbone`'s output."""
        return self.heads(*self.fuse_maps(f8, f16, f32, raw_tokens, pixel_size_nm), with_cams=with_cams)

    def fuse_maps(
        self,
        f8: torch.Tensor,
        f16: torch.Tensor,
        f32: torch.Tensor,
        raw_tokens: torch.Tensor,
        pixel_size_nm: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The maps the heads pool (stride 16 for level 1, stride 8 for level 2): everything but
        the heads, so that heads changed alone (adaptation, lab statistics) can reuse them."""
        b = f16.shape[0]
        h, w = f16.shape[-2:]
        if pixel_size_nm is None:
            pixel_size_nm = torch.full((b,), float("nan"), device=f16.device)
        tokens = self._tokens(raw_tokens) + self._pos_embed(h, w)
        tokens = tokens + self.scale_embed(pixel_size_nm.to(f16.dtype))[:, None, :]
        tokens = self.norm(self.blocks(tokens))
        tmap = tokens.transpose(1, 2).reshape(b, -1, h, w)

        g32 = self.fuse32(torch.cat([f32, F.adaptive_avg_pool2d(tmap, f32.shape[-2:])], 1))
        g16 = self.fuse16(
            torch.cat([f16, tmap, F.interpolate(g32, size=(h, w), mode="bilinear", align_corners=False)], 1)
        )
        g8 = self.fuse8(
            torch.cat([f8, F.interpolate(g16, size=f8.shape[-2:], mode="bilinear", align_corners=False)], 1)
        )
        return g16, g8

    def heads(self, g16: torch.Tensor, g8: torch.Tensor, with_cams: bool = True) -> HFFNetOutput:
        """Both heads and their CAMs over :meth:`fuse_maps`' maps."""
        h, w = g16.shape[-2:]
        logits1 = self.head_level1(self.drop(g16.mean((2, 3))))
        logits2 = self.head_level2(self.drop(g8.mean((2, 3))))
        log_p1, log_p2 = self.conditional_log_probs(logits1, logits2)
        cam1 = cam2 = None
        if with_cams:
            # Grad-CAM of a GAP+linear logit: d logit/d A = W_c / (h*w) everywhere, so the CAM is
            # W_c . A / (h*w) — the same forward pass, no backward needed.
            cam1 = torch.einsum("kc,bchw->bkhw", self.head_level1.weight, g16) / (h * w)
            h8, w8 = g8.shape[-2:]
            cam2 = torch.einsum("kc,bchw->bkhw", self.head_level2.weight, g8) / (h8 * w8)
        return HFFNetOutput(logits1, logits2, log_p1, log_p2, cam1, cam2, g16, g8)

    def cam_layers(self) -> dict[str, nn.Module]:
        """The layers whose outputs the heads pool (for external Grad-CAM tools)."""
        return {"level1": self.fuse16, "level2": self.fuse8}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
