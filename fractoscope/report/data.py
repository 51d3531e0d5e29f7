"""What a PDF report says, computed without Qt: the renderer (``report.pdf``) only lays it out."""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fractoscope import __version__
from fractoscope.analysis.results import Prediction
from fractoscope.calibration import format_length
from fractoscope.imaging.display import (
    class_colours,
    overlays_for,
    shrink,
    to_grey_u8,
)
from fractoscope.io.describe import format_metadata
from fractoscope.io.sem_image import SemImage
from fractoscope.report.pictures import class_map_rgb

# One default title each, for the GUI's dialogs and the command line alike.
DEFAULT_TITLE = "Fractography failure report"
BATCH_TITLE = "Batch fractography report"

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

    title: str = DEFAULT_TITLE
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
class MetricRow:
    """One measured accuracy of the model, as the card records it, with what it measures."""

    what: str
    images: str
    level1: str
    level2: str
    meaning: str


@dataclass
class ModelProvenance:
    name: str
    sha256: str
    input_size: int
    taxonomy: dict[str, list[str]]
    device: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)  # key -> value, in reading order
    metrics: list[MetricRow] = field(default_factory=list)
    base: tuple[str, str] | None = None  # adapted models: (base model name, its sha256)
    has_level2: bool = True
    names: dict[str, str] = field(default_factory=dict)  # label -> display name


def _picture(arr: np.ndarray, image_shape: tuple[int, int], pixel_size_m: float | None) -> Picture:
    scale = image_shape[1] / arr.shape[1]
    return Picture(arr, None if pixel_size_m is None else pixel_size_m * scale)


# What each metric block of the bundled/trained/adapted cards measures, for a reader who does not
# know how the model was built. A block's own "note" is used when the card has one.
_METRIC_MEANINGS = {
    "validation_tiles": "crops of images held out from training (same generator: optimistic)",
    "synthetic_test_seed4242": "generated test images never seen in training",
    "cross_validated": "each labelled image predicted by heads fitted without it",
    "real_fractographs": "accuracy on real, labelled SEM fractographs",
}
MAX_METRIC_ROWS = 6


def _acc(v: object) -> str:
    return f"{100.0 * float(v):.1f} %" if isinstance(v, int | float) and not isinstance(v, bool) else ""


def metric_rows(metrics: object, has_level2: bool = True) -> list[MetricRow]:
    """The card's ``metrics`` block as a few readable rows (accuracies in %, no raw matrices)."""
    if not isinstance(metrics, dict):
        return []
    rows: list[MetricRow] = []
    for key, val in metrics.items():
        what = key.replace("_", " ").capitalize()
        if isinstance(val, str):
            rows.append(MetricRow(what, "", "", "", val))
        elif isinstance(val, dict):
            l1 = _acc(val.get("level1_accuracy"))
            l2 = _acc(val.get("level2_accuracy")) if has_level2 else "not trained"
            if not l1 and not l2:
                continue
            n = next((val[k] for k in ("n", "n_images", "images") if isinstance(val.get(k), int)), None)
            meaning = str(val.get("note") or _METRIC_MEANINGS.get(key, ""))
            bal = _acc(val.get("level1_balanced_accuracy"))
            if bal:
                meaning = (meaning + "; " if meaning else "") + f"level 1 balanced accuracy {bal}"
            rows.append(MetricRow(what, "" if n is None else str(n), l1, l2 or "-", meaning))
        if len(rows) >= MAX_METRIC_ROWS:
            break
    return rows


def model_provenance(prediction: Prediction) -> ModelProvenance:
    from fractoscope.analysis import wording

    m = prediction.model
    card = m.card or {}
    has_level2 = bool(getattr(prediction, "has_level2", True))
    facts: list[tuple[str, str]] = [("Model", m.name)]
    adaptation = card.get("adaptation") if isinstance(card.get("adaptation"), dict) else {}
    base_info = adaptation.get("base_model") if isinstance(adaptation.get("base_model"), dict) else None
    base = (str(base_info.get("name", "")), str(base_info.get("sha256", ""))) if base_info else None
    if base:
        facts.append(("Adapted from", f"{base[0]} (SHA-256 {base[1][:16]}...)"))
    facts.append(("SHA-256", m.sha256))
    if card.get("architecture"):
        facts.append(("Architecture", str(card["architecture"])))
    params = card.get("parameters")
    if isinstance(params, int):
        facts.append(("Parameters", f"{params / 1e6:.2f} million"))
    facts.append(("Input tile", f"{m.input_size} x {m.input_size} px"))
    facts.append(("Device", prediction.device))
    # What changed this result beyond the image and the model (issue 23): worded in one place.
    facts.append(("Lab statistics", wording.lab_stats_text(prediction)))
    facts.append(("Surface context", wording.surface_text(prediction)))
    training = card.get("training") if isinstance(card.get("training"), dict) else {}
    if isinstance(training.get("images"), int):
        how = "labelled images of the laboratory" if base else "training images"
        facts.append(("Trained on", f"{training['images']} {how}"))
    if m.pixel_size_range_m:
        lo, hi = m.pixel_size_range_m
        facts.append(("Trained pixel sizes", f"{format_length(lo)} - {format_length(hi)}"))
    if not has_level2:
        facts.append(("Level 2", "not trained (this model classifies the failure mechanism only)"))
    for key, label in (("limitations", "Limitations"), ("license", "Licence")):
        if isinstance(card.get(key), str) and card[key]:
            facts.append((label, card[key]))
    return ModelProvenance(
        name=m.name,
        sha256=m.sha256,
        input_size=m.input_size,
        taxonomy={k: list(v) for k, v in m.taxonomy.tree.items()},
        device=prediction.device,
        facts=facts,
        metrics=metric_rows(card.get("metrics"), has_level2),
        base=base,
        has_level2=has_level2,
        names={k: m.taxonomy.display_name(k) for k in m.taxonomy.level1 + m.taxonomy.level2},
    )


@dataclass
class SimilarEntry:
    """A reference image like the analysed one (from the lab's library), ready to draw."""

    picture: Picture
    name: str
    level1: str  # display names
    level2: str
    similarity: float


def similar_entries(similar, taxonomy) -> list[SimilarEntry]:
    """``SimilarImage`` objects (``fractoscope.adapt.library``) -> drawable entries."""
    out = []
    for s in similar or ():
        thumb = np.asarray(s.thumbnail)
        if thumb.ndim != 2 or thumb.dtype != np.uint8:
            thumb = to_grey_u8(thumb)
        out.append(
            SimilarEntry(
                picture=Picture(thumb, s.pixel_size_m),
                name=Path(s.path).name,
                level1=taxonomy.display_name(s.level1) if s.level1 in taxonomy.level1 else s.level1,
                level2=(taxonomy.display_name(s.level2) if s.level2 in taxonomy.level2 else s.level2)
                if s.level2
                else "",
                similarity=float(s.similarity),
            )
        )
    return out


def comparison_text(similar: list[SimilarEntry], library: str | None, images: int | None) -> str:
    """Which labelled images the result was compared with, in one sentence ("" = nothing to say:
    no library was given). ``library``: the reference library folder; ``images``: how many
    labelled images it holds."""
    if library is None:
        return ""
    if not images:
        return f"No labelled images were compared: the reference library {library} is empty."
    if not similar:
        return f"The reference library {library} holds {images} labelled images; none was compared for this report."
    shown = "; ".join(
        f"{s.name} ({s.level1}{' > ' + s.level2 if s.level2 else ''}, similarity {s.similarity:.2f})" for s in similar
    )
    return (
        f"Compared with the {images} labelled images of the reference library {library} (cosine "
        f"similarity of the model's features); the {len(similar)} closest: {shown}."
    )


@dataclass
class ImageReport:
    """Everything the single-image report shows."""

    image_name: str
    image_path: str
    image: Picture  # grey, print resolution
    overlay_level1: Picture
    overlay_level2: Picture | None  # None when the model's level 2 is not trained
    class_map: Picture  # tile classes (level 2, or level 1 without level 2) tinted over the image
    class_map_level: int
    level1: ProbRow
    level2: ProbRow | None
    probabilities: list[ProbRow]  # level 1 rows, each with its level-2 children
    headline: str  # fractoscope.analysis.wording: the same phrasing as the CLI and the GUI
    closest: str  # "closest: ..." the best guess, shown under a "not recognised" headline
    alternatives: list[str]
    confidence_text: str
    decoding_rule: str
    uncertain: bool
    uncertain_reason: str
    calibrated: float
    ood_score: float  # NaN when the model has no fitted statistics
    area_level1: list[tuple[str, str, float]]  # (label, name, fraction), largest first
    area_level2: list[tuple[str, str, float]]
    colours: dict[str, tuple[int, int, int]]
    tiles_total: int
    tiles_voting: int
    calibration: list[tuple[str, str]]
    instrument: list[tuple[str, str]]
    model: ModelProvenance
    warnings: list[str]
    similar: list[SimilarEntry] = field(default_factory=list)
    compared: str = ""  # comparison_text: which library images were compared ("" = no library given)
    decision_support: str = DECISION_SUPPORT

    @property
    def has_level2(self) -> bool:
        return self.level2 is not None

    @classmethod
    def build(
        cls, sem: SemImage, prediction: Prediction, similar=None, library: tuple[str, int] | None = None
    ) -> ImageReport:
        """``similar``: ``SimilarImage`` objects of the reference library; ``library``: (its
        folder, how many labelled images it holds) so the report says what was compared."""
        from fractoscope.analysis import wording

        p = prediction
        tax = p.taxonomy
        has2 = bool(p.has_level2)
        shape = p.image_shape
        px = sem.calibration.pixel_size_x_m
        grey_full = shrink(to_grey_u8(sem.image), MAIN_IMAGE_PX)
        grey_panel = shrink(grey_full, PANEL_PX)
        levels = (1, 2) if has2 else (1,)
        _, o1, *o2 = overlays_for(p, grey_panel, levels=levels)
        map_level = 2 if has2 else 1
        cmap = class_map_rgb(p, grey_panel, level=map_level)

        p1 = p.probabilities["level1"]
        p2 = p.probabilities["level2"]
        rows: list[ProbRow] = []
        for l1 in sorted(tax.level1, key=lambda k: -p1[k]):
            kids = (
                [
                    ProbRow(c, tax.display_name(c), p2[c], p2[c] / p1[l1] if p1[l1] > 0 else 0.0)
                    for c in sorted(tax.children(l1), key=lambda k: -p2[k])
                ]
                if has2
                else []
            )
            rows.append(ProbRow(l1, tax.display_name(l1), p1[l1], None, kids))
        l1, l2 = p.level1, p.level2
        a1 = p.class_area_fractions(1)
        a2 = p.class_area_fractions(2) if has2 else {}

        # Every metadata value in io.describe's one wording (as `fractoscope info` and the Image tab).
        meta = format_metadata(sem)
        calibration = [
            ("Pixel size", meta.pixel_size),
            ("Source", meta.calibration_source),
            ("Image size", meta.image_size),
            ("Data bar", meta.data_bar),
        ]
        if meta.calibrated:
            calibration.append(("Field of view", meta.field_of_view))
        if p.analysis_pixel_size_m and p.analysis_pixel_size_m != px:
            calibration.append(
                ("Analysed at", f"{format_length(p.analysis_pixel_size_m)} per pixel (resampled)")
            )
        instrument = [
            ("Vendor", meta.vendor),
            ("Instrument", meta.instrument),
            ("Accelerating voltage", meta.high_voltage),
            ("Working distance", meta.working_distance),
            ("Magnification", meta.magnification),
            ("Detector", meta.detector),
            ("Acquired", meta.date),
        ]
        warnings = wording.warnings(p)
        warnings += [n for n in sem.notes if n not in warnings]
        conf = p.confidence
        sims = similar_entries(similar, tax)
        return cls(
            image_name=sem.name,
            image_path=str(sem.path) if sem.path else "",
            image=_picture(grey_full, shape, px),
            overlay_level1=_picture(o1, shape, px),
            overlay_level2=_picture(o2[0], shape, px) if o2 else None,
            class_map=_picture(cmap, shape, px),
            class_map_level=map_level,
            level1=ProbRow(l1.label, tax.display_name(l1.label), l1.probability),
            level2=ProbRow(
                l2.label,
                tax.display_name(l2.label),
                l2.probability,
                l2.probability / l1.probability if l1.probability > 0 else 0.0,
            )
            if has2
            else None,
            probabilities=rows,
            headline=wording.headline(p),
            closest=wording.closest_text(p),
            alternatives=list(wording.alternatives(p, 3)),
            confidence_text=wording.confidence_text(p),
            decoding_rule=wording.DECODING_RULE,
            uncertain=bool(conf.uncertain),
            uncertain_reason=conf.reason,
            calibrated=float(conf.calibrated),
            ood_score=float(conf.ood_score),
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
            similar=sims,
            compared=comparison_text(sims, *(library or (None, None))),
        )


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
    image_width_px: int | None = None  # of the analysed (cropped) image: gives the thumbnail's scale
    uncertain: bool = False
    uncertain_reason: str = ""
    # The best guess of every analysed image (level1/level2 above are empty for a flagged one).
    closest_level1: str = ""
    closest_p_level1: float | None = None
    closest_level2: str = ""
    closest_p_level2: float | None = None

    def thumbnail_pixel_size_m(self, thumb_width_px: int) -> float | None:
        """The pixel size of a thumbnail ``thumb_width_px`` wide: thumbnails are integer-factor
        block means of the image (remainder dropped), so the factor is ``width // thumb_width``."""
        if not (self.pixel_size_m and self.image_width_px and thumb_width_px > 0):
            return None
        return self.pixel_size_m * max(1, self.image_width_px // thumb_width_px)


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
    lab_stats: str = ""  # what the run's lab statistics were ("adjusted to ..." or why off)
    surface: str = ""  # the run's surface context, worded

    @property
    def images(self) -> int:
        return len(self.rows)

    @property
    def failed(self) -> list[BatchRow]:
        return [r for r in self.rows if r.status != "ok"]

    @property
    def ok(self) -> int:
        return sum(1 for r in self.rows if r.status == "ok")

    @property
    def uncertain(self) -> int:
        return sum(1 for r in self.rows if r.status == "ok" and r.uncertain)

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
            shape = (r.details or {}).get("image", {}).get("shape") or []
            rows.append(
                BatchRow(
                    name=r.name,
                    path=r.path,
                    status=r.status if r.status == "ok" else "failed",
                    level1=r.level1,
                    p_level1=r.p_level1,
                    level2=r.level2,
                    p_level2=r.p_level2,
                    pixel_size_m=r.pixel_size_m,
                    error=r.error,
                    thumbnail=thumb if thumb and thumb.is_file() else None,
                    image_width_px=int(shape[1]) if len(shape) >= 2 else None,
                    uncertain=bool(getattr(r, "uncertain", False)),
                    uncertain_reason=str(getattr(r, "uncertain_reason", "") or ""),
                    closest_level1=r.closest_level1,
                    closest_p_level1=r.closest_p_level1,
                    closest_level2=r.closest_level2,
                    closest_p_level2=r.closest_p_level2,
                )
            )
        # Counted: the answers the model stands behind (a flagged row's guess is not one).
        c1 = Counter(r.level1 for r in rows if r.status == "ok" and r.level1)
        c2 = Counter(r.level2 for r in rows if r.status == "ok" and r.level2)
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
            lab_stats=_batch_lab_stats(manifest),
            surface=next(
                (str(r.details["surface_context"].get("text", "")) for r in records
                 if r.ok and isinstance((r.details or {}).get("surface_context"), dict)),
                "",
            ),
        )


def _batch_lab_stats(manifest: dict) -> str:
    """The manifest's lab-statistics line: 'adjusted to this lab's 37 images' or why they were off."""
    ls = manifest.get("lab_stats")
    if not isinstance(ls, dict):
        return ""
    return str(ls.get("text") or ls.get("off") or "")
