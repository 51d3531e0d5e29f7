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
    from fractoscope.calibration import Calibration
    from fractoscope.io import read_sem

    sem = read_sem(_sample())
    _, hi = analyzer.model_info.pixel_size_range_m
    coarse = sem.with_calibration(Calibration.isotropic(hi * 10, "manual"))
    pred = analyzer.analyze(coarse, with_cams=False)
    assert pred.analysis_pixel_size_m == pytest.approx(hi * 5, rel=0.02)
    assert any("not resolved" in w for w in pred.warnings)
