"""The case view: a failure case's overview with every frame's field of view on it.

Left, the overview (pyqtgraph, as the main viewer: overview pixels, y down, aspect locked) with
the optional coarse tile mechanism map under the frames, each frame's outline to scale and
rotation filled in its mechanism's colour (hatched when uncertain, dashed when not analysed), the
annotations and a scale bar. Right: the legend, a hover card (thumbnail and result of the frame
under the cursor), the frames that are not placed, and the case's warnings.

Mouse: wheel zooms, drag pans; drag a frame to move it, Shift+drag to turn it (a hand placement,
saved at once); click a frame to open it in the side-by-side viewer; with an annotation tool on,
click (origin), drag (arrow) or click corners and double-click (zone). Click an annotation to
select it; Delete removes it, double-click edits its label, drag moves it.
Keys (while the map has focus): F fit, + / - zoom, M tile map, [ / ] turn the frame under the
cursor by 1 degree (Shift: 15), Delete, Esc (leave the tool / cancel the analysis).

The view edits ``self.case`` (GUI thread only) and emits ``changed`` after every user edit; the
feature (``gui/case/feature.py``) saves it and runs the background work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsPathItem,
    QGridLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QSizePolicy,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from fractoscope.gui.case.items import ANNOTATION_COLOUR, AnnotationItem, FrameItem
from fractoscope.gui.case.jobs import LoadedCase, thumbnail_job
from fractoscope.gui.viewer.viewer import ScaleBarItem
from fractoscope.gui.worker import JobQueue
from fractoscope.imaging.display import UNKNOWN_RGB, class_colours, hex_colour
from fractoscope.report.case_data import case_taxonomy

TOOLS = ("origin", "arrow", "zone")
TILE_MAP_OPACITY = 0.45


def result_colour(result: dict | None, colours: dict) -> tuple[int, int, int] | None:
    """A frame's fill colour: its mechanism's (one colour per class), None when not analysed."""
    if not isinstance(result, dict) or not result.get("level1") or result.get("error"):
        return None
    return colours.get(result["level1"], UNKNOWN_RGB)


class CaseViewBox(pg.ViewBox):
    """The overview's ViewBox; with an annotation tool on, clicks and drags draw annotations."""

    def __init__(self, view: CaseView) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._view_ref = view
        self.tool: str | None = None
        self.pending: list[QPointF] = []
        self.preview = QGraphicsPathItem()
        pen = pg.mkPen(color=ANNOTATION_COLOUR, width=2, style=Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.preview.setPen(pen)
        self.preview.setZValue(40)
        self.addItem(self.preview, ignoreBounds=True)

    def set_tool(self, tool: str | None) -> None:
        self.tool = tool
        self.pending = []
        self._show_preview()
        self.setCursor(Qt.CursorShape.CrossCursor if tool else Qt.CursorShape.ArrowCursor)

    def _show_preview(self, extra: QPointF | None = None) -> None:
        from PySide6.QtGui import QPainterPath

        pts = self.pending + ([extra] if extra is not None else [])
        path = QPainterPath()
        if pts:
            path.moveTo(pts[0])
            for q in pts[1:]:
                path.lineTo(q)
        self.preview.setPath(path)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph API
        if self.tool is None:
            return super().mouseClickEvent(ev)
        ev.accept()
        p = self.mapSceneToView(ev.scenePos())
        view = self._view_ref
        if self.tool == "origin" and ev.button() == Qt.MouseButton.LeftButton:
            view.add_annotation("origin", [(p.x(), p.y())])
        elif self.tool == "zone":
            if ev.button() == Qt.MouseButton.LeftButton and not ev.double():
                self.pending.append(p)
                self._show_preview()
            elif len(self.pending) >= 3:  # double-click or right-click closes the zone
                pts = [(q.x(), q.y()) for q in self.pending]
                self.pending = []
                self._show_preview()
                view.add_annotation("zone", pts)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802
        if self.tool != "arrow" or ev.button() != Qt.MouseButton.LeftButton:
            return super().mouseDragEvent(ev, axis)
        ev.accept()
        p0 = self.mapSceneToView(ev.buttonDownScenePos())
        p1 = self.mapSceneToView(ev.scenePos())
        self.pending = [p0]
        self._show_preview(p1)
        if ev.isFinish():
            self.pending = []
            self._show_preview()
            self._view_ref.add_annotation("arrow", [(p0.x(), p0.y()), (p1.x(), p1.y())])


class MapWidget(pg.GraphicsLayoutWidget):
    """The overview's canvas. It takes its keys before the window's shortcuts (F, +, -, ...
    mean the same here as in the main viewer, but for this view)."""

    KEYS = {
        Qt.Key.Key_F, Qt.Key.Key_Plus, Qt.Key.Key_Equal, Qt.Key.Key_Minus, Qt.Key.Key_M,
        Qt.Key.Key_Delete, Qt.Key.Key_Backspace, Qt.Key.Key_Escape, Qt.Key.Key_BracketLeft,
        Qt.Key.Key_BracketRight, Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_BraceLeft,
        Qt.Key.Key_BraceRight,
    }  # fmt: skip

    def __init__(self, view: CaseView) -> None:
        super().__init__()
        self._view_ref = view
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def event(self, ev) -> bool:
        if ev.type() == QEvent.Type.ShortcutOverride and ev.key() in self.KEYS:
            ev.accept()  # deliver it as a key press here, not to the window's shortcut
            return True
        return super().event(ev)

    def keyPressEvent(self, ev) -> None:  # noqa: N802
        if not self._view_ref.handle_key(ev.key(), ev.modifiers()):
            super().keyPressEvent(ev)


class CaseView(QWidget):
    """See the module doc. ``set_loaded`` shows a case; ``set_results`` colours it."""

    frameActivated = Signal(str, str)  # image path, stored prediction (.npz) or ""
    changed = Signal(str)  # what changed (for the status bar); the case must be saved
    analyseRequested = Signal()
    cancelRequested = Signal()
    exportRequested = Signal()
    tileMapToggled = Signal(bool)
    tileMapWanted = Signal()  # the tile map was turned on and the overview is not classified yet

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.case = None
        self.loaded: LoadedCase | None = None
        tax = case_taxonomy()
        self.colours = class_colours(tax)
        self.names = {k: tax.display_name(k) for k in self.colours}
        self.frame_items: dict[str, FrameItem] = {}
        self.annotation_items: list[AnnotationItem] = []
        self.selected: AnnotationItem | None = None
        self.hovered: str | None = None
        self.thumbs: dict[str, QPixmap] = {}
        self.tile_classes: list[str] = []
        self.busy = False
        self._build()

    # ================================================================================ building
    def _build(self) -> None:
        self.toolbar = QToolBar("Case")
        self.toolbar.setMovable(False)
        self.act_analyse = self._act("Analyse frames", self.analyseRequested.emit, "Shift+F5",
                                     "Analyse every frame not analysed yet (results are kept and reused)")
        self.act_cancel = self._act("Cancel", self.cancelRequested.emit, None, "Stop the analysis (results so far are kept)")
        self.act_cancel.setEnabled(False)
        self.act_fit = self._act("Fit", self.fit, None, "Fit the overview in the view (F)")
        self.act_tiles = self._act("Tile map", self._tiles_toggled, None,
                                   "Show the overview's own coarse mechanism map under the frames (M); "
                                   "the overview is classified tile by tile when it is first shown", True)
        self.tool_group = QActionGroup(self)
        self.tool_group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        self.tool_actions: dict[str, QAction] = {}
        tips = {
            "origin": "Mark the fracture origin: click on the overview",
            "arrow": "Draw a crack-growth arrow: drag from where the crack came to where it went",
            "zone": "Outline a zone (fatigue, overload, shear lip...): click its corners, double-click to close",
        }
        for tool in TOOLS:
            a = self._act(tool.capitalize(), lambda on, t=tool: self.set_tool(t if on else None), None, tips[tool], True)
            self.tool_group.addAction(a)
            self.tool_actions[tool] = a
        self.act_export = self._act("Report…", self.exportRequested.emit, None, "Export the case report (PDF)")
        for a in (self.act_analyse, self.act_cancel):
            self.toolbar.addAction(a)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(140)
        self.progress.setTextVisible(False)
        self.progress.setVisible(False)
        self.toolbar.addWidget(self.progress)
        self.toolbar.addSeparator()
        self.toolbar.addActions([self.act_fit, self.act_tiles])
        self.toolbar.addSeparator()
        self.toolbar.addActions(list(self.tool_actions.values()))
        self.toolbar.addSeparator()
        self.toolbar.addAction(self.act_export)

        self.map = MapWidget(self)
        self.map.ci.setContentsMargins(2, 2, 2, 2)
        self.vb = CaseViewBox(self)
        self.map.ci.addItem(self.vb, row=0, col=0)
        self.overview_item = pg.ImageItem(axisOrder="row-major", autoDownsample=True)
        self.vb.addItem(self.overview_item)
        self.tile_item = pg.ImageItem(axisOrder="row-major")
        self.tile_item.setZValue(5)
        self.tile_item.setOpacity(TILE_MAP_OPACITY)
        self.tile_item.setVisible(False)
        self.vb.addItem(self.tile_item, ignoreBounds=True)
        self.scale_bar = ScaleBarItem(self.vb)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(4, 0, 0, 0)
        title = QLabel("<b>Mechanism</b>")
        sl.addWidget(title)
        self.legend = QWidget()
        self.legend_layout = QGridLayout(self.legend)
        self.legend_layout.setContentsMargins(0, 0, 0, 0)
        self.legend_layout.setHorizontalSpacing(6)
        self.legend_layout.setVerticalSpacing(2)
        sl.addWidget(self.legend)
        self.card = QFrame()
        self.card.setFrameShape(QFrame.Shape.StyledPanel)
        cl = QVBoxLayout(self.card)
        cl.setContentsMargins(4, 4, 4, 4)
        self.card_thumb = QLabel()
        self.card_thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.card_thumb.setMinimumHeight(120)
        self.card_text = QLabel("Hover over a frame to see it here; click it to open it.")
        self.card_text.setWordWrap(True)
        self.card_text.setTextFormat(Qt.TextFormat.RichText)
        cl.addWidget(self.card_thumb)
        cl.addWidget(self.card_text)
        sl.addWidget(self.card)
        self.unplaced_label = QLabel("<b>Not placed</b>")
        sl.addWidget(self.unplaced_label)
        self.unplaced = QListWidget()
        self.unplaced.setToolTip("Frames without a stage position: double-click one to put it in the "
                                 "middle of the view, then drag it into place (Shift+drag turns it)")
        self.unplaced.itemDoubleClicked.connect(lambda it: self.place_by_hand(it.data(Qt.ItemDataRole.UserRole)))
        sl.addWidget(self.unplaced, 1)
        sl.addWidget(self.status)
        side.setMinimumWidth(180)
        side.setMaximumWidth(320)
        side.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.map)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.toolbar)
        lay.addWidget(self.splitter, 1)

        self.thumb_queue = JobQueue("case-thumbnail", self)
        self.thumb_queue.finished.connect(self._thumb_loaded)
        self.thumb_queue.failed.connect(lambda _m: None)  # the card shows the result without it

    def _act(self, text: str, slot, shortcut, tip: str, checkable: bool = False) -> QAction:
        a = QAction(text, self)
        a.setCheckable(checkable)
        if shortcut:
            a.setShortcut(QKeySequence(shortcut))
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(a)
        a.setToolTip(tip + (f" ({shortcut})" if shortcut else ""))
        a.setStatusTip(tip)
        (a.toggled if checkable else a.triggered).connect(slot)
        return a

    def shutdown(self) -> None:
        self.thumb_queue.shutdown(5000)

    # ================================================================================ content
    def set_loaded(self, loaded: LoadedCase) -> None:
        """Show a freshly opened case."""
        self.loaded = loaded
        self.case = loaded.case
        if loaded.taxonomy is not None:  # the model's class order gives the colours
            self.colours = class_colours(loaded.taxonomy)
            self.names = {k: loaded.taxonomy.display_name(k) for k in self.colours}
        self.thumbs.clear()
        self.selected = None
        self.hovered = None
        if loaded.overview_display is not None:
            self.overview_item.setImage(loaded.overview_display, autoLevels=False, levels=loaded.overview_levels)
            rows, cols = loaded.overview_shape
            self.overview_item.setRect(QRectF(0, 0, cols, rows))
        else:
            self.overview_item.clear()
        self.scale_bar.set_pixel_size(loaded.overview_pixel_size_m)
        self.set_tile_map(loaded.tile_map, loaded.tile_classes)
        self._rebuild_frames()
        self._rebuild_annotations()
        self._refresh_side()
        msgs = ([loaded.overview_error] if loaded.overview_error else []) + [
            w for w in loaded.warnings if "unplaced" not in w  # unplaced frames are listed above
        ]
        self.status.setText("\n".join(msgs))
        self.fit()

    def set_results(
        self, results: dict[str, dict | None], tile_map: np.ndarray | None = None, tile_classes: list[str] = ()
    ) -> None:
        """New results (frame name -> result dict) from an analysis."""
        if self.case is None:
            return
        for f in self.case.frames:
            if f.name in results:
                f.result = results[f.name]
        if tile_map is not None:
            self.set_tile_map(tile_map, tile_classes)
        for name, item in self.frame_items.items():
            f = self.case.frame(name)
            item.set_result(result_colour(f.result, self.colours), bool((f.result or {}).get("uncertain")))
        self._refresh_side()

    def set_tile_map(self, rgba: np.ndarray | None, classes=()) -> None:
        self.tile_classes = list(classes)
        if rgba is None or self.loaded is None:
            self.tile_item.clear()
            self.tile_item.setVisible(False)
            return
        self.tile_item.setImage(rgba, autoLevels=False)
        rows, cols = self.loaded.overview_shape
        self.tile_item.setRect(QRectF(0, 0, cols, rows))
        self.tile_item.setVisible(self.act_tiles.isChecked())

    def _rebuild_frames(self) -> None:
        for item in self.frame_items.values():
            self.vb.removeItem(item)
        self.frame_items = {}
        # Larger fields of view first (lower), so small high-magnification frames stay on top.
        placed = [f for f in self.case.frames if f.placement is not None]
        placed.sort(key=lambda f: -f.placement.width_px * f.placement.height_px)
        for z, f in enumerate(placed):
            self._add_frame_item(f, z)

    def _add_frame_item(self, f, z: int = 0) -> FrameItem:
        pl = f.placement
        item = FrameItem(f.name, pl.x_px, pl.y_px, pl.width_px, pl.height_px, pl.rotation_deg)
        item.placed_by = pl.placed_by
        item.movable = self.vb.tool is None
        item.setZValue(10 + z * 1e-3)
        item.set_result(result_colour(f.result, self.colours), bool((f.result or {}).get("uncertain")))
        item.on_hover = self.show_card
        item.on_click = self.activate
        item.on_moved = self._frame_moved
        item.on_context = self._frame_menu
        self.vb.addItem(item)
        self.frame_items[f.name] = item
        return item

    def _rebuild_annotations(self) -> None:
        for item in self.annotation_items:
            self.vb.removeItem(item)
        self.annotation_items = []
        for a in self.case.annotations:
            self._add_annotation_item(a.kind, a.points, a.label)

    def _add_annotation_item(self, kind: str, points, label: str) -> AnnotationItem:
        item = AnnotationItem(kind, points, label)
        item.interactive = self.vb.tool is None
        item.on_click = self._annotation_clicked
        item.on_moved = lambda _it: self._annotations_to_case("moved")
        self.vb.addItem(item, ignoreBounds=True)
        self.annotation_items.append(item)
        return item

    def _refresh_side(self) -> None:
        # Legend: the mechanisms the frames show, then the markings used.
        while self.legend_layout.count():
            w = self.legend_layout.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        frames = self.case.frames if self.case is not None else []
        shown = {f.result["level1"] for f in frames if result_colour(f.result, self.colours) is not None}
        if self.tile_item.isVisible():
            shown |= set(self.tile_classes)
        rows = [(hex_colour(self.colours[k]), self.names.get(k, k), "solid") for k in self.colours if k in shown]
        rows += [(hex_colour(UNKNOWN_RGB), k.replace("_", " "), "solid") for k in sorted(shown) if k not in self.colours]
        if any(bool((f.result or {}).get("uncertain")) for f in frames):
            rows.append(("#888888", "hatched: uncertain", "hatched"))
        if any(result_colour(f.result, self.colours) is None for f in frames):
            rows.append(("#c8c8c8", "dashed: not analysed", "dashed"))
        if self.tile_item.isVisible():
            rows.append(("#999999", "pale squares: the overview's own tile map (coarse)", "pale"))
        for i, (colour, text, style) in enumerate(rows):
            sw = QLabel()
            sw.setFixedSize(18, 12)
            border = "dashed" if style == "dashed" else "solid"
            bg = "transparent" if style == "dashed" else colour
            if style == "pale":
                bg, border = "rgba(150,150,150,110)", "none"
            sw.setStyleSheet(f"background:{bg}; border:2px {border} {colour};")
            if style == "hatched":
                sw.setStyleSheet("background: qlineargradient(x1:0, y1:1, x2:1, y2:0, stop:0 #666, stop:0.25 #666, "
                                 "stop:0.26 #ddd, stop:0.5 #ddd, stop:0.51 #666, stop:0.75 #666, stop:0.76 #ddd);"
                                 "border:1px solid #666;")
            lab = QLabel(text)
            lab.setObjectName(f"legend_{text}")
            self.legend_layout.addWidget(sw, i, 0)
            self.legend_layout.addWidget(lab, i, 1)
        self.legend_layout.setColumnStretch(1, 1)
        # Unplaced frames, with why.
        self.unplaced.clear()
        for f in frames:
            if f.placement is None:
                it = QListWidgetItem(f.name)
                it.setData(Qt.ItemDataRole.UserRole, f.name)
                it.setToolTip(f"{f.unplaced_reason or 'no placement'}; double-click to place it by hand")
                self.unplaced.addItem(it)
        n = self.unplaced.count()
        self.unplaced_label.setText(f"<b>Not placed ({n})</b>" if n else "<b>Not placed</b>: none")

    def legend_entries(self) -> list[str]:
        """The legend's texts, top to bottom (for tests)."""
        out = []
        for i in range(self.legend_layout.rowCount()):
            it = self.legend_layout.itemAtPosition(i, 1)
            if it is not None and it.widget() is not None:
                out.append(it.widget().text())
        return out

    def unplaced_names(self) -> list[str]:
        return [self.unplaced.item(i).text() for i in range(self.unplaced.count())]

    # ================================================================================ hover card
    def result_text(self, name: str) -> str:
        f = self.case.frame(name) if self.case is not None else None
        if f is None:
            return ""
        r = f.result or {}
        lines = [f"<b>{name}</b>"]
        if r.get("error"):
            lines.append(f"Analysis failed: {r['error']}")
        elif r.get("level1"):
            l1 = self.names.get(r["level1"], r["level1"])
            l2 = self.names.get(r.get("level2") or "", r.get("level2") or "not trained")
            lines.append(f"{l1} — {l2}")
            cal = r.get("calibrated")
            p = f"{100 * float(cal):.0f} %" if isinstance(cal, int | float) else ""
            if r.get("uncertain"):
                lines.append(f"<span style='color:#c87814'>Uncertain: {r.get('reason') or 'check it'}</span>"
                             + (f" ({p})" if p else ""))
            elif p:
                lines.append(f"Confidence {p}")
        else:
            lines.append("Not analysed yet")
        if f.placement is not None:
            lines.append(f"Placed by {f.placement.placed_by}, turned {f.placement.rotation_deg:.1f}°")
        else:
            lines.append(f"Not placed: {f.unplaced_reason or 'no placement'}")
        return "<br>".join(lines)

    def show_card(self, name: str | None) -> None:
        self.hovered = name
        for n, item in self.frame_items.items():
            if item.highlighted != (n == name):
                item.highlighted = n == name
                item.update()
        if name is None:
            return
        self.card_text.setText(self.result_text(name) + "<br><i>Click to open it</i>")
        pix = self.thumbs.get(name)
        if pix is not None:
            self.card_thumb.setPixmap(pix)
        else:
            self.card_thumb.setText("…")
            f = self.case.frame(name)
            if f is not None:
                self.thumb_queue.submit(thumbnail_job(f.path))

    def _thumb_loaded(self, result) -> None:
        path, arr = result
        a = np.ascontiguousarray(arr)
        img = QImage(a.data, a.shape[1], a.shape[0], a.strides[0], QImage.Format.Format_Grayscale8).copy()
        name = Path(path).name
        self.thumbs[name] = QPixmap.fromImage(img)
        if self.hovered == name:
            self.card_thumb.setPixmap(self.thumbs[name])

    # ================================================================================ actions
    def activate(self, name: str) -> None:
        f = self.case.frame(name) if self.case is not None else None
        if f is None:
            return
        item = (f.result or {}).get("item") or ""
        self.frameActivated.emit(str(f.path), item if item and Path(item).is_file() else "")

    def _frame_moved(self, name: str, x: float, y: float, rot: float) -> None:
        from fractoscope.case.model import Placement

        f = self.case.frame(name)
        item = self.frame_items.get(name)
        if f is None or item is None:
            return
        f.placement = Placement(x, y, item.w, item.h, rot, "hand")
        item.placed_by = "hand"
        self.changed.emit(f"{name} placed by hand")

    def _frame_menu(self, name: str, screen_pos) -> None:
        from PySide6.QtCore import QPoint
        from PySide6.QtWidgets import QMenu

        f = self.case.frame(name) if self.case is not None else None
        if f is None:
            return
        menu = QMenu(self)
        menu.addAction("Open in the viewer", lambda: self.activate(name))
        back = menu.addAction("Back to the stage position", lambda: self.back_to_stage(name))
        back.setEnabled(f.stage_placement is not None and f.placement is not None and f.placement.placed_by == "hand")
        menu.addAction("Remove the placement (unplaced)", lambda: self.unplace(name))
        menu.exec(QPoint(int(screen_pos.x()), int(screen_pos.y())))

    def back_to_stage(self, name: str) -> bool:
        """Drop a hand placement for the one the stage metadata gives."""
        f = self.case.frame(name) if self.case is not None else None
        item = self.frame_items.get(name)
        if f is None or f.stage_placement is None or item is None:
            return False
        f.placement = f.stage_placement
        pl = f.placement
        item.set_geometry(pl.x_px, pl.y_px, pl.width_px, pl.height_px, pl.rotation_deg)
        item.placed_by = pl.placed_by
        self.changed.emit(f"{name} back at its stage position")
        return True

    def unplace(self, name: str) -> None:
        """Forget the frame's placement (it is listed as not placed; stage placements return on
        the next opening, as the metadata gives them)."""
        f = self.case.frame(name) if self.case is not None else None
        item = self.frame_items.pop(name, None)
        if f is None:
            return
        if item is not None:
            self.vb.removeItem(item)
        f.placement = None
        self._refresh_side()
        self.changed.emit(f"{name} unplaced")

    def place_by_hand(self, name: str) -> FrameItem | None:
        """Put an unplaced frame in the middle of the view (then drag it into place)."""
        from fractoscope.case.model import Placement

        f = self.case.frame(name) if self.case is not None else None
        if f is None or self.loaded is None:
            return None
        w, h = self.loaded.default_sizes.get(name, (self.loaded.overview_shape[1] / 10,) * 2)
        c = self.vb.viewRect().center()
        f.placement = Placement(c.x(), c.y(), w, h, 0.0, "hand")
        item = self._add_frame_item(f, len(self.frame_items))
        self._refresh_side()
        self.changed.emit(f"{name} placed by hand")
        return item

    def set_tool(self, tool: str | None) -> None:
        self.vb.set_tool(tool)
        for t, a in self.tool_actions.items():
            if a.isChecked() != (t == tool):
                a.blockSignals(True)
                a.setChecked(t == tool)
                a.blockSignals(False)
        for item in self.frame_items.values():
            item.movable = tool is None  # while drawing, a press on a frame draws, not moves
        for ann in self.annotation_items:
            ann.interactive = tool is None

    def ask_label(self, kind: str, current: str = "") -> str | None:
        """The label of an annotation (None = cancelled). Tests replace this method."""
        prompt = {"origin": "Label of the origin:", "arrow": "Label of the arrow (e.g. crack growth):",
                  "zone": "Zone (e.g. fatigue, overload, shear lip):"}[kind]
        default = current or {"origin": "origin", "arrow": "crack growth", "zone": ""}[kind]
        text, ok = QInputDialog.getText(self, "Annotation", prompt, text=default)
        return text.strip() if ok else None

    def add_annotation(self, kind: str, points: list[tuple[float, float]], label: str | None = None) -> AnnotationItem | None:
        from fractoscope.case.model import Annotation

        if self.case is None:
            return None
        if label is None:
            label = self.ask_label(kind)
            if label is None:
                return None
        if kind == "origin":  # one origin per case: the new one replaces the old
            for item in [i for i in self.annotation_items if i.kind == "origin"]:
                self._remove_annotation_item(item)
            self.case.annotations = [a for a in self.case.annotations if a.kind != "origin"]
        self.case.annotations.append(Annotation(kind, list(points), label))
        item = self._add_annotation_item(kind, points, label)
        self.set_tool(None)
        self.changed.emit(f"{kind} added")
        return item

    def _annotation_clicked(self, item: AnnotationItem, double: bool) -> None:
        self._select(item)
        if double:
            label = self.ask_label(item.kind, item.label)
            if label is not None:
                item.set_label(label)
                self._annotations_to_case("label edited")

    def _select(self, item: AnnotationItem | None) -> None:
        for it in self.annotation_items:
            it.selected = it is item
            it.update()
        self.selected = item

    def delete_selected(self) -> bool:
        if self.selected is None:
            return False
        self._remove_annotation_item(self.selected)
        self.selected = None
        self._annotations_to_case("annotation deleted")
        return True

    def _remove_annotation_item(self, item: AnnotationItem) -> None:
        self.vb.removeItem(item)
        self.annotation_items.remove(item)

    def _annotations_to_case(self, what: str) -> None:
        from fractoscope.case.model import Annotation

        self.case.annotations = [Annotation(i.kind, i.point_list(), i.label) for i in self.annotation_items]
        self.changed.emit(what)

    def _tiles_toggled(self, on: bool) -> None:
        self.tile_item.setVisible(on and self.tile_item.image is not None)
        self._refresh_side()
        self.tileMapToggled.emit(on)
        if on and self.tile_item.image is None and self.case is not None:
            self.tileMapWanted.emit()

    # ================================================================================ busy state
    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.act_cancel.setEnabled(busy)
        self.act_analyse.setEnabled(not busy)
        self.progress.setVisible(busy)
        if busy:
            self.progress.setValue(0)

    def set_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(int(1000 * max(0.0, min(1.0, fraction))))
        self.progress.setToolTip(text)
        self.status.setText(text)

    # ================================================================================ view
    def fit(self) -> None:
        if self.loaded is not None and self.loaded.overview_shape[0]:
            rows, cols = self.loaded.overview_shape
            self.vb.setRange(QRectF(0, 0, cols, rows), padding=0.02)

    def zoom(self, factor: float) -> None:
        pos = self.map.mapFromGlobal(self.map.cursor().pos())
        centre = None
        if self.map.rect().contains(pos):
            centre = self.vb.mapSceneToView(self.map.mapToScene(pos))
        self.vb.scaleBy((1 / factor, 1 / factor), center=centre)

    def handle_key(self, key, mods) -> bool:
        shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
        if key == Qt.Key.Key_F:
            self.fit()
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(1.5)
        elif key == Qt.Key.Key_Minus:
            self.zoom(1 / 1.5)
        elif key == Qt.Key.Key_M:
            self.act_tiles.toggle()
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete_selected()
        elif key == Qt.Key.Key_Escape:
            if self.vb.tool is not None:
                self.set_tool(None)
            elif self.busy:
                self.cancelRequested.emit()
            else:
                self._select(None)
        elif key in (Qt.Key.Key_BracketLeft, Qt.Key.Key_BracketRight, Qt.Key.Key_BraceLeft, Qt.Key.Key_BraceRight):
            item = self.frame_items.get(self.hovered or "")
            if item is None:
                return True
            step = 15.0 if shift or key in (Qt.Key.Key_BraceLeft, Qt.Key.Key_BraceRight) else 1.0
            item.rotate_by(-step if key in (Qt.Key.Key_BracketLeft, Qt.Key.Key_BraceLeft) else step)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if self.vb.tool == "zone" and len(self.vb.pending) >= 3:
                pts = [(q.x(), q.y()) for q in self.vb.pending]
                self.vb.pending = []
                self.vb._show_preview()
                self.add_annotation("zone", pts)
        else:
            return False
        return True

    def frame_colour(self, name: str) -> QColor | None:
        item = self.frame_items.get(name)
        return None if item is None else QColor(item.colour)

    def view_point(self, x: float, y: float) -> QPointF:
        """Widget coordinates of the overview pixel (x, y) in the map (for tests and tools)."""
        scene = self.vb.mapViewToScene(QPointF(x, y))
        return self.map.viewportTransform().map(scene)
