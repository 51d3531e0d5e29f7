"""What placement needs from each image of a case (size, pixel size, stage), read once and cached.

Reading hundreds of frames to learn their size and metadata takes a while, so the values are kept
in ``DIR/.fractoscope-case/geometry.json``, keyed by file name, size and modification time: a
reopened case reads only the images that changed. The cache is a convenience: when it is missing,
damaged or cannot be written, the images are simply read again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fractoscope.atomic import write_atomic
from fractoscope.errors import FractoscopeError
from fractoscope.io import StagePosition, read_sem

CACHE_FILE = "geometry.json"
CACHE_VERSION = 1


@dataclass
class ImageGeometry:
    """An image's cropped size (px), pixel size (m) and stage position; ``error`` when unreadable."""

    path: Path | None
    width_px: int
    height_px: int
    pixel_x_m: float | None
    pixel_y_m: float | None
    stage: StagePosition | None
    error: str = ""

    @property
    def field_width_m(self) -> float | None:
        return self.width_px * self.pixel_x_m if self.pixel_x_m else None

    def to_json(self) -> dict:
        return {
            "width_px": self.width_px,
            "height_px": self.height_px,
            "pixel_x_m": self.pixel_x_m,
            "pixel_y_m": self.pixel_y_m,
            "stage": self.stage.to_dict() if self.stage is not None else None,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, path: Path, d: dict) -> ImageGeometry:
        st = d.get("stage")
        return cls(
            path,
            int(d["width_px"]),
            int(d["height_px"]),
            d.get("pixel_x_m"),
            d.get("pixel_y_m"),
            StagePosition(**st) if isinstance(st, dict) else None,
            str(d.get("error", "")),
        )


def image_geometry(path: Path) -> ImageGeometry:
    """Read ``path``'s size, calibration and stage (never raises: ``error`` says what failed)."""
    try:
        sem = read_sem(path)
    except FractoscopeError as exc:
        return ImageGeometry(path, 0, 0, None, None, None, error=str(exc))
    rows, cols = sem.shape
    cal = sem.calibration
    return ImageGeometry(
        path, cols, rows, cal.pixel_size_x_m, cal.pixel_size_y_m or cal.pixel_size_x_m, sem.stage
    )


def _stamp(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def read_geometries(paths: list[Path], work_dir: Path | None) -> dict[Path, ImageGeometry]:
    """The geometry of every path, from the cache in ``work_dir`` where the file is unchanged."""
    cache: dict = {}
    cache_path = work_dir / CACHE_FILE if work_dir is not None else None
    if cache_path is not None and cache_path.is_file():
        try:
            data = json.loads(cache_path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("version") == CACHE_VERSION:
                cache = data.get("images") or {}
        except (OSError, ValueError):
            cache = {}
    out: dict[Path, ImageGeometry] = {}
    fresh: dict = {}
    changed = False
    for p in paths:
        stamp = _stamp(p)
        entry = cache.get(p.name)
        geo = None
        if isinstance(entry, dict) and entry.get("stamp") == stamp and stamp is not None:
            try:
                geo = ImageGeometry.from_json(p, entry)
            except (KeyError, TypeError, ValueError):
                geo = None
        if geo is None:
            geo = image_geometry(p)
            changed = True
        out[p] = geo
        fresh[p.name] = {**geo.to_json(), "stamp": stamp}
    if cache_path is not None and (changed or set(fresh) != set(cache)):
        try:
            payload = {"version": CACHE_VERSION, "images": fresh}
            write_atomic(cache_path, json.dumps(payload).encode("utf-8"))
        except OSError:
            pass  # a read-only case folder: read the images again next time
    return out
