"""What an opened image says about itself: a JSON-ready summary (``describe``) and its one
display wording (``metadata_text``), used alike by ``fractoscope info``, the window's Image tab
and the PDF report, so a value reads the same everywhere ("60,000 ×", "not calibrated", ...)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fractoscope.calibration import format_length
from fractoscope.io.sem_image import SemImage

NOT_RECORDED = "not recorded"  # the instrument did not write this value
NOT_CALIBRATED = "not calibrated"  # no usable scale: in the file, beside it, or set by hand
TIMES = "\u00d7"  # "1024 × 768 px", "60,000 ×"


def describe(sem: SemImage) -> dict:
    """Plain-data summary: path, instrument, calibration, shapes, data bar, notes."""
    cal = sem.calibration
    fov = sem.field_of_view_m
    d = {
        "path": str(sem.path) if sem.path else None,
        "name": sem.name,
        **sem.instrument.to_dict(),
        "pixel_size_m": cal.pixel_size_x_m,
        "pixel_size_y_m": cal.pixel_size_y_m,
        "pixel_size": format_length(cal.pixel_size_x_m) if cal.is_calibrated else None,
        "calibration_source": cal.source,
        "raw_shape": list(sem.raw_shape),
        "shape": list(sem.shape),
        "channels": int(sem.data.shape[2]) if sem.data.ndim == 3 else 1,
        "dtype": str(sem.data.dtype),
        "databar_rows": int(sem.databar_rows),
        "databar_source": sem.databar_source,
        "field_of_view_m": list(fov) if fov else None,
        "notes": list(sem.notes),
    }
    return d


@dataclass(frozen=True)
class MetadataText:
    """Display strings of one image's metadata; every field is ready to show as it is."""

    file: str
    vendor: str  # "Zeiss"
    instrument: str  # the microscope model, "ULTRA 55"
    high_voltage: str  # "5 kV"
    working_distance: str  # "5.064 mm"
    magnification: str  # "60,000 ×"
    detector: str
    date: str
    pixel_size: str  # "4.54 nm" ("x × y" when not square), or "not calibrated"
    calibration_source: str  # "TESCAN metadata", "manual", "none"
    image_size: str  # "1536 × 1152 px": the image analysed (data bar cropped)
    data_bar: str  # "179 rows cropped (metadata)", "none found", "not cropped (crop disabled)"
    pixel_type: str  # "uint16, 1 channel"
    field_of_view: str  # "6.97 µm × 5.23 µm", or "not calibrated"
    stage: str  # "X 12.3456 mm  Y ...  T 0.0°"; "" when the file states no stage position
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def calibrated(self) -> bool:
        return self.pixel_size != NOT_CALIBRATED


def _value(v: object, unit: str = "", fmt: str = "{:.4g}") -> str:
    if v is None or v == "":
        return NOT_RECORDED
    if isinstance(v, float):
        return fmt.format(v) + (f" {unit}" if unit else "")
    return f"{v}{(' ' + unit) if unit else ''}"


def stage_text(stage: dict | None) -> str:
    """``X 12.3456 mm  Y ...  R 30.0°  T 0.0°  scan rotation 18.0°`` (stated values only)."""
    if not stage:
        return ""
    parts = []
    for key, name in (("x_m", "X"), ("y_m", "Y"), ("z_m", "Z")):
        if stage.get(key) is not None:
            parts.append(f"{name} {stage[key] * 1e3:.4f} mm")
    for key, name in (("rotation_deg", "R"), ("tilt_deg", "T"), ("scan_rotation_deg", "scan rotation")):
        if stage.get(key) is not None:
            parts.append(f"{name} {stage[key]:.1f}\u00b0")
    return "  ".join(parts)


def pixel_size_text(px: float | None, py: float | None = None) -> str:
    """A pixel size as every view shows it: "4.54 nm" ("x × y" when not square), or
    ``NOT_CALIBRATED`` without one (the batch table and the PDFs' pictures say it this way too)."""
    if px is None or px <= 0:
        return NOT_CALIBRATED
    text = format_length(px)
    if py is not None and abs(py - px) > 1e-6 * px:
        text += f" {TIMES} {format_length(py)}"
    return text


def metadata_text(d: dict) -> MetadataText:
    """The display strings of a ``describe()`` summary (or of ``info --json`` output)."""
    rows, cols = d["shape"]
    pixel = pixel_size_text(d.get("pixel_size_m"), d.get("pixel_size_y_m"))
    fov = d.get("field_of_view_m")
    bar, source = int(d.get("databar_rows") or 0), d.get("databar_source") or "none"
    if bar:
        data_bar = f"{bar} rows cropped ({source})"
    elif source == "disabled":
        data_bar = "not cropped (crop disabled)"
    else:
        data_bar = "none found"
    channels = int(d.get("channels") or 1)
    mag = d.get("magnification")
    return MetadataText(
        file=str(d.get("path") or d.get("name") or ""),
        vendor=_value(d.get("vendor")),
        instrument=_value(d.get("model")),
        high_voltage=_value(d.get("high_voltage_kv"), "kV"),
        working_distance=_value(d.get("working_distance_mm"), "mm"),
        magnification=f"{mag:,.0f} {TIMES}" if mag else NOT_RECORDED,
        detector=_value(d.get("detector")),
        date=_value(d.get("date")),
        pixel_size=pixel,
        calibration_source=str(d.get("calibration_source") or "none"),
        image_size=f"{cols} {TIMES} {rows} px",
        data_bar=data_bar,
        pixel_type=f"{d.get('dtype')}, {channels} channel{'s' if channels != 1 else ''}",
        field_of_view=f"{format_length(fov[0])} {TIMES} {format_length(fov[1])}" if fov else NOT_CALIBRATED,
        stage=stage_text(d.get("stage")),
        notes=tuple(d.get("notes") or ()),
    )


def format_metadata(sem: SemImage) -> MetadataText:
    """``metadata_text(describe(sem))``: the display strings of an opened image."""
    return metadata_text(describe(sem))
