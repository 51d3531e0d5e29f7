"""Fatigue: striations on plateaus (microscopic) and beach marks (coarse progression bands)."""

from __future__ import annotations

import numpy as np

from fractoscope.synth.common import (
    Surface,
    boundary_distance,
    fbm,
    jittered_points,
    nearest_seed,
    pick_scale,
    rotated_coords,
    smooth1d,
    warp_labels,
)

PX_RANGE_STRIATIONS = (5e-9, 80e-9)
PX_RANGE_BEACH = (80e-9, 500e-9)


def striations(rng: np.random.Generator, size: int, px: float) -> Surface:
    shape = (size, size)
    spacing = pick_scale(rng, (0.1e-6, 2e-6), px, (4.5, max(6.0, size / 18)))
    plateau = rng.uniform(0.35, 1.0) * size
    pts = jittered_points(rng, shape, plateau, jitter=1.0, margin=plateau)
    lab, _ = nearest_seed(shape, pts, margin=int(plateau) + 2)
    lab = warp_labels(rng, lab, rng.uniform(3, 12), plateau / 4)
    ids = np.unique(lab)
    crack = rng.uniform(0, 2 * np.pi)  # growth direction: striations run across it
    h = np.zeros(shape, np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for g in ids:
        m = lab == g
        phi = crack + rng.normal(0, 0.35)
        u, v = rotated_coords(shape, phi)  # u along the crack front, v along growth
        uu, vv = u[m], v[m]
        sp = spacing * rng.uniform(0.8, 1.25)
        # Slightly curved crack fronts, local spacing change with growth, front waviness.
        curv = rng.normal(0, 1.0) / size
        wav = np.interp(uu, np.arange(-size, size), smooth1d(rng, 2 * size, rng.uniform(10, 40))[0])
        grow = rng.uniform(-0.25, 0.25) * vv / size
        phase = (vv + curv * uu * uu + wav * sp * rng.uniform(0.2, 0.8)) / (sp * (1 + grow))
        frac = phase - np.floor(phase)
        # Asymmetric ridge: a gentle flank in the growth direction and a steeper one behind.
        k = rng.uniform(0.55, 0.85)
        prof = np.where(frac < k, frac / k, (1 - frac) / (1 - k))
        amp = sp * rng.uniform(0.25, 0.5)
        fade = 1 + 0.5 * fbm(rng, shape, beta=3.5, cutoff=8.0 / size)[m]
        t = rng.normal(0, 0.2, 2)
        h[m] = amp * np.clip(fade, 0.2, None) * prof + t[0] * yy[m] + t[1] * xx[m] + rng.normal(0, 0.05 * size)
        # Secondary cracks along a few striation valleys.
        if rng.random() < 0.35:
            idx = np.floor(phase).astype(int)
            pick = (np.abs(frac - k) < 0.06) & (((idx * 2654435761) % 97) < rng.uniform(3, 15))
            h.ravel()[np.flatnonzero(m)[pick]] -= rng.uniform(4, 12)
    # Tear ridges where plateaus at different levels join.
    d = boundary_distance(lab)
    h += rng.uniform(1, 4) * np.exp(-((d / rng.uniform(1.2, 3.0)) ** 2))
    h += 0.15 * spacing * fbm(rng, shape, beta=2.3, cutoff=0.3)
    return Surface(h)


def beach_marks(rng: np.random.Generator, size: int, px: float) -> Surface:
    shape = (size, size)
    spacing = pick_scale(rng, (3e-6, 100e-6), px, (14, size / 3.5))
    # Crack origin outside (or at the edge of) the field of view: arcs are concentric around it.
    ang = rng.uniform(0, 2 * np.pi)
    dist = size * rng.uniform(0.55, 2.5)
    oy, ox = size / 2 + dist * np.sin(ang), size / 2 + dist * np.cos(ang)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    ry, rx = (yy - oy) * rng.uniform(0.8, 1.25), xx - ox  # fronts slightly elliptical
    r = np.sqrt(ry * ry + rx * rx)
    theta = np.arctan2(ry, rx)
    # Crack fronts are not perfect circles: slow waviness along the front.
    r = r + spacing * 0.3 * fbm(rng, shape, beta=4, cutoff=3.0 / size)
    ph = r / spacing
    nb = int(ph.max()) + 2
    band_w = np.exp(rng.normal(0, 0.35, nb))  # irregular band widths
    edges = np.concatenate([[0], np.cumsum(band_w)])
    ph = ph * edges[-1] / nb
    idx = np.clip(np.searchsorted(edges, ph) - 1, 0, nb - 1)
    frac = (ph - edges[idx]) / band_w[idx]
    # Each band: a gentle ramp ending at a sharp arrest line (small step).
    step = rng.uniform(0.5, 3.0)
    h = -step * (idx + frac ** 2)
    # Arrest-line ridges and oxide/contrast bands: the hallmark of beach marks.
    h += rng.uniform(0.5, 2.5) * np.exp(-(((1 - frac) * band_w[idx] * spacing / 2.0) ** 2))
    tone = rng.uniform(0.08, 0.35) * rng.standard_normal(nb)
    albedo = 1.0 + tone[idx] * (0.6 + 0.4 * frac) + rng.uniform(0.03, 0.12) * np.cos(2 * np.pi * frac)
    # Relatively flat surface with fine fatigue texture and radial ratchet-like lines.
    rad = fbm(rng, shape, beta=3.0, cutoff=0.2, aniso=rng.uniform(3, 8), angle=float(np.mean(theta)))
    h += rng.uniform(0.5, 2.0) * rad
    h += rng.uniform(0.3, 1.2) * fbm(rng, shape, beta=2.4, cutoff=0.35)
    return Surface(h.astype(np.float32), np.clip(albedo, 0.3, None).astype(np.float32))
