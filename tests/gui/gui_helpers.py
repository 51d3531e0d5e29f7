"""Image files for the GUI tests (imported by conftest and the test modules)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PIXEL_SIZE_M = 50e-9  # inside the bundled model's trained range: no resampling, few tiles


def write_textured_tiff(path: Path, size: int = 256, pixel_size_m: float = PIXEL_SIZE_M, seed: int = 0) -> Path:
    """A 16-bit textured image with an ImageJ calibration (what tifffile imagej=True writes)."""
    import tifffile
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    img = gaussian_filter(rng.random((size, size)), 2.0)
    yy, xx = np.mgrid[0:size, 0:size]
    img = img + 0.02 * np.sin(xx / 3.0)  # fine striation-like ridges
    img = (img - img.min()) / (img.max() - img.min())
    data = (200 + 3800 * img).astype(np.uint16)
    um = pixel_size_m * 1e6
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / um, 1 / um), metadata={"unit": "um"})
    return path
