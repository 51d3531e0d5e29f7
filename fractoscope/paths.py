"""Where the application's own files live: the PyInstaller bundle, or the source checkout."""

from __future__ import annotations

import os
import sys
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[1]

# Overrides the per-user data folder (tests, portable installs).
DATA_ENV = "FRACTOSCOPE_DATA_DIR"


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


def user_data_dir() -> Path:
    """The per-user folder for what the app writes about itself (the log): ``$FRACTOSCOPE_DATA_DIR``,
    else the platform's usual per-user data folder (computed here, not with Qt, so the command
    line and the window write to the same place): ``%LOCALAPPDATA%\\Fractoscope``,
    ``~/Library/Application Support/Fractoscope``, ``$XDG_DATA_HOME/fractoscope`` (``~/.local/share``).
    Not created here."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    if sys.platform.startswith("win"):
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "Fractoscope"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Fractoscope"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "fractoscope"
