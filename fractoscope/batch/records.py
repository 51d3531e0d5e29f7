"""One row of a batch run: what ``results.csv`` and ``results.jsonl`` hold per image."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

STATUS_OK = "ok"
STATUS_FAILED = "failed"  # the one word for a failed image: CSV, JSONL, PDF and GUI
_LEGACY_STATUS = {"error": STATUS_FAILED}  # results folders written before 0.2

# Column order of results.csv (stable: people open it in spreadsheets and scripts).
# level1/level2 (and their p_) hold the answer the model stands behind: empty for an image whose
# result is flagged uncertain, so a count or pivot over them never counts a guess as a verdict.
# closest_* hold the best guess of every analysed image (the same class as level1/level2 when the
# result is not flagged); ``reason`` says why a row is flagged.
CSV_COLUMNS = (
    "path",
    "name",
    "status",
    "level1",
    "p_level1",
    "level2",
    "p_level2",
    "margin",
    "uncertain",
    "reason",
    "closest_level1",
    "closest_p_level1",
    "closest_level2",
    "closest_p_level2",
    "pixel_size_m",
    "calibration_source",
    "error",
    "overlay_level1",
    "overlay_level2",
    "item",
    "content_sha256",
    "model_sha256",
    "key",
    "seconds",
    "finished_at",
    "lab_stats",
    "surface",
)


@dataclass
class BatchRecord:
    """The outcome for one input file. ``details`` (JSONL only) is the full prediction JSON."""

    path: str
    name: str
    status: str
    key: str = ""
    content_sha256: str = ""
    model_sha256: str = ""
    level1: str = ""
    p_level1: float | None = None
    level2: str = ""
    p_level2: float | None = None
    margin: float | None = None
    uncertain: bool | None = None  # pred.confidence.uncertain; None for a failed image
    uncertain_reason: str = ""  # the CSV's "reason" column
    closest_level1: str = ""  # the best guess, flagged or not (see CSV_COLUMNS)
    closest_p_level1: float | None = None
    closest_level2: str = ""
    closest_p_level2: float | None = None
    pixel_size_m: float | None = None
    calibration_source: str = ""
    error: str = ""
    overlay_level1: str = ""  # relative to the output folder
    overlay_level2: str = ""
    thumbnail: str = ""
    item: str = ""  # stored prediction (.npz) for the viewer, relative to the output folder
    seconds: float | None = None
    finished_at: str = ""
    lab_stats: str = ""  # "adjusted to this lab's 37 images", "" when judged on its own
    surface: str = ""  # the analyst's surface context (fracture/worn/corroded/unknown)
    details: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    @property
    def reason(self) -> str:
        return self.uncertain_reason

    def set_answer(self, level1: str, p_level1: float, level2: str | None, p_level2: float | None,
                   uncertain: bool | None, reason: str = "") -> None:
        """The one place a row's classes are filled: the guess always in closest_*, the answer
        columns only when the result is not flagged."""
        self.closest_level1, self.closest_p_level1 = level1, p_level1
        self.closest_level2, self.closest_p_level2 = level2 or "", p_level2 if level2 else None
        self.uncertain = uncertain
        self.uncertain_reason = reason if uncertain else ""
        if uncertain:
            self.level1, self.p_level1, self.level2, self.p_level2 = "", None, "", None
        else:
            self.level1, self.p_level1 = level1, p_level1
            self.level2, self.p_level2 = level2 or "", p_level2 if level2 else None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> BatchRecord:
        names = {f.name for f in fields(cls)}
        rec = cls(**{k: v for k, v in d.items() if k in names})
        rec.status = _LEGACY_STATUS.get(rec.status, rec.status)
        if rec.ok and "closest_level1" not in d:
            # A row of a results folder written before the closest_* columns: its level1/level2
            # were the guess whether flagged or not. Moved to the new layout so a resumed run
            # writes one consistent results.csv (and reuses the row: the key is unchanged).
            rec.set_answer(rec.level1, rec.p_level1, rec.level2 or None, rec.p_level2,
                           rec.uncertain, rec.uncertain_reason)
        return rec

    def csv_row(self) -> list[str]:
        def fmt(v: object) -> str:
            if v is None:
                return ""
            if isinstance(v, bool):  # spreadsheet-friendly, like the JSON
                return "true" if v else "false"
            if isinstance(v, float):
                return f"{v:.6g}"
            return str(v)

        return [fmt(getattr(self, c)) for c in CSV_COLUMNS]
