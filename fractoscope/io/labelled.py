"""The one scanner of labelled image trees: ``ROOT/<level1>/<level2>/IMAGE`` and ``ROOT/<level1>/IMAGE``.

Training, evaluation, calibration, ``fractoscope adapt`` and the reference library (which the
window's *Update model* adapts on) all read labelled folders through :func:`scan_labelled_tree`,
so a tree one of them accepts, the others accept too. The two layouts mix freely, also inside
one mechanism folder: an image filed directly under its mechanism is labelled with the mechanism
only (it teaches level 1), an image in a morphology folder with both (it teaches both levels).
Nothing is dropped silently: every readable-looking image at depth one or two is an item.
Hidden files and folders (``.name``) and non-image files (sidecars) are not images; anything
deeper than ``level1/level2/`` is not part of the layout and is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from fractoscope.errors import FractoscopeError
from fractoscope.io.reader import is_supported

LAYOUT_HELP = "<level1>/<level2>/*.tif or <level1>/*.tif; TIFF, PNG, JPEG or BMP"


class ScanMode(Enum):
    """What an absent or empty tree means to the caller."""

    #: Data to learn from or score (train, evaluate, calibrate, adapt): the root must be a
    #: folder holding at least one labelled image, else one FractoscopeError line.
    DATASET = "dataset"
    #: A reference library being browsed: an absent root or an empty tree is an empty library.
    LIBRARY = "library"


@dataclass(frozen=True)
class LabelledPath:
    path: Path
    level1: str
    level2: str | None  # None: filed under its mechanism only (level 1 label only)


def _visible(p: Path) -> bool:
    return not p.name.startswith(".")


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_supported(p))


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and _visible(p))


def scan_labelled_tree(root: str | Path, mode: ScanMode = ScanMode.DATASET) -> list[LabelledPath]:
    """Every labelled image under ``root``: sorted by mechanism, then its mechanism-only images,
    then each morphology folder, each by name. See the module docstring for the rules."""
    root = Path(root)
    if not root.is_dir():
        if mode is ScanMode.LIBRARY:
            return []
        raise FractoscopeError(f"{root}: not a folder of labelled images (expected {LAYOUT_HELP})")
    items: list[LabelledPath] = []
    for d1 in _subdirs(root):
        items += [LabelledPath(p, d1.name, None) for p in _images_in(d1)]
        for d2 in _subdirs(d1):
            items += [LabelledPath(p, d1.name, d2.name) for p in _images_in(d2)]
    if not items and mode is ScanMode.DATASET:
        raise FractoscopeError(f"{root}: no images found (expected {LAYOUT_HELP})")
    return items


def label_tree(items: list[LabelledPath]) -> dict[str, list[str]]:
    """{level1: [its morphology folders that hold images]} in scan order (a mechanism with
    mechanism-only images alone maps to [])."""
    tree: dict[str, list[str]] = {}
    for it in items:
        kids = tree.setdefault(it.level1, [])
        if it.level2 is not None and it.level2 not in kids:
            kids.append(it.level2)
    return tree


__all__ = ["LAYOUT_HELP", "LabelledPath", "ScanMode", "label_tree", "scan_labelled_tree"]
