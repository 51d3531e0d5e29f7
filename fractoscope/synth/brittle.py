"""Brittle overload: transgranular cleavage (river patterns) and intergranular rock candy."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from fractoscope.synth.common import (
    Surface,
    boundary_distance,
    boundary_pairs,
    fbm,
    jittered_points,
    nearest_seed,
    pair_random,
    pick_scale,
    rotated_coords,
    smooth1d,
    warp_labels,
)

PX_RANGE_CLEAVAGE = (40e-9, 500e-9)
PX_RANGE_INTERGRANULAR = (40e-9, 500e-9)


def _river_canvas(rng: np.random.Generator, n: int, spacing: float, conv_len: float) -> np.ndarray:
    """Step heights of a river pattern on an n x n canvas; the crack runs along +columns.

    Many small cleavage steps start at the upstream side (where the crack crossed the grain
    boundary) and merge into a few large 'trunks' as the crack advances: tributaries join
    downstream, never split.
    """
    m = max(4, int(n / spacing))
    v0 = np.sort(rng.uniform(0, n, m))
    k = int(rng.integers(2, 6))
    trunks = np.sort(rng.uniform(0.1 * n, 0.9 * n, k))
    owner = np.abs(v0[:, None] - trunks[None, :]).argmin(1)
    u = np.arange(n, dtype=np.float32)
    L = conv_len * np.exp(rng.normal(0, 0.4, m))
    start = np.where(rng.random(m) < 0.7, 0.0, rng.uniform(0, 0.6 * n, m))  # some rivers start late
    decay = np.exp(-np.clip(u[None, :] - start[:, None], 0, None) / L[:, None])
    wig = smooth1d(rng, n, rng.uniform(8, 30), m) * spacing * 0.6
    tw = smooth1d(rng, n, rng.uniform(20, 60), k) * rng.uniform(2, 10)
    V = trunks[owner][:, None] + tw[owner] + (v0[:, None] - trunks[owner][:, None] + wig) * decay
    step = np.exp(rng.normal(0, 0.6, m)) * rng.uniform(0.4, 1.5)
    step *= np.where(rng.random(m) < 0.75, 1.0, -1.0)  # mostly same sense, some opposite
    canvas = np.zeros((n + 1, n), np.float32)
    rows = np.clip(np.round(V), 0, n).astype(int)
    cols = np.broadcast_to(u.astype(int), rows.shape)
    alive = u[None, :] >= start[:, None]
    np.add.at(canvas, (rows[alive], cols[alive]), np.broadcast_to(step[:, None], rows.shape)[alive])
    canvas = np.cumsum(canvas, axis=0)[:n]
    return ndi.gaussian_filter(canvas, 0.6)


def cleavage(rng: np.random.Generator, size: int, px: float) -> Surface:
    shape = (size, size)
    grain = pick_scale(rng, (10e-6, 300e-6), px, (size / 3.0, size * 1.3))
    pts = jittered_points(rng, shape, grain, jitter=1.0, margin=grain)
    lab, _ = nearest_seed(shape, pts, margin=int(grain) + 2)
    lab = warp_labels(rng, lab, rng.uniform(2, 10), grain / 3)
    ids = np.unique(lab)
    crack = rng.uniform(0, 2 * np.pi)  # overall crack direction
    h = np.zeros(shape, np.float32)
    n = int(np.ceil(size * 1.45)) + 4
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    spacing = rng.uniform(4, 16)
    for g in ids:
        m = lab == g
        phi = crack + rng.normal(0, 0.45)
        canvas = _river_canvas(rng, n, spacing * rng.uniform(0.7, 1.4), rng.uniform(0.15, 0.6) * size)
        u, v = rotated_coords(shape, phi)
        riv = ndi.map_coordinates(canvas, [v[m] + n / 2, u[m] + n / 2], order=1, mode="nearest")
        # Each grain's cleavage plane has its own tilt -> facets of different brightness.
        t = rng.normal(0, 0.15, 2)
        h[m] = riv * rng.uniform(1.2, 3.0) + t[0] * yy[m] + t[1] * xx[m] + rng.normal(0, 0.02 * size)
        # Tongues: small wedges where the crack deviated along a twin plane.
        for _ in range(int(rng.poisson(1.5 if rng.random() < 0.5 else 0))):
            a = phi + rng.choice([-1, 1]) * rng.uniform(0.5, 1.2)
            cand = np.flatnonzero(m)
            c0 = cand[rng.integers(cand.size)]
            cy, cx = divmod(int(c0), size)
            lt, wt = rng.uniform(10, 50), rng.uniform(1.5, 5)
            du = (xx - cx) * np.cos(a) + (yy - cy) * np.sin(a)
            dv = -(xx - cx) * np.sin(a) + (yy - cy) * np.cos(a)
            tongue = np.clip(1 - (dv / wt) ** 2, 0, None) * np.clip(du / lt, 0, 1) * (du < lt)
            h += (tongue * rng.uniform(2, 6) * m).astype(np.float32)
    # Flat, smooth facets: only a whisper of roughness.
    h += 0.3 * fbm(rng, shape, beta=2.5, cutoff=0.3)
    h += rng.uniform(0.0, 0.15) * size * fbm(rng, shape, beta=4.0, cutoff=4.0 / size)
    return Surface(h)


def intergranular(rng: np.random.Generator, size: int, px: float) -> Surface:
    shape = (size, size)
    grain = pick_scale(rng, (5e-6, 150e-6), px, (size / 7.0, size / 1.8))
    pts = jittered_points(rng, shape, grain, jitter=0.9, margin=grain)
    lab, (dy, dx) = nearest_seed(shape, pts, margin=int(grain) + 2)
    lab = warp_labels(rng, lab, rng.uniform(0.5, 3), grain / 4)
    n = len(pts)
    # Each grain is a polyhedron seen from above: 3-6 planar faces meeting at an apex (protruding
    # grain) or a socket (where the neighbour grain was pulled out).
    nf = 6
    base = rng.uniform(0, 2 * np.pi, n)
    ang = base[:, None] + np.arange(nf)[None, :] * 2 * np.pi / nf + rng.normal(0, 0.35, (n, nf))
    slope = rng.uniform(0.45, 1.6, (n, nf))
    slope[:, rng.integers(3, nf + 1):] = 0.0  # fewer faces on some grains
    apex = rng.normal(0, 0.2 * grain, (n, 2))
    ddy = dy - apex[lab, 0]
    ddx = dx - apex[lab, 1]
    faces = np.cos(ang)[lab] * ddx[..., None] + np.sin(ang)[lab] * ddy[..., None]
    pyr = np.max(faces * slope[lab], axis=-1)
    sense = np.where(rng.random(n) < 0.6, -1.0, 1.0)
    h = sense[lab] * pyr + rng.normal(0, 0.15 * grain, n)[lab]
    # Grain-boundary grooves, and open secondary cracks along some boundaries.
    d = boundary_distance(lab)
    h -= rng.uniform(0.5, 2) * np.exp(-d / 1.5)
    a, b = boundary_pairs(lab)
    table = rng.random(4096)
    p_crack = rng.uniform(0.05, 0.35)
    cracked = pair_random(a, b, table) < p_crack
    cw = rng.uniform(0.7, 2.5) * (1 + 0.5 * fbm(rng, shape, beta=3, cutoff=0.05))
    h = np.where(cracked & (d < cw), h - rng.uniform(15, 40), h)
    # Smooth facets with fine texture (slip traces, tiny microvoids are not modelled).
    h += 0.25 * fbm(rng, shape, beta=2.5, cutoff=0.3)
    return Surface(h.astype(np.float32))
