"""Training crops and SEM-specific augmentation.

Geometry (per sample, numpy): random crop with scale jitter (the pixel size the model is told is
adjusted to match), flips and 90° rotations — fracture surfaces have no preferred orientation.
Photometry (per batch, torch): gamma, contrast and brightness drift, shot-like noise, focus blur,
scan-line offsets — the nuisances that differ between microscopes, detectors and operators.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from fractoscope.train.data import LoadedImage


def random_crop(
    item: LoadedImage, size: int, rng: np.random.Generator, scale_jitter: tuple[float, float] = (0.75, 1.33)
) -> tuple[np.ndarray, float]:
    """A ``size`` x ``size`` crop (float32) and its pixel size in nm (NaN if unknown)."""
    img = item.image
    h, w = img.shape
    s = math.exp(rng.uniform(math.log(scale_jitter[0]), math.log(scale_jitter[1])))
    c = int(round(size * s))
    c = max(8, min(c, h, w))
    y = int(rng.integers(0, h - c + 1))
    x = int(rng.integers(0, w - c + 1))
    crop = np.asarray(img[y : y + c, x : x + c], dtype=np.float32)
    if c != size:
        t = torch.from_numpy(crop)[None, None]
        crop = F.interpolate(t, size=(size, size), mode="bilinear", antialias=c > size, align_corners=False)[0, 0].numpy()
    k = int(rng.integers(0, 4))
    if k:
        crop = np.rot90(crop, k)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    nm = float("nan") if item.pixel_size_m is None else item.pixel_size_m * 1e9 * c / size
    return np.ascontiguousarray(crop), nm


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    r = max(1, int(math.ceil(2.5 * sigma)))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def photometric(x: torch.Tensor, gen: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """Randomly perturb a (B, 1, H, W) batch in [0, 1]; returns values in [0, 1]."""
    b = x.shape[0]

    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, 1, 1, 1, generator=gen)

    out = x.clamp(0, 1)
    # Focus blur on about a third of the samples.
    for i in range(b):
        if torch.rand(1, generator=gen).item() < 0.3 * strength:
            sigma = 0.4 + 1.4 * torch.rand(1, generator=gen).item()
            k = _gaussian_kernel(sigma)
            r = k.numel() // 2
            xi = F.pad(out[i : i + 1], (r, r, r, r), mode="reflect")
            xi = F.conv2d(xi, k.view(1, 1, 1, -1))
            xi = F.conv2d(xi, k.view(1, 1, -1, 1))
            out = torch.cat([out[:i], xi, out[i + 1 :]])
    gamma = torch.exp(u(-0.35, 0.35) * strength)
    out = out.clamp_min(1e-4) ** gamma
    contrast = torch.exp(u(-0.3, 0.3) * strength)
    bright = u(-0.1, 0.1) * strength
    out = (out - 0.5) * contrast + 0.5 + bright
    # Shot noise grows with signal; scan-line noise is a random offset per row.
    noise = u(0.0, 0.08) * strength
    out = out + noise * torch.sqrt(out.clamp_min(0.0) + 0.05) * torch.randn(out.shape, generator=gen)
    rows = u(0.0, 0.03) * strength
    out = out + rows * torch.randn(b, 1, out.shape[2], 1, generator=gen)
    return out.clamp(0, 1)
