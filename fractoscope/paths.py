"""Where the application's own files live: the PyInstaller bundle, or the source checkout."""

from __future__ import annotations

import sys
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[1]


def is_frozen() -> bool:
    """True inside a PyInstaller app."""
    return bool(getattr(sys, "frozen", False) and getattr(sys, "_MEIPASS", None))


def bundle_root() -> Path:
    """The folder holding ``models/`` and ``resources/``: ``sys._MEIPASS`` when frozen (PyInstaller
    unpacks data there), else the checkout the package was installed from (``pip install -e``)."""
    frozen = getattr(sys, "_MEIPASS", None)
    return Path(frozen) if frozen else SOURCE_ROOT


def models_dir() -> Path:
    return bundle_root() / "models"


def resources_dir() -> Path:
    return bundle_root() / "resources"
