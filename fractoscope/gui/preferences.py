"""The window's preferences that are not the view's own state: the theme (application palette,
pane backgrounds, the View ▸ Theme actions) and where batch runs go (Tools ▸ Batch cluster…).

``PreferencesController(host)`` reads and writes ``host.settings`` (QSettings, so choices
persist) and applies them to ``host.viewer``, ``host.batch_panel`` and the status bar; the main
window keeps ``set_theme`` / ``set_batch_scheduler`` / ``ask_batch_scheduler`` as one-line doors.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit

from fractoscope.gui import theme

THEMES = ("dark", "light")


class PreferencesController(QObject):
    def __init__(self, host) -> None:
        super().__init__(host)
        self.host = host
        self.theme_group = QActionGroup(host)
        self.theme_actions: dict[str, QAction] = {}
        for name in THEMES:
            a = QAction(name.capitalize(), host, checkable=True)
            a.triggered.connect(lambda _c=False, n=name: self.set_theme(n))
            self.theme_group.addAction(a)
            self.theme_actions[name] = a

    # -- theme ------------------------------------------------------------------------------------
    def set_theme(self, name: str) -> None:
        app = QApplication.instance()
        if app is not None:
            theme.apply_theme(app, name)
        self.host.settings.theme = name
        self.theme_actions[name].setChecked(True)
        self.apply_view_background(name)

    def restore_theme(self) -> None:
        """At start-up: the saved theme's action checked and its pane backgrounds (the palette
        itself is applied by the app before the window is built)."""
        name = self.host.settings.theme
        self.theme_actions.get(name, self.theme_actions["dark"]).setChecked(True)
        self.apply_view_background(name)

    def apply_view_background(self, name: str) -> None:
        bg = theme.VIEW_BACKGROUND.get(name, theme.VIEW_BACKGROUND["dark"])
        viewer = self.host.viewer
        for pane in viewer.panes:
            pane.setBackground(bg)
        viewer.histogram.setBackground(bg)

    # -- batch cluster ----------------------------------------------------------------------------
    def set_batch_scheduler(self, address: str | None) -> None:
        """Batch runs go to this Dask scheduler (``tcp://host:8786``); empty = this computer."""
        address = (address or "").strip()
        self.host.settings.batch_scheduler = address
        self.host.batch_panel.scheduler = address or None
        self.host.statusBar().showMessage(
            f"Batch runs use the Dask cluster at {address}" if address else "Batch runs use this computer", 8000
        )

    def ask_batch_scheduler(self) -> None:
        text, ok = QInputDialog.getText(
            self.host, "Batch cluster",
            "Dask scheduler address for batch runs (e.g. tcp://lab-server:8786);\nleave empty to use this computer:",
            QLineEdit.EchoMode.Normal, self.host.settings.batch_scheduler,
        )  # fmt: skip
        if ok:
            self.set_batch_scheduler(text)
