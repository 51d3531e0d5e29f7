"""Domain randomisation: texture-preserving remaps, plain crops, value range, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fractoscope.train.augment import equalise, photometric, random_crop, tone_curve
from fractoscope.train.data import LoadedImage


def _ramp_batch(b: int = 4, n: int = 32) -> torch.Tensor:
    g = torch.linspace(0, 1, n * n).reshape(1, 1, n, n)
    return g.repeat(b, 1, 1, 1)


def test_tone_curve_keeps_the_order_of_grey_levels_and_the_ends():
    x = _ramp_batch()
    y = tone_curve(x, torch.Generator().manual_seed(3))
    flat = y.reshape(4, -1)
    assert bool((flat[:, 1:] >= flat[:, :-1] - 1e-6).all())  # monotone: texture (order) preserved
    assert torch.allclose(flat[:, 0], torch.zeros(4)) and torch.allclose(flat[:, -1], torch.ones(4))
    assert not torch.allclose(y, x, atol=0.02)  # and it does change the grey levels


def test_equalise_gives_a_flat_histogram():
    x = torch.rand(2, 1, 64, 64) ** 4  # very skewed
    y = equalise(x)
    hist = torch.histc(y[0], bins=8, min=0, max=1)
    assert float(hist.min()) >= 0.9 * 64 * 64 / 8


def test_photometric_range_shape_and_determinism():
    x = torch.rand(8, 1, 48, 48)
    a = photometric(x, torch.Generator().manual_seed(1))
    b = photometric(x, torch.Generator().manual_seed(1))
    c = photometric(x, torch.Generator().manual_seed(2))
    assert a.shape == x.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(photometric(x, torch.Generator().manual_seed(1), strength=0.0), x)


def test_plain_crop_is_a_window_of_the_image_with_its_pixel_size():
    img = np.arange(40 * 48, dtype=np.float32).reshape(40, 48)  # integers exact in float16
    item = LoadedImage(img.astype(np.float16), 2e-8, 0, 0, "x.tif")
    crop, nm = random_crop(item, 32, np.random.default_rng(0), (1.0, 1.0), tilt_probability=0.0,
                           calibration_error=0.0)
    assert crop.shape == (32, 32) and math.isclose(nm, 20.0)
    # A flip/rotation of a window: its values form a contiguous block of the image.
    vals = np.unique(crop)
    assert vals.size == 32 * 32
    rows = np.unique((vals // 48).astype(int))
    assert rows.size == 32 and rows[-1] - rows[0] == 31


PERIOD_NM = 80.0  # the pattern below: a period of 8 px at 10 nm per pixel, along both axes


def _grid_item() -> LoadedImage:
    yy, xx = np.mgrid[0:1024, 0:1024]
    img = 0.5 + 0.25 * np.cos(2 * np.pi * xx / 8) + 0.25 * np.cos(2 * np.pi * yy / 8)
    return LoadedImage(img.astype(np.float16), 1e-8, 0, 0, "grid.tif")


def _period_px(crop: np.ndarray, axis: int) -> float:
    """The pattern's period along ``axis`` of a crop, in crop pixels (peak of the zero-padded
    spectrum of the mean profile)."""
    prof = crop.mean(axis=1 - axis).astype(np.float64)
    prof = (prof - prof.mean()) * np.hanning(prof.size)
    n = 1 << 15
    spec = np.abs(np.fft.rfft(prof, n))
    spec[: n // prof.size * 2] = 0  # ignore what is left of the mean
    return n / float(np.argmax(spec))


def test_jittered_crop_reports_the_resampled_pixel_size():
    # Measured, not recomputed: the period a crop shows (in its pixels) times the pixel size the
    # crop reports must be the pattern's period in nm, whatever the jitter did.
    item = _grid_item()
    sizes = []
    for seed in range(12):
        crop, nm = random_crop(item, 256, np.random.default_rng(seed), (0.5, 2.0), tilt_probability=0.0,
                               calibration_error=0.0)
        sizes.append(nm)
        for axis in (0, 1):
            assert _period_px(crop, axis) * nm == pytest.approx(PERIOD_NM, rel=0.03), (seed, axis, nm)
    assert min(sizes) >= 5.0 - 1e-9 and max(sizes) <= 20.0 + 1e-9
    assert max(sizes) / min(sizes) > 2.0  # the jitter really spans the range
    # A tilted crop: the reported size belongs to the axis that was not foreshortened.
    for seed in range(6):
        crop, nm = random_crop(item, 256, np.random.default_rng(100 + seed), (0.5, 2.0), tilt_probability=1.0,
                               calibration_error=0.0)
        along = sorted(_period_px(crop, axis) * nm for axis in (0, 1))
        assert along[0] == pytest.approx(PERIOD_NM, rel=0.03), (seed, along)
        assert along[1] >= PERIOD_NM * 0.97
    uncal = LoadedImage(np.zeros((100, 100), np.float16), None, 0, 0, "x.tif")
    assert math.isnan(random_crop(uncal, 64, np.random.default_rng(0))[1])
