"""One row of a batch run: what ``results.csv`` and ``results.jsonl`` hold per image."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

STATUS_OK = "ok"
STATUS_FAILED = "failed"  # the one word for a failed image: CSV, JSONL, PDF and GUI
_LEGACY_STATUS = {"error": STATUS_FAILED}  # results folders written before 0.2

# Column order of results.csv (stable: people open it in spreadsheets and scripts).
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
    uncertain_reason: str = ""
    pixel_size_m: float | None = None
    calibration_source: str = ""
    error: str = ""
    overlay_level1: str = ""  # relative to the output folder
    overlay_level2: str = ""
    thumbnail: str = ""
    item: str = ""  # stored prediction (.npz) for the viewer, relative to the output folder
    seconds: float | None = None
    finished_at: str = ""
    details: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> BatchRecord:
        names = {f.name for f in fields(cls)}
        rec = cls(**{k: v for k, v in d.items() if k in names})
        rec.status = _LEGACY_STATUS.get(rec.status, rec.status)
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
