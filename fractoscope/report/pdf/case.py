"""Layout of the case report (a failure case: an overview with its frames placed on it).

Page 1: the fracture map (the overview, every placed frame's outline to scale and rotation in its
mechanism's colour, hatched when uncertain, numbered as in the table; the annotations; a scale
bar and a legend). Then the summary table (frame, position from the origin, mechanism,
morphology, confidence), then one page per frame: the answer box and the SEM image of the
single-image report (``report.pdf.single``, called as it is) when the frame's prediction is at
hand, else the stored result and the image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen, QPolygonF

from fractoscope.errors import FractoscopeError
from fractoscope.imaging.display import UNKNOWN_RGB, shrink, to_grey_u8
from fractoscope.report.case_data import CaseFrameEntry, CaseReport
from fractoscope.report.data import ImageReport, Picture, ReportMeta
from fractoscope.report.pdf.canvas import (
    CENTRE,
    INK,
    LEFT,
    MUTED,
    RIGHT,
    WARN_INK,
    WHITE,
    Canvas,
    rgb,
)
from fractoscope.report.pdf.single import _result_box, _sem_image, meta_block

CASE_TITLE = "Failure case report"
# Annotations are drawn in one colour no mechanism uses (mechanisms take Tableau 10 hues).
ANNOTATION = QColor(255, 214, 0)
HALO = QColor(0, 0, 0, 190)
HATCH_STEP_PT = 3.2
FRAME_PICTURE_PX = 1600


@dataclass
class FramePage:
    """What one frame's page shows: the single-image report's content, or the image alone."""

    entry: CaseFrameEntry
    report: ImageReport | None = None
    picture: Picture | None = None
    problem: str = ""


# -- the map --------------------------------------------------------------------------------------
def _pt(c: Canvas, x: float, y: float) -> QPointF:
    return QPointF(x * c.k, y * c.k)


def _pen(c: Canvas, colour: QColor, width_pt: float, style=Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(colour, width_pt * c.k)
    pen.setStyle(style)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    return pen


def _hatch(c: Canvas, poly: QPolygonF, colour: QColor) -> None:
    """Diagonal lines inside ``poly`` (points already in device units): the 'uncertain' mark.
    Drawn as lines clipped to the outline, so they print the same at any resolution."""
    p = c.p
    p.save()
    path = QPainterPath()
    path.addPolygon(poly)
    p.setClipPath(path, Qt.ClipOperation.IntersectClip)
    r = poly.boundingRect()
    step = HATCH_STEP_PT * c.k
    p.setPen(QPen(colour, 0.7 * c.k))
    n = int((r.width() + r.height()) / step) + 2
    for i in range(n):
        x0 = r.left() + i * step
        p.drawLine(QPointF(x0, r.top()), QPointF(x0 - r.height(), r.bottom()))
    p.restore()


def _frame_outline(c: Canvas, poly: QPolygonF, e: CaseFrameEntry) -> None:
    p = c.p
    colour = rgb(e.colour) if e.analysed else QColor(*UNKNOWN_RGB)
    fill = QColor(colour)
    fill.setAlpha(95 if e.analysed else 0)
    p.setBrush(QBrush(fill))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawPolygon(poly)
    if e.analysed and e.uncertain:
        _hatch(c, poly, QColor(255, 255, 255, 230))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.setPen(_pen(c, HALO, 2.2))
    p.drawPolygon(poly)
    style = Qt.PenStyle.SolidLine if e.analysed else Qt.PenStyle.DashLine
    p.setPen(_pen(c, colour, 1.2, style))
    p.drawPolygon(poly)


def _arrow(c: Canvas, pts: list[QPointF], colour: QColor, width: float) -> None:
    p = c.p
    p.setPen(_pen(c, colour, width))
    for a, b in zip(pts, pts[1:], strict=False):
        p.drawLine(a, b)
    if len(pts) >= 2:
        a, b = pts[-2], pts[-1]
        ang = math.atan2(b.y() - a.y(), b.x() - a.x())
        size = 7.0 * c.k
        head = QPolygonF(
            [
                b,
                QPointF(b.x() - size * math.cos(ang - 0.45), b.y() - size * math.sin(ang - 0.45)),
                QPointF(b.x() - size * math.cos(ang + 0.45), b.y() - size * math.sin(ang + 0.45)),
            ]
        )
        p.setBrush(colour)
        p.drawPolygon(head)
        p.setBrush(Qt.BrushStyle.NoBrush)


def _free_spot(x: float, y: float, w: float, h: float, box: QRectF, taken: list[QRectF]) -> QRectF:
    """(x, y, w, h) moved inside ``box`` and, if it can be, off the labels already drawn
    (tried a little below, above, then further away)."""

    def clamp(xx: float, yy: float) -> QRectF:
        return QRectF(min(max(xx, box.left()), box.right() - w), min(max(yy, box.top()), box.bottom() - h), w, h)

    first = clamp(x, y)
    for dy in (0.0, h + 1, -(h + 1), 2 * (h + 1), -2 * (h + 1), 3 * (h + 1)):
        r = clamp(x, y + dy)
        if not any(r.intersects(t) for t in taken):
            return r
    return first


def _label(c: Canvas, x: float, y: float, s: str, box: QRectF, taken: list[QRectF], size: float = 7.0) -> None:
    """A short label with a dark backing at (x, y) (points), kept inside the picture ``box``."""
    if not s:
        return
    w = min(c.text_width(s, size, bold=True) + 6, box.width())
    h = c.line_height(size, bold=True) + 2
    r = _free_spot(x, y, w, h, box, taken)
    taken.append(r)
    c.rect(r.x(), r.y(), w, h, QColor(0, 0, 0, 170), radius=1.5)
    c.text(r.x(), r.y() + 1, w, h, s, size, bold=True, color=ANNOTATION, align=CENTRE)


def draw_map(c: Canvas, rep: CaseReport, x: float, y: float, w: float, max_h: float) -> tuple[float, float]:
    """The overview with outlines and annotations at (x, y), ``w`` wide at most ``max_h`` high;
    returns the size drawn. Everything is clipped to the picture."""
    pw, ph = c.picture(x, y, w, rep.overview, max_h=max_h)
    rows, cols = rep.overview_shape
    sx, sy = pw / cols, ph / rows

    def to_pt(px: float, py: float) -> QPointF:
        return _pt(c, x + px * sx, y + py * sy)

    box = QRectF(x, y, pw, ph)
    p = c.p
    p.save()
    p.setClipRect(c.r(x, y, pw, ph))
    # Larger frames first, so a small high-magnification frame stays visible on top of its parent.
    placed = sorted(rep.placed, key=lambda e: -_area(e.corners))
    for e in placed:
        _frame_outline(c, QPolygonF([to_pt(*q) for q in e.corners]), e)
    for a in rep.annotations:
        pts = [to_pt(*q) for q in a.points]
        if not pts:
            continue
        if a.kind == "zone" and len(pts) >= 3:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(_pen(c, HALO, 2.6))
            p.drawPolygon(QPolygonF(pts))
            p.setPen(_pen(c, ANNOTATION, 1.3, Qt.PenStyle.DashLine))
            p.drawPolygon(QPolygonF(pts))
        elif a.kind == "arrow" and len(pts) >= 2:
            _arrow(c, pts, HALO, 3.0)
            _arrow(c, pts, ANNOTATION, 1.5)
        elif a.kind == "origin":
            o = pts[0]
            r = 5.0 * c.k
            p.setBrush(Qt.BrushStyle.NoBrush)
            for colour, wd in ((HALO, 3.0), (ANNOTATION, 1.4)):
                p.setPen(_pen(c, colour, wd))
                p.drawEllipse(o, r, r)
                p.drawLine(QPointF(o.x() - 1.8 * r, o.y()), QPointF(o.x() + 1.8 * r, o.y()))
                p.drawLine(QPointF(o.x(), o.y() - 1.8 * r), QPointF(o.x(), o.y() + 1.8 * r))
    p.restore()
    # Labels on top (clamped inside the picture): frame numbers, then the annotations' labels.
    taken: list[QRectF] = []
    for e in rep.placed:
        cx, cy = e.centre
        num = str(e.index)
        tw = c.text_width(num, 6.5, bold=True) + 4
        taken.append(_number(c, x + cx * sx - tw / 2, y + cy * sy - 5, tw, num, e, box))
    for a in rep.annotations:
        if not a.points:
            continue
        if a.kind == "zone":
            # Inside the zone below its topmost corner: clear of arrows drawn across its middle.
            qx, qy = min(a.points, key=lambda q: q[1])
            _label(c, x + qx * sx - c.text_width(a.label or "zone", 7, True) / 2, y + qy * sy + 5,
                   a.label or "zone", box, taken)
        elif a.kind == "arrow":
            (ax, ay), (bx, by) = a.points[0], a.points[-1]
            _label(c, x + (ax + bx) / 2 * sx - c.text_width(a.label, 7, True) / 2,
                   y + (ay + by) / 2 * sy + 5, a.label, box, taken)
        elif a.kind == "origin":
            qx, qy = a.points[0]
            _label(c, x + qx * sx + 10, y + qy * sy - 14, a.label or "origin", box, taken)
    return pw, ph


def _number(c: Canvas, x: float, y: float, w: float, s: str, e: CaseFrameEntry, box: QRectF) -> QRectF:
    h = 10.0
    x = min(max(x, box.left()), box.right() - w)
    y = min(max(y, box.top()), box.bottom() - h)
    c.rect(x, y, w, h, WHITE, stroke=rgb(e.colour) if e.analysed else MUTED, width=0.8, radius=2)
    c.text(x, y + 0.8, w, h, s, 6.5, bold=True, color=INK, align=CENTRE)
    return QRectF(x, y, w, h)


def _area(corners) -> float:
    a = 0.0
    for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1], strict=True):
        a += x0 * y1 - x1 * y0
    return abs(a) / 2


def _legend(c: Canvas, rep: CaseReport) -> None:
    """Swatches in rows that wrap to the text width; annotations and markings after the classes."""
    entries: list[tuple[str, Callable[[float, float], None]]] = []

    def swatch(colour: QColor, hatched: bool = False, dashed: bool = False):
        def draw(x: float, y: float) -> None:
            fill = QColor(colour)
            fill.setAlpha(0 if dashed else 110)
            c.rect(x, y + 1.5, 14, 9, fill)
            if hatched:
                _hatch(c, QPolygonF(c.r(x, y + 1.5, 14, 9)), QColor(80, 80, 80))
            c.p.setPen(_pen(c, colour, 1.0, Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine))
            c.p.drawRect(c.r(x, y + 1.5, 14, 9))

        return draw

    def annotation(kind: str):
        def draw(x: float, y: float) -> None:
            p = c.p
            if kind == "arrow":
                _arrow(c, [_pt(c, x, y + 6), _pt(c, x + 14, y + 6)], QColor(120, 100, 0), 1.3)
            elif kind == "zone":
                p.setPen(_pen(c, QColor(120, 100, 0), 1.0, Qt.PenStyle.DashLine))
                p.drawRect(c.r(x, y + 1.5, 14, 9))
            else:
                p.setPen(_pen(c, QColor(120, 100, 0), 1.0))
                p.drawEllipse(_pt(c, x + 7, y + 6), 3.5 * c.k, 3.5 * c.k)
                p.drawLine(_pt(c, x + 1, y + 6), _pt(c, x + 13, y + 6))
                p.drawLine(_pt(c, x + 7, y), _pt(c, x + 7, y + 12))

        return draw

    for _, name, colour in rep.legend:
        entries.append((name, swatch(rgb(colour))))
    if any(e.analysed and e.uncertain for e in rep.placed):
        entries.append(("hatched: uncertain result", swatch(QColor(140, 140, 140), hatched=True)))
    if any(not e.analysed for e in rep.placed):
        entries.append(("not analysed", swatch(QColor(*UNKNOWN_RGB), dashed=True)))
    kinds = {a.kind for a in rep.annotations}
    for kind, text in (("origin", "origin"), ("arrow", "crack growth"), ("zone", "zone outline")):
        if kind in kinds:
            entries.append((text, annotation(kind)))
    if not entries:
        return
    size, lh = 8.0, 14.0
    c.ensure(lh)
    x = c.left
    for text, draw in entries:
        w = 18 + c.text_width(text, size) + 14
        if x + w > c.right and x > c.left:
            c.y += lh
            c.ensure(lh)
            x = c.left
        draw(x, c.y)
        c.text(x + 18, c.y, min(w - 18, c.right - x - 18), 12, text, size)
        x += w
    c.y += lh + 2


def _map_page(c: Canvas, rep: CaseReport, meta: ReportMeta) -> None:
    meta_block(c, meta, [("Case", Path(rep.folder).name or rep.folder), ("Overview", rep.overview_name)])
    c.section("Fracture map", need=300)
    notes = [
        f"Overview: {rep.overview_text()}.",
        f"{len(rep.placed)} of {len(rep.frames)} frames placed; numbers as in the table. "
        f"Positions from {rep.origin_from}, x to the right and y up"
        + (" in mm." if rep.position_unit == "mm" else " in overview pixels."),
    ]
    if rep.unplaced:
        notes.append("Not placed (no stage position, not placed by hand): " + ", ".join(f.name for f in rep.unplaced) + ".")
    note_lines = [ln for s in notes for ln in c.wrap(s, c.width, 7.5)]
    lh = c.line_height(7.5)
    legend_h = 2 * 14 + 6  # two legend rows at most on the first page
    # A small case's table (and its caption) shares the page with the map, so the map gives up
    # room for up to 8 rows, but never more than a third of the body height.
    table_h = _table_height(c, rep, 8)
    reserve = min(table_h, (c.bottom - c.top) / 3) if rep.frames else 0.0
    max_h = max(150.0, c.room - legend_h - lh * len(note_lines) - 12 - reserve)
    ph, pw = rep.overview.pixels.shape[:2]
    w = min(c.width, max_h * pw / ph)
    x = c.left + (c.width - w) / 2
    _, h = draw_map(c, rep, x, c.y, w, max_h)
    c.y += h + 6
    _legend(c, rep)
    for line in note_lines:
        c.ensure(lh)
        c.text(c.left, c.y, c.width, lh, line, 7.5, color=MUTED)
        c.y += lh
    if rep.notes.strip():
        c.y += 4
        c.key_values_flow([("Case notes", rep.notes.strip())], key_w=62, size=8.5)


TABLE_SIZE, TABLE_ROW_H, TABLE_WRAP = 7.5, 12.0, (7, 8)


def _table_columns(unit: str) -> list[tuple[str, float, Qt.AlignmentFlag]]:
    return [
        ("#", 0.04, RIGHT),
        ("", 0.03, LEFT),
        ("Frame", 0.20, LEFT),
        (f"x ({unit})", 0.08, RIGHT),
        (f"y ({unit})", 0.08, RIGHT),
        ("Placed", 0.07, LEFT),
        ("Mechanism", 0.145, LEFT),
        ("Morphology", 0.195, LEFT),
        ("Confidence", 0.16, LEFT),
    ]


def _table_rows(rep: CaseReport) -> tuple[list[list[str]], list[dict]]:
    rows, styles = [], []
    for e in rep.frames:
        px, py = rep.position_text(e)
        rows.append(
            [
                str(e.index),
                "",
                e.name,
                px,
                py,
                e.placed_by or "-",
                e.level1_name or ("-" if e.analysed else ""),
                e.level2_name or ("not trained" if e.analysed else ""),
                e.confidence,
            ]
        )
        colours = {8: WARN_INK} if e.uncertain else {}
        if not e.placed:
            colours.update({3: MUTED, 5: MUTED})
        if not e.analysed:
            colours[8] = MUTED
        styles.append({"colors": colours})
    return rows, styles


def _table_height(c: Canvas, rep: CaseReport, max_rows: int) -> float:
    """The summary table's height for its first ``max_rows`` rows, as ``Canvas.table`` lays it
    out (wrapped cells grow their row), with its heading and caption."""
    cols = _table_columns(rep.position_unit)
    rows, _ = _table_rows(rep)
    lh = c.line_height(TABLE_SIZE)
    h = 31 + TABLE_ROW_H + 1 + 4
    for row in rows[:max_rows]:
        n = max(len(c.wrap(row[k], cols[k][1] * c.width - 6, TABLE_SIZE)) for k in TABLE_WRAP)
        h += max(TABLE_ROW_H, n * lh + (TABLE_ROW_H - lh))
    return h + 2 * c.line_height(7.5) + 6


def _summary_table(c: Canvas, rep: CaseReport) -> None:
    c.section("Frames", need=60)
    rows, styles = _table_rows(rep)

    def paint(i: int, col: int, x: float, y: float, w: float, h: float) -> bool:
        if col != 1:
            return False
        e = rep.frames[i]
        colour = rgb(e.colour) if e.analysed else QColor(*UNKNOWN_RGB)
        fill = QColor(colour)
        fill.setAlpha(150 if e.analysed else 0)
        c.rect(x, y + 2.5, min(w, 10), h - 5, fill, stroke=colour, width=0.6)
        if e.analysed and e.uncertain:
            _hatch(c, QPolygonF(c.r(x, y + 2.5, min(w, 10), h - 5)), QColor(60, 60, 60))
        return True

    c.table(
        _table_columns(rep.position_unit),
        rows,
        styles=styles,
        cell_painter=paint,
        size=TABLE_SIZE,
        row_h=TABLE_ROW_H,
        wrap_cols=TABLE_WRAP,
    )
    c.paragraph(
        "Placed: from the stage position in the image's metadata (stage) or by hand. Confidence: "
        "the calibrated probability of the mechanism, or why the result is uncertain.",
        7.5,
        color=MUTED,
    )


# -- the frame pages --------------------------------------------------------------------------------
def _frame_heading(c: Canvas, rep: CaseReport, fp: FramePage) -> None:
    e = fp.entry
    c.new_page()
    c.section(f"Frame {e.index}: {e.name}", need=200)
    if e.position is not None:
        px, py = rep.position_text(e)
        where = f"x {px} {rep.position_unit}, y {py} {rep.position_unit} from {rep.origin_from}; placed by {e.placed_by or '-'}"
    else:
        where = "not placed on the overview"
    c.paragraph(f"Position: {where}.", 8.5, color=MUTED, gap=4)


def _frame_page(c: Canvas, rep: CaseReport, fp: FramePage) -> None:
    _frame_heading(c, rep, fp)
    e = fp.entry
    if fp.report is not None:
        _result_box(c, fp.report)
        _sem_image(c, fp.report)
        return
    rows = []
    if e.analysed:
        rows += [
            ("Failure mechanism", e.level1_name),
            ("Fracture morphology", e.level2_name or "not trained"),
            ("Confidence", e.confidence),
        ]
    else:
        rows.append(("Result", e.error or "not analysed"))
    if fp.problem:
        rows.append(("Image", fp.problem))
    h = c.key_values_height(rows, c.width, key_w=120, size=9)
    c.ensure(h)
    c.key_values(rows, c.left, c.width, key_w=120, size=9)
    c.y += h + 8
    if fp.picture is not None:
        c.section("SEM image", need=200)
        pic = fp.picture
        ph, pw = pic.pixels.shape[:2]
        max_h = max(120.0, c.room - 6)
        w = min(c.width, max_h * pw / ph)
        _, hh = c.picture(c.left + (c.width - w) / 2, c.y, w, pic, max_h=max_h)
        c.y += hh + 4


def render_case(c: Canvas, rep: CaseReport, meta: ReportMeta, frames: list[FramePage]) -> None:
    _map_page(c, rep, meta)
    _summary_table(c, rep)
    for fp in frames:
        _frame_page(c, rep, fp)


def _frame_pages(
    rep: CaseReport, predictions: Mapping[str, object], progress: Callable[[float, str], None] | None
) -> list[FramePage]:
    from fractoscope.io import read_sem

    out = []
    n = len(rep.frames)
    for i, e in enumerate(rep.frames):
        if progress is not None:
            progress(i / max(1, n), f"Frame {i + 1} of {n}: {e.name}")
        fp = FramePage(e)
        try:
            sem = read_sem(e.path)
        except FractoscopeError as exc:
            fp.problem = f"cannot be read: {exc}"
            out.append(fp)
            continue
        pred = predictions.get(e.path) or predictions.get(str(Path(e.path).resolve()))
        if pred is not None:
            try:
                fp.report = ImageReport.build(sem, pred)
            except (FractoscopeError, ValueError, KeyError) as exc:
                fp.problem = f"its stored prediction cannot be shown ({exc})"
        if fp.report is None:
            grey = shrink(to_grey_u8(sem.image), FRAME_PICTURE_PX)
            px = sem.calibration.pixel_size_x_m if sem.calibration.is_calibrated else None
            fp.picture = Picture(grey, None if px is None else px * sem.shape[1] / grey.shape[1])
        out.append(fp)
    return out


@dataclass
class CaseReportContent:
    """Everything the case report draws, computed without Qt (a worker thread may build it)."""

    report: CaseReport
    frames: list[FramePage]


def prepare_case_report(
    case,
    predictions: Mapping[str, object] | None = None,
    taxonomy=None,
    progress: Callable[[float, str], None] | None = None,
) -> CaseReportContent:
    """Read the overview and the frames and build the report's content (no Qt: the window runs
    this in a worker and only draws in the GUI thread)."""
    if predictions is None:
        predictions = stored_predictions(case)
    if taxonomy is None:
        taxonomy = next((getattr(p, "taxonomy", None) for p in predictions.values()), None)
    rep = CaseReport.build(case, taxonomy=taxonomy)
    return CaseReportContent(rep, _frame_pages(rep, predictions, progress))


def draw_case_report(
    content: CaseReportContent, path: Path | str, page_size: str = "A4", meta: ReportMeta | None = None
) -> Canvas:
    """Draw prepared content into ``path`` (atomically); returns the finished canvas."""
    from fractoscope.report.pdf.writer import render_pages

    meta = meta or ReportMeta(title=CASE_TITLE)
    rep = content.report
    sample = f"Sample {meta.sample_id}" if meta.sample_id else (Path(rep.folder).name or "case")
    return render_pages(
        Path(path),
        page_size,
        meta.title,
        f"Fractoscope {meta.app_version} - failure case report",
        f"{sample} - {meta.date}",
        lambda c: render_case(c, rep, meta, content.frames),
    )


def case_report_pages(
    case,
    path: Path | str,
    page_size: str = "A4",
    meta: ReportMeta | None = None,
    predictions: Mapping[str, object] | None = None,
    taxonomy=None,
    progress: Callable[[float, str], None] | None = None,
) -> Canvas:
    """Write the case report and return the finished canvas (what was drawn where, for tests)."""
    content = prepare_case_report(case, predictions, taxonomy, progress)
    return draw_case_report(content, path, page_size, meta)


def write_case_report(case, path: Path | str, page_size: str = "A4", meta: ReportMeta | None = None, **options) -> Path:
    """The case report of ``case`` (``fractoscope.case.model.Case``) written atomically to
    ``path``: ``case_report_pages``, returning the path. ``options`` are that function's
    (``predictions``: frame path -> Prediction for the full per-frame result, by default the
    predictions the case's analysis stored, frames without one showing their stored result;
    ``taxonomy``; ``progress``)."""
    case_report_pages(case, path, page_size, meta, **options)
    return Path(path)


def stored_predictions(case) -> dict[str, object]:
    """frame path -> the prediction the case analysis stored for it (``result["item"]``, a batch
    results store's ``.npz``); frames not analysed, or whose item is gone or damaged, are left
    out (their page shows the result from ``case.json``)."""
    from fractoscope.batch.stored import load_stored_prediction

    out: dict[str, object] = {}
    for f in getattr(case, "frames", None) or []:
        res = getattr(f, "result", None)
        item = res.get("item") if isinstance(res, Mapping) else None
        if not item or not Path(item).is_file():
            continue
        try:
            out[str(f.path)] = load_stored_prediction(item)
        except Exception:  # noqa: BLE001 - one damaged item must not cost the whole report
            continue
    return out


__all__ = [
    "CASE_TITLE",
    "CaseReportContent",
    "case_report_pages",
    "draw_case_report",
    "draw_map",
    "prepare_case_report",
    "render_case",
    "stored_predictions",
    "write_case_report",
]
