"""Weight-0 tiles (blank, data bar) are not run through the network, and the result is the same.

The reference is the same analyzer running every tile (``skip_blank_tiles=False``, the pipeline
as it was): image probabilities, confidence, pooled features and tile weights agree within 1e-6;
the stitched CAMs agree on every sample a voting tile covers, and are 0 where only skipped tiles
lie (the network's response to a data bar or an empty band, which used to fill that region and
could even set the map's peak).
"""

from __future__ import annotations

import numpy as np
import pytest

from fractoscope.analysis.pipeline import CAM_STRIDE, Analyzer
from fractoscope.errors import FractoscopeError
from fractoscope.imaging import tile_grid
from fractoscope.io import read_sem
from fractoscope.io.sem_image import SemImage

TOL = 1e-6
# Raw logits and features: a voting tile may sit in a different batch than before (the skipped
# ones leave gaps), and oneDNN's sums then round differently, by about 1e-6 relative.
RAW_TOL = 1e-5


@pytest.fixture(scope="module")
def analyzers() -> tuple[Analyzer, Analyzer]:
    return Analyzer(device="cpu"), Analyzer(device="cpu", skip_blank_tiles=False)


def _voting_cover(boxes, weights, shape) -> np.ndarray:
    """Samples of the CAM grid (every CAM_STRIDE px, centre clamped inside) inside a voting box."""
    h, w = shape
    cy = np.clip((np.arange(-(-h // CAM_STRIDE)) + 0.5) * CAM_STRIDE - 0.5, 0, h - 1)
    cx = np.clip((np.arange(-(-w // CAM_STRIDE)) + 0.5) * CAM_STRIDE - 0.5, 0, w - 1)
    cover = np.zeros((cy.size, cx.size), bool)
    for b, wt in zip(boxes, weights, strict=True):
        if wt > 0:
            iy = (cy >= b.y0 - 0.5) & (cy < b.y1 - 0.5)
            ix = (cx >= b.x0 - 0.5) & (cx < b.x1 - 0.5)
            cover |= iy[:, None] & ix[None, :]
    return cover


def _compare(analyzers, sem: SemImage) -> dict:
    skip, full = analyzers
    pa, pb = skip.analyze(sem), full.analyze(sem)
    prep = skip.prepare(sem)
    boxes = tile_grid(prep.image.shape, skip.input_spec.tile_size, skip.overlap)
    weights = np.array([t.weight for t in pa.tiles])
    assert len(boxes) == len(pa.tiles) == len(pb.tiles)
    assert weights.tolist() == [t.weight for t in pb.tiles]
    voting = weights > 0
    assert pa.timings["tiles_run"] == int(voting.sum()) and pb.timings["tiles_run"] == len(boxes)

    np.testing.assert_allclose(pa.p_level1, pb.p_level1, atol=TOL)
    np.testing.assert_allclose(pa.p_level2, pb.p_level2, atol=TOL)
    assert pa.level1.label == pb.level1.label and pa.level2.label == pb.level2.label
    assert pa.confidence.calibrated == pytest.approx(pb.confidence.calibrated, abs=TOL)
    assert pa.confidence.ood_score == pytest.approx(pb.confidence.ood_score, abs=TOL)
    assert pa.confidence.uncertain == pb.confidence.uncertain
    np.testing.assert_allclose(pa.features, pb.features, atol=RAW_TOL)
    # The voting tiles' own outputs: the same network on the same pixels.
    for ta, tb, v in zip(pa.tiles, pb.tiles, voting, strict=True):
        if v:
            np.testing.assert_allclose(ta.p_level1, tb.p_level1, atol=TOL)
            np.testing.assert_allclose(ta.p_level2, tb.p_level2, atol=TOL)
    np.testing.assert_allclose(pa.tile_features[voting], pb.tile_features[voting], atol=RAW_TOL)

    cover = _voting_cover(boxes, weights, prep.image.shape)
    for ma, mb in ((pa.cams_level1, pb.cams_level1), (pa.cams_level2, pb.cams_level2)):
        assert ma.shape[1:] == cover.shape
        np.testing.assert_allclose(ma[:, cover], mb[:, cover], atol=TOL)
        assert np.all(ma[:, ~cover] == 0.0)
    return {"skipped": int((~voting).sum()), "cover": cover, "full": pb}


def test_image_without_blank_tiles_is_unchanged(analyzers, repo_root) -> None:
    sem = read_sem(repo_root / "resources" / "samples" / "cleavage_777_0.tif")
    r = _compare(analyzers, sem)
    assert r["skipped"] == 0 and r["cover"].all()


def test_real_data_bar_tiles_are_skipped(analyzers, sem_tiff_dir) -> None:
    # TESCAN's anti-aliased grey data bar, kept in the image (as with --no-crop): 1331 x 1536.
    sem = read_sem(sem_tiff_dir / "teplonogova" / "Tescan_1.TIF", crop_databar=False)
    r = _compare(analyzers, sem)
    assert r["skipped"] >= 3
    # The region only data-bar tiles cover is where the old maps came from those tiles.
    assert (~r["cover"]).any()
    assert np.abs(r["full"].cams_level1[:, ~r["cover"]]).max() > 0


def test_generated_image_with_a_blank_band(analyzers, repo_root) -> None:
    sem = read_sem(repo_root / "resources" / "samples" / "striations_777_0.tif")
    img = sem.image
    band = np.full((320, img.shape[1]), 128, img.dtype)  # an empty strip under the frame
    banded = SemImage(data=np.vstack([img, band]), calibration=sem.calibration, path=sem.path)
    r = _compare(analyzers, banded)
    assert r["skipped"] >= 3 and (~r["cover"]).any()


def test_blank_frame_is_refused_without_running_the_network(analyzers, sem_tiff_dir) -> None:
    skip, full = analyzers
    # FEI Helios test file: blank image content above its data bar.
    sem = read_sem(sem_tiff_dir / "rosettasciio" / "FEI-Helios-Ebeam-8bits.tif")
    out = skip.image_outputs(skip.prepare(sem))
    assert out.tiles_run == 0 and out.weights.max() == 0
    for a in (skip, full):
        with pytest.raises(FractoscopeError, match="nothing to classify"):
            a.analyze(sem)
