"""Save a Prediction (probabilities, tiles, CAMs, provenance) so the viewer can reopen it later.

One compressed ``.npz`` per image: numeric arrays plus a JSON string for everything else. Loaded
with ``allow_pickle=False``: a results folder from elsewhere cannot execute code.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from fractoscope.analysis.results import Confidence, ModelInfo, Prediction, TilePrediction
from fractoscope.atomic import write_atomic
from fractoscope.errors import FractoscopeError
from fractoscope.model.taxonomy import Taxonomy

FORMAT_VERSION = 1


def save_prediction(path: Path, prediction: Prediction) -> None:
    """Write ``prediction`` to ``path`` atomically (temporary file in the same folder, rename)."""
    write_atomic(path, prediction_npz_bytes(prediction))


def card_without_arrays(card: dict | None):
    """The model card as a stored prediction keeps it: every fitted array (a ``base64`` blob of the
    confidence statistics, about 190 kB of v3's card) left out, its dtype and shape kept.

    The arrays serve only to compute a confidence, which the stored prediction already holds; the
    thresholds, metrics and training record stay. Compressing the blobs again into every stored
    prediction cost about 0.1 s of CPU per image in a batch, beside the model (issue 26)."""
    if isinstance(card, dict):
        if "base64" in card:
            return {**{k: v for k, v in card.items() if k != "base64"}, "base64": None, "omitted": True}
        return {k: card_without_arrays(v) for k, v in card.items()}
    if isinstance(card, list):
        return [card_without_arrays(v) for v in card]
    return card


def prediction_npz_bytes(prediction: Prediction) -> bytes:
    """The stored-prediction file's bytes: a batch worker computes them, the client writes them."""
    p = prediction
    meta = {
        "format": "fractoscope-prediction",
        "version": FORMAT_VERSION,
        "taxonomy": p.taxonomy.to_dict(),
        "cam_stride": p.cam_stride,
        "image_shape": list(p.image_shape),
        "model": {
            "name": p.model.name,
            "sha256": p.model.sha256,
            "taxonomy": p.model.taxonomy.to_dict(),
            "input_size": p.model.input_size,
            "pixel_size_range_m": list(p.model.pixel_size_range_m)
            if p.model.pixel_size_range_m
            else None,
            "card": card_without_arrays(p.model.card),
        },
        "device": p.device,
        "pixel_size_m": p.pixel_size_m,
        "calibration_source": p.calibration_source,
        "analysis_pixel_size_m": p.analysis_pixel_size_m,
        "path": p.path,
        "timings": p.timings,
        "warnings": list(p.warnings),
        # Reopened for a report, the prediction keeps the trust the run computed (OOD score too).
        "confidence": p.confidence.to_dict() if p.confidence is not None else None,
        "lab_adjustment": p.lab_adjustment,
        "surface_context": p.surface_context,
    }
    n1, n2 = len(p.taxonomy.level1), len(p.taxonomy.level2)
    arrays = {
        "meta": np.array(json.dumps(meta)),
        "p_level1": np.asarray(p.p_level1, dtype=np.float64),
        "p_level2": np.asarray(p.p_level2, dtype=np.float64),
        "tile_boxes": np.array([[t.y0, t.x0, t.y1, t.x1] for t in p.tiles], dtype=np.int64).reshape(
            -1, 4
        ),
        "tile_weights": np.array([t.weight for t in p.tiles], dtype=np.float64),
        "tile_p_level1": np.array([t.p_level1 for t in p.tiles], dtype=np.float32).reshape(-1, n1),
        "tile_p_level2": np.array([t.p_level2 for t in p.tiles], dtype=np.float32).reshape(-1, n2),
    }
    if p.cams_level1 is not None:
        arrays["cams_level1"] = np.asarray(p.cams_level1, dtype=np.float32)
    if p.cams_level2 is not None:
        arrays["cams_level2"] = np.asarray(p.cams_level2, dtype=np.float32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def load_stored_prediction(path: Path | str) -> Prediction:
    """Reopen a prediction saved by a batch run (``OUTDIR/items/<key>.npz``) without recomputing."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != "fractoscope-prediction":
                raise FractoscopeError(f"{path.name}: not a stored Fractoscope prediction")
            taxonomy = Taxonomy.from_dict(meta["taxonomy"])
            m = meta["model"]
            model = ModelInfo(
                name=m["name"],
                sha256=m["sha256"],
                taxonomy=Taxonomy.from_dict(m["taxonomy"]),
                input_size=int(m["input_size"]),
                pixel_size_range_m=tuple(m["pixel_size_range_m"])
                if m.get("pixel_size_range_m")
                else None,
                card=m.get("card") or {},
            )
            tiles = [
                TilePrediction(int(b[0]), int(b[1]), int(b[2]), int(b[3]), float(w), p1, p2)
                for b, w, p1, p2 in zip(
                    z["tile_boxes"],
                    z["tile_weights"],
                    z["tile_p_level1"],
                    z["tile_p_level2"],
                    strict=True,
                )
            ]
            return Prediction(
                taxonomy=taxonomy,
                p_level1=z["p_level1"],
                p_level2=z["p_level2"],
                tiles=tiles,
                cams_level1=z["cams_level1"] if "cams_level1" in z.files else None,
                cams_level2=z["cams_level2"] if "cams_level2" in z.files else None,
                cam_stride=float(meta["cam_stride"]),
                image_shape=(int(meta["image_shape"][0]), int(meta["image_shape"][1])),
                model=model,
                device=meta["device"],
                pixel_size_m=meta["pixel_size_m"],
                calibration_source=meta["calibration_source"],
                analysis_pixel_size_m=meta["analysis_pixel_size_m"],
                path=meta.get("path"),
                timings=dict(meta.get("timings") or {}),
                warnings=list(meta.get("warnings") or []),
                confidence=Confidence.from_dict(meta["confidence"]) if meta.get("confidence") else None,
                lab_adjustment=str(meta.get("lab_adjustment") or ""),
                surface_context=meta.get("surface_context") if isinstance(meta.get("surface_context"), dict) else None,
            )
    except FractoscopeError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FractoscopeError(f"cannot read stored prediction {path.name}: {exc}") from None
