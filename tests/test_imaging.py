"""Tests for fractoscope.imaging: grey conversion, contrast, resampling, tiling, tile weights, stitching."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.draw import line, rectangle

from fractoscope.imaging import (
    Stitcher,
    TileBox,
    extract_tiles,
    normalize_contrast,
    resample_to_pixel_size,
    tile_grid,
    tile_weight,
    to_float_grey,
)

RNG = np.random.default_rng(1234)


def noise_texture(shape: tuple[int, int], seed: int = 0, beta: float = 1.5) -> np.ndarray:
    """Random-phase 1/f^beta noise scaled to [0, 1]: a stand-in for a textured fracture surface."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    spec = f**-beta * np.exp(2j * np.pi * rng.random(f.shape))
    spec[0, 0] = 0
    img = np.fft.irfft2(spec, s=shape)
    return ((img - img.min()) / (img.max() - img.min())).astype(np.float32)


def glyph_tile(size: int = 128, bg: float = 0.0, fg: float = 1.0) -> np.ndarray:
    """Text-like overlay: thin rectangles and lines (letter strokes) on a flat background."""
    t = np.full((size, size), bg, np.float32)
    for i, x in enumerate(range(8, size - 16, 14)):
        y = 20 + (i % 3) * 30
        rr, cc = rectangle((y, x), extent=(16, 2), shape=t.shape)  # vertical stroke
        t[rr, cc] = fg
        rr, cc = rectangle((y, x), extent=(2, 8), shape=t.shape)  # top bar
        t[rr, cc] = fg
        rr, cc = line(y + 15, x, y, x + 8)  # diagonal
        t[rr, cc] = fg
    return t


# --- to_float_grey -------------------------------------------------------------------------------


def test_to_float_grey_uses_data_range_not_dtype_range():
    a = np.array([[100, 4095], [2000, 100]], np.uint16)  # 12-bit data in a 16-bit container
    g = to_float_grey(a)
    assert g.dtype == np.float32 and g.shape == (2, 2)
    assert g.min() == 0.0 and g.max() == 1.0
    assert g[1, 0] == pytest.approx((2000 - 100) / (4095 - 100), abs=1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32, np.int64, np.float64])
def test_to_float_grey_dtypes(dtype):
    offset = 0 if np.issubdtype(dtype, np.unsignedinteger) else -7
    a = (np.arange(12).reshape(3, 4) * 3 + offset).astype(dtype)
    g = to_float_grey(a)
    assert g.dtype == np.float32
    assert g.min() == 0.0 and g.max() == pytest.approx(1.0)
    assert np.all(np.diff(g.ravel()) > 0)  # monotone


def test_to_float_grey_int64_extremes_do_not_overflow():
    a = np.array([[np.iinfo(np.int64).min, np.iinfo(np.int64).max]], np.int64)
    g = to_float_grey(a)
    assert np.all(np.isfinite(g)) and g[0, 0] == 0.0 and g[0, 1] == 1.0


def test_to_float_grey_keeps_unit_float_and_bool():
    a = np.array([[0.2, 0.4], [0.6, 0.8]], np.float32)
    assert np.array_equal(to_float_grey(a), a)
    b = np.array([[True, False]])
    assert np.array_equal(to_float_grey(b), [[1.0, 0.0]])


def test_to_float_grey_rgb_and_rgba():
    # Expected values by hand: Rec. 709 luma 0.2126 R + 0.7152 G + 0.0722 B, then the image's own
    # range (0..255 here: black and white are present) mapped to 0..1.
    rgb = np.array([[[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [100, 50, 200]]], np.uint8)
    expected = np.array([[0.0, 0.2126, 0.7152, 0.0722, 1.0, 0.28023529]])  # 71.46 / 255
    np.testing.assert_allclose(to_float_grey(rgb), expected, atol=1e-5)
    alpha = np.array([[[0], [255], [7], [128], [1], [90]]], np.uint8)  # ignored
    np.testing.assert_allclose(to_float_grey(np.concatenate([rgb, alpha], axis=-1)), expected, atol=1e-5)
    grey = np.array([[0, 128, 255]], np.uint8)
    np.testing.assert_allclose(to_float_grey(grey), [[0.0, 0.50196078, 1.0]], atol=1e-6)  # 128 / 255
    np.testing.assert_allclose(to_float_grey(np.stack([grey] * 3, axis=-1)), [[0.0, 0.50196078, 1.0]], atol=1e-6)
    np.testing.assert_allclose(to_float_grey(grey[..., None]), [[0.0, 0.50196078, 1.0]], atol=1e-6)
    green = np.zeros((1, 2, 3), np.uint8)
    green[0, 1, 1] = 200  # its own range is 0..143.04: the green pixel is the brightest
    np.testing.assert_array_equal(to_float_grey(green), [[0.0, 1.0]])


def test_to_float_grey_non_finite_replaced_by_median():
    a = np.array([[1.0, 2.0, np.nan], [3.0, np.inf, -np.inf]])
    g = to_float_grey(a)
    assert np.all(np.isfinite(g))
    assert g.min() == 0.0 and g.max() == 1.0
    assert g[0, 2] == g[1, 1] == g[1, 2] == pytest.approx(0.5)  # median of 1, 2, 3 = 2


@pytest.mark.parametrize(
    "a",
    [np.full((4, 5), 7, np.uint16), np.full((3, 3), 2.5), np.full((2, 2), np.nan), np.ones((2, 2), bool)],
)
def test_to_float_grey_constant_gives_zeros(a):
    g = to_float_grey(a)
    assert g.dtype == np.float32 and np.array_equal(g, np.zeros(a.shape[:2]))


def test_to_float_grey_rejects_bad_shapes():
    with pytest.raises(ValueError):
        to_float_grey(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError):
        to_float_grey(np.zeros((0, 3)))


# --- normalize_contrast --------------------------------------------------------------------------


def test_normalize_contrast_clips_outliers():
    img = RNG.normal(100, 10, (64, 64))
    img[0, 0] = 1e6  # hot pixel would flatten a min/max stretch
    out = normalize_contrast(img)
    assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == 1.0
    assert 0.4 < float(np.median(out)) < 0.6
    assert np.mean(out == 1.0) < 0.01


def test_normalize_contrast_mask_ignores_invalid_region():
    img = noise_texture((64, 64), seed=3) * 0.2 + 0.4  # texture in [0.4, 0.6]
    img[48:] = 1.0  # bright data bar
    mask = np.zeros(img.shape, bool)
    mask[:48] = True
    unmasked = normalize_contrast(img)
    masked = normalize_contrast(img, mask=mask)
    assert np.ptp(masked[:48]) > 0.95  # full range used by the valid area
    assert np.ptp(unmasked[:48]) < np.ptp(masked[:48])
    with pytest.raises(ValueError):
        normalize_contrast(img, mask=mask[:10])


def test_normalize_contrast_flat_and_clahe():
    flat = np.zeros((32, 32))
    flat[5, 5] = 1.0  # percentiles coincide; falls back to min/max
    out = normalize_contrast(flat)
    assert out[5, 5] == 1.0 and out[0, 0] == 0.0
    assert np.array_equal(normalize_contrast(np.full((8, 8), 3.0)), np.zeros((8, 8)))
    low = noise_texture((64, 64), seed=4) ** 4  # skewed histogram
    eq = normalize_contrast(low, clahe=True)
    assert eq.dtype == np.float32 and 0.0 <= eq.min() and eq.max() <= 1.0
    assert np.median(eq) > np.median(normalize_contrast(low))


# --- resample_to_pixel_size ----------------------------------------------------------------------


def test_resample_identity_within_one_percent():
    img = np.zeros((20, 30), np.float32)
    out, f = resample_to_pixel_size(img, 1.005e-9, 1e-9)
    assert out is img and f == 1.0


def test_resample_down_and_up():
    img = noise_texture((100, 120), seed=5)
    down, f = resample_to_pixel_size(img, 2e-9, 4e-9)
    assert f == pytest.approx(0.5) and down.shape == (50, 60) and down.dtype == np.float32
    assert abs(float(down.mean()) - float(img.mean())) < 0.02
    up, f = resample_to_pixel_size(img, 4e-9, 2e-9)
    assert f == pytest.approx(2.0) and up.shape == (200, 240)


def test_resample_anti_aliases_when_downsampling():
    # A 2-px checkerboard downsampled 4x must average to grey, not alias into a pattern.
    yy, xx = np.mgrid[:128, :128]
    checker = (((yy // 2) + (xx // 2)) % 2).astype(np.float32)
    down, _ = resample_to_pixel_size(checker, 1.0, 4.0)
    assert down.std() < 0.05 and abs(down.mean() - 0.5) < 0.05


@pytest.mark.parametrize(
    "px, target",
    [(1e-9, 1e-12), (1e-6, 1e-9), (1e-9, 1e-6), (0.0, 1e-9), (-1e-9, 1e-9), (float("nan"), 1e-9), (1e-9, float("inf"))],
)
def test_resample_refuses_absurd(px, target):
    with pytest.raises(ValueError):
        resample_to_pixel_size(np.zeros((500, 500), np.float32), px, target)


# --- tiling --------------------------------------------------------------------------------------


def test_tile_grid_positions_and_flush_edge():
    boxes = tile_grid((100, 130), 64, 0.25)  # step 48
    ys = sorted({b.y0 for b in boxes})
    xs = sorted({b.x0 for b in boxes})
    assert ys == [0, 36] and xs == [0, 48, 66]
    assert all(b.height == 64 and b.width == 64 for b in boxes)
    assert tile_grid((128, 128), 64, 0) == [
        TileBox(0, 0, 64, 64), TileBox(0, 64, 64, 128), TileBox(64, 0, 128, 64), TileBox(64, 64, 128, 128)
    ]
    assert tile_grid((64, 64), 64, 16) == [TileBox(0, 0, 64, 64)]
    assert tile_grid((40, 200), 64, 0)[0] == TileBox(0, 0, 40, 64)
    with pytest.raises(ValueError):
        tile_grid((100, 100), 64, 64)
    with pytest.raises(ValueError):
        tile_grid((100, 100), 0, 0)


@settings(max_examples=100, deadline=None)
@given(
    h=st.integers(1, 200),
    w=st.integers(1, 200),
    tile=st.integers(2, 96),
    frac=st.floats(0.0, 0.9),
    as_pixels=st.booleans(),
)
def test_tile_grid_covers_everything(h, w, tile, frac, as_pixels):
    overlap = int(frac * tile) if as_pixels else frac
    boxes = tile_grid((h, w), tile, overlap)
    assert len(boxes) == len(set(boxes))
    covered = np.zeros((h, w), bool)
    for b in boxes:
        assert 0 <= b.y0 < b.y1 <= h and 0 <= b.x0 < b.x1 <= w
        assert b.height == min(tile, h) and b.width == min(tile, w)
        covered[b.slices] = True
    assert covered.all()


def test_extract_tiles_pads_small_boxes():
    img = np.arange(30, dtype=np.float32).reshape(5, 6)
    boxes = tile_grid(img.shape, 8, 0)
    tiles = extract_tiles(img, boxes, 8)
    assert tiles.shape == (1, 8, 8) and tiles.dtype == np.float32
    assert np.array_equal(tiles[0, :5, :6], img)  # content at top-left
    assert tiles[0, 5, 0] == img[3, 0]  # reflect
    one = extract_tiles(np.array([[1.0, 2.0, 3.0]]), [TileBox(0, 0, 1, 3)], 4)
    assert np.array_equal(one[0, :, :3], np.tile([1.0, 2.0, 3.0], (4, 1)))  # edge along the 1-px side
    big = noise_texture((70, 90))
    bb = tile_grid(big.shape, 32, 8)
    tt = extract_tiles(big, bb, 32)
    assert all(np.array_equal(t, big[b.slices]) for t, b in zip(tt, bb, strict=True))
    with pytest.raises(ValueError):
        extract_tiles(big, [TileBox(0, 0, 40, 40)], 32)


# --- tile_weight: synthetic ----------------------------------------------------------------------


def test_tile_weight_synthetic():
    assert tile_weight(np.full((64, 64), 0.4, np.float32)) == 0.0
    assert tile_weight(np.full((64, 64), 0.4) + RNG.normal(0, 0.001, (64, 64))) == 0.0
    sat = np.ones((64, 64), np.float32)
    sat[::7, ::7] = 0.0
    assert tile_weight(sat) == 0.0
    half = (noise_texture((64, 64)) > 0.5).astype(np.float32)  # all pixels at 0 or 1
    assert tile_weight(half) == 0.0
    assert tile_weight(glyph_tile(bg=0.0, fg=1.0)) == 0.0  # white text on black
    assert tile_weight(glyph_tile(bg=0.3, fg=0.9)) == 0.0  # light text on a grey data bar
    for seed in range(3):
        assert tile_weight(noise_texture((128, 128), seed=seed)) > 0.5
        noisy = np.clip(noise_texture((128, 128), seed=seed) + RNG.normal(0, 0.02, (128, 128)), 0, 1)
        assert tile_weight(noisy) > 0.5
    # Bright broad objects on a dark background are an image, not text.
    rods = np.full((128, 128), 0.02, np.float32) + RNG.normal(0, 0.003, (128, 128)).astype(np.float32)
    rods[20:40, 10:120] = 0.8
    rods[60:90, 30:60] = 0.7
    assert tile_weight(rods) > 0.5
    # a tile with no finite pixel carries no surface: it must not vote
    assert tile_weight(np.full((8, 8), np.nan)) == 0.0


# --- tile_weight: real SEM files -----------------------------------------------------------------


def _real_tiles(path, rows: slice, tile: int = 128) -> np.ndarray:
    img = normalize_contrast(tifffile.imread(path))[rows]
    return np.array([tile_weight(t) for t in extract_tiles(img, tile_grid(img.shape, tile, 0), tile)])


@pytest.mark.parametrize(
    "rel, rows",
    [
        ("teplonogova/Tescan_1.TIF", slice(0, 1150)),
        ("teplonogova/Zeiss_1.tif", slice(0, 680)),
        ("kit-data-manager/FeMoOx_AntiA_04_1k5x_CN.tif", slice(0, 680)),
        ("kit-data-manager/1-as-cast_16_Sch_10k_InLens.tif", slice(0, 680)),
        ("kit-data-manager/1-as-cast_18_Sch_10k_BSD-Compo.tif", slice(0, 680)),
    ],
)
def test_tile_weight_keeps_real_sem_texture(sem_tiff_dir, rel, rows):
    w = _real_tiles(sem_tiff_dir / rel, rows)
    assert np.mean(w > 0) >= 0.9
    assert np.median(w) > 0.8


def test_tile_weight_zeroes_blank_fei_image_and_data_bars(sem_tiff_dir):
    for name in ("FEI-Helios-Ebeam-8bits.tif", "FEI-Helios-Ebeam-16bits.tif"):
        path = sem_tiff_dir / "rosettasciio" / name
        assert np.all(_real_tiles(path, slice(0, 442)) == 0.0)  # blank image area
        bar = normalize_contrast(tifffile.imread(path))[442:471]
        tiles = extract_tiles(bar, tile_grid(bar.shape, 64, 0), 64)
        assert all(tile_weight(t) == 0.0 for t in tiles)
    tescan_bar = _real_tiles(sem_tiff_dir / "teplonogova/Tescan_1.TIF", slice(1152, 1331))
    assert np.all(tescan_bar == 0.0)


# --- Stitcher ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, tile, overlap, stride, map_size",
    [((100, 130), 32, 8, 1.0, 8), ((100, 130), 32, 0.5, 3.0, 32), ((20, 50), 32, 0, 1.0, 7), ((97, 61), 24, 0.25, 4.0, 5)],
)
def test_stitch_constant_is_exact(shape, tile, overlap, stride, map_size):
    st_ = Stitcher(shape, channels=2, tile=tile, stride=stride)
    assert st_.out_shape == (int(np.ceil(shape[0] / stride)), int(np.ceil(shape[1] / stride)))
    const = np.array([0.3, 7.25])[:, None, None] * np.ones((2, map_size, map_size))
    for i, box in enumerate(tile_grid(shape, tile, overlap)):
        st_.add(box, const, weight=0.5 + (i % 3))
    out = st_.result(fill=np.nan)
    assert out.dtype == np.float32 and out.shape == (2, *st_.out_shape)
    assert np.max(np.abs(out[0] - 0.3)) < 1e-6 and np.max(np.abs(out[1] - 7.25)) < 1e-6
    assert st_.covered.all() and np.all(st_.coverage > 0)


def test_stitch_ramp_has_no_seams():
    h, w, tile, m = 120, 150, 32, 16
    def ramp(y, x):
        return 0.01 * y - 0.004 * x + 0.2

    stitch = Stitcher((h, w), channels=1, tile=tile)
    for box in tile_grid((h, w), tile, 0.5):
        k = (np.arange(m) + 0.5) * tile / m - 0.5  # map sample centres in tile pixels
        vals = ramp(box.y0 + k[:, None], box.x0 + k[None, :])[None]
        stitch.add(box, vals)
    out = stitch.result()[0]
    yy, xx = np.mgrid[:h, :w]
    truth = ramp(yy, xx)
    err = np.abs(out - truth)
    assert err.max() < 0.02  # a map pixel spans 2 image px; edge clamping costs < 1 px of slope
    assert err[8:-8, 8:-8].max() < 1e-4  # interior: bilinear reproduces a linear function
    # The ramp has zero curvature; a seam at a tile border would show as a spike. Only the outermost
    # pixel row/column, half a map pixel beyond the last map sample (edge-clamped), may bend.
    d2y = np.abs(np.diff(out, 2, axis=0))[1:-1, 1:-1].max()
    d2x = np.abs(np.diff(out, 2, axis=1))[1:-1, 1:-1].max()
    assert d2y < 2e-4 and d2x < 2e-4


def test_stitch_zero_weight_tiles_only_fill_gaps():
    shape, tile = (64, 96), 32
    boxes = tile_grid(shape, tile, 0)
    st_ = Stitcher(shape, channels=1, tile=tile, stride=2)
    for b in boxes:
        if b.x0 < 64:
            st_.add(b, np.full((1, 4, 4), 1.0))
        st_.add(b, np.full((1, 4, 4), 100.0), weight=0.0)  # e.g. a blank tile everywhere
    out = st_.result()[0]
    assert np.allclose(out[:, :32], 1.0, atol=1e-6)  # weight-0 tiles ignored where covered
    assert np.allclose(out[:, 32:], 100.0, atol=1e-6)  # but still define the map elsewhere
    assert np.all(st_.coverage[:, 32:] == 0) and st_.covered.all()


def test_stitch_fill_where_uncovered_and_validation():
    st_ = Stitcher((50, 50), channels=1, tile=20)
    st_.add(TileBox(0, 0, 20, 20), np.ones((1, 5, 5)))
    out = st_.result(fill=-1.0)
    assert out[0, 0, 0] == 1.0 and out[0, 40, 40] == -1.0
    assert not st_.covered[40, 40]
    with pytest.raises(ValueError):
        st_.add(TileBox(0, 0, 20, 20), np.ones((2, 5, 5)))
    with pytest.raises(ValueError):
        st_.add(TileBox(40, 40, 60, 60), np.ones((1, 5, 5)))
    with pytest.raises(ValueError):
        st_.add(TileBox(0, 0, 20, 20), np.ones((1, 5, 5)), weight=-1)


# --- uncalibrated frame size ------------------------------------------------------------------------
def test_uncalibrated_factor_brings_the_longer_side_to_the_limit():
    from fractoscope.imaging import InputSpec, uncalibrated_factor

    spec = InputSpec(tile_size=192, uncalibrated_max_side=768)
    # 2000 x 1500 -> longer side 768: factor 768 / 2000 = 0.384 (worked by hand).
    assert uncalibrated_factor((2000, 1500), spec) == pytest.approx(0.384)
    assert uncalibrated_factor((1500, 2000), spec) == pytest.approx(0.384)
    # Already small enough, or no limit: left as stored (never enlarged).
    assert uncalibrated_factor((700, 500), spec) == 1.0
    assert uncalibrated_factor((5000, 5000), InputSpec(tile_size=192)) == 1.0
    # A long strip keeps one full tile across its short side: 192 / 200 = 0.96 > 768 / 3000.
    assert uncalibrated_factor((200, 3000), spec) == pytest.approx(0.96)


def test_prepare_reduces_only_uncalibrated_images_and_says_so():
    from fractoscope.calibration import Calibration
    from fractoscope.imaging import InputSpec, prepare_image
    from fractoscope.io.sem_image import SemImage

    spec = InputSpec(tile_size=192, uncalibrated_max_side=768)
    tex = noise_texture((1600, 1200), seed=3).astype(np.float32)
    prep = prepare_image(SemImage(data=tex), (1e-9, 1e-6), spec=spec)
    assert prep.image.shape == (768, 576)  # 1600 x 0.48, 1200 x 0.48
    assert prep.scale == pytest.approx(0.48)
    assert prep.analysis_pixel_size_m is None
    assert any("reduced 2.1×" in w and "768 px" in w for w in prep.warnings), prep.warnings
    # 1 % over the limit: left as stored, and the warning does not claim a reduction.
    near = prepare_image(SemImage(data=tex[:775, :500]), (1e-9, 1e-6), spec=spec)
    assert near.image.shape == (775, 500) and near.scale == 1.0
    assert not any("reduced" in w for w in near.warnings)
    # The same pixels with a pixel size inside the trained range are analysed as stored.
    cal = prepare_image(SemImage(data=tex, calibration=Calibration.isotropic(1e-7, "manual")), (1e-9, 1e-6), spec=spec)
    assert cal.image.shape == tex.shape and cal.scale == 1.0
    # A model card without the setting (written before it existed) analyses as stored.
    old = prepare_image(SemImage(data=tex), (1e-9, 1e-6), spec=InputSpec(tile_size=192))
    assert old.image.shape == tex.shape and old.scale == 1.0


def test_uncalibrated_max_side_travels_with_the_card():
    from fractoscope.imaging import InputSpec

    spec = InputSpec(tile_size=192, uncalibrated_max_side=768)
    card = {"input": spec.to_card()}
    assert card["input"]["uncalibrated_max_side"] == 768
    assert InputSpec.from_card(card) == spec
    del card["input"]["uncalibrated_max_side"]
    assert InputSpec.from_card(card).uncalibrated_max_side is None
    with pytest.raises(ValueError, match="at least one tile"):
        InputSpec(tile_size=192, uncalibrated_max_side=100)
