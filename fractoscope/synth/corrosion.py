"""Corrosion: pits in a smoother surface, and mud-cracked corrosion-product layers.

Pitting families: hemispherical pits (log-normal sizes, some coalesced), crystallographic pits
(inverted square pyramids aligned with the grain), and pits under a granular corrosion-product
film. Many round pits are undercut (the cavity wider than its mouth: a thin bright lip over a dark
interior) and hold corrosion product: what tells a pit from a dimple or a torn-out void. Mud-cracking families: a dried layer of curled, tilted plates; a fine secondary network;
and a spalled layer whose missing plates expose the substrate.
"""

from __future__ import annotations

import numpy as np

from fractoscope.synth.common import (
    Surface,
    boundary_distance,
    bumps,
    fbm,
    jittered_points,
    nearest_seed,
    pick_scale,
    warp_labels,
)

# Up to ~2 um/px like the fracture classes, so pixel size stays no class cue.
PX_PITTING = {"hemispherical": (15e-9, 2000e-9), "crystallographic": (10e-9, 600e-9), "pits_product": (20e-9, 1500e-9)}
PX_MUD = {"dried_layer": (15e-9, 2000e-9), "fine_network": (15e-9, 800e-9), "spalled": (20e-9, 1500e-9)}


def pitting(rng: np.random.Generator, size: int, px: float, family: str) -> Surface:
    shape = (size, size)
    # Several pits in every frame: one pit at the edge of a plain field is no evidence of pitting.
    rmed = pick_scale(rng, (0.3e-6, 40e-6), px, (4, size / 14))
    faceted = family == "crystallographic"
    orient = rng.uniform(0, np.pi / 2)  # one grain orientation -> aligned square pits
    # Smoother base: fine roughness, sometimes faint grinding marks from surface preparation.
    h = rng.uniform(0.2, 0.8) * fbm(rng, shape, beta=2.6, cutoff=0.3)
    h += rng.uniform(0.5, 4) * fbm(rng, shape, beta=4.0, cutoff=4.0 / size)
    if rng.random() < 0.35:
        h += rng.uniform(0.1, 0.4) * fbm(rng, shape, beta=2.5, cutoff=0.3, aniso=20.0,
                                         angle=rng.uniform(0, np.pi))
    area = rng.uniform(0.1, 0.4) * size * size
    radii = []
    while sum(np.pi * r * r for r in radii) < area and len(radii) < 400:
        radii.append(rmed * float(np.exp(rng.normal(0, 0.55))))
    pits = np.zeros(shape, np.float32)
    inside = np.zeros(shape, bool)
    lips = np.zeros(shape, np.float32)
    p_under = 0.0 if faceted else rng.uniform(0.4, 0.9)
    yy, xx = np.mgrid[0:size, 0:size]
    cy, cx = rng.uniform(-rmed, size + rmed, 2)
    for r in radii:
        if rng.random() < 0.3:  # coalesced: the new pit grows into its neighbour
            ang = rng.uniform(0, 2 * np.pi)
            cy, cx = cy + 1.1 * r * np.sin(ang), cx + 1.1 * r * np.cos(ang)
        else:
            cy, cx = rng.uniform(-r, size + r, 2)
        ri = int(np.ceil(r)) + 2
        y0, y1 = max(0, int(cy) - ri), min(size, int(cy) + ri + 1)
        x0, x1 = max(0, int(cx) - ri), min(size, int(cx) + ri + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        gy, gx = yy[y0:y1, x0:x1] - cy, xx[y0:y1, x0:x1] - cx
        if faceted:
            # Inverted pyramid bounded by {100} planes: a square outline, flat walls.
            a = orient + rng.normal(0, 0.05)
            pu = np.abs(gx * np.cos(a) + gy * np.sin(a))
            pv = np.abs(-gx * np.sin(a) + gy * np.cos(a))
            d1 = np.maximum(pu, pv) / r
            d2 = d1 * d1
            bowl = -r * rng.uniform(0.5, 1.0) * np.clip(1 - d1, 0, None)
        elif rng.random() < p_under and r > 3:
            # Undercut pit: the mouth (radius r) is narrower than the cavity below, so the image shows
            # a thin lip standing over a steep drop and a deep, dark interior whose floor is hidden.
            d2 = (gx**2 + gy**2) / (r * r)
            rho = np.sqrt(d2)
            bowl = np.where(d2 < 1, -r * rng.uniform(1.3, 2.2) * (0.8 + 0.2 * np.sqrt(np.clip(1 - d2, 0, None))),
                            0.0)
            lip = r * rng.uniform(0.08, 0.2) * np.exp(-(((rho - 1.0) / 0.06) ** 2))
            np.maximum(lips[y0:y1, x0:x1], lip, out=lips[y0:y1, x0:x1])
        else:
            d2 = (gx**2 + gy**2) / (r * r)
            bowl = -r * rng.uniform(0.6, 1.2) * np.sqrt(np.clip(1 - d2, 0, None))
        np.minimum(pits[y0:y1, x0:x1], bowl, out=pits[y0:y1, x0:x1])
        inside[y0:y1, x0:x1] |= d2 < 1
    # Pit walls are etched rough; some pits have corrosion product nodules at the rim.
    h = h + pits + lips + inside * rng.uniform(0.3, 1.2) * fbm(rng, shape, beta=2.2, cutoff=0.35)
    albedo = np.ones(shape, np.float32)
    if rng.random() < 0.75:
        # Corrosion product left in the pits: granular nodules on the pit floors (they charge).
        prod = bumps(rng, shape, int(inside.sum() * rng.uniform(0.002, 0.01)), (0.8, max(1.2, rmed * 0.2)),
                     mask=inside)
        h = np.where(prod > 0, np.maximum(h, pits + prod * 1.5), h)
        albedo[prod > 0] *= rng.uniform(1.1, 1.6)
    if family == "pits_product":
        # Corrosion product: a cracked, granular film partly covering the surface and the pits.
        film = fbm(rng, shape, beta=3.0, cutoff=0.05) > rng.uniform(-0.3, 0.5)
        gran = bumps(rng, shape, int(size * size * rng.uniform(5e-4, 3e-3)), (0.8, max(1.2, rmed * 0.25)), mask=film)
        h = h + gran + film * rng.uniform(0.5, 2.0)
        albedo[film] = rng.uniform(0.8, 1.3)
        albedo[gran > 0] *= rng.uniform(1.1, 1.6)
    if rng.random() < 0.5:
        d_out = boundary_distance(inside.astype(np.int32))
        rim = (~inside) & (d_out < rmed * 0.3)
        nod = bumps(rng, shape, int(rim.sum() * rng.uniform(0.002, 0.02)), (0.7, max(1.0, rmed * 0.15)), mask=rim)
        h += nod
        albedo[nod > 0] = rng.uniform(1.05, 1.4)
    return Surface(h.astype(np.float32), albedo)


def mud_cracking(rng: np.random.Generator, size: int, px: float, family: str) -> Surface:
    shape = (size, size)
    if family == "fine_network":
        cell = pick_scale(rng, (0.5e-6, 20e-6), px, (14, size / 6.0))
    else:
        cell = pick_scale(rng, (2e-6, 80e-6), px, (24, size / 2.5))
    pts = jittered_points(rng, shape, cell, jitter=1.0, margin=cell)
    lab, (dy, dx) = nearest_seed(shape, pts, margin=int(cell) + 2)
    lab = warp_labels(rng, lab, cell * rng.uniform(0.05, 0.15), cell / 3)
    d = boundary_distance(lab)
    n = len(pts)
    T = rng.uniform(4, 14)  # layer thickness (pixels)
    # Layer: cells dried/shrunk, some curled up at their edges, each slightly tilted.
    curl = np.where(rng.random(n) < rng.uniform(0.2, 0.7), rng.uniform(0.3, 1.2, n), 0.0) * T
    h = T + curl[lab] * np.exp(-d / (0.15 * cell))
    t = rng.normal(0, 0.05, (n, 2))
    h += t[lab, 0] * dy + t[lab, 1] * dx
    # Granular corrosion-product texture on the layer.
    h += rng.uniform(0.3, 1.0) * fbm(rng, shape, beta=2.0, cutoff=0.35)
    # Primary cracks (width varies along the network) and finer secondary cracks in some cells.
    w = rng.uniform(1.0, 3.5) * np.clip(1 + 0.6 * fbm(rng, shape, beta=3, cutoff=0.05), 0.3, None)
    crack = d < w / 2
    if rng.random() < 0.6:
        pts2 = jittered_points(rng, shape, cell * rng.uniform(0.3, 0.5), jitter=1.0, margin=cell)
        lab2, _ = nearest_seed(shape, pts2, margin=int(cell) + 2)
        lab2 = warp_labels(rng, lab2, cell * 0.05, cell / 6)
        d2 = boundary_distance(lab2)
        sub = rng.random(n) < rng.uniform(0.2, 0.6)
        crack |= (d2 < w / 4 + 0.3) & sub[lab]
    sub_h = rng.uniform(0.5, 1.5) * fbm(rng, shape, beta=2.6, cutoff=0.3) - T * 0.3
    if family == "spalled":
        # Some plates have flaked off: the rough substrate shows through, edges of the
        # remaining layer stand as cliffs.
        gone = (rng.random(n) < rng.uniform(0.2, 0.5))[lab]
        crack |= gone
    if family == "fine_network" or rng.random() < 0.3:
        # Hairline cracks in some of the plates, wide enough (>= ~2 px) to read as dark lines.
        some = (rng.random(n) < rng.uniform(0.3, 0.8))[lab]
        crack |= (_fine_crack_distance(rng, shape, cell) < rng.uniform(0.8, 1.4)) & some
    h = np.where(crack, sub_h - T, h)
    h += rng.uniform(0, 3) * fbm(rng, shape, beta=4, cutoff=4.0 / size)
    return Surface(h.astype(np.float32))


def _fine_crack_distance(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Distance to a fine secondary crack network (hairline cracks inside the plates)."""
    pts = jittered_points(rng, shape, cell * rng.uniform(0.2, 0.35), jitter=1.0, margin=cell)
    lab, _ = nearest_seed(shape, pts, margin=int(cell) + 2)
    lab = warp_labels(rng, lab, cell * 0.04, cell / 8)
    return boundary_distance(lab) + 10 * (fbm(rng, shape, beta=3, cutoff=0.05) < -0.3)
