"""Ductile overload: microvoid coalescence dimples, equiaxed (tension) and elongated (shear).

Dimples are deep cups (depth 0.5-1.2 x radius) whose steep walls meet their neighbours in thin,
tall tear ridges; sizes are log-normal and often bimodal (large primary voids ringed by fine
secondary ones); some cups hold the inclusion that nucleated them. Shear dimples are parabolic and
all open the same way. Real frames alternate dimple fields with smooth sheared or flat patches.

At low and moderate magnification (0.2-2 um/px) the dimples are barely resolved: the overload
family is a fine pitted, cupped texture with bright rims, a few larger deep voids, torn and
smeared patches and uneven brightness; the torn shear lip is the same with short elongated cups
all opening one way on a slanted, streaked surface.
"""

from __future__ import annotations

import numpy as np

from fractoscope.synth.common import (
    Surface,
    blur,
    boundary_distance,
    fbm,
    grid_points,
    grouped_field,
    jittered_points,
    nearest_seed,
    pick_scale,
    sample_canvas,
    soft_mask,
    warp_labels,
)

# Pixel sizes (m) per family: wide and overlapping every other class (scale is not a class cue).
PX_EQUIAXED = {"deep_cups": (8e-9, 600e-9), "bimodal": (8e-9, 500e-9), "patchy": (10e-9, 800e-9),
               "overload_lowmag": (200e-9, 2000e-9)}
PX_SHEAR = {"parabolic": (8e-9, 600e-9), "elongated_tear": (10e-9, 800e-9), "shear_lip": (10e-9, 800e-9),
            "torn_lip": (200e-9, 2000e-9)}

_FAR = np.float32(1e6)


def cup_layer(
    rng: np.random.Generator, shape: tuple[int, int], spacing: float, depth_ratio: tuple[float, float],
    size_sigma: float = 0.35, bend: float = 0.0, skew: float = 0.0, wall: float = 1.6, fill: float = 0.7,
    cap: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Space-filling cups whose walls intersect in sharp ridges (pointwise min of the cups).

    Returns height (pixels), the winning-cup label map, cup centres (N, 2), radii and depths.
    ``bend`` bends each outline into a parabola opening towards -columns (shear dimples),
    ``skew`` deepens the closed end. ``fill`` is the median cup radius in spacings (below ~0.5
    the cups stand apart in a flat field at height ``cap``).
    """
    margin = int(spacing * 2) + 2
    # Three groups per axis: same-group points are >= ~2.2 spacings apart, so a cup up to one
    # spacing in radius is never cut by the nearest-point partition of its own group.
    pts, grp = grid_points(rng, shape, spacing, jitter=0.8, margin=spacing * 1.5, groups=3)
    n = len(pts)
    R = spacing * fill * np.clip(np.exp(rng.normal(0, size_sigma, n)), 0.4, 1.0 / fill)
    D = R * rng.uniform(*depth_ratio, n)
    p = rng.uniform(1.5, 2.4)  # flatter bottoms and steeper walls for larger p
    reach = 1.6

    def cup(idx: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
        r = R[idx]
        v = dy / r
        u = dx / r + bend * v * v
        rho = np.sqrt(u * u + v * v)
        d = D[idx] * (1.0 + skew * np.clip(u, -1, 1))
        prof = np.where(rho < 1, -d * (1 - rho**p), wall * d * (rho - 1))
        return np.where(rho < reach, prof, _FAR)

    h, lab = grouped_field(shape, pts, grp, cup, "min", margin, step=2 if spacing >= 8 else 1)
    top = np.max(h[h < _FAR]) if np.any(h < _FAR) else 0.0
    if cap is not None:
        top = min(top, cap)
    return np.minimum(h, top).astype(np.float32), lab, pts, R, D


def _inclusions(rng: np.random.Generator, h: np.ndarray, albedo: np.ndarray, pts: np.ndarray, R: np.ndarray,
                D: np.ndarray, frac: float) -> None:
    """Second-phase particles sitting at the bottom of some cups (in place); they charge: bright."""
    H, W = h.shape
    inside = (pts[:, 0] >= 0) & (pts[:, 0] < H) & (pts[:, 1] >= 0) & (pts[:, 1] < W)
    ids = np.flatnonzero(inside & (rng.random(len(pts)) < frac) & (R > 3))
    for i in ids[:300]:
        r = R[i] * rng.uniform(0.12, 0.35)
        cy, cx = pts[i] + rng.normal(0, 0.1 * R[i], 2)
        ri = int(np.ceil(r)) + 1
        y0, y1 = max(0, int(cy) - ri), min(H, int(cy) + ri + 1)
        x0, x1 = max(0, int(cx) - ri), min(W, int(cx) + ri + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        gy, gx = np.ogrid[y0:y1, x0:x1]
        d2 = (gy - cy) ** 2 + (gx - cx) ** 2
        cap = np.sqrt(np.clip(r * r - d2, 0, None))
        m = cap > 0
        base = -D[i] * rng.uniform(0.7, 1.0)
        sub = h[y0:y1, x0:x1]
        sub[m] = np.maximum(sub[m], base + cap[m] * 1.3)
        albedo[y0:y1, x0:x1][m] = rng.uniform(1.3, 2.0)


def _smooth_patches(rng: np.random.Generator, h: np.ndarray, scale: float, frac: float,
                    angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Replace part of the field by smooth sheared/flat material (with faint shear streaks).

    Returns the new height and the patch mask."""
    size = h.shape[0]
    m = soft_mask(rng, h.shape, frac, size * rng.uniform(0.15, 0.4))
    flat = blur(h, scale * 1.5) + rng.uniform(0.0, 0.3) * scale
    flat += 0.04 * scale * fbm(rng, h.shape, beta=2.6, cutoff=0.3, aniso=10.0, angle=angle)
    return h * (1 - m) + flat * m, m


def _finish(rng: np.random.Generator, h: np.ndarray, lab: np.ndarray, scale: float, size: int,
            aniso: float = 1.0, angle: float = 0.0) -> np.ndarray:
    """Tear-ridge crests, wall roughness and the gently undulating macroscopic surface."""
    d = boundary_distance(lab)
    h = h + rng.uniform(0.04, 0.12) * scale * np.exp(-((d / rng.uniform(0.7, 1.4)) ** 2))
    h += rng.uniform(0.02, 0.05) * scale * fbm(rng, h.shape, beta=2.2, cutoff=0.3, aniso=aniso, angle=angle)
    # Macroscopic undulation: slopes of at most ~0.3 so it shades, never swamps, the dimples.
    h += rng.uniform(0.5, 3.0) * size / 40 * fbm(rng, h.shape, beta=4.0, cutoff=3.0 / size)
    return h


def _torn_zones(rng: np.random.Generator, size: int, scale: tuple[float, float], tilt: float,
                level: float) -> tuple[np.ndarray, np.ndarray]:
    """Macroscopic relief of a torn overload surface: patches (``scale`` x size across) at their
    own levels (sd ``level`` px) and tilts (sd ``tilt``), soft-edged, and the label map (for tear
    ridges where they meet). Gentle: they shade the dimple field unevenly, never replace it."""
    shape = (size, size)
    cell = size * rng.uniform(*scale)
    lab, _ = nearest_seed(shape, jittered_points(rng, shape, cell, jitter=1.0, margin=cell), margin=int(cell) + 2)
    lab = warp_labels(rng, lab, cell * rng.uniform(0.05, 0.15), cell / 4)
    lab = lab - lab.min()
    nl = int(lab.max()) + 1
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    t = rng.normal(0, tilt, (nl, 2))
    z = t[lab, 0] * (yy - size / 2) + t[lab, 1] * (xx - size / 2) + rng.normal(0, level, nl)[lab]
    return blur(z.astype(np.float32), rng.uniform(4, 10)), lab


def _overload_lowmag(rng: np.random.Generator, size: int, px: float) -> Surface:
    """Ductile overload at low/moderate magnification: dimples only just resolved (3-9 px), mixed
    sizes with some large deep voids, bright torn rims, smeared patches, uneven brightness."""
    shape = (size, size)
    sp = pick_scale(rng, (1e-6, 30e-6), px, (3.5, 9.0))
    h, lab, pts, R, D = cup_layer(rng, shape, sp, (0.7, 1.3), size_sigma=rng.uniform(0.3, 0.5), fill=0.75)
    # Larger primary voids standing among the fine ones: deep, dark cups.
    sp_big = sp * rng.uniform(3, 6)
    hb, labb, ptsb, Rb, Db = cup_layer(rng, shape, sp_big, (0.7, 1.3), size_sigma=0.35,
                                       fill=rng.uniform(0.3, 0.45), cap=0.0)
    hb = hb - float(hb.max())
    win = hb < h
    h = np.where(win, hb, h)
    lab = np.where(win, labb + lab.max() + 1, lab)
    albedo = np.ones(shape, np.float32)
    _inclusions(rng, h, albedo, ptsb, Rb, Db, rng.uniform(0.1, 0.4))
    h = _finish(rng, h, lab, sp, size)
    # Torn macroscopic relief: zones at their own tilt (uneven brightness) with tear ridges between.
    z, zl = _torn_zones(rng, size, (0.2, 0.5), rng.uniform(0.02, 0.06), sp * 0.5)
    h += z
    h += rng.uniform(0.2, 0.6) * sp * 0.3 * np.exp(-((boundary_distance(zl) / rng.uniform(1.0, 2.5)) ** 2))
    h, other = _smooth_patches(rng, h, sp, rng.uniform(0.08, 0.25), rng.uniform(0, np.pi))
    albedo *= (1 + rng.uniform(0.05, 0.2) * fbm(rng, shape, beta=4.0, cutoff=4.0 / size)).astype(np.float32)
    return Surface(h.astype(np.float32), albedo, other)


def _torn_lip(rng: np.random.Generator, size: int, px: float) -> Surface:
    """A torn shear lip at low magnification: short elongated cups (barely resolved) all opening
    one way on a slanted surface, smeared bands along the shear and torn steps across it."""
    shape = (size, size)
    width = pick_scale(rng, (0.8e-6, 20e-6), px, (3.5, 9.0))
    aspect, bend, skew = rng.uniform(1.8, 3.5), rng.uniform(0.4, 1.2), rng.uniform(0.3, 0.7)
    angle = rng.uniform(0, 2 * np.pi)
    n = int(np.ceil(size * 1.45)) + 8
    cw = int(np.ceil(n / aspect)) + 8
    h, lab, pts, R, D = cup_layer(rng, (n, cw), width, (0.6, 1.1), size_sigma=0.4, bend=bend, skew=skew)
    H = sample_canvas(h, angle, shape, scale=(aspect, 1.0))
    L = sample_canvas(lab.astype(np.float32), angle, shape, order=0, scale=(aspect, 1.0)).astype(np.int64)
    H = _finish(rng, H, L, width, size, aniso=3.0, angle=angle)
    z, zl = _torn_zones(rng, size, (0.15, 0.45), rng.uniform(0.01, 0.04), width * 0.5)
    H += z
    H += rng.uniform(0.2, 0.6) * width * 0.3 * np.exp(-((boundary_distance(zl) / rng.uniform(1.0, 2.5)) ** 2))
    # The lip is slanted (about 45 deg to the flat fracture): a ramp brightens one side of it.
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    a2 = rng.uniform(0, 2 * np.pi)
    H += rng.uniform(0.02, 0.08) * ((xx - size / 2) * np.cos(a2) + (yy - size / 2) * np.sin(a2))
    H, other = _smooth_patches(rng, H, width, rng.uniform(0.1, 0.28), angle)
    albedo = (1 + rng.uniform(0.05, 0.2) * fbm(rng, shape, beta=4.0, cutoff=4.0 / size)).astype(np.float32)
    return Surface(H.astype(np.float32), albedo, other)


def equiaxed_dimples(rng: np.random.Generator, size: int, px: float, family: str) -> Surface:
    if family == "overload_lowmag":
        return _overload_lowmag(rng, size, px)
    shape = (size, size)
    # Primary dimple spacing 0.4-25 um, visible when 10 .. size/4 pixels across.
    sp = pick_scale(rng, (0.4e-6, 25e-6), px, (10, size / 4.0))
    bimodal = family == "bimodal" or (family == "patchy" and rng.random() < 0.5)
    if bimodal:
        # Large primary voids standing apart; the ligaments between them are filled below.
        sp = max(sp, 24.0)
        h, lab, pts, R, D = cup_layer(rng, shape, sp, (0.6, 1.2), size_sigma=0.3, fill=rng.uniform(0.4, 0.55),
                                      cap=0.0)
    else:
        h, lab, pts, R, D = cup_layer(rng, shape, sp, (0.55, 1.15), size_sigma=rng.uniform(0.25, 0.45))
    albedo = np.ones(shape, np.float32)
    if bimodal:
        # Fine secondary voids on the ligaments between the primaries: only where they reach
        # below the primary surface, i.e. on the rims, never inside the big cups.
        sp2 = max(5.0, sp * rng.uniform(0.15, 0.3))
        h2, lab2, *_ = cup_layer(rng, shape, sp2, (0.4, 0.9), size_sigma=0.3)
        h2 = h2 - float(h2.max())
        win = h2 < h
        h = np.where(win, h2, h)
        lab = np.where(win, lab2 + lab.max() + 1, lab)
    _inclusions(rng, h, albedo, pts, R, D, rng.uniform(0.15, 0.5) if family != "patchy" else rng.uniform(0, 0.3))
    h = _finish(rng, h, lab, sp, size)
    other = None
    if family == "patchy":
        h, other = _smooth_patches(rng, h, sp, rng.uniform(0.15, 0.35), rng.uniform(0, np.pi))
    return Surface(h.astype(np.float32), albedo, other)


def shear_dimples(rng: np.random.Generator, size: int, px: float, family: str) -> Surface:
    if family == "torn_lip":
        return _torn_lip(rng, size, px)
    shape = (size, size)
    width = pick_scale(rng, (0.4e-6, 15e-6), px, (12, size / 5.0))
    if family == "elongated_tear":
        aspect, bend, skew = rng.uniform(3.0, 5.5), rng.uniform(0.1, 0.5), rng.uniform(0.2, 0.5)
    else:
        aspect, bend, skew = rng.uniform(1.6, 3.2), rng.uniform(0.5, 1.3), rng.uniform(0.3, 0.7)
    angle = rng.uniform(0, 2 * np.pi)  # shear direction: all parabolas open the same way
    n = int(np.ceil(size * 1.45)) + 8
    cw = int(np.ceil(n / aspect)) + 8
    h, lab, pts, R, D = cup_layer(rng, (n, cw), width, (0.45, 0.95), size_sigma=0.3, bend=bend, skew=skew)
    albedo = np.ones((n, cw), np.float32)
    _inclusions(rng, h, albedo, pts, R, D, rng.uniform(0.0, 0.25))
    H = sample_canvas(h, angle, shape, scale=(aspect, 1.0))
    L = sample_canvas(lab.astype(np.float32), angle, shape, order=0, scale=(aspect, 1.0)).astype(np.int64)
    A = sample_canvas(albedo, angle, shape, order=0, scale=(aspect, 1.0))
    H = _finish(rng, H, L, width, size, aniso=4.0, angle=angle)
    other = None
    if family == "shear_lip":
        H, other = _smooth_patches(rng, H, width, rng.uniform(0.15, 0.35), angle)
    elif family == "elongated_tear" and rng.random() < 0.5:
        H, other = _smooth_patches(rng, H, width, rng.uniform(0.1, 0.25), angle)
    return Surface(H.astype(np.float32), A, other)
