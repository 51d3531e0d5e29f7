"""Labelled image folders for training and evaluation: ``level1/level2/*`` (or ``level1/*``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fractoscope.errors import FractoscopeError
from fractoscope.imaging.spec import InputSpec
from fractoscope.io.labelled import ScanMode, label_tree, scan_labelled_tree
from fractoscope.model.taxonomy import Taxonomy, taxonomy_from_tree


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    level1: str
    level2: str | None  # None in a level1-only tree
    family: str = ""  # generator sub-style, from a synth manifest in the root folder (if any)
    mixture: str = ""  # what the generator mixed into a minority region ("" none; synth manifest)


def scan_labelled_folder(root: Path) -> tuple[list[LabelledImage], Taxonomy | None]:
    """Find images in ``root/level1/level2/*`` and ``root/level1/*`` (the one scanner of labelled
    trees, ``fractoscope.io.labelled``: the layouts may mix; an image under its mechanism only has
    ``level2`` None and trains level 1 alone).

    Returns the items and the taxonomy the tree spells out (None when no image has a level 2;
    a mechanism without morphology folders gets one placeholder child). Hidden folders and
    non-image files (e.g. ``.txt`` sidecars) are ignored. For a folder written by
    ``fractoscope synth``, each item carries its generator family from the synth manifest.
    """
    from fractoscope.synth.generate import load_manifest

    root = Path(root)
    found = scan_labelled_tree(root, ScanMode.DATASET)
    manifest = load_manifest(root)
    items: list[LabelledImage] = []
    for it in found:
        row = manifest.get(it.path.relative_to(root).as_posix(), {}) if manifest else {}
        items.append(LabelledImage(it.path, it.level1, it.level2, row.get("family", ""), row.get("mixture", "")))
    tree = label_tree(items)
    if not any(tree.values()):
        return items, None
    try:
        return items, taxonomy_from_tree(tree)
    except ValueError:
        raise FractoscopeError(f"{root}: class names must be unique across both levels") from None


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
