"""Linked image panes: SEM image | Grad-CAM overlay (| second level), crosshair, scale bars.

Coordinates inside every pane are image pixels of the cropped image (x = column, y = row,
y down). Pan/zoom are linked: every pane gets the same centre and zoom as the one the user moved.
What is shown (CAMs, toggles, colormap, tiles, layout) lives in a Qt-free ``ViewerState`` that
the viewer observes; the viewer never decides it.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QTextOption
from PySide6.QtWidgets import (
    QGraphicsLineItem,
    QGraphicsObject,
    QGraphicsRectItem,
    QHBoxLayout,
    QSplitter,
    QWidget,
)

from fractoscope.gui import display
from fractoscope.gui.viewer.viewer_state import TileMark, ViewerState

__all__ = ["ImagePane", "LinkedViewer", "ScaleBarItem", "TileGridItem", "TileMark", "ViewerState"]

CROSSHAIR_PEN = pg.mkPen(color=(0, 230, 255, 150), width=1)
MEASURE_PEN = pg.mkPen(color=(255, 220, 0), width=2)


class ImageViewBox(pg.ViewBox):
    """A ViewBox that can draw a measuring line (the Set scale tool) instead of panning."""

    sigLineDrawn = Signal(QPointF, QPointF)  # image coordinates of both ends

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self.measure_mode = False
        self._line = QGraphicsLineItem()
        self._line.setPen(MEASURE_PEN)
        self._line.setVisible(False)
        self._line.setZValue(50)
        self.addItem(self._line, ignoreBounds=True)

    def set_measure_mode(self, on: bool) -> None:
        self.measure_mode = bool(on)
        self.setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)
        if not on:
            self._line.setVisible(False)

    def show_line(self, p0: QPointF, p1: QPointF) -> None:
        self._line.setLine(p0.x(), p0.y(), p1.x(), p1.y())
        self._line.setVisible(True)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (Qt API)
        if not (self.measure_mode and ev.button() == Qt.MouseButton.LeftButton):
            return super().mouseDragEvent(ev, axis)
        ev.accept()
        p0 = self.mapSceneToView(ev.buttonDownScenePos())
        p1 = self.mapSceneToView(ev.scenePos())
        if ev.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            p1 = QPointF(p1.x(), p0.y())  # scale bars are horizontal: Shift snaps
        self.show_line(p0, p1)
        if ev.isFinish():
            self.sigLineDrawn.emit(p0, p1)


class ScaleBarItem(QGraphicsObject):
    """A 1-2-5 scale bar in the bottom-left corner of a ViewBox, re-sized on every zoom."""

    MAX_SCREEN_PX = 160

    def __init__(self, vb: pg.ViewBox) -> None:
        super().__init__(vb)
        self.vb = vb
        self.pixel_size_m: float | None = None
        # On-screen length budget; the LinkedViewer gives every pane the same one, so panes of
        # different widths at the same zoom show the same bar.
        self.budget_px: float | None = None
        self.label = ""
        self.length_screen = 0.0
        self.setZValue(1000)
        vb.sigTransformChanged.connect(self._update)
        vb.sigResized.connect(self._update)

    def set_pixel_size(self, pixel_size_m: float | None) -> None:
        self.pixel_size_m = pixel_size_m
        self._update()

    def set_budget(self, budget_px: float | None) -> None:
        if budget_px != self.budget_px:
            self.budget_px = budget_px
            self._update()

    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(self.vb.rect())

    def _update(self, *_: object) -> None:
        self.prepareGeometryChange()
        self.label, self.length_screen = "", 0.0
        px_w = self.vb.viewPixelSize()[0] if self.vb.width() > 0 else 0
        if self.pixel_size_m and px_w > 0:
            max_screen = self.budget_px or min(self.MAX_SCREEN_PX, 0.4 * self.vb.width())
            _, self.label, length_px = display.scale_bar(self.pixel_size_m, max_screen * px_w)
            self.length_screen = length_px / px_w
        self.setVisible(bool(self.label))
        self.update()

    def paint(self, p: QPainter, *_: object) -> None:
        if not self.label:
            return
        r = self.vb.rect()
        font = QFont()
        font.setPixelSize(13)
        font.setBold(True)
        p.setFont(font)
        text_w = p.fontMetrics().horizontalAdvance(self.label)
        margin, bar_h = 12, 5
        w = max(self.length_screen, text_w) + 16
        h = 36
        x0, y0 = r.left() + margin, r.bottom() - margin - h
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 150))
        p.drawRoundedRect(QRectF(x0, y0, w, h), 4, 4)
        bar_x = x0 + (w - self.length_screen) / 2
        p.setBrush(QColor(255, 255, 255))
        p.drawRect(QRectF(bar_x, y0 + h - 8 - bar_h, self.length_screen, bar_h))
        p.setPen(QColor(255, 255, 255))
        p.drawText(QRectF(x0, y0 + 3, w, 16), Qt.AlignmentFlag.AlignHCenter, self.label)


class TileGridItem(QGraphicsObject):
    """The analysis tiles as a partition of the image, each cell labelled with its level-2 class.

    Tiles overlap; each is drawn as its own cell (halfway into the overlaps) so the grid reads
    as a map. A label wraps to its cell's width on screen and shows only when it fits whole
    (never cut off, e.g. "Shear (elongat"); zoom in to read the labels of small cells.
    """

    LABEL_PAD_PX = 4

    def __init__(self) -> None:
        super().__init__()
        self.tiles: list[TileMark] = []
        self.cells: list[tuple[float, float, float, float]] = []
        self._rects: list[QGraphicsRectItem] = []
        self._labels: list[pg.TextItem] = []
        self.labels_visible = False
        self.setZValue(20)

    def set_tiles(self, tiles: list[TileMark], image_shape: tuple[int, int] | None = None) -> None:
        for c in [*self._rects, *self._labels]:
            c.setParentItem(None)
            if c.scene() is not None:
                c.scene().removeItem(c)
        self._rects, self._labels = [], []
        self.tiles = list(tiles)
        if not self.tiles:
            self.cells = []
            self.prepareGeometryChange()
            return
        shape = image_shape or (max(t.y1 for t in tiles), max(t.x1 for t in tiles))
        self.cells = display.tile_cores([(t.y0, t.x0, t.y1, t.x1) for t in tiles], shape)
        for t, (y0, x0, y1, x1) in zip(self.tiles, self.cells, strict=True):
            colour = QColor(t.color)
            rect = QGraphicsRectItem(QRectF(x0, y0, x1 - x0, y1 - y0), self)
            pen = QPen(colour)
            pen.setCosmetic(True)
            pen.setWidthF(1.2)
            if not t.voting:
                pen.setStyle(Qt.PenStyle.DashLine)
            rect.setPen(pen)
            fill = QColor(colour)
            fill.setAlpha(40 if t.voting else 0)
            rect.setBrush(fill)
            self._rects.append(rect)
            text = pg.TextItem(t.label, color=t.color, anchor=(0, 0), fill=(0, 0, 0, 150))
            # Wrap between words only: a word that does not fit makes the label not fit (hidden),
            # instead of being broken mid-word.
            opt = text.textItem.document().defaultTextOption()
            opt.setWrapMode(QTextOption.WrapMode.WordWrap)
            text.textItem.document().setDefaultTextOption(opt)
            text.setParentItem(self)
            text.setPos(x0 + 1, y0 + 1)
            text.setVisible(self.labels_visible)
            self._labels.append(text)
        self.prepareGeometryChange()

    def update_labels(self, screen_px_per_image_px: float) -> None:
        if not self.cells or not (screen_px_per_image_px > 0):
            return
        pad = self.LABEL_PAD_PX
        # One decision for the whole grid (labels of some cells only would read as missing classes).
        fits = []
        for text, (y0, x0, y1, x1) in zip(self._labels, self.cells, strict=True):
            w = (x1 - x0) * screen_px_per_image_px - pad
            h = (y1 - y0) * screen_px_per_image_px - pad
            if w < 8:
                fits.append(False)
                continue
            text.setTextWidth(w)
            doc = text.textItem.document()
            fits.append(doc.idealWidth() <= w + 0.5 and doc.size().height() <= h)
        on = bool(fits) and all(fits)
        self.labels_visible = on
        for t in self._labels:
            t.setVisible(on)

    def label_fits(self, index: int, screen_px_per_image_px: float) -> bool:
        """Whether label ``index`` is drawn whole inside its cell at this zoom (for tests)."""
        text = self._labels[index]
        y0, x0, y1, x1 = self.cells[index]
        doc = text.textItem.document()
        w = (x1 - x0) * screen_px_per_image_px
        h = (y1 - y0) * screen_px_per_image_px
        return doc.idealWidth() <= w and doc.size().height() <= h and text.toPlainText() == self.tiles[index].label

    def boundingRect(self) -> QRectF:  # noqa: N802
        return self.childrenBoundingRect()

    def paint(self, *_: object) -> None:
        pass


class ImagePane(pg.GraphicsLayoutWidget):
    """One pane: base image, up to two CAM overlays, tile grid, crosshair, scale bar."""

    sigMouseMoved = Signal(float, float)  # image coordinates
    sigMouseLeft = Signal()

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent=parent)
        self.ci.setContentsMargins(2, 2, 2, 2)
        self.title = self.ci.addLabel(title, row=0, col=0, size="10pt")
        self.vb = ImageViewBox()
        self.ci.addItem(self.vb, row=1, col=0)
        self.image_item = pg.ImageItem(axisOrder="row-major", autoDownsample=True)
        self.vb.addItem(self.image_item)
        self.overlays: dict[int, pg.ImageItem] = {}
        for level in (1, 2):
            item = pg.ImageItem(axisOrder="row-major")
            item.setZValue(10 + level)
            item.setVisible(False)
            self.vb.addItem(item, ignoreBounds=True)
            self.overlays[level] = item
        self.tile_grid = TileGridItem()
        self.tile_grid.setVisible(False)
        self.vb.addItem(self.tile_grid, ignoreBounds=True)
        self.vline = pg.InfiniteLine(angle=90, movable=False, pen=CROSSHAIR_PEN)
        self.hline = pg.InfiniteLine(angle=0, movable=False, pen=CROSSHAIR_PEN)
        for line in (self.vline, self.hline):
            line.setZValue(100)
            line.setVisible(False)
            self.vb.addItem(line, ignoreBounds=True)
        self.scale_bar = ScaleBarItem(self.vb)
        self.color_bar: pg.ColorBarItem | None = None
        self.image_shape: tuple[int, int] | None = None
        self._pyramid: list[np.ndarray] = []
        self._level = -1
        self.vb.sigTransformChanged.connect(self._view_changed)
        self.scene().sigMouseMoved.connect(self._mouse_moved)

    # --- content -----------------------------------------------------------------------------
    def set_image(
        self,
        img: np.ndarray | None,
        levels: tuple[float, float] | None = None,
        pyramid: list[np.ndarray] | None = None,
    ) -> None:
        """Show ``img`` (through ``pyramid``, its box-filtered halvings, when given)."""
        if img is None:
            self.image_item.clear()
            self.image_shape = None
            self._pyramid = []
            for item in self.overlays.values():
                item.clear()
            self.tile_grid.set_tiles([])
            return
        self.image_shape = (int(img.shape[0]), int(img.shape[1]))
        self._pyramid = pyramid or [img]
        self._level = -1
        self._show_level(0, levels)
        for item in self.overlays.values():
            item.clear()
            item.setVisible(False)

    def _show_level(self, k: int, levels: tuple[float, float] | None = None) -> None:
        if k == self._level or not self._pyramid:
            return
        self._level = k
        lv = levels if levels is not None else self.image_item.levels
        self.image_item.setImage(self._pyramid[k], autoLevels=False, levels=lv)
        rows, cols = self.image_shape
        self.image_item.setRect(QRectF(0, 0, cols, rows))

    def _view_changed(self, *_: object) -> None:
        if self.vb.width() <= 0:
            return
        px = self.vb.viewPixelSize()[0]
        if len(self._pyramid) > 1:
            self._show_level(display.pyramid_level(px, len(self._pyramid)))
        if px > 0:
            self.tile_grid.update_labels(1.0 / px)

    def set_overlay(self, level: int, cam: np.ndarray | None) -> None:
        """Show ``cam`` (values in [0, 1], any shape) stretched over the image; None hides."""
        item = self.overlays[level]
        if cam is None or self.image_shape is None:
            item.clear()
            item.setVisible(False)
            return
        item.setImage(cam, autoLevels=False, levels=(0.0, 1.0))
        rows, cols = self.image_shape
        item.setRect(QRectF(0, 0, cols, rows))
        item.setVisible(True)

    def set_overlay_style(self, lut: np.ndarray, opacity: float) -> None:
        for item in self.overlays.values():
            item.setLookupTable(lut)
            item.setOpacity(opacity)

    def overlay_visible(self, level: int) -> bool:
        item = self.overlays[level]
        return item.isVisible() and item.image is not None

    def set_color_bar(self, cmap: pg.ColorMap | None) -> None:
        if cmap is None:
            if self.color_bar is not None:
                self.ci.removeItem(self.color_bar)
                self.color_bar = None
            return
        if self.color_bar is None:
            self.color_bar = pg.ColorBarItem(
                values=(0, 1), colorMap=cmap, interactive=False, width=14, label="Grad-CAM",
                colorMapMenu=False,
            )
            self.ci.addItem(self.color_bar, row=1, col=1)
        else:
            self.color_bar.setColorMap(cmap)

    # --- cursor ------------------------------------------------------------------------------
    def _mouse_moved(self, scene_pos: QPointF) -> None:
        if self.image_shape is None:
            return
        if not self.vb.sceneBoundingRect().contains(scene_pos):
            self.sigMouseLeft.emit()
            return
        p = self.vb.mapSceneToView(scene_pos)
        self.sigMouseMoved.emit(p.x(), p.y())

    def leaveEvent(self, ev) -> None:  # noqa: N802
        self.sigMouseLeft.emit()
        super().leaveEvent(ev)

    def set_crosshair(self, x: float | None, y: float | None) -> None:
        show = x is not None and y is not None
        if show:
            self.vline.setPos(x)
            self.hline.setPos(y)
        self.vline.setVisible(show)
        self.hline.setVisible(show)

    # --- view --------------------------------------------------------------------------------
    def fit(self) -> None:
        if self.image_shape:
            rows, cols = self.image_shape
            self.vb.setRange(QRectF(0, 0, cols, rows), padding=0.01)

    def render_view(self) -> QImage:
        """The pane as shown (image, overlay, grid, scale bar), at screen resolution."""
        return self.grab().toImage()


class LinkedViewer(QWidget):
    """Two or three linked panes plus the contrast histogram, drawing a ``ViewerState``.

    Pane 0 is the SEM image. In two-pane mode pane 1 shows the enabled CAM levels stacked
    (level 2 above level 1); in three-pane mode pane 1 shows level 1 and pane 2 level 2. The
    panes sit side by side or one above the other, whichever shows the image larger at Fit.
    """

    cursorMoved = Signal(float, float)  # image coordinates
    cursorLeft = Signal()

    def __init__(self, state: ViewerState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state if state is not None else ViewerState(colormap=display.DEFAULT_CAM_COLORMAP)
        self.panes = [ImagePane("SEM image"), ImagePane("Grad-CAM"), ImagePane("Grad-CAM level 2")]
        self.histogram = pg.HistogramLUTWidget(orientation="vertical")
        self.histogram.setMinimumWidth(95)
        self.histogram.setMaximumWidth(130)
        self.histogram.item.setImageItem(self.panes[0].image_item)
        self.histogram.item.sigLevelsChanged.connect(self._sync_levels)
        self.histogram.item.sigLookupTableChanged.connect(self._sync_lut)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        for pane in self.panes:
            self.splitter.addWidget(pane)
            pane.setMinimumWidth(120)
            pane.setMinimumHeight(120)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.histogram)
        lay.addWidget(self.splitter, 1)
        # Linking: pyqtgraph's setXLink/setYLink copy ranges, which with a locked aspect and panes
        # of different widths makes the views fight; instead every visible pane gets the same
        # centre and the same image-pixels-per-screen-pixel as the pane the user moved.
        self._syncing = False
        self._sizes: dict[int, tuple[float, float]] = {}
        self._shared_view: tuple[QPointF, float, float] | None = None
        for pane in self.panes:
            pane.vb.sigRangeChanged.connect(lambda vb, *_a: self._sync_views(vb))
            pane.vb.sigResized.connect(self._sync_views)
            pane.vb.sigResized.connect(self._update_scale_budget)
            pane.sigMouseMoved.connect(self._on_mouse)
            pane.sigMouseLeft.connect(self._on_leave)

        self.image: np.ndarray | None = None
        self.reference_title: str | None = None  # pane 1 shows a reference image (show_reference)
        self.last_cursor: tuple[float, float] | None = None
        self.state.observe(self._state_changed)
        self.histogram.setVisible(self.state.show_histogram)
        self._apply_mode()
        self._apply_style()
        self._refresh_overlays()

    # --- the state, read back (the state is the one source) -----------------------------------
    @property
    def cams(self) -> dict[int, np.ndarray | None]:
        return {1: self.state.cam1, 2: self.state.cam2}

    @property
    def cam_labels(self) -> dict[int, str]:
        return {1: self.state.cam1_label, 2: self.state.cam2_label}

    @property
    def show_level(self) -> dict[int, bool]:
        return {1: self.state.show_level1, 2: self.state.show_level2}

    @property
    def opacity(self) -> float:
        return self.state.opacity

    @property
    def cmap_name(self) -> str:
        return self.state.colormap

    @property
    def three_panes(self) -> bool:
        return self.state.three_panes

    @property
    def show_tiles(self) -> bool:
        return self.state.show_tiles

    # --- the state, changed (convenience setters) ----------------------------------------------
    def set_cam(self, level: int, cam: np.ndarray | None, label: str = "") -> None:
        self.state.set_cam(level, cam, label)

    def set_level_visible(self, level: int, on: bool) -> None:
        self.state.set_shown(level, on)

    def set_three_panes(self, on: bool) -> None:
        self.state.three_panes = on

    def set_tiles(self, tiles: list[TileMark]) -> None:
        self.state.tiles = tiles

    def set_tiles_visible(self, on: bool) -> None:
        self.state.show_tiles = on

    def set_pixel_size(self, pixel_size_m: float | None) -> None:
        self.state.pixel_size_m = pixel_size_m

    def _state_changed(self, name: str, value: object) -> None:
        if name in ("cam1", "cam2", "cam1_label", "cam2_label", "show_level1", "show_level2",
                    "level2_available"):
            self._refresh_overlays()
        elif name in ("opacity", "colormap"):
            self._apply_style()
        elif name == "three_panes":
            self._apply_mode()
            self._refresh_overlays()
            self.fit()
            QTimer.singleShot(0, self.fit)  # again once the splitter has laid out the panes
        elif name == "tiles":
            for pane in self.panes[1:]:
                pane.tile_grid.set_tiles(list(value), self.image_shape)
                pane._view_changed()
            self._apply_tiles_visible()
        elif name == "show_tiles":
            self._apply_tiles_visible()
        elif name == "show_histogram":
            self.histogram.setVisible(bool(value))
        elif name == "pixel_size_m":
            for pane in self.panes:
                pane.scale_bar.set_pixel_size(value)

    def _sync_views(self, source: pg.ViewBox) -> None:
        """Give every visible pane the view of ``source`` (same centre, same zoom).

        A pane whose range changed because it was resized (splitter, window, even a grab())
        is not a source: it gets the shared view instead of imposing its own.
        """
        if self._syncing or source.width() <= 0 or source.height() <= 0:
            return
        pane = next((p for p in self.panes if p.vb is source), None)
        if pane is None or not pane.isVisible():
            return
        size = (source.width(), source.height())
        resized = self._sizes.get(id(source)) != size
        self._sizes[id(source)] = size
        if resized and self._shared_view is not None:
            targets = [source]
        else:
            upp_x, upp_y = source.viewPixelSize()
            self._shared_view = (source.viewRect().center(), upp_x, upp_y)
            targets = [p.vb for p in self.panes if p.vb is not source]
        c, upp_x, upp_y = self._shared_view
        self._syncing = True
        try:
            for vb in targets:
                if vb.width() <= 0 or vb.height() <= 0 or not vb.isVisible():
                    continue
                self._sizes[id(vb)] = (vb.width(), vb.height())
                w, h = vb.width() * upp_x, vb.height() * upp_y
                vb.setRange(QRectF(c.x() - w / 2, c.y() - h / 2, w, h), padding=0)
        finally:
            self._syncing = False

    # --- image and levels -------------------------------------------------------------------
    def set_image(
        self,
        img: np.ndarray | None,
        levels: tuple[float, float] | None = None,
        pyramid: list[np.ndarray] | None = None,
    ) -> None:
        """Show a new image (its analysis, if any, is forgotten: the state's result is cleared)."""
        self.image = img
        self.reference_title = None
        if img is not None and pyramid is None:
            pyramid = display.pyramid(img)
        for pane in self.panes:
            pane.set_image(img, levels, pyramid)
        self.state.clear_result()
        if img is not None:
            self.histogram.item.imageChanged(autoLevel=False)
            if levels is not None:
                self.set_levels(*levels)
            self._choose_orientation()
            self.fit()
            QTimer.singleShot(0, self.fit)  # again once a new orientation is laid out
        self._refresh_overlays()

    @property
    def image_shape(self) -> tuple[int, int] | None:
        return self.panes[0].image_shape

    def set_levels(self, lo: float, hi: float) -> None:
        self.histogram.item.setLevels(lo, hi)
        self._sync_levels()

    def levels(self) -> tuple[float, float]:
        lo, hi = self.histogram.item.getLevels()
        return float(lo), float(hi)

    def auto_contrast(self) -> None:
        if self.image is not None:
            self.set_levels(*display.percentile_levels(self.image))

    def reset_contrast(self) -> None:
        if self.image is not None:
            self.set_levels(*display.full_levels(self.image))

    def _sync_levels(self, *_: object) -> None:
        lv = self.panes[0].image_item.getLevels()
        if lv is None:
            return
        for pane in self.panes[1:]:
            pane.image_item.setLevels(lv)

    def _sync_lut(self, *_: object) -> None:
        for pane in self.panes[1:]:
            pane.image_item.setLookupTable(self.panes[0].image_item.lut)

    def colormap(self) -> pg.ColorMap:
        try:
            return pg.colormap.get(self.cmap_name)
        except (FileNotFoundError, KeyError, ValueError):
            return pg.colormap.get(display.DEFAULT_CAM_COLORMAP)

    def _apply_style(self) -> None:
        cmap = self.colormap()
        lut = cmap.getLookupTable(0.0, 1.0, 256, alpha=True)
        # Alpha rises with activation so cold regions leave the SEM image readable.
        lut[:, 3] = (255 * np.clip(0.15 + 1.2 * np.linspace(0, 1, 256), 0, 1)).astype(lut.dtype)
        for pane in self.panes[1:]:
            pane.set_overlay_style(lut, self.opacity)
        self._refresh_color_bars()

    def _apply_mode(self) -> None:
        self.panes[2].setVisible(self.three_panes)
        self._choose_orientation()
        self._equal_sizes()
        self._sync_views(self.panes[0].vb)

    def _equal_sizes(self) -> None:
        n = 3 if self.three_panes else 2
        horizontal = self.splitter.orientation() == Qt.Orientation.Horizontal
        total = max(self.splitter.width() if horizontal else self.splitter.height(), 300)
        self.splitter.setSizes([total // n] * n + [0] * (3 - n))

    def fit_zoom(self, orientation: Qt.Orientation) -> float:
        """Screen pixels per image pixel that Fit would give with the panes laid out this way."""
        if self.image_shape is None:
            return 0.0
        rows, cols = self.image_shape
        n = 3 if self.three_panes else 2
        w, h = max(self.splitter.width(), 1), max(self.splitter.height(), 1)
        if orientation == Qt.Orientation.Horizontal:
            w = w / n
        else:
            h = h / n
        return min(w / cols, h / rows)

    def _choose_orientation(self) -> bool:
        """Side by side or stacked, whichever shows the whole image larger (a landscape image
        in side-by-side panes leaves most of each pane empty at Fit); True when it changed."""
        if self.image_shape is None:
            return False
        best = max(
            (Qt.Orientation.Horizontal, Qt.Orientation.Vertical),
            key=lambda o: (self.fit_zoom(o), o == Qt.Orientation.Horizontal),
        )
        if best == self.splitter.orientation():
            return False
        self.splitter.setOrientation(best)
        self._equal_sizes()
        return True

    def _update_scale_budget(self, *_: object) -> None:
        """The same on-screen budget for every pane's scale bar (the narrowest pane sets it)."""
        widths = [p.vb.width() for p in self.panes if p.isVisible() and p.vb.width() > 0]
        if not widths:
            return
        budget = min(ScaleBarItem.MAX_SCREEN_PX, 0.4 * min(widths))
        for pane in self.panes:
            pane.scale_bar.set_budget(budget)

    def _plan(self) -> dict[int, list[int]]:
        """Pane index -> the CAM levels it may draw."""
        return {1: [1], 2: [2]} if self.three_panes else {1: [1, 2], 2: []}

    def _pane_title(self, levels: list[int]) -> str:
        st = self.state
        if levels == [2] and not st.level2_available:
            return "Level 2 not trained (this model gives mechanisms only)"
        parts = [f"L{lv}: {st.cam_label(lv)}" for lv in levels if st.shows(lv) and st.cam(lv) is not None]
        if not parts:
            if any(st.cam(lv) is not None for lv in levels):
                return "Grad-CAM off (keys 1 / 2)"
            return "Grad-CAM (no analysis yet)"
        return "Grad-CAM  " + "  |  ".join(parts)

    def _refresh_overlays(self) -> None:
        st = self.state
        for idx, levels in self._plan().items():
            pane = self.panes[idx]
            if idx == 1 and self.reference_title is not None:
                levels = []  # a reference image has no CAM of this analysis
                pane.title.setText(self.reference_title)
            for lv in (1, 2):
                pane.set_overlay(lv, st.cam(lv) if (lv in levels and st.shows(lv)) else None)
            if levels:
                pane.title.setText(self._pane_title(levels))
        self._refresh_color_bars()

    # --- a reference image beside the SEM image ---------------------------------------------------
    def show_reference(
        self,
        img: np.ndarray,
        levels: tuple[float, float] | None = None,
        pyramid: list[np.ndarray] | None = None,
        title: str = "Reference",
        pixel_size_m: float | None = None,
    ) -> None:
        """Show another image (a labelled reference) in the second pane, side by side with the
        SEM image, until ``clear_reference`` or the next image; pan and zoom stay linked."""
        pane = self.panes[1]
        self.reference_title = title
        pane.set_image(img, levels, pyramid)
        pane.scale_bar.set_pixel_size(pixel_size_m)
        self._refresh_overlays()

    def clear_reference(self) -> None:
        """The second pane shows the SEM image and its CAM again."""
        if self.reference_title is None:
            return
        self.reference_title = None
        pane = self.panes[1]
        pane.set_image(self.image, self.levels() if self.image is not None else None, self.panes[0]._pyramid)
        pane.scale_bar.set_pixel_size(self.state.pixel_size_m)
        self._refresh_overlays()

    def _refresh_color_bars(self) -> None:
        """A colour bar only beside a pane that draws a CAM (an empty pane has nothing to key)."""
        cmap = self.colormap()
        for pane in self.panes[1:]:
            drawing = any(pane.overlay_visible(lv) for lv in (1, 2))
            pane.set_color_bar(cmap if drawing else None)

    def drawn_overlays(self) -> dict[int, list[int]]:
        """Which CAM levels each pane currently draws (pane index -> levels)."""
        return {
            i: [lv for lv in (1, 2) if p.overlay_visible(lv)]
            for i, p in enumerate(self.panes)
            if p.isVisible() or i < 2
        }

    def _apply_tiles_visible(self) -> None:
        for pane in self.panes[1:]:
            pane.tile_grid.setVisible(self.show_tiles and bool(pane.tile_grid.tiles))

    # --- cursor -----------------------------------------------------------------------------
    def _on_mouse(self, x: float, y: float) -> None:
        self.last_cursor = (x, y)
        for pane in self.panes:
            pane.set_crosshair(x, y)
        self.cursorMoved.emit(x, y)

    def _on_leave(self) -> None:
        self.last_cursor = None
        for pane in self.panes:
            pane.set_crosshair(None, None)
        self.cursorLeft.emit()

    # --- navigation -------------------------------------------------------------------------
    @property
    def vb(self) -> pg.ViewBox:
        return self.panes[0].vb

    def _mark_source(self) -> pg.ViewBox:
        """The next range change of pane 0 is the user's: record its size so it counts."""
        vb = self.vb
        self._sizes[id(vb)] = (vb.width(), vb.height())
        return vb

    def fit(self) -> None:
        """The whole image in every visible pane (the narrowest one decides the zoom)."""
        if self.image_shape is None:
            return
        if self._choose_orientation():
            QTimer.singleShot(0, self.fit)  # again once the new layout has its sizes
        rows, cols = self.image_shape
        vb = self._mark_source()
        visible = [p.vb for p in self.panes if p.isVisible() and p.vb.width() > 0 and p.vb.height() > 0]
        if not visible:
            self.panes[0].fit()
            return
        zoom = 0.98 * min(min(v.width() / cols, v.height() / rows) for v in visible)
        w, h = vb.width() / zoom, vb.height() / zoom
        vb.setRange(QRectF(cols / 2 - w / 2, rows / 2 - h / 2, w, h), padding=0)

    def one_to_one(self) -> None:
        """One image pixel per screen pixel, about the current centre."""
        if self.image_shape is None:
            return
        vb = self._mark_source()
        c = vb.viewRect().center()
        w, h = max(vb.width(), 1), max(vb.height(), 1)
        vb.setRange(QRectF(c.x() - w / 2, c.y() - h / 2, w, h), padding=0)

    def zoom(self, factor: float) -> None:
        """Zoom in (factor > 1) or out about the cursor when it is over a pane, else the centre."""
        if self.image_shape is None or not (factor > 0 and math.isfinite(factor)):
            return
        vb = self._mark_source()
        center = QPointF(*self.last_cursor) if self.last_cursor else vb.viewRect().center()
        vb.scaleBy((1 / factor, 1 / factor), center=center)

    def zoom_factor(self) -> float:
        """Screen pixels per image pixel."""
        px = self.vb.viewPixelSize()[0]
        return 1.0 / px if px > 0 else 1.0
