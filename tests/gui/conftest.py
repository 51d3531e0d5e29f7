"""GUI test fixtures: isolated QSettings, small calibrated images, a window factory."""

from __future__ import annotations

from pathlib import Path

# pyqtgraph (the app's) and pytestqt (the test extra's) are hard dependencies: imported plainly,
# a missing one is an error, not a reason to skip every window test.
import pyqtgraph  # noqa: F401
import pytest
import pytestqt  # noqa: F401
from gui_helpers import PIXEL_SIZE_M, write_textured_tiff  # noqa: F401
from PySide6.QtCore import QSettings

from fractoscope.gui.main_window import MainWindow
from fractoscope.gui.settings import AppSettings


@pytest.fixture
def textured_tiff(tmp_path: Path) -> Path:
    return write_textured_tiff(tmp_path / "textured.tif")


@pytest.fixture(scope="session")
def fractograph(tmp_path_factory) -> Path:
    """A generated (``fractoscope synth``) 256 x 256 calibrated fatigue fractograph."""
    from fractoscope.cli import main

    out = tmp_path_factory.mktemp("synth")
    rc = main(["synth", str(out), "--per-class", "1", "--size", "256", "--classes", "striations", "--seed", "7"])
    assert rc == 0
    files = sorted(out.rglob("*.tif"))
    assert files, "synth wrote no image"
    return files[0]


@pytest.fixture(scope="session")
def analyzer():
    """One real Analyzer (bundled model, CPU) shared by the tests that run batches."""
    from fractoscope.analysis.pipeline import Analyzer

    return Analyzer(device="cpu")


@pytest.fixture
def settings_path(tmp_path: Path) -> Path:
    """An ini file of its own: tests never touch the user's real settings."""
    return tmp_path / "settings" / "fractoscope-test.ini"


@pytest.fixture
def make_window(qtbot, settings_path):
    """Factory: a shown MainWindow on the test's settings file (closed at teardown)."""

    def make(auto_analyse: bool = False, size: tuple[int, int] | None = (1400, 900), **kw) -> MainWindow:
        settings = AppSettings(QSettings(str(settings_path), QSettings.Format.IniFormat))
        w = MainWindow(settings, auto_analyse=auto_analyse, **kw)
        qtbot.addWidget(w)
        if size:
            w.resize(*size)
        w.show()
        qtbot.waitExposed(w)
        return w

    return make


@pytest.fixture
def open_and_wait(qtbot):
    """``open_and_wait(window, path, analyse=False)``: open and wait until shown (and analysed)."""

    def run(window: MainWindow, path: Path, analyse: bool = False, timeout: int = 120_000) -> MainWindow:
        signal = window.analysisFinished if analyse else window.imageLoaded
        with qtbot.waitSignal(signal, timeout=timeout, raising=True):
            window.open_paths([path])
        return window

    return run


@pytest.fixture
def make_tiff(tmp_path: Path):
    """``make_tiff(name, size=256, pixel_size_m=50e-9)``: a textured calibrated TIFF in tmp_path."""

    def make(name: str = "textured.tif", **kw) -> Path:
        return write_textured_tiff(tmp_path / name, **kw)

    return make
