"""Where one image's time goes in a batch run: read, normalise, model, tiles/stitch, overlays, writing.

``fractoscope bench --profile`` runs the batch path's own functions on one image, stage by stage,
and reports the best of ``repeats`` timings of each stage (the least disturbed by other load).
"""

from __future__ import annotations

import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fractoscope.atomic import write_atomic
from fractoscope.batch.stored import prediction_npz_bytes
from fractoscope.batch.work import OVERLAY_MAX_SIDE, THUMB_MAX_SIDE
from fractoscope.hashing import sha256_file
from fractoscope.imaging.display import overlays_for, png_bytes, shrink


@dataclass
class StageProfile:
    image: str
    shape: tuple[int, int]
    tiles: int
    device: str
    threads: int
    repeats: int
    seconds: dict[str, float] = field(default_factory=dict)  # stage -> best time

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())

    def to_json_dict(self) -> dict:
        d = asdict(self)
        d["total_s"] = self.total_s
        return d


def profile_image(analyzer, path: Path, repeats: int = 2) -> StageProfile:
    """Time each stage of one image's batch work (best of ``repeats``)."""
    import torch

    from fractoscope.io import read_sem

    best: dict[str, float] = {}

    @contextmanager
    def stage(name: str):
        t = time.perf_counter()
        yield
        best[name] = min(best.get(name, float("inf")), time.perf_counter() - t)

    pred = sem = None
    for _ in range(max(1, repeats)):
        with stage("hash"):
            sha256_file(path)
        with stage("read"):
            sem = read_sem(path)
        with stage("normalise"):
            prep = analyzer.prepare(sem)
        t = time.perf_counter()
        pred = analyzer.analyze(sem, prepared=prep)
        whole = time.perf_counter() - t
        model_s = float(pred.timings.get("inference_s", 0.0))
        best["model"] = min(best.get("model", float("inf")), model_s)
        # Everything else analyze does: cutting tiles, tile weights, stitching CAMs, the vote,
        # confidence (prepare was passed in, so it is not counted twice).
        rest = "tiles, stitch, vote"
        best[rest] = min(best.get(rest, float("inf")), max(0.0, whole - model_s))
        with stage("overlays"):
            grey, o1, o2 = overlays_for(pred, sem.image, max_side=OVERLAY_MAX_SIDE)
        with stage("encode (npz, PNG)"):
            blobs = [
                prediction_npz_bytes(pred),
                png_bytes(o1),
                png_bytes(o2),
                png_bytes(shrink(grey, THUMB_MAX_SIDE)),
            ]
        with tempfile.TemporaryDirectory(prefix="fractoscope-profile-") as d, stage(
            "write (atomic, fsync)"
        ):
            for i, b in enumerate(blobs):
                write_atomic(Path(d) / f"f{i}", b)
    return StageProfile(
        image=str(path),
        shape=tuple(sem.shape),
        tiles=len(pred.tiles),
        device=analyzer.device,
        threads=torch.get_num_threads(),
        repeats=max(1, repeats),
        seconds=best,
    )
