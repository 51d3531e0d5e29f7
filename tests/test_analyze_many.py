"""Analyzer.analyze_many: tiles of several images share network batches (the GPU path), and each
image's result is the one ``analyze`` gives it alone; ``precision`` is checked."""

from __future__ import annotations

import numpy as np
import pytest

from fractoscope.analysis.pipeline import Analyzer
from fractoscope.errors import FractoscopeError
from fractoscope.io import read_sem
from fractoscope.io.sem_image import SemImage


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(device="cpu")


def _same(a, b, tol: float) -> None:
    assert a.level1.label == b.level1.label and a.level2.label == b.level2.label
    np.testing.assert_allclose(a.p_level1, b.p_level1, atol=tol)
    np.testing.assert_allclose(a.p_level2, b.p_level2, atol=tol)
    assert [t.weight for t in a.tiles] == [t.weight for t in b.tiles]
    for ta, tb in zip(a.tiles, b.tiles, strict=True):
        if ta.weight > 0:
            np.testing.assert_allclose(ta.p_level1, tb.p_level1, atol=tol)
    for ma, mb in ((a.cams_level1, b.cams_level1), (a.cams_level2, b.cams_level2)):
        np.testing.assert_allclose(ma, mb, atol=tol * max(1.0, float(np.ptp(mb))))
    assert a.timings["tiles_run"] == b.timings["tiles_run"]


def test_batches_across_images_give_each_image_its_own_result(analyzer, repo_root) -> None:
    samples = repo_root / "resources" / "samples"
    a = read_sem(samples / "cleavage_777_0.tif")
    b = read_sem(samples / "striations_777_0.tif")
    # An uncalibrated image with a blank band: another pixel size in the same batches, and
    # skipped tiles among them.
    img = b.image[:400]
    banded = SemImage(data=np.vstack([img, np.full((260, img.shape[1]), 90, img.dtype)]))
    tiny = SemImage(data=np.zeros((40, 40), np.uint8) + 7)
    sems = [a, tiny, banded, b]
    # 5 tiles per batch: batches straddle the images.
    many = analyzer.analyze_many(sems, batch_size=5)
    assert isinstance(many[1], FractoscopeError) and "too small" in str(many[1])
    for sem, got in zip(sems, many, strict=True):
        if sem is tiny:
            continue
        _same(got, analyzer.analyze(sem), 1e-6)
    assert sum(t.weight == 0 for t in many[2].tiles) > 0  # the band's tiles were skipped
    assert not analyzer._precomputed  # nothing left behind for a later call


def test_fp16_precision_stays_within_tolerance(repo_root) -> None:
    # Half precision is meant for CUDA; autocast to fp16 runs on the CPU too (slowly), so the
    # tolerance is checked here on one small image as cuda_check.py checks it on a GPU.
    sem = read_sem(repo_root / "resources" / "samples" / "mud_cracking_777_1.tif")
    ref = Analyzer(device="cpu").analyze(sem)
    half = Analyzer(device="cpu", precision="fp16").analyze(sem)
    assert half.level1.label == ref.level1.label
    assert np.abs(half.p_level1 - ref.p_level1).max() < 1e-2
    with pytest.raises(ValueError, match="precision must be one of fp32, fp16"):
        Analyzer(device="cpu", precision="int4")
