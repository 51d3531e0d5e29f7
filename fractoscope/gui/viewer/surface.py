"""The analyst's surface context in the main window: a toolbar combo box (persisted).

Fracture / worn / corroded surface restricts the mechanisms the next analyses consider
(``fractoscope.analysis.context``); "Unknown surface" (the default) considers all of them.
Changing it re-analyses the image on screen, so the panel never shows a result of another context.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QComboBox, QLabel

from fractoscope.analysis.context import ALLOWED, SURFACE_CONTEXTS, SURFACE_NAMES


def _tooltip() -> str:
    rows = [
        f"{SURFACE_NAMES[c].capitalize()}: only {', '.join(sorted(m.replace('_', ' ') for m in ALLOWED[c]))}"
        for c in SURFACE_CONTEXTS
        if c in ALLOWED
    ]
    return (
        "What the image shows, if you know it: only the mechanisms of that surface are "
        "considered.\n" + "\n".join(rows) + "\nUnknown surface: all mechanisms (the default)."
    )


class SurfaceChoice(QObject):
    """The toolbar combo box; sets ``window.service.surface`` and the QSettings value."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.w = window
        self.combo = QComboBox()
        self.combo.setObjectName("surface_combo")
        for c in SURFACE_CONTEXTS:
            self.combo.addItem(SURFACE_NAMES[c].capitalize(), c)
        self.combo.setToolTip(_tooltip())
        current = window.settings.surface
        self.combo.setCurrentIndex(SURFACE_CONTEXTS.index(current))
        window.service.surface = current
        window.toolbar.addSeparator()
        window.toolbar.addWidget(QLabel(" Surface "))
        window.toolbar.addWidget(self.combo)
        self.combo.currentIndexChanged.connect(self._changed)

    @property
    def value(self) -> str:
        return str(self.combo.currentData())

    def set_value(self, context: str) -> None:
        self.combo.setCurrentIndex(SURFACE_CONTEXTS.index(context))

    def _changed(self, _index: int) -> None:
        c = self.value
        self.w.service.surface = c
        self.w.settings.surface = c
        if getattr(self.w, "sem", None) is not None and getattr(self.w, "result", None) is not None:
            self.w.analyse()  # the shown result was for the previous context


def install_surface(window) -> SurfaceChoice:
    return SurfaceChoice(window)


__all__ = ["SurfaceChoice", "install_surface"]
