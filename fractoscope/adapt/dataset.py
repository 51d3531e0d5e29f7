"""A folder of labelled images: ``DATA/level1/level2/*`` or ``DATA/level1/*`` (level 1 only)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from fractoscope.errors import FractoscopeError
from fractoscope.io.reader import is_supported
from fractoscope.model.taxonomy import DEFAULT_DESCRIPTIONS, Taxonomy

# Below this many images a class gets a warning: its head (and its accuracy estimate) rest on
# too little evidence. Three is what `adapt` is designed to work from; five is better.
MIN_IMAGES_PER_CLASS = 3
RECOMMENDED_IMAGES_PER_CLASS = 5
# A level-1-only model still needs one level-2 child per mechanism (the network's level-2 head
# has one row per child); this suffix names that placeholder child, and the card says so.
UNTRAINED_CHILD_SUFFIX = "_unspecified"


@dataclass(frozen=True)
class LabelledFile:
    path: Path
    level1: str
    level2: str | None  # None in a level-1-only tree


@dataclass
class LabelledFolder:
    root: Path
    files: list[LabelledFile]
    taxonomy: Taxonomy
    has_level2: bool

    def counts(self) -> dict[str, dict[str, int]]:
        """{level1: {level2 (or "" for level-1-only): n}} of the files found."""
        out: dict[str, dict[str, int]] = {}
        for f in self.files:
            d = out.setdefault(f.level1, {})
            d[f.level2 or ""] = d.get(f.level2 or "", 0) + 1
        return out


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_supported(p))


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def level1_only_taxonomy(level1: list[str]) -> Taxonomy:
    """A taxonomy whose every mechanism has a single placeholder morphology ("not trained")."""
    tree = {c: [c + UNTRAINED_CHILD_SUFFIX] for c in level1}
    desc = {k: v for k, v in DEFAULT_DESCRIPTIONS.items() if k in tree}
    for c in level1:
        desc[c + UNTRAINED_CHILD_SUFFIX] = {
            "name": "level 2 not trained",
            "description": "This model was adapted from level-1 labels only.",
        }
    return Taxonomy(tree, desc)


def scan_folder(root: str | Path) -> LabelledFolder:
    """Find the labelled images under ``root``; the taxonomy is the tree's own.

    Raises FractoscopeError with one line for an empty tree, mixed layouts or a single class.
    """
    root = Path(root)
    if not root.is_dir():
        raise FractoscopeError(f"{root}: not a folder (expected level1/level2/*.tif or level1/*.tif)")
    files: list[LabelledFile] = []
    tree: dict[str, list[str]] = {}
    flat: list[str] = []
    for d1 in _subdirs(root):
        subs = [d for d in _subdirs(d1) if _images_in(d)]
        loose = _images_in(d1)
        if subs and loose:
            raise FractoscopeError(
                f"{d1}: has both images and sub-folders of images; use either {d1.name}/*.tif "
                f"(level 1 only) or {d1.name}/<level2>/*.tif"
            )
        for d2 in subs:
            tree.setdefault(d1.name, []).append(d2.name)
            files += [LabelledFile(p, d1.name, d2.name) for p in _images_in(d2)]
        if loose:
            flat.append(d1.name)
            files += [LabelledFile(p, d1.name, None) for p in loose]
    if not files:
        raise FractoscopeError(
            f"{root}: no images found (expected {root.name}/<level1>/<level2>/*.tif or "
            f"{root.name}/<level1>/*.tif; TIFF, PNG, JPEG or BMP)"
        )
    if tree and flat:
        raise FractoscopeError(
            f"{root}: mixes level1/*.tif ({', '.join(flat)}) and level1/level2/*.tif "
            f"({', '.join(tree)}) layouts; use one"
        )
    level1 = list(tree) if tree else flat
    if len(level1) < 2:
        raise FractoscopeError(
            f"{root}: only one class ({level1[0]}); adapting needs at least two level-1 folders"
        )
    if tree:
        names = Counter([*tree, *(c for v in tree.values() for c in v)])
        dup = sorted(k for k, n in names.items() if n > 1)
        if dup:
            raise FractoscopeError(f"{root}: class names must be unique across both levels: {', '.join(dup)}")
        desc = {k: v for k, v in DEFAULT_DESCRIPTIONS.items() if k in names}
        return LabelledFolder(root, files, Taxonomy(tree, desc), True)
    return LabelledFolder(root, files, level1_only_taxonomy(level1), False)


__all__ = [
    "MIN_IMAGES_PER_CLASS",
    "RECOMMENDED_IMAGES_PER_CLASS",
    "LabelledFile",
    "LabelledFolder",
    "level1_only_taxonomy",
    "scan_folder",
]
