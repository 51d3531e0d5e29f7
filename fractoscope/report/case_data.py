"""What the case report says, computed without Qt (``report.pdf.case`` only lays it out).

A case (``fractoscope.case``) is read duck-typed here: ``case.overview`` (a path), ``case.frames``
(each with ``path``, ``placement`` or None, ``result`` dict or None), ``case.annotations`` (each
with ``kind``, ``points``, ``label``) and ``case.notes``. Positions on the overview are in overview
pixels, x right, y down; outlines come from ``Placement.corners()`` (the case model owns the
rotation convention).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fractoscope.calibration import format_length
from fractoscope.imaging.display import UNKNOWN_RGB, class_colours, shrink, to_grey_u8
from fractoscope.io.describe import NOT_CALIBRATED
from fractoscope.report.data import Picture

# The map page prints the overview about 17 cm wide: 1600 px is ~240 dpi, plenty for a map.
OVERVIEW_PX = 1600
ORIGIN_FROM_ANNOTATION = "the origin annotation"
ORIGIN_FROM_CENTRE = "the overview's centre (no origin marked)"


def case_taxonomy(case=None, model_path=None):
    """The taxonomy a case's colours follow (one colour per class, ``imaging.display``, in the
    order of the model's taxonomy, as the viewer's tile grid and the single-image report use it):
    that of the model whose results the case's store holds, else the card of ``model_path`` (None:
    the bundled model), else the default."""
    from fractoscope.model.taxonomy import Taxonomy

    default = Taxonomy.default()
    tree = None
    work = getattr(case, "work_dir", None)
    if work is not None:
        from fractoscope.batch.store import read_manifest
        from fractoscope.case.analyse import RESULTS_SUBDIR

        tree = read_manifest(Path(work) / RESULTS_SUBDIR).get("model", {}).get("taxonomy")
    if not tree:
        try:
            from fractoscope.model.checkpoint import default_model_path, read_card

            tree = read_card(Path(model_path) if model_path else default_model_path()).get("taxonomy")
        except Exception:  # noqa: BLE001 - no readable card: the default taxonomy's order
            tree = None
    if isinstance(tree, dict) and isinstance(tree.get("tree"), dict):
        tree = tree["tree"]
    try:
        return Taxonomy(tree, default.descriptions) if isinstance(tree, dict) and tree else default
    except (TypeError, ValueError):
        return default


def display_name(label: str, taxonomy=None) -> str:
    if not label:
        return ""
    if taxonomy is not None:
        try:
            if label in taxonomy.level1 or label in taxonomy.level2:
                return taxonomy.display_name(label)
        except Exception:  # noqa: BLE001 - a foreign taxonomy object: fall back to the label
            pass
    return label.replace("_", " ").capitalize()


def _in_folder(folder: Path, path) -> Path:
    """A case's image path as given, or its name inside the case folder when only a name is."""
    p = Path(path)
    return p if p.is_absolute() or p.exists() else folder / p.name


@dataclass
class CaseFrameEntry:
    """One frame as the report lists it (``index`` is the number drawn on the map)."""

    index: int
    name: str
    path: str
    centre: tuple[float, float] | None  # overview px
    corners: list[tuple[float, float]] | None  # overview px
    placed_by: str | None
    level1: str = ""  # label
    level2: str = ""
    level1_name: str = ""
    level2_name: str = ""
    colour: tuple[int, int, int] = UNKNOWN_RGB
    analysed: bool = False
    uncertain: bool = False
    reason: str = ""
    calibrated: float | None = None
    error: str = ""
    position: tuple[float, float] | None = None  # from the origin, x right, y up (``position_unit``)

    @property
    def placed(self) -> bool:
        return self.corners is not None

    @property
    def confidence(self) -> str:
        if not self.analysed:
            return self.error or "not analysed"
        p = "" if self.calibrated is None else f"{100 * self.calibrated:.0f}\u00a0%"
        if self.uncertain:
            return "uncertain" + (f" ({self.reason})" if self.reason else "") + (f", {p}" if p else "")
        return p or "confident"


@dataclass
class CaseAnnotation:
    kind: str  # origin | arrow | zone
    points: list[tuple[float, float]]
    label: str


@dataclass
class CaseReport:
    """Everything the case report's map page and summary table show."""

    folder: str
    overview_name: str
    overview_path: str
    overview: Picture  # grey, print resolution
    overview_shape: tuple[int, int]  # rows, cols of the overview image (placements' pixels)
    overview_pixel_size_m: float | None
    frames: list[CaseFrameEntry]
    annotations: list[CaseAnnotation]
    origin: tuple[float, float]
    origin_from: str
    position_unit: str  # "mm" or "px" (an uncalibrated overview)
    legend: list[tuple[str, str, tuple[int, int, int]]]  # mechanisms shown: label, name, colour
    notes: str = ""
    flip_x: bool = False
    flip_y: bool = False
    colours: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    @property
    def placed(self) -> list[CaseFrameEntry]:
        return [f for f in self.frames if f.placed]

    @property
    def unplaced(self) -> list[CaseFrameEntry]:
        return [f for f in self.frames if not f.placed]

    @property
    def scale(self) -> float:
        """Picture pixels per overview pixel."""
        return self.overview.pixels.shape[1] / max(1, self.overview_shape[1])

    @classmethod
    def build(cls, case, overview_sem=None, taxonomy=None) -> CaseReport:
        """``overview_sem``: the overview already read (else it is read here)."""
        from fractoscope.io import read_sem

        tax = taxonomy or case_taxonomy(case)
        colours = class_colours(tax)
        folder = Path(getattr(case, "folder", "") or "")
        ov_path = _in_folder(folder, case.overview)
        sem = overview_sem if overview_sem is not None else read_sem(ov_path)
        rows, cols = sem.shape
        grey = shrink(to_grey_u8(sem.image), OVERVIEW_PX)
        px = sem.calibration.pixel_size_x_m if sem.calibration.is_calibrated else None
        pic = Picture(grey, None if px is None else px * cols / grey.shape[1])

        annotations = [
            CaseAnnotation(
                str(getattr(a, "kind", "")),
                [(float(p[0]), float(p[1])) for p in (getattr(a, "points", None) or [])],
                str(getattr(a, "label", "") or ""),
            )
            for a in (getattr(case, "annotations", None) or [])
        ]
        marked = next((a for a in annotations if a.kind == "origin" and a.points), None)
        origin, origin_from = (
            (marked.points[0], ORIGIN_FROM_ANNOTATION) if marked else ((cols / 2.0, rows / 2.0), ORIGIN_FROM_CENTRE)
        )
        unit = "mm" if px else "px"
        per_px = px * 1e3 if px else 1.0

        frames: list[CaseFrameEntry] = []
        for i, f in enumerate(getattr(case, "frames", None) or [], 1):
            path = _in_folder(folder, f.path)
            pl = getattr(f, "placement", None)
            e = CaseFrameEntry(index=i, name=path.name, path=str(path), centre=None, corners=None, placed_by=None)
            if pl is not None:
                e.centre = (float(pl.x_px), float(pl.y_px))
                e.corners = [(float(a), float(b)) for a, b in pl.corners()]  # the case model's geometry
                e.placed_by = getattr(pl, "placed_by", None)
                # Positions are given the way an analyst measures on a drawing: y up.
                e.position = ((pl.x_px - origin[0]) * per_px, (origin[1] - pl.y_px) * per_px)
            res = getattr(f, "result", None)
            if isinstance(res, Mapping):
                e.error = str(res.get("error") or "")
                e.level1 = str(res.get("level1") or "")
                e.level2 = str(res.get("level2") or "")
                e.analysed = bool(e.level1) and not e.error
                e.uncertain = bool(res.get("uncertain"))
                e.reason = str(res.get("reason") or "")
                cal = res.get("calibrated")
                e.calibrated = float(cal) if isinstance(cal, int | float) and math.isfinite(cal) else None
                e.level1_name = display_name(e.level1, tax)
                e.level2_name = display_name(e.level2, tax) if e.level2 else ""
                e.colour = colours.get(e.level1, UNKNOWN_RGB)
            frames.append(e)

        shown = {f.level1 for f in frames if f.analysed}
        legend = [(lab, display_name(lab, tax), colours[lab]) for lab in tax.level1 if lab in shown]
        legend += [
            (lab, display_name(lab), UNKNOWN_RGB) for lab in sorted(shown) if lab not in tax.level1
        ]
        return cls(
            folder=str(folder),
            overview_name=ov_path.name,
            overview_path=str(ov_path),
            overview=pic,
            overview_shape=(rows, cols),
            overview_pixel_size_m=px,
            frames=frames,
            annotations=annotations,
            origin=origin,
            origin_from=origin_from,
            position_unit=unit,
            legend=legend,
            notes=str(getattr(case, "notes", "") or ""),
            flip_x=bool(getattr(case, "flip_x", False)),
            flip_y=bool(getattr(case, "flip_y", False)),
            colours=colours,
        )

    def position_text(self, f: CaseFrameEntry) -> tuple[str, str]:
        if f.position is None:
            return ("unplaced", "")
        digits = 2 if self.position_unit == "mm" else 0
        return tuple(f"{v:+.{digits}f}" for v in f.position)  # type: ignore[return-value]

    def overview_text(self) -> str:
        rows, cols = self.overview_shape
        s = f"{self.overview_name}, {cols} x {rows} px"
        if self.overview_pixel_size_m:
            s += (
                f", field of view {format_length(cols * self.overview_pixel_size_m)}"
                f" x {format_length(rows * self.overview_pixel_size_m)}"
            )
        else:
            s += f", {NOT_CALIBRATED} (positions in overview pixels)"
        return s


__all__ = ["CaseAnnotation", "CaseFrameEntry", "CaseReport", "case_taxonomy", "display_name"]
