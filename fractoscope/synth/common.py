"""Building blocks shared by the morphology modules: noise fields, Voronoi cells, scale picking.

All height fields are in *pixel* units (a height of 3 means three pixel widths), so slopes are
plain finite differences and the SEM renderer needs no pixel size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft
from scipy import ndimage as ndi


@dataclass
class Surface:
    """A morphology before imaging: height (pixels) and an optional material-contrast factor.

    ``other`` (0..1) marks where the frame does *not* show the class's own morphology (smooth or
    smeared patches a family draws), so a mixture added later keeps the class the dominant one.

    ``feature_px`` is the size (pixels) of the finest feature that identifies the class where one
    does (the striation spacing): an image labelled with the class shows it resolved, so the imaging
    chain keeps its blur below it and its noise low (``render_details``).
    """

    height: np.ndarray
    albedo: np.ndarray | None = None
    other: np.ndarray | None = None
    feature_px: float | None = None


def loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def pick_scale(
    rng: np.random.Generator, phys_m: tuple[float, float], px_m: float, pix: tuple[float, float]
) -> float:
    """A feature size in pixels: log-uniform over the physical range that is also visible.

    ``phys_m`` is the physically plausible size range in metres, ``pix`` the range in pixels that
    reads at this image size. When they do not overlap the visible bound nearest to physics wins.
    """
    lo = max(phys_m[0] / px_m, pix[0])
    hi = min(phys_m[1] / px_m, pix[1])
    if lo >= hi:
        v = float(np.clip(np.sqrt(phys_m[0] * phys_m[1]) / px_m, pix[0], pix[1]))
        return v
    return loguniform(rng, lo, hi)


def fbm(
    rng: np.random.Generator,
    shape: tuple[int, int],
    beta: float = 3.0,
    cutoff: float | None = None,
    aniso: float = 1.0,
    angle: float = 0.0,
    lowcut: float = 0.0,
) -> np.ndarray:
    """Fractal (power-law spectrum ~ f**-beta) noise, unit std.

    ``aniso`` > 1 stretches structures along ``angle`` (radians); ``cutoff``/``lowcut`` are
    frequency limits in cycles per pixel.
    """
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    if aniso != 1.0:
        c, s = np.cos(angle), np.sin(angle)
        fu = fx * c + fy * s  # frequency along the stretch direction
        fv = -fx * s + fy * c
        f = np.sqrt((fu * aniso) ** 2 + fv**2)
    else:
        f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1.0
    amp = f ** (-beta / 2.0)
    if cutoff:
        amp *= np.exp(-((f / cutoff) ** 2))
    if lowcut:
        amp *= 1.0 - np.exp(-((f / lowcut) ** 2))
    amp[0, 0] = 0.0
    # Single precision throughout: half the memory traffic, and plenty for a texture.
    amp = amp.astype(np.float32)
    spec = np.empty(amp.shape, np.complex64)
    spec.real = rng.standard_normal(amp.shape, dtype=np.float32) * amp
    spec.imag = rng.standard_normal(amp.shape, dtype=np.float32) * amp
    out = sfft.irfft2(spec, s=shape)
    sd = out.std()
    return (out / sd if sd > 0 else out).astype(np.float32)


def smooth1d(rng: np.random.Generator, n: int, sigma: float, size: int = 1) -> np.ndarray:
    """``size`` smooth random 1-D curves of length n with unit std (shape (size, n))."""
    x = rng.standard_normal((size, n + int(6 * sigma)))
    x = ndi.gaussian_filter1d(x, sigma, axis=1, mode="wrap")[:, : n]
    sd = x.std(axis=1, keepdims=True)
    return x / np.where(sd > 0, sd, 1)


def jittered_points(
    rng: np.random.Generator, shape: tuple[int, int], spacing: float, jitter: float = 0.8, margin: float = 0.0
) -> np.ndarray:
    """Roughly uniformly packed points (N, 2) as (row, col), a jittered grid with random phase."""
    h, w = shape
    ny = int(np.ceil((h + 2 * margin) / spacing)) + 1
    nx = int(np.ceil((w + 2 * margin) / spacing)) + 1
    gy, gx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    off = rng.uniform(0, spacing, 2)
    pts = np.stack([gy.ravel(), gx.ravel()], 1) * spacing + off - margin
    # Hexagonal-ish stagger keeps the packing from looking like a grid.
    pts[:, 1] += (gy.ravel() % 2) * spacing * 0.5
    pts += rng.uniform(-0.5, 0.5, pts.shape) * spacing * jitter
    return pts


def nearest_seed(shape: tuple[int, int], pts: np.ndarray, margin: int = 0,
                 step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest point and the (row, col) offset to it, for every pixel.

    Points outside the image (up to ``margin``) still own their cells, so cells at the border are
    not truncated artificially. ``step`` > 1 finds the nearest point on a coarser grid (cell
    borders then are only accurate to ``step`` pixels, the offsets stay exact): for features whose
    cell borders never show, it makes the distance transform ``step**2`` times cheaper.
    """
    h, w = shape
    step = max(1, int(step))
    H, W = -(-(h + 2 * margin) // step), -(-(w + 2 * margin) // step)
    r = np.floor((pts[:, 0] + margin) / step + (0.5 if step == 1 else 0.0)).astype(int)
    c = np.floor((pts[:, 1] + margin) / step + (0.5 if step == 1 else 0.0)).astype(int)
    ok = (r >= 0) & (r < H) & (c >= 0) & (c < W)
    idx_img = np.full((H, W), -1, np.int64)
    ids = np.nonzero(ok)[0]
    idx_img[r[ok], c[ok]] = ids
    _, (ir, ic) = ndi.distance_transform_edt(idx_img < 0, return_indices=True)
    coarse = idx_img[ir, ic]
    rows = (np.arange(h) + margin) // step
    cols = (np.arange(w) + margin) // step
    lab = coarse[rows[:, None], cols[None, :]]
    yy, xx = np.mgrid[0:h, 0:w]
    dy = yy + margin - (pts[lab, 0] + margin)
    dx = xx + margin - (pts[lab, 1] + margin)
    return lab, np.stack([dy, dx]).astype(np.float32)


def warp_labels(rng: np.random.Generator, lab: np.ndarray, amp: float, scale: float) -> np.ndarray:
    """Wiggle cell boundaries (real grain/crack boundaries are not straight bisectors)."""
    if amp <= 0:
        return lab
    h, w = lab.shape
    cut = 1.0 / max(scale, 2.0)
    wy = fbm(rng, (h, w), beta=3.0, cutoff=cut) * amp
    wx = fbm(rng, (h, w), beta=3.0, cutoff=cut) * amp
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return ndi.map_coordinates(lab, [yy + wy, xx + wx], order=0, mode="nearest")


def boundaries(lab: np.ndarray) -> np.ndarray:
    """Pixels where the label changes to a right or lower neighbour (and their partners)."""
    b = np.zeros(lab.shape, bool)
    dv = lab[1:, :] != lab[:-1, :]
    dh = lab[:, 1:] != lab[:, :-1]
    b[1:, :] |= dv
    b[:-1, :] |= dv
    b[:, 1:] |= dh
    b[:, :-1] |= dh
    return b


def boundary_distance(lab: np.ndarray) -> np.ndarray:
    b = boundaries(lab)
    if not b.any():
        return np.full(lab.shape, 1e4, np.float32)
    return ndi.distance_transform_edt(~b).astype(np.float32)


def boundary_pairs(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every pixel, its own label and the label of the nearest *other* cell across a boundary
    (only meaningful near boundaries); used to give each grain-boundary segment its own properties.
    """
    b = boundaries(lab)
    other = lab.copy()
    # Neighbour label across the boundary, taken from whichever 4-neighbour differs.
    for axis, sh in ((0, 1), (0, -1), (1, 1), (1, -1)):
        nb = np.roll(lab, sh, axis=axis)
        m = (nb != lab) & (other == lab)
        other[m] = nb[m]
    if b.any():
        _, (ir, ic) = ndi.distance_transform_edt(~b, return_indices=True)
        other = np.where(other == lab, other[ir, ic], other)
    return lab, other


def pair_random(a: np.ndarray, b: np.ndarray, table: np.ndarray) -> np.ndarray:
    """A random value per unordered label pair (same on both sides of a boundary)."""
    lo = np.minimum(a, b).astype(np.int64)
    hi = np.maximum(a, b).astype(np.int64)
    key = (lo * 73856093) ^ (hi * 19349663)
    return table[key % table.size]


def sample_canvas(canvas: np.ndarray, angle: float, shape: tuple[int, int], order: int = 1,
                  center: tuple[float, float] | None = None, scale: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Rotate a canvas (rows = across 'v', cols = along 'u') onto the image grid.

    Image pixel (y, x) maps to canvas (v, u) = R(angle) * ((y, x) - image centre) / scale + canvas
    centre, so structures running along the canvas columns end up running along ``angle``.
    """
    h, w = shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    if center is not None:
        cy, cx = center
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy -= cy
    xx -= cx
    c, s = np.cos(angle), np.sin(angle)
    u = (xx * c + yy * s) / scale[0]
    v = (-xx * s + yy * c) / scale[1]
    ch, cw = canvas.shape
    return ndi.map_coordinates(canvas, [v + (ch - 1) / 2, u + (cw - 1) / 2], order=order, mode="reflect")


def rotated_coords(shape: tuple[int, int], angle: float) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) coordinates of every pixel relative to the image centre; u runs along ``angle``."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy -= (h - 1) / 2
    xx -= (w - 1) / 2
    c, s = np.cos(angle), np.sin(angle)
    return xx * c + yy * s, -xx * s + yy * c


def bumps(rng: np.random.Generator, shape: tuple[int, int], n: int, radius: tuple[float, float],
          mask: np.ndarray | None = None) -> np.ndarray:
    """Height of ``n`` small spherical particles/nodules (debris, inclusions, nodules)."""
    h, w = shape
    out = np.zeros(shape, np.float32)
    if n <= 0:
        return out
    if mask is not None and mask.any():
        cand = np.flatnonzero(mask)
        pos = cand[rng.integers(0, cand.size, n)]
        ys, xs = np.unravel_index(pos, shape)
    else:
        ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
    rs = np.exp(rng.uniform(np.log(radius[0]), np.log(radius[1]), n))
    for y, x, r in zip(ys, xs, rs, strict=True):
        ri = int(np.ceil(r)) + 1
        y0, y1, x0, x1 = max(0, y - ri), min(h, y + ri + 1), max(0, x - ri), min(w, x + ri + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        gy, gx = np.mgrid[y0:y1, x0:x1]
        # Slightly irregular particles: random ellipse.
        e = rng.uniform(0.7, 1.3)
        d2 = ((gy - y) * e) ** 2 + ((gx - x) / e) ** 2
        cap = np.sqrt(np.clip(r * r - d2, 0, None))
        np.maximum(out[y0:y1, x0:x1], cap, out=out[y0:y1, x0:x1])
    return out


def grid_points(
    rng: np.random.Generator, shape: tuple[int, int], spacing: float, jitter: float = 0.8, margin: float = 0.0,
    groups: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Jittered-grid points (N, 2) and a group id per point such that points of one group are at
    least ``groups - jitter`` grid spacings apart.

    Features stamped per group (nearest point of the group owns a pixel) can then overlap their
    neighbours from the other groups, which a single Voronoi partition cannot express: two cups
    that intersect meet in a sharp ridge at the *power-diagram* boundary, not at the bisector.
    """
    h, w = shape
    ny = int(np.ceil((h + 2 * margin) / spacing)) + 1
    nx = int(np.ceil((w + 2 * margin) / spacing)) + 1
    gy, gx = np.mgrid[0:ny, 0:nx]
    off = rng.uniform(0, spacing, 2)
    pts = np.stack([gy.ravel(), gx.ravel()], 1).astype(np.float64) * spacing + off - margin
    pts[:, 1] += (gy.ravel() % 2) * spacing * 0.5
    pts += rng.uniform(-0.5, 0.5, pts.shape) * spacing * jitter
    grp = (gy.ravel() % groups) * groups + (gx.ravel() % groups)
    return pts, grp


def grouped_field(
    shape: tuple[int, int],
    pts: np.ndarray,
    grp: np.ndarray,
    profile: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    reduce: str = "min",
    margin: int = 0,
    step: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Combine one local feature per point by pointwise min (cups) or max (domes).

    ``profile(idx, dy, dx)`` returns the feature height of point ``idx`` at offset (dy, dx) for
    every pixel (the nearest point of each group). Returns the combined height and the index of
    the point that won at every pixel (a label map). The borders between points of one group
    never show (another group's feature wins there), so ``step`` may coarsen that search.
    """
    best = None
    lab = None
    for g in np.unique(grp):
        sel = np.flatnonzero(grp == g)
        idx, (dy, dx) = nearest_seed(shape, pts[sel], margin=margin, step=step)
        gidx = sel[idx]
        val = profile(gidx, dy, dx)
        if best is None:
            best, lab = val, gidx
        else:
            better = val < best if reduce == "min" else val > best
            best = np.where(better, val, best)
            lab = np.where(better, gidx, lab)
    assert best is not None and lab is not None
    return best.astype(np.float32), lab


def blob_field(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Smooth noise whose upper part, thresholded by :func:`soft_region`, gives blobs ``scale`` px across."""
    return fbm(rng, shape, beta=4.0, cutoff=1.0 / max(scale, 4.0))


def soft_region(field: np.ndarray, frac: float, edge: float = 0.12) -> np.ndarray:
    """The part of ``field`` above its (1 - ``frac``) quantile, soft-edged (0..1): about ``frac`` of
    the frame. ``edge`` is the soft edge width as a fraction of the field's std."""
    thr = np.quantile(field, 1.0 - frac)
    return np.clip((field - thr) / (edge * field.std() + 1e-6) + 0.5, 0.0, 1.0).astype(np.float32)


def soft_mask(rng: np.random.Generator, shape: tuple[int, int], frac: float, scale: float,
              edge: float = 0.12) -> np.ndarray:
    """A blobby region covering about ``frac`` of the frame, soft-edged (0..1), from smooth noise.

    ``scale`` is the blob size in pixels, ``edge`` the soft edge width as a fraction of the noise std.
    """
    return soft_region(blob_field(rng, shape, scale), frac, edge)


def blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur that stays cheap for large sigma: wide blurs are done on a block-averaged
    copy and interpolated back (the result is smooth anyway, so nothing visible is lost)."""
    if sigma <= 6:
        return ndi.gaussian_filter(a, sigma)
    k = max(1, int(sigma / 3))
    h, w = a.shape
    H, W = -(-h // k) * k, -(-w // k) * k
    p = np.pad(a, ((0, H - h), (0, W - w)), mode="edge")
    small = p.reshape(H // k, k, W // k, k).mean(axis=(1, 3))
    small = ndi.gaussian_filter(small, np.sqrt(max(sigma * sigma / (k * k) - 1.0 / 12, 0.1)), mode="nearest")
    yy = (np.arange(h, dtype=np.float32) + 0.5) / k - 0.5
    xx = (np.arange(w, dtype=np.float32) + 0.5) / k - 0.5
    out = ndi.map_coordinates(small, np.meshgrid(yy, xx, indexing="ij"), order=1, mode="nearest")
    return out.astype(a.dtype, copy=False)


def scoring(rng: np.random.Generator, shape: tuple[int, int], angle: float, width: float,
            density: float = 1.0) -> np.ndarray:
    """Straight, parallel scratches crossing the whole frame along ``angle`` (a sliding direction).

    ``width`` is the median scratch width in pixels, ``density`` about how many scratch widths of
    the field each scratch owns (1: the field is covered). Scratches are V/U-shaped with small
    ploughed-up lips; their depth drifts slowly along the direction but none of them stops, which
    is what tells a worn surface from a torn fracture surface: one sliding direction over the whole
    field. Returns height (pixels).
    """
    h, w = shape
    n = int(np.ceil(np.hypot(h, w))) + 4
    g = max(4, int(n / max(width, 1.0) * density))
    centres = rng.uniform(0, n, g)
    widths = np.maximum(width * np.exp(rng.normal(0, 0.5, g)), 1.2)
    depths = widths * rng.uniform(0.15, 0.5, g)
    v = np.arange(n, dtype=np.float32)
    prof = np.zeros(n, np.float32)
    for c, wd, d in zip(centres, widths, depths, strict=True):
        lo, hi = max(0, int(c - wd)), min(n, int(c + wd) + 2)
        dv = np.abs(v[lo:hi] - c) / (wd / 2)
        prof[lo:hi] += d * (-np.clip(1 - dv, 0, None) + 0.25 * np.exp(-(((dv - 1.2) / 0.3) ** 2)))
    along = 1 + 0.15 * smooth1d(rng, n, rng.uniform(20, 80))[0]
    u, vv = rotated_coords(shape, angle)
    hv = np.interp(vv.ravel() + n / 2, v, prof).reshape(shape)
    hu = np.interp(u.ravel() + n / 2, v, along).reshape(shape)
    return (hv * hu).astype(np.float32)
