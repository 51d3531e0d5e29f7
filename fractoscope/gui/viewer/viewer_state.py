"""What the viewer shows, as one Qt-free object that the views observe (napari's ViewerModel idea).

The panes, the toolbar check boxes, the menu actions and the saved preferences never talk to each
other: each one sets fields here and re-draws itself when told a field changed. So a key press,
a toolbar click and a restored preference all take the same path, and the state can be read (and
tested) without a window.

``state.observe(callback)`` registers ``callback(name, value)``; it is called after every change
of a field's value (not when the same value is set again). Callbacks run in the caller's thread,
which is always the GUI thread: worker threads never see this object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

Observer = Callable[[str, Any], None]


@dataclass(frozen=True)
class TileMark:
    """One tile of the grid: box in image pixels, its label and colour."""

    y0: int
    x0: int
    y1: int
    x1: int
    label: str
    color: str
    voting: bool = True


@dataclass(eq=False)
class ViewerState:
    """The viewer's state. Set fields directly (or with ``update``); observers hear of each change."""

    cam1: np.ndarray | None = None  # level-1 Grad-CAM shown (values in [0, 1]); None = none
    cam2: np.ndarray | None = None
    cam1_label: str = ""
    cam2_label: str = ""
    show_level1: bool = False
    show_level2: bool = True
    level2_available: bool = True  # False for a level-1-only model: no level-2 CAM, no toggle
    opacity: float = 0.5
    colormap: str = "inferno"
    three_panes: bool = False
    show_tiles: bool = False
    show_histogram: bool = False
    tiles: tuple[TileMark, ...] = ()
    pixel_size_m: float | None = None
    _observers: list[Observer] = field(default_factory=list, repr=False)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or "_observers" not in self.__dict__:
            object.__setattr__(self, name, value)  # construction, private fields
            return
        if name not in _FIELDS:
            raise AttributeError(f"ViewerState has no field {name!r}")
        value = _coerce(name, value)
        old = self.__dict__.get(name)
        if _same(old, value):
            return
        object.__setattr__(self, name, value)
        for cb in list(self._observers):
            cb(name, value)

    def update(self, **values: Any) -> None:
        for k, v in values.items():
            setattr(self, k, v)

    def observe(self, callback: Observer) -> Callable[[], None]:
        """Call ``callback(name, value)`` after each change; returns a function that stops it."""
        self._observers.append(callback)
        return lambda: self._observers.remove(callback) if callback in self._observers else None

    # --- per-level access (levels are 1 and 2) -------------------------------------------------
    def cam(self, level: int) -> np.ndarray | None:
        return self.cam1 if level == 1 else self.cam2

    def cam_label(self, level: int) -> str:
        return self.cam1_label if level == 1 else self.cam2_label

    def shows(self, level: int) -> bool:
        """The user wants this level's CAM drawn (and, for level 2, the model has one)."""
        if level == 1:
            return self.show_level1
        return self.show_level2 and self.level2_available

    def set_cam(self, level: int, cam: np.ndarray | None, label: str = "") -> None:
        self.update(**{f"cam{level}": cam, f"cam{level}_label": label})

    def set_shown(self, level: int, on: bool) -> None:
        setattr(self, f"show_level{level}", bool(on))

    def clear_result(self) -> None:
        """Forget the analysis shown (a new image, or a new analysis starting)."""
        self.update(cam1=None, cam2=None, cam1_label="", cam2_label="", tiles=(), level2_available=True)


_FIELDS = {f.name for f in fields(ViewerState) if not f.name.startswith("_")}


def _coerce(name: str, value: Any) -> Any:
    if name == "opacity":
        return min(1.0, max(0.0, float(value)))
    if name == "tiles":
        return tuple(value)
    if name.startswith("show_") or name in ("three_panes", "level2_available"):
        return bool(value)
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return a is b  # a new map is a change even when equal: cheap and never wrong
    return a == b
