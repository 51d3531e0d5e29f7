"""The image-input path is a core module: importing it must not pull in Qt."""

import subprocess
import sys


def test_io_and_info_do_not_import_qt(repo_root):
    code = (
        "import sys\n"
        "import fractoscope.io, fractoscope.commands.info\n"
        "from fractoscope.cli import main\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'PyQt5', 'PyQt6'))\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=repo_root, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
