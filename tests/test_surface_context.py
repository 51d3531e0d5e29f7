"""Surface context (issue 23.5): the analyst's knowledge restricts the mechanisms considered.

Expected values are worked out by hand from hand-set probabilities, not taken from the code.
"""

from __future__ import annotations

import numpy as np
import pytest

from fractoscope.analysis.context import SURFACE_CONTEXTS, check_context, resolve
from fractoscope.model.taxonomy import Taxonomy

TAX = Taxonomy.default()  # ductile, brittle, fatigue, wear, corrosion; two children each

# Image: wear dominates (the failure mode). Joint level 2, children of each parent sum to it.
P1 = np.array([0.10, 0.05, 0.05, 0.70, 0.10])
P2 = np.array([0.06, 0.04, 0.04, 0.01, 0.01, 0.04, 0.50, 0.20, 0.09, 0.01])


def test_default_is_unknown_and_changes_nothing() -> None:
    assert SURFACE_CONTEXTS[0] == "unknown"
    assert check_context(None) == check_context("") == "unknown"
    ctx = resolve(None, TAX)
    assert not ctx.applied
    q1, q2 = ctx.restrict(P1, P2, TAX)
    assert q1 is P1 and q2 is P2


def test_fracture_renormalises_level1_and_level2_follows_its_parent() -> None:
    ctx = resolve("fracture", TAX)
    assert ctx.applied and set(ctx.considered) == {"ductile_overload", "brittle_overload", "fatigue"}
    q1, q2 = ctx.restrict(P1, P2, TAX)
    # 0.10 / (0.10 + 0.05 + 0.05) etc.
    np.testing.assert_allclose(q1, [0.5, 0.25, 0.25, 0, 0], atol=1e-12)
    # equiaxed 0.06 of ductile 0.10 -> 0.6 of 0.5; cleavage 0.04/0.05 -> 0.8 of 0.25; ...
    np.testing.assert_allclose(q2, [0.30, 0.20, 0.20, 0.05, 0.05, 0.20, 0, 0, 0, 0], atol=1e-12)
    assert q1.sum() == pytest.approx(1) and q2.sum() == pytest.approx(1)


def test_worn_and_corroded() -> None:
    q1, q2 = resolve("worn", TAX).restrict(P1, P2, TAX)
    np.testing.assert_allclose(q1, [0, 0, 0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(q2[6:8], [0.5 / 0.7, 0.2 / 0.7], atol=1e-12)
    ctx = resolve("corroded", TAX)
    assert set(ctx.considered) == {"corrosion", "brittle_overload", "fatigue"}
    q1, q2 = ctx.restrict(P1, P2, TAX)
    np.testing.assert_allclose(q1, [0, 0.25, 0.25, 0, 0.5], atol=1e-12)
    np.testing.assert_allclose(q2[8:], [0.45, 0.05], atol=1e-12)


def test_tiles_are_renormalised_row_by_row() -> None:
    tiles1 = np.array([[0.2, 0.2, 0.1, 0.5, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0]])
    tiles2 = np.repeat(tiles1, 2, axis=1) / 2  # children share their parent evenly
    q1, q2 = resolve("fracture", TAX).restrict(tiles1, tiles2, TAX)
    np.testing.assert_allclose(q1[0], [0.4, 0.4, 0.2, 0, 0], atol=1e-12)
    # A tile that gave the fracture mechanisms nothing: spread evenly over them, not 0/0.
    np.testing.assert_allclose(q1[1], [1 / 3, 1 / 3, 1 / 3, 0, 0], atol=1e-12)
    np.testing.assert_allclose(q2[1, :6], [1 / 6] * 6, atol=1e-12)
    assert np.all(np.isfinite(q2))


def test_other_taxonomy_maps_by_bundled_names_and_says_so() -> None:
    tax = Taxonomy({"fatigue": ["striations"], "wear": ["grooves"], "weld_defect": ["porosity"]})
    ctx = resolve("fracture", tax)
    assert ctx.applied and ctx.considered == ("fatigue", "weld_defect")
    assert "weld_defect" in ctx.note and "weld_defect" in ctx.describe()
    q1, _ = ctx.restrict(np.array([0.2, 0.6, 0.2]), np.array([0.2, 0.6, 0.2]), tax)
    np.testing.assert_allclose(q1, [0.5, 0, 0.5], atol=1e-12)
    # Nothing the context names: not applied, and the result says why.
    only = Taxonomy({"weld_defect": ["porosity"], "inclusion": ["stringer"]})
    c2 = resolve("worn", only)
    assert not c2.applied and "not applied" in c2.describe()
    # A context that rules nothing out of this model is not applied either.
    c3 = resolve("fracture", Taxonomy({"fatigue": ["striations"], "ductile_overload": ["dimples"]}))
    assert not c3.applied and c3.note


def test_bad_name_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="surface context"):
        check_context("polished")


# --- through the pipeline and the commands (bundled model, bundled sample) -----------------------
def _sample():
    from pathlib import Path

    return sorted((Path(__file__).resolve().parents[1] / "resources" / "samples").glob("*.tif"))[0]


def test_predict_surface_renormalises_image_and_tiles(capsys) -> None:
    import json

    from fractoscope.cli import main

    assert main(["predict", str(_sample()), "--json"]) == 0
    free = json.loads(capsys.readouterr().out)[0]
    assert free["surface_context"]["context"] == "unknown" and not free["surface_context"]["applied"]
    assert main(["predict", str(_sample()), "--json", "--surface", "worn"]) == 0
    worn = json.loads(capsys.readouterr().out)[0]
    assert worn["surface_context"]["context"] == "worn" and worn["surface_context"]["applied"]
    assert worn["level1"]["label"] == "wear"
    # By hand from the unrestricted answer: wear's morphologies divided by P(wear).
    p1, p2 = free["probabilities"]["level1"], free["probabilities"]["level2"]
    for k in ("abrasive_grooves", "adhesive_delamination"):
        assert worn["probabilities"]["level2"][k] == pytest.approx(p2[k] / p1["wear"], abs=2e-5)
    assert worn["probabilities"]["level1"]["fatigue"] == 0
    assert all(t["level1"] == "wear" for t in worn["tiles"]["items"])


def test_predict_rejects_unknown_surface(capsys) -> None:
    from fractoscope.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["predict", str(_sample()), "--surface", "polished"])
    assert exc.value.code == 2
    assert "--surface" in capsys.readouterr().err


def test_predict_text_says_the_context(capsys) -> None:
    from fractoscope.cli import main

    assert main(["predict", str(_sample()), "--surface", "fracture"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "surface context:" in x)
    assert "fracture surface: only" in line and "considered" in line
    assert all(m in line for m in ("ductile overload", "brittle overload", "fatigue"))
    assert "wear" not in line and "corrosion" not in line


def test_report_provenance_says_lab_stats_and_context() -> None:
    from fractoscope.analysis import wording
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.io import read_sem
    from fractoscope.report.data import model_provenance

    pred = Analyzer(device="cpu").analyze(read_sem(_sample()), with_cams=False, surface="corroded")
    facts = dict(model_provenance(pred).facts)
    assert facts["Lab statistics"] == "none: the image was judged on its own"
    assert facts["Surface context"].startswith("corroded surface: only")
    pred.lab_adjustment = "adjusted to this lab's 37 images"
    assert dict(model_provenance(pred).facts)["Lab statistics"] == "adjusted to this lab's 37 images"
    assert wording.provenance_lines(pred)[0] == "lab statistics: adjusted to this lab's 37 images"
