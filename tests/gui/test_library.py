"""Reference library dock, "Update model" in the worker, and the similar-images panel (pytest-qt)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fractoscope.gui.library.library_dock import LibraryWidget, build_label_menu
from fractoscope.gui.library.similar_panel import SimilarPanel

CLASSES = {"brittle_overload": "cleavage", "ductile_overload": "equiaxed_dimples", "fatigue": "striations"}


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, list[Path]]:
    """Three generated 256-px images of each of three morphologies, in a 'user' folder."""
    from fractoscope.synth.generate import generate_dataset

    out = tmp_path_factory.mktemp("libsrc")
    generate_dataset(out, per_class=3, seed=5, size=256, classes=list(CLASSES.values()))
    return {l2: sorted((out / l1 / l2).glob("*.tif")) for l1, l2 in CLASSES.items()}


def _trigger(menu, *texts: str) -> None:
    """Click through nested menu entries by their text."""
    for i, text in enumerate(texts):
        act = next(a for a in menu.actions() if a.text() == text)
        if i == len(texts) - 1:
            act.trigger()
        else:
            menu = act.menu()


def test_label_as_fills_the_library_and_update_model_adapts_in_the_worker(qtbot, images, tmp_path):
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.io import read_sem
    from fractoscope.model.taxonomy import Taxonomy

    w = LibraryWidget(tmp_path / "lib")
    qtbot.addWidget(w)
    w.cache_dir = str(tmp_path / "cache")
    w.set_taxonomy(Taxonomy.default())
    assert not w.update_button.isEnabled()  # empty library: nothing to adapt
    current: list[str] = []
    for l1, l2 in CLASSES.items():
        for p in images[l2]:
            current[:] = [str(p)]
            menu = w.label_menu(lambda: current[0])
            tax = Taxonomy.default()
            _trigger(menu, tax.display_name(l1), tax.display_name(l2))
    assert w.counts() == {l1: {l2: 3} for l1, l2 in CLASSES.items()}
    assert all(p.is_file() for ps in images.values() for p in ps)  # originals stay
    top = [w.tree.topLevelItem(i) for i in range(w.tree.topLevelItemCount())]
    assert [it.text(1) for it in top] == ["3", "3", "3"]
    assert w.update_button.isEnabled()

    with qtbot.waitSignal(w.modelReady, timeout=300_000) as ready:
        w.update_model()
        assert w.cancel_button.isVisibleTo(w)  # Cancel offered while it runs
    model = Path(ready.args[0])
    assert model.is_file() and model.parent == tmp_path / "lib" / ".models"
    assert w.last_summary.counts == {l1: {l2: 3} for l1, l2 in CLASSES.items()}
    assert "3-fold cross-validated accuracy" in w.status.text()
    assert not w.cancel_button.isVisibleTo(w)
    # The new model predicts, in the library's taxonomy.
    an = Analyzer(model, device="cpu")
    assert an.model_info.taxonomy.level1 == list(CLASSES)
    pred = an.analyze(read_sem(images["striations"][0]))
    assert pred.level1.label == "fatigue" and pred.level2.label == "striations"


def test_update_model_can_be_cancelled(qtbot, images, tmp_path):
    w = LibraryWidget(tmp_path / "lib")
    qtbot.addWidget(w)
    w.cache_dir = str(tmp_path / "cache")  # empty: feature extraction takes a while
    for l1, l2 in CLASSES.items():
        for p in images[l2]:
            w.library.add(p, l1, l2)
    w.refresh()
    with qtbot.waitSignal(w.adapter.cancelled, timeout=120_000):
        w.update_model()
        w.cancel_button.click()
    assert w.status.text() == "Update cancelled"
    assert not list((tmp_path / "lib" / ".models").glob("*.safetensors"))


def test_relabel_and_remove_change_only_the_library(qtbot, images, tmp_path):
    w = LibraryWidget(tmp_path / "lib")
    qtbot.addWidget(w)
    src = images["cleavage"][0]
    copy = w.label_image(src, "brittle_overload", "cleavage")
    moved = w.relabel(copy, "brittle_overload", "intergranular")
    assert w.counts() == {"brittle_overload": {"intergranular": 1}} and moved.is_file()
    assert w.remove(src, confirm=False) is False  # not a library file: refused
    assert src.is_file()
    assert w.remove(moved, confirm=False) and w.counts() == {}


def test_label_menu_offers_the_class_tree_and_library_classes(qtbot, tmp_path, images):
    from fractoscope.adapt.library import ReferenceLibrary
    from fractoscope.model.taxonomy import Taxonomy

    lib = ReferenceLibrary(tmp_path / "lib")
    lib.add(images["cleavage"][0], "hydrogen_embrittlement", "quasi_cleavage")
    picked = []
    from PySide6.QtWidgets import QWidget

    parent = QWidget()
    qtbot.addWidget(parent)
    menu = build_label_menu(parent, Taxonomy.default(), lib, lambda a, b: picked.append((a, b)))
    titles = [a.text() for a in menu.actions() if a.menu()]
    assert titles[:5] == [Taxonomy.default().display_name(c) for c in Taxonomy.default().level1]
    assert "Hydrogen embrittlement" in titles
    _trigger(menu, "Fatigue", "Beach marks")
    _trigger(menu, "Wear", "Mechanism only (no morphology)")
    assert picked == [("fatigue", "beach_marks"), ("wear", None)]


def test_similar_panel_lists_the_image_itself_then_its_class(qtbot, images, tmp_path):
    from fractoscope.adapt.library import ReferenceLibrary
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.io import read_sem

    lib = ReferenceLibrary(tmp_path / "lib")
    for l1, l2 in CLASSES.items():
        for p in images[l2]:
            lib.add(p, l1, l2)
    query = images["equiaxed_dimples"][1]
    pred = Analyzer(device="cpu").analyze(read_sem(query))
    panel = SimilarPanel(k=3)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.queue.finished, timeout=120_000):
        panel.request(pred, lib.root, None, device="cpu", cache_dir=tmp_path / "cache")
    assert panel.list.count() == 3
    first = panel.items[0]
    assert Path(first.path).name == query.name and first.level2 == "equiaxed_dimples"
    assert first.similarity == pytest.approx(1.0, abs=1e-4)
    assert sum(s.level1 == "ductile_overload" for s in panel.items) >= 2
    assert "Equiaxed dimples" in panel.list.item(0).text()
    with qtbot.waitSignal(panel.openReference) as clicked:
        rect = panel.list.visualItemRect(panel.list.item(0))
        from PySide6.QtCore import Qt

        qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert clicked.args == [first.path]
    # An empty library says so.
    shutil.rmtree(lib.root)
    with qtbot.waitSignal(panel.queue.finished, timeout=60_000):
        panel.request(pred, lib.root, None, device="cpu")
    assert panel.list.count() == 0 and "empty" in panel.note.text()


def test_main_window_labels_updates_switches_model_and_compares(make_window, open_and_wait, qtbot, images,
                                                               settings_path, tmp_path):
    """In the window: Label as… the current image, Update model in the worker, accept the switch;
    the status bar names the new model, the image is re-analysed with it, the Similar tab lists
    the image's own library copy first and a click shows it in the second pane."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMessageBox

    from fractoscope.model.taxonomy import Taxonomy

    q = QSettings(str(settings_path), QSettings.Format.IniFormat)
    q.setValue("library/root", str(tmp_path / "lib"))
    q.sync()
    w = make_window(auto_analyse=True)
    feat = w.library
    feat.lib.cache_dir = str(tmp_path / "cache")
    query = images["striations"][0]
    open_and_wait(w, query, analyse=True)
    tax = Taxonomy.default()
    feat.label_menu.aboutToShow.emit()  # filled from the class tree when it opens
    _trigger(feat.label_menu, tax.display_name("fatigue"), tax.display_name("striations"))
    assert feat.lib.counts() == {"fatigue": {"striations": 1}}
    for l1, l2 in CLASSES.items():
        for p in images[l2][1:]:
            feat.lib.library.add(p, l1, l2)
    feat.lib.refresh()
    assert "bundled" in feat.model_status.text()

    with qtbot.waitSignal(feat.lib.modelReady, timeout=300_000) as ready:
        feat.act_update.trigger()
    new_model = ready.args[0]
    qtbot.waitUntil(lambda: getattr(feat, "_question", None) is not None and feat._question.isVisible())
    with qtbot.waitSignal(w.analysisFinished, timeout=300_000) as analysed:
        feat._question.done(QMessageBox.StandardButton.Yes)
    assert str(w.service.model_path) == new_model
    assert Path(new_model).stem in feat.model_status.text() and "adapted from" in feat.model_status.text()
    pred = analysed.args[0]
    assert pred.model.name == Path(new_model).stem and pred.taxonomy.level1 == list(CLASSES)
    # Earlier models stay selectable: the bundled one and the new one.
    feat.model_menu.aboutToShow.emit()
    names = [a.text() for a in feat.model_menu.actions()]
    assert any("bundled" in n for n in names) and any(Path(new_model).stem in n for n in names)

    qtbot.waitUntil(lambda: len(feat.similar.items) == 3, timeout=120_000)
    first = feat.similar.items[0]
    assert Path(first.path).name == query.name and first.level2 == "striations"
    with qtbot.waitSignal(feat.reference_loader.finished, timeout=60_000):
        feat.similar.openReference.emit(first.path)
    assert w.viewer.reference_title is not None and "Fatigue striations" in w.viewer.reference_title
    feat.similar.back_button.click()
    assert w.viewer.reference_title is None
