"""Ductile overload: microvoid coalescence dimples, equiaxed (tension) and elongated (shear)."""

from __future__ import annotations

import numpy as np

from fractoscope.synth.common import (
    Surface,
    bumps,
    fbm,
    jittered_points,
    nearest_seed,
    pick_scale,
    sample_canvas,
)

# Pixel sizes at which dimples are usually imaged (m); overlaps the other classes on purpose.
PX_RANGE_EQUIAXED = (10e-9, 150e-9)
PX_RANGE_SHEAR = (10e-9, 150e-9)


def _cup_field(rng: np.random.Generator, shape: tuple[int, int], spacing: float, depth_ratio: tuple[float, float],
               bend: float = 0.0, skew: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Space-filling cups: each pixel belongs to its nearest void and lies on that void's wall.

    Neighbouring cups meet in sharp cusps: the rims of microvoid coalescence. ``bend`` bends the
    cup outline into a parabola (shear dimples), ``skew`` makes one end deeper than the other.
    Returns height, the cup id map, normalised radius and per-cup radius.
    """
    pts = jittered_points(rng, shape, spacing, jitter=0.9, margin=spacing)
    n = len(pts)
    R = spacing * rng.uniform(0.55, 0.8) * np.exp(rng.normal(0, 0.25, n))
    D = R * rng.uniform(*depth_ratio, n)
    lab, (dy, dx) = nearest_seed(shape, pts, margin=int(spacing) + 2)
    Rl = R[lab]
    v = dy / Rl
    u = dx / Rl + bend * v * v  # parabolic outline opening towards -u
    rho2 = u * u + v * v
    rho = np.sqrt(rho2)
    prof = np.where(rho < 1, -np.sqrt(np.clip(1 - rho2, 0, 1)), 2.0 * (rho - 1))
    depth = D[lab] * (1.0 + skew * np.clip(u, -1, 1))
    return (prof * depth).astype(np.float32), lab, rho.astype(np.float32), Rl


def equiaxed_dimples(rng: np.random.Generator, size: int, px: float) -> Surface:
    shape = (size, size)
    # Primary dimple diameter 0.5-20 um; visible when 10 .. size/3 pixels across.
    dia = pick_scale(rng, (0.5e-6, 20e-6), px, (12, size / 3.5))
    h, lab, rho, R = _cup_field(rng, shape, dia, (0.35, 0.9))
    # Bimodal populations: small secondary voids nucleated on the ligaments between big ones.
    if rng.random() < 0.7 and dia > 24:
        dia2 = dia * rng.uniform(0.2, 0.4)
        h2, *_ = _cup_field(rng, shape, dia2, (0.3, 0.7))
        h = np.minimum(h, h2 * rng.uniform(0.4, 1.0))
    albedo = np.ones(shape, np.float32)
    # Inclusions (MnS, oxides) that nucleated the voids sit at the bottom of some cups.
    if rng.random() < 0.7:
        frac = rng.uniform(0.1, 0.5)
        ids = np.unique(lab)
        chosen = ids[rng.random(ids.size) < frac]
        bottom = np.isin(lab, chosen) & (rho < 0.12)
        npart = int(bottom.sum() / max(1.0, np.pi * (0.1 * dia) ** 2) + 0.5)
        if npart:
            part = bumps(rng, shape, npart, (max(1.0, 0.06 * dia), max(1.5, 0.16 * dia)), mask=bottom)
            m = part > 0
            h = h + part * 1.5
            albedo[m] = rng.uniform(1.1, 1.6)
    # Tearing roughness on the walls and a gently undulating macroscopic surface.
    h += 0.03 * dia * fbm(rng, shape, beta=2.2, cutoff=0.25)
    h += rng.uniform(0.15, 0.8) * dia * fbm(rng, shape, beta=4.0, cutoff=6.0 / size)
    return Surface(h, albedo)


def shear_dimples(rng: np.random.Generator, size: int, px: float) -> Surface:
    shape = (size, size)
    width = pick_scale(rng, (0.5e-6, 15e-6), px, (8, size / 5))
    aspect = rng.uniform(1.8, 4.0)
    angle = rng.uniform(0, 2 * np.pi)  # shear direction: all parabolas open the same way
    # Build round-ish cups on a canvas, then stretch them along the shear direction.
    diag = int(np.ceil(size * 1.5 / 1.0)) + 8
    cw = int(np.ceil(diag / aspect)) + 8
    h, lab, rho, R = _cup_field(rng, (diag, cw), width, (0.3, 0.7),
                                bend=rng.uniform(0.4, 1.2), skew=rng.uniform(0.3, 0.7))
    albedo = np.ones((diag, cw), np.float32)
    if rng.random() < 0.4:  # occasional inclusion at the closed end
        ids = np.unique(lab)
        chosen = ids[rng.random(ids.size) < rng.uniform(0.05, 0.3)]
        bottom = np.isin(lab, chosen) & (rho < 0.15)
        part = bumps(rng, (diag, cw), int(bottom.sum() / max(1.0, (0.12 * width) ** 2 * 3) + 0.5),
                     (max(1.0, 0.06 * width), max(1.5, 0.14 * width)), mask=bottom)
        h = h + part * 1.5
        albedo[part > 0] = rng.uniform(1.1, 1.5)
    # Canvas rows = across (v), cols = along (u); stretch u by the aspect ratio.
    H = sample_canvas(h, angle, shape, scale=(aspect, 1.0))
    A = sample_canvas(albedo, angle, shape, order=0, scale=(aspect, 1.0))
    H *= rng.uniform(0.8, 1.3)
    H += 0.03 * width * fbm(rng, shape, beta=2.2, cutoff=0.25, aniso=3.0, angle=angle)
    H += rng.uniform(0.15, 0.8) * width * fbm(rng, shape, beta=4.0, cutoff=6.0 / size)
    return Surface(H, A)
