"""What a PDF report says, computed without Qt: the renderer only lays these fields out."""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fractoscope import __version__
from fractoscope.analysis.results import Prediction
from fractoscope.calibration import format_length
from fractoscope.io.sem_image import SemImage
from fractoscope.report.imaging import cam_overlay, class_colours, class_map_rgb, shrink, to_grey_u8

DECISION_SUPPORT = (
    "Decision support only: this automated classification must be confirmed by a qualified "
    "fractographer before it is used in any failure-analysis conclusion."
)

# Print resolution targets: main image ~17 cm, side-by-side panels ~8.5 cm at 300 dpi.
MAIN_IMAGE_PX = 2000
PANEL_PX = 1000


@dataclass
class ReportMeta:
    """What the analyst enters (dialog or CLI options) plus date and app version."""

    title: str = "Fractography report"
    sample_id: str = ""
    analyst: str = ""
    notes: str = ""
    date: str = field(default_factory=lambda: _dt.date.today().isoformat())
    app_version: str = __version__


@dataclass
class Picture:
    """An RGB or grey uint8 picture and the physical size of one of its pixels (None = uncalibrated)."""

    pixels: np.ndarray
    pixel_size_m: float | None

    @property
    def width_m(self) -> float | None:
        return None if self.pixel_size_m is None else self.pixel_size_m * self.pixels.shape[1]


@dataclass
class ProbRow:
    label: str
    name: str
    probability: float  # level 1: P(class); level 2: joint P(child)
    conditional: float | None = None  # level 2 only: P(child | parent)
    children: list[ProbRow] = field(default_factory=list)


@dataclass
class ModelProvenance:
    name: str
    sha256: str
    input_size: int
    taxonomy: dict[str, list[str]]
    device: str = ""
    extra: list[tuple[str, str]] = field(default_factory=list)


def _picture(arr: np.ndarray, image_shape: tuple[int, int], pixel_size_m: float | None) -> Picture:
    scale = image_shape[1] / arr.shape[1]
    return Picture(arr, None if pixel_size_m is None else pixel_size_m * scale)


def _fmt_opt(v: object, unit: str = "") -> str:
    if v is None or v == "":
        return "not recorded"
    if isinstance(v, float):
        return f"{v:.4g}{unit}"
    return f"{v}{unit}"


def model_provenance(prediction: Prediction) -> ModelProvenance:
    m = prediction.model
    card = m.card or {}
    extra: list[tuple[str, str]] = []
    for key in (
        "version",
        "architecture",
        "trained",
        "training_data",
        "dataset",
        "metrics",
        "license",
    ):
        if key in card and card[key] not in (None, "", {}, []):
            val = card[key]
            if isinstance(val, dict):
                val = ", ".join(
                    f"{k}: {v if not isinstance(v, float) else f'{v:.3g}'}" for k, v in val.items()
                )
            extra.append((key.replace("_", " ").capitalize(), str(val)))
    if m.pixel_size_range_m:
        lo, hi = m.pixel_size_range_m
        extra.append(("Trained pixel sizes", f"{format_length(lo)} - {format_length(hi)}"))
    return ModelProvenance(
        name=m.name,
        sha256=m.sha256,
        input_size=m.input_size,
        taxonomy={k: list(v) for k, v in m.taxonomy.tree.items()},
        device=prediction.device,
        extra=extra,
    )


@dataclass
class ImageReport:
    """Everything the single-image report shows."""

    image_name: str
    image_path: str
    image: Picture  # grey, print resolution
    overlay_level1: Picture
    overlay_level2: Picture
    class_map: Picture  # level-2 tile classes tinted over the image
    level1: ProbRow
    level2: ProbRow
    probabilities: list[ProbRow]  # level 1 rows, each with its level-2 children
    alternatives: list[tuple[str, str, float]]  # (level-1 name, level-2 name, joint p)
    margin: float
    area_level1: list[tuple[str, str, float]]  # (label, name, fraction), largest first
    area_level2: list[tuple[str, str, float]]
    colours: dict[str, tuple[int, int, int]]
    tiles_total: int
    tiles_voting: int
    calibration: list[tuple[str, str]]
    instrument: list[tuple[str, str]]
    model: ModelProvenance
    warnings: list[str]
    decision_support: str = DECISION_SUPPORT

    @classmethod
    def build(cls, sem: SemImage, prediction: Prediction) -> ImageReport:
        p = prediction
        tax = p.taxonomy
        shape = p.image_shape
        px = sem.calibration.pixel_size_x_m
        grey_full = shrink(to_grey_u8(sem.image), MAIN_IMAGE_PX)
        grey_panel = shrink(grey_full, PANEL_PX)
        o1 = overlays_for_panel(p, grey_panel, 1)
        o2 = overlays_for_panel(p, grey_panel, 2)
        cmap = class_map_rgb(p, grey_panel, level=2)

        p1 = p.probabilities["level1"]
        p2 = p.probabilities["level2"]
        rows: list[ProbRow] = []
        for l1 in sorted(tax.level1, key=lambda k: -p1[k]):
            kids = [
                ProbRow(c, tax.display_name(c), p2[c], p2[c] / p1[l1] if p1[l1] > 0 else 0.0)
                for c in sorted(tax.children(l1), key=lambda k: -p2[k])
            ]
            rows.append(ProbRow(l1, tax.display_name(l1), p1[l1], None, kids))
        l1, l2 = p.level1, p.level2
        a1 = p.class_area_fractions(1)
        a2 = p.class_area_fractions(2)

        cal = sem.calibration
        calibration = [
            (
                "Pixel size",
                format_length(cal.pixel_size_x_m) if cal.is_calibrated else "uncalibrated",
            ),
            ("Source", cal.source),
            (
                "Image size",
                f"{shape[1]} x {shape[0]} px"
                + (
                    f" (data bar of {sem.databar_rows} rows removed, {sem.databar_source})"
                    if sem.databar_rows
                    else ""
                ),
            ),
        ]
        fov = sem.field_of_view_m
        if fov:
            calibration.append(
                ("Field of view", f"{format_length(fov[0])} x {format_length(fov[1])}")
            )
        if p.analysis_pixel_size_m and p.analysis_pixel_size_m != px:
            calibration.append(
                ("Analysed at", f"{format_length(p.analysis_pixel_size_m)} per pixel (resampled)")
            )
        ins = sem.instrument
        instrument = [
            ("Vendor / model", " ".join(x for x in (ins.vendor, ins.model) if x) or "not recorded"),
            ("Accelerating voltage", _fmt_opt(ins.high_voltage_kv, " kV")),
            ("Working distance", _fmt_opt(ins.working_distance_mm, " mm")),
            (
                "Magnification",
                _fmt_opt(round(ins.magnification) if ins.magnification else None, " x"),
            ),
            ("Detector", _fmt_opt(ins.detector)),
            ("Acquired", _fmt_opt(ins.date)),
        ]
        warnings = list(p.warnings) + [n for n in sem.notes if n not in p.warnings]
        return cls(
            image_name=sem.name,
            image_path=str(sem.path) if sem.path else "",
            image=_picture(grey_full, shape, px),
            overlay_level1=_picture(o1, shape, px),
            overlay_level2=_picture(o2, shape, px),
            class_map=_picture(cmap, shape, px),
            level1=ProbRow(l1.label, tax.display_name(l1.label), l1.probability),
            level2=ProbRow(
                l2.label,
                tax.display_name(l2.label),
                l2.probability,
                l2.probability / l1.probability if l1.probability > 0 else 0.0,
            ),
            probabilities=rows,
            alternatives=[(tax.display_name(a), tax.display_name(b), q) for a, b, q in p.top(3)],
            margin=p.margin,
            area_level1=sorted(
                ((k, tax.display_name(k), v) for k, v in a1.items()), key=lambda r: -r[2]
            ),
            area_level2=sorted(
                ((k, tax.display_name(k), v) for k, v in a2.items()), key=lambda r: -r[2]
            ),
            colours=class_colours(tax),
            tiles_total=len(p.tiles),
            tiles_voting=sum(1 for t in p.tiles if t.weight > 0),
            calibration=calibration,
            instrument=instrument,
            model=model_provenance(p),
            warnings=warnings,
        )


def overlays_for_panel(prediction: Prediction, grey_u8: np.ndarray, level: int) -> np.ndarray:
    return cam_overlay(grey_u8, prediction.cam(level, shape=grey_u8.shape[:2]))


@dataclass
class BatchRow:
    name: str
    path: str
    status: str
    level1: str = ""
    p_level1: float | None = None
    level2: str = ""
    p_level2: float | None = None
    pixel_size_m: float | None = None
    error: str = ""
    thumbnail: Path | None = None


@dataclass
class BatchReport:
    """Summary of a batch output folder (``results.jsonl`` + ``manifest.json``)."""

    out_dir: Path
    rows: list[BatchRow]
    level1_counts: list[tuple[str, str, int]]  # (label, name, count) in taxonomy order
    level2_counts: list[tuple[str, str, int]]
    colours: dict[str, tuple[int, int, int]]
    model_name: str
    model_sha256: str
    taxonomy: dict[str, list[str]]
    app_version: str
    device: str
    ignored: int
    started_at: str
    names: dict[str, str]  # label -> display name
    decision_support: str = DECISION_SUPPORT

    @property
    def images(self) -> int:
        return len(self.rows)

    @property
    def failed(self) -> list[BatchRow]:
        return [r for r in self.rows if r.status != "ok"]

    @property
    def ok(self) -> int:
        return sum(1 for r in self.rows if r.status == "ok")

    @classmethod
    def from_out_dir(cls, out_dir: Path | str) -> BatchReport:
        from fractoscope.batch.store import read_manifest, read_records
        from fractoscope.errors import FractoscopeError
        from fractoscope.model.taxonomy import Taxonomy

        out_dir = Path(out_dir)
        manifest = read_manifest(out_dir)
        records, _ = read_records(out_dir)
        if not manifest and not records:
            raise FractoscopeError(
                f"{out_dir} holds no batch results (results.jsonl / manifest.json)"
            )
        mm = manifest.get("model", {})
        tree = mm.get("taxonomy") or Taxonomy.default().to_dict()["tree"]
        # Display names: the bundled descriptions where labels match, else derived from the label.
        tax = Taxonomy(tree, Taxonomy.default().descriptions)
        rows = []
        for r in sorted(records, key=lambda r: r.name.lower()):
            thumb = out_dir / r.thumbnail if r.thumbnail else None
            rows.append(
                BatchRow(
                    r.name,
                    r.path,
                    r.status,
                    r.level1,
                    r.p_level1,
                    r.level2,
                    r.p_level2,
                    r.pixel_size_m,
                    r.error,
                    thumb if thumb and thumb.is_file() else None,
                )
            )
        c1 = Counter(r.level1 for r in rows if r.status == "ok")
        c2 = Counter(r.level2 for r in rows if r.status == "ok")
        return cls(
            out_dir=out_dir,
            rows=rows,
            level1_counts=[(k, tax.display_name(k), c1.get(k, 0)) for k in tax.level1],
            level2_counts=[(k, tax.display_name(k), c2.get(k, 0)) for k in tax.level2],
            colours=class_colours(tax),
            model_name=mm.get("name", ""),
            model_sha256=mm.get("sha256", ""),
            taxonomy={k: list(v) for k, v in tax.tree.items()},
            app_version=manifest.get("app", {}).get("version", __version__),
            device=manifest.get("device", ""),
            ignored=int(manifest.get("counts", {}).get("ignored", 0) or 0),
            started_at=manifest.get("started_at", ""),
            names={k: tax.display_name(k) for k in tax.level1 + tax.level2},
        )
