"""Graphics items of the case view, in overview pixels (x right, y down, the view's y inverted).

``FrameItem``: one frame's field of view, a rectangle turned about its centre (``setRotation``:
clockwise on screen, the sense of ``Placement.rotation_deg``), filled in its mechanism's colour,
hatched when uncertain, dashed when not analysed. Drag moves it; Shift+drag turns it about its
centre. ``AnnotationItem``: an origin, a crack-growth arrow or a zone outline with its label.

Items never decide anything: they report through plain callbacks set by the view
(``on_hover``, ``on_click``, ``on_moved``), in the GUI thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QPolygonF,
    QTransform,
)

NOT_ANALYSED = QColor(200, 200, 200)
ANNOTATION_COLOUR = QColor(255, 214, 0)  # no mechanism uses it (they take Tableau 10 hues)
SELECTED_COLOUR = QColor(0, 230, 255)


def _left_drag(item: pg.GraphicsObject, ev, enabled: bool) -> tuple[QPointF, QPointF] | None:
    """A left-button drag of ``item`` while ``enabled``: accepted, and (where the pointer is, where
    the button went down) in the parent's coordinates. None when the drag is not the item's (it is
    ignored, so the view pans) or the item has no parent yet."""
    if ev.button() != Qt.MouseButton.LeftButton or not enabled:
        ev.ignore()
        return None
    ev.accept()
    parent = item.parentItem()
    if parent is None:
        return None
    return parent.mapFromScene(ev.scenePos()), parent.mapFromScene(ev.buttonDownScenePos())


def _cosmetic(colour: QColor, width: float, style=Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(colour)
    pen.setCosmetic(True)  # the same width on screen at every zoom
    pen.setWidthF(width)
    pen.setStyle(style)
    return pen


class FrameItem(pg.GraphicsObject):
    """A frame's outline (see module doc). ``name`` identifies the frame."""

    def __init__(self, name: str, x: float, y: float, w: float, h: float, rotation: float = 0.0) -> None:
        super().__init__()
        self.name = name
        self.w, self.h = float(w), float(h)
        self.colour = QColor(NOT_ANALYSED)
        self.analysed = False
        self.uncertain = False
        self.placed_by = "stage"
        self.movable = True
        self.highlighted = False
        self.on_hover: Callable[[str | None], None] | None = None
        self.on_click: Callable[[str], None] | None = None
        self.on_moved: Callable[[str, float, float, float], None] | None = None
        self.on_context: Callable[[str, QPointF], None] | None = None  # right-click menu
        self._drag_start: tuple[QPointF, float, QPointF] | None = None
        self.setPos(x, y)
        self.setRotation(rotation)
        self.setZValue(10)
        self.setAcceptHoverEvents(True)

    # --- state -----------------------------------------------------------------------------
    def set_result(self, colour: tuple[int, int, int] | None, uncertain: bool) -> None:
        self.analysed = colour is not None
        self.colour = QColor(*colour) if colour is not None else QColor(NOT_ANALYSED)
        self.uncertain = bool(uncertain) and self.analysed
        self.update()

    def set_geometry(self, x: float, y: float, w: float, h: float, rotation: float) -> None:
        self.prepareGeometryChange()
        self.w, self.h = float(w), float(h)
        self.setPos(x, y)
        self.setRotation(rotation)
        self.update()

    @property
    def placement(self) -> tuple[float, float, float, float, float]:
        """(x_px, y_px, width_px, height_px, rotation_deg) as drawn now."""
        p = self.pos()
        return p.x(), p.y(), self.w, self.h, self.rotation()

    def corners(self) -> list[tuple[float, float]]:
        """The outline's corners in overview pixels (as ``Placement.corners()`` orders them)."""
        out = []
        for q in (QPointF(-self.w / 2, -self.h / 2), QPointF(self.w / 2, -self.h / 2),
                  QPointF(self.w / 2, self.h / 2), QPointF(-self.w / 2, self.h / 2)):  # fmt: skip
            m = self.mapToParent(q)
            out.append((m.x(), m.y()))
        return out

    # --- drawing -----------------------------------------------------------------------------
    def _rect(self) -> QRectF:
        return QRectF(-self.w / 2, -self.h / 2, self.w, self.h)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._rect()

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(self._rect())
        return path

    def paint(self, p: QPainter, *_: object) -> None:
        r = self._rect()
        fill = QColor(self.colour)
        fill.setAlpha(110 if self.analysed else 0)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(fill)
        p.drawRect(r)
        if self.uncertain:
            # A hatch of fixed screen spacing: the brush pattern is laid out in device pixels.
            brush = QBrush(QColor(255, 255, 255, 200), Qt.BrushStyle.BDiagPattern)
            inv, ok = p.worldTransform().inverted()
            if ok:
                brush.setTransform(QTransform.fromScale(2.0, 2.0) * inv)
            p.setBrush(brush)
            p.drawRect(r)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(_cosmetic(QColor(0, 0, 0, 170), 3.5))
        p.drawRect(r)
        style = Qt.PenStyle.SolidLine if self.analysed else Qt.PenStyle.DashLine
        edge = SELECTED_COLOUR if self.highlighted else self.colour
        p.setPen(_cosmetic(edge, 2.0 if not self.highlighted else 2.6, style))
        p.drawRect(r)

    # --- mouse ---------------------------------------------------------------------------------
    def hoverEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph API
        # The view highlights the frame it shows in its hover card (on_hover).
        if ev.isExit():
            if self.on_hover:
                self.on_hover(None)
            return
        if ev.isEnter() and self.on_hover:
            self.on_hover(self.name)
        if self.movable:
            ev.acceptClicks(Qt.MouseButton.LeftButton)
            ev.acceptClicks(Qt.MouseButton.RightButton)
            ev.acceptDrags(Qt.MouseButton.LeftButton)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802
        if not self.movable:
            ev.ignore()  # an annotation tool is on: the click is the tool's
            return
        if ev.button() == Qt.MouseButton.RightButton and self.on_context:
            ev.accept()
            self.on_context(self.name, ev.screenPos())
            return
        if ev.button() != Qt.MouseButton.LeftButton:
            return
        ev.accept()
        if self.on_click:
            self.on_click(self.name)

    def mouseDragEvent(self, ev) -> None:  # noqa: N802
        points = _left_drag(self, ev, self.movable)
        if points is None:
            return
        here, down = points
        if ev.isStart():
            self._drag_start = (down, self.rotation(), self.pos())
        if self._drag_start is None:
            return
        start, rot0, pos0 = self._drag_start
        if ev.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            c = pos0
            a0 = math.degrees(math.atan2(start.y() - c.y(), start.x() - c.x()))
            a1 = math.degrees(math.atan2(here.y() - c.y(), here.x() - c.x()))
            self.setPos(pos0)
            self.setRotation(_wrap(rot0 + a1 - a0))
        else:
            self.setPos(pos0 + (here - start))
        if ev.isFinish():
            self._drag_start = None
            if self.on_moved:
                x, y, _, _, rot = self.placement
                self.on_moved(self.name, x, y, rot)

    def rotate_by(self, degrees: float) -> None:
        self.setRotation(_wrap(self.rotation() + degrees))
        if self.on_moved:
            x, y, _, _, rot = self.placement
            self.on_moved(self.name, x, y, rot)


def _wrap(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


class AnnotationItem(pg.GraphicsObject):
    """An origin (1 point), an arrow (tail, head) or a zone (polygon) with its label.

    Drag moves it; a click selects it (Delete removes it, double-click edits its label).
    """

    MARK_PX = 9.0  # origin marker radius and arrow head length on screen

    def __init__(self, kind: str, points: list[tuple[float, float]], label: str = "") -> None:
        super().__init__()
        self.kind = kind
        self.points = [QPointF(float(x), float(y)) for x, y in points]
        self.selected = False
        self.interactive = True  # off while an annotation tool draws (a press there draws)
        self.on_click: Callable[[AnnotationItem, bool], None] | None = None
        self.on_moved: Callable[[AnnotationItem], None] | None = None
        self._drag: tuple[QPointF, list[QPointF]] | None = None
        self.text = pg.TextItem(label, color=ANNOTATION_COLOUR, anchor=(0, 1), fill=(0, 0, 0, 160))
        self.text.setParentItem(self)
        self.setZValue(30)
        self.set_label(label)

    @property
    def label(self) -> str:
        return self.text.toPlainText()

    def set_label(self, label: str) -> None:
        self.text.setText(label or {"origin": "origin"}.get(self.kind, ""))
        self.text.setVisible(bool(self.text.toPlainText()))
        self._place_text()

    def point_list(self) -> list[tuple[float, float]]:
        return [(p.x(), p.y()) for p in self.points]

    def _place_text(self) -> None:
        if not self.points:
            return
        if self.kind == "zone":
            top = min(self.points, key=lambda q: q.y())
            self.text.setAnchor((0.5, 0))
            self.text.setPos(top)
        elif self.kind == "arrow":
            a, b = self.points[0], self.points[-1]
            self.text.setAnchor((0.5, 0))
            self.text.setPos((a + b) / 2)
        else:
            self.text.setAnchor((0, 1))
            self.text.setPos(self.points[0])

    def _px(self) -> float:
        """Overview pixels per screen pixel (markers keep their size on screen)."""
        v = self.pixelLength(pg.Point(1, 0))
        return v if v and math.isfinite(v) and v > 0 else 1.0

    def _outline(self) -> QPainterPath:
        path = QPainterPath()
        pts = self.points
        if not pts:
            return path
        if self.kind == "origin":
            r = self.MARK_PX * self._px()
            path.addEllipse(pts[0], r, r)
        elif self.kind == "zone" and len(pts) >= 3:
            path.addPolygon(QPolygonF([*pts, pts[0]]))
        else:
            path.addPolygon(QPolygonF(pts))
        return path

    def boundingRect(self) -> QRectF:  # noqa: N802
        m = 2 * self.MARK_PX * self._px()
        return self._outline().boundingRect().adjusted(-m, -m, m, m)

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(10 * self._px())  # easy to grab: 10 screen pixels wide
        path = stroker.createStroke(self._outline())
        if self.kind == "origin":
            path.addPath(self._outline())
        return path

    def paint(self, p: QPainter, *_: object) -> None:
        pts = self.points
        if not pts:
            return
        colour = SELECTED_COLOUR if self.selected else ANNOTATION_COLOUR
        for pen in (_cosmetic(QColor(0, 0, 0, 190), 4.0), _cosmetic(colour, 2.0)):
            if self.kind == "zone":
                pen.setStyle(Qt.PenStyle.DashLine if pen.color() != QColor(0, 0, 0, 190) else Qt.PenStyle.SolidLine)
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            if self.kind == "origin":
                r = self.MARK_PX * self._px()
                o = pts[0]
                p.drawEllipse(o, r, r)
                p.drawLine(QPointF(o.x() - 1.8 * r, o.y()), QPointF(o.x() + 1.8 * r, o.y()))
                p.drawLine(QPointF(o.x(), o.y() - 1.8 * r), QPointF(o.x(), o.y() + 1.8 * r))
            elif self.kind == "zone" and len(pts) >= 3:
                p.drawPolygon(QPolygonF(pts))
            elif len(pts) >= 2:
                p.drawPolyline(QPolygonF(pts))
                a, b = pts[-2], pts[-1]
                ang = math.atan2(b.y() - a.y(), b.x() - a.x())
                s = 1.4 * self.MARK_PX * self._px()
                head = QPolygonF([
                    b,
                    QPointF(b.x() - s * math.cos(ang - 0.45), b.y() - s * math.sin(ang - 0.45)),
                    QPointF(b.x() - s * math.cos(ang + 0.45), b.y() - s * math.sin(ang + 0.45)),
                ])  # fmt: skip
                p.setBrush(pen.color())
                p.drawPolygon(head)

    def viewTransformChanged(self) -> None:  # noqa: N802 - pyqtgraph hook: marker size follows zoom
        self.prepareGeometryChange()

    def hoverEvent(self, ev) -> None:  # noqa: N802
        if not ev.isExit() and self.interactive:
            ev.acceptClicks(Qt.MouseButton.LeftButton)
            ev.acceptDrags(Qt.MouseButton.LeftButton)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802
        if ev.button() != Qt.MouseButton.LeftButton or not self.interactive:
            ev.ignore()
            return
        ev.accept()
        if self.on_click:
            self.on_click(self, bool(ev.double()))

    def mouseDragEvent(self, ev) -> None:  # noqa: N802
        points = _left_drag(self, ev, self.interactive)
        if points is None:
            return
        here, down = points
        if ev.isStart():
            self._drag = (down, [QPointF(q) for q in self.points])
        if self._drag is None:
            return
        start, pts0 = self._drag
        self.prepareGeometryChange()
        self.points = [q + (here - start) for q in pts0]
        self._place_text()
        self.update()
        if ev.isFinish():
            self._drag = None
            if self.on_moved:
                self.on_moved(self)
