"""Window places persist through one owner (``AppSettings.save_window`` / ``restore_window``): a
window closed and opened again, on a settings file of the test's own, comes back where it was left.

Sizes stay under the offscreen platform's 800 x 600 virtual screen, which clamps larger ones.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtWidgets import QDialog, QDockWidget, QLabel, QMainWindow

from fractoscope.gui.settings import TEACH_WINDOW, AppSettings


def _settings(path) -> AppSettings:
    return AppSettings(QSettings(str(path), QSettings.Format.IniFormat))


def test_a_dialog_comes_back_at_the_size_it_was_left_at(qtbot, tmp_path):
    path = tmp_path / "s.ini"
    d = QDialog()
    qtbot.addWidget(d)
    d.resize(431, 287)
    d.show()
    qtbot.waitExposed(d)
    s = _settings(path)
    s.save_window(d, "probe")
    s.sync()
    d.close()
    del s
    assert "[probe]" in path.read_text() and "geometry=@ByteArray(" in path.read_text()

    again = QDialog()
    qtbot.addWidget(again)
    again.resize(200, 150)
    assert _settings(path).restore_window(again, "probe")
    again.show()
    qtbot.waitExposed(again)
    assert again.size() == QSize(431, 287)

    # Nothing kept under a name: the window is left as it is.
    other = QDialog()
    qtbot.addWidget(other)
    other.resize(222, 111)
    assert not _settings(path).restore_window(other, "never_saved")
    assert other.size() == QSize(222, 111)


def test_a_main_window_keeps_its_size_and_its_docks_places(qtbot, tmp_path):
    path = tmp_path / "s.ini"

    def make() -> tuple[QMainWindow, QDockWidget]:
        w = QMainWindow()
        qtbot.addWidget(w)
        w.setCentralWidget(QLabel("image"))
        dock = QDockWidget("Panel", w)
        dock.setObjectName("dock_probe")  # saveState finds docks by object name
        dock.setWidget(QLabel("panel"))
        w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        w.resize(500, 380)
        return w, dock

    w, dock = make()
    w.show()
    qtbot.waitExposed(w)
    w.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)  # the analyst moved it
    w.resize(512, 345)
    qtbot.wait(10)
    s = _settings(path)
    s.save_window(w)
    s.sync()
    w.close()

    w2, dock2 = make()
    assert w2.dockWidgetArea(dock2) == Qt.DockWidgetArea.RightDockWidgetArea
    assert _settings(path).restore_window(w2)
    w2.show()
    qtbot.waitExposed(w2)
    assert w2.size() == QSize(512, 345)
    assert w2.dockWidgetArea(dock2) == Qt.DockWidgetArea.LeftDockWidgetArea


def test_teach_dialog_reopens_where_it_was_left_also_after_a_restart(make_window, qtbot, settings_path, tmp_path):
    q = QSettings(str(settings_path), QSettings.Format.IniFormat)
    q.setValue("library/root", str(tmp_path / "lib"))  # never the user's own library
    q.sync()
    w = make_window()
    d = w.library.open_teach()
    qtbot.waitExposed(d)
    default = d.size()
    d.resize(default.width() + 60, default.height() + 25)
    qtbot.wait(10)
    left_at = d.size()
    assert left_at != default  # else the test could not tell a restored size from the default
    d.reject()
    assert _settings(settings_path).saved_geometry(TEACH_WINDOW) is not None

    d2 = w.library.open_teach()  # the same session: a new dialog
    qtbot.waitExposed(d2)
    assert d2 is not d and d2.size() == left_at
    d2.resize(default.width() + 30, default.height() + 10)
    qtbot.wait(10)
    last = d2.size()
    assert last not in (default, left_at)
    w.close()  # closed with the dialog still open: its place is kept too

    w2 = make_window()
    d3 = w2.library.open_teach()
    qtbot.waitExposed(d3)
    assert d3.size() == last
    d3.reject()
