"""Fatigue: striations (microscopic) and beach/progression marks (coarse bands).

At high magnification striations are fine, faint, curved, parallel lines on plateaus at different
heights, interrupted by secondary cracks and partly smeared. At low magnification (~0.3-1 um/px)
the same fatigue surface is a rough, directional texture with radial and ratchet marks and no
resolved striations. Beach marks are arcs around a distant origin: arrest lines, tone bands and
bands of different texture. The crack-growth family is what failure analysis photographs of a
fatigue crack at ~50-2000x (0.2-2 um/px): a rough, torn but directional surface whose river-like
ridges run towards the origin, ratchet marks at the origin edge, secondary cracks along the front
and faint beach-mark bands; no striations are resolved.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from fractoscope.synth.common import (
    Surface,
    blur,
    boundary_distance,
    fbm,
    jittered_points,
    nearest_seed,
    pick_scale,
    rotated_coords,
    smooth1d,
    soft_mask,
    warp_labels,
)

# Striations are resolved below ~0.2-0.3 um/px; above that the same surface is the low-magnification
# fatigue texture. Beach/progression marks are seen from ~10 nm/px (block-loading bands of
# striations) to the lowest SEM magnifications. The class ranges overlap almost entirely.
PX_STRIATIONS = {"plateaus": (5e-9, 180e-9), "curved_fine": (5e-9, 150e-9), "low_mag": (150e-9, 1000e-9)}
PX_BEACH = {"macro_arcs": (100e-9, 1000e-9), "progression_bands": (10e-9, 400e-9), "oxide_bands": (40e-9, 1000e-9),
            "crack_growth": (200e-9, 2000e-9)}


def _striation_profile(phase: np.ndarray, k: float) -> np.ndarray:
    """Asymmetric ridge per cycle: gentle flank in the growth direction, steeper behind."""
    frac = phase - np.floor(phase)
    return np.where(frac < k, frac / k, (1 - frac) / (1 - k))


def _smear(rng: np.random.Generator, h: np.ndarray, amount: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Rubbed/smeared areas (crack faces closing on each other): relief flattened, streaked."""
    size = h.shape[0]
    m = soft_mask(rng, h.shape, amount, size * rng.uniform(0.08, 0.3))
    flat = ndi.gaussian_filter(h, rng.uniform(2, 6))
    flat += rng.uniform(0.2, 0.8) * fbm(rng, h.shape, beta=2.5, cutoff=0.3, aniso=12.0, angle=angle)
    return h * (1 - m) + flat * m, m


def _plateau_striations(rng: np.random.Generator, size: int, spacing: float, plateau: float,
                        origin_dist: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Plateaus at different heights and tilts, each with its own set of curved striations."""
    shape = (size, size)
    pts = jittered_points(rng, shape, plateau, jitter=1.0, margin=plateau)
    lab, _ = nearest_seed(shape, pts, margin=int(plateau) + 2)
    lab = warp_labels(rng, lab, rng.uniform(3, 12), plateau / 4)
    crack = rng.uniform(0, 2 * np.pi)  # growth direction: striations run across it
    h = np.zeros(shape, np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for g in np.unique(lab):
        m = lab == g
        phi = crack + rng.normal(0, 0.3)
        # Crack front: an arc around an origin behind the plateau -> curved, parallel lines.
        od = size * rng.uniform(*origin_dist)
        # The origin lies behind the frame (never a bull's eye inside it).
        oy = size / 2 - od * np.sin(phi) + rng.normal(0, 0.1 * size)
        ox = size / 2 - od * np.cos(phi) + rng.normal(0, 0.1 * size)
        r = np.sqrt((yy[m] - oy) ** 2 + (xx[m] - ox) ** 2)
        sp = spacing * rng.uniform(0.8, 1.25)
        u, _ = rotated_coords(shape, phi + np.pi / 2)
        wav = np.interp(u[m], np.arange(-size, size), smooth1d(rng, 2 * size, rng.uniform(10, 40))[0])
        grow = 1 + rng.uniform(-0.2, 0.3) * (r - r.min()) / size  # spacing grows with crack length
        phase = (r + wav * sp * rng.uniform(0.1, 0.5)) / (sp * grow)
        k = rng.uniform(0.55, 0.85)
        # Faint, a fraction of the spacing, but resolved: the frames whose lines vanished in the
        # imaging chain's noise were flat facets (cleavage) labelled striations.
        amp = sp * rng.uniform(0.3, 0.5)
        # Contrast varies along the plateau but the lines stay resolved on all of it: where they
        # faded to nothing a plateau was a flat facet, i.e. cleavage, not striations.
        fade = np.clip(1 + 0.35 * fbm(rng, shape, beta=3.5, cutoff=8.0 / size)[m], 0.6, None)
        t = rng.normal(0, 0.2, 2)
        h[m] = (amp * fade * _striation_profile(phase, k) + t[0] * (yy[m] - size / 2) + t[1] * (xx[m] - size / 2)
                + rng.normal(0, 0.06 * size))
        # Secondary cracks along a few striation valleys.
        if rng.random() < 0.5:
            frac = phase - np.floor(phase)
            idx = np.floor(phase).astype(np.int64)
            pick = (np.abs(frac - k) * sp < 0.8) & (((idx * 2654435761) % 97) < rng.uniform(3, 12))
            h.ravel()[np.flatnonzero(m)[pick]] -= rng.uniform(4, 12)
    # Tear ridges where plateaus at different levels join.
    d = boundary_distance(lab)
    h += rng.uniform(1.5, 5) * np.exp(-((d / rng.uniform(1.0, 2.5)) ** 2))
    return h, lab


def striations(rng: np.random.Generator, size: int, px: float, family: str) -> Surface:
    shape = (size, size)
    if family == "low_mag":
        return _fatigue_texture(rng, size, px)
    # At least ~5 px apart: finer striations are not resolved by the beam (blur) anyway.
    spacing = pick_scale(rng, (0.08e-6, 2e-6), px, (5.0, max(7.0, size / 16)))
    if family == "curved_fine":
        spacing = max(4.5, spacing * rng.uniform(0.6, 0.9))
        h, _ = _plateau_striations(rng, size, spacing, rng.uniform(0.8, 1.6) * size, (0.9, 1.6))
    else:
        h, _ = _plateau_striations(rng, size, spacing, rng.uniform(0.3, 0.8) * size, (1.0, 4.0))
    other = None
    if rng.random() < 0.7:
        h, other = _smear(rng, h, rng.uniform(0.08, 0.3), rng.uniform(0, np.pi))
    h += 0.12 * spacing * fbm(rng, shape, beta=2.3, cutoff=0.3)
    h += rng.uniform(0.0, 0.05) * size * fbm(rng, shape, beta=4.0, cutoff=4.0 / size)
    # The finest plateau spacing (each plateau draws 0.8-1.25x ``spacing``): the imaging keeps it resolved.
    return Surface(h.astype(np.float32), None, other, 0.8 * spacing)


def _fatigue_texture(rng: np.random.Generator, size: int, px: float) -> Surface:
    """Fatigue at low magnification: rough, directional (radial) texture with ratchet marks."""
    shape = (size, size)
    ang = rng.uniform(0, 2 * np.pi)
    dist = size * rng.uniform(0.85, 2.0)  # origin outside the frame: a fan, not a starburst
    oy, ox = size / 2 - dist * np.sin(ang), size / 2 - dist * np.cos(ang)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.sqrt((yy - oy) ** 2 + (xx - ox) ** 2)
    th = np.arctan2(yy - oy, xx - ox)
    if np.ptp(th) > np.pi:  # origin direction straddles the +-pi cut: measure angles from it
        th = np.angle(np.exp(1j * (th - ang))).astype(np.float32) + np.float32(ang)
    # Radial ridges: a fine 1-D noise in the angle, stretched along the growth direction.
    tmin, tmax = float(th.min()), float(th.max())
    nth = int((tmax - tmin) * float(r.mean())) + 8  # samples ~ pixels along the mean crack front
    ridge = smooth1d(rng, nth, rng.uniform(1.5, 5.0))[0]
    ti = (th - tmin) / max(tmax - tmin, 1e-6) * (nth - 1)
    rid = np.interp(ti.ravel(), np.arange(nth), ridge).reshape(shape)
    # Ridges fade in and out along their length: short radial marks, not continuous grooves.
    along = np.clip(0.2 + fbm(rng, shape, beta=3.0, cutoff=rng.uniform(0.02, 0.05)), 0, None)
    h = rng.uniform(1.5, 4.0) * rid * along
    # Rough fatigue surface: fibrous, streaks run along the crack growth direction.
    h += rng.uniform(3.0, 6.0) * fbm(rng, shape, beta=3.0, cutoff=0.15, aniso=rng.uniform(2, 4), angle=ang)
    h += rng.uniform(1.5, 3.5) * fbm(rng, shape, beta=2.6, cutoff=0.3, aniso=rng.uniform(3, 6), angle=ang)
    h += rng.uniform(0.5, 1.5) * fbm(rng, shape, beta=2.2, cutoff=0.35)
    # Patches at slightly different levels and tilts (unresolved plateaus) with tear ridges.
    cell = size * rng.uniform(0.35, 0.9)
    lab, _ = nearest_seed(shape, jittered_points(rng, shape, cell, jitter=1.0, margin=cell), margin=int(cell) + 2)
    lab = warp_labels(rng, lab, rng.uniform(3, 10), cell / 4)
    lab = lab - lab.min()
    nl = int(lab.max()) + 1
    t = rng.normal(0, 0.06, (nl, 2))
    # Soft transitions: at this magnification the zones differ in shade, not by sharp cell walls.
    zones = t[lab, 0] * (yy - size / 2) + t[lab, 1] * (xx - size / 2) + rng.normal(0, 2, nl)[lab]
    h += blur(zones.astype(np.float32), rng.uniform(3, 8))
    if rng.random() < 0.3:
        h += rng.uniform(0.3, 1.0) * np.exp(-((boundary_distance(lab) / 1.5) ** 2))
    # Ratchet marks: radial steps between neighbouring initiation sites, strongest near the origin.
    nr = int(rng.integers(2, 8))
    for tk in rng.uniform(tmin, tmax, nr):
        stepw = (tmax - tmin) / 600
        h += rng.uniform(3, 10) * np.clip((th - tk) / stepw, -0.5, 0.5) * np.exp(-(r - r.min()) / (size * rng.uniform(0.3, 1.2)))
    # Faint secondary cracks running along the crack front (across the growth direction).
    if rng.random() < 0.4:
        ph = r / rng.uniform(20, 80)
        fr = ph - np.floor(ph)
        cracks = (np.abs(fr - 0.5) < 0.015) & (fbm(rng, shape, beta=3, cutoff=0.03) > 1.3)
        h[cracks] -= rng.uniform(3, 8)
    h += rng.uniform(2, 8) * fbm(rng, shape, beta=4.0, cutoff=4.0 / size)
    return Surface(h.astype(np.float32))


def _crack_growth(rng: np.random.Generator, size: int, px: float) -> Surface:
    """Fatigue crack-growth region at low/moderate magnification (see the module docstring).

    Drawn in polar coordinates around an origin outside the frame: the ridges are river patterns
    (``brittle._river_canvas``: many small ridges merging into a few large ones) whose flow runs
    towards the origin, so the texture fans out from it; a torn, fibrous roughness is stretched
    along the same radial direction. Unlike wear scoring the ridges are wavy, branch, fade in and
    out and are not parallel over the field.
    """
    from fractoscope.synth.brittle import _river_canvas

    shape = (size, size)
    ang = rng.uniform(0, 2 * np.pi)
    dist = size * rng.uniform(0.7, 2.2)  # origin outside the frame: a fan, not a starburst
    oy, ox = size / 2 - dist * np.sin(ang), size / 2 - dist * np.cos(ang)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.sqrt((yy - oy) ** 2 + (xx - ox) ** 2)
    th = np.angle(np.exp(1j * (np.arctan2(yy - oy, xx - ox) - ang))).astype(np.float32)
    rmin, rmax = float(r.min()), float(r.max())
    arc = th * np.float32(dist)  # across the growth direction, in pixels at the frame centre
    along = np.float32(rmax) - r  # towards the origin: the rivers merge that way
    n = int(max(np.ptp(arc), rmax - rmin)) + 8
    amin = float(arc.min())

    def polar(canvas: np.ndarray, order: int = 1) -> np.ndarray:
        return ndi.map_coordinates(canvas, [arc - amin + 4, along + 4], order=order, mode="reflect")

    # River-like ridges: stepped tear ridges merging towards the origin, at two scales.
    riv = _river_canvas(rng, n, rng.uniform(5, 14), rng.uniform(0.3, 0.8) * n)
    h = rng.uniform(1.5, 3.5) * polar(riv)
    riv2 = _river_canvas(rng, n, rng.uniform(2.5, 5), rng.uniform(0.1, 0.3) * n)
    h += rng.uniform(0.6, 1.5) * polar(riv2)
    # Torn, fibrous roughness stretched along the growth direction (radial in the frame).
    fib = fbm(rng, (n, n), beta=2.6, cutoff=0.3, aniso=rng.uniform(3, 7), angle=0.0)
    h += rng.uniform(1.5, 3.5) * polar(fib)
    # Tear ridges: thin, branching crests along the same direction (zero crossings of a stretched field).
    tf = fbm(rng, (n, n), beta=3.2, cutoff=0.08, aniso=rng.uniform(2, 4), angle=0.0)
    h += rng.uniform(1.0, 3.0) * polar(np.exp(-((tf / 0.08) ** 2)).astype(np.float32))
    # Torn granular relief (the rough surface the ridges stand on).
    h += rng.uniform(0.8, 2.0) * np.abs(fbm(rng, shape, beta=2.4, cutoff=0.35))
    # Unresolved crack-growth facets at slightly different levels and tilts, soft-edged.
    cell = size * rng.uniform(0.25, 0.6)
    lab, _ = nearest_seed(shape, jittered_points(rng, shape, cell, jitter=1.0, margin=cell), margin=int(cell) + 2)
    lab = warp_labels(rng, lab, rng.uniform(3, 10), cell / 4)
    lab = lab - lab.min()
    nl = int(lab.max()) + 1
    t = rng.normal(0, 0.08, (nl, 2))
    zones = t[lab, 0] * (yy - size / 2) + t[lab, 1] * (xx - size / 2) + rng.normal(0, 3, nl)[lab]
    h += blur(zones.astype(np.float32), rng.uniform(6, 14))
    # Ratchet marks: radial steps between initiation sites, at the frame edge nearest the origin.
    tmin, tmax = float(th.min()), float(th.max())
    for tk in rng.uniform(tmin, tmax, int(rng.integers(2, 7))):
        stepw = (tmax - tmin) / 400
        h += rng.uniform(4, 12) * np.clip((th - tk) / stepw, -0.5, 0.5) * np.exp(-(r - rmin) / (size * rng.uniform(0.15, 0.5)))
    # Secondary cracks: dark, wavy, running along the crack front (across the growth direction).
    for _ in range(int(rng.integers(1, 6))):
        rk = rng.uniform(rmin, rmax)
        a0 = rng.uniform(float(arc.min()), float(arc.max()))
        length = size * rng.uniform(0.08, 0.4)
        wav = np.interp(arc.ravel(), np.linspace(float(arc.min()), float(arc.max()), 64),
                        smooth1d(rng, 64, 3.0)[0] * rng.uniform(2, 8)).reshape(shape)
        w = rng.uniform(0.6, 1.6)
        cr = (np.abs(r + wav - rk) < w) & (np.abs(arc - a0) < length / 2)
        h[cr] -= rng.uniform(4, 10)
    # Faint beach-mark bands: slow tone and roughness changes along the growth direction, and a
    # small step at each arrest line; their period is far above any striation spacing.
    period = size * rng.uniform(0.15, 0.6)
    band = np.sin(2 * np.pi * (r + 0.1 * period * fbm(rng, shape, beta=4, cutoff=3.0 / size)) / period)
    albedo = (1.0 + rng.uniform(0.03, 0.12) * band).astype(np.float32)
    h += rng.uniform(0.0, 1.5) * np.tanh(3 * band)
    # Uneven brightness: macroscopic undulation of the fracture plane.
    h += rng.uniform(3, 10) * fbm(rng, shape, beta=4.0, cutoff=4.0 / size)
    return Surface(h.astype(np.float32), albedo)


def beach_marks(rng: np.random.Generator, size: int, px: float, family: str) -> Surface:
    if family == "crack_growth":
        return _crack_growth(rng, size, px)
    shape = (size, size)
    if family == "progression_bands":
        spacing = pick_scale(rng, (0.5e-6, 20e-6), px, (25, size / 3.0))
    else:
        spacing = pick_scale(rng, (5e-6, 500e-6), px, (14, size / 3.0))
    # Crack origin outside (or at the edge of) the field of view: arcs are concentric around it.
    ang = rng.uniform(0, 2 * np.pi)
    dist = size * rng.uniform(0.55, 2.5)
    oy, ox = size / 2 + dist * np.sin(ang), size / 2 + dist * np.cos(ang)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    ry, rx = (yy - oy) * rng.uniform(0.8, 1.25), xx - ox  # fronts slightly elliptical
    r = np.sqrt(ry * ry + rx * rx)
    # Crack fronts are not perfect circles: slow waviness along the front.
    r = r + spacing * 0.3 * fbm(rng, shape, beta=4, cutoff=3.0 / size)
    ph = r / spacing
    nb = int(ph.max()) + 2
    band_w = np.exp(rng.normal(0, 0.4, nb))  # irregular band widths
    edges = np.concatenate([[0], np.cumsum(band_w)])
    ph = ph * edges[-1] / nb
    idx = np.clip(np.searchsorted(edges, ph) - 1, 0, nb - 1)
    frac = (ph - edges[idx]) / band_w[idx]
    # Each band: a gentle ramp ending at a sharp arrest line (small step) with a ridge.
    step = rng.uniform(0.5, 3.0) if family != "oxide_bands" else rng.uniform(0.1, 0.8)
    h = -step * (idx + frac**2)
    h += rng.uniform(0.5, 2.5) * np.exp(-(((1 - frac) * band_w[idx] * spacing / 2.0) ** 2))
    tone_amp = rng.uniform(0.08, 0.3) if family != "oxide_bands" else rng.uniform(0.25, 0.5)
    tone = tone_amp * rng.standard_normal(nb)
    albedo = 1.0 + tone[idx] * (0.6 + 0.4 * frac) + rng.uniform(0.03, 0.12) * np.cos(2 * np.pi * frac)
    # Texture of the fatigue surface itself, different in every band (rough / smoother).
    rough = np.exp(rng.normal(0, 0.5, nb))[idx]
    th_mean = float(np.arctan2(size / 2 - oy, size / 2 - ox))
    tex = fbm(rng, shape, beta=2.8, cutoff=0.25, aniso=rng.uniform(2, 6), angle=th_mean)
    h += rng.uniform(0.8, 2.5) * rough * tex
    h += rng.uniform(0.3, 1.2) * fbm(rng, shape, beta=2.4, cutoff=0.35)
    if family == "progression_bands":
        # Striations inside the bands where they are resolved (>= 3 px apart).
        sp = pick_scale(rng, (0.1e-6, 1e-6), px, (3.2, 12))
        if sp * px <= 1.2e-6:
            k = rng.uniform(0.55, 0.8)
            dens = np.exp(rng.normal(0, 0.3, nb))[idx]  # block loading: spacing changes per band
            st = _striation_profile(r / (sp * dens), k)
            on = (rng.random(nb) < 0.7)[idx]
            h += on * sp * rng.uniform(0.15, 0.3) * st
    elif family == "macro_arcs" and rng.random() < 0.5:
        # Ratchet marks near the origin side of the frame.
        th = np.arctan2(yy - oy, xx - ox)
        for tk in rng.uniform(th.min(), th.max(), int(rng.integers(2, 6))):
            h += rng.uniform(2, 6) * np.clip((th - tk) * 300, -0.5, 0.5) * np.exp(-(r - r.min()) / (0.4 * size))
    h += rng.uniform(1, 5) * fbm(rng, shape, beta=4.0, cutoff=4.0 / size)
    return Surface(h.astype(np.float32), np.clip(albedo, 0.3, None).astype(np.float32))
