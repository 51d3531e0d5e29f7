"""The case view's background jobs: plain functions of plain data (no Qt), run by a
``JobQueue`` (``gui/worker.py``, threading rules in ``gui/background.py``).

Each ``*_job(...)`` returns a ``fn(progress, cancel)`` for ``JobQueue.submit``; what it returns
reaches the GUI thread through the queue's mailbox.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fractoscope.errors import AnalysisCancelled

THUMB_SIDE = 220  # hover card thumbnails (px)
TILE_MAP_MAX_SIDE = 1024  # the coarse mechanism map is drawn at most this wide


@dataclass
class LoadedCase:
    """What opening a case folder gives the view."""

    case: Any  # fractoscope.case.model.Case
    warnings: list[str]
    overview_display: np.ndarray | None  # the overview as the viewer shows images
    overview_levels: tuple[float, float]
    overview_pyramid: list[np.ndarray]
    overview_pixel_size_m: float | None
    overview_shape: tuple[int, int]  # rows, cols (placements' pixels)
    default_sizes: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (w, h) overview px
    tile_map: np.ndarray | None = None  # RGBA, covering the overview
    overview_error: str = ""
    tile_classes: list[str] = field(default_factory=list)  # level-1 labels the tile map shows
    taxonomy: Any = None  # whose class colours the view uses (the model's order)


def tile_map_rgba(tiles, shape: tuple[int, int], taxonomy=None) -> np.ndarray | None:
    """``overview_tile_map`` tiles ``(y0, x0, y1, x1, level1)`` as an RGBA picture covering the
    overview: each tile's cell in its mechanism's colour (one colour per class:
    ``imaging.display``), transparent where no tile voted."""
    from fractoscope.gui.display import tile_cores
    from fractoscope.imaging.display import UNKNOWN_RGB, class_colours
    from fractoscope.report.case_data import case_taxonomy

    if not tiles:
        return None
    colours = class_colours(taxonomy or case_taxonomy())
    rows, cols = shape
    f = max(1.0, max(rows, cols) / TILE_MAP_MAX_SIDE)
    h, w = max(1, round(rows / f)), max(1, round(cols / f))
    out = np.zeros((h, w, 4), np.uint8)
    cells = tile_cores([t[:4] for t in tiles], shape)
    for (y0, x0, y1, x1), t in zip(cells, tiles, strict=True):
        rgb = colours.get(t[4], UNKNOWN_RGB)
        out[round(y0 / f) : round(y1 / f), round(x0 / f) : round(x1 / f)] = (*rgb, 255)
    return out


def load_case_job(folder: Path, model_path=None):
    """Open the case (``load_case``: case.json, stage placements, stored results), read
    the overview for display and the default size of every unplaced frame."""

    def job(progress, cancel) -> LoadedCase:
        from fractoscope.case.analyse import overview_tile_map
        from fractoscope.case.layout import image_geometry
        from fractoscope.case.model import load_case
        from fractoscope.errors import FractoscopeError
        from fractoscope.gui import display
        from fractoscope.io import read_sem
        from fractoscope.report.case_data import case_taxonomy

        progress(0.0, f"Opening case {folder.name}…")
        case, warnings = load_case(folder)  # with the stored results (no model)
        tax = case_taxonomy(case, model_path)
        if cancel():
            raise AnalysisCancelled()
        progress(0.5, "Reading the overview…")
        arr, levels, pyr, px, shape, err = None, (0.0, 1.0), [], None, (0, 0), ""
        try:
            sem = read_sem(case.overview)
            arr = display.display_array(sem.image)
            levels = display.percentile_levels(arr)
            pyr = display.pyramid(arr)
            px = sem.calibration.pixel_size_x_m if sem.calibration.is_calibrated else None
            shape = sem.shape
        except FractoscopeError as exc:
            err = f"{case.overview.name}: {exc}"
        sizes: dict[str, tuple[float, float]] = {}
        cols = shape[1] or 1000
        for f in case.frames:
            if f.placement is not None:
                continue
            g = image_geometry(f.path)
            if px and g.pixel_x_m and g.width_px:
                sizes[f.name] = (g.width_px * g.pixel_x_m / px, g.height_px * (g.pixel_y_m or g.pixel_x_m) / px)
            else:  # no scale to go by: a tenth of the overview, the frame's own aspect
                aspect = (g.height_px / g.width_px) if g.width_px else 0.75
                sizes[f.name] = (cols / 10, cols / 10 * aspect)
        tiles = overview_tile_map(case) if shape[0] else []
        return LoadedCase(case, warnings, arr, levels, pyr, px, shape, sizes, tile_map_rgba(tiles, shape, tax), err,
                          sorted({t[4] for t in tiles}), tax)

    return job


@dataclass
class AnalysedCase:
    results: dict[str, dict | None]  # frame name -> result
    overview_result: dict | None
    tile_map: np.ndarray | None
    tile_classes: list[str] = field(default_factory=list)


def analyse_case_job(case, overview_shape: tuple[int, int], model_path, device: str, include_overview: bool = False):
    """Analyse the frames through the batch engine (``analyse_case``; resumable) on a copy of
    the case, so the GUI thread's case is never touched from here; with ``include_overview``
    the overview too, tile by tile, for the coarse mechanism map."""
    mine = copy.deepcopy(case)

    def job(progress, cancel) -> AnalysedCase:
        from fractoscope.case.analyse import analyse_case, overview_tile_map
        from fractoscope.report.case_data import case_taxonomy

        analyse_case(mine, model_path=model_path, device=device, progress=progress, cancel=cancel,
                     include_overview=include_overview)
        if cancel():
            raise AnalysisCancelled()
        tiles = overview_tile_map(mine) if overview_shape[0] else []
        return AnalysedCase({f.name: f.result for f in mine.frames}, mine.overview_result,
                            tile_map_rgba(tiles, overview_shape, case_taxonomy(mine, model_path)),
                            sorted({t[4] for t in tiles}))

    return job


def thumbnail_job(path: Path):
    def job(progress, cancel) -> tuple[str, np.ndarray]:
        from fractoscope.imaging.display import shrink, to_grey_u8
        from fractoscope.io import read_sem

        return str(path), shrink(to_grey_u8(read_sem(path).image), THUMB_SIDE)

    return job


def report_content_job(case):
    """The case report's content (Qt-free part); the GUI thread draws it."""
    mine = copy.deepcopy(case)

    def job(progress, cancel):
        from fractoscope.report.pdf.case import prepare_case_report

        def step(fraction: float, text: str) -> None:
            if cancel():
                raise AnalysisCancelled()
            progress(fraction, text)

        return prepare_case_report(mine, progress=step)

    return job
