"""The analysis pipeline: SemImage -> normalise -> tile -> infer (+ CAMs) -> stitch -> Prediction."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fractoscope.analysis.confidence import ConfidenceModel
from fractoscope.analysis.results import Confidence, ModelInfo, Prediction, TilePrediction
from fractoscope.analysis.tilecache import (
    TileCache,
    keep_limit_bytes,
    network_digests,
    shared_cache,
    tile_digests,
)
from fractoscope.errors import AnalysisCancelled, FractoscopeError
from fractoscope.imaging import (
    PreparedImage,
    Stitcher,
    extract_tiles,
    image_probabilities,
    prepare_image,
    tile_grid,
    tile_weight,
    tile_weighted_mean,
)
from fractoscope.io.sem_image import SemImage
from fractoscope.model.checkpoint import LoadedModel, load_checkpoint, resolve_device

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]

# Tiles overlap by a third (64 px of 192): chosen by tests/benchmarks/tile_overlap.py with v3 on
# the 58 real dev images and 60 generated 768-px frames (seed 6161) against half overlap: 0.70 and
# 0.73 of the tiles, the same level-1 answer on 56/58 and 59/60 images with unchanged accuracy,
# maps correlating 0.89-0.90. A quarter ran 0.51-0.58 of the tiles with the same answers, but each
# tile's centre-weighted CAM left a visible grid in the stitched map; a third shows none.
DEFAULT_OVERLAP = 1 / 3
# CAMs are stored every CAM_STRIDE analysis pixels: the level-2 map's own resolution.
CAM_STRIDE = 8
PRECISIONS = ("fp32", "fp16")


@dataclass
class TileOutputs:
    """Raw network outputs of a batch of tiles (numpy, float32)."""

    logits_level1: np.ndarray  # (N, n1)
    logits_level2: np.ndarray  # (N, n2)
    features: np.ndarray  # (N, fused_dim + fine_dim): pooled inputs of head_level1 ++ head_level2
    cams_level1: np.ndarray | None
    cams_level2: np.ndarray | None


@dataclass
class ImageOutputs:
    """Everything the tiles of one prepared image produced, before probabilities are formed."""

    boxes: list  # TileBox at analysis resolution
    weights: np.ndarray  # (N,) tile votes (0 = blank / saturated / text)
    logits_level1: np.ndarray
    logits_level2: np.ndarray
    features: np.ndarray  # (N, D)
    stitched_level1: np.ndarray | None
    stitched_level2: np.ndarray | None
    inference_s: float
    tiles_run: int = -1  # tiles through the network (weight-0 tiles are skipped); -1 = unknown


@dataclass
class _Precomputed:
    """One prepared image's tile weights and the network's outputs of its voting tiles, run by
    ``Analyzer.analyze_many`` in batches shared with other images."""

    weights: np.ndarray  # (N,) tile_weight of every tile of the grid
    with_cams: bool
    rows: dict[int, tuple]  # tile index -> (logits1, logits2, features, cam1 | None, cam2 | None)
    inference_s: float = 0.0  # this image's share of the batches' time

    def outputs(self, idx: list[int], with_cams: bool) -> TileOutputs:
        r = [self.rows[i] for i in idx]
        return TileOutputs(
            np.stack([x[0] for x in r]),
            np.stack([x[1] for x in r]),
            np.stack([x[2] for x in r]),
            np.stack([x[3] for x in r]) if with_cams else None,
            np.stack([x[4] for x in r]) if with_cams else None,
        )


class Analyzer:
    """Loads a checkpoint once and analyses images with it. Thread-safe for one caller at a time."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        device: str = "auto",
        overlap: float = DEFAULT_OVERLAP,
        batch_size: int = 16,
        skip_blank_tiles: bool = True,
        precision: str = "fp32",
        tile_cache: bool | TileCache = True,
    ) -> None:
        self._loaded: LoadedModel = load_checkpoint(Path(model_path) if model_path else None)
        # Where the weights came from: a batch run on Dask ships this file to its workers.
        self.model_path: Path | None = Path(model_path) if model_path else None
        self._device = resolve_device(device)
        # Channels-last: 1.5-2.7x the tiles/s of the default layout on CPU, probabilities within
        # 1e-6 (tests/benchmarks/cpu_path.py); bf16 was rejected there (probabilities off by 5e-2).
        self._loaded.model.to(self._device, memory_format=torch.channels_last)
        self.overlap = overlap
        self.batch_size = batch_size
        # Weight-0 tiles (blank, saturated, data bar) are not run through the network: they count
        # for nothing in the result (see image_outputs). False only to compare with running them.
        self.skip_blank_tiles = skip_blank_tiles
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        # "fp16": the network under autocast to half precision (for CUDA; outputs checked against
        # fp32 by tests/benchmarks/cuda_check.py). Logits, features and CAMs come out as fp32.
        self.precision = precision
        # analyze_many: outputs of tiles already run together with other images' tiles, per
        # prepared image (id), taken by image_outputs instead of running them again.
        self._precomputed: dict[int, _Precomputed] = {}
        self._lock = threading.Lock()
        self.input_spec = self._loaded.info.input_spec
        # Temperatures and out-of-distribution statistics from the card (identity without them).
        self.confidence_model = ConfidenceModel.from_card(self._loaded.info.confidence_card)
        # What the network made of tiles already seen (fractoscope.analysis.tilecache): True = the
        # process's shared cache, False = none (benchmarks that time repeated runs of one image).
        if tile_cache is True:
            tile_cache = shared_cache()
        self.tile_cache: TileCache | None = None if tile_cache is False else tile_cache
        # Digests of the weights the entries depend on: computed at the first cached run (0.1 s
        # over v3's 73 MB), not at every load.
        self._cache_keys: tuple[bytes, bytes] | None = None
        self._keep_tiles = False

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

    # --- lab statistics ------------------------------------------------------------------------
    @property
    def lab_stats(self):
        """The :class:`~fractoscope.analysis.labstats.LabStats` the heads are adjusted to, or None."""
        return getattr(self, "_lab_stats", None)

    def set_lab_stats(self, lab) -> None:
        """Adjust both heads to a lab's feature statistics (None: back to the trained heads).

        Needs the training images' feature statistics in the model card (``fractoscope
        calibrate`` writes them); raises FractoscopeError when they are missing or the statistics
        come from another model."""
        from fractoscope.analysis.labstats import adjusted_head, feature_affine

        m = self._loaded.model
        with self._lock:
            if not hasattr(self, "_trained_heads"):
                self._trained_heads = {
                    k: (h.weight.detach().clone(), h.bias.detach().clone())
                    for k, h in (("level1", m.head_level1), ("level2", m.head_level2))
                }
            heads = {"level1": m.head_level1, "level2": m.head_level2}
            if lab is None:
                for k, (w, b) in self._trained_heads.items():
                    heads[k].weight.data.copy_(w)
                    heads[k].bias.data.copy_(b)
                self._lab_stats = None
                return
            cm = self.confidence_model
            if cm.feature_mean is None:
                raise FractoscopeError(
                    f"{self.model_info.name}: its card has no training feature statistics (fractoscope calibrate writes them)"
                )
            if lab.model_sha256 and lab.model_sha256 != self.model_info.sha256:
                raise FractoscopeError("these lab statistics were computed with another model")
            a, c = feature_affine(lab, cm.feature_mean, cm.feature_std)
            d1 = m.head_level1.weight.shape[1]
            for k, sl in (("level1", slice(0, d1)), ("level2", slice(d1, None))):
                w0, b0 = self._trained_heads[k]
                w, b = adjusted_head(w0.cpu().numpy(), b0.cpu().numpy(), a[sl], c[sl])
                heads[k].weight.data.copy_(torch.from_numpy(w).to(w0))
                heads[k].bias.data.copy_(torch.from_numpy(b).to(b0))
            self._lab_stats = lab

    def image_features(self, sem: SemImage) -> np.ndarray:
        """The tile-weighted pooled head inputs of one image (what lab statistics are fitted on);
        they do not depend on the heads, so any lab adjustment in force does not change them."""
        prep = self.prepare(sem)
        self.check_size(sem, prep)
        with self._lock:
            out = self.image_outputs(prep, with_cams=False)
        return tile_weighted_mean(out.features, out.weights)

    def set_device(self, name: str) -> None:
        dev = resolve_device(name)
        with self._lock:
            self._loaded.model.to(dev, memory_format=torch.channels_last)
            self._device = dev

    # --- inference -----------------------------------------------------------------------------
    def run_tiles(
        self, tiles: np.ndarray, pixel_size_m: float | None | np.ndarray, with_cams: bool = True
    ) -> TileOutputs:
        """Run (N, S, S) [0, 1] tiles through the network; raw logits, pooled features, CAMs.

        ``pixel_size_m``: one for all tiles, or an (N,) array (NaN = unknown) when the tiles
        come from several images."""
        xs = self.input_spec.standardise(tiles)
        x = torch.from_numpy(xs)[:, None].to(self._device)
        x = x.contiguous(memory_format=torch.channels_last)
        if isinstance(pixel_size_m, np.ndarray):
            scale = torch.from_numpy(pixel_size_m.astype(np.float32) * np.float32(1e9)).to(self._device)
        else:
            nm = float("nan") if pixel_size_m is None else pixel_size_m * 1e9
            scale = torch.full((x.shape[0],), nm, device=self._device)
        half = torch.autocast(self._device.type, dtype=torch.float16, enabled=self.precision == "fp16")
        model = self._loaded.model
        with torch.inference_mode(), half:
            if self._caching():
                out = self._cached_forward(xs, x, scale, with_cams)
            else:
                out = model(x, scale, with_cams=with_cams)
            feats = torch.cat([out.features_level1.mean((2, 3)), out.features_level2.mean((2, 3))], 1)
        return TileOutputs(
            out.logits_level1.float().cpu().numpy(),
            out.logits_level2.float().cpu().numpy(),
            feats.float().cpu().numpy(),
            out.cam_level1.float().cpu().numpy() if with_cams else None,
            out.cam_level2.float().cpu().numpy() if with_cams else None,
        )

    def _caching(self) -> bool:
        # CPU fp32 only: there the backbones dominate; on a GPU they are cheap next to the copies.
        c = self.tile_cache
        return c is not None and c.enabled and self._device.type == "cpu" and self.precision == "fp32"

    def _through_cache(self, keys: list[bytes], compute, keep: bool) -> tuple[torch.Tensor, ...]:
        """Batch outputs for ``keys``' tiles: the cached ones read back, ``compute(indices)`` run
        for the rest (one tensor per output, batch first) and stored."""
        cache = self.tile_cache
        got = [cache.get(k) for k in keys]
        miss = [i for i, g in enumerate(got) if g is None]
        if miss:
            ran = compute(miss)
            if len(miss) == len(keys):
                # Nothing cached (the usual first analysis): the batch as the network made it.
                for k, i in enumerate(miss):
                    cache.put(keys[i], tuple(t[k].clone() for t in ran), keep=keep)
                return ran
            for k, i in enumerate(miss):
                got[i] = tuple(t[k].clone() for t in ran)
                cache.put(keys[i], got[i], keep=keep)
        return tuple(torch.stack([g[j] for g in got]) for j in range(len(got[0])))

    def _cached_forward(self, xs: np.ndarray, x: torch.Tensor, scale: torch.Tensor, with_cams: bool):
        """``model(x, scale, with_cams)`` through the tile cache: the heads' input maps of tiles
        seen at this pixel size, else the backbone outputs of tiles seen at all, else the network."""
        model = self._loaded.model
        if self._cache_keys is None:
            self._cache_keys = network_digests(model)
        backbone_key, maps_key = self._cache_keys
        tiles = tile_digests(xs)
        px = scale.float().cpu().numpy()

        def pick(t: torch.Tensor, idx: list[int]) -> torch.Tensor:
            return t if len(idx) == t.shape[0] else t[idx]

        def maps(idx: list[int]) -> tuple[torch.Tensor, ...]:
            xi = pick(x, idx)
            bb = self._through_cache(
                [backbone_key + tiles[i] for i in idx], lambda j: model.backbone(pick(xi, j)), keep=False
            )
            return model.fuse_maps(*bb, pixel_size_nm=pick(scale, idx))

        keys = [maps_key + tiles[i] + px[i].tobytes() for i in range(len(tiles))]
        g16, g8 = self._through_cache(keys, maps, keep=self._keep_tiles)
        return model.heads(g16, g8, with_cams=with_cams)

    @contextmanager
    def keeping_tiles(self) -> Iterator[None]:
        """Tiles run inside this block stay in the tile cache until read once or
        :meth:`release_kept_tiles` (up to :func:`~fractoscope.analysis.tilecache.keep_limit_bytes`):
        for a first pass over images that a second pass analyses again in the same order (a
        batch's lab-statistics sample), which plain LRU would evict just before each is needed."""
        if not self._caching():
            yield
            return
        self.tile_cache.keep(keep_limit_bytes())
        self._keep_tiles = True
        try:
            yield
        finally:
            self._keep_tiles = False

    def release_kept_tiles(self) -> None:
        """Tiles kept by :meth:`keeping_tiles` become ordinary cache entries again."""
        if self.tile_cache is not None:
            self.tile_cache.release()

    def infer_tiles(
        self, tiles: np.ndarray, pixel_size_m: float | None, with_cams: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Run (N, S, S) [0,1] tiles; returns calibrated P(l1), joint P(l2), CAM1, CAM2."""
        o = self.run_tiles(tiles, pixel_size_m, with_cams)
        p1, p2 = self.confidence_model.probabilities(o.logits_level1, o.logits_level2, self.model_info.taxonomy)
        return p1, p2, o.cams_level1, o.cams_level2

    def prepare(self, sem: SemImage) -> PreparedImage:
        """The normalise/resample step alone (thread-safe): lets a batch prepare the next image
        while the model works on the current one."""
        return prepare_image(sem, self._loaded.info.pixel_size_range_m, spec=self.input_spec)

    def minimum_side(self, prep: PreparedImage) -> int:
        """Smallest side (original pixels) that still gives one full tile at this image's scale."""
        return int(math.ceil(self.input_spec.tile_size / max(prep.scale, 1e-9) - 1e-6))

    def check_size(self, sem: SemImage, prep: PreparedImage) -> None:
        """Refuse an image that does not hold one full tile of real pixels at analysis scale."""
        size = self.input_spec.tile_size
        if min(prep.image.shape[:2]) < size:
            rows, cols = sem.shape[:2]
            n = self.minimum_side(prep)
            raise FractoscopeError(f"too small to classify: {cols} × {rows} px, needs at least {n} × {n}")

    def image_outputs(
        self,
        prep: PreparedImage,
        with_cams: bool = False,
        report: Callable[[float, str], None] | None = None,
    ) -> ImageOutputs:
        """Tile a prepared image and run every tile that votes (raw outputs; used by analysis and
        by the confidence fit, which needs the logits before any temperature).

        A tile whose weight is 0 (blank, saturated, data bar or text) has no say in anything an
        image's result is made of (the vote, the confidence, the adapted heads; the stitched CAM
        wherever a voting tile covers it), so with ``skip_blank_tiles`` it is not run through the
        network: its logits and features are 0 (its probabilities uniform) and the maps are 0
        where only such tiles lie.
        """
        img = prep.image
        size = self.input_spec.tile_size
        n1, n2 = len(self.model_info.taxonomy.level1), len(self.model_info.taxonomy.level2)
        boxes = tile_grid(img.shape, size, self.overlap)
        n = len(boxes)
        weights = np.zeros(n, np.float32)
        l1 = np.zeros((n, n1), np.float32)
        l2 = np.zeros((n, n2), np.float32)
        feats: np.ndarray | None = None
        st1 = st2 = None
        if with_cams:
            st1 = Stitcher(img.shape, n1, size, stride=CAM_STRIDE)
            st2 = Stitcher(img.shape, n2, size, stride=CAM_STRIDE)
        if report:
            report(0.02, f"{n} tiles")
        t_infer = 0.0
        n_run = 0
        # Tiles waiting for the network: (index, pixels). Runs in full batches of batch_size, so
        # skipping a tile never leaves a batch short (and an image without weight-0 tiles runs
        # exactly the batches it always did).
        pending: list[tuple[int, np.ndarray]] = []

        pre = self._precomputed.pop(id(prep), None)
        if pre is not None and (pre.with_cams < with_cams or len(pre.weights) != n):
            pre = None  # made for another call: run the tiles here

        def run(batch: list[tuple[int, np.ndarray]]) -> None:
            nonlocal feats, t_infer, n_run
            idx = [i for i, _ in batch]
            if pre is not None:
                o = pre.outputs(idx, with_cams)
            else:
                tiles = np.stack([t for _, t in batch])
                ti = time.perf_counter()
                o = self.run_tiles(tiles, prep.analysis_pixel_size_m, with_cams)
                t_infer += time.perf_counter() - ti
            n_run += len(idx)
            if feats is None:
                feats = np.zeros((n, o.features.shape[1]), np.float32)
            l1[idx], l2[idx], feats[idx] = o.logits_level1, o.logits_level2, o.features
            if with_cams:
                for k, i in enumerate(idx):
                    st1.add(boxes[i], o.cams_level1[k], float(weights[i]))
                    st2.add(boxes[i], o.cams_level2[k], float(weights[i]))

        for start in range(0, n, self.batch_size):
            chunk = boxes[start : start + self.batch_size]
            tiles = extract_tiles(img, chunk, size)
            for k, t in enumerate(tiles):
                w = tile_weight(t) if pre is None else float(pre.weights[start + k])
                weights[start + k] = w
                if w > 0 or not self.skip_blank_tiles:
                    pending.append((start + k, t))
            while len(pending) >= self.batch_size:
                run(pending[: self.batch_size])
                del pending[: self.batch_size]
            if report:
                report(0.02 + 0.93 * (start + len(chunk)) / n, f"tile {start + len(chunk)}/{n}")
        if pending:
            run(pending)
        if pre is not None:
            t_infer = pre.inference_s
        if feats is None:  # nothing voted: the caller refuses the image (nothing to classify)
            feats = np.zeros((n, 0), np.float32)
        return ImageOutputs(
            boxes,
            weights,
            l1,
            l2,
            feats,
            st1.result() if with_cams else None,
            st2.result() if with_cams else None,
            t_infer,
            n_run,
        )

    def analyze_many(
        self,
        sems: list[SemImage],
        with_cams: bool = True,
        batch_size: int | None = None,
        **kw,
    ) -> list[Prediction | FractoscopeError]:
        """Analyse several images with their voting tiles run through the network together, in
        batches of ``batch_size`` (default ``self.batch_size``) that span images: a GPU gets
        full batches even from small images or the last tiles of each. Each result is what
        ``analyze(sem)`` gives (the same tiles, weights, stitching and vote; each tile keeps its
        own image's pixel size); an image that cannot be analysed (too small, nothing to
        classify) gets its FractoscopeError in its place. ``kw`` goes to ``analyze``.
        """
        batch_size = batch_size or self.batch_size
        size = self.input_spec.tile_size
        preps: list[PreparedImage | FractoscopeError] = []
        entries: list[tuple[int, int, np.ndarray, float]] = []  # image, tile index, tile, pixel size
        pres: list[_Precomputed | None] = []
        for j, sem in enumerate(sems):
            try:
                prep = self.prepare(sem)
                self.check_size(sem, prep)
            except FractoscopeError as exc:
                preps.append(exc)
                pres.append(None)
                continue
            boxes = tile_grid(prep.image.shape, size, self.overlap)
            tiles = extract_tiles(prep.image, boxes, size)
            weights = np.array([tile_weight(t) for t in tiles], np.float32)
            px = np.nan if prep.analysis_pixel_size_m is None else prep.analysis_pixel_size_m
            for i in range(len(boxes)):
                if weights[i] > 0 or not self.skip_blank_tiles:
                    entries.append((j, i, tiles[i], px))
            preps.append(prep)
            pres.append(_Precomputed(weights, with_cams, {}))
        with self._lock:
            for start in range(0, len(entries), batch_size):
                chunk = entries[start : start + batch_size]
                t = time.perf_counter()
                o = self.run_tiles(
                    np.stack([e[2] for e in chunk]), np.array([e[3] for e in chunk]), with_cams
                )
                share = (time.perf_counter() - t) / len(chunk)
                for k, (j, i, _, _) in enumerate(chunk):
                    cams = (o.cams_level1[k], o.cams_level2[k]) if with_cams else (None, None)
                    pres[j].rows[i] = (o.logits_level1[k], o.logits_level2[k], o.features[k], *cams)
                    pres[j].inference_s += share
        results: list[Prediction | FractoscopeError] = []
        for sem, prep, pre in zip(sems, preps, pres, strict=True):
            if isinstance(prep, FractoscopeError):
                results.append(prep)
                continue
            self._precomputed[id(prep)] = pre
            try:
                results.append(self.analyze(sem, with_cams=with_cams, prepared=prep, **kw))
            except FractoscopeError as exc:
                results.append(exc)
            finally:
                self._precomputed.pop(id(prep), None)
        return results

    def analyze(
        self,
        sem: SemImage,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
        with_cams: bool = True,
        prepared: PreparedImage | None = None,
        surface: str | None = None,
    ) -> Prediction:
        """Analyse one image. Raises AnalysisCancelled when ``cancel()`` turns true, and
        FractoscopeError for an image too small or with nothing to classify.

        ``prepared`` is ``self.prepare(sem)`` when the caller has already computed it.
        ``surface``: what the analyst knows of the surface (``fractoscope.analysis.context``:
        fracture / worn / corroded / unknown, the default), restricting the mechanisms considered.
        """
        from fractoscope.analysis.context import resolve

        context = resolve(surface, self._loaded.info.taxonomy)  # ValueError before any work
        with self._lock:
            return self._analyze(sem, progress, cancel, with_cams, prepared, context)

    def _analyze(
        self,
        sem: SemImage,
        progress: ProgressFn | None,
        cancel: CancelFn | None,
        with_cams: bool,
        prepared: PreparedImage | None = None,
        context=None,
    ) -> Prediction:
        t0 = time.perf_counter()
        info = self._loaded.info
        tax = info.taxonomy

        def report(frac: float, msg: str) -> None:
            if progress is not None:
                progress(min(max(frac, 0.0), 1.0), msg)
            if cancel is not None and cancel():
                raise AnalysisCancelled("analysis cancelled")

        report(0.0, "normalising")
        prep = prepared if prepared is not None else self.prepare(sem)
        self.check_size(sem, prep)
        t_prep = time.perf_counter()
        out = self.image_outputs(prep, with_cams, report)
        weights = out.weights
        # The one tile -> image rule: a blank, saturated or text-only frame (no tile votes) is
        # refused in one line rather than given a confident class for empty space.
        features = tile_weighted_mean(out.features, weights).astype(np.float32)
        cm = self.confidence_model
        p1, p2 = cm.probabilities(out.logits_level1, out.logits_level2, tax)
        img_p1 = image_probabilities(p1, weights)
        img_p2 = image_probabilities(p2, weights)
        if context is not None and context.applied:
            # The analyst's surface context: image and tiles renormalised over the mechanisms it
            # allows, before the confidence is judged (CAMs and the OOD score are untouched).
            p1, p2 = context.restrict(p1, p2, tax)
            img_p1, img_p2 = context.restrict(img_p1, img_p2, tax)
        confidence: Confidence = cm.assess(img_p1, out.features, out.logits_level1, weights)

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
            for i, bx in enumerate(out.boxes)
        ]
        pred = Prediction(
            taxonomy=tax,
            p_level1=img_p1.astype(np.float32),
            p_level2=img_p2.astype(np.float32),
            tiles=tiles_out,
            cams_level1=out.stitched_level1,
            cams_level2=out.stitched_level2,
            cam_stride=CAM_STRIDE * inv,
            image_shape=(rows, cols),
            model=info,
            device=self.device,
            pixel_size_m=sem.calibration.pixel_size_m,
            calibration_source=sem.calibration.source,
            analysis_pixel_size_m=prep.analysis_pixel_size_m,
            path=str(sem.path) if sem.path else None,
            warnings=list(prep.warnings),
            features=features,
            tile_features=out.features,
            confidence=confidence,
            lab_adjustment=self.lab_stats.describe() if self.lab_stats is not None else "",
            surface_context=context.to_dict() if context is not None else None,
        )
        t_end = time.perf_counter()
        pred.timings = {
            "prepare_s": t_prep - t0,
            "inference_s": out.inference_s,
            "total_s": t_end - t0,
            "tiles_run": out.tiles_run,
        }
        report(1.0, "done")
        return pred


__all__ = ["Analyzer", "ImageOutputs", "PreparedImage", "TileOutputs", "prepare_image"]
