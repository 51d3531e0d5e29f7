"""Without a display the app says so in one line instead of letting Qt abort the process."""

import os
import subprocess
import sys
from pathlib import Path

SAMPLE = sorted((Path(__file__).resolve().parents[2] / "resources" / "samples").glob("*.tif"))[0]


def test_no_display_gives_one_clear_line():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    r = subprocess.run([sys.executable, "-m", "fractoscope", str(SAMPLE)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "no display found" in r.stderr and "Traceback" not in r.stderr


def _ldd_missing(lib: Path) -> list[str]:
    """Libraries the dynamic linker cannot find for ``lib`` (what ``ldd`` says, independently)."""
    import shutil

    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    out = subprocess.run([ldd, str(lib)], capture_output=True, text=True).stdout
    return [ln.split("=>")[0].strip() for ln in out.splitlines() if "not found" in ln]


def test_display_without_usable_xcb_plugin_names_the_missing_library():
    """DISPLAY is set, but Qt's X11 plugin cannot load (or no server answers there): one line that
    names every missing library (found here with ldd), never Qt's abort."""
    import PySide6

    plugin = Path(PySide6.__file__).resolve().parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.is_file() or not sys.platform.startswith("linux"):
        import pytest

        pytest.skip("no xcb plugin on this platform")
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["DISPLAY"] = ":987"  # no X server there
    r = subprocess.run([sys.executable, "-m", "fractoscope", str(SAMPLE)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    missing = _ldd_missing(plugin)
    if missing:
        for lib in missing:
            assert lib in lines[0]
        assert "apt install" in lines[0]
    else:
        assert "no X server at DISPLAY=:987" in lines[0] or "libxcb-cursor" in lines[0]
