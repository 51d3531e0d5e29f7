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
    conf = wording.confidence_text(pred)
    assert panel.summary.toolTip() == wording.DECODING_RULE
    if pred.confidence.uncertain:  # the banner is the headline; the guess follows in plain text
        assert panel.banner.isVisible()
        assert panel.banner.text() == f"Not recognised with confidence: {pred.confidence.reason}"
        assert panel.summary.text() == wording.closest_text(pred) and not panel.summary.font().bold()
        conf = conf.split(":", 1)[1].strip()  # "Uncertain:" is not repeated under the banner
        assert "Confident" not in panel.confidence.text()
    else:
        assert not panel.banner.isVisible() and panel.summary.font().bold()
        assert panel.summary.text() == wording.headline(pred)
    assert panel.confidence.isVisible() and panel.confidence.text().lower() == conf.lower()


def _hand(p1: dict, p2: dict, confidence, card: dict):
    """A Prediction with hand-set probabilities and confidence (no model run)."""
    import numpy as np

    from fractoscope.analysis.results import ModelInfo, Prediction
    from fractoscope.model.taxonomy import Taxonomy

    tax = Taxonomy.default()
    return Prediction(
        taxonomy=tax,
        p_level1=np.array([p1.get(k, 0.0) for k in tax.level1], np.float32),
        p_level2=np.array([p2.get(k, 0.0) for k in tax.level2], np.float32),
        tiles=[], cams_level1=None, cams_level2=None, cam_stride=8.0, image_shape=(64, 64),
        model=ModelInfo("hand", "0" * 64, tax, 192, None, card), device="cpu", pixel_size_m=None,
        calibration_source="none", analysis_pixel_size_m=None, confidence=confidence,
    )


P1 = {"ductile_overload": 0.54, "fatigue": 0.30, "wear": 0.1, "brittle_overload": 0.04, "corrosion": 0.02}
P2 = {"equiaxed_dimples": 0.40, "shear_dimples": 0.14, "striations": 0.2, "beach_marks": 0.1,
      "abrasive_grooves": 0.06, "adhesive_delamination": 0.04, "cleavage": 0.03, "intergranular": 0.01,
      "pitting": 0.01, "mud_cracking": 0.01}
CARD = {"confidence": {"min_probability": 0.5, "ood": {"threshold": 3.8}}}


def test_panel_words_a_flagged_and_a_confident_result(qtbot):
    from fractoscope.analysis.results import Confidence
    from fractoscope.gui.viewer.panels import PredictionPanel

    panel = PredictionPanel()
    qtbot.addWidget(panel)
    panel.show()
    flagged = _hand(P1, P2, Confidence(0.54, 6.1, True, "unlike the images the model was trained on"), CARD)
    panel.set_prediction(flagged)
    assert panel.banner.isVisible()
    assert panel.banner.text() == "Not recognised with confidence: unlike the images the model was trained on"
    assert panel.summary.text() == "closest: Ductile overload (54\u00a0%), equiaxed dimples (40\u00a0%)"
    assert not panel.summary.font().bold()
    assert panel.confidence.text().startswith("This image is unlike the images the model was trained on")
    assert "Confident" not in panel.confidence.text()
    assert panel.actions.isVisible() and panel.evidence.isVisible()

    sure = _hand(P1, P2, Confidence(0.54, 1.2, False, ""), CARD)
    panel.set_prediction(sure)
    assert not panel.banner.isVisible() and not panel.actions.isVisible()
    assert panel.summary.text() == "Ductile overload (54\u00a0%), showing equiaxed dimples (40\u00a0%)"
    assert panel.summary.font().bold()
    assert panel.confidence.text() == (
        "Confident: 54\u00a0% for ductile overload, and the image resembles the images the model was trained on."
    )


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
