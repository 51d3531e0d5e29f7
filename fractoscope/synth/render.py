"""Height field -> secondary-electron image: topographic contrast, then the imaging chain.

Every nuisance parameter here (detector direction, contrast, noise, blur, drift, data bar) is drawn
from the same distribution for every class, so none of them can give the class away.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage import draw

from fractoscope.synth.common import Surface, blur, loguniform


def se_signal(surf: Surface, rng: np.random.Generator) -> np.ndarray:
    """Secondary-electron yield of a surface, before noise (float32, arbitrary units)."""
    h = surf.height.astype(np.float32)
    gy, gx = np.gradient(h)
    s2 = gx * gx + gy * gy
    # SE yield ~ 1/cos(tilt); the exponent is detector dependent, capped so cliffs don't saturate all.
    sec = np.minimum(np.sqrt(1.0 + s2), 8.0) ** rng.uniform(0.7, 1.1)

    # Everhart-Thornley detector on one side: faces turned towards it are brighter.
    az = rng.uniform(0, 2 * np.pi)
    dx, dy = np.cos(az), np.sin(az)
    facing = -(gx * dx + gy * dy) / np.sqrt(1.0 + s2)
    sig = sec * (1.0 + rng.uniform(0.2, 0.6) * facing)

    # Cast shadow towards the detector: a pixel is shadowed if the surface between it and the
    # detector rises above the take-off line (checked at a few distances, cheap).
    elev = np.tan(np.deg2rad(rng.uniform(15, 40)))
    shadow = np.zeros_like(h)
    hp = np.pad(h, 33, mode="edge")
    H, W = h.shape
    for t in (2, 4, 8, 16, 32):
        sy, sx = int(round(dy * t)), int(round(dx * t))
        shifted = hp[33 + sy : 33 + sy + H, 33 + sx : 33 + sx + W]  # h at (y + sy, x + sx)
        shadow = np.maximum(shadow, shifted - h - t * elev)
    shadow = ndi.gaussian_filter(np.minimum(shadow, 8.0), 1.5)  # soft: the detector is not a point
    sig *= np.exp(-rng.uniform(0.06, 0.18) * shadow)

    # Cavities emit fewer electrons that reach the detector (ambient-occlusion-like term), at two
    # scales so both fine pits and the bottoms of large deep cups come out dark.
    sig_ao = rng.uniform(5, 12)
    ao = h - blur(h, sig_ao)
    ao2 = h - blur(h, sig_ao * rng.uniform(3, 5))
    sig *= np.exp(rng.uniform(0.04, 0.1) * np.clip(ao, -15, 5) + rng.uniform(0.01, 0.03) * np.clip(ao2, -40, 8))

    # Edge effect: electrons escape through thin convex edges and rims -> bright lines.
    lap = -ndi.laplace(ndi.gaussian_filter(h, rng.uniform(0.7, 1.3)))
    sig += rng.uniform(0.25, 0.7) * np.tanh(np.clip(lap, 0, None))

    if surf.albedo is not None:
        sig *= surf.albedo
    return sig.astype(np.float32)


def varying_focus(sig: np.ndarray, rng: np.random.Generator, max_blur: float | None = None) -> np.ndarray:
    """Depth-of-field blur that changes across the frame (tilted or rough specimens at high
    magnification): sharp in one part, blurred in another, blended smoothly.

    ``max_blur`` (pixels) caps the blur's Gaussian sigma; the random draws are the same either way.
    """
    h, w = sig.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, 2 * np.pi)
    t = ((xx - w / 2) * np.cos(a) + (yy - h / 2) * np.sin(a)) / max(h, w) + 0.5
    t = np.clip(t * rng.uniform(0.8, 1.6) + rng.uniform(-0.5, 0.2), 0, 1)
    sigma = loguniform(rng, 1.5, 5.0)
    blurred = ndi.gaussian_filter(sig, sigma if max_blur is None else min(sigma, max_blur))
    return (sig * (1 - t) + blurred * t).astype(np.float32)


OPERATOR_MODES = ("normal", "bright", "low_contrast", "saturated", "dark")
# A frame labelled by a fine, faint feature (striations) is a slow scan: the operator who
# photographed them made them stand out of the noise. Electrons per pixel at full white.
FINE_FEATURE_MIN_DOSE = 150.0


def acquire(sig: np.ndarray, rng: np.random.Generator, operator: str | None = None,
            max_blur: float | None = None, min_dose: float | None = None) -> np.ndarray:
    """The imaging chain: focus, gain/offset/gamma, vignetting, charging, noise, scan lines.

    ``max_blur`` (pixels) caps the beam blur's Gaussian sigma and ``min_dose`` (electrons per pixel at
    full white) is the least dose drawn; the random draws are the same either way, so the rest of the
    image does not change.

    Returns float32 in [0, 1].
    """
    if operator is not None and operator not in OPERATOR_MODES:
        raise ValueError(f"unknown operator mode {operator!r}; known: {', '.join(OPERATOR_MODES)}")
    h, w = sig.shape
    beam = loguniform(rng, 0.35, 1.3)
    img = ndi.gaussian_filter(sig, beam if max_blur is None else min(beam, max_blur))
    # Contrast set on the bulk of the surface: the brightest rims and particles may clip, as
    # they do when an operator sets brightness/contrast on the frame.
    lo, hi = np.percentile(img[:: 2, :: 2], [rng.uniform(0.2, 3.0), rng.uniform(96.5, 99.8)])
    img = (img - lo) / max(hi - lo, 1e-6)

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.3:  # vignetting / uneven detector collection
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / (h * h + w * w)
        img *= 1.0 - rng.uniform(0.1, 0.4) * r2 * 2
    if rng.random() < 0.25:  # slow brightness drift across the frame (gradient)
        a = rng.uniform(0, 2 * np.pi)
        img *= 1.0 + rng.uniform(0.03, 0.15) * ((xx * np.cos(a) + yy * np.sin(a)) / max(h, w) - 0.5)
    if rng.random() < 0.1:  # charging: a glowing patch and bright trails along the scan lines
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        rad = rng.uniform(0.05, 0.3) * max(h, w)
        glow = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rad * rad))
        img += rng.uniform(0.1, 0.5) * glow
        trail = ndi.uniform_filter1d(np.clip(img - 0.8, 0, None), int(rng.integers(5, 40)), axis=1,
                                     origin=-1 if rng.random() < 0.5 else 0)
        img += rng.uniform(0.3, 1.0) * trail

    # Brightness as an operator sets it: the bulk of the surface mid-grey (gamma chosen so the
    # median lands at 0.3-0.55), bright rims above it.
    img = np.clip(img, 0, None)
    med = float(np.clip(np.median(img[::4, ::4]), 0.02, 0.95))
    gamma = float(np.clip(np.log(rng.uniform(0.3, 0.55)) / np.log(med), 0.45, 1.6))
    img = img ** (gamma * loguniform(rng, 0.85, 1.18))
    img = rng.uniform(0.0, 0.12) + rng.uniform(0.7, 1.0) * img
    # Brightness and contrast as operators leave them: often bright, low-contrast or with
    # saturated rims. The draws happen whatever ``operator`` says, so the stream stays aligned.
    u = rng.random()
    drawn = "bright" if u < 0.1 else "low_contrast" if u < 0.2 else "saturated" if u < 0.3 else (
        "dark" if u < 0.35 else "normal")
    mode = operator or drawn
    a, b = rng.uniform(0.3, 0.55), rng.uniform(0.25, 0.45)
    g, o = rng.uniform(1.3, 1.9), rng.uniform(0.0, 0.15)
    d = rng.uniform(0.35, 0.6)
    if mode == "bright":  # washed-out image
        img = 0.35 + 0.8 * img
    elif mode == "low_contrast":  # squeezed around mid-grey
        img = a + b * (img - 0.5)
    elif mode == "saturated":  # high gain: rims and edges clip to white
        # ... the rims, not the surface: an operator who clipped most of the frame would retake it,
        # and a frame mostly white shows no morphology to label. At most ~10 % of it clips.
        q = float(np.percentile(img[::2, ::2], 90))
        img = img * min(g, (1 + o) / max(q, 1e-6)) - o
    elif mode == "dark":
        img = img * d

    # Shot noise: the dose (electrons per pixel at full white) sets how grainy the image is.
    dose = loguniform(rng, 12, 400)
    if min_dose is not None:
        dose = max(dose, min_dose)
    img = rng.poisson(np.clip(img, 0, 2) * dose).astype(np.float32) / dose
    img += rng.normal(0, rng.uniform(0.0, 0.02), img.shape).astype(np.float32)

    if rng.random() < 0.4:  # scan-line noise: row offsets and horizontal jitter (milder on real frames)
        img += rng.normal(0, rng.uniform(0.002, 0.025), (h, 1)).astype(np.float32)
        if rng.random() < 0.5:
            shift = rng.normal(0, rng.uniform(0.1, 0.8), h).astype(np.float32)
            img = ndi.map_coordinates(img, [yy, xx + shift[:, None]], order=1, mode="nearest")
    return np.clip(img, 0, 1).astype(np.float32)


# 3x5 stroke "font": each glyph is a random set of segments on a small grid; reads as text at
# SEM data-bar sizes without needing any font file.
_SEGS = [((0, 0), (0, 2)), ((2, 0), (2, 2)), ((4, 0), (4, 2)), ((0, 0), (2, 0)), ((2, 0), (4, 0)),
         ((0, 2), (2, 2)), ((2, 2), (4, 2)), ((0, 0), (4, 2)), ((0, 2), (4, 0)), ((0, 1), (4, 1))]


def _glyphs(bar: np.ndarray, rng: np.random.Generator, y: int, x: int, n: int, ch: int, val: float,
            xmax: int | None = None) -> int:
    """Draw n glyph-like symbols of height ch at (y, x); returns the x after the last glyph."""
    H, W = bar.shape
    W = min(W, xmax) if xmax is not None else W
    cw = max(2, int(round(ch * 0.6)))
    for _ in range(n):
        if x + cw >= W:
            break
        if rng.random() < 0.15:  # a space
            x += cw + 2
            continue
        k = rng.integers(2, 5)
        for si in rng.choice(len(_SEGS), k, replace=False):
            (r0, c0), (r1, c1) = _SEGS[si]
            rr, cc = draw.line(y + r0 * (ch - 1) // 4, x + c0 * (cw - 1) // 2,
                               y + r1 * (ch - 1) // 4, x + c1 * (cw - 1) // 2)
            ok = (rr >= 0) & (rr < H) & (cc >= 0) & (cc < W)
            bar[rr[ok], cc[ok]] = val
            if ch >= 12:  # bold strokes on bigger bars
                ok2 = ok & (cc + 1 < W)
                bar[rr[ok2], cc[ok2] + 1] = val
        x += cw + max(1, ch // 4)
    return x


def add_databar(img: np.ndarray, px_m: float, rng: np.random.Generator) -> int:
    """Burn a vendor-style data bar into the bottom rows (in place); returns its height in rows."""
    h, w = img.shape
    rows = int(np.clip(round(h * rng.uniform(0.06, 0.11)), 10, h // 3))
    bar = np.full((rows, w), rng.uniform(0.0, 0.08), np.float32)
    fg = rng.uniform(0.85, 1.0)
    if rng.random() < 0.5:  # separator line
        bar[0, :] = fg
    ch = int(np.clip(rows * rng.uniform(0.3, 0.45), 5, 30))
    # Scale bar: a 1-2-5 length no longer than a quarter of the width.
    fov = px_m * w
    target = fov * rng.uniform(0.1, 0.25)
    exp = np.floor(np.log10(target))
    nice = max(m for m in (1, 2, 5) if m * 10**exp <= target) * 10**exp
    L = max(4, int(round(nice / px_m)))
    x0 = int(rng.uniform(0.55, 0.95) * w - L) if rng.random() < 0.5 else int(rng.uniform(0.02, 0.1) * w)
    x0 = int(np.clip(x0, 1, max(1, w - L - 2)))
    yb = rows // 2 + rng.integers(-1, 2)
    th = max(1, rows // 10)
    bar[max(1, yb - th): yb + th + 1, x0 : x0 + L] = fg
    bar[max(1, yb - 3 * th): yb + 3 * th + 1, x0 : x0 + max(1, th)] = fg
    bar[max(1, yb - 3 * th): yb + 3 * th + 1, x0 + L - max(1, th) : x0 + L] = fg
    # Label of the scale bar above it, then fields of text elsewhere.
    if yb - 3 * th - ch - 1 >= 1:
        _glyphs(bar, rng, max(1, yb - 3 * th - ch - 1), x0 + L // 3, int(rng.integers(3, 6)), ch, fg)
    y = int(np.clip((rows - ch) // 2 + rng.integers(-2, 3), 1, max(1, rows - ch - 1)))
    for xa, xb in ((3, x0 - 6), (x0 + L + 8, w - 3)):  # text fields left and right of the bar
        x = xa
        while x < xb - ch:
            x = _glyphs(bar, rng, y, x, int(rng.integers(3, 9)), ch, fg, xmax=xb) + int(rng.integers(8, 30))
    img[h - rows :, :] = bar
    return rows


def to_dtype(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mostly 8-bit like most SEM exports, sometimes 16-bit (same distribution for all classes)."""
    if rng.random() < 0.1:
        return np.round(img * 65535).astype(np.uint16)
    return np.round(img * 255).astype(np.uint8)
