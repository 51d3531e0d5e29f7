"""The result of reading an image: pixels, calibration, instrument metadata and data-bar crop."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fractoscope.calibration import Calibration


@dataclass
class StagePosition:
    """Where the stage stood when the image was taken (any field may be unknown).

    Lengths in metres, angles in degrees as the instrument states them: ``rotation_deg`` is the
    stage rotation R, ``tilt_deg`` the stage tilt T, ``scan_rotation_deg`` the beam's scan rotation.
    """

    x_m: float | None = None
    y_m: float | None = None
    z_m: float | None = None
    rotation_deg: float | None = None
    tilt_deg: float | None = None
    scan_rotation_deg: float | None = None

    @property
    def has_xy(self) -> bool:
        return self.x_m is not None and self.y_m is not None

    @property
    def is_empty(self) -> bool:
        return all(v is None for v in self.to_dict().values())

    def to_dict(self) -> dict:
        return {
            "x_m": self.x_m,
            "y_m": self.y_m,
            "z_m": self.z_m,
            "rotation_deg": self.rotation_deg,
            "tilt_deg": self.tilt_deg,
            "scan_rotation_deg": self.scan_rotation_deg,
        }


@dataclass
class InstrumentInfo:
    """What the microscope wrote about the acquisition (any field may be unknown)."""

    vendor: str | None = None
    model: str | None = None
    high_voltage_kv: float | None = None
    working_distance_mm: float | None = None
    magnification: float | None = None
    horizontal_field_width_m: float | None = None
    detector: str | None = None
    date: str | None = None
    stage: StagePosition | None = None  # None when the metadata states no stage position
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "vendor": self.vendor,
            "model": self.model,
            "high_voltage_kv": self.high_voltage_kv,
            "working_distance_mm": self.working_distance_mm,
            "magnification": self.magnification,
            "horizontal_field_width_m": self.horizontal_field_width_m,
            "detector": self.detector,
            "date": self.date,
            "stage": self.stage.to_dict() if self.stage is not None else None,
        }


@dataclass
class SemImage:
    """An opened SEM image.

    ``data`` is page 1 exactly as stored (original dtype; rows x cols, or rows x cols x channels).
    ``databar_rows`` rows at the bottom hold the instrument's information bar; ``image`` is the
    view above it, the part every later stage (normalise, tile, infer, display) works on.
    """

    data: np.ndarray
    calibration: Calibration = field(default_factory=Calibration.none)
    instrument: InstrumentInfo = field(default_factory=InstrumentInfo)
    path: Path | None = None
    databar_rows: int = 0
    databar_source: str = "none"  # "metadata", "detected", "none" or "disabled"
    notes: list[str] = field(default_factory=list)  # e.g. "page 1 of 3 read"

    @property
    def raw_shape(self) -> tuple[int, int]:
        return int(self.data.shape[0]), int(self.data.shape[1])

    @property
    def image(self) -> np.ndarray:
        """Pixels above the data bar (a view, original dtype)."""
        rows = self.data.shape[0] - self.databar_rows
        return self.data[:rows]

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.data.shape[0] - self.databar_rows), int(self.data.shape[1])

    @property
    def vendor(self) -> str | None:
        return self.instrument.vendor

    @property
    def pixel_size_m(self) -> float | None:
        return self.calibration.pixel_size_x_m

    @property
    def stage(self) -> StagePosition | None:
        """The stage position from the metadata (None when it states none)."""
        return self.instrument.stage

    @property
    def field_of_view_m(self) -> tuple[float, float] | None:
        """Physical (width, height) of the cropped image, or None when uncalibrated."""
        c = self.calibration
        if not c.is_calibrated:
            return None
        rows, cols = self.shape
        return cols * c.pixel_size_x_m, rows * (c.pixel_size_y_m or c.pixel_size_x_m)

    @property
    def name(self) -> str:
        return self.path.name if self.path else "<array>"

    def with_calibration(self, calibration: Calibration) -> SemImage:
        """A copy sharing the pixels, with another calibration (e.g. a manual scale)."""
        return SemImage(
            data=self.data,
            calibration=calibration,
            instrument=self.instrument,
            path=self.path,
            databar_rows=self.databar_rows,
            databar_source=self.databar_source,
            notes=list(self.notes),
        )
