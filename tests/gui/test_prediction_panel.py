"""What the prediction panel says about a real analysis: the confidence state and a model whose
level 2 was not trained; and the batch-cluster preference reaching the batch panel."""

from __future__ import annotations

import json
import shutil

import pytest

from fractoscope.analysis import wording


def _level1_only_model(tmp_path):
    """The bundled checkpoint with its card saying level 2 was not trained (what ``adapt``
    writes for a lab that labels mechanisms only; the weights and their hash are unchanged)."""
    from fractoscope.model.checkpoint import default_model_path

    src = default_model_path()
    dst = tmp_path / "level1-only.safetensors"
    shutil.copy(src, dst)
    card = json.loads(src.with_suffix(".json").read_text(encoding="utf-8"))
    card["level2_trained"] = False
    dst.with_suffix(".json").write_text(json.dumps(card), encoding="utf-8")
    return dst


def test_level1_only_model_hides_level2(make_window, open_and_wait, qtbot, tmp_path, textured_tiff):
    w = make_window(auto_analyse=True, model_path=_level1_only_model(tmp_path))
    w.view_state.three_panes = True
    w.act_l2.setChecked(True)
    open_and_wait(w, textured_tiff, analyse=True)
    pred = w.result.prediction
    assert not pred.has_level2
    panel = w.prediction_panel
    assert panel.level2_note.isVisible() and "not trained" in panel.level2_note.text()
    tax = pred.taxonomy
    # the tree lists mechanisms only, and the headline names no morphology
    assert panel.class_labels() and set(panel.class_labels()) <= {tax.display_name(c) for c in tax.level1}
    assert not any(tax.display_name(c).lower() in panel.summary.text().lower() for c in tax.level2)
    # no level-2 map, toggle or pane; the tiles carry mechanisms
    assert w.view_state.cam2 is None and w.view_state.cam1 is not None
    assert not w.act_l2.isVisible() and not w.act_three.isVisible()
    assert w.viewer.drawn_overlays()[2] == []
    assert "not trained" in w.viewer.panes[2].title.text
    assert {t.label for t in w.view_state.tiles} <= {tax.display_name(c) for c in tax.level1}
    # clicking a mechanism still shows its CAM
    other = next(c for c in tax.level1 if c != pred.level1.label)
    w.show_class_cam(1, other)
    assert w.viewer.cam_labels[1] == tax.display_name(other)


@pytest.mark.parametrize("which", ["generated", "zeiss"])
def test_confidence_is_shown_with_the_headline(make_window, open_and_wait, fractograph, sem_tiff_dir, which):
    # a generated fractograph (usually a clear result) and a real polished-section Zeiss image the
    # model was never meant for (uncertain with today's model: 42 % vs 41 %)
    path = fractograph if which == "generated" else sem_tiff_dir / "rosettasciio" / "test_tiff_Zeiss_SEM_1k.tif"
    w = open_and_wait(make_window(auto_analyse=True), path, analyse=True)
    pred = w.result.prediction
    panel = w.prediction_panel
    head, conf = wording.headline(pred), wording.confidence_text(pred)
    if pred.confidence.uncertain:  # the banner says "Uncertain"; the lines below do not repeat it
        head, conf = (t.split(":", 1)[1].strip() for t in (head, conf))
    assert panel.summary.text().lower() == head.lower()
    assert panel.confidence.isVisible() and panel.confidence.text().lower() == conf.lower()
    assert panel.summary.toolTip() == wording.DECODING_RULE
    if pred.confidence.uncertain:
        assert panel.banner.isVisible() and panel.banner.text().startswith("Uncertain")
        assert pred.confidence.reason in panel.banner.text()
        assert not panel.summary.font().bold()
    else:
        assert not panel.banner.isVisible() and panel.summary.font().bold()


def test_batch_cluster_preference(make_window, qtbot, settings_path):
    w = make_window()
    assert w.batch_panel.scheduler is None  # this computer by default
    w.set_batch_scheduler(" tcp://lab-server:8786 ")
    assert w.batch_panel.scheduler == "tcp://lab-server:8786"
    w.close()
    w2 = make_window()
    assert w2.settings.batch_scheduler == "tcp://lab-server:8786"
    assert w2.batch_panel.scheduler == "tcp://lab-server:8786"
    w2.set_batch_scheduler("")
    assert w2.batch_panel.scheduler is None
