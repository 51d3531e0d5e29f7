"""Render one synthetic SEM fractograph per call, or whole class-folder datasets.

Every class has two or three named sub-styles ("families", :data:`FAMILIES`) so a trainer can
hold one family per class out and choose its recipe by what generalises across styles rather than
by the synthetic score. On top of the surface of the class, any image may get (with the same
probabilities for every class, so none of them is a class cue): a second morphology or a
flat/smeared patch in part of the frame (the label stays the dominant one), specimen tilt
(foreshortening and keystone perspective), depth-of-field blur that varies across the frame,
debris particles that charge, and operator brightness/contrast extremes.
"""

from __future__ import annotations

import csv
import os
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from fractoscope.errors import FractoscopeError
from fractoscope.model.taxonomy import Taxonomy
from fractoscope.synth import brittle, corrosion, ductile, fatigue, wear
from fractoscope.synth.common import Surface, blob_field, bumps, fbm, loguniform, soft_region
from fractoscope.synth.render import (
    FINE_FEATURE_MIN_DOSE,
    OPERATOR_MODES,
    acquire,
    add_databar,
    se_signal,
    to_dtype,
    varying_focus,
)

MakeFn = Callable[[np.random.Generator, int, float, str], Surface]


@dataclass(frozen=True)
class Morphology:
    """A level-2 class: its surface maker and the pixel-size range (m) of each family."""

    make: MakeFn
    families: dict[str, tuple[float, float]]

    @property
    def px_range_m(self) -> tuple[float, float]:
        """Pixel sizes over all families (the class's range)."""
        return (min(r[0] for r in self.families.values()), max(r[1] for r in self.families.values()))


MORPHOLOGIES: dict[str, Morphology] = {
    "equiaxed_dimples": Morphology(ductile.equiaxed_dimples, ductile.PX_EQUIAXED),
    "shear_dimples": Morphology(ductile.shear_dimples, ductile.PX_SHEAR),
    "cleavage": Morphology(brittle.cleavage, brittle.PX_CLEAVAGE),
    "intergranular": Morphology(brittle.intergranular, brittle.PX_INTERGRANULAR),
    "striations": Morphology(fatigue.striations, fatigue.PX_STRIATIONS),
    "beach_marks": Morphology(fatigue.beach_marks, fatigue.PX_BEACH),
    "abrasive_grooves": Morphology(wear.abrasive_grooves, wear.PX_ABRASIVE),
    "adhesive_delamination": Morphology(wear.adhesive_delamination, wear.PX_ADHESIVE),
    "pitting": Morphology(corrosion.pitting, corrosion.PX_PITTING),
    "mud_cracking": Morphology(corrosion.mud_cracking, corrosion.PX_MUD),
}

FAMILIES: dict[str, tuple[str, ...]] = {c: tuple(m.families) for c, m in MORPHOLOGIES.items()}

DATABAR_PROBABILITY = 0.15
MIXTURE_PROBABILITY = 0.3  # a second morphology or a smeared/flat patch in part of the frame
# The most of the frame that anything other than the labelled morphology may cover (the mixed-in
# region and the class's own smeared patches together). At 45 % a sparse class (a few pits, faded
# striations) was no longer what the frame visibly showed, so its label was noise, not a harder case.
MIXTURE_MAX_FRACTION = 0.3
TILT_PROBABILITY = 0.3
DEBRIS_PROBABILITY = 0.3
FOCUS_PROBABILITY = 0.3
MANIFEST = "synth_manifest.csv"


@dataclass(frozen=True)
class Rendered:
    """One generated fractograph and how it was made."""

    image: np.ndarray  # H x W uint8 or uint16
    pixel_size_m: float
    databar_rows: int
    level2: str
    family: str
    tilt_deg: float = 0.0
    mixture: str = ""  # "" none, "smeared" patch, or the level-2 class of the minority region
    feature_px: float | None = None  # finest class-defining feature kept resolved (Surface.feature_px)


def image_rng(seed: int, level2: str, index: int) -> np.random.Generator:
    """The generator for one image: depends only on (seed, class, index), not on other classes."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(level2.encode()), int(index)])


def _morphology(level2: str) -> Morphology:
    try:
        return MORPHOLOGIES[level2]
    except KeyError:
        raise FractoscopeError(f"unknown morphology {level2!r}; known: {', '.join(MORPHOLOGIES)}") from None


def _normalised_height(h: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Rescale ``h`` to the robust spread of ``ref`` so a mixed-in region has comparable relief."""
    def spread(a: np.ndarray) -> float:
        # Local relief (what the SE image shows), not the overall height range: a ramp or a
        # macroscopic undulation in one surface must not blow the other one up.
        return float(np.std(a - ndi.gaussian_filter(a, 6.0))) + 1e-6
    return (h - np.median(h)) * (spread(ref) / spread(h)) + np.median(ref)


def _mix(rng: np.random.Generator, level2: str, surf: Surface, size: int, px: float) -> tuple[Surface, str]:
    """Put a minority region (at most MIXTURE_MAX_FRACTION of the frame, with the family's own
    patches) of another morphology or of smeared metal in; returns the surface and the tag ("" if the
    family's own patches already fill the allowance)."""
    shape = surf.height.shape
    # The class stays clearly dominant: the mixed-in region and the family's own patches together
    # cover at most MIXTURE_MAX_FRACTION of the frame.
    own = float(surf.other.mean()) if surf.other is not None else 0.0
    room = MIXTURE_MAX_FRACTION - own
    free = 1.0 - surf.other if surf.other is not None else 1.0
    if room < 0.05:  # the family's own patches already fill the allowance: no second region
        return surf, ""
    field = blob_field(rng, shape, size * rng.uniform(0.15, 0.5))

    def region(frac: float) -> np.ndarray:
        return soft_region(field, frac) * free  # outside the family's own patches

    frac = rng.uniform(0.1, 0.25)
    m = region(frac)
    if float(m.mean()) > room:  # shrink the blob (raise its threshold) until it fits, keep its edge
        lo, hi = 0.0, frac
        for _ in range(20):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if float(region(mid).mean()) <= room else (lo, mid)
        m = region(lo)
    albedo = surf.albedo if surf.albedo is not None else np.ones(shape, np.float32)
    if rng.random() < 0.6:
        other = [c for c in MORPHOLOGIES if c != level2]
        c2 = other[int(rng.integers(len(other)))]
        m2 = MORPHOLOGIES[c2]
        fam2 = tuple(m2.families)[int(rng.integers(len(m2.families)))]
        s2 = m2.make(rng, shape[0], px, fam2)
        h2 = _normalised_height(s2.height, surf.height)
        a2 = s2.albedo if s2.albedo is not None else np.ones(shape, np.float32)
        tag = c2
    else:
        # Smeared/rubbed or flat region: the relief flattened, faint streaks along a direction.
        sig = size * rng.uniform(0.01, 0.04)
        h2 = ndi.gaussian_filter(surf.height, sig) * rng.uniform(0.2, 0.7)
        spread = float(np.std(surf.height)) + 1e-6
        h2 = h2 + spread * rng.uniform(0.02, 0.1) * fbm(rng, shape, beta=2.5, cutoff=0.3, aniso=12.0,
                                                           angle=rng.uniform(0, np.pi))
        a2 = np.full(shape, rng.uniform(0.85, 1.15), np.float32)
        tag = "smeared"
    h = surf.height * (1 - m) + h2 * m
    other = m if surf.other is None else np.maximum(surf.other, m)
    return Surface(h.astype(np.float32), (albedo * (1 - m) + a2 * m).astype(np.float32), other,
                   surf.feature_px), tag


def _debris(rng: np.random.Generator, surf: Surface, size: int) -> Surface:
    """Loose particles lying on the surface; they charge (bright, sometimes with a halo)."""
    n = int(rng.integers(3, 40))
    rad = (1.0, max(1.5, size * rng.uniform(0.005, 0.03)))
    part = bumps(rng, surf.height.shape, n, rad)
    lift = float(np.percentile(surf.height, 90))
    h = np.where(part > 0, np.maximum(surf.height, lift * 0.5 + surf.height * 0.5 + part * 1.2), surf.height)
    albedo = surf.albedo.copy() if surf.albedo is not None else np.ones(h.shape, np.float32)
    charge = rng.uniform(1.2, 2.5)
    glow = ndi.gaussian_filter((part > 0).astype(np.float32), rng.uniform(1.0, 4.0))
    albedo = albedo * (1 + (charge - 1) * np.clip(glow * 2, 0, 1))
    return Surface(h.astype(np.float32), albedo.astype(np.float32), surf.other, surf.feature_px)


def _tilted(rng: np.random.Generator, make: Callable[[int], Surface], size: int) -> tuple[Surface, float]:
    """Specimen tilt: foreshortening along one axis, keystone perspective and a height ramp.

    The surface is made on a larger square so the foreshortened frame still shows real surface.
    """
    t = np.deg2rad(rng.uniform(10, 50))
    big = int(np.ceil(size / np.cos(t))) + 2
    surf = make(big)
    k = rng.uniform(-0.25, 0.25)  # perspective: one edge of the frame wider than the other
    yo, xo = np.mgrid[0:size, 0:size].astype(np.float32)
    c = (big - 1) / 2
    ys = (yo - (size - 1) / 2) / np.cos(t) + c
    xs = (xo - (size - 1) / 2) * (1 + k * (yo / size - 0.5)) + c
    transpose = rng.random() < 0.5
    if transpose:
        ys, xs = xs, ys
    h = ndi.map_coordinates(surf.height, [ys, xs], order=1, mode="reflect")
    # Tilting the specimen tilts every local slope: a ramp along the foreshortened axis.
    ramp = ((ys if not transpose else xs) - c) * np.sin(t)
    h = h * np.cos(t) + ramp
    a = o = None
    if surf.albedo is not None:
        a = ndi.map_coordinates(surf.albedo, [ys, xs], order=1, mode="reflect")
    if surf.other is not None:
        o = ndi.map_coordinates(surf.other, [ys, xs], order=1, mode="reflect")
    # Foreshortening shrinks features along the tilted axis; the perspective shrinks one edge more.
    feat = None if surf.feature_px is None else surf.feature_px * float(np.cos(t)) * (1 - abs(k) / 2)
    return Surface(h.astype(np.float32), a, o, feat), float(np.rad2deg(t))


def render_details(
    level2: str,
    rng: np.random.Generator,
    size: int = 512,
    family: str | None = None,
    *,
    tilt: bool | None = None,
    mixture: bool | None = None,
    debris: bool | None = None,
    focus: bool | None = None,
    operator: str | None = None,
    pixel_size_m: float | None = None,
) -> Rendered:
    """One synthetic secondary-electron fractograph of a level-2 morphology, with how it was made.

    ``family`` picks a named sub-style of the class (see :data:`FAMILIES`); None draws one.
    ``tilt``, ``mixture``, ``debris``, ``focus`` (True/False) and ``operator`` (one of
    ``render.OPERATOR_MODES``) force a scene effect on or off (for galleries and tests); None, the
    default, draws it with the probabilities every class shares. Random draws happen either way, so
    forcing one effect does not change the others. ``pixel_size_m`` fixes the pixel size (a frame
    of a generated case taken at a chosen magnification) instead of drawing it from the family's
    range; it is still drawn, so the stream stays aligned.
    """
    morph = _morphology(level2)
    if size < 64:
        raise FractoscopeError(f"image size {size} is too small (minimum 64)")
    if operator is not None and operator not in OPERATOR_MODES:
        raise FractoscopeError(f"unknown operator mode {operator!r}; known: {', '.join(OPERATOR_MODES)}")
    names = tuple(morph.families)
    drawn = names[int(rng.integers(len(names)))]  # drawn even when given: the stream stays aligned
    if family is None:
        family = drawn
    elif family not in morph.families:
        raise FractoscopeError(f"unknown family {family!r} of {level2}; known: {', '.join(names)}")
    px = loguniform(rng, *morph.families[family])
    if pixel_size_m is not None:
        px = float(pixel_size_m)
    # Separate streams: morphology, scene and imaging draws don't shift each other.
    mrng, srng, irng = rng.spawn(3)
    draws = srng.random(4)
    do_mix = bool(draws[0] < MIXTURE_PROBABILITY) if mixture is None else mixture
    do_tilt = bool(draws[1] < TILT_PROBABILITY) if tilt is None else tilt
    do_debris = bool(draws[2] < DEBRIS_PROBABILITY) if debris is None else debris
    do_focus = bool(draws[3] < FOCUS_PROBABILITY) if focus is None else focus
    mixed = ""

    def make(n: int) -> Surface:
        nonlocal mixed
        s = morph.make(mrng, n, px, family)
        if do_mix:
            s, mixed = _mix(srng, level2, s, n, px)
        if do_debris:
            s = _debris(srng, s, n)
        return s

    if do_tilt:
        surf, tilt_deg = _tilted(srng, make, size)
    else:
        surf, tilt_deg = make(size), 0.0
    sig = se_signal(surf, irng)
    # A frame labelled by a fine feature (striations) has it in focus and out of the noise: whoever
    # labelled the real image saw it. Blur (beam and depth of field) stays below a quarter of its
    # size, which keeps at least ~30 % of the feature's contrast (Gaussian transfer at its
    # fundamental), and the scan is slow.
    fine = surf.feature_px is not None
    max_blur = surf.feature_px / 4 if fine else None
    if do_focus:
        sig = varying_focus(sig, srng, max_blur)
    img = acquire(sig, irng, operator, max_blur, FINE_FEATURE_MIN_DOSE if fine else None)
    rows = add_databar(img, px, irng) if irng.random() < DATABAR_PROBABILITY else 0
    return Rendered(to_dtype(img, irng), px, rows, level2, family, tilt_deg, mixed, surf.feature_px)


def render_fractograph(level2: str, rng: np.random.Generator, size: int = 512,
                       family: str | None = None) -> tuple[np.ndarray, float, int]:
    """One synthetic secondary-electron fractograph of a level-2 morphology.

    Returns (image HxW uint8 or uint16, pixel size in metres, data-bar rows at the bottom, 0 if none).
    """
    r = render_details(level2, rng, size, family)
    return r.image, r.pixel_size_m, r.databar_rows


def write_tiff(path: Path, img: np.ndarray, px_m: float, info: str | None = None) -> None:
    """ImageJ-style calibrated TIFF (pixel size in um), readable by ImageJ/Fiji and read_sem.

    ``info`` goes into ImageJ's "Info" property (how the image was generated).
    """
    import tifffile

    px_um = px_m * 1e6
    meta: dict[str, str] = {"unit": "um"}
    if info:
        meta["Info"] = info
    tifffile.imwrite(path, img, imagej=True, resolution=(1.0 / px_um, 1.0 / px_um),
                     metadata=meta, software="fractoscope synth")


def _job(args: tuple[str, str, int, int, int, str]) -> tuple[str, str, str, float, float, str]:
    level1, level2, seed, index, size, out = args
    r = render_details(level2, image_rng(seed, level2, index), size)
    rel = f"{level1}/{level2}/{level2}_{seed}_{index}.tif"
    info = (f"fractoscope synth: level2={level2} family={r.family} seed={seed} index={index} "
            f"tilt_deg={r.tilt_deg:.1f} mixture={r.mixture or 'none'}")
    write_tiff(Path(out) / rel, r.image, r.pixel_size_m, info)
    return rel, level2, r.family, r.pixel_size_m, r.tilt_deg, r.mixture


def load_manifest(root: str | os.PathLike) -> dict[str, dict[str, str]]:
    """Rows of ``root/synth_manifest.csv`` keyed by relative path (empty if there is none).

    Columns: path, level1, level2, family, pixel_size_m, tilt_deg, mixture.
    """
    p = Path(root) / MANIFEST
    if not p.is_file():
        return {}
    with p.open(newline="") as f:
        return {row["path"]: row for row in csv.DictReader(f)}


def _write_manifest(root: Path, rows: list[tuple[str, str, str, float, float, str]], tax: Taxonomy) -> None:
    table = load_manifest(root)
    for rel, level2, fam, px, tilt, mixture in rows:
        table[rel] = {"path": rel, "level1": tax.parent_of(level2), "level2": level2, "family": fam,
                      "pixel_size_m": f"{px:.6g}", "tilt_deg": f"{tilt:.1f}", "mixture": mixture}
    cols = ["path", "level1", "level2", "family", "pixel_size_m", "tilt_deg", "mixture"]
    tmp = root / (MANIFEST + ".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        for k in sorted(table):
            w.writerow({c: table[k].get(c, "") for c in cols})
    tmp.replace(root / MANIFEST)


def generate_dataset(
    out: str | os.PathLike,
    per_class: int,
    seed: int,
    size: int = 512,
    classes: Sequence[str] | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Write ``per_class`` images of each level-2 class to ``out/<level1>/<level2>/``.

    File names are ``<level2>_<seed>_<index>.tif``; the content of each depends only on
    (seed, class, index, size), so runs with more images or classes extend earlier ones.
    ``out/synth_manifest.csv`` records the family (sub-style), tilt and mixture of every image.
    """
    tax = Taxonomy.default()
    classes = list(classes) if classes else tax.level2
    unknown = [c for c in classes if c not in MORPHOLOGIES]
    if unknown:
        raise FractoscopeError(f"unknown class(es) {', '.join(unknown)}; known: {', '.join(MORPHOLOGIES)}")
    if per_class < 0:
        raise FractoscopeError("--per-class must be >= 0")
    if size < 64:
        raise FractoscopeError(f"image size {size} is too small (minimum 64)")
    root = Path(out)
    try:
        for c in classes:
            (root / tax.parent_of(c) / c).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FractoscopeError(f"cannot create output folder {root}: {exc.strerror or exc}") from None
    jobs = [(tax.parent_of(c), c, int(seed), i, int(size), str(root)) for c in classes for i in range(per_class)]
    rows: list[tuple[str, str, str, float, float, str]] = []
    total = len(jobs)
    try:
        if workers <= 1 or total <= 1:
            for j in jobs:
                rows.append(_job(j))
                if progress:
                    progress(len(rows), total)
        else:
            with ProcessPoolExecutor(max_workers=workers) as ex:
                for r in ex.map(_job, jobs, chunksize=4):
                    rows.append(r)
                    if progress:
                        progress(len(rows), total)
        if rows:
            _write_manifest(root, rows, tax)
    except OSError as exc:
        raise FractoscopeError(f"cannot write to {root}: {exc.strerror or exc}") from None
    return [root / r[0] for r in rows]
