"""The uncertain flag's tile-agreement rule (issue 24): a result whose tiles split between
mechanisms is not a verdict, whatever its image-level probability."""

from __future__ import annotations

import numpy as np

from fractoscope.analysis.confidence import REASON_SPLIT, ConfidenceModel, tile_agreement


def test_tile_agreement_is_the_vote_weighted_share_of_tiles_with_the_label():
    logits = np.array([[3.0, 0.0], [2.0, 1.0], [0.0, 5.0], [0.0, 1.0]])
    weights = np.array([1.0, 1.0, 2.0, 0.0])  # the last tile does not vote
    # tiles 0 and 1 say class 0 (weights 1 + 1), tile 2 says class 1 (weight 2): 2 / 4
    assert tile_agreement(logits, weights, 0) == 0.5
    assert tile_agreement(logits, weights, 1) == 0.5
    assert np.isnan(tile_agreement(logits, np.zeros(4), 0))


def test_split_tiles_flag_a_decided_looking_image():
    cm = ConfidenceModel(min_probability=0.5, min_tile_agreement=0.61, fitted=True)
    p = np.array([0.7, 0.3])
    split = np.array([[4.0, 0.0], [0.0, 4.0], [0.0, 4.0], [4.0, 0.0], [4.0, 0.0]])  # 3 of 5 agree
    agree = np.array([[4.0, 0.0]] * 5)
    w = np.ones(5)
    c = cm.assess(p, np.zeros((5, 3)), split, w)
    assert c.uncertain and c.reason == REASON_SPLIT  # 3 of 5 = 0.6 < 0.61
    cm.min_tile_agreement = 0.59
    assert not cm.assess(p, np.zeros((5, 3)), split, w).uncertain
    assert not cm.assess(p, np.zeros((5, 3)), agree, w).uncertain
