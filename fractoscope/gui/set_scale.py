"""The Set scale dialog: a line drawn over the burned-in scale bar + its typed length."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QWidget,
)

from fractoscope.calibration import Calibration, format_length
from fractoscope.errors import CalibrationError

UNITS = (("nm", 1e-9), ("µm", 1e-6), ("mm", 1e-3))


class SetScaleDialog(QDialog):
    """Asks what length the drawn line represents; ``calibration()`` is the result."""

    def __init__(self, length_px: float, current: Calibration | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Set scale")
        self.length_px = float(length_px)
        self.value = QDoubleSpinBox()
        self.value.setDecimals(3)
        self.value.setRange(0.001, 1e6)
        self.value.setValue(10.0)
        self.unit = QComboBox()
        for name, factor in UNITS:
            self.unit.addItem(name, factor)
        self.unit.setCurrentIndex(1)
        if current is not None and current.is_calibrated:
            # Pre-fill with what the line measures under the current calibration.
            m = self.length_px * current.pixel_size_x_m
            for i, (_, factor) in enumerate(UNITS):
                if 1 <= m / factor < 1000 or i == len(UNITS) - 1:
                    self.unit.setCurrentIndex(i)
                    self.value.setValue(m / factor)
                    break
        self.preview = QLabel()
        row = QHBoxLayout()
        row.addWidget(self.value, 1)
        row.addWidget(self.unit)
        form = QFormLayout(self)
        form.addRow("Line length:", QLabel(f"{self.length_px:.1f} px"))
        form.addRow("Represents:", row)
        form.addRow("Pixel size:", self.preview)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.value.valueChanged.connect(self._update)
        self.unit.currentIndexChanged.connect(self._update)
        self._update()

    def length_m(self) -> float:
        return float(self.value.value()) * float(self.unit.currentData())

    def set_length(self, value: float, unit: str) -> None:
        self.unit.setCurrentIndex([u for u, _ in UNITS].index(unit))
        self.value.setValue(value)

    def calibration(self) -> Calibration:
        """Raises CalibrationError for a length that gives an implausible pixel size."""
        return Calibration.from_scale_bar(self.length_px, self.length_m(), "manual")

    def _update(self, *_: object) -> None:
        try:
            cal = self.calibration()
        except CalibrationError as exc:
            self.preview.setText(str(exc))
            self.ok_button.setEnabled(False)
        else:
            self.preview.setText(f"{format_length(cal.pixel_size_x_m)}/px")
            self.ok_button.setEnabled(True)
