""""Teach it your lab" (issue 24): a result the bundled model does not recognise offers Label as…
and the guided flow; the flow adds images (files, a drop, a labelled folder tree), shows the
count per class and the cross-validated accuracy as the library grows, updates the model and
switches the window to it. Real generated images (256 px), the real adaptation in the worker."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent

CLASSES = {"brittle_overload": "cleavage", "fatigue": "striations", "ductile_overload": "equiaxed_dimples"}


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, list[Path]]:
    """Three generated 256-px images of each morphology, in a 'user' folder tree (level1/level2)."""
    from fractoscope.synth.generate import generate_dataset

    out = tmp_path_factory.mktemp("teachsrc")
    generate_dataset(out, per_class=3, seed=7, size=256, classes=list(CLASSES.values()))
    return {l2: sorted((out / l1 / l2).glob("*.tif")) for l1, l2 in CLASSES.items()}


def _drop(widget, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    widget.dropEvent(QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))  # fmt: skip


def _flagged(w):
    """Show the window's real result again with the flag up (hand-set: the test must not depend
    on where the confidence rule puts this generated image)."""
    from fractoscope.analysis.results import Confidence

    res = w.result
    pred = dataclasses.replace(
        res.prediction, confidence=Confidence(0.41, 6.3, True, "unlike the images the model was trained on")
    )
    w.analysis_controller.show_result(dataclasses.replace(res, prediction=pred))
    return pred


def test_uncertain_result_offers_teaching_and_the_flow_adapts_and_switches(
    make_window, open_and_wait, qtbot, images, settings_path, tmp_path
):
    q = QSettings(str(settings_path), QSettings.Format.IniFormat)
    q.setValue("library/root", str(tmp_path / "lib"))  # an empty library
    q.sync()
    w = make_window(auto_analyse=True)
    feat = w.library
    feat.lib.cache_dir = str(tmp_path / "cache")
    assert feat.model_status.text().endswith("(bundled, not adapted)")
    query = images["striations"][0]
    open_and_wait(w, query, analyse=True)
    _flagged(w)
    panel = w.prediction_panel
    # The panel: not recognised, the guess, and the way out beside it.
    assert panel.banner.text() == "Not recognised with confidence: unlike the images the model was trained on"
    assert panel.actions.isVisible() and feat.teach_button.isVisible() and feat.panel_label_button.isVisible()
    assert feat.teach_button.text() == "Teach it your lab…" and feat.panel_label_button.text() == "Label as…"
    assert not panel.similar_button.isVisible()  # nothing to compare with yet
    assert "No labelled images of your lab to compare with yet" in panel.evidence.text()
    assert "Teach it your lab" in w.message_bar.text()  # said once, for the first flagged result

    feat.teach_button.click()
    d = feat.teach
    assert d is not None and d.isVisible() and d.windowTitle() == "Teach it your lab"
    # It starts on the class the model guessed; every class count is 0.
    pred = w.result.prediction
    assert d.selected_class() == (pred.level1.label, pred.level2.label)
    assert set(d.counts_shown().values()) == {"0"}
    assert not d.update_button.isEnabled()  # one class is not enough to adapt

    # 1. Files of one class (the dialog's own add), and a drop for a second class.
    d.select_class("brittle_overload", "cleavage")
    with qtbot.waitSignal(d.queue.finished, timeout=60_000):
        assert d.add_images(images["cleavage"])
    assert d.counts_shown()["Brittle overload"] == "3"
    assert d.counts_shown()["Brittle overload / Cleavage"] == "3"
    d.select_class("fatigue", "striations")
    _drop(d, images["striations"])
    qtbot.waitUntil(lambda: d.counts_shown().get("Fatigue / Fatigue striations") == "3", timeout=60_000)
    assert feat.lib.counts() == {"brittle_overload": {"cleavage": 3}, "fatigue": {"striations": 3}}
    assert all(p.is_file() for ps in images.values() for p in ps)  # originals stay
    # 2. The cross-validated accuracy appears as soon as two classes can be told apart.
    qtbot.waitUntil(lambda: "Cross-validated accuracy (3-fold, 6 images)" in d.accuracy.text(), timeout=300_000)
    assert d.update_button.isEnabled()

    # A labelled folder tree (mechanism/morphology/*.tif) adds a third class; the figure follows.
    tree = tmp_path / "labelled"
    (tree / "ductile_overload" / "equiaxed_dimples").mkdir(parents=True)
    (tree / "fatigue" / "striations").mkdir(parents=True)
    for p in images["equiaxed_dimples"]:
        shutil.copy(p, tree / "ductile_overload" / "equiaxed_dimples" / p.name)
    shutil.copy(images["striations"][0], tree / "fatigue" / "striations" / images["striations"][0].name)
    d.add_folder(tree)
    qtbot.waitUntil(lambda: "already in the library" in d.status.text() or "Added 3" in d.status.text(),
                    timeout=60_000)  # fmt: skip
    assert "Added 3 images; 1 already in the library." == d.status.text()
    assert d.counts_shown()["Ductile overload / Equiaxed dimples"] == "3"
    qtbot.waitUntil(lambda: "Cross-validated accuracy (3-fold, 9 images)" in d.accuracy.text(), timeout=300_000)
    assert d.history_label.text().startswith("Earlier: 6 images: mechanism ")
    assert ", morphology " in d.accuracy.text()
    assert [n for n, _ in d.history] == [6, 9]
    # The cross-validation that followed the import left its summary in place (it used to write its
    # own progress over it, and then an empty line: gone before anyone could read it).
    assert d.status.text() == "Added 3 images; 1 already in the library."

    # 3. Update model: the window switches to it (no question asked) and analyses again.
    with qtbot.waitSignal(w.analysisFinished, timeout=300_000) as analysed:
        assert d.update_model()
    new = d.new_model
    assert new and Path(new).is_file() and str(w.service.model_path) == new
    assert getattr(feat, "_question", None) is None
    assert feat.model_status.text() == f"Model: {Path(new).stem} (adapted from {pred.model.name})"
    assert analysed.args[0].model.name == Path(new).stem
    assert set(analysed.args[0].taxonomy.level1) == set(CLASSES)  # the library's own classes
    assert d.close_button.text() == "Done" and d.accuracy.text().startswith("Cross-validated accuracy (3-fold, 9 images)")
    d.close()


def test_teach_dialog_refuses_images_without_a_class(qtbot, tmp_path, images):
    from fractoscope.gui.library.library_dock import LibraryWidget
    from fractoscope.gui.library.teach_dialog import TeachDialog
    from fractoscope.model.taxonomy import Taxonomy

    lib = LibraryWidget(tmp_path / "lib")
    qtbot.addWidget(lib)
    d = TeachDialog(lib, Taxonomy.default())
    qtbot.addWidget(d)
    d.select_class("fatigue")  # a mechanism with morphologies: pick one of them
    assert not d.add_images(images["striations"])
    assert d.status.text() == "Pick a class first (a morphology under its mechanism)."
    d.select_class("fatigue", "striations")
    assert not d.add_images([tmp_path / "notes.txt"])
    assert d.status.text() == "No TIFF, PNG, JPEG or BMP image among those files."
    assert len(lib.library) == 0


def test_flagged_result_points_to_similar_images_and_the_report_names_them(
    make_window, open_and_wait, qtbot, images, settings_path, tmp_path
):
    """With a library: the Similar tab is raised for a flagged result, the panel points to it, and
    the exported PDF report says which library images were compared."""
    from fractoscope.adapt.library import ReferenceLibrary

    lib = ReferenceLibrary(tmp_path / "lib")
    for l1, l2 in CLASSES.items():
        lib.add(images[l2][1], l1, l2)
    q = QSettings(str(settings_path), QSettings.Format.IniFormat)
    q.setValue("library/root", str(tmp_path / "lib"))
    q.sync()
    w = make_window(auto_analyse=True)
    feat = w.library
    feat.lib.cache_dir = str(tmp_path / "cache")
    open_and_wait(w, images["striations"][0], analyse=True)
    qtbot.waitUntil(lambda: len(feat.similar.items) == 3, timeout=180_000)
    w.tabs.setCurrentWidget(w.info_panel)
    _flagged(w)
    panel = w.prediction_panel
    assert w.tabs.currentWidget() is feat.similar  # the evidence is shown, not hidden in a tab
    assert panel.similar_button.isVisible()
    assert panel.evidence.text().endswith("Compare the surface with the most similar of your 3 labelled images (Similar tab).")
    w.tabs.setCurrentWidget(w.info_panel)
    panel.similar_button.click()
    assert w.tabs.currentWidget() is feat.similar
    assert "Teach it your lab" not in w.message_bar.text()  # the library is not empty: no notice

    qtbot.waitUntil(lambda: len(feat.similar.items) == 3, timeout=180_000)
    out = w.export_report(tmp_path / "r.pdf")
    from PySide6.QtPdf import QPdfDocument

    doc = QPdfDocument()
    assert doc.load(str(out)) == QPdfDocument.Error.None_
    first = " ".join(doc.getAllText(0).text().replace("\u00a0", " ").split())
    doc.close()
    assert f"Compared with the 3 labelled images of the reference library {tmp_path / 'lib'}" in first
    for s in feat.similar.items:
        assert Path(s.path).name in first
