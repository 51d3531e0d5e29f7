"""The bundled checkpoint on freshly generated fractographs from a seed never used in training.

The full acceptance run (`fractoscope synth T --per-class 30 --seed 4242` + `fractoscope evaluate T`)
is recorded in the model card; this is the same measurement on a smaller set that fits CI.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def synthetic_test_set(tmp_path_factory):
    from fractoscope.synth.generate import generate_dataset

    out = tmp_path_factory.mktemp("synth4242")
    # Seed 4242 is never used for training data (the bundled model used seed 1).
    generate_dataset(out, per_class=5, seed=4242, size=512)
    return out


def test_bundled_model_meets_accuracy_floor(synthetic_test_set):
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.train.evaluate import evaluate_folder

    ev = evaluate_folder(synthetic_test_set, Analyzer())
    assert ev.n == 50 and not ev.failed
    assert ev.level1_accuracy >= 0.97, ev.to_json_dict()["confusion_level1"]
    assert ev.level2_accuracy >= 0.92, ev.to_json_dict()["confusion_level2"]


def test_model_card_records_the_acceptance_run():
    from fractoscope.model.checkpoint import load_checkpoint

    card = load_checkpoint().card
    m = card["metrics"]["synthetic_test_seed4242"]
    assert m["n"] == 300
    assert m["level1_accuracy"] >= 0.97 and m["level2_accuracy"] >= 0.92
    assert "fractoscope evaluate" in m["command"]
    assert card["training"]["pixel_size_range_m"][0] < card["training"]["pixel_size_range_m"][1]
