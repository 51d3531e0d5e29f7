"""Conversion of any stored pixel data to float greyscale, and robust contrast normalisation."""

from __future__ import annotations

import numpy as np

from .display import luma, percentile_range  # the one luma formula and percentile rule (display.py)


def to_float_grey(arr: np.ndarray) -> np.ndarray:
    """Return a float32 2-D image in [0, 1].

    Accepts 2-D greyscale, (H, W, 1), RGB (H, W, 3) and RGBA (H, W, 4; alpha ignored) arrays of
    bool, unsigned/signed integer or float dtype.

    Scaling: every non-bool image is mapped linearly from its *actual* finite data range
    ``[min, max]`` to ``[0, 1]``, not from the dtype's range. 16-bit SEM detectors often fill only
    12 bits (or an offset window), and scaling by 65535 would leave such images nearly black.
    Min/max (rather than percentiles) keeps this step lossless and monotone; outlier-robust
    stretching is :func:`normalize_contrast`'s job. Float images whose values already lie in
    [0, 1] are kept as they are (they are assumed to be normalised already). Bool maps to {0, 1}.

    Non-finite values (NaN, +/-inf) are replaced by the median of the finite values, so they never
    propagate. A constant image (or one with no finite value at all) becomes all zeros.
    """
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        rgb = a[..., :3]
        if rgb.dtype == np.bool_:
            rgb = rgb.astype(np.float32)
        a = luma(rgb.astype(np.float64, copy=False))
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D greyscale or (H, W, 3|4) colour image, got shape {a.shape}")
    if a.size == 0:
        raise ValueError("empty image")
    if a.dtype == np.bool_:
        out = a.astype(np.float32)
        return out if out.min() != out.max() else np.zeros(a.shape, np.float32)
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"unsupported pixel type {a.dtype}")

    if np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32, copy=True)  # float64 luma or float16 inputs -> float32
        finite = np.isfinite(a)
        if not finite.all():
            if not finite.any():
                return np.zeros(a.shape, np.float32)
            a[~finite] = np.median(a[finite])
        lo, hi = float(a.min()), float(a.max())
        if lo >= 0.0 and hi <= 1.0 and hi > lo:
            return a
    else:
        lo, hi = float(a.min()), float(a.max())
    if not hi > lo:
        return np.zeros(a.shape, np.float32)
    # Subtract in float64 so that int32/int64 ranges cannot overflow, then store float32.
    out = (a.astype(np.float64, copy=False) - lo) * (1.0 / (hi - lo))
    out = out.astype(np.float32)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def normalize_contrast(
    img: np.ndarray,
    low_pct: float = 0.5,
    high_pct: float = 99.5,
    clahe: bool = False,
    clahe_clip: float = 0.01,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Robustly stretch ``img`` to float32 [0, 1].

    The ``low_pct`` / ``high_pct`` percentiles (of the finite pixels, restricted to ``mask`` when
    given, e.g. to ignore a data bar or padding) are mapped to 0 and 1 and everything outside is
    clipped; a few hot pixels therefore cannot squash the contrast of the whole image. If the
    percentiles coincide (a mostly flat image) the full min/max range of the valid pixels is used;
    a constant image gives zeros. With ``clahe=True`` the result is then locally equalised by
    ``skimage.exposure.equalize_adapthist`` (``clip_limit=clahe_clip``).
    """
    if not 0.0 <= low_pct < high_pct <= 100.0:
        raise ValueError(f"need 0 <= low_pct < high_pct <= 100, got {low_pct}, {high_pct}")
    # to_float_grey is linear and monotone, so percentiles taken after it equal those of the raw
    # data; it also settles dtype, colour and non-finite pixels in one place.
    a = to_float_grey(img)
    # Every pixel (no sub-sampling): the model was trained on exact percentiles.
    lo, hi = percentile_range(a, low_pct, high_pct, mask=mask)
    if not hi > lo:
        return np.zeros(a.shape, np.float32)
    out = ((a - np.float32(lo)) / np.float32(hi - lo)).astype(np.float32, copy=False)
    np.clip(out, 0.0, 1.0, out=out)
    if clahe:
        from skimage.exposure import equalize_adapthist

        out = equalize_adapthist(out, clip_limit=clahe_clip).astype(np.float32)
        np.clip(out, 0.0, 1.0, out=out)
    return out
