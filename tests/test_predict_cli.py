"""`fractoscope predict` and the analysis pipeline on real files with the bundled model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fractoscope.cli import main

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


def _sample() -> Path:
    found = sorted(SAMPLES.glob("*.tif"))
    assert found, "bundled samples are missing from resources/samples"
    return found[0]


@pytest.fixture(scope="module")
def analyzer():
    from fractoscope.analysis.pipeline import Analyzer

    return Analyzer()


def test_predict_json_has_documented_keys(capsys, tmp_path):
    bad = tmp_path / "broken.tif"
    bad.write_text("this is not a TIFF")
    rc = main(["predict", str(_sample()), str(bad), "--json", "--cam-out", str(tmp_path / "cams")])
    out = capsys.readouterr()
    assert rc == 2  # one file failed
    data = json.loads(out.out)
    assert len(data) == 2
    ok, err = data
    for key in ("path", "level1", "level2", "probabilities", "alternatives", "confidence", "has_level2", "pixel_size_m", "calibration_source",
                "tiles", "device", "model", "timings"):
        assert key in ok, key
    assert set(ok["level1"]) == {"label", "probability"}
    p1, p2 = ok["probabilities"]["level1"], ok["probabilities"]["level2"]
    assert abs(sum(p1.values()) - 1) < 1e-4 and abs(sum(p2.values()) - 1) < 1e-4
    assert ok["model"]["sha256"] and len(ok["model"]["sha256"]) == 64
    assert ok["pixel_size_m"] and ok["calibration_source"] == "ImageJ"
    assert "error" in err and err["path"] == str(bad)
    # One clear line for the bad file, no traceback.
    assert "broken.tif" in out.err and "Traceback" not in out.err
    cams = list((tmp_path / "cams").iterdir())
    assert any(p.suffix == ".npz" for p in cams) and sum(p.suffix == ".png" for p in cams) == 2


def test_predicted_level2_is_child_of_level1_and_tiles_cover_image(analyzer):
    from fractoscope.io import read_sem

    sem = read_sem(_sample())
    pred = analyzer.analyze(sem)
    tax = pred.taxonomy
    assert tax.parent_of(pred.level2.label) == pred.level1.label
    # Children of each level-1 class sum to its probability.
    for i, parent in enumerate(tax.level1):
        kids = [tax.level2.index(c) for c in tax.children(parent)]
        assert abs(pred.p_level2[kids].sum() - pred.p_level1[i]) < 1e-5
    covered = np.zeros(sem.shape, bool)
    for t in pred.tiles:
        covered[t.y0:t.y1, t.x0:t.x1] = True
    assert covered.all()
    for level in (1, 2):
        cam = pred.cam(level, shape=sem.shape)
        assert cam.shape == sem.shape and np.isfinite(cam).all()
        assert cam.min() >= 0 and 0.9 < cam.max() <= 1.0 + 1e-6
    # Any class's CAM can be asked for, and differs from the predicted one's.
    other = next(c for c in tax.level2 if c != pred.level2.label)
    assert not np.allclose(pred.cam(2, other), pred.cam(2))


def test_cancel_stops_analysis(analyzer):
    from fractoscope.errors import AnalysisCancelled
    from fractoscope.io import read_sem

    calls = []
    with pytest.raises(AnalysisCancelled):
        analyzer.analyze(read_sem(_sample()), progress=lambda f, m: calls.append(f), cancel=lambda: len(calls) > 1)
    assert len(calls) == 2


def test_uncalibrated_and_out_of_range_images_are_flagged(analyzer):
    from fractoscope.calibration import Calibration
    from fractoscope.io import read_sem

    sem = read_sem(_sample())
    pred = analyzer.analyze(sem.with_calibration(Calibration.none()), with_cams=False)
    assert pred.pixel_size_m is None and any("no pixel size" in w for w in pred.warnings)
    lo, _ = analyzer.model_info.pixel_size_range_m
    tiny = sem.with_calibration(Calibration.isotropic(lo / 4, "manual"))
    pred = analyzer.analyze(tiny, with_cams=False)
    assert any("higher than any image the model was trained on" in w for w in pred.warnings)
    assert pred.analysis_pixel_size_m == pytest.approx(lo, rel=0.02)
    assert pred.tiles[-1].y1 <= sem.shape[0] and pred.tiles[-1].x1 <= sem.shape[1]


def test_predict_subprocess_human_output():
    r = subprocess.run([sys.executable, "-m", "fractoscope", "predict", str(_sample())],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "mechanism:" in r.stdout and "morphology:" in r.stdout


def test_blank_image_is_refused_not_classified(analyzer):
    """A frame with no fracture surface (the real FEI test files are blank) gets a clear error."""
    from fractoscope.errors import FractoscopeError
    from fractoscope.io.sem_image import SemImage

    blank = SemImage(data=np.full((300, 400), 37, np.uint8))
    with pytest.raises(FractoscopeError, match="nothing to classify"):
        analyzer.analyze(blank)


def test_coarse_images_are_enlarged_at_most_twice(analyzer):
    from dataclasses import replace

    from fractoscope.calibration import Calibration
    from fractoscope.io import read_sem

    # A 320-px corner (no data bar): enlarged twice it is 25 tiles, not the whole frame's ~100.
    sem = replace(read_sem(_sample()), databar_rows=0)
    sem = replace(sem, data=sem.data[:320, :320])
    _, hi = analyzer.model_info.pixel_size_range_m
    coarse = sem.with_calibration(Calibration.isotropic(hi * 10, "manual"))
    pred = analyzer.analyze(coarse, with_cams=False)
    assert pred.analysis_pixel_size_m == pytest.approx(hi * 5, rel=0.02)
    assert pred.image_shape == (320, 320)
    # 640 analysis px, 192-px tiles a third apart (128 px): ceil((640 - 192) / 128) + 1 = 5 per side
    assert pred.timings["tiles_run"] <= len(pred.tiles) == 25
    assert any("not resolved" in w for w in pred.warnings)


# --- decoding rule and wording ---------------------------------------------------------------------
JARGON = ("margin", "runner-up", "takes", "of the probability", "resampled", "level-1", "level 1", "logit", "softmax")


def _hand_prediction(p1: dict, p2: dict, level2_trained: bool = True):
    """A Prediction with hand-set probabilities (the Zeiss case of issue 14) for the wording."""
    from fractoscope.analysis.results import ModelInfo, Prediction
    from fractoscope.model.taxonomy import Taxonomy

    tax = Taxonomy.default()
    card = {} if level2_trained else {"level2_trained": False}
    info = ModelInfo("hand", "0" * 64, tax, 192, None, card)
    return Prediction(
        taxonomy=tax,
        p_level1=np.array([p1[k] for k in tax.level1], np.float32),
        p_level2=np.array([p2[k] for k in tax.level2], np.float32),
        tiles=[], cams_level1=None, cams_level2=None, cam_stride=8.0, image_shape=(768, 1024),
        model=info, device="cpu", pixel_size_m=None, calibration_source="none", analysis_pixel_size_m=None,
    )


ZEISS_P1 = {"brittle_overload": 0.45, "wear": 0.41, "corrosion": 0.09, "ductile_overload": 0.03, "fatigue": 0.02}
ZEISS_P2 = {
    "cleavage": 0.32, "intergranular": 0.13, "adhesive_delamination": 0.345, "abrasive_grooves": 0.065,
    "pitting": 0.07, "mud_cracking": 0.02, "equiaxed_dimples": 0.02, "shear_dimples": 0.01,
    "striations": 0.015, "beach_marks": 0.005,
}


def test_headline_is_the_top_of_its_own_alternatives():
    from fractoscope.analysis import wording

    pred = _hand_prediction(ZEISS_P1, ZEISS_P2)
    # By hand: brittle overload is the most likely mechanism (0.45 > 0.41), cleavage its most likely
    # morphology (0.32 > 0.13), although adhesive wear alone has more (0.345).
    assert pred.level1.label == "brittle_overload" and pred.level2.label == "cleavage"
    head = wording.best_guess(pred)  # flagged (0.45 vs 0.41): the guess follows the same rule
    assert "brittle overload" in head.lower() and "cleavage" in head and "45" in head
    alts = wording.alternatives(pred, 3)
    # Next by the same rule: the wear mechanism (0.41, best as adhesive wear), then the other
    # brittle-overload morphology (0.13), then corrosion (0.09).
    assert alts[0].startswith("Wear") and "adhesive wear" in alts[0] and "41" in alts[0]
    assert "intergranular" in alts[1] and "13" in alts[1]
    assert alts[2].startswith("Corrosion")
    # Every alternative is less likely than the headline mechanism.
    ranked = pred.ranked(3)
    assert all(a.probability < ranked[0].probability for a in ranked[1:])
    assert "most likely" in wording.DECODING_RULE and "mechanism" in wording.DECODING_RULE
    for text in [head, *alts, wording.confidence_text(pred), wording.DECODING_RULE]:
        assert not any(j in text.lower() for j in JARGON), text


def test_uncertain_headline_is_marked_and_worded_plainly():
    from fractoscope.analysis import wording

    pred = _hand_prediction(ZEISS_P1, ZEISS_P2)  # no fitted block: 0.45 vs 0.41 -> uncertain
    assert pred.confidence.uncertain
    assert wording.headline(pred) == "Not recognised with confidence: low confidence"
    assert wording.closest_text(pred) == "closest: Brittle overload (45\u00a0%), cleavage (32\u00a0%)"
    assert "not sure" in wording.confidence_text(pred) and "wear" in wording.confidence_text(pred)
    assert "Confident" not in wording.confidence_text(pred)


# The card's confidence block as `fractoscope calibrate` writes it (the two thresholds only).
CARD = {"confidence": {"min_probability": 0.5, "ood": {"threshold": 3.8}}}
SURE_P1 = {"fatigue": 0.91, "ductile_overload": 0.04, "brittle_overload": 0.03, "wear": 0.01, "corrosion": 0.01}
SURE_P2 = {
    "striations": 0.81, "beach_marks": 0.10, "equiaxed_dimples": 0.03, "shear_dimples": 0.01,
    "cleavage": 0.02, "intergranular": 0.01, "abrasive_grooves": 0.005, "adhesive_delamination": 0.005,
    "pitting": 0.005, "mud_cracking": 0.005,
}


def _with(pred, confidence, card=CARD):
    import dataclasses

    return dataclasses.replace(pred, model=dataclasses.replace(pred.model, card=card), confidence=confidence,
                               timings={"total_s": 1.25})


def test_flagged_result_reads_not_recognised_everywhere_in_predict_text(capsys):
    """`predict` text output of a hand-set flagged result: the headline, the guess on its own line,
    no "mechanism:" verdict line and no "Confident" sentence; the confident branch for contrast."""
    from fractoscope.analysis.results import Confidence
    from fractoscope.commands.predict import _print_human

    reason = "unlike the images the model was trained on"
    pred = _with(_hand_prediction(ZEISS_P1, ZEISS_P2), Confidence(0.45, 5.2, True, reason))
    _print_human("x.tif", pred, pred.to_json_dict())
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "  Not recognised with confidence: unlike the images the model was trained on"
    assert out[2] == "  closest: Brittle overload (45\u00a0%), cleavage (32\u00a0%)"
    assert out[3].startswith("  other candidates: Wear (41\u00a0%)")
    assert not any(ln.startswith(("  mechanism:", "  morphology:")) for ln in out)
    assert not any("Confident" in ln for ln in out)
    assert any(ln.startswith("  Uncertain: this image is unlike the images the model was trained on") for ln in out)

    sure = _with(_hand_prediction(SURE_P1, SURE_P2), Confidence(0.91, 1.0, False, ""))
    _print_human("y.tif", sure, sure.to_json_dict())
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "  Fatigue (91\u00a0%), showing fatigue striations (81\u00a0%)"
    assert out[2] == "  mechanism:  Fatigue (91\u00a0%)"
    assert "  Confident: 91\u00a0% for fatigue, and the image resembles the images the model was trained on." in out
    assert not any("closest" in ln or "Not recognised" in ln for ln in out)


def test_confident_sentence_needs_both_checks():
    """'Confident ... resembles the training images' only when the result is not flagged and both
    of the card's checks are met; a result a rule left unflagged past a threshold does not get it."""
    from fractoscope.analysis import wording
    from fractoscope.analysis.results import Confidence

    base = _hand_prediction(SURE_P1, SURE_P2)
    ok = _with(base, Confidence(0.91, 1.0, False, ""))
    assert wording.both_checks_pass(ok)
    for conf, card in [
        (Confidence(0.91, 4.5, False, ""), CARD),  # unflagged, but past the OOD threshold
        (Confidence(0.45, 1.0, False, ""), CARD),  # unflagged, but under the probability floor
        (Confidence(0.91, 1.0, False, ""), {}),  # no thresholds to check against
    ]:
        p = _with(base, conf, card)
        assert not wording.both_checks_pass(p)
        assert wording.confidence_text(p) == (
            "91\u00a0% for fatigue (calibrated). Not flagged as uncertain, but not every confidence "
            "check could be confirmed: treat it with care."
        ).replace("91", f"{round(100 * conf.calibrated)}")
        assert wording.headline(p).startswith("Fatigue")  # not flagged: still the answer


def test_level1_only_model_says_level2_not_trained():
    from fractoscope.analysis import wording

    pred = _hand_prediction(ZEISS_P1, ZEISS_P2, level2_trained=False)
    assert not pred.has_level2
    assert "cleavage" not in wording.headline(pred).lower()
    assert all("adhesive" not in a and "intergranular" not in a for a in wording.alternatives(pred, 4))
    d = pred.to_json_dict()
    assert d["level2"] is None and d["has_level2"] is False
    assert "not trained" in wording.level2_text(pred)


def test_tiles_are_hierarchically_consistent(analyzer):
    from fractoscope.io import read_sem
    from fractoscope.io.sem_image import SemImage

    sem = read_sem(SAMPLES / "intergranular_777_0.tif")
    data = np.array(sem.data, copy=True)
    data[:, : data.shape[1] // 3] = data.mean()  # a blank third: its tiles weigh 0 and must not vote
    pred = analyzer.analyze(SemImage(data=data, calibration=sem.calibration), with_cams=False)
    tax = pred.taxonomy
    d = pred.to_json_dict()
    # Expected values computed here from the tiles alone, not by the code under test.
    w = np.array([t.weight for t in pred.tiles], np.float64)
    p1 = np.array([t.p_level1 for t in pred.tiles], np.float64)
    p2 = np.array([t.p_level2 for t in pred.tiles], np.float64)
    assert (w == 0).sum() >= 3 and (w > 0).sum() >= 3, w  # the test needs both kinds of tile
    vote = w > 0  # a tile of weight 0 has no say (its probabilities need not even be computed)
    w, p1, p2 = w[vote], p1[vote], p2[vote]
    mean1 = (w[:, None] * p1).sum(0) / w.sum()
    mean2 = (w[:, None] * p2).sum(0) / w.sum()
    for i, c in enumerate(tax.level1):
        assert d["probabilities"]["level1"][c] == pytest.approx(mean1[i], abs=2e-6)
    for i, c in enumerate(tax.level2):
        assert d["probabilities"]["level2"][c] == pytest.approx(mean2[i], abs=2e-6)
    # Joint level-2 probabilities: a mechanism's morphologies add up to the mechanism, per tile
    # and for the image.
    for i, parent in enumerate(tax.level1):
        kids = [tax.level2.index(c) for c in tax.children(parent)]
        np.testing.assert_allclose(p2[:, kids].sum(1), p1[:, i], atol=1e-5)
        assert mean2[kids].sum() == pytest.approx(mean1[i], abs=1e-5)
    # Each tile's labels by hand, top-down: its most probable mechanism, then that mechanism's
    # most probable morphology; the area fractions are the weight shares of those labels.
    area1, area2 = dict.fromkeys(tax.level1, 0.0), dict.fromkeys(tax.level2, 0.0)
    items = [t for t, v in zip(d["tiles"]["items"], vote, strict=True) if v]
    for t, wi, q1, q2 in zip(items, w, p1, p2, strict=True):
        parent = tax.level1[int(np.argmax(q1))]
        child = max(tax.children(parent), key=lambda c: q2[tax.level2.index(c)])
        assert (t["level1"], t["level2"]) == (parent, child)
        area1[parent] += wi / w.sum()
        area2[child] += wi / w.sum()
    for c, v in area1.items():
        assert d["area_fractions_level1"][c] == pytest.approx(v, abs=1e-4)
    for c, v in area2.items():
        assert d["area_fractions_level2"][c] == pytest.approx(v, abs=1e-4)
    # The headline follows the same rule, on the image's probabilities.
    head1 = tax.level1[int(np.argmax(mean1))]
    head2 = max(tax.children(head1), key=lambda c: mean2[tax.level2.index(c)])
    assert (pred.level1.label, pred.level2.label) == (head1, head2)


def test_features_are_pooled_head_inputs(analyzer):
    from fractoscope.io import read_sem

    pred = analyzer.analyze(read_sem(_sample()), with_cams=False)
    cfg = analyzer.model.cfg
    assert pred.tile_features.shape == (len(pred.tiles), cfg.fused_dim + cfg.fine_dim)
    assert pred.features.dtype == np.float32 and pred.tile_features.dtype == np.float32
    w = np.array([t.weight for t in pred.tiles], np.float64)
    np.testing.assert_allclose(pred.features, (w[:, None] * pred.tile_features).sum(0) / w.sum(), rtol=1e-5)
    # The level-1 part times the level-1 head weights gives the tile logits: they are its inputs.
    import torch

    head = analyzer.model.head_level1
    logits = pred.tile_features[:, : cfg.fused_dim] @ head.weight.detach().numpy().T + head.bias.detach().numpy()
    p = torch.softmax(torch.from_numpy(logits) / analyzer.confidence_model.temperature_level1, 1).numpy()
    np.testing.assert_allclose(p, np.stack([t.p_level1 for t in pred.tiles]), atol=1e-4)


@pytest.mark.parametrize(("shape", "needs"), [((68, 68), True), ((10, 13), True), ((1, 1), False)])
def test_tiny_images_are_refused_with_one_line(tmp_path, capsys, shape, needs):
    import tifffile

    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.tif"
    tifffile.imwrite(path, (rng.random(shape) * 255).astype(np.uint8))
    assert main(["predict", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tiny.tif" in err[0] and "Traceback" not in err[0]
    if needs:
        assert f"too small to classify: {shape[1]} × {shape[0]} px, needs at least 192 × 192" in err[0]


def test_truncated_tiff_gives_exactly_one_stderr_line(tmp_path):
    path = tmp_path / "cut.tif"
    path.write_bytes(_sample().read_bytes()[:30000])
    r = subprocess.run([sys.executable, "-m", "fractoscope", "info", str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "cut.tif" in r.stderr
