"""The core is usable without Qt: importing it (and the headless commands) never loads Qt."""

import subprocess
import sys

CORE = [
    "fractoscope.calibration",
    "fractoscope.io",
    "fractoscope.imaging",
    "fractoscope.model.hffnet",
    "fractoscope.model.checkpoint",
    "fractoscope.analysis.pipeline",
    "fractoscope.analysis.bench",
    "fractoscope.synth.generate",
    "fractoscope.train.trainer",
    "fractoscope.train.evaluate",
    "fractoscope.batch",
    "fractoscope.batch.runner",
    "fractoscope.report",
    "fractoscope.report.data",
    "fractoscope.selftest",
    "fractoscope.atomic",
    "fractoscope.cli",
]


def test_core_modules_do_not_import_qt():
    code = (
        "import sys, importlib\n"
        f"for m in {CORE!r}: importlib.import_module(m)\n"
        "from fractoscope.cli import build_parser; build_parser()  # imports every command module\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6'))\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_version_and_help():
    from fractoscope import __version__

    r = subprocess.run([sys.executable, "-m", "fractoscope", "--version"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and __version__ in r.stdout
    r = subprocess.run([sys.executable, "-m", "fractoscope", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0
    for cmd in ("info", "predict", "batch", "report", "synth", "train", "evaluate", "bench"):
        assert cmd in r.stdout
