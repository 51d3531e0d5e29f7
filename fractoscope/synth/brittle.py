"""Brittle overload: transgranular cleavage and intergranular "rock candy".

Cleavage: every grain is a flat facet on its own crystallographic plane, so each has its own
nearly uniform brightness; river lines (cleavage steps) start where the crack entered the grain and
converge downstream; steps show bright edges; tongues and feather markings where the crack
deviated. At low and moderate magnification (``tongues_steps``, 0.2-2 um/px) many facets share the
frame, each with its own shade, river steps, tongues and bright torn edges where they meet.
Intergranular: grains stand out as 3-D polyhedra whose faces are flat-shaded, with
crevices and open secondary cracks along grain boundaries.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from fractoscope.synth.common import (
    Surface,
    boundary_distance,
    boundary_pairs,
    fbm,
    grid_points,
    grouped_field,
    jittered_points,
    nearest_seed,
    pair_random,
    pick_scale,
    smooth1d,
    warp_labels,
)

PX_CLEAVAGE = {"river": (20e-9, 1000e-9), "feather_tongue": (15e-9, 800e-9), "ceramic_mixed": (20e-9, 1000e-9),
               "tongues_steps": (200e-9, 2000e-9)}
# Coarse grains are photographed at low magnification too: up to ~2 um/px so pixel size is no cue.
PX_INTERGRANULAR = {"rock_candy": (25e-9, 2000e-9), "faceted": (20e-9, 1000e-9), "fine_grained": (10e-9, 600e-9)}

_FAR = np.float32(1e6)


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
    step = np.exp(rng.normal(0, 0.6, m)) * rng.uniform(0.5, 1.6)
    step *= np.where(rng.random(m) < 0.75, 1.0, -1.0)  # mostly same sense, some opposite
    canvas = np.zeros((n + 1, n), np.float32)
    rows = np.clip(np.round(V), 0, n).astype(int)
    cols = np.broadcast_to(u.astype(int), rows.shape)
    alive = u[None, :] >= start[:, None]
    # A river that nucleates inside the grain grows from a zero step: an abrupt start would
    # draw a straight line across the whole facet below it.
    grow = np.where(start[:, None] > 0, np.clip((u[None, :] - start[:, None]) / (0.05 * n + 10), 0, 1), 1.0)
    weight = (step[:, None] * grow).astype(np.float32)
    np.add.at(canvas, (rows[alive], cols[alive]), weight[alive])
    canvas = np.cumsum(canvas, axis=0)[:n]
    return ndi.gaussian_filter(canvas, 0.6)


def _feather(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, phi: float,
             scale: float) -> np.ndarray:
    """Feather/hackle marking: fine steps fanning out downstream from an initiation point."""
    dy, dx = yy - cy, xx - cx
    r = np.sqrt(dy * dy + dx * dx) + 1e-3
    th = np.arctan2(dy, dx) - phi
    th = (th + np.pi) % (2 * np.pi) - np.pi
    cone = np.clip(1 - np.abs(th) / rng.uniform(0.5, 1.1), 0, 1)
    nlines = rng.uniform(20, 60)
    saw = (th * nlines / np.pi + 0.3 * np.sqrt(r / scale)) % 1.0
    return cone * np.clip(r / (0.1 * scale), 0, 1) * np.exp(-r / (2.5 * scale)) * saw


def _tongue(rng: np.random.Generator, m: np.ndarray, yy: np.ndarray, xx: np.ndarray, phi: float,
            size: int) -> np.ndarray:
    """A small raised wedge where the crack ran along a twin plane for a moment."""
    cand = np.flatnonzero(m)
    c0 = cand[rng.integers(cand.size)]
    cy, cx = float(yy.ravel()[c0]), float(xx.ravel()[c0])
    a = phi + rng.choice([-1, 1]) * rng.uniform(0.5, 1.2)
    lt, wt = rng.uniform(0.03, 0.12) * size, rng.uniform(0.006, 0.02) * size + 1.5
    du = (xx - cx) * np.cos(a) + (yy - cy) * np.sin(a)
    dv = -(xx - cx) * np.sin(a) + (yy - cy) * np.cos(a)
    t = np.clip(1 - (dv / (wt * np.clip(1 - du / lt, 0, 1) + 0.5)) ** 2, 0, None) * (du > 0) * (du < lt)
    return t * rng.uniform(2, 6) * m


def _pyramid(rng: np.random.Generator, dy: np.ndarray, dx: np.ndarray, scale: float) -> np.ndarray:
    """Height of one polyhedral grain (3-6 planar faces) around its centre; for a masked region."""
    nf = int(rng.integers(3, 7))
    ang = rng.uniform(0, 2 * np.pi) + np.arange(nf) * 2 * np.pi / nf + rng.normal(0, 0.3, nf)
    slope = rng.uniform(0.4, 1.4, nf)
    faces = np.cos(ang)[None, :] * dx[:, None] + np.sin(ang)[None, :] * dy[:, None]
    return -np.max(faces * slope[None, :], axis=1)


def cleavage(rng: np.random.Generator, size: int, px: float, family: str) -> Surface:
    shape = (size, size)
    if family == "ceramic_mixed":
        grain = pick_scale(rng, (2e-6, 60e-6), px, (size / 8.0, size / 2.5))
    elif family == "tongues_steps":
        grain = pick_scale(rng, (5e-6, 300e-6), px, (size / 10.0, size / 3.5))
    else:
        grain = pick_scale(rng, (10e-6, 400e-6), px, (size / 3.0, size * 1.3))
    pts = jittered_points(rng, shape, grain, jitter=1.0, margin=grain)
    lab, (gdy, gdx) = nearest_seed(shape, pts, margin=int(grain) + 2)
    ts = family == "tongues_steps"
    # Low-magnification facets: ragged outlines, not a regular polygon mesh.
    lab = warp_labels(rng, lab, rng.uniform(1, 6) * (max(1.0, grain * 0.04) if ts else 1.0), grain / 3)
    crack = rng.uniform(0, 2 * np.pi)  # overall crack direction
    h = np.zeros(shape, np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    spacing = rng.uniform(5, 20) * (0.35 if ts else 1.0)  # dense river steps on small facets
    tilt_sd = rng.uniform(0.2, 0.45) if family != "tongues_steps" else rng.uniform(0.3, 0.6)
    lab = lab - lab.min()
    # Work grain by grain inside its bounding box: small canvases keep many-grain frames fast.
    for g, sl in enumerate(ndi.find_objects(lab + 1)):
        if sl is None:
            continue
        m = lab[sl] == g
        hy, ly, lx = h[sl], gdy[sl], gdx[sl]
        wy, wx = yy[sl], xx[sl]
        # Each grain's cleavage plane has its own tilt -> facets of different, uniform brightness.
        t = rng.normal(0, tilt_sd, 2)
        base = t[0] * (wy[m] - size / 2) + t[1] * (wx[m] - size / 2) + rng.normal(0, 0.04 * size)
        if family == "ceramic_mixed" and rng.random() < 0.3:
            # Intergranular grains among the cleaved ones (as in ceramics).
            hy[m] = _pyramid(rng, ly[m], lx[m], grain) * rng.uniform(0.5, 1.0) + rng.normal(0, 0.04 * size)
            continue
        phi = crack + rng.normal(0, 0.45)
        riv_amp = rng.uniform(1.2, 3.5) if family != "ceramic_mixed" else rng.uniform(1.0, 2.5)
        riv_amp *= 1.6 if ts else 1.0
        bh, bw = m.shape
        n = int(np.ceil(np.hypot(bh, bw))) + 6
        canvas = _river_canvas(rng, n, spacing * rng.uniform(0.7, 1.4), rng.uniform(0.15, 0.6) * max(n, size / 2))
        cy, cx = (sl[0].start + sl[0].stop - 1) / 2, (sl[1].start + sl[1].stop - 1) / 2
        c, s_ = np.cos(phi), np.sin(phi)
        u = (wx[m] - cx) * c + (wy[m] - cy) * s_
        v = -(wx[m] - cx) * s_ + (wy[m] - cy) * c
        riv = ndi.map_coordinates(canvas, [v + n / 2, u + n / 2], order=1, mode="nearest")
        hy[m] = riv * riv_amp + base
        if family == "tongues_steps":
            # Several tongues per facet and, on some, a feather marking where the crack entered it.
            if rng.random() < 0.4:
                cand = np.flatnonzero(m)
                fy, fx = divmod(int(cand[rng.integers(cand.size)]), bw)
                fe = _feather(rng, wy[m], wx[m], fy + sl[0].start, fx + sl[1].start, phi, max(grain * 0.5, 20.0))
                hy[m] += fe * rng.uniform(2, 5)
            for _ in range(int(rng.poisson(3))):
                hy += _tongue(rng, m, wy, wx, phi, int(min(size, 3 * grain))).astype(np.float32)
        elif family == "feather_tongue":
            cand = np.flatnonzero(m)
            fy, fx = divmod(int(cand[rng.integers(cand.size)]), bw)
            fe = _feather(rng, wy[m], wx[m], fy + sl[0].start, fx + sl[1].start, phi, max(grain * 0.5, size * 0.2))
            hy[m] += fe * rng.uniform(2, 5)
            for _ in range(int(rng.poisson(4))):
                hy += _tongue(rng, m, wy, wx, phi, size).astype(np.float32)
        elif rng.random() < 0.4:
            for _ in range(int(rng.poisson(1.5))):
                hy += _tongue(rng, m, wy, wx, phi, size).astype(np.float32)
    # Grain-boundary steps show a thin bright tear where the facets meet.
    d = boundary_distance(lab)
    if ts:  # torn, hackly edges where the facets meet
        tear = rng.uniform(2.0, 5.0) * np.clip(1 + 0.8 * fbm(rng, shape, beta=2.5, cutoff=0.2), 0.1, None)
        h += tear * np.exp(-((d / rng.uniform(1.2, 2.5)) ** 2))
    else:
        h += rng.uniform(0.5, 2.5) * np.exp(-((d / 1.2) ** 2))
    # Flat, smooth facets: only a whisper of roughness.
    h += 0.25 * fbm(rng, shape, beta=2.5, cutoff=0.3)
    # Facets stay nearly uniform in brightness: only a slight macroscopic undulation.
    h += rng.uniform(0.0, 0.03) * size * fbm(rng, shape, beta=4.0, cutoff=3.0 / size)
    return Surface(h.astype(np.float32))


def _grain_domes(rng: np.random.Generator, shape: tuple[int, int], grain: float, slope: tuple[float, float],
                 socket_p: float) -> tuple[np.ndarray, np.ndarray]:
    """Upper envelope of polyhedral grains: each a dome of 3-6 planar faces meeting at an apex
    (a socket, concave, where the neighbour grain was pulled out). Where two grains meet, their
    faces intersect in a crease: the grain boundary, a dark crevice."""
    # Three groups per axis: a grain's dome is only ever cut where a neighbour's is higher
    # (a crease), never by the nearest-point partition of its own group (a cliff).
    pts, grp = grid_points(rng, shape, grain, jitter=0.8, margin=grain * 1.5, groups=3)
    n = len(pts)
    nf = 6
    ang = rng.uniform(0, 2 * np.pi, n)[:, None] + np.arange(nf)[None, :] * 2 * np.pi / nf
    ang = ang + rng.normal(0, 0.3, (n, nf))
    sl = rng.uniform(*slope, (n, nf))
    nfaces = rng.integers(3, nf + 1, n)
    sl[np.arange(nf)[None, :] >= nfaces[:, None]] *= 0.35  # fewer dominant faces on some grains
    cosA, sinA = np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)
    apex = rng.normal(0, 0.15 * grain, (n, 2))
    H = rng.normal(0, 0.06 * grain * slope[1], n)
    socket = rng.random(n) < socket_p
    reach = 2.2 * grain

    def dome(idx: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
        ddy = dy - apex[idx, 0]
        ddx = dx - apex[idx, 1]
        best = np.full(dy.shape, -np.inf, np.float32)
        for k in range(nf):
            np.maximum(best, (cosA[idx, k] * ddx + sinA[idx, k] * ddy) * sl[idx, k], out=best)
        val = H[idx] - best
        return np.where(np.sqrt(dy * dy + dx * dx) < reach, val, -_FAR)

    h, lab = grouped_field(shape, pts, grp, dome, "max", int(grain * 2) + 2, step=2 if grain >= 8 else 1)
    low = np.min(h[h > -_FAR]) if np.any(h > -_FAR) else 0.0
    h = np.maximum(h, low)
    # Sockets: where a neighbour grain was pulled out, its faces show as a pit, i.e. the dome
    # turned inside out below the level of its boundary crease.
    ids = np.unique(lab)
    rim = np.asarray(ndi.minimum(h, lab, ids), np.float32)
    rim_of = np.zeros(n, np.float32)
    rim_of[ids] = rim
    s = socket[lab]
    h = np.where(s, rim_of[lab] - 0.6 * (h - rim_of[lab]), h)
    return h.astype(np.float32), lab


def intergranular(rng: np.random.Generator, size: int, px: float, family: str) -> Surface:
    shape = (size, size)
    if family == "fine_grained":
        grain = pick_scale(rng, (1e-6, 40e-6), px, (size / 14.0, size / 5.0))
    else:
        grain = pick_scale(rng, (5e-6, 200e-6), px, (size / 7.0, size / 2.0))
    if family == "faceted":
        # Flatter grains: each mostly one or two large tilted faces.
        h, lab = _grain_domes(rng, shape, grain, (0.15, 0.7), 0.15)
    else:
        h, lab = _grain_domes(rng, shape, grain, (0.5, 1.5), rng.uniform(0.1, 0.35))
    # Grain-boundary crevices, and open secondary cracks along some boundaries.
    d = boundary_distance(lab)
    h -= rng.uniform(0.5, 3.0) * np.exp(-d / 1.5)
    a, b = boundary_pairs(lab)
    table = rng.random(4096)
    cracked = pair_random(a, b, table) < rng.uniform(0.08, 0.4)
    cw = rng.uniform(0.7, 2.2) * (1 + 0.5 * fbm(rng, shape, beta=3, cutoff=0.05))
    h = np.where(cracked & (d < cw), h - rng.uniform(0.3, 0.8) * grain, h)
    if family == "fine_grained" and rng.random() < 0.7:
        # Pores (sintered ceramics, creep cavities).
        pts = rng.uniform(0, size, (int(rng.integers(5, 40)), 2))
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        for py, pxx in pts:
            r = rng.uniform(0.05, 0.15) * grain
            ri = int(r) + 2
            y0, y1, x0, x1 = max(0, int(py) - ri), min(size, int(py) + ri), max(0, int(pxx) - ri), min(size, int(pxx) + ri)
            sub = ((yy[y0:y1, x0:x1] - py) ** 2 + (xx[y0:y1, x0:x1] - pxx) ** 2) / (r * r)
            h[y0:y1, x0:x1] -= np.sqrt(np.clip(1 - sub, 0, None)) * r * 1.5
    # Facet texture: smooth faces, faint slip traces on some.
    h += 0.25 * fbm(rng, shape, beta=2.5, cutoff=0.3)
    if rng.random() < 0.3:
        h += 0.3 * fbm(rng, shape, beta=2.5, cutoff=0.3, aniso=15, angle=rng.uniform(0, np.pi))
    return Surface(h.astype(np.float32))
