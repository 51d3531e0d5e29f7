"""Wear: abrasive grooves and adhesive wear.

Abrasive families: ploughing grooves with lips; grooves with cutting chips, prows and debris;
three-body abrasion (dense indentations and debris over fine scratches); a low-magnification wear
scar. Adhesive families: delaminating sheets with transverse cracks; a smeared transfer layer
flowed along the sliding direction; galling (torn-out craters and welded-on lumps).

Every wear frame carries the evidence a metallurgist reads as wear: scratches or scoring that run
straight across the whole field in one sliding direction (``common.scoring``), with ploughing
lips, transfer tongues, debris or compacted oxide on top. A surface that is only rough and torn is
a fracture surface; drawn without that evidence, torn wear frames taught the model to call every
rough fracture surface wear.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from fractoscope.synth.common import (
    Surface,
    bumps,
    fbm,
    pick_scale,
    rotated_coords,
    scoring,
    smooth1d,
    soft_mask,
)

# Up to ~2 um/px like the fracture classes (wear scars are photographed at low magnification too),
# so pixel size stays no class cue.
PX_ABRASIVE = {"ploughing": (10e-9, 1000e-9), "cutting_debris": (10e-9, 800e-9), "three_body": (15e-9, 1000e-9),
               "wear_scar": (200e-9, 2000e-9)}
PX_ADHESIVE = {"delamination": (20e-9, 2000e-9), "smeared": (15e-9, 1500e-9), "galling": (20e-9, 1000e-9)}


def abrasive_grooves(rng: np.random.Generator, size: int, px: float, family: str) -> Surface:
    if family == "three_body":
        return _three_body(rng, size, px)
    if family == "wear_scar":
        return _wear_scar(rng, size, px)
    shape = (size, size)
    wmed = pick_scale(rng, (0.2e-6, 20e-6), px, (3, size / 12))
    angle = rng.uniform(0, 2 * np.pi)  # sliding direction
    n = int(np.ceil(size * 1.45)) + 4  # canvas covering the rotated image
    # Dense enough that grooves cover the field: a few grooves on a plain field left most of the
    # frame without a direction.
    density = rng.uniform(0.6, 1.2)
    g = max(8, int(n / wmed * density * 1.5))
    centers = rng.uniform(0, n, g)
    widths = wmed * np.exp(rng.normal(0, 0.6, g))  # grooves of widely varying widths
    depths = widths * rng.uniform(0.15, 0.6, g)
    vgrid = np.arange(n, dtype=np.float32)
    dv = (vgrid[:, None] - centers[None, :]) / (widths[None, :] / 2)
    # U/V-shaped groove with ploughed-up lips on both sides.
    vshape = rng.uniform(0.5, 2.0, g)
    groove = -np.clip(1 - np.abs(dv) ** vshape, 0, None)
    lips = rng.uniform(0.1, 0.5, g) * np.exp(-(((np.abs(dv) - 1.15) / 0.35) ** 2))
    P = (groove + lips) * depths[None, :]  # (v, groove)
    # Along the sliding direction: depth varies and some grooves start/stop (particle lost).
    M = 1 + 0.25 * smooth1d(rng, n, rng.uniform(10, 60), g)
    s0 = np.where(rng.random(g) < 0.12, rng.uniform(0, n, g), -1.0)
    s1 = np.where(rng.random(g) < 0.12, rng.uniform(0, n, g), n + 1.0)
    ug = np.arange(n, dtype=np.float32)
    lo, hi = np.minimum(s0, s1), np.maximum(s0, s1)
    ramp = np.clip((ug[None, :] - lo[:, None]) / 6, 0, 1) * np.clip((hi[:, None] - ug[None, :]) / 3, 0, 1)
    canvas = (P @ (np.clip(M, 0.2, None) * ramp)).astype(np.float32)  # (v, u)
    u, v = rotated_coords(shape, angle)
    h = ndi.map_coordinates(canvas, [v + n / 2, u + n / 2], order=1, mode="nearest")
    # Pile-up at groove ends and wear debris scattered over the surface.
    dens = rng.uniform(0, 3e-4) if family == "ploughing" else rng.uniform(3e-4, 1.5e-3)
    nd = int(dens * size * size)
    deb = bumps(rng, shape, nd, (0.7, max(1.0, wmed * 0.6)))
    if family == "cutting_debris":
        # Curled micro-chips and prows (wedges pushed ahead of the abrasive particle).
        deb = np.maximum(deb, _chips(rng, size, wmed, angle))
    h += deb * rng.uniform(0.8, 1.5)
    albedo = np.where(deb > 0, rng.uniform(1.0, 1.6), 1.0).astype(np.float32)
    h += rng.uniform(0.1, 0.4) * fbm(rng, shape, beta=2.5, cutoff=0.3, aniso=4.0, angle=angle)
    # Fine scratches between the grooves: the whole field shows the sliding direction.
    h += rng.uniform(0.6, 1.2) * scoring(rng, shape, angle, max(1.5, wmed * rng.uniform(0.15, 0.4)),
                                         rng.uniform(0.6, 1.2))
    h += rng.uniform(0.0, 0.02) * size * fbm(rng, shape, beta=4.0, cutoff=4.0 / size)
    return Surface(h, albedo)


def _chips(rng: np.random.Generator, size: int, wmed: float, angle: float) -> np.ndarray:
    """Elongated curled chips lying along the sliding direction."""
    out = np.zeros((size, size), np.float32)
    for _ in range(int(rng.integers(3, 25))):
        L = wmed * rng.uniform(2, 8)
        w = wmed * rng.uniform(0.3, 0.8) + 1
        a = angle + rng.normal(0, 0.4)
        cy, cx = rng.uniform(0, size, 2)
        ri = int(L + w) + 2
        y0, y1, x0, x1 = max(0, int(cy) - ri), min(size, int(cy) + ri), max(0, int(cx) - ri), min(size, int(cx) + ri)
        if y0 >= y1 or x0 >= x1:
            continue
        gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        du = (gx - cx) * np.cos(a) + (gy - cy) * np.sin(a)
        dv = -(gx - cx) * np.sin(a) + (gy - cy) * np.cos(a)
        dv = dv - 0.5 * w * np.sin(du / L * 3)  # curled
        body = np.clip(1 - (du / L) ** 2, 0, None) * np.clip(1 - (dv / w) ** 2, 0, None)
        np.maximum(out[y0:y1, x0:x1], body * w * 1.5, out=out[y0:y1, x0:x1])
    return out


def _three_body(rng: np.random.Generator, size: int, px: float) -> Surface:
    """Three-body abrasion: particles rolling between the surfaces leave indentations and short
    scratches, over fine scratches that cross the whole field in the sliding direction.

    The field-wide scratches are what makes it wear: indentations alone on a rough base (the
    previous drawing) were a pitted, torn texture with no direction, i.e. any rough fracture.
    """
    shape = (size, size)
    dent = pick_scale(rng, (0.1e-6, 6e-6), px, (2.5, size / 40))
    h = rng.uniform(0.2, 0.5) * fbm(rng, shape, beta=2.4, cutoff=0.3)
    main = rng.uniform(0, np.pi)
    # The particles also slid most of the time: scratches across the field, under the dents.
    h += rng.uniform(1.4, 2.2) * scoring(rng, shape, main, max(2.0, dent * rng.uniform(0.3, 0.8)),
                                         rng.uniform(0.8, 1.4))
    nd = int(rng.uniform(0.08, 0.3) * size * size / (dent * dent * 4))
    nd = min(nd, 2500)
    for _ in range(nd):
        cy, cx = rng.uniform(0, size, 2)
        r = dent * float(np.exp(rng.normal(0, 0.4)))
        L = r * (rng.uniform(0.5, 4) if rng.random() < 0.35 else rng.uniform(0, 0.8))
        a = main + rng.normal(0, 0.3)  # rolling particles drift, but along the sliding direction
        ri = int(r + L) + 2
        y0, y1, x0, x1 = max(0, int(cy) - ri), min(size, int(cy) + ri), max(0, int(cx) - ri), min(size, int(cx) + ri)
        if y0 >= y1 or x0 >= x1:
            continue
        gy, gx = np.ogrid[y0:y1, x0:x1]
        du = (gx - cx) * np.cos(a) + (gy - cy) * np.sin(a)
        dv = -(gx - cx) * np.sin(a) + (gy - cy) * np.cos(a)
        du = np.clip(np.abs(du) - L / 2, 0, None)
        q = (du * du + dv * dv) / (r * r)
        pit = -r * rng.uniform(0.2, 0.45) * np.clip(1 - q, 0, None) + 0.08 * r * np.exp(-((np.sqrt(q) - 1.1) / 0.2) ** 2)
        h[y0:y1, x0:x1] += pit.astype(np.float32)
    # Loose debris particles lying in the scratches.
    deb = bumps(rng, shape, int(rng.uniform(2e-4, 1e-3) * size * size), (0.7, max(1.0, dent * 0.5)))
    h += deb
    h += rng.uniform(0.0, 0.02) * size * fbm(rng, shape, beta=4.0, cutoff=4.0 / size)
    return Surface(h.astype(np.float32), np.where(deb > 0, rng.uniform(1.0, 1.5), 1.0).astype(np.float32))


def _wear_scar(rng: np.random.Generator, size: int, px: float) -> Surface:
    """A wear scar at low magnification (~0.2-2 um/px): the track of a sliding counterbody, scored
    from edge to edge along one direction, with ploughing grooves, patches of compacted oxide
    (dark, smooth, cracked) and smeared transfer tongues, debris in the grooves."""
    shape = (size, size)
    angle = rng.uniform(0, 2 * np.pi)
    w = pick_scale(rng, (1e-6, 40e-6), px, (2.0, size / 25))
    h = rng.uniform(0.2, 0.5) * fbm(rng, shape, beta=2.4, cutoff=0.3)
    h += rng.uniform(1.0, 1.6) * scoring(rng, shape, angle, max(1.5, w * 0.4), rng.uniform(0.8, 1.4))
    h += rng.uniform(0.8, 1.4) * scoring(rng, shape, angle + rng.normal(0, 0.02), w * 2.0, rng.uniform(0.2, 0.5))
    albedo = np.ones(shape, np.float32)
    # Compacted oxide / transfer patches: flattened, smooth glaze elongated along the sliding
    # direction, with transverse cracks; darker (oxide) or brighter (transferred metal).
    glaze = soft_mask(rng, shape, rng.uniform(0.1, 0.3), size * rng.uniform(0.08, 0.2), edge=0.05)
    elong = fbm(rng, shape, beta=3.5, cutoff=6.0 / size, aniso=rng.uniform(4, 8), angle=angle)
    glaze = glaze * (elong > np.quantile(elong, 0.3))
    lift = rng.uniform(1.5, 4.0)
    u, _ = rotated_coords(shape, angle)
    cr = np.abs(np.sin(u / rng.uniform(8, 30) + 2 * fbm(rng, shape, beta=3.5, cutoff=0.04))) < 0.05
    flat = ndi.gaussian_filter(h, 3.0) * 0.3 + lift - 2.0 * cr
    flat += rng.uniform(0.4, 0.8) * scoring(rng, shape, angle, max(1.5, w * 0.3), 0.6)  # smeared on, scored
    h = h * (1 - glaze) + flat * glaze
    albedo *= 1 + glaze * rng.choice([-1, 1]) * rng.uniform(0.1, 0.35)
    deb = bumps(rng, shape, int(rng.uniform(3e-4, 2e-3) * size * size), (0.7, max(1.0, w * 0.5)))
    h += deb
    albedo[deb > 0] *= rng.uniform(1.1, 1.6)
    h += rng.uniform(0.0, 0.02) * size * fbm(rng, shape, beta=4.0, cutoff=4.0 / size)
    return Surface(h.astype(np.float32), albedo.astype(np.float32))


def adhesive_delamination(rng: np.random.Generator, size: int, px: float, family: str) -> Surface:
    if family == "smeared":
        return _smeared(rng, size, px)
    if family == "galling":
        return _galling(rng, size, px)
    shape = (size, size)
    flake = pick_scale(rng, (1e-6, 60e-6), px, (20, size / 2.5))
    angle = rng.uniform(0, 2 * np.pi)  # sliding direction: flakes are smeared along it
    cut = 1.0 / flake
    # Worn base metal below the sheets: scored along the sliding direction across the field (torn,
    # isotropic roughness there made the frame a torn fracture surface with flakes on it).
    h = rng.uniform(0.4, 1.0) * fbm(rng, shape, beta=2.4, cutoff=0.3)
    h += rng.uniform(0.5, 2) * fbm(rng, shape, beta=3.5, cutoff=cut * 3, aniso=4.0, angle=angle)
    h += rng.uniform(1.0, 2.0) * scoring(rng, shape, angle, rng.uniform(1.5, 4.0), rng.uniform(0.8, 1.4))
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
        sheet += rng.uniform(1.0, 2.0) * scoring(rng, shape, angle, rng.uniform(1.5, 3.0), rng.uniform(0.5, 1.0))
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


def _smeared(rng: np.random.Generator, size: int, px: float) -> Surface:
    """Adhesive transfer layer smeared along the sliding direction: tongues of plastically flowed
    metal with curled leading edges, scored along the flow, with weak ripples across it.

    Several tongues and their torn edges are in every frame: one tongue filling the frame left a
    smooth, nearly featureless field (or, with its ripples, a striation-like one) that no analyst
    would label adhesive wear. The scoring along the sliding direction is the stronger texture, so
    the ripples across the flow do not read as fatigue striations.
    """
    shape = (size, size)
    L = pick_scale(rng, (1e-6, 50e-6), px, (16, size / 5))
    angle = rng.uniform(0, 2 * np.pi)
    base = rng.uniform(0.4, 1.0) * fbm(rng, shape, beta=2.6, cutoff=0.3)
    base += rng.uniform(1.0, 2.0) * scoring(rng, shape, angle, rng.uniform(1.5, 4.0), rng.uniform(0.8, 1.4))
    field = fbm(rng, shape, beta=3.4, cutoff=2.0 / L, aniso=rng.uniform(3, 8), angle=angle)
    m = field > np.quantile(field, 1 - rng.uniform(0.4, 0.75))
    d = ndi.distance_transform_edt(m).astype(np.float32)
    th = rng.uniform(3, 10)
    u, _ = rotated_coords(shape, angle)
    ripple = np.sin(u / rng.uniform(3, 10) + 2 * fbm(rng, shape, beta=3.5, cutoff=0.05)) * rng.uniform(0.1, 0.5)
    layer = th * np.minimum(1, d / 2.0) + rng.uniform(2, 6) * np.exp(-d / rng.uniform(2, 6)) + ripple
    layer += rng.uniform(1.0, 2.5) * fbm(rng, shape, beta=2.6, cutoff=0.3, aniso=10.0, angle=angle)
    h = np.where(m, layer, base)
    # Flakes about to detach: cracks across the flow.
    if rng.random() < 0.6:
        cr = (np.abs(np.sin(u / rng.uniform(15, 60) + fbm(rng, shape, beta=3.5, cutoff=0.04))) < 0.04) & m & (d > 2)
        h[cr] -= th
    albedo = np.where(m, rng.uniform(0.9, 1.2), 1.0).astype(np.float32)
    return Surface(h.astype(np.float32), albedo)


def _galling(rng: np.random.Generator, size: int, px: float) -> Surface:
    """Galling: metal torn out of the surface (craters with steep torn walls and a rough floor) and
    welded on elsewhere (lumps with torn, granular tops and curled bright edges), smeared along the
    sliding direction.

    Real galled surfaces show this severe, torn relief at every magnification; the lumps and craters
    are therefore sharp-edged regions covering a good part of the frame, not smooth undulations,
    which at high magnification read as a featureless or directional texture (what low-magnification
    fatigue looks like) instead of wear.
    """
    shape = (size, size)
    L = pick_scale(rng, (1e-6, 40e-6), px, (20, size / 3.0))
    angle = rng.uniform(0, 2 * np.pi)
    h = rng.uniform(0.5, 1.2) * fbm(rng, shape, beta=2.3, cutoff=0.3, aniso=2.0, angle=angle)
    # The sliding that galled the surface scored it from edge to edge, lumps and craters included.
    score = scoring(rng, shape, angle, rng.uniform(1.5, 4.0), rng.uniform(0.8, 1.4))
    f = fbm(rng, shape, beta=3.2, cutoff=2.0 / L, aniso=rng.uniform(3, 6), angle=angle)
    f += 0.2 * fbm(rng, shape, beta=2.0, cutoff=0.3)  # ragged, torn outlines
    lump = ndi.binary_opening(f > np.quantile(f, 1 - rng.uniform(0.2, 0.38)), iterations=1)
    crater = ndi.binary_opening(f < np.quantile(f, rng.uniform(0.1, 0.22)), iterations=1)
    dl = ndi.distance_transform_edt(lump).astype(np.float32)
    dc = ndi.distance_transform_edt(crater).astype(np.float32)
    torn = np.abs(fbm(rng, shape, beta=2.0, cutoff=0.35, aniso=3.0, angle=angle))  # torn metal, drawn out
    # Tall enough to stand out of the scoring at every scale.
    hl, hc = max(6.0, L * rng.uniform(0.12, 0.3)), max(5.0, L * rng.uniform(0.1, 0.25))
    # Welded-on lump: steep flank, domed torn granular top, edge curled up where it was sheared off.
    flank, grain, curl = rng.uniform(0.08, 0.25) * L, rng.uniform(1.0, 3.0), rng.uniform(1.5, 4.0)
    h += np.where(lump, hl * np.sqrt(np.minimum(1.0, dl / flank)) + grain * torn + curl * np.exp(-dl / 2.0), 0.0)
    # Torn-out crater: steep wall, rough floor with tear ridges.
    h -= np.where(crater, hc * np.minimum(1.0, dc / 1.5) - rng.uniform(1.0, 3.0) * torn, 0.0)
    h += rng.uniform(0.5, 1.5) * fbm(rng, shape, beta=2.8, cutoff=0.2, aniso=6.0, angle=angle)
    h += rng.uniform(0.5, 0.9) * score
    albedo = np.where(lump, rng.uniform(1.0, 1.25), 1.0).astype(np.float32)  # transferred metal
    return Surface(h.astype(np.float32), albedo)
