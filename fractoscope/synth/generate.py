"""Render one synthetic SEM fractograph per call, or whole class-folder datasets."""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fractoscope.errors import FractoscopeError
from fractoscope.model.taxonomy import Taxonomy
from fractoscope.synth import brittle, corrosion, ductile, fatigue, wear
from fractoscope.synth.common import Surface, loguniform
from fractoscope.synth.render import acquire, add_databar, se_signal, to_dtype


@dataclass(frozen=True)
class Morphology:
    make: Callable[[np.random.Generator, int, float], Surface]
    px_range_m: tuple[float, float]


MORPHOLOGIES: dict[str, Morphology] = {
    "equiaxed_dimples": Morphology(ductile.equiaxed_dimples, ductile.PX_RANGE_EQUIAXED),
    "shear_dimples": Morphology(ductile.shear_dimples, ductile.PX_RANGE_SHEAR),
    "cleavage": Morphology(brittle.cleavage, brittle.PX_RANGE_CLEAVAGE),
    "intergranular": Morphology(brittle.intergranular, brittle.PX_RANGE_INTERGRANULAR),
    "striations": Morphology(fatigue.striations, fatigue.PX_RANGE_STRIATIONS),
    "beach_marks": Morphology(fatigue.beach_marks, fatigue.PX_RANGE_BEACH),
    "abrasive_grooves": Morphology(wear.abrasive_grooves, wear.PX_RANGE_ABRASIVE),
    "adhesive_delamination": Morphology(wear.adhesive_delamination, wear.PX_RANGE_ADHESIVE),
    "pitting": Morphology(corrosion.pitting, corrosion.PX_RANGE_PITTING),
    "mud_cracking": Morphology(corrosion.mud_cracking, corrosion.PX_RANGE_MUD),
}

DATABAR_PROBABILITY = 0.15


def image_rng(seed: int, level2: str, index: int) -> np.random.Generator:
    """The generator for one image: depends only on (seed, class, index), not on other classes."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(level2.encode()), int(index)])


def render_fractograph(level2: str, rng: np.random.Generator, size: int = 512) -> tuple[np.ndarray, float, int]:
    """One synthetic secondary-electron fractograph of a level-2 morphology.

    Returns (image HxW uint8 or uint16, pixel size in metres, data-bar rows at the bottom, 0 if none).
    """
    try:
        morph = MORPHOLOGIES[level2]
    except KeyError:
        raise FractoscopeError(f"unknown morphology {level2!r}; known: {', '.join(MORPHOLOGIES)}") from None
    if size < 64:
        raise FractoscopeError(f"image size {size} is too small (minimum 64)")
    px = loguniform(rng, *morph.px_range_m)
    # Separate streams: morphology and imaging draws don't shift each other.
    mrng, irng = rng.spawn(2)
    surf = morph.make(mrng, size, px)
    img = acquire(se_signal(surf, irng), irng)
    rows = add_databar(img, px, irng) if irng.random() < DATABAR_PROBABILITY else 0
    return to_dtype(img, irng), px, rows


def write_tiff(path: Path, img: np.ndarray, px_m: float) -> None:
    """ImageJ-style calibrated TIFF (pixel size in um), readable by ImageJ/Fiji and read_sem."""
    import tifffile

    px_um = px_m * 1e6
    tifffile.imwrite(path, img, imagej=True, resolution=(1.0 / px_um, 1.0 / px_um),
                     metadata={"unit": "um"}, software="fractoscope synth")


def _job(args: tuple[str, str, int, int, int, str]) -> str:
    level1, level2, seed, index, size, out = args
    img, px, _ = render_fractograph(level2, image_rng(seed, level2, index), size)
    path = Path(out) / level1 / level2 / f"{level2}_{seed}_{index}.tif"
    write_tiff(path, img, px)
    return str(path)


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
    done: list[Path] = []
    total = len(jobs)
    try:
        if workers <= 1 or total <= 1:
            for j in jobs:
                done.append(Path(_job(j)))
                if progress:
                    progress(len(done), total)
        else:
            with ProcessPoolExecutor(max_workers=workers) as ex:
                for p in ex.map(_job, jobs, chunksize=4):
                    done.append(Path(p))
                    if progress:
                        progress(len(done), total)
    except OSError as exc:
        raise FractoscopeError(f"cannot write to {root}: {exc.strerror or exc}") from None
    return done
