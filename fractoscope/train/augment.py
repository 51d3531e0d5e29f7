"""Training crops and domain randomisation for SEM fractographs.

The generator draws the surfaces; real micrographs differ from it in everything the imaging chain
and the operator add. Training therefore randomises those nuisances far beyond what the generator
produces, so that the classes can only be told apart by the relief texture itself:

Geometry (per sample, numpy, :func:`random_crop`): random crop with scale jitter (the pixel size
the model is told follows the jitter), a stronger jitter for crops trained with the 'unknown scale'
embedding (their absolute size must not matter), foreshortening as on a tilted specimen, flips and
90-degree rotations (fracture surfaces have no preferred orientation), and a small calibration error.

Photometry (per batch, torch, :func:`photometric`), in the order a micrograph is formed:
random monotone tone curves, gamma and histogram-equalisation-like remaps (detector response and
post-processing), local-contrast (CLAHE-like) enhancement, uneven illumination / charging,
spatially varying focus blur and resolution loss, shot and scan-line noise, operator brightness and
contrast with saturation, grey-level quantisation, JPEG compression, and finally the percentile
stretch the analysis applies to every image.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from fractoscope.train.data import LoadedImage

# Scale jitter of crops that keep their pixel size (told to the model) and of 'unknown scale' crops.
CALIBRATED_JITTER = (0.7, 1.4)
UNCALIBRATED_JITTER = (0.5, 2.0)


def random_crop(
    item: LoadedImage,
    size: int,
    rng: np.random.Generator,
    scale_jitter: tuple[float, float] = CALIBRATED_JITTER,
    tilt_probability: float = 0.3,
    calibration_error: float = 0.08,
) -> tuple[np.ndarray, float]:
    """A ``size`` x ``size`` crop (float32) and its pixel size in nm (NaN if unknown).

    ``scale_jitter`` (min, max) resamples the crop by a log-uniform factor; the returned pixel size
    is that of the resampled crop, times a log-normal calibration error of ``calibration_error``
    (real calibrations are approximate). With ``tilt_probability`` one axis is foreshortened by up
    to 30 % (specimen tilt); the pixel size then refers to the other axis.
    ``scale_jitter=(1, 1)``, ``tilt_probability=0`` and ``calibration_error=0`` give a plain crop.
    """
    img = item.image
    h, w = img.shape
    lo, hi = scale_jitter
    s = math.exp(rng.uniform(math.log(lo), math.log(hi))) if hi > lo else lo
    fore = rng.uniform(0.7, 1.0) if tilt_probability and rng.random() < tilt_probability else 1.0
    ch = max(8, min(int(round(size * s)), h))
    cw = max(8, min(int(round(size * s * fore)), w))
    if rng.random() < 0.5:  # foreshortened axis: vertical or horizontal
        ch, cw = min(cw, h), min(ch, w)
    y = int(rng.integers(0, h - ch + 1))
    x = int(rng.integers(0, w - cw + 1))
    crop = np.asarray(img[y : y + ch, x : x + cw], dtype=np.float32)
    if (ch, cw) != (size, size):
        t = torch.from_numpy(crop)[None, None]
        crop = F.interpolate(
            t, size=(size, size), mode="bilinear", antialias=max(ch, cw) > size, align_corners=False
        )[0, 0].numpy()
    k = int(rng.integers(0, 4))
    if k:
        crop = np.rot90(crop, k)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    if item.pixel_size_m is None:
        nm = float("nan")
    else:
        err = math.exp(rng.normal(0.0, calibration_error)) if calibration_error else 1.0
        nm = item.pixel_size_m * 1e9 * max(ch, cw) / size * err
    return np.ascontiguousarray(crop), nm


# --- photometry -----------------------------------------------------------------------------------
def _gaussian_kernel(sigma: float) -> torch.Tensor:
    r = max(1, int(math.ceil(2.5 * sigma)))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a (B, 1, H, W) batch, reflect-padded."""
    k = _gaussian_kernel(sigma)
    r = k.numel() // 2
    r = min(r, x.shape[-1] - 1, x.shape[-2] - 1)
    k = k[k.numel() // 2 - r : k.numel() // 2 + r + 1]
    k = k / k.sum()
    y = F.pad(x, (r, r, r, r), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1))
    return F.conv2d(y, k.view(1, 1, -1, 1))


def _smooth_field(b: int, h: int, w: int, cells: int, gen: torch.Generator) -> torch.Tensor:
    """Smooth random field in [0, 1], (B, 1, H, W): bicubic upsampling of a coarse random grid."""
    coarse = torch.rand(b, 1, cells, cells, generator=gen)
    f = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)
    lo = f.amin((2, 3), keepdim=True)
    hi = f.amax((2, 3), keepdim=True)
    return (f - lo) / (hi - lo).clamp_min(1e-6)


def tone_curve(x: torch.Tensor, gen: torch.Generator, knots: int = 6) -> torch.Tensor:
    """Random monotone piecewise-linear tone curve per sample (keeps the order of grey levels,
    hence the texture, while changing which grey a facet or a rim gets)."""
    b = x.shape[0]
    inc = -torch.log(torch.rand(b, knots, generator=gen).clamp_min(1e-6))  # Dirichlet(1) increments
    ys = torch.cat([torch.zeros(b, 1), torch.cumsum(inc, 1)], 1)
    ys = ys / ys[:, -1:]
    pos = x.clamp(0, 1) * knots
    i = pos.floor().clamp(max=knots - 1)
    f = pos - i
    i = i.long().view(b, -1)
    y0 = ys.gather(1, i).view_as(x)
    y1 = ys.gather(1, i + 1).view_as(x)
    return y0 + f * (y1 - y0)


def equalise(x: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation per sample: each pixel's rank among its crop's pixels."""
    b = x.shape[0]
    flat = x.reshape(b, -1)
    ranks = flat.argsort(1).argsort(1).float() / max(1, flat.shape[1] - 1)
    return ranks.view_as(x)


def local_contrast(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """CLAHE-like local contrast: subtract the local mean, divide by the local spread."""
    mu = gaussian_blur(x, sigma)
    d = x - mu
    sd = gaussian_blur(d * d, sigma).clamp_min(1e-4).sqrt()
    return (0.5 + 0.18 * d / sd).clamp(0, 1)


def percentile_stretch(x: torch.Tensor, low: float = 0.005, high: float = 0.995) -> torch.Tensor:
    """The analysis' normalisation (percentile clip + stretch), per sample."""
    b = x.shape[0]
    flat = x.reshape(b, -1)
    q = torch.quantile(flat, torch.tensor([low, high]), dim=1)  # (2, B)
    lo, hi = q[0].view(b, 1, 1, 1), q[1].view(b, 1, 1, 1)
    return ((x - lo) / (hi - lo).clamp_min(1e-3)).clamp(0, 1)


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG round trip (Pillow) of one (1, H, W) [0, 1] image at ``quality``."""
    import io

    from PIL import Image

    u8 = (x[0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    back = np.asarray(Image.open(buf).convert("L"), dtype=np.float32) / 255.0
    return torch.from_numpy(back)[None]


def photometric(x: torch.Tensor, gen: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """Randomly perturb a (B, 1, H, W) batch in [0, 1]; returns values in [0, 1].

    ``strength`` scales the probabilities and amplitudes (0: only the final stretch).
    """
    b, _, h, w = x.shape
    out = x.clamp(0, 1).clone()
    if strength <= 0:
        return out

    def coin(p: float) -> torch.Tensor:
        return torch.rand(b, generator=gen) < p * strength

    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, 1, 1, 1, generator=gen)

    def blend(sel: torch.Tensor, new: torch.Tensor, amount: torch.Tensor | float = 1.0) -> None:
        """out[sel] <- mix of out and new (in place, selected samples only)."""
        if sel.any():
            a = amount[sel] if torch.is_tensor(amount) else amount
            out[sel] = out[sel] + a * (new - out[sel])

    # 1. Detector response and post-processing: monotone curves, equalisation, local contrast.
    sel = coin(0.5)
    if sel.any():
        blend(sel, tone_curve(out[sel], gen), u(0.4, 1.0))
    gamma = torch.exp(u(-0.5, 0.5) * strength)
    out = out.clamp_min(1e-4) ** gamma
    sel = coin(0.15)
    if sel.any():
        blend(sel, equalise(out[sel]), u(0.3, 1.0))
    sel = coin(0.25)
    if sel.any():
        sigma = float(4.0 + 12.0 * torch.rand(1, generator=gen))
        blend(sel, local_contrast(out[sel], sigma), u(0.3, 0.9))
    # 2. Uneven illumination, shadowing and charging: a smooth multiplicative + additive field.
    sel = coin(0.3)
    if sel.any():
        n = int(sel.sum())
        field = _smooth_field(n, h, w, int(torch.randint(2, 5, (1,), generator=gen)), gen) - 0.5
        amp = u(0.1, 0.5)[sel]
        out[sel] = out[sel] * (1.0 + amp * field) + 0.5 * amp * field
    # 3. Focus: uniform or spatially varying blur; resolution loss by down/up sampling.
    sel = coin(0.35)
    for i in torch.nonzero(sel)[:, 0].tolist():
        sigma = 0.5 + 2.0 * float(torch.rand(1, generator=gen))
        xi = out[i : i + 1]
        blurred = gaussian_blur(xi, sigma)
        if torch.rand(1, generator=gen).item() < 0.5:
            m = _smooth_field(1, h, w, 3, gen)  # depth of field varies across a tilted surface
            blurred = xi + m * (blurred - xi)
        out[i : i + 1] = blurred
    sel = coin(0.15)
    for i in torch.nonzero(sel)[:, 0].tolist():
        f = 1.5 + 1.5 * float(torch.rand(1, generator=gen))
        small = F.interpolate(out[i : i + 1], scale_factor=1 / f, mode="bilinear", antialias=True)
        out[i : i + 1] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    # 4. Noise: shot-like (grows with signal) and a random offset per scan line.
    noise = u(0.0, 0.09) * strength
    out = out + noise * torch.sqrt(out.clamp_min(0.0) + 0.05) * torch.randn(out.shape, generator=gen)
    rows = u(0.0, 0.03) * strength * (torch.rand(b, 1, 1, 1, generator=gen) < 0.5)
    out = out + rows * torch.randn(b, 1, h, 1, generator=gen)
    # 5. Operator brightness / contrast, with saturation where it overshoots.
    contrast = torch.exp(u(-0.5, 0.4) * strength)
    bright = u(-0.15, 0.15) * strength
    out = ((out - 0.5) * contrast + 0.5 + bright).clamp(0, 1)
    # 6. Digitisation: few grey levels (a low-contrast 8-bit frame stretched), JPEG compression.
    sel = coin(0.15)
    if sel.any():
        levels = torch.randint(12, 64, (b, 1, 1, 1), generator=gen).float()[sel]
        out[sel] = (out[sel] * levels).round() / levels
    sel = coin(0.3)
    for i in torch.nonzero(sel)[:, 0].tolist():
        q = int(torch.randint(15, 80, (1,), generator=gen))
        out[i] = jpeg(out[i], q)
    # 7. The analysis normalises every image by a percentile stretch: most crops see it again.
    sel = coin(0.7)
    if sel.any():
        out[sel] = percentile_stretch(out[sel])
    return out.clamp(0, 1)


__all__ = [
    "CALIBRATED_JITTER",
    "UNCALIBRATED_JITTER",
    "equalise",
    "gaussian_blur",
    "jpeg",
    "local_contrast",
    "percentile_stretch",
    "photometric",
    "random_crop",
    "tone_curve",
]
