"""Lab statistics: aligning a lab's pooled features to the training ones, as adjusted heads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fractoscope.analysis.labstats import (
    MIN_LAB_IMAGES,
    LabStats,
    adjusted_head,
    feature_affine,
    fit_lab_stats,
)
from fractoscope.errors import FractoscopeError

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


def test_affine_maps_lab_mean_and_spread_onto_the_training_ones():
    rng = np.random.default_rng(0)
    lab_feats = rng.normal(3.0, 2.0, size=(40, 5))
    lab = fit_lab_stats(lab_feats)
    train_mean, train_std = np.array([0.0, 1.0, -1.0, 2.0, 0.5]), np.array([1.0, 0.5, 2.0, 1.0, 0.1])
    a, c = feature_affine(lab, train_mean, train_std)
    mapped = a * lab_feats + c
    # Hand check: standardised over the lab, then scaled to the training spread and mean.
    expect = (lab_feats - lab_feats.mean(0)) / lab_feats.std(0) * train_std + train_mean
    np.testing.assert_allclose(mapped, expect, atol=1e-9)
    np.testing.assert_allclose(mapped.mean(0), train_mean, atol=1e-9)


def test_adjusted_head_equals_head_on_mapped_features():
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=(3, 4)), rng.normal(size=3)
    a, c = rng.uniform(0.5, 2, size=4), rng.normal(size=4)
    f = rng.normal(size=(7, 4))
    w2, b2 = adjusted_head(w, b, a, c)
    np.testing.assert_allclose(f @ w2.T + b2, (a * f + c) @ w.T + b, atol=1e-12)


def test_too_few_images_refused_and_round_trip():
    with pytest.raises(FractoscopeError, match=f"at least {MIN_LAB_IMAGES}"):
        fit_lab_stats(np.zeros((MIN_LAB_IMAGES - 1, 3)))
    lab = fit_lab_stats(np.arange(60.0).reshape(20, 3), model_sha256="abc")
    back = LabStats.from_dict(lab.to_dict())
    np.testing.assert_allclose(back.mean, lab.mean, atol=1e-5)
    assert back.images == 20 and back.model_sha256 == "abc"
    assert back.describe() == "adjusted to this lab's 20 images"
    with pytest.raises(FractoscopeError, match="unreadable lab statistics"):
        LabStats.from_dict({"format": "fractoscope-lab-stats/1", "mean": [1, 2], "std": [1], "images": 3})


def test_analyzer_heads_follow_lab_stats_and_come_back():
    """Tile logits with lab statistics equal the trained heads applied to the mapped features,
    computed here by hand from the raw head weights; clearing them restores the trained logits."""
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.io import read_sem

    an = Analyzer(device="cpu")
    sem = read_sem(sorted(SAMPLES.glob("*.tif"))[0])
    prep = an.prepare(sem)
    base = an.image_outputs(prep)
    m = an.model
    w1, b1 = m.head_level1.weight.detach().numpy().astype(np.float64), m.head_level1.bias.detach().numpy().copy()
    w2, b2 = m.head_level2.weight.detach().numpy().astype(np.float64), m.head_level2.bias.detach().numpy().copy()
    d = base.features.shape[1]
    rng = np.random.default_rng(2)
    an.confidence_model.feature_mean = rng.normal(size=d)
    an.confidence_model.feature_std = rng.uniform(0.5, 1.5, size=d)
    lab_std = rng.uniform(0.5, 1.5, size=d)
    lab_std[:8] = 1e-3  # dimensions the lab hardly varies along: the spread floor must apply
    lab = LabStats(rng.normal(size=d), lab_std, 25)
    an.set_lab_stats(lab)
    adj = an.image_outputs(prep)
    spread = np.maximum(lab.std, 0.25 * an.confidence_model.feature_std)
    f = (base.features - lab.mean) / spread * an.confidence_model.feature_std + an.confidence_model.feature_mean
    d1 = w1.shape[1]
    np.testing.assert_allclose(adj.logits_level1, f[:, :d1] @ w1.T + b1, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(adj.logits_level2, f[:, d1:] @ w2.T + b2, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(adj.features, base.features, atol=1e-5)  # features are the heads' inputs
    assert an.lab_stats is lab
    an.set_lab_stats(None)
    again = an.image_outputs(prep)
    np.testing.assert_allclose(again.logits_level1, base.logits_level1, atol=1e-6)
    assert an.lab_stats is None


def test_analyzer_refuses_lab_stats_without_training_statistics():
    from fractoscope.analysis.pipeline import Analyzer

    an = Analyzer(device="cpu")
    an.confidence_model.feature_mean = None
    with pytest.raises(FractoscopeError, match="training feature statistics"):
        an.set_lab_stats(LabStats(np.zeros(3), np.ones(3), 20))
