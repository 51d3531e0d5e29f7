"""Image preparation for analysis, pure numpy / scikit-image (no Qt, no torch).

Flow: read (``fractoscope.io.read_sem``) -> calibrate (pixel size) -> normalise
(:func:`to_float_grey`, :func:`normalize_contrast`, :func:`resample_to_pixel_size` to the model's
pixel size) -> tile (:func:`tile_grid`, :func:`extract_tiles`, :func:`tile_weight`) -> infer (model,
elsewhere) -> stitch (:class:`Stitcher` blends per-tile maps back into a full-image map).
"""

from .grey import normalize_contrast, to_float_grey
from .prepare import MAX_UPSAMPLING, PreparedImage, prepare_image, uncalibrated_factor
from .resample import resample_to_pixel_size
from .spec import InputSpec
from .stitch import Stitcher
from .tiles import TileBox, extract_tiles, overlap_pixels, tile_grid
from .weights import NOTHING_TO_CLASSIFY, image_probabilities, tile_weight, tile_weighted_mean

__all__ = [
    "MAX_UPSAMPLING",
    "NOTHING_TO_CLASSIFY",
    "InputSpec",
    "PreparedImage",
    "Stitcher",
    "TileBox",
    "extract_tiles",
    "image_probabilities",
    "normalize_contrast",
    "overlap_pixels",
    "prepare_image",
    "resample_to_pixel_size",
    "tile_grid",
    "tile_weight",
    "tile_weighted_mean",
    "to_float_grey",
    "uncalibrated_factor",
]
