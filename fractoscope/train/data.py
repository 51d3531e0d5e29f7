"""Labelled image folders for training and evaluation: ``level1/level2/*`` (or ``level1/*``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from fractoscope.errors import FractoscopeError
from fractoscope.imaging.spec import InputSpec
from fractoscope.io import is_supported
from fractoscope.model.taxonomy import DEFAULT_DESCRIPTIONS, Taxonomy


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    level1: str
    level2: str | None  # None in a level1-only tree
    family: str = ""  # generator sub-style, from a synth manifest in the root folder (if any)
    mixture: str = ""  # what the generator mixed into a minority region ("" none; synth manifest)


def scan_labelled_folder(root: Path) -> tuple[list[LabelledImage], Taxonomy | None]:
    """Find images in ``root/level1/level2/*`` or ``root/level1/*``.

    Returns the items and the taxonomy the tree spells out (None for a level1-only tree).
    Hidden folders and non-image files (e.g. ``.txt`` sidecars) are ignored. For a folder written
    by ``fractoscope synth``, each item carries its generator family from the synth manifest.
    """
    from fractoscope.synth.generate import load_manifest

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
    manifest = load_manifest(root)
    if manifest:
        def from_manifest(i: LabelledImage) -> LabelledImage:
            row = manifest.get(i.path.relative_to(root).as_posix(), {})
            return replace(i, family=row.get("family", ""), mixture=row.get("mixture", ""))

        items = [from_manifest(i) for i in items]
    if two_level and any(i.level2 is None for i in items):
        raise FractoscopeError(f"{root}: mixes level1/*.tif and level1/level2/*.tif layouts")
    if not two_level:
        return items, None
    descriptions = {k: v for k, v in DEFAULT_DESCRIPTIONS.items() if k in tree or any(k in c for c in tree.values())}
    return items, Taxonomy(tree, descriptions)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_supported(p))


@dataclass
class LoadedImage:
    image: np.ndarray  # float16 [0, 1], contrast-normalised, data bar cropped
    pixel_size_m: float | None
    level1: int
    level2: int
    name: str = ""  # file name and generator family: held-out validation selects images by them
    family: str = ""


def load_images(
    items: list[LabelledImage],
    taxonomy: Taxonomy,
    progress: Callable[[int, int], None] | None = None,
    spec: InputSpec | None = None,
) -> tuple[list[LoadedImage], list[tuple[Path, str]]]:
    """Read and normalise every image once (training draws many crops from each), with the
    contrast stretch of ``spec`` (the analysis applies the same one).

    Returns the loaded images and (path, reason) for the files that could not be used.
    """
    from fractoscope.imaging import prepare_image
    from fractoscope.io import read_sem

    l1, l2 = taxonomy.level1, taxonomy.level2
    out: list[LoadedImage] = []
    failed: list[tuple[Path, str]] = []
    for i, it in enumerate(items):
        try:
            if it.level1 not in l1 or (it.level2 is not None and it.level2 not in l2):
                raise FractoscopeError(f"class {it.level1}/{it.level2} is not in the taxonomy")
            sem = read_sem(it.path)
            prep = prepare_image(sem, None, spec=spec)
            out.append(
                LoadedImage(
                    prep.image.astype(np.float16),
                    sem.calibration.pixel_size_m,
                    l1.index(it.level1),
                    l2.index(it.level2) if it.level2 else -1,
                    it.path.name,
                    it.family,
                )
            )
        except FractoscopeError as exc:
            failed.append((it.path, str(exc)))
        if progress:
            progress(i + 1, len(items))
    return out, failed


def link_family_subset(src: Path, dst: Path, families: list[str] | tuple[str, ...]) -> int:
    """Make ``dst`` a labelled tree of the images of ``src`` (a ``fractoscope synth`` folder)
    whose generator family is one of ``families`` (hard links, copies where links fail), so that
    ``fractoscope evaluate dst`` scores held-out families alone. Returns the number of images."""
    import shutil

    items, _ = scan_labelled_folder(Path(src))
    if not any(i.family for i in items):
        raise FractoscopeError(f"{src}: no synth manifest with generator families")
    wanted = set(families)
    n = 0
    for it in items:
        if it.family not in wanted:
            continue
        target = Path(dst) / it.path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            try:
                target.hardlink_to(it.path)
            except OSError:
                shutil.copy2(it.path, target)
        n += 1
    return n
