"""A folder of labelled images to adapt on: ``DATA/level1/level2/*`` and/or ``DATA/level1/*``.

The folder is read by the one scanner of labelled trees (``fractoscope.io.labelled``), the same
one the reference library lists, so what the window's library holds, *Update model* and
``fractoscope adapt`` accept. Images filed under their mechanism only teach level 1; images in a
morphology folder teach both levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fractoscope.errors import FractoscopeError
from fractoscope.io.labelled import LabelledPath, ScanMode, label_tree, scan_labelled_tree
from fractoscope.model.taxonomy import UNTRAINED_CHILD_SUFFIX, Taxonomy, taxonomy_from_tree

# Below this many images a class gets a warning: its head (and its accuracy estimate) rest on
# too little evidence. Three is what `adapt` is designed to work from; five is better.
MIN_IMAGES_PER_CLASS = 3
RECOMMENDED_IMAGES_PER_CLASS = 5

LabelledFile = LabelledPath  # (path, level1, level2 or None)


@dataclass
class LabelledFolder:
    root: Path
    files: list[LabelledFile]
    taxonomy: Taxonomy
    has_level2: bool  # some image has a morphology: the level-2 head is fitted on those images

    def counts(self) -> dict[str, dict[str, int]]:
        """{level1: {level2 (or "" for mechanism-only images): n}} of the files found."""
        out: dict[str, dict[str, int]] = {}
        for f in self.files:
            d = out.setdefault(f.level1, {})
            d[f.level2 or ""] = d.get(f.level2 or "", 0) + 1
        return out


def level1_only_taxonomy(level1: list[str]) -> Taxonomy:
    """A taxonomy whose every mechanism has a single placeholder morphology ("not trained")."""
    return taxonomy_from_tree({c: [] for c in level1})


def scan_folder(root: str | Path) -> LabelledFolder:
    """Find the labelled images under ``root``; the taxonomy is the tree's own.

    Raises FractoscopeError with one line for an empty tree, a single class or a name used at
    both levels.
    """
    root = Path(root)
    files = scan_labelled_tree(root, ScanMode.DATASET)
    tree = label_tree(files)
    if len(tree) < 2:
        raise FractoscopeError(
            f"{root}: only one class ({next(iter(tree))}); adapting needs at least two level-1 folders"
        )
    try:
        tax = taxonomy_from_tree(tree)
    except ValueError:
        names = [*tree, *(c for v in tree.values() for c in v)]
        dup = sorted({n for n in names if names.count(n) > 1})
        raise FractoscopeError(
            f"{root}: class names must be unique across both levels: {', '.join(dup)}"
        ) from None
    return LabelledFolder(root, files, tax, any(f.level2 is not None for f in files))


__all__ = [
    "MIN_IMAGES_PER_CLASS",
    "RECOMMENDED_IMAGES_PER_CLASS",
    "UNTRAINED_CHILD_SUFFIX",
    "LabelledFile",
    "LabelledFolder",
    "level1_only_taxonomy",
    "scan_folder",
]
