"""Issue 23.4/23.5 in the window: single images adjusted to the reference library's lab statistics
(fitted and stored with the library), the surface-context combo box (persisted, re-analyses), and
the batch panel's lab-statistics checkbox and surface choice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from fractoscope.synth import generate_dataset  # noqa: E402

TEN = [
    "equiaxed_dimples", "shear_dimples", "cleavage", "intergranular", "striations",
    "beach_marks", "abrasive_grooves", "adhesive_delamination", "pitting", "mud_cracking",
]


@pytest.fixture(scope="module")
def model_copy(tmp_path_factory) -> Path:
    """The bundled weights with hand-set training feature statistics in the card (the block
    ``fractoscope calibrate`` writes; the bundled v2 card has none yet)."""
    from fractoscope.analysis.confidence import _encode
    from fractoscope.model.checkpoint import card_path_for, default_model_path

    src = default_model_path()
    d = tmp_path_factory.mktemp("model")
    dst = d / src.name
    shutil.copy2(src, dst)
    card = json.loads(card_path_for(src).read_text(encoding="utf-8"))
    from fractoscope.analysis.pipeline import Analyzer

    m = Analyzer(src, device="cpu").model
    dim = m.head_level1.in_features + m.head_level2.in_features
    card["confidence"]["feature_stats"] = {
        "images": 100,
        "mean": _encode(np.full(dim, 0.3, np.float32)),
        "std": _encode(np.full(dim, 0.5, np.float32)),
    }
    card_path_for(dst).write_text(json.dumps(card), encoding="utf-8")
    return dst


@pytest.fixture(scope="module")
def lab_images(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("labimgs") / "gen"
    generate_dataset(src, per_class=2, seed=29, size=256, classes=TEN)
    return src


def _library(root: Path, images: Path) -> None:
    from fractoscope.adapt.library import ReferenceLibrary
    from fractoscope.model.taxonomy import Taxonomy

    lib = ReferenceLibrary(root)
    tax = Taxonomy.default()
    for p in sorted(images.rglob("*.tif")):
        l2 = p.parent.name
        lib.add(p, tax.parent_of(l2), l2)


def test_single_image_uses_library_lab_stats_and_surface_combo(
    make_window, open_and_wait, qtbot, settings_path, tmp_path, model_copy, lab_images, fractograph
) -> None:
    from PySide6.QtCore import QSettings

    lib_root = tmp_path / "lib"
    _library(lib_root, lab_images)
    q = QSettings(str(settings_path), QSettings.Format.IniFormat)
    q.setValue("library/root", str(lib_root))
    q.sync()
    w = make_window(auto_analyse=True, model_path=model_copy)
    w.library.lib.cache_dir = str(tmp_path / "cache")
    w.library._share_library()  # noqa: SLF001 - the cache folder set after the window was built
    assert w.surface.value == "unknown"  # the default
    open_and_wait(w, fractograph, analyse=True, timeout=600_000)
    pred = w.result.prediction
    assert pred.lab_adjustment == "adjusted to this lab's 20 images"
    stored = json.loads((lib_root / "lab_stats.json").read_text(encoding="utf-8"))
    assert stored["images"] == 20 and stored["model_sha256"] == pred.model.sha256
    panel = w.prediction_panel
    assert panel.provenance.isVisible()
    assert "Lab statistics: adjusted to this lab's 20 images" in panel.provenance.text()
    assert "adjusted to this lab's 20 images" in w.statusBar().currentMessage()

    # The surface context: the combo re-analyses, the result and the panel say it, it persists.
    with qtbot.waitSignal(w.analysisFinished, timeout=300_000) as done:
        w.surface.set_value("worn")
    worn = done.args[0]
    assert worn.surface_context["context"] == "worn" and worn.level1.label == "wear"
    assert "Surface context: worn surface" in panel.provenance.text()
    assert QSettings(str(settings_path), QSettings.Format.IniFormat).value("analysis/surface") == "worn"
    w.close()
    w2 = make_window(auto_analyse=False, model_path=model_copy)
    assert w2.surface.value == "worn" and w2.service.surface == "worn"


def test_batch_panel_lab_stats_checkbox_and_surface(qtbot, tmp_path, model_copy, lab_images) -> None:
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.gui.batch.batch_panel import BatchPanel

    analyzer = Analyzer(model_copy, device="cpu")  # a card with training feature statistics
    panel = BatchPanel(lambda: analyzer)
    qtbot.addWidget(panel)
    assert panel.lab_stats_box.isChecked() and panel.surface_combo.currentData() == "unknown"
    paths = sorted(lab_images.rglob("*.tif"))[:3]
    panel.add_paths(paths)
    panel.surface_combo.setCurrentIndex(panel.surface_combo.findData("fracture"))
    with qtbot.waitSignal(panel.finished, timeout=300_000):
        panel.start(tmp_path / "out")
    # Three images: off, said once; every row carries the surface context.
    assert "at least 20" in panel.lab_stats_message
    rows = (tmp_path / "out" / "results.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(rows) == 4 and all(r.endswith(",fracture") for r in rows[1:])
    assert not (tmp_path / "out" / "lab_stats.json").exists()
