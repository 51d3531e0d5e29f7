"""Labelled image folders for training and evaluation: ``level1/level2/*`` (or ``level1/*``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fractoscope.errors import FractoscopeError
from fractoscope.model.taxonomy import DEFAULT_DESCRIPTIONS, Taxonomy

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    level1: str
    level2: str | None  # None in a level1-only tree


def scan_labelled_folder(root: Path) -> tuple[list[LabelledImage], Taxonomy | None]:
    """Find images in ``root/level1/level2/*`` or ``root/level1/*``.

    Returns the items and the taxonomy the tree spells out (None for a level1-only tree).
    Hidden folders and non-image files (e.g. ``.txt`` sidecars) are ignored.
    """
    root = Path(root)
    if not root.is_dir():
        raise FractoscopeError(f"{root}: not a folder of labelled images (level1/level2/*.tif)")
    items: list[LabelledImage] = []
    tree: dict[str, list[str]] = {}
    two_level = False
    for d1 in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        subdirs = sorted(p for p in d1.iterdir() if p.is_dir() and not p.name.startswith("."))
        if subdirs:
            two_level = True
            for d2 in subdirs:
                files = _images_in(d2)
                if files:
                    tree.setdefault(d1.name, []).append(d2.name)
                    items += [LabelledImage(f, d1.name, d2.name) for f in files]
        else:
            items += [LabelledImage(f, d1.name, None) for f in _images_in(d1)]
    if not items:
        raise FractoscopeError(f"{root}: no images found in level1/level2/ sub-folders")
    if two_level and any(i.level2 is None for i in items):
        raise FractoscopeError(f"{root}: mixes level1/*.tif and level1/level2/*.tif layouts")
    if not two_level:
        return items, None
    descriptions = {k: v for k, v in DEFAULT_DESCRIPTIONS.items() if k in tree or any(k in c for c in tree.values())}
    return items, Taxonomy(tree, descriptions)


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


@dataclass
class LoadedImage:
    image: np.ndarray  # float16 [0, 1], contrast-normalised, data bar cropped
    pixel_size_m: float | None
    level1: int
    level2: int


def load_images(
    items: list[LabelledImage],
    taxonomy: Taxonomy,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[LoadedImage], list[tuple[Path, str]]]:
    """Read and normalise every image once (training draws many crops from each).

    Returns the loaded images and (path, reason) for the files that could not be used.
    """
    from fractoscope.analysis.pipeline import prepare_image
    from fractoscope.io import read_sem

    l1, l2 = taxonomy.level1, taxonomy.level2
    out: list[LoadedImage] = []
    failed: list[tuple[Path, str]] = []
    for i, it in enumerate(items):
        try:
            if it.level1 not in l1 or (it.level2 is not None and it.level2 not in l2):
                raise FractoscopeError(f"class {it.level1}/{it.level2} is not in the taxonomy")
            sem = read_sem(it.path)
            prep = prepare_image(sem, None)
            out.append(
                LoadedImage(
                    prep.image.astype(np.float16),
                    sem.calibration.pixel_size_m,
                    l1.index(it.level1),
                    l2.index(it.level2) if it.level2 else -1,
                )
            )
        except FractoscopeError as exc:
            failed.append((it.path, str(exc)))
        if progress:
            progress(i + 1, len(items))
    return out, failed


def print_progress(prefix: str) -> Callable[[int, int], None]:
    def _p(done: int, total: int) -> None:
        if done == total or done % max(1, total // 20) == 0:
            print(f"\r{prefix} {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)

    return _p
