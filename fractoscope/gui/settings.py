"""Persistent GUI preferences (QSettings), typed, in one place.

Tests and the ``--settings-org`` option pass their own scope so the user's real settings are
never touched: either an organisation name (``FRACTOSCOPE_SETTINGS_ORG``) or a whole ini file
(``FRACTOSCOPE_SETTINGS_FILE``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow, QWidget

from fractoscope.imaging.display import DEFAULT_CAM_COLORMAP

ORG_ENV = "FRACTOSCOPE_SETTINGS_ORG"
FILE_ENV = "FRACTOSCOPE_SETTINGS_FILE"
DEFAULT_ORG = "Fractoscope"
APP_NAME = "fractoscope"
MAX_RECENT = 10
# QSettings groups of the windows whose place is kept ("window" is the main window's: the keys
# saved settings already have).
MAIN_WINDOW = "window"
TEACH_WINDOW = "teach_window"

DEVICES = ("auto", "cpu", "cuda")
THEMES = ("dark", "light")
# The first entry is the default: the CAM colormap the PDF reports use too (one owner).
COLORMAPS = (
    DEFAULT_CAM_COLORMAP,
    *(m for m in ("inferno", "viridis", "magma", "plasma", "turbo", "CET-L3") if m != DEFAULT_CAM_COLORMAP),
)


def open_qsettings(org: str | None = None, path: str | os.PathLike | None = None) -> QSettings:
    """The QSettings store: an explicit ini file, else an ini in the user scope of ``org``."""
    path = path or os.environ.get(FILE_ENV) or None
    if path:
        return QSettings(str(path), QSettings.Format.IniFormat)
    org = org or os.environ.get(ORG_ENV) or DEFAULT_ORG
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, org, APP_NAME)


class AppSettings:
    """Typed accessors over a QSettings store (ini values come back as strings)."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.q = qsettings if qsettings is not None else open_qsettings()

    # --- helpers ----------------------------------------------------------------------------
    def _get(self, key: str, default, kind):
        v = self.q.value(key, None)
        if v is None or v == "":
            return default
        try:
            if kind is bool:
                return v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes")
            return kind(v)
        except (TypeError, ValueError):
            return default

    def _bytes(self, key: str) -> QByteArray | None:
        v = self.q.value(key, None)
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    def sync(self) -> None:
        self.q.sync()

    # --- window layout ---------------------------------------------------------------------
    # Every window's place goes through save_window / restore_window, so each one is kept the same
    # way (geometry, and a main window's docks and toolbars) under its own group of keys.
    def save_window(self, window: QWidget, name: str = MAIN_WINDOW) -> None:
        """Keep ``window``'s geometry (and a QMainWindow's dock and toolbar places) as ``name``."""
        self.q.setValue(f"{name}/geometry", window.saveGeometry())
        if isinstance(window, QMainWindow):
            self.q.setValue(f"{name}/state", window.saveState())

    def restore_window(self, window: QWidget, name: str = MAIN_WINDOW, *, geometry: bool = True) -> bool:
        """Put ``window`` back where ``save_window`` left it; nothing saved leaves it as it is.

        ``geometry=False`` restores only a main window's dock places (for a dock added later).
        True when something was restored.
        """
        done = False
        saved = self.saved_geometry(name)
        if geometry and saved is not None:
            done = bool(window.restoreGeometry(saved))
        state = self.saved_state(name)
        if isinstance(window, QMainWindow) and state is not None:
            done = bool(window.restoreState(state)) or done
        return done

    def saved_geometry(self, name: str = MAIN_WINDOW) -> QByteArray | None:
        return self._bytes(f"{name}/geometry")

    def saved_state(self, name: str = MAIN_WINDOW) -> QByteArray | None:
        return self._bytes(f"{name}/state")

    def splitter_sizes(self, name: str) -> list[int] | None:
        raw = self._get(f"splitters/{name}", None, str)
        try:
            sizes = [int(s) for s in json.loads(raw)] if raw else None
        except (ValueError, TypeError):
            return None
        return sizes if sizes and all(s >= 0 for s in sizes) else None

    def set_splitter_sizes(self, name: str, sizes: list[int]) -> None:
        self.q.setValue(f"splitters/{name}", json.dumps([int(s) for s in sizes]))

    # --- files -----------------------------------------------------------------------------
    @property
    def recent_files(self) -> list[str]:
        # Stored as JSON: an ini list with one entry would come back as a bare string.
        raw = self._get("files/recent", "[]", str)
        try:
            items = json.loads(raw)
        except ValueError:
            return []
        return [str(p) for p in items if isinstance(p, str)][:MAX_RECENT]

    @recent_files.setter
    def recent_files(self, items: list[str]) -> None:
        self.q.setValue("files/recent", json.dumps(list(items)[:MAX_RECENT]))

    def add_recent(self, path: str | Path) -> list[str]:
        p = str(Path(path).resolve())
        items = [p] + [x for x in self.recent_files if x != p]
        self.recent_files = items
        return self.recent_files

    @property
    def last_folder(self) -> str:
        return self._get("files/last_folder", "", str)

    @last_folder.setter
    def last_folder(self, value: str) -> None:
        self.q.setValue("files/last_folder", str(value))

    # --- view ------------------------------------------------------------------------------
    @property
    def overlay_opacity(self) -> float:
        return min(1.0, max(0.0, self._get("view/overlay_opacity", 0.5, float)))

    @overlay_opacity.setter
    def overlay_opacity(self, value: float) -> None:
        self.q.setValue("view/overlay_opacity", float(value))

    @property
    def colormap(self) -> str:
        v = self._get("view/colormap", COLORMAPS[0], str)
        return v if v in COLORMAPS else COLORMAPS[0]

    @colormap.setter
    def colormap(self, value: str) -> None:
        self.q.setValue("view/colormap", str(value))

    @property
    def show_level1(self) -> bool:
        return self._get("view/show_level1", False, bool)

    @show_level1.setter
    def show_level1(self, value: bool) -> None:
        self.q.setValue("view/show_level1", bool(value))

    @property
    def show_level2(self) -> bool:
        return self._get("view/show_level2", True, bool)

    @show_level2.setter
    def show_level2(self, value: bool) -> None:
        self.q.setValue("view/show_level2", bool(value))

    @property
    def show_tiles(self) -> bool:
        return self._get("view/show_tiles", False, bool)

    @show_tiles.setter
    def show_tiles(self, value: bool) -> None:
        self.q.setValue("view/show_tiles", bool(value))

    @property
    def three_panes(self) -> bool:
        return self._get("view/three_panes", False, bool)

    @three_panes.setter
    def three_panes(self, value: bool) -> None:
        self.q.setValue("view/three_panes", bool(value))

    @property
    def show_histogram(self) -> bool:
        """The contrast histogram starts collapsed: the image gets the width (key H shows it)."""
        return self._get("view/show_histogram", False, bool)

    @show_histogram.setter
    def show_histogram(self, value: bool) -> None:
        self.q.setValue("view/show_histogram", bool(value))

    @property
    def theme(self) -> str:
        v = self._get("view/theme", "dark", str)
        return v if v in THEMES else "dark"

    @theme.setter
    def theme(self, value: str) -> None:
        self.q.setValue("view/theme", str(value))

    # --- analysis --------------------------------------------------------------------------
    @property
    def device(self) -> str:
        v = self._get("analysis/device", "auto", str)
        return v if v in DEVICES else "auto"

    @device.setter
    def device(self, value: str) -> None:
        self.q.setValue("analysis/device", str(value))

    @property
    def batch_scheduler(self) -> str:
        """Dask scheduler address for batch runs (``tcp://host:8786``); "" = this computer."""
        return self._get("batch/scheduler", "", str).strip()

    @batch_scheduler.setter
    def batch_scheduler(self, value: str) -> None:
        self.q.setValue("batch/scheduler", str(value or "").strip())

    @property
    def surface(self) -> str:
        """The analyst's surface context (fractoscope.analysis.context); default unknown."""
        from fractoscope.analysis.context import SURFACE_CONTEXTS

        v = self._get("analysis/surface", "unknown", str)
        return v if v in SURFACE_CONTEXTS else "unknown"

    @surface.setter
    def surface(self, value: str) -> None:
        self.q.setValue("analysis/surface", str(value))

    @property
    def auto_analyse(self) -> bool:
        return self._get("analysis/auto", True, bool)

    @auto_analyse.setter
    def auto_analyse(self, value: bool) -> None:
        self.q.setValue("analysis/auto", bool(value))
