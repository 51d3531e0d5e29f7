"""Set scale: a line drawn over the burned-in scale bar + its typed length (dialog and tool)."""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
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
from fractoscope.errors import CalibrationError, FractoscopeError

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


class SetScaleController(QObject):
    """The Set scale tool: a checkable action, line drawing in the image pane, the dialog.

    ``current`` returns the shown image's calibration, or None when no image is open (the tool
    then stays off). ``leave()`` is what Esc does; it works whether or not anything else runs.
    """

    calibrationAccepted = Signal(object)  # Calibration
    status = Signal(str, int)  # status-bar text, timeout in ms (0: until cleared; "" clears)
    failed = Signal(str)

    HINT = "Set scale: drag a line over the scale bar in the left pane (Shift = horizontal), Esc to stop"

    def __init__(self, action, view_box, current: Callable[[], Calibration | None], parent: QWidget) -> None:
        super().__init__(parent)
        self.action = action
        self.view_box = view_box
        self._current = current
        self._parent = parent
        self.dialog: SetScaleDialog | None = None
        action.toggled.connect(self._toggled)
        view_box.sigLineDrawn.connect(self._line_drawn)

    @property
    def active(self) -> bool:
        return self.action.isChecked()

    def leave(self) -> bool:
        """Switch the tool off (Esc); True when it was on. An open dialog handles Esc itself."""
        if self.dialog is not None or not self.action.isChecked():
            return False
        self.action.setChecked(False)
        return True

    def _toggled(self, on: bool) -> None:
        if on and self._current() is None:
            self.action.setChecked(False)  # nothing to measure on
            return
        self.view_box.set_measure_mode(on)
        self.status.emit(self.HINT if on else "", 0)

    def _line_drawn(self, p0, p1) -> None:
        length = math.hypot(p1.x() - p0.x(), p1.y() - p0.y())
        if length < 3:
            self.status.emit("Set scale: the line is too short, drag along the scale bar", 5000)
            return
        self.open_dialog(length)

    def open_dialog(self, length_px: float) -> SetScaleDialog:
        dlg = SetScaleDialog(length_px, self._current(), self._parent)
        dlg.accepted.connect(lambda: self._accepted(dlg))
        dlg.finished.connect(lambda _r: setattr(self, "dialog", None))
        self.dialog = dlg
        dlg.open()  # window-modal, non-blocking: the event loop keeps running
        return dlg

    def _accepted(self, dlg: SetScaleDialog) -> None:
        try:
            cal = dlg.calibration()
        except FractoscopeError as exc:
            self.failed.emit(f"Set scale: {exc}")
            return
        self.action.setChecked(False)
        self.calibrationAccepted.emit(cal)
