"""One tile -> image aggregation (fractoscope.imaging.weights.tile_weighted_mean) for the
prediction, the confidence (temperature, OOD distance and energy) and the adapted heads, with one
rule for an image none of whose tiles votes: refused in one line. Expected values by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fractoscope.errors import FractoscopeError
from fractoscope.imaging.weights import NOTHING_TO_CLASSIFY, image_probabilities, tile_weighted_mean


def test_weighted_mean_by_hand() -> None:
    # (1*[1, 0] + 3*[0, 1]) / 4 = [0.25, 0.75]; the third tile does not vote.
    v = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    got = tile_weighted_mean(v, np.array([1.0, 3.0, 0.0]))
    assert got.tolist() == pytest.approx([0.25, 0.75], abs=1e-12)
    # Scalars per tile: (0.5*2 + 1.5*6) / 2 = 5.
    assert float(tile_weighted_mean(np.array([2.0, 6.0, 100.0]), np.array([0.5, 1.5, 0.0]))) == pytest.approx(5.0)
    # A tile that does not vote has no say even with a non-finite row (e.g. one never run).
    v[2] = np.nan
    assert tile_weighted_mean(v, np.array([1.0, 3.0, 0.0])).tolist() == pytest.approx([0.25, 0.75], abs=1e-12)


def test_image_probabilities_are_the_weighted_mean_summing_to_one() -> None:
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    # (2*[.7, .2, .1] + 1*[.1, .1, .8]) / 3 = [0.5, 0.1667, 0.3333]
    got = image_probabilities(p, np.array([2.0, 1.0]))
    assert got.tolist() == pytest.approx([0.5, 0.5 / 3, 1.0 / 3], abs=1e-6)
    assert float(got.sum()) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("weights", [[0.0, 0.0], [0.0, -0.0]])
def test_no_voting_tile_is_refused_in_one_line(weights) -> None:
    with pytest.raises(FractoscopeError) as e:
        tile_weighted_mean(np.ones((2, 3)), np.array(weights))
    assert str(e.value) == NOTHING_TO_CLASSIFY and "\n" not in str(e.value)
    assert "nothing to classify" in str(e.value)
    with pytest.raises(FractoscopeError, match="nothing to classify"):
        image_probabilities(np.full((2, 3), 1 / 3), np.array(weights))


def test_mismatched_weights_are_a_programming_error() -> None:
    with pytest.raises(ValueError):
        tile_weighted_mean(np.ones((3, 2)), np.ones(2))
    with pytest.raises(ValueError):
        tile_weighted_mean(np.ones((2, 2)), np.array([1.0, -1.0]))


def test_confidence_scores_use_the_same_rule() -> None:
    from fractoscope.analysis.confidence import _image_nll, _image_probabilities, image_energy

    # Free energy -logsumexp: tile 1 [0, 0] -> -ln 2; tile 2 [ln 3, 0] -> -ln 4; weights 1 and 3.
    z = np.array([[0.0, 0.0], [math.log(3.0), 0.0], [50.0, 0.0]])
    assert image_energy(z, np.array([1.0, 3.0, 0.0])) == pytest.approx(-(math.log(2) + 3 * math.log(4)) / 4)
    # Temperature 1, label 0: image P = (1*0.5 + 3*0.75) / 4 = 0.6875.
    nll = _image_nll(1.0, [z], [np.array([1.0, 3.0, 0.0])], np.array([0]))
    assert nll == pytest.approx(-math.log(0.6875))
    # All weights 0: refused like the prediction (these gave NaN before).
    for call in (
        lambda: image_energy(z, np.zeros(3)),
        lambda: _image_nll(1.0, [z], [np.zeros(3)], np.array([0])),
    ):
        with pytest.raises(FractoscopeError, match="nothing to classify"):
            call()

    class _Data:  # just what _image_probabilities reads
        logits_level1 = [z]
        logits_level2 = [np.zeros((3, 2))]
        weights = [np.zeros(3)]

    with pytest.raises(FractoscopeError, match="nothing to classify"):
        _image_probabilities(_Data(), [0, 1], 1.0, 1.0)


def test_adapted_heads_aggregate_with_the_same_rule() -> None:
    """select_C scores images with the shared aggregation: an image without votes is refused, not
    given equal weights (as the adapt module's own copy did)."""
    from fractoscope.adapt.heads import ImageSample, select_C

    rng = np.random.default_rng(0)
    good = [ImageSample(rng.normal(c, 0.1, (4, 3)), np.ones(4, np.float32), c) for c in (0, 1) for _ in range(3)]
    head, cv = select_C(good, 2, 3, ["a", "b"])
    assert cv.accuracy == 1.0
    bad = good + [ImageSample(rng.normal(0, 0.1, (4, 3)), np.zeros(4, np.float32), 0)]
    with pytest.raises(FractoscopeError, match="nothing to classify"):
        select_C(bad, 2, 3, ["a", "b"])


def test_cli_prints_one_line_for_an_image_with_no_voting_tile(tmp_path, capsys) -> None:
    import tifffile

    from fractoscope.cli import main

    blank = tmp_path / "blank.tif"
    tifffile.imwrite(blank, np.full((300, 400), 37, np.uint8))
    rc = main(["predict", str(blank)])
    err = capsys.readouterr().err
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "blank.tif" in lines[0] and "nothing to classify" in lines[0], err
    assert "Traceback" not in err
