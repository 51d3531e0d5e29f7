"""Analysing the shown image: the background job, its progress and cancel, and what a result
changes (prediction and model panels, the viewer state's CAMs and tile grid).

``AnalysisController`` owns the analysis ``JobQueue`` and the ``AnalysisService`` (the model,
loaded in the worker thread). ``current()`` gives the image on screen: a result for any other
image (or an older calibration of it) is dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from fractoscope.gui import display
from fractoscope.gui.viewer.viewer_state import TileMark, ViewerState
from fractoscope.gui.worker import AnalysisResult, AnalysisService, JobQueue


def tile_marks(pred) -> list[TileMark]:
    """The tile grid: each tile's morphology (its mechanism for a level-1-only model), in the
    class colour the PDF report uses too; tiles that did not vote are dashed."""
    t = pred.taxonomy
    marks = []
    # The same top-down decoding as the JSON, the area fractions and the report's class map.
    for tile, (level1, level2) in zip(pred.tiles, pred.tile_labels(), strict=True):
        label = level2 if level2 is not None else level1
        marks.append(TileMark(tile.y0, tile.x0, tile.y1, tile.x1, t.display_name(label),
                              display.hex_colour(display.class_colour(t, label)), tile.weight > 0))
    return marks


class AnalysisController(QObject):
    finished = Signal(object)  # AnalysisResult (shown)
    failed = Signal(str)
    cancelled = Signal()
    progress = Signal(float, str)
    busyChanged = Signal(bool)

    def __init__(
        self,
        service: AnalysisService,
        state: ViewerState,
        prediction_panel,
        model_panel,
        current: Callable[[], object],
        parent: QObject,
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.state = state
        self.prediction_panel = prediction_panel
        self.model_panel = model_panel
        self._current = current
        self.result: AnalysisResult | None = None
        self.queue = JobQueue("analysis", self)
        self.queue.progress.connect(self.progress)
        self.queue.finished.connect(self._finished)
        self.queue.failed.connect(self._failed)
        self.queue.cancelled.connect(self._cancelled)
        self.queue.busyChanged.connect(self.busyChanged)

    @property
    def busy(self) -> bool:
        return self.queue.busy

    def analyse(self, sem) -> None:
        self.result = None
        self.state.clear_result()
        self.prediction_panel.clear("Analysing…")
        self.queue.submit(self.service.job(sem))

    def cancel(self, silent: bool = False) -> bool:
        return self.queue.cancel(silent=silent)

    def forget(self) -> None:
        """A new image is shown: drop the result (and any late one)."""
        self.queue.cancel(silent=True)
        self.result = None

    def _finished(self, result: AnalysisResult) -> None:
        if result.sem is not self._current():
            return  # a late result for an image (or calibration) no longer shown
        self.show_result(result)

    def show_result(self, result: AnalysisResult) -> None:
        self.result = result
        pred = result.prediction
        t = pred.taxonomy
        self.prediction_panel.set_prediction(pred)
        self.model_panel.set_model(result.model, result.device)
        # A flagged result's maps are of its best guess, and their titles say so.
        closest = " (closest)" if pred.confidence is not None and pred.confidence.uncertain else ""
        self.state.update(
            level2_available=pred.has_level2,
            cam1=result.cams.get(1),
            cam1_label=t.display_name(pred.level1.label) + closest,
            cam2=result.cams.get(2) if pred.has_level2 else None,
            cam2_label=t.display_name(pred.level2.label) + closest if pred.has_level2 else "",
            tiles=tile_marks(pred),
        )
        self.finished.emit(result)

    def show_class_cam(self, level: int, label: str, image_shape) -> str | None:
        """Show the Grad-CAM of any class (not only the predicted one); a message when it cannot."""
        if self.result is None:
            return None
        pred = self.result.prediction
        if pred.cams_level1 is None:
            return "This result was stored without Grad-CAM maps"
        if level == 2 and not pred.has_level2:
            return "Level 2 was not trained for this model"
        cam = pred.cam(level, label, shape=display.overlay_shape(image_shape))
        self.state.set_cam(level, cam, pred.taxonomy.display_name(label))
        self.state.set_shown(level, True)
        return None

    def _failed(self, message: str) -> None:
        self.prediction_panel.clear("Analysis failed")
        self.failed.emit(message)

    def _cancelled(self) -> None:
        self.prediction_panel.clear("Analysis cancelled (F5 to run again)")
        self.cancelled.emit()

    def shutdown(self) -> None:
        self.queue.shutdown()
