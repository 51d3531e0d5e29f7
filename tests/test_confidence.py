"""Honest confidence: temperature fit, out-of-distribution score, the card block, JSON fields.

The model is loaded and calibrated once per module (on a small generated set, in a temporary
copy of the bundled checkpoint; models/ is never touched).
"""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from fractoscope.analysis.confidence import (
    MIN_OOD_THRESHOLD,
    REASON_OOD,
    ConfidenceModel,
    MahalanobisOOD,
    fit_temperature,
    hierarchical_probabilities,
)
from fractoscope.cli import main

# Natural photographs and a page of text bundled with scikit-image (no download): nothing like a
# fracture surface, so the model must say the image is unlike what it was trained on.
NATURAL = ("camera", "astronaut", "coffee", "chelsea", "rocket", "text")


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("true_t", [1.7, 3.0])
def test_temperature_fit_recovers_a_known_temperature(true_t):
    """Labels drawn from softmax(z / T): the fit must find T from the logits and labels alone."""
    rng = np.random.default_rng(0)
    z = rng.normal(0, 4.0, size=(4000, 5))
    p = _softmax(z / true_t)
    y = np.array([rng.choice(5, p=row) for row in p])
    assert fit_temperature(z, y) == pytest.approx(true_t, rel=0.08)


def test_temperature_fit_through_tile_averaging():
    """Per-image tile logits averaged after the temperature, as the pipeline does."""
    rng = np.random.default_rng(1)
    true_t = 2.0
    logits, weights, labels = [], [], []
    for _ in range(1500):
        z = rng.normal(0, 3.0, size=(4, 5)) + rng.normal(0, 3.0, size=(1, 5))
        w = rng.uniform(0.2, 1.0, 4)
        p = (w[:, None] * _softmax(z / true_t)).sum(0) / w.sum()
        logits.append(z)
        weights.append(w)
        labels.append(rng.choice(5, p=p))
    assert fit_temperature(logits, labels, weights) == pytest.approx(true_t, rel=0.1)


def test_numpy_hierarchy_equals_the_network():
    from fractoscope.model.hffnet import HFFNet2d, HFFNetConfig
    from fractoscope.model.taxonomy import Taxonomy

    tax = Taxonomy.default()
    net = HFFNet2d(HFFNetConfig(parent_index=tuple(tax.parent_index()), input_size=64))
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 2, (6, 5)).astype(np.float32), rng.normal(0, 2, (6, 10)).astype(np.float32)
    lp1, lp2 = net.conditional_log_probs(torch.from_numpy(a), torch.from_numpy(b))
    p1, p2 = hierarchical_probabilities(a, b, tax.parent_index())
    np.testing.assert_allclose(p1, lp1.exp().numpy(), atol=1e-6)
    np.testing.assert_allclose(p2, lp2.exp().numpy(), atol=1e-6)
    # A temperature of t on both levels is the same as dividing the logits by t.
    q1, q2 = hierarchical_probabilities(a, b, tax.parent_index(), 2.5, 2.5)
    r1, r2 = hierarchical_probabilities(a / 2.5, b / 2.5, tax.parent_index())
    np.testing.assert_allclose(q1, r1, atol=1e-6)
    np.testing.assert_allclose(q2, r2, atol=1e-6)


def test_mahalanobis_score_is_one_in_distribution_and_grows_outside():
    """Gaussian classes with a known covariance: typical points score ~1, shifted ones far more."""
    rng = np.random.default_rng(3)
    d, n = 40, 600
    a = rng.normal(size=(d, d)) / math.sqrt(d)
    cov = a @ a.T + 0.1 * np.eye(d)
    chol = np.linalg.cholesky(cov)
    means = rng.normal(0, 3, size=(3, d))
    y = rng.integers(0, 3, n)
    x = means[y] + rng.normal(size=(n, d)) @ chol.T
    ood = MahalanobisOOD.fit(x, y, n_components=d - 1)
    y2 = rng.integers(0, 3, 300)
    fresh = means[y2] + rng.normal(size=(300, d)) @ chol.T
    s_in = ood.score(fresh)
    # sqrt(chi2_d / d) has mean ~1; shrinkage and estimation error widen it a little.
    assert 0.85 < np.median(s_in) < 1.3
    # 20 standard deviations along the least-varying axis: sqrt((D + 400) / D) = 3.3 in theory;
    # shrinkage widens that axis, so ask for 2x the in-distribution median.
    evals, evecs = np.linalg.eigh(cov)
    far = fresh + 20.0 * math.sqrt(evals[0]) * evecs[:, 0]
    assert np.median(ood.score(far)) > 2 * np.median(s_in)
    # The same shift along the most-varying axis is far less unusual: the covariance matters.
    along = fresh + 20.0 * math.sqrt(evals[0]) * evecs[:, -1]
    assert np.median(ood.score(along)) < 1.2 * np.median(s_in)
    back = MahalanobisOOD.from_card(json.loads(json.dumps(ood.to_card())))
    np.testing.assert_allclose(back.score(fresh), s_in, rtol=1e-4)


# --- with the bundled model, calibrated on a small generated set --------------------------------------
@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    from fractoscope.model.checkpoint import default_model_path
    from fractoscope.synth import generate_dataset

    root = tmp_path_factory.mktemp("calibrate")
    src = default_model_path()
    model = root / src.name
    shutil.copy(src, model)
    shutil.copy(src.with_suffix(".json"), model.with_suffix(".json"))
    data = root / "data"
    # A synth folder: for a model whose card lists held-out generator families, calibrate uses
    # those images as the reference, as in production.
    generate_dataset(data, per_class=4, seed=9101, size=320, workers=2)  # 4 tiles each: the fit, not the image size, is tested
    # A non-default number of principal axes: the card's command must say so to reproduce the fit.
    rc = main(["calibrate", str(model), str(data), "--device", "cpu", "--components", "32"])
    assert rc == 0
    from fractoscope.analysis.pipeline import Analyzer

    return model, Analyzer(model, "cpu"), root


def test_calibrate_writes_a_readable_block(calibrated):
    model, analyzer, _ = calibrated
    card = json.loads(model.with_suffix(".json").read_text())
    block = card["confidence"]
    assert block["temperature_level1"] >= 1.0 and block["temperature_level2"] >= 1.0
    assert 0.5 <= block["min_probability"] < 1.0
    # In spreads of the calibration images' scores: never inside their bulk (the rule's floor;
    # v2 calibrated here at 3.1, v3 at 2.4).
    assert math.isfinite(block["ood"]["threshold"]) and block["ood"]["threshold"] >= MIN_OOD_THRESHOLD
    assert "real" in block["ood"]["threshold_why"]  # the choice is explained in the card
    assert block["fitted_on"]["command"].endswith("--components 32")
    assert block["ood"]["statistics"]["mahalanobis"]["variances"]["shape"] == [32]
    cm = ConfidenceModel.from_card(block)
    assert cm.fitted and cm.ood is not None
    assert analyzer.confidence_model.fitted


@pytest.fixture(scope="module")
def bundled():
    """The bundled model with the confidence block it ships with (fitted by `fractoscope calibrate`
    on a generated set of its trained and held-out generator families; see its card)."""
    from fractoscope.analysis.pipeline import Analyzer

    return Analyzer(device="cpu")


def test_bundled_model_ships_a_confidence_block(bundled):
    card = bundled.model_info.card
    assert "confidence" in card, "run `fractoscope calibrate` on the bundled model (see its card)"
    block = card["confidence"]
    assert bundled.confidence_model.fitted and block["ood"]["threshold"] >= 2.0
    # The held-out generator families it was calibrated with are not flagged; its own images rarely.
    assert block["figures"]["ood_flagged_fraction_calibration"] <= 0.05
    assert block["figures"].get("ood_flagged_fraction_reference", 0.0) <= 0.05


@pytest.mark.xfail(strict=True, reason="hffnet2d-v3 misses one of six: skimage 'coffee' scores OOD 2.55 under "
                   "its threshold 2.85 (400 calibration images) and reads fatigue 0.74; v2's card, calibrated on "
                   "1200 images, flagged all six. Recalibrating v3 on 1200 images is open (issue 24 note)")
def test_natural_images_are_flagged_unlike_the_training_images(bundled):
    """Photographs and a page of text: the bundled model must say they are unlike what it was
    trained on. Its threshold was set from fractographs alone (calibration images and held-out
    generator families), so this is an independent expectation, not a fitted one."""
    import skimage.data

    from fractoscope.io.sem_image import SemImage

    flagged = {}
    for name in NATURAL:
        img = np.asarray(getattr(skimage.data, name)())
        if name == "text":
            img = np.tile(img, (2, 2))  # 172 x 448 px is below one tile: repeat the page
        pred = bundled.analyze(SemImage(data=img), with_cams=False)
        assert math.isfinite(pred.confidence.ood_score)
        flagged[name] = (pred.confidence.uncertain and REASON_OOD in pred.confidence.reason, pred.confidence.ood_score)
    assert all(f for f, _ in flagged.values()), (flagged, bundled.confidence_model.ood_threshold)


def test_fresh_generated_images_are_mostly_not_flagged_unlike(calibrated):
    from fractoscope.io import read_sem
    from fractoscope.synth import generate_dataset

    _, analyzer, root = calibrated
    paths = generate_dataset(root / "fresh", per_class=1, seed=9202, size=320)
    unlike = [REASON_OOD in analyzer.analyze(read_sem(p), with_cams=False).confidence.reason for p in paths]
    assert sum(unlike) <= 2, unlike


def test_predict_json_carries_the_confidence(calibrated, capsys, tmp_path):
    from fractoscope.io import read_sem

    model, analyzer, root = calibrated
    sample = sorted((root / "data").rglob("*.tif"))[0]
    # The card's temperature set by hand (the fit may land on 1.0, where a check would prove
    # nothing): predict must follow whatever the card says.
    t1 = 2.5
    tempered_model = tmp_path / model.name
    shutil.copy(model, tempered_model)
    card = json.loads(model.with_suffix(".json").read_text())
    card["confidence"]["temperature_level1"] = t1
    tempered_model.with_suffix(".json").write_text(json.dumps(card))
    assert main(["predict", str(sample), "--model", str(tempered_model), "--json"]) == 0
    (d,) = json.loads(capsys.readouterr().out)
    c = d["confidence"]
    assert set(c) == {"calibrated", "ood_score", "uncertain", "reason"}
    assert 0 < c["calibrated"] <= 1 and math.isfinite(c["ood_score"]) and isinstance(c["uncertain"], bool)
    assert (c["reason"] == "") == (not c["uncertain"])
    # The calibrated probability, recomputed here from the network's raw tile logits and the
    # card's temperature: the tile-weighted mean of softmax(z / T), its maximum.
    out = analyzer.image_outputs(analyzer.prepare(read_sem(sample)))
    vote = out.weights > 0
    z, w = np.asarray(out.logits_level1, np.float64)[vote], np.asarray(out.weights, np.float64)[vote]
    tempered = (w[:, None] * _softmax(z / t1)).sum(0) / w.sum()
    raw = (w[:, None] * _softmax(z)).sum(0) / w.sum()
    assert abs(raw.max() - tempered.max()) > 1e-3  # the temperature matters for this image
    assert c["calibrated"] == pytest.approx(tempered.max(), abs=1e-5)
    assert d["level1"]["probability"] == pytest.approx(tempered.max(), abs=1e-5)
    assert d["level1"]["label"] == analyzer.model_info.taxonomy.level1[int(tempered.argmax())]


def test_evaluate_json_has_selective_figures(calibrated, capsys):
    model, _, root = calibrated
    assert main(["evaluate", str(root / "data"), "--model", str(model), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    s = d["selective"]
    assert s["n"] == d["n"] == 40
    assert 0 <= s["flagged"] <= s["n"] and s["flagged_fraction"] == pytest.approx(s["flagged"] / s["n"])
    if s["flagged"] < s["n"]:
        assert 0 <= s["confident_level1_accuracy"] <= 1


def test_unreadable_block_is_a_model_error(calibrated, tmp_path):
    from fractoscope.errors import ModelError

    model, _, _ = calibrated
    with pytest.raises(ModelError, match="confidence"):
        ConfidenceModel.from_card({"temperature_level1": "warm"})
    dst = tmp_path / model.name
    shutil.copy(model, dst)
    card = json.loads(model.with_suffix(".json").read_text())
    del card["confidence"]["min_probability"]
    dst.with_suffix(".json").write_text(json.dumps(card))
    assert main(["predict", str(sorted((model.parent / "data").rglob("*.tif"))[0]), "--model", str(dst)]) == 2


def test_model_without_block_uses_the_margin_rule():
    from fractoscope.analysis.results import MARGIN_RULE, Confidence

    c = Confidence.from_margin(np.array([0.5, 0.4, 0.1]))
    assert c.uncertain and c.reason and math.isnan(c.ood_score) and c.calibrated == pytest.approx(0.5)
    c = Confidence.from_margin(np.array([0.5 + MARGIN_RULE, 0.3 - MARGIN_RULE, 0.2]))
    assert not c.uncertain and c.reason == ""
    assert c.to_dict()["ood_score"] is None  # JSON has no NaN
