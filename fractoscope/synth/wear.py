"""Wear: abrasive ploughing grooves and adhesive wear/delamination flakes."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from fractoscope.synth.common import (
    Surface,
    bumps,
    fbm,
    pick_scale,
    rotated_coords,
    smooth1d,
)

PX_RANGE_ABRASIVE = (20e-9, 400e-9)
PX_RANGE_ADHESIVE = (30e-9, 400e-9)


def abrasive_grooves(rng: np.random.Generator, size: int, px: float) -> Surface:
    shape = (size, size)
    wmed = pick_scale(rng, (0.3e-6, 15e-6), px, (3, size / 12))
    angle = rng.uniform(0, 2 * np.pi)  # sliding direction
    n = int(np.ceil(size * 1.45)) + 4  # canvas covering the rotated image
    density = rng.uniform(0.3, 1.0)
    g = max(8, int(n / wmed * density * 1.5))
    centers = rng.uniform(0, n, g)
    widths = wmed * np.exp(rng.normal(0, 0.6, g))  # grooves of widely varying widths
    depths = widths * rng.uniform(0.1, 0.45, g)
    vgrid = np.arange(n, dtype=np.float32)
    dv = (vgrid[:, None] - centers[None, :]) / (widths[None, :] / 2)
    # U/V-shaped groove with ploughed-up lips on both sides.
    vshape = rng.uniform(0.5, 2.0, g)
    groove = -np.clip(1 - np.abs(dv) ** vshape, 0, None)
    lips = rng.uniform(0.1, 0.5, g) * np.exp(-(((np.abs(dv) - 1.15) / 0.35) ** 2))
    P = (groove + lips) * depths[None, :]  # (v, groove)
    # Along the sliding direction: depth varies and some grooves start/stop (particle lost).
    M = 1 + 0.25 * smooth1d(rng, n, rng.uniform(10, 60), g)
    s0 = np.where(rng.random(g) < 0.3, rng.uniform(0, n, g), -1.0)
    s1 = np.where(rng.random(g) < 0.3, rng.uniform(0, n, g), n + 1.0)
    ug = np.arange(n, dtype=np.float32)
    lo, hi = np.minimum(s0, s1), np.maximum(s0, s1)
    ramp = np.clip((ug[None, :] - lo[:, None]) / 6, 0, 1) * np.clip((hi[:, None] - ug[None, :]) / 3, 0, 1)
    canvas = (P @ (np.clip(M, 0.2, None) * ramp)).astype(np.float32)  # (v, u)
    u, v = rotated_coords(shape, angle)
    h = ndi.map_coordinates(canvas, [v + n / 2, u + n / 2], order=1, mode="nearest")
    # Pile-up at groove ends and wear debris scattered over the surface.
    nd = int(rng.uniform(0, 3e-4) * size * size)
    deb = bumps(rng, shape, nd, (0.7, max(1.0, wmed * 0.6)))
    h += deb * rng.uniform(0.8, 1.5)
    albedo = np.where(deb > 0, rng.uniform(1.0, 1.5), 1.0).astype(np.float32)
    h += rng.uniform(0.1, 0.4) * fbm(rng, shape, beta=2.5, cutoff=0.3, aniso=4.0, angle=angle)
    h += rng.uniform(0.0, 0.05) * size * fbm(rng, shape, beta=4.0, cutoff=4.0 / size)
    return Surface(h, albedo)


def adhesive_delamination(rng: np.random.Generator, size: int, px: float) -> Surface:
    shape = (size, size)
    flake = pick_scale(rng, (1e-6, 50e-6), px, (20, size / 2.5))
    angle = rng.uniform(0, 2 * np.pi)  # sliding direction: flakes are smeared along it
    cut = 1.0 / flake
    # Torn-up base metal below the sheets.
    h = rng.uniform(1.0, 2.5) * fbm(rng, shape, beta=2.4, cutoff=0.3)
    h += rng.uniform(1, 4) * fbm(rng, shape, beta=3.5, cutoff=cut * 3)
    albedo = np.ones(shape, np.float32)
    below = np.ones(shape, bool)
    nlayer = int(rng.integers(2, 5))
    for k in range(nlayer):
        field = fbm(rng, shape, beta=3.2, cutoff=cut * 4, aniso=rng.uniform(1.5, 4), angle=angle)
        field += 0.12 * fbm(rng, shape, beta=2.0, cutoff=0.3)  # ragged, torn edges
        cover = rng.uniform(0.35, 0.7) * (0.8 ** k)
        thr = np.quantile(field, 1 - cover)
        m = (field > thr) & (below if k > 0 and rng.random() < 0.7 else True)
        m = ndi.binary_opening(m, iterations=1)
        if not m.any():
            continue
        th = rng.uniform(3, 12)
        tilt = rng.normal(0, 0.12, 2)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        d = ndi.distance_transform_edt(m).astype(np.float32)
        # Sheet: flat plate, curled up at its torn edge, smeared streaks on top.
        sheet = th * np.minimum(1.0, d / 1.2) + rng.uniform(3, 8) * np.exp(-d / rng.uniform(3, 10))
        sheet += rng.uniform(0.6, 1.8) * fbm(rng, shape, beta=2.6, cutoff=0.3, aniso=8.0, angle=angle)
        h = np.where(m, h * 0.15 + sheet + k * th * 0.5 + tilt[0] * (yy - size / 2) + tilt[1] * (xx - size / 2), h)
        albedo[m] *= rng.uniform(0.9, 1.15)
        # Transverse tensile cracks across the top sheets (perpendicular to sliding).
        if rng.random() < 0.6:
            u, v = rotated_coords(shape, angle)
            nc = int(rng.integers(2, 10))
            cpos = rng.uniform(-size, size, nc)
            wig = fbm(rng, shape, beta=3.5, cutoff=0.05) * 2
            dist = np.min(np.abs(u[..., None] + wig[..., None] - cpos[None, None, :]), axis=-1)
            crack = (dist < rng.uniform(0.6, 1.5)) & m & (d > 2)
            h[crack] -= th * 2
        below = m
    return Surface(h.astype(np.float32), albedo)
