"""A failure case: one broken part's overview image, its frames and their placements (Qt-free).

A case is a folder of images plus ``case.json`` beside them. The images are never moved,
renamed or changed; ``case.json`` only names them (relative to the folder) and holds what the
user set: which image is the overview, hand placements, annotations, notes and the axis flips.
Stage placements are recomputed from the images' metadata (``fractoscope.case.layout``) and
results come from the batch results store (``fractoscope.case.analyse``), so both are only
cached in ``case.json``.

Coordinates: overview pixels of the cropped overview image (above its data bar), ``x`` to the
right, ``y`` down. ``Placement.rotation_deg`` turns the frame's outline about its centre,
**clockwise on screen** (the sense of Qt's ``QGraphicsItem.setRotation`` and ``QPainter.rotate``
with y down); ``Placement.corners()`` gives the outline polygon.

A damaged or hand-edited ``case.json`` never stops the case from opening: ``load_case`` returns
the folder's images with whatever of the file could be understood and one warning line per
problem, naming the file and what is wrong. Before rewriting, ``save_case`` keeps the previous
file as ``case.json.bak``, and an unreadable ``case.json`` also as ``case.json.damaged`` (never
overwritten by later saves), so a placement made by hand is never lost.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from fractoscope.atomic import write_atomic
from fractoscope.case.geometry import ImageGeometry, read_geometries
from fractoscope.errors import FractoscopeError
from fractoscope.io import is_supported

CASE_FILE = "case.json"
BACKUP_FILE = "case.json.bak"
DAMAGED_FILE = "case.json.damaged"
WORK_DIR = ".fractoscope-case"  # results store and caches, inside the case folder
FORMAT = "fractoscope-case"
VERSION = 1

PLACED_BY = ("stage", "hand")
ANNOTATION_KINDS = ("origin", "arrow", "zone")
RESULT_KEYS = ("level1", "level2", "uncertain", "calibrated", "reason")


class CaseError(FractoscopeError):
    """A case folder cannot be used at all (missing, not a folder, no images)."""


@dataclass
class Placement:
    """A frame's field of view on the overview: centre, size (overview px) and rotation."""

    x_px: float
    y_px: float
    width_px: float
    height_px: float
    rotation_deg: float = 0.0  # clockwise on screen, about the centre
    placed_by: str = "stage"  # "stage" (from metadata) or "hand"

    def corners(self) -> list[tuple[float, float]]:
        """Outline in overview px: top-left, top-right, bottom-right, bottom-left of the frame."""
        a = math.radians(self.rotation_deg)
        c, s = math.cos(a), math.sin(a)
        hw, hh = self.width_px / 2, self.height_px / 2
        out = []
        for dx, dy in ((-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)):
            # clockwise on screen with y down is the ordinary rotation matrix in (x, y) pixels
            out.append((self.x_px + c * dx - s * dy, self.y_px + s * dx + c * dy))
        return out

    def to_dict(self) -> dict:
        return {
            "x_px": self.x_px,
            "y_px": self.y_px,
            "width_px": self.width_px,
            "height_px": self.height_px,
            "rotation_deg": self.rotation_deg,
            "placed_by": self.placed_by,
        }

    @classmethod
    def from_dict(cls, d: object) -> Placement:
        """Raises ValueError with a short reason when ``d`` is not a usable placement."""
        if not isinstance(d, dict):
            raise ValueError("placement is not an object")
        vals = {}
        for k in ("x_px", "y_px", "width_px", "height_px"):
            vals[k] = _finite(d.get(k), k)
        if vals["width_px"] <= 0 or vals["height_px"] <= 0:
            raise ValueError("placement width_px/height_px must be positive")
        rot = d.get("rotation_deg", 0.0)
        rot = 0.0 if rot is None else _finite(rot, "rotation_deg")
        by = d.get("placed_by", "hand")
        if by not in PLACED_BY:
            raise ValueError(f"placed_by must be 'stage' or 'hand', not {by!r}")
        return cls(rotation_deg=rot, placed_by=by, **vals)


@dataclass
class Annotation:
    """An origin (one point), a crack-growth arrow (tail, head) or a zone outline (polygon)."""

    kind: str  # "origin", "arrow" or "zone"
    points: list[tuple[float, float]] = field(default_factory=list)  # overview px
    label: str = ""  # e.g. "fatigue", "overload", "shear lip"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "points": [[x, y] for x, y in self.points], "label": self.label}

    @classmethod
    def from_dict(cls, d: object) -> Annotation:
        if not isinstance(d, dict):
            raise ValueError("annotation is not an object")
        kind = d.get("kind")
        if kind not in ANNOTATION_KINDS:
            raise ValueError(f"annotation kind must be origin, arrow or zone, not {kind!r}")
        pts = d.get("points")
        if not isinstance(pts, list) or not pts:
            raise ValueError("annotation points must be a non-empty list of [x, y]")
        points = []
        for p in pts:
            if not isinstance(p, (list, tuple)) or len(p) != 2:
                raise ValueError("annotation points must be [x, y] pairs")
            points.append((_finite(p[0], "point x"), _finite(p[1], "point y")))
        label = d.get("label", "")
        return cls(kind=kind, points=points, label=str(label) if label is not None else "")


@dataclass
class CaseFrame:
    """One higher-magnification image of the case, its placement and its analysis result.

    ``result`` (None until analysed): ``level1``, ``level2``, ``uncertain``, ``calibrated``,
    ``reason``, plus ``p_level1``, ``item`` (the stored prediction, .npz, for the viewer) and
    ``error`` (a failed analysis: level1 None and the reason here). For a frame flagged
    uncertain, level1/level2 are the model's closest classes (drawn hatched), not a verdict.
    ``stage_placement`` is the placement the metadata gives (kept even when a hand placement
    wins, so the view can offer "back to stage position").
    """

    path: Path
    placement: Placement | None = None
    result: dict | None = None
    stage_placement: Placement | None = None
    unplaced_reason: str = ""  # why there is no placement (no stage position, no pixel size, ...)
    # Keys of the frame's case.json entry this version does not use (and a placement it could
    # not read, as "placement_ignored"): written back unchanged, so nothing typed in is lost.
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def placed_by(self) -> str | None:
        return self.placement.placed_by if self.placement is not None else None


@dataclass
class Case:
    """One broken part: ``folder`` with ``overview`` (an image in it) and the other images as frames."""

    folder: Path
    overview: Path | None = None
    frames: list[CaseFrame] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    notes: str = ""
    flip_x: bool = False
    flip_y: bool = False
    overview_chosen: bool = False  # True when the user (case.json) chose it, not the default rule
    # Entries of case.json whose image is no longer in the folder: written back unchanged, so a
    # hand placement survives an image being moved away for a while.
    missing: list[dict] = field(default_factory=list)
    overview_result: dict | None = None  # the overview's own analysis (see analyse.py)
    # Size, pixel size and stage of each image (read once, cached in the work folder); not saved.
    geometry: dict[Path, ImageGeometry] = field(default_factory=dict, repr=False)

    @property
    def case_file(self) -> Path:
        return self.folder / CASE_FILE

    @property
    def work_dir(self) -> Path:
        return self.folder / WORK_DIR

    def frame(self, path: Path | str) -> CaseFrame | None:
        """The frame of ``path`` (a file name or a path in the folder), or None."""
        name = Path(path).name
        return next((f for f in self.frames if f.path.name == name), None)

    def set_overview(self, path: Path | str) -> None:
        """Make ``path`` (an image of the case) the overview; the old overview becomes a frame."""
        new = self.folder / Path(path).name
        if self.overview is not None and self.overview.name == new.name:
            self.overview_chosen = True
            return
        old = self.overview
        self.frames = [f for f in self.frames if f.path.name != new.name]
        if old is not None:
            self.frames.append(CaseFrame(old))
            self.frames.sort(key=lambda f: f.path.name.lower())
        self.overview = new
        self.overview_chosen = True
        for f in self.frames:  # stage placements are relative to the overview: recompute
            if f.placement is not None and f.placement.placed_by == "stage":
                f.placement = None
            f.stage_placement = None

    def to_json(self) -> dict:
        frames = []
        for f in self.frames:
            frames.append(
                {
                    **f.extra,
                    "path": f.path.name,
                    "placement": f.placement.to_dict() if f.placement is not None else None,
                    "result": f.result,
                }
            )
        return {
            "format": FORMAT,
            "version": VERSION,
            "overview": self.overview.name if self.overview is not None else None,
            "overview_chosen": self.overview_chosen,
            "flip_x": self.flip_x,
            "flip_y": self.flip_y,
            "notes": self.notes,
            "annotations": [a.to_dict() for a in self.annotations],
            "frames": frames + list(self.missing),
        }


def _finite(v: object, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"{name} must be a number, not {v!r}")
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite, not {v!r}")
    return f


def case_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (not hidden, not in the work folder), sorted by name."""
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and is_supported(p)),
        key=lambda p: p.name.lower(),
    )


def default_overview(
    images: list[Path], geometry: dict[Path, ImageGeometry] | None = None
) -> Path | None:
    """The image with the largest field of view (calibrated pixel size x width).

    Uncalibrated images count only when none is calibrated; then the first image by name.
    """
    geometry = geometry if geometry is not None else read_geometries(images, None)
    best, best_w = None, -1.0
    for p in images:
        w = geometry[p].field_width_m
        if w is not None and w > best_w:
            best, best_w = p, w
    if best is None and images:
        best = images[0]
    return best


def load_case(
    folder: Path | str, *, place: bool = True, results: bool = True
) -> tuple[Case, list[str]]:
    """Open the case in ``folder``: its images, and ``case.json`` when there is one.

    Returns the case and warnings (one line each, e.g. ``case.json: frame 3: placement
    width_px must be positive - ignored``). Never raises for a bad ``case.json``; raises
    ``CaseError`` only when ``folder`` is not a folder or holds no image. With ``place`` the
    frames are placed from their stage metadata (``layout.place_frames``; hand placements win);
    with ``results`` the results of earlier analyses are read from the case's results store
    (``analyse.attach_results``; no model is loaded). Paths are absolute (the results store
    is keyed by them).
    """
    folder = Path(folder).absolute()
    if not folder.is_dir():
        raise CaseError(f"{folder}: not a folder")
    images = case_images(folder)
    if not images:
        raise CaseError(f"{folder}: no images in the folder")
    by_name = {p.name: p for p in images}
    warnings: list[str] = []
    case = Case(folder=folder)
    data = _read_case_json(folder / CASE_FILE, warnings)

    where = f"{CASE_FILE}:"
    if data:
        for key, attr in (("flip_x", "flip_x"), ("flip_y", "flip_y")):
            v = data.get(key, False)
            if isinstance(v, bool):
                setattr(case, attr, v)
            else:
                warnings.append(f"{where} {key} must be true or false, not {v!r} - using false")
        notes = data.get("notes", "")
        if isinstance(notes, str):
            case.notes = notes
        elif notes is not None:
            warnings.append(f"{where} notes must be text - ignored")
            case.notes = str(notes)
        anns = data.get("annotations", [])
        if isinstance(anns, list):
            for i, a in enumerate(anns, 1):
                try:
                    case.annotations.append(Annotation.from_dict(a))
                except ValueError as exc:
                    warnings.append(f"{where} annotation {i}: {exc} - ignored")
        else:
            warnings.append(f"{where} annotations must be a list - ignored")
        ov = data.get("overview")
        if ov is not None:
            if isinstance(ov, str) and Path(ov).name in by_name:
                case.overview = by_name[Path(ov).name]
                case.overview_chosen = bool(data.get("overview_chosen", True))
            else:
                warnings.append(f"{where} overview {ov!r} is not an image in the folder - "
                                "using the widest field of view")

    case.geometry = read_geometries(images, case.work_dir)
    if case.overview is None:
        case.overview = default_overview(images, case.geometry)
    frames = {p.name: CaseFrame(p) for p in images if p != case.overview}

    entries = data.get("frames", []) if data else []
    if not isinstance(entries, list):
        warnings.append(f"{where} frames must be a list - placements ignored")
        entries = []
    for i, e in enumerate(entries, 1):
        if not isinstance(e, dict) or not isinstance(e.get("path"), str):
            warnings.append(f"{where} frame {i}: no path - ignored")
            continue
        name = Path(e["path"]).name
        frame = frames.get(name)
        if frame is None:
            if name not in by_name:  # the image went away: keep its entry for when it returns
                case.missing.append(e)
                warnings.append(f"{where} frame {name}: image not in the folder - kept in case.json")
            continue
        frame.extra = {k: v for k, v in e.items() if k not in ("path", "placement", "result")}
        pl = e.get("placement")
        if pl is not None:
            try:
                p = Placement.from_dict(pl)
            except ValueError as exc:
                warnings.append(f"{where} frame {name}: {exc} - placement ignored (kept in "
                                "case.json as placement_ignored)")
                frame.extra["placement_ignored"] = pl
            else:
                frame.placement = p
                frame.extra.pop("placement_ignored", None)
        res = e.get("result")
        if isinstance(res, dict) and all(k in res for k in RESULT_KEYS):
            frame.result = res
    case.frames = sorted(frames.values(), key=lambda f: f.path.name.lower())

    if place:
        from fractoscope.case.layout import place_frames  # noqa: PLC0415 - layout imports model

        warnings.extend(place_frames(case))
    if results:
        from fractoscope.case.analyse import attach_results  # noqa: PLC0415 - analyse imports model

        attach_results(case)
    return case, warnings


def _read_case_json(path: Path, warnings: list[str]) -> dict | None:
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        warnings.append(f"{CASE_FILE}: cannot be read ({exc}) - opened without it")
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        warnings.append(f"{CASE_FILE}: not valid JSON (line {exc.lineno}, column {exc.colno}: "
                        f"{exc.msg}) - opened without it; saving keeps it as {DAMAGED_FILE}")
        return None
    if not isinstance(data, dict):
        warnings.append(f"{CASE_FILE}: not a JSON object - opened without it; saving keeps it as "
                        f"{DAMAGED_FILE}")
        return None
    fmt = data.get("format", FORMAT)
    if fmt != FORMAT:
        warnings.append(f"{CASE_FILE}: format {fmt!r} is not {FORMAT!r} - read as far as possible")
    return data


def _is_json(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw.decode("utf-8")), dict)
    except (ValueError, UnicodeDecodeError):
        return False


def _free_name(folder: Path, name: str) -> Path:
    p = folder / name
    i = 1
    while p.exists():
        p = folder / f"{name}.{i}"
        i += 1
    return p


def save_case(case: Case) -> Path:
    """Write ``case.json`` atomically; the previous file is kept as ``case.json.bak``.

    Stage placements are saved too (a cache; they are recomputed on load), hand placements are
    the user's work. Returns the path written. Raises ``CaseError`` when it cannot be written.
    """
    path = case.case_file
    data = json.dumps(case.to_json(), indent=1, ensure_ascii=False).encode("utf-8") + b"\n"
    try:
        if path.is_file():
            old = path.read_bytes()
            if old != data:
                if not _is_json(old):
                    # A damaged or badly hand-edited file: kept under its own name, so later
                    # saves (which rotate case.json.bak) never overwrite what it held.
                    write_atomic(_free_name(case.folder, DAMAGED_FILE), old)
                write_atomic(case.folder / BACKUP_FILE, old)
        write_atomic(path, data)
    except OSError as exc:
        raise CaseError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path
