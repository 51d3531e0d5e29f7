"""Shared test set-up: headless Qt, paths to the shared real SEM data, small thread pools."""

import gc
import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Deterministic, polite on a loaded 2-core CI machine.
os.environ.setdefault("OMP_NUM_THREADS", "2")
# The app's log file (fractoscope.applog) goes to a throw-away folder, never the tester's home;
# subprocesses (the CLI, the window) inherit it.
os.environ.setdefault("FRACTOSCOPE_DATA_DIR", tempfile.mkdtemp(prefix="fractoscope-test-data-"))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()
SEM_TIFF = SHARED_DATA / "sem-tiff"


@pytest.fixture(scope="session")
def sem_tiff_dir() -> Path:
    """Folder of real vendor TIFFs (../shared/data/sem-tiff). Absent, the tests that need it skip
    on a developer's machine, but fail under CI (env ``CI`` set, as CI services do): there a
    missing data folder is a broken set-up, and skipping would pass the vendor tests unseen."""
    if not (SEM_TIFF / "MANIFEST.md").is_file():
        why = f"shared SEM data not found at {SEM_TIFF} (run from a checkout beside shared/)"
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI is set, so the real vendor-file tests must run", pytrace=False)
        pytest.skip(why)
    return SEM_TIFF


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(autouse=True, scope="module")
def _empty_tile_cache():
    """Each test module starts with an empty in-process tile cache (fractoscope.analysis.tilecache):
    another module's images must not make this module's analyses faster or its timings different."""
    import sys

    tc = sys.modules.get("fractoscope.analysis.tilecache")  # not imported yet: nothing to empty
    if tc is not None and tc._shared is not None:
        tc._shared.clear()
    yield


@pytest.fixture(autouse=True)
def _collect_garbage_when_gui_disabled_it():
    """The GUI turns automatic gc off (it collects on a Qt timer in the GUI thread); outside a
    running event loop, collect after each test so memory does not pile up."""
    yield
    if not gc.isenabled():
        gc.collect()
