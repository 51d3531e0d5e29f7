"""Dark (default) and light themes: a Fusion palette plus matching pyqtgraph colours."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

# Colours the custom-painted parts (scale bar, warnings, tile grid) share with the palette.
WARNING_COLOR = "#f0a030"
ERROR_COLOR = "#e05050"
HIGHLIGHT_COLOR = "#3d8ee0"

_DARK = {
    QPalette.ColorRole.Window: "#2b2b2e",
    QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#1f1f22",
    QPalette.ColorRole.AlternateBase: "#29292c",
    QPalette.ColorRole.ToolTipBase: "#3a3a3e",
    QPalette.ColorRole.ToolTipText: "#f0f0f0",
    QPalette.ColorRole.Text: "#e6e6e6",
    QPalette.ColorRole.Button: "#353539",
    QPalette.ColorRole.ButtonText: "#e6e6e6",
    QPalette.ColorRole.BrightText: "#ff6060",
    QPalette.ColorRole.Link: "#5aa0f0",
    QPalette.ColorRole.Highlight: HIGHLIGHT_COLOR,
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.PlaceholderText: "#8a8a8a",
}

VIEW_BACKGROUND = {"dark": "#111113", "light": "#d8d8d8"}
VIEW_FOREGROUND = {"dark": "#d0d0d0", "light": "#202020"}


def apply_theme(app: QApplication, theme: str = "dark") -> None:
    """Fusion style with a dark or light palette (the widgets' pyqtgraph views follow)."""
    app.setStyle("Fusion")
    if theme == "light":
        pal = app.style().standardPalette()
    else:
        pal = QPalette()
        for role, colour in _DARK.items():
            pal.setColor(role, QColor(colour))
        for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
            pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
    app.setPalette(pal)
    pg.setConfigOptions(
        background=VIEW_BACKGROUND.get(theme, VIEW_BACKGROUND["dark"]),
        foreground=VIEW_FOREGROUND.get(theme, VIEW_FOREGROUND["dark"]),
        antialias=True,
    )
