"""tests/conftest.py: without ../shared/data the real vendor-file tests skip on a developer's
machine but fail under CI (issue 27), so a CI run cannot pass them unseen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _run(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess:
    # A checkout with this conftest and no ../shared beside it.
    repo = tmp_path / "checkout"
    (repo / "tests").mkdir(parents=True)
    shutil.copy(TESTS / "conftest.py", repo / "tests" / "conftest.py")
    (repo / "pytest.ini").write_text("[pytest]\n")
    (repo / "tests" / "test_vendor.py").write_text("def test_needs_real_files(sem_tiff_dir):\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300,
    )


def test_missing_shared_data_skips_locally_and_fails_under_ci(tmp_path):
    assert not (tmp_path / "shared").exists()
    local = _run(tmp_path / "local", ci=False)
    assert local.returncode == 0 and "1 skipped" in local.stdout, local.stdout + local.stderr
    ci = _run(tmp_path / "ci", ci=True)
    assert ci.returncode == 1 and "CI is set" in ci.stdout, ci.stdout + ci.stderr
    assert "1 error" in ci.stdout  # a fixture failure: the test is reported, not skipped
