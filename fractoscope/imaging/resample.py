"""Resampling an image to the pixel size the model was trained at."""

from __future__ import annotations

import math

import numpy as np

MAX_OUTPUT_PIXELS = 100_000_000  # beyond this a resampled image no longer fits comfortably in RAM
MIN_OUTPUT_SIDE = 8  # smaller outputs carry no usable texture
IDENTITY_TOLERANCE = 0.01  # within 1 % of the target, resampling would only blur


def resample_to_pixel_size(
    img: np.ndarray, pixel_size_m: float, target_pixel_size_m: float
) -> tuple[np.ndarray, float]:
    """Resample a 2-D image from ``pixel_size_m`` to ``target_pixel_size_m`` (metres per pixel).

    Returns ``(image, factor)`` where ``factor = pixel_size_m / target_pixel_size_m`` is the number
    of new pixels per old pixel along each axis (> 1: upsampled, < 1: downsampled). The output
    shape is ``round(H * factor) x round(W * factor)``, so the realised factor differs from the
    returned one by less than half a pixel over the image. Downsampling low-pass filters first
    (``anti_aliasing=True``) so fine texture does not alias into false patterns; interpolation is
    bilinear. When the factor is within 1 % of 1 the input is returned unchanged (not copied) and
    the factor is 1.0. Raises ``ValueError`` for non-positive/non-finite pixel sizes and for
    absurd factors (output over 100 Mpx or with a side under 8 px).
    """
    for name, v in (("pixel_size_m", pixel_size_m), ("target_pixel_size_m", target_pixel_size_m)):
        if not (isinstance(v, int | float | np.floating) and math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive finite length in metres, got {v!r}")
    a = np.asarray(img)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {a.shape}")
    factor = float(pixel_size_m) / float(target_pixel_size_m)
    if abs(factor - 1.0) <= IDENTITY_TOLERANCE:
        return a, 1.0
    h, w = a.shape
    out_shape = (round(h * factor), round(w * factor))
    if out_shape[0] * out_shape[1] > MAX_OUTPUT_PIXELS:
        raise ValueError(
            f"resampling {h}x{w} px by {factor:.3g} would give {out_shape[0]}x{out_shape[1]} px "
            f"(over {MAX_OUTPUT_PIXELS // 1_000_000} Mpx): check the pixel size"
        )
    if min(out_shape) < MIN_OUTPUT_SIDE:
        raise ValueError(
            f"resampling {h}x{w} px by {factor:.3g} would give {out_shape[0]}x{out_shape[1]} px "
            f"(under {MIN_OUTPUT_SIDE} px): check the pixel size"
        )
    from skimage.transform import resize

    out = resize(
        a.astype(np.float32, copy=False),
        out_shape,
        order=1,
        mode="reflect",
        anti_aliasing=factor < 1.0,
        preserve_range=True,
    )
    return out.astype(np.float32, copy=False), factor
