"""Pooled features of every tile of an image, as the base model's heads see them, cached on disk.

The features come from ``Analyzer.analyze(sem, with_cams=False)`` (``pred.tile_features``), so an
adapted head sees exactly the tiling, normalisation and resampling that ``predict`` uses. Each
image's features are stored under ``<cache>/<base-model sha256>/<key>.npz`` where the key is the
sha256 of the file's bytes (plus that of its manual-scale sidecar, which changes the pixel size
the model sees), so a second run over a grown folder only computes the new images.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fractoscope.atomic import atomic_path
from fractoscope.errors import AnalysisCancelled, FractoscopeError
from fractoscope.hashing import sha256_file
from fractoscope.io.manual import manual_calibration_path

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]

# Cached entries carry this; a change of layout invalidates old entries instead of misreading them.
CACHE_VERSION = 1
THUMBNAIL_SIZE = 128  # longest side of the stored thumbnail, pixels
CACHE_ENV = "FRACTOSCOPE_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$FRACTOSCOPE_CACHE_DIR``, else the platform's per-user cache folder."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "fractoscope" / "features"


def features_sha256(model_info) -> str:
    """Which network computed a model's pooled features: an adapted model shares its base's
    backbone (only the heads differ), so its features - and their cache - are the base's."""
    card = getattr(model_info, "card", None) or {}
    return str(card.get("adaptation", {}).get("features_sha256") or model_info.sha256)


@dataclass
class ImageFeatures:
    """One image's pooled features (layout of ``Prediction.tile_features``: level-1 ++ level-2)."""

    key: str  # cache key: file sha256, plus the manual-scale sidecar's when there is one
    file_sha256: str
    tile_features: np.ndarray  # (n_tiles, d1 + d2) float32
    tile_weights: np.ndarray  # (n_tiles,) float32; 0 for tiles that do not vote (blank, text)
    features: np.ndarray  # (d1 + d2,) image-level, tile-weighted mean
    pixel_size_m: float | None
    shape: tuple[int, int]  # cropped image (rows, cols)
    thumbnail: np.ndarray  # (h, w) uint8 grey, longest side THUMBNAIL_SIZE

    @property
    def n_voting(self) -> int:
        return int((self.tile_weights > 0).sum())


@dataclass
class ExtractionResult:
    features: dict[Path, ImageFeatures] = field(default_factory=dict)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    computed: int = 0  # images run through the model in this call
    cached: int = 0  # images whose features came from the cache


def image_key(path: Path) -> tuple[str, str]:
    """(cache key, file sha256). Raises FractoscopeError when the file cannot be read."""
    try:
        file_sha = sha256_file(path)
        side = manual_calibration_path(path)
        key = f"{file_sha}-{sha256_file(side)[:16]}" if side.is_file() else file_sha
    except OSError as exc:
        raise FractoscopeError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    return key, file_sha


def make_thumbnail(image: np.ndarray, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """A grey uint8 thumbnail with the viewer's display stretch, longest side at most ``size``."""
    from fractoscope.imaging.display import shrink, to_grey_u8

    return np.ascontiguousarray(shrink(to_grey_u8(image), size))


class FeatureCache:
    """Per-base-model folder of ``.npz`` files, one per image key."""

    def __init__(self, root: str | Path | None, model_sha256: str) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.folder = self.root / model_sha256[:32]

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npz"

    def get(self, key: str) -> ImageFeatures | None:
        p = self._path(key)
        if not p.is_file():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                if int(z["version"]) != CACHE_VERSION:
                    return None
                px = float(z["pixel_size_m"])
                return ImageFeatures(
                    key=key,
                    file_sha256=str(z["file_sha256"]),
                    tile_features=z["tile_features"].astype(np.float32),
                    tile_weights=z["tile_weights"].astype(np.float32),
                    features=z["features"].astype(np.float32),
                    pixel_size_m=px if np.isfinite(px) else None,
                    shape=(int(z["shape"][0]), int(z["shape"][1])),
                    thumbnail=z["thumbnail"].astype(np.uint8),
                )
        except (OSError, KeyError, ValueError, EOFError):
            return None  # a damaged entry is recomputed, never trusted

    def put(self, f: ImageFeatures) -> None:
        p = self._path(f.key)
        try:
            with atomic_path(p) as tmp, open(tmp, "wb") as fh:
                np.savez(
                    fh,
                    version=np.int32(CACHE_VERSION),
                    file_sha256=np.str_(f.file_sha256),
                    tile_features=f.tile_features.astype(np.float32),
                    tile_weights=f.tile_weights.astype(np.float32),
                    features=f.features.astype(np.float32),
                    pixel_size_m=np.float64(np.nan if f.pixel_size_m is None else f.pixel_size_m),
                    shape=np.asarray(f.shape, np.int64),
                    thumbnail=f.thumbnail,
                )
        except OSError:
            pass  # an unwritable cache only costs time on the next run


def compute_features(analyzer, path: Path, key: str, file_sha: str, cancel: CancelFn | None = None) -> ImageFeatures:
    """Read ``path`` with read_sem (calibration, data-bar crop) and run the analyzer on it."""
    from fractoscope.io import read_sem

    sem = read_sem(path)
    pred = analyzer.analyze(sem, with_cams=False, cancel=cancel)
    tf = np.asarray(pred.tile_features, np.float32)
    w = np.array([t.weight for t in pred.tiles], np.float32)
    if tf.ndim != 2 or tf.shape[0] != len(w):
        raise FractoscopeError(f"{path}: the analysis returned no per-tile features")
    return ImageFeatures(
        key=key,
        file_sha256=file_sha,
        tile_features=tf,
        tile_weights=w,
        features=np.asarray(pred.features, np.float32),
        pixel_size_m=sem.calibration.pixel_size_m,
        shape=tuple(sem.shape),
        thumbnail=make_thumbnail(sem.image),
    )


def extract_features(
    paths: Sequence[Path],
    analyzer,
    cache: FeatureCache | None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ExtractionResult:
    """Features of every readable image in ``paths`` (cache first). Unreadable files are listed
    in ``failed`` with their one-line reason; cancelling raises AnalysisCancelled."""
    res = ExtractionResult()
    n = len(paths)
    for i, path in enumerate(paths):
        if cancel is not None and cancel():
            raise AnalysisCancelled("cancelled")
        path = Path(path)
        if progress is not None:
            progress(i / max(n, 1), f"features {i + 1}/{n}: {path.name}")
        try:
            key, file_sha = image_key(path)
            f = cache.get(key) if cache is not None else None
            if f is not None:
                res.cached += 1
            else:
                f = compute_features(analyzer, path, key, file_sha, cancel)
                res.computed += 1
                if cache is not None:
                    cache.put(f)
        except AnalysisCancelled:
            raise
        except FractoscopeError as exc:
            res.failed.append((path, _reason(path, exc)))
            continue
        except MemoryError:
            res.failed.append((path, "not enough memory for this image"))
            continue
        res.features[path] = f
    if progress is not None:
        progress(1.0, f"features of {len(res.features)} images")
    return res


def _reason(path: Path, exc: Exception) -> str:
    text = str(exc)
    for prefix in (f"{path}: ", f"{path.name}: "):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


__all__ = [
    "ExtractionResult",
    "FeatureCache",
    "ImageFeatures",
    "default_cache_dir",
    "extract_features",
    "features_sha256",
    "image_key",
    "make_thumbnail",
]
