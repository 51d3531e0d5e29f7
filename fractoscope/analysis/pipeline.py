"""The analysis pipeline: SemImage -> normalise -> tile -> infer (+ CAMs) -> stitch -> Prediction."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fractoscope.analysis.results import ModelInfo, Prediction, TilePrediction
from fractoscope.errors import AnalysisCancelled, FractoscopeError
from fractoscope.imaging import (
    Stitcher,
    extract_tiles,
    normalize_contrast,
    resample_to_pixel_size,
    tile_grid,
    tile_weight,
    to_float_grey,
)
from fractoscope.io.sem_image import SemImage
from fractoscope.model.checkpoint import LoadedModel, load_checkpoint, resolve_device

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]

# Tiles overlap by half: every feature is seen away from a tile border, and the stitched CAM shows
# no tile-periodic pattern (at a quarter, each tile's centre-weighted CAM left a visible grid).
DEFAULT_OVERLAP = 0.5
# Images coarser than the trained range are enlarged at most this much (see prepare_image).
MAX_UPSAMPLING = 2.0
# CAMs are stored every CAM_STRIDE analysis pixels: the level-2 map's own resolution.
CAM_STRIDE = 8


@dataclass
class PreparedImage:
    """The grey, contrast-normalised image the model sees, and how it maps to the original."""

    image: np.ndarray  # float32 [0, 1] at analysis resolution
    scale: float  # analysis pixels per original pixel
    pixel_size_m: float | None  # original pixel size
    analysis_pixel_size_m: float | None
    warnings: list[str]


def prepare_image(
    sem: SemImage, pixel_size_range_m: tuple[float, float] | None = None, clahe: bool = False
) -> PreparedImage:
    """Normalise ``sem.image`` for the model; bring its scale into the model's trained range.

    A calibrated image finer or coarser than the range the model was trained on is resampled
    (anti-aliased) to the nearest end of that range, so features appear at sizes the model knows.
    """
    grey = to_float_grey(sem.image)
    img = normalize_contrast(grey, clahe=clahe)
    px = sem.calibration.pixel_size_m
    warnings: list[str] = []
    scale = 1.0
    analysis_px = px
    if px is not None and pixel_size_range_m is not None:
        lo, hi = pixel_size_range_m
        target = min(max(px, lo), hi)
        # Upsampling adds no detail: beyond 2x it only multiplies the tiles (and the time).
        target = max(target, px / MAX_UPSAMPLING)
        if abs(target / px - 1.0) > 0.01:
            from fractoscope.calibration import format_length

            warnings.append(
                f"pixel size {format_length(px)} is outside the model's trained range "
                f"{format_length(lo)}–{format_length(hi)}; analysed resampled to {format_length(target)}"
                + (
                    "; features finer than a few pixels are not resolved at this magnification"
                    if target > hi
                    else ""
                )
            )
            try:
                img, scale = resample_to_pixel_size(img, px, target)
            except ValueError as exc:
                warnings.append(f"could not resample ({exc}); analysed at the stored scale")
                scale = 1.0
            else:
                analysis_px = px / scale
    elif px is None:
        warnings.append("image is uncalibrated: the model uses its 'unknown scale' embedding")
    return PreparedImage(img.astype(np.float32, copy=False), scale, px, analysis_px, warnings)


class Analyzer:
    """Loads a checkpoint once and analyses images with it. Thread-safe for one caller at a time."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        device: str = "auto",
        overlap: float = DEFAULT_OVERLAP,
        batch_size: int = 16,
    ) -> None:
        self._loaded: LoadedModel = load_checkpoint(Path(model_path) if model_path else None)
        self._device = resolve_device(device)
        self._loaded.model.to(self._device)
        self.overlap = overlap
        self.batch_size = batch_size
        self._lock = threading.Lock()
        card_in = self._loaded.card.get("input", {}).get("normalisation", {})
        self._mean = float(card_in.get("mean", 0.5))
        self._std = float(card_in.get("std", 0.25))

    # --- model / device ----------------------------------------------------------------------
    @property
    def model_info(self) -> ModelInfo:
        return self._loaded.info

    @property
    def model(self) -> torch.nn.Module:
        return self._loaded.model

    @property
    def device(self) -> str:
        return self._device.type

    def set_device(self, name: str) -> None:
        dev = resolve_device(name)
        with self._lock:
            self._loaded.model.to(dev)
            self._device = dev

    # --- inference -----------------------------------------------------------------------------
    def infer_tiles(
        self, tiles: np.ndarray, pixel_size_m: float | None, with_cams: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Run (N, S, S) [0,1] tiles; returns P(l1), joint P(l2), CAM1, CAM2 as numpy arrays."""
        model = self._loaded.model
        x = torch.from_numpy(np.ascontiguousarray(tiles, dtype=np.float32))[:, None]
        x = ((x - self._mean) / self._std).to(self._device)
        nm = float("nan") if pixel_size_m is None else pixel_size_m * 1e9
        scale = torch.full((x.shape[0],), nm, device=self._device)
        with torch.inference_mode():
            out = model(x, scale, with_cams=with_cams)
        p1 = out.log_p_level1.exp().float().cpu().numpy()
        p2 = out.log_p_level2.exp().float().cpu().numpy()
        c1 = out.cam_level1.float().cpu().numpy() if with_cams else None
        c2 = out.cam_level2.float().cpu().numpy() if with_cams else None
        return p1, p2, c1, c2

    def prepare(self, sem: SemImage) -> PreparedImage:
        """The normalise/resample step alone (thread-safe): lets a batch prepare the next image
        while the model works on the current one."""
        return prepare_image(sem, self._loaded.info.pixel_size_range_m)

    def analyze(
        self,
        sem: SemImage,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
        with_cams: bool = True,
        prepared: PreparedImage | None = None,
    ) -> Prediction:
        """Analyse one image. Raises AnalysisCancelled when ``cancel()`` turns true.

        ``prepared`` is ``self.prepare(sem)`` when the caller has already computed it.
        """
        with self._lock:
            return self._analyze(sem, progress, cancel, with_cams, prepared)

    def _analyze(
        self,
        sem: SemImage,
        progress: ProgressFn | None,
        cancel: CancelFn | None,
        with_cams: bool,
        prepared: PreparedImage | None = None,
    ) -> Prediction:
        t0 = time.perf_counter()
        info = self._loaded.info
        tax = info.taxonomy
        size = info.input_size

        def report(frac: float, msg: str) -> None:
            if progress is not None:
                progress(min(max(frac, 0.0), 1.0), msg)
            if cancel is not None and cancel():
                raise AnalysisCancelled("analysis cancelled")

        report(0.0, "normalising")
        prep = prepared if prepared is not None else self.prepare(sem)
        img = prep.image
        t_prep = time.perf_counter()
        boxes = tile_grid(img.shape, size, self.overlap)
        n = len(boxes)
        p1 = np.zeros((n, len(tax.level1)), np.float32)
        p2 = np.zeros((n, len(tax.level2)), np.float32)
        weights = np.zeros(n, np.float32)
        st1 = st2 = None
        if with_cams:
            st1 = Stitcher(img.shape, len(tax.level1), size, stride=CAM_STRIDE)
            st2 = Stitcher(img.shape, len(tax.level2), size, stride=CAM_STRIDE)
        report(0.02, f"{n} tiles")
        t_infer = 0.0
        for start in range(0, n, self.batch_size):
            chunk = boxes[start : start + self.batch_size]
            tiles = extract_tiles(img, chunk, size)
            w = np.array([tile_weight(t) for t in tiles], np.float32)
            ti = time.perf_counter()
            a, b, c1, c2 = self.infer_tiles(tiles, prep.analysis_pixel_size_m, with_cams)
            t_infer += time.perf_counter() - ti
            sl = slice(start, start + len(chunk))
            p1[sl], p2[sl], weights[sl] = a, b, w
            if with_cams:
                for k, box in enumerate(chunk):
                    st1.add(box, c1[k], float(w[k]))
                    st2.add(box, c2[k], float(w[k]))
            report(0.02 + 0.93 * (start + len(chunk)) / n, f"tile {start + len(chunk)}/{n}")

        warnings = list(prep.warnings)
        vote = weights.astype(np.float64)
        if vote.sum() <= 0:
            # A blank, saturated or text-only frame has nothing to classify: say so rather than
            # report a confident class for empty space.
            raise FractoscopeError(
                "no part of the image looks like a fracture surface (blank, saturated or text only); "
                "nothing to classify"
            )
        vote /= vote.sum()
        img_p1 = (vote[:, None] * p1).sum(0)
        img_p2 = (vote[:, None] * p2).sum(0)
        img_p1 /= img_p1.sum()
        img_p2 /= img_p2.sum()

        inv = 1.0 / prep.scale
        rows, cols = sem.shape
        tiles_out = [
            TilePrediction(
                y0=int(math.floor(bx.y0 * inv)),
                x0=int(math.floor(bx.x0 * inv)),
                y1=min(rows, int(math.ceil(bx.y1 * inv))),
                x1=min(cols, int(math.ceil(bx.x1 * inv))),
                weight=float(weights[i]),
                p_level1=p1[i],
                p_level2=p2[i],
            )
            for i, bx in enumerate(boxes)
        ]
        cams1 = st1.result() if with_cams else None
        cams2 = st2.result() if with_cams else None
        pred = Prediction(
            taxonomy=tax,
            p_level1=img_p1.astype(np.float32),
            p_level2=img_p2.astype(np.float32),
            tiles=tiles_out,
            cams_level1=cams1,
            cams_level2=cams2,
            cam_stride=CAM_STRIDE * inv,
            image_shape=(rows, cols),
            model=info,
            device=self.device,
            pixel_size_m=sem.calibration.pixel_size_m,
            calibration_source=sem.calibration.source,
            analysis_pixel_size_m=prep.analysis_pixel_size_m,
            path=str(sem.path) if sem.path else None,
            warnings=warnings,
        )
        if pred.margin < 0.2:
            warnings.append(
                f"uncertain: {tax.display_name(pred.level1.label)} leads the runner-up by only "
                f"{pred.margin:.0%}"
            )
        t_end = time.perf_counter()
        pred.timings = {
            "prepare_s": t_prep - t0,
            "inference_s": t_infer,
            "total_s": t_end - t0,
        }
        report(1.0, "done")
        return pred


_SHARED: dict[tuple[str, str], Analyzer] = {}
_SHARED_LOCK = threading.Lock()


def shared_analyzer(model_path: str | Path | None = None, device: str = "auto") -> Analyzer:
    """One Analyzer per (model, device) in this process: the model is loaded once."""
    key = (str(model_path or ""), device)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = Analyzer(model_path, device)
        return _SHARED[key]


__all__ = ["Analyzer", "PreparedImage", "prepare_image", "shared_analyzer"]
