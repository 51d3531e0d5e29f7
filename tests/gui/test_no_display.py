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
