"""From a read SEM image to the grey, contrast-normalised image at the scale the model knows.

One function used by analysis (``fractoscope.analysis``), training data loading and batch runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .grey import normalize_contrast, to_float_grey
from .resample import resample_to_pixel_size
from .spec import InputSpec

if TYPE_CHECKING:
    from fractoscope.io.sem_image import SemImage

# Images coarser than the trained range are enlarged at most this much: upsampling adds no
# detail, beyond 2x it only multiplies the tiles (and the time).
MAX_UPSAMPLING = 2.0


@dataclass
class PreparedImage:
    """The grey, contrast-normalised image the model sees, and how it maps to the original."""

    image: np.ndarray  # float32 [0, 1] at analysis resolution
    scale: float  # analysis pixels per original pixel
    pixel_size_m: float | None  # original pixel size
    analysis_pixel_size_m: float | None
    warnings: list[str]


def uncalibrated_factor(shape: tuple[int, int], spec: InputSpec) -> float:
    """Analysis pixels per original pixel for an image without a pixel size (<= 1).

    The longer side is brought down to ``spec.uncalibrated_max_side`` px, but the shorter side
    never below one tile (``spec.tile_size`` px), so a long narrow strip still gives a full tile.
    1.0 when the spec sets no limit or the image is already small enough.
    """
    limit = spec.uncalibrated_max_side
    h, w = int(shape[0]), int(shape[1])
    if limit is None or max(h, w) <= limit:
        return 1.0
    factor = max(limit / max(h, w), spec.tile_size / max(1, min(h, w)))
    return min(1.0, factor)


def prepare_image(
    sem: SemImage,
    pixel_size_range_m: tuple[float, float] | None = None,
    clahe: bool = False,
    spec: InputSpec | None = None,
) -> PreparedImage:
    """Normalise ``sem.image`` for the model; bring its scale towards the model's trained range.

    An image without a pixel size is reduced to the spec's uncalibrated frame size
    (:func:`uncalibrated_factor`); ``scale`` then says by how much.

    The contrast stretch uses ``spec.percentile_clip`` (the model card's). A calibrated image
    finer than the trained range is reduced (anti-aliased) to the finest trained pixel size; a
    coarser one is enlarged towards the coarsest, by at most ``MAX_UPSAMPLING``. The warnings are
    written for the person reading the result.
    """
    from fractoscope.calibration import format_length

    spec = spec or InputSpec()
    grey = to_float_grey(sem.image)
    lo_pct, hi_pct = spec.percentile_clip
    img = normalize_contrast(grey, low_pct=lo_pct, high_pct=hi_pct, clahe=clahe)
    px = sem.calibration.pixel_size_m
    warnings: list[str] = []
    scale = 1.0
    analysis_px = px
    if px is not None and pixel_size_range_m is not None:
        lo, hi = pixel_size_range_m
        target = min(max(px, lo), hi)
        target = max(target, px / MAX_UPSAMPLING)
        if target > px:
            # Never reduce below one full tile: a small high-magnification image is analysed
            # slightly finer than trained rather than refused as too small.
            target = max(px, min(target, px * min(img.shape[:2]) / spec.tile_size))
        if abs(target / px - 1.0) > 0.01:
            try:
                img, scale = resample_to_pixel_size(img, px, target)
            except ValueError as exc:
                warnings.append(f"the image could not be rescaled ({exc}); it was analysed as stored")
                scale = 1.0
            else:
                analysis_px = px / scale
                if px < lo:
                    warnings.append(
                        f"the magnification is higher than any image the model was trained on "
                        f"({format_length(px)} per pixel; trained from {format_length(lo)}): "
                        f"the image was reduced to {format_length(analysis_px)} per pixel"
                    )
                else:
                    still = " and is still coarser than anything the model has seen" if analysis_px > hi * 1.01 else ""
                    warnings.append(
                        f"the magnification is lower than any image the model was trained on "
                        f"({format_length(px)} per pixel; trained up to {format_length(hi)}): "
                        f"the image was enlarged {scale:.1f}×{still}; features finer than a few "
                        f"pixels are not resolved at this magnification"
                    )
        elif px < lo * 0.99:
            warnings.append(
                f"the magnification is higher than any image the model was trained on "
                f"({format_length(px)} per pixel; trained from {format_length(lo)}) and the image "
                f"is too small to reduce: features look larger than the model knows them"
            )
    elif px is None:
        note = ""
        factor = uncalibrated_factor(img.shape[:2], spec)
        if factor < 1.0:
            # Same anti-aliased resampling as a calibrated image, in arbitrary length units.
            img, scale = resample_to_pixel_size(img, 1.0, 1.0 / factor)
        if scale < 1.0:  # within 1 % of the limit the image is left as stored
            note = (f"; it was reduced {1 / scale:.1f}× to {max(img.shape[:2])} px across, "
                    "a frame size like the training images")
        warnings.append(
            "the image has no pixel size: features are judged by their look alone, not their "
            f"size (set the scale for a better result){note}"
        )
    return PreparedImage(img.astype(np.float32, copy=False), scale, px, analysis_px, warnings)
