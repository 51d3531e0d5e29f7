"""The bundled checkpoint on freshly generated fractographs from a seed never used in training.

The full acceptance run (`fractoscope synth T --per-class 30 --seed 4242 --size 512` +
`fractoscope evaluate T`) is recorded in the model card; these tests repeat the measurement on a
smaller set that fits CI, so a changed model, generator or pipeline that breaks the floors fails
here rather than in the card.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def synthetic_test_set(tmp_path_factory):
    from fractoscope.synth.generate import generate_dataset

    out = tmp_path_factory.mktemp("synth4242")
    # Seed 4242 is never used for training data (the bundled model used seed 1).
    generate_dataset(out, per_class=5, seed=4242, size=512, workers=2)  # both cores: 8.6 s, not 14
    return out


@pytest.fixture(scope="module")
def analyzer():
    from fractoscope.analysis.pipeline import Analyzer

    return Analyzer()


# The floors issue 9 sets for generated images (fresh seed, 300 images) are level 1 >= 0.97 and
# level 2 >= 0.92. On the current generator (24ae9cc) the bundled hffnet2d-v2 scored 0.980 / 0.977
# on seed 4242, 0.977 / 0.967 on seed 7373 and 0.970 / 0.967 on seed 8484, a seed made after the
# weights were chosen (model card). The default suite guards against regressions below that, with
# room for the sampling noise of 50 images (one image is 2 points); the slow test below repeats the
# full measurement on the three seeds.
#
# hffnet2d-v3 (frozen ImageNet/DINOv2 backbones, trained on generator 26e020c with the issue-23
# low-magnification families) is held to issue 23's regression floors instead, level 1 >= 0.95 and
# level 2 >= 0.90 on a fresh seed. With tiles overlapping by a third it scored 0.957 / 0.927 on seed
# 4242, 0.960 / 0.943 on seed 7373 and 0.953 / 0.913 on seed 8484 (`fractoscope evaluate`, model
# card), so the slow test below passes on all three, but with one or two images to spare.
REGRESSION_FLOOR = (0.90, 0.88)
TARGET_FLOOR = (0.95, 0.90)


@pytest.fixture(scope="module")
def evaluation(synthetic_test_set, analyzer):
    """The 50 images scored once: the floor test reads the figures, the pixel-size test reuses the
    calibrated answers (the same analysis it would otherwise repeat on 25 of them)."""
    from fractoscope.train.evaluate import evaluate_folder

    return evaluate_folder(synthetic_test_set, analyzer)


def test_bundled_model_stays_above_its_regression_floor(evaluation):
    ev = evaluation
    assert ev.n == 50 and not ev.failed
    assert ev.level1_accuracy >= REGRESSION_FLOOR[0], ev.to_json_dict()["confusion_level1"]
    assert ev.level2_accuracy >= REGRESSION_FLOOR[1], ev.to_json_dict()["confusion_level2"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [4242, 7373, 8484])
def test_bundled_model_meets_the_issue_floors(tmp_path, analyzer, seed):
    from fractoscope.synth.generate import generate_dataset
    from fractoscope.train.evaluate import evaluate_folder

    generate_dataset(tmp_path, per_class=30, seed=seed, size=512)
    ev = evaluate_folder(tmp_path, analyzer)
    assert ev.n == 300 and not ev.failed
    assert ev.level1_accuracy >= TARGET_FLOOR[0] and ev.level2_accuracy >= TARGET_FLOOR[1]


def test_pixel_size_is_not_a_shortcut(synthetic_test_set, analyzer, evaluation):
    """Removing the calibration (the 'unknown scale' embedding, as for most real micrographs) costs
    at most 2 of 25 images at level 1: the texture carries the class, not the pixel size."""
    from fractoscope.calibration import Calibration
    from fractoscope.io import read_sem
    from fractoscope.train.data import scan_labelled_folder

    items, _ = scan_labelled_folder(synthetic_test_set)
    items = items[::2]  # 25 images, every class
    assert {i.level1 for i in items} == set(analyzer.model_info.taxonomy.level1)
    # evaluate_folder analysed each image as read, with its pixel size (CAMs off, as here).
    right = {r["path"]: r["correct_level1"] for r in evaluation.images}
    with_px, without = [], []
    for it in items:
        sem = read_sem(it.path)
        assert sem.calibration.pixel_size_m is not None  # the generator calibrates every image
        with_px.append(right[it.path.relative_to(synthetic_test_set).as_posix()])
        bare = sem.with_calibration(Calibration.none())
        without.append(analyzer.analyze(bare, with_cams=False).level1.label == it.level1)
    assert sum(without) >= sum(with_px) - 2, (with_px, without)
