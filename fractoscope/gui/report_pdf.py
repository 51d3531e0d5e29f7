"""PDF failure reports drawn with Qt's own PDF engine (QPdfWriter + QPainter): works headless.

Text is real, searchable text; pictures are embedded at about 300 dpi. Every report is written
to a temporary file in the target folder and renamed into place, so a half-written PDF never
replaces a good one. The content comes from ``fractoscope.report`` (Qt-free); this module only
lays it out. Pages are rendered twice: a dry pass (no pictures) counts them for "Page i of N".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QBuffer, QIODevice, QMarginsF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QPen,
)

from fractoscope.analysis.results import Prediction
from fractoscope.atomic import atomic_path
from fractoscope.calibration import format_length, nice_length
from fractoscope.errors import FractoscopeError
from fractoscope.io.sem_image import SemImage
from fractoscope.report.data import BatchReport, ImageReport, Picture, ReportMeta
from fractoscope.report.imaging import NOT_ASSESSED_RGB, turbo_lut

DPI = 300
PAGE_SIZES = {"A4": QPageSize.PageSizeId.A4, "LETTER": QPageSize.PageSizeId.Letter}
MARGIN = 42.0  # pt (~15 mm): fits both A4 and Letter printers' unprintable borders
HEADER_H = 30.0
FOOTER_H = 26.0

INK = QColor(33, 37, 41)
MUTED = QColor(108, 117, 125)
ACCENT = QColor(22, 78, 140)
RULE = QColor(200, 205, 210)
ZEBRA = QColor(244, 246, 248)
TINT = QColor(232, 240, 250)
WARN_BG = QColor(255, 243, 205)
WARN_INK = QColor(133, 100, 4)
BAD = QColor(176, 42, 55)

FONT_FAMILIES = ["DejaVu Sans", "Segoe UI", "Helvetica Neue", "Arial", "Liberation Sans"]
MONO_FAMILIES = ["DejaVu Sans Mono", "Consolas", "Menlo", "Courier New", "Liberation Mono"]


def _qimage(arr: np.ndarray) -> QImage:
    a = np.ascontiguousarray(arr)
    h, w = a.shape[:2]
    if a.ndim == 2:
        img = QImage(a.data, w, h, a.strides[0], QImage.Format.Format_Grayscale8)
    else:
        img = QImage(a.data, w, h, a.strides[0], QImage.Format.Format_RGB888)
    return img.copy()  # detach from the numpy buffer


def _pct(p: float | None) -> str:
    return "" if p is None else f"{100.0 * p:.1f} %"


class _Canvas:
    """A QPdfWriter page in points (1/72 in), with a flowing cursor and running header/footer."""

    def __init__(
        self,
        target: str | QIODevice,
        page_size: str,
        title: str,
        header_left: str,
        header_right: str,
        footer_left: str,
        total_pages: int | None,
        dry: bool,
    ) -> None:
        key = page_size.upper()
        if key not in PAGE_SIZES:
            raise FractoscopeError(f"unknown page size {page_size!r} (use A4 or Letter)")
        self.writer = QPdfWriter(target)
        self.writer.setResolution(DPI)
        self.writer.setPageLayout(
            QPageLayout(
                QPageSize(PAGE_SIZES[key]),
                QPageLayout.Orientation.Portrait,
                QMarginsF(0, 0, 0, 0),
                QPageLayout.Unit.Point,
            )
        )
        self.writer.setTitle(title)
        self.writer.setCreator("Fractoscope")
        self.k = DPI / 72.0
        full = self.writer.pageLayout().fullRectPoints()
        self.W, self.H = float(full.width()), float(full.height())
        self.left, self.right = MARGIN, self.W - MARGIN
        self.top, self.bottom = MARGIN + HEADER_H, self.H - MARGIN - FOOTER_H
        self.width = self.right - self.left
        self.header_left, self.header_right = header_left, header_right
        self.footer_left = footer_left
        self.total = total_pages
        self.dry = dry
        self.page = 0
        self.p = QPainter()
        if not self.p.begin(self.writer):
            raise FractoscopeError("cannot start the PDF writer")
        self.p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.y = self.top
        self._start_page()

    # -- units -----------------------------------------------------------------------------
    def r(self, x: float, y: float, w: float, h: float) -> QRectF:
        k = self.k
        return QRectF(x * k, y * k, w * k, h * k)

    def font(
        self, size: float = 9.0, bold: bool = False, mono: bool = False, italic: bool = False
    ) -> QFont:
        f = QFont()
        f.setFamilies(MONO_FAMILIES if mono else FONT_FAMILIES)
        f.setPointSizeF(size)
        f.setBold(bold)
        f.setItalic(italic)
        f.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
        return f

    # -- pages -----------------------------------------------------------------------------
    def _start_page(self) -> None:
        self.page += 1
        p = self.p
        # Running header: product line and document identity, then a rule.
        self.text(self.left, MARGIN, self.width * 0.6, 12, self.header_left, 8, color=MUTED)
        self.text(
            self.left + self.width * 0.4,
            MARGIN,
            self.width * 0.6,
            12,
            self.header_right,
            8,
            color=MUTED,
            align=Qt.AlignmentFlag.AlignRight,
        )
        p.setPen(QPen(ACCENT, 1.2 * self.k))
        p.drawLine(
            QPointF(self.left * self.k, (MARGIN + 15) * self.k),
            QPointF(self.right * self.k, (MARGIN + 15) * self.k),
        )
        fy = self.H - MARGIN - 14
        p.setPen(QPen(RULE, 0.6 * self.k))
        p.drawLine(
            QPointF(self.left * self.k, (fy - 4) * self.k),
            QPointF(self.right * self.k, (fy - 4) * self.k),
        )
        self.text(self.left, fy, self.width * 0.8, 12, self.footer_left, 7, color=MUTED)
        total = f" of {self.total}" if self.total else ""
        self.text(
            self.left + self.width * 0.7,
            fy,
            self.width * 0.3,
            12,
            f"Page {self.page}{total}",
            7,
            color=MUTED,
            align=Qt.AlignmentFlag.AlignRight,
        )
        self.y = self.top

    def new_page(self) -> None:
        self.writer.newPage()
        self._start_page()

    def ensure(self, h: float) -> None:
        """Start a new page unless ``h`` points still fit below the cursor."""
        if self.y + h > self.bottom and self.y > self.top + 1:
            self.new_page()

    @property
    def room(self) -> float:
        return self.bottom - self.y

    def finish(self) -> None:
        if not self.p.end():
            raise FractoscopeError("the PDF could not be completed")

    # -- drawing primitives (points) ---------------------------------------------------------
    def measure(
        self, w: float, s: str, size: float = 9.0, bold: bool = False, mono: bool = False
    ) -> float:
        fm = QFontMetricsF(self.font(size, bold, mono), self.writer)
        flags = int(Qt.TextFlag.TextWordWrap) | (int(Qt.TextFlag.TextWrapAnywhere) if mono else 0)
        br = fm.boundingRect(QRectF(0, 0, w * self.k, 1e6), flags, s)
        return br.height() / self.k

    def text(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        s: str,
        size: float = 9.0,
        bold: bool = False,
        color: QColor = INK,
        align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignLeft,
        mono: bool = False,
        italic: bool = False,
        wrap: bool = False,
        valign: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignTop,
    ) -> None:
        p = self.p
        p.setFont(self.font(size, bold, mono, italic))
        p.setPen(color)
        flags = int(align) | int(valign)
        if wrap:
            flags |= int(Qt.TextFlag.TextWordWrap)
            if mono:
                flags |= int(Qt.TextFlag.TextWrapAnywhere)
        else:
            fm = QFontMetricsF(p.font(), self.writer)
            s = fm.elidedText(s, Qt.TextElideMode.ElideMiddle, w * self.k)
        p.drawText(self.r(x, y, w, h), flags, s)

    def paragraph(
        self,
        s: str,
        size: float = 9.0,
        color: QColor = INK,
        gap: float = 6.0,
        italic: bool = False,
        bold: bool = False,
        x: float | None = None,
        w: float | None = None,
    ) -> None:
        x = self.left if x is None else x
        w = self.width if w is None else w
        h = self.measure(w, s, size, bold) + 1
        self.ensure(h)
        self.text(x, self.y, w, h, s, size, bold=bold, color=color, wrap=True, italic=italic)
        self.y += h + gap

    def rect(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        fill: QColor | None = None,
        stroke: QColor | None = None,
        width: float = 0.6,
        radius: float = 0.0,
    ) -> None:
        p = self.p
        p.setPen(QPen(stroke, width * self.k) if stroke is not None else Qt.PenStyle.NoPen)
        p.setBrush(fill if fill is not None else Qt.BrushStyle.NoBrush)
        if radius:
            p.drawRoundedRect(self.r(x, y, w, h), radius * self.k, radius * self.k)
        else:
            p.drawRect(self.r(x, y, w, h))
        p.setBrush(Qt.BrushStyle.NoBrush)

    def hline(
        self,
        y: float,
        color: QColor = RULE,
        width: float = 0.6,
        x0: float | None = None,
        x1: float | None = None,
    ) -> None:
        self.p.setPen(QPen(color, width * self.k))
        x0 = self.left if x0 is None else x0
        x1 = self.right if x1 is None else x1
        self.p.drawLine(QPointF(x0 * self.k, y * self.k), QPointF(x1 * self.k, y * self.k))

    def image(self, x: float, y: float, w: float, h: float, arr: np.ndarray) -> None:
        if self.dry:
            return
        self.p.drawImage(self.r(x, y, w, h), _qimage(arr))

    def section(self, title: str, need: float = 80.0) -> None:
        """A section heading; keeps ``need`` points of content with it on the page."""
        self.ensure(22 + need)
        if self.y > self.top + 1:
            self.y += 8
        self.text(self.left, self.y, self.width, 16, title, 11.5, bold=True, color=ACCENT)
        self.y += 16
        self.hline(self.y, ACCENT, 0.5)
        self.y += 7

    # -- composite elements -------------------------------------------------------------------
    def key_values(
        self,
        rows: list[tuple[str, str]],
        x: float,
        w: float,
        key_w: float = 95,
        size: float = 8.5,
        mono_keys: tuple[str, ...] = (),
    ) -> float:
        """A two-column key/value list at the cursor; returns its height (cursor unchanged)."""
        y = self.y
        for k, v in rows:
            mono = k in mono_keys
            vh = max(12.0, self.measure(w - key_w, v, size, mono=mono) + 2)
            self.text(x, y, key_w - 6, vh, k, size, color=MUTED)
            self.text(x + key_w, y, w - key_w, vh, v, size, wrap=True, mono=mono)
            y += vh + 1.5
        return y - self.y

    def scale_bar(self, x: float, y: float, w: float, h: float, pic: Picture) -> None:
        """A calibrated scale bar in the bottom-left corner of a picture drawn at (x, y, w, h)."""
        width_m = pic.width_m
        if not width_m:
            self.rect(x + 4, y + h - 16, 72, 12, QColor(0, 0, 0, 150), radius=2)
            self.text(
                x + 4,
                y + h - 15.5,
                72,
                11,
                "uncalibrated",
                7,
                color=QColor("white"),
                align=Qt.AlignmentFlag.AlignHCenter,
            )
            return
        length_m = nice_length(width_m * 0.22)
        bar = w * length_m / width_m
        label = format_length(length_m)
        box_w = max(bar, 34.0) + 12
        self.rect(x + 4, y + h - 22, box_w, 18, QColor(0, 0, 0, 150), radius=2)
        self.rect(x + 10, y + h - 9.5, bar, 2.6, QColor("white"))
        self.text(
            x + 4,
            y + h - 21.5,
            box_w,
            10,
            label,
            7,
            bold=True,
            color=QColor("white"),
            align=Qt.AlignmentFlag.AlignHCenter,
        )

    def picture(
        self, x: float, y: float, w: float, pic: Picture, max_h: float | None = None
    ) -> tuple[float, float]:
        """Draw a picture ``w`` wide (or shrunk to ``max_h``) with its scale bar; returns (w, h)."""
        ph, pw = pic.pixels.shape[:2]
        h = w * ph / pw
        if max_h is not None and h > max_h:
            h = max_h
            w = h * pw / ph
        self.image(x, y, w, h, pic.pixels)
        self.rect(x, y, w, h, stroke=RULE, width=0.5)
        self.scale_bar(x, y, w, h, pic)
        return w, h

    def colour_bar(self, x: float, y: float, w: float, caption: str) -> float:
        lut = turbo_lut(256)[None, :, :].repeat(8, axis=0)
        self.image(x, y, w, 7, lut)
        self.rect(x, y, w, 7, stroke=RULE, width=0.4)
        for frac, lab in ((0.0, "0"), (0.5, "0.5"), (1.0, "1")):
            tx = x + frac * w
            self.hline(y + 7, MUTED, 0.4, tx, tx)
            self.p.drawLine(
                QPointF(tx * self.k, (y + 7) * self.k), QPointF(tx * self.k, (y + 9.5) * self.k)
            )
            self.text(
                tx - 20, y + 9.5, 40, 9, lab, 6.5, color=MUTED, align=Qt.AlignmentFlag.AlignHCenter
            )
        self.text(x, y + 18, w, 10, caption, 7, color=MUTED, align=Qt.AlignmentFlag.AlignHCenter)
        return 30.0

    def bar(self, x: float, y: float, w: float, h: float, frac: float, colour: QColor) -> None:
        self.rect(x, y, w, h, QColor(233, 236, 239))
        if frac > 0:
            self.rect(x, y, max(0.6, w * min(1.0, frac)), h, colour)

    def table(
        self,
        columns: list[tuple[str, float, Qt.AlignmentFlag]],
        rows: list[list[str]],
        size: float = 8.0,
        row_h: float = 13.0,
        styles: list[dict] | None = None,
        cell_painter: Callable[[int, int, float, float, float, float], bool] | None = None,
    ) -> None:
        """A striped table; widths are fractions of the text width; the header repeats per page."""
        xs = [self.left]
        for _, frac, _ in columns:
            xs.append(xs[-1] + frac * self.width)

        def header() -> None:
            self.rect(self.left, self.y, self.width, row_h + 1, QColor(222, 229, 238))
            for c, (title, _, align) in enumerate(columns):
                self.text(
                    xs[c] + 3,
                    self.y + 2,
                    xs[c + 1] - xs[c] - 6,
                    row_h,
                    title,
                    size,
                    bold=True,
                    align=align,
                )
            self.y += row_h + 1

        self.ensure(2 * row_h + 2)
        header()
        for i, row in enumerate(rows):
            st = styles[i] if styles else {}
            if self.y + row_h > self.bottom:
                self.new_page()
                header()
            if i % 2 == 1:
                self.rect(self.left, self.y, self.width, row_h, ZEBRA)
            for c, (cell, (_, _, align)) in enumerate(zip(row, columns, strict=True)):
                cx, cw = xs[c] + 3, xs[c + 1] - xs[c] - 6
                if cell_painter is not None and cell_painter(i, c, cx, self.y, cw, row_h):
                    continue
                self.text(
                    cx,
                    self.y + 2,
                    cw,
                    row_h,
                    cell,
                    size,
                    bold=st.get("bold", False),
                    color=st.get("colors", {}).get(c, st.get("color", INK)),
                    align=align,
                )
            self.y += row_h
        self.hline(self.y, RULE, 0.5)
        self.y += 4


def _rgb(c: tuple[int, int, int]) -> QColor:
    return QColor(int(c[0]), int(c[1]), int(c[2]))


def _meta_block(c: _Canvas, meta: ReportMeta, extra: list[tuple[str, str]]) -> None:
    c.text(c.left, c.y, c.width, 24, meta.title, 18, bold=True)
    c.y += 28
    left = [
        ("Sample ID", meta.sample_id or "-"),
        ("Analyst", meta.analyst or "-"),
        ("Date", meta.date),
    ]
    right = extra + [("Software", f"Fractoscope {meta.app_version}")]
    half = c.width / 2
    h1 = c.key_values(left, c.left, half - 10, key_w=62, size=9)
    h2 = c.key_values(right, c.left + half, half, key_w=62, size=9)
    c.y += max(h1, h2) + 2
    if meta.notes.strip():
        h = c.key_values([("Notes", meta.notes.strip())], c.left, c.width, key_w=62, size=9)
        c.y += h + 2
    c.hline(c.y, RULE)
    c.y += 8


def _confidence_word(margin: float) -> str:
    if margin >= 0.3:
        return "clear"
    if margin >= 0.1:
        return "moderate - check the alternatives"
    return "low - the alternatives are almost as likely"


# ------------------------------------------------------------------------------------------------
# Single-image report
# ------------------------------------------------------------------------------------------------
def _render_image(c: _Canvas, rep: ImageReport, meta: ReportMeta) -> None:
    _meta_block(c, meta, [("Image", rep.image_name)])

    # Result box: the answer first, with its confidence and the decision-support caveat.
    warn_lines = [f"Warning: {w}" for w in rep.warnings]
    within = (
        f" {rep.level2.name} takes {_pct(rep.level2.conditional)} of the "
        f"{rep.level1.name.lower()} probability."
        if rep.level2.conditional is not None
        else ""
    )
    line = (
        f"Level-1 margin over the runner-up: {rep.margin:.2f} ({_confidence_word(rep.margin)})."
        + within
    )
    tw = c.width - 28
    lh = c.measure(tw, line, 8.5) + 1
    whs = [c.measure(tw, w, 8) + 1 for w in warn_lines]
    box_h = 41 + 8 + lh + 2 + sum(h + 1 for h in whs) + 6
    c.rect(c.left, c.y, c.width, box_h, TINT, radius=3)
    c.rect(c.left, c.y, 4, box_h, ACCENT)
    x0, y0 = c.left + 14, c.y + 8
    levels = (("Level 1 - failure mechanism", rep.level1), ("Level 2 - fracture morphology", rep.level2))
    for k, (caption, cls) in enumerate(levels):
        if k:
            y0 += 20
        c.text(x0, y0, 150, 12, caption, 8, color=MUTED)
        c.text(x0 + 150, y0 - 2, 250, 16, cls.name, 13, bold=True)
        right = Qt.AlignmentFlag.AlignRight
        c.text(c.right - 110, y0 - 2, 100, 16, _pct(cls.probability), 13, bold=True, align=right)
    y0 += 21
    c.text(x0, y0, tw, lh, line, 8.5, wrap=True)
    y0 += lh + 2
    for w, wh in zip(warn_lines, whs, strict=True):
        c.text(x0, y0, tw, wh, w, 8, color=WARN_INK, wrap=True)
        y0 += wh + 1
    c.y += box_h + 10

    c.section("SEM image", need=200)
    pic = rep.image
    max_h = c.room - 30
    ph, pw = pic.pixels.shape[:2]
    w = min(c.width, max_h * pw / ph)
    w, h = c.picture(c.left + (c.width - w) / 2, c.y, w, pic)
    c.y += h + 3
    cal = dict(rep.calibration)
    c.text(
        c.left + (c.width - w) / 2,
        c.y,
        w,
        11,
        f"{rep.image_name} - pixel size {cal.get('Pixel size', 'n/a')} ({cal.get('Source', '')})"
        + (f", field of view {cal['Field of view']}" if "Field of view" in cal else ""),
        7.5,
        color=MUTED,
    )
    c.y += 14

    # --- Grad-CAM -----------------------------------------------------------------------------
    c.new_page()
    c.section("Class activation maps (Grad-CAM)", need=260)
    gap = 14.0
    pw = (c.width - gap) / 2
    for i, (lvl, row) in enumerate(((1, rep.level1), (2, rep.level2))):
        x = c.left + i * (pw + gap)
        c.text(x, c.y, pw, 12, f"Level {lvl}: {row.name} ({_pct(row.probability)})", 9, bold=True)
    c.y += 14
    hmax = 0.0
    for i, pic in enumerate((rep.overlay_level1, rep.overlay_level2)):
        _, h = c.picture(c.left + i * (pw + gap), c.y, pw, pic, max_h=330)
        hmax = max(hmax, h)
    c.y += hmax + 6
    c.y += c.colour_bar(
        c.left + c.width * 0.25,
        c.y,
        c.width * 0.5,
        "Grad-CAM relevance of the predicted class (normalised over the image)",
    )
    c.paragraph(
        "Warm colours mark the regions that drove each prediction. Check that they fall on the "
        "fracture features themselves (dimples, facets, striations...) and not on debris, edges, "
        "charging artefacts or text.",
        8,
        color=MUTED,
    )

    # --- probabilities ---------------------------------------------------------------------------
    c.section("Hierarchical prediction", need=180)
    rows: list[list[str]] = []
    styles: list[dict] = []
    bars: list[tuple[float, QColor]] = []
    for r1 in rep.probabilities:
        rows.append([r1.name, "", _pct(r1.probability), ""])
        styles.append({"bold": r1.label == rep.level1.label})
        bars.append((r1.probability, _rgb(rep.colours[r1.label])))
        for r2 in r1.children:
            rows.append([f"    {r2.name}", _pct(r2.conditional), _pct(r2.probability), ""])
            styles.append(
                {
                    "bold": r2.label == rep.level2.label,
                    "color": INK if r2.probability >= 0.01 else MUTED,
                }
            )
            bars.append((r2.probability, _rgb(rep.colours[r2.label])))

    def paint_bar(i: int, col: int, x: float, y: float, w: float, h: float) -> bool:
        if col != 3:
            return False
        c.bar(x, y + 3, w, h - 6, bars[i][0], bars[i][1])
        return True

    c.table(
        [
            ("Class (level 1, then its level-2 morphologies)", 0.42, Qt.AlignmentFlag.AlignLeft),
            ("Within parent", 0.14, Qt.AlignmentFlag.AlignRight),
            ("Probability", 0.12, Qt.AlignmentFlag.AlignRight),
            ("", 0.32, Qt.AlignmentFlag.AlignLeft),
        ],
        rows,
        styles=styles,
        cell_painter=paint_bar,
        row_h=12.5,
    )
    c.paragraph(
        "Level-2 probabilities are joint: P(morphology) = P(mechanism) x P(morphology | mechanism).",
        7.5,
        color=MUTED,
    )
    c.section("Most likely alternatives", need=60)
    for k, (a, b, q) in enumerate(rep.alternatives, 1):
        c.ensure(13)
        c.text(c.left, c.y, 20, 12, f"{k}.", 9, bold=k == 1)
        c.text(c.left + 18, c.y, c.width - 100, 12, f"{a}  >  {b}", 9, bold=k == 1)
        c.text(
            c.right - 80, c.y, 80, 12, _pct(q), 9, bold=k == 1, align=Qt.AlignmentFlag.AlignRight
        )
        c.y += 13

    # --- tile class map ----------------------------------------------------------------------------
    c.section("Tile class map and area fractions", need=330)
    mw = c.width * 0.52
    top = c.y
    _, mh = c.picture(c.left, c.y, mw, rep.class_map, max_h=290)
    lx, lw = c.left + mw + 16, c.width - mw - 16
    y = top
    c.text(lx, y, lw, 12, "Level 2 (area of assessed tiles)", 8.5, bold=True)
    y += 14
    for label, name, frac in rep.area_level2:
        if frac <= 0 and label != rep.level2.label:
            continue
        c.rect(lx, y + 1.5, 9, 9, _rgb(rep.colours[label]), stroke=RULE, width=0.4)
        c.text(lx + 13, y, lw - 60, 12, name, 8)
        c.text(lx + lw - 45, y, 45, 12, _pct(frac), 8, align=Qt.AlignmentFlag.AlignRight)
        y += 13
    c.rect(lx, y + 1.5, 9, 9, _rgb(NOT_ASSESSED_RGB), stroke=RULE, width=0.4)
    c.text(lx + 13, y, lw - 13, 12, "not assessed (blank, saturated, text)", 8, color=MUTED)
    y += 20
    c.text(lx, y, lw, 12, "Level 1", 8.5, bold=True)
    y += 14
    for label, name, frac in rep.area_level1:
        if frac <= 0:
            continue
        c.text(lx, y, lw - 100, 12, name, 8)
        c.bar(lx + lw - 100, y + 3, 52, 7, frac, _rgb(rep.colours[label]))
        c.text(lx + lw - 45, y, 45, 12, _pct(frac), 8, align=Qt.AlignmentFlag.AlignRight)
        y += 13
    y += 8
    mixed = [r for r in rep.area_level2 if r[2] >= 0.15]
    note = f"{rep.tiles_voting} of {rep.tiles_total} tiles assessed. " + (
        "Mixed-mode surface: " + ", ".join(f"{n} {_pct(f)}" for _, n, f in mixed) + "."
        if len(mixed) > 1
        else "No second morphology covers 15 % or more of the assessed area."
    )
    h = c.measure(lw, note, 8)
    c.text(lx, y, lw, h + 2, note, 8, wrap=True, color=MUTED)
    c.y = max(top + mh, y + h) + 12

    c.section("Calibration and instrument", need=100)
    half = c.width / 2
    h1 = c.key_values(rep.calibration, c.left, half - 12, key_w=80)
    h2 = c.key_values(rep.instrument, c.left + half, half, key_w=100)
    c.y += max(h1, h2) + 4

    _model_section(
        c,
        rep.model.name,
        rep.model.sha256,
        rep.model.taxonomy,
        [
            ("Input tile", f"{rep.model.input_size} px"),
            ("Device", rep.model.device),
            *rep.model.extra,
        ],
        rep.colours,
    )
    _disclaimer(c, rep.decision_support)


def _model_section(
    c: _Canvas,
    name: str,
    sha: str,
    taxonomy: dict[str, list[str]],
    extra: list[tuple[str, str]],
    colours: dict[str, tuple[int, int, int]],
) -> None:
    c.section("Model provenance", need=110)
    tax = "; ".join(f"{k}: {', '.join(v)}" for k, v in taxonomy.items())
    rows = [("Model", name), ("SHA-256", sha), *extra, ("Taxonomy", tax)]
    h = c.key_values(rows, c.left, c.width, key_w=95, mono_keys=("SHA-256",))
    c.y += h + 4


def _disclaimer(c: _Canvas, text: str) -> None:
    h = c.measure(c.width - 24, text, 9, bold=True) + 14
    c.ensure(h + 10)
    c.y += 6
    c.rect(c.left, c.y, c.width, h, WARN_BG, stroke=QColor(230, 200, 120), radius=3)
    c.text(c.left + 12, c.y + 7, c.width - 24, h, text, 9, bold=True, color=WARN_INK, wrap=True)
    c.y += h + 6


# ------------------------------------------------------------------------------------------------
# Batch report
# ------------------------------------------------------------------------------------------------
def _count_chart(
    c: _Canvas,
    title: str,
    counts: list[tuple[str, str, int]],
    colours: dict[str, tuple[int, int, int]],
    x: float,
    w: float,
) -> float:
    y = c.y
    c.text(x, y, w, 12, title, 9, bold=True)
    y += 15
    top = max([n for _, _, n in counts] + [1])
    name_w = w * 0.54
    for label, name, n in counts:
        c.text(x, y, name_w - 4, 12, name, 8)
        c.bar(
            x + name_w,
            y + 2.5,
            w - name_w - 30,
            8,
            n / top,
            _rgb(colours.get(label, (120, 120, 120))),
        )
        c.text(x + w - 28, y, 28, 12, str(n), 8, bold=n > 0, align=Qt.AlignmentFlag.AlignRight)
        y += 13
    return y - c.y


def _render_batch(c: _Canvas, rep: BatchReport, meta: ReportMeta) -> None:
    _meta_block(c, meta, [("Results", str(rep.out_dir))])
    # Summary tiles
    stats = [
        ("Images", rep.images, ACCENT),
        ("Analysed", rep.ok, QColor(40, 120, 60)),
        ("Failed", len(rep.failed), BAD if rep.failed else MUTED),
        ("Non-image files ignored", rep.ignored, MUTED),
    ]
    tw = (c.width - 3 * 8) / 4
    for i, (lab, n, col) in enumerate(stats):
        x = c.left + i * (tw + 8)
        c.rect(x, c.y, tw, 44, TINT, radius=3)
        c.text(
            x,
            c.y + 4,
            tw,
            22,
            str(n),
            18,
            bold=True,
            color=col,
            align=Qt.AlignmentFlag.AlignHCenter,
        )
        c.text(x, c.y + 28, tw, 12, lab, 7.5, color=MUTED, align=Qt.AlignmentFlag.AlignHCenter)
    c.y += 56

    c.section("Predicted classes", need=200)
    half = (c.width - 20) / 2
    h1 = _count_chart(
        c, "Level 1 - failure mechanism", rep.level1_counts, rep.colours, c.left, half
    )
    h2 = _count_chart(
        c, "Level 2 - fracture morphology", rep.level2_counts, rep.colours, c.left + half + 20, half
    )
    c.y += max(h1, h2) + 6
    _model_section(
        c,
        rep.model_name,
        rep.model_sha256,
        rep.taxonomy,
        [("Device", rep.device or "-"), ("Run started", rep.started_at or "-")],
        rep.colours,
    )
    _disclaimer(c, rep.decision_support)

    # Every image
    c.new_page()
    c.section("All images", need=60)
    rows, styles = [], []
    for i, r in enumerate(rep.rows, 1):
        if r.status == "ok":
            rows.append(
                [
                    str(i),
                    r.name,
                    rep.names.get(r.level1, r.level1),
                    _pct(r.p_level1),
                    rep.names.get(r.level2, r.level2),
                    _pct(r.p_level2),
                    format_length(r.pixel_size_m) if r.pixel_size_m else "uncal.",
                    "ok",
                ]
            )
            styles.append({})
        else:
            rows.append([str(i), r.name, "", "", "", "", "", "failed"])
            styles.append({"colors": {7: BAD}})
    c.table(
        [
            ("#", 0.05, Qt.AlignmentFlag.AlignRight),
            ("Image", 0.25, Qt.AlignmentFlag.AlignLeft),
            ("Level 1", 0.17, Qt.AlignmentFlag.AlignLeft),
            ("P", 0.07, Qt.AlignmentFlag.AlignRight),
            ("Level 2", 0.2, Qt.AlignmentFlag.AlignLeft),
            ("P", 0.07, Qt.AlignmentFlag.AlignRight),
            ("Pixel size", 0.11, Qt.AlignmentFlag.AlignRight),
            ("Status", 0.08, Qt.AlignmentFlag.AlignLeft),
        ],
        rows,
        styles=styles,
        size=7.5,
        row_h=12,
    )

    # Thumbnails
    ok_rows = [r for r in rep.rows if r.status == "ok"]
    if ok_rows:
        c.new_page()
        c.section("Thumbnails", need=150)
        cols, gap = 4, 10.0
        tw = (c.width - (cols - 1) * gap) / cols
        cell_h = tw + 26
        for k, r in enumerate(ok_rows):
            col = k % cols
            if col == 0 and k > 0:
                c.y += cell_h + 6
            if col == 0 and c.y + cell_h > c.bottom:
                c.new_page()
            x = c.left + col * (tw + gap)
            if r.thumbnail is not None and not c.dry:
                from PIL import Image  # Pillow comes with scikit-image

                with Image.open(r.thumbnail) as im:
                    arr = np.asarray(im.convert("L"))
                th = tw * arr.shape[0] / arr.shape[1]
                if th > tw:
                    sw = tw * tw / th
                    c.image(x + (tw - sw) / 2, c.y, sw, tw, arr)
                else:
                    c.image(x, c.y + (tw - th) / 2, tw, th, arr)
            c.rect(x, c.y, tw, tw, stroke=RULE, width=0.4)
            c.text(x, c.y + tw + 2, tw, 10, r.name, 7, bold=True)
            c.text(
                x,
                c.y + tw + 12,
                tw,
                10,
                f"{rep.names.get(r.level2, r.level2)} {_pct(r.p_level2)}",
                6.5,
                color=MUTED,
            )
        c.y += cell_h + 6

    # Failures
    c.section(f"Failed files ({len(rep.failed)})", need=40)
    if not rep.failed:
        c.paragraph("None: every image was analysed.", 9, color=MUTED)
    for r in rep.failed:
        h = max(12.0, c.measure(c.width * 0.62, r.error, 8)) + 4
        c.ensure(h)
        c.text(c.left, c.y, c.width * 0.36, h, r.name, 8, bold=True)
        c.text(c.left + c.width * 0.38, c.y, c.width * 0.62, h, r.error, 8, color=BAD, wrap=True)
        c.y += h
        c.hline(c.y - 2, ZEBRA)


# ------------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------------
def _ensure_gui_app() -> None:
    from PySide6.QtGui import QGuiApplication

    if QGuiApplication.instance() is None:
        raise FractoscopeError("a QGuiApplication is needed to draw PDF reports")


def _write(
    path: Path,
    page_size: str,
    title: str,
    header_left: str,
    header_right: str,
    footer_left: str,
    render: Callable[[_Canvas], None],
) -> Path:
    _ensure_gui_app()
    path = Path(path)
    # Dry pass: same layout without pictures, to know the page count.
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    dry = _Canvas(buf, page_size, title, header_left, header_right, footer_left, None, True)
    render(dry)
    dry.finish()
    pages = dry.page
    try:
        with atomic_path(path) as tmp:
            canvas = _Canvas(
                str(tmp), page_size, title, header_left, header_right, footer_left, pages, False
            )
            render(canvas)
            canvas.finish()
            del canvas  # QPdfWriter closes the file when it is destroyed
    except OSError as exc:
        raise FractoscopeError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def write_image_report(
    path: Path | str, sem: SemImage, prediction: Prediction, meta: ReportMeta, page_size: str = "A4"
) -> Path:
    """The single-image failure report. Needs a QGuiApplication (offscreen is fine)."""
    rep = ImageReport.build(sem, prediction)
    sample = f"Sample {meta.sample_id}" if meta.sample_id else rep.image_name
    return _write(
        Path(path),
        page_size,
        meta.title,
        f"Fractoscope {meta.app_version} - fractography report",
        f"{sample} - {meta.date}",
        "Decision support - to be confirmed by a qualified fractographer",
        lambda c: _render_image(c, rep, meta),
    )


def write_batch_report(
    path: Path | str, batch_report: BatchReport, meta: ReportMeta, page_size: str = "A4"
) -> Path:
    """The batch summary report (summary, table of every image, thumbnails, failures)."""
    sample = f"Sample {meta.sample_id}" if meta.sample_id else f"{batch_report.images} images"
    return _write(
        Path(path),
        page_size,
        meta.title,
        f"Fractoscope {meta.app_version} - batch report",
        f"{sample} - {meta.date}",
        "Decision support - to be confirmed by a qualified fractographer",
        lambda c: _render_batch(c, batch_report, meta),
    )


def ask_report_meta(parent=None, defaults: ReportMeta | None = None, page_size: str = "A4"):
    """Small dialog for title, sample ID, analyst, notes and page size.

    Returns ``(ReportMeta, page_size)`` or ``None`` when cancelled. Needs a QApplication.
    """
    from PySide6.QtWidgets import (
        QComboBox,
        QDialog,
        QDialogButtonBox,
        QFormLayout,
        QLineEdit,
        QPlainTextEdit,
    )

    d = defaults or ReportMeta(title="Fractography failure report")
    dlg = QDialog(parent)
    dlg.setWindowTitle("Export report")
    form = QFormLayout(dlg)
    title, sample, analyst = QLineEdit(d.title), QLineEdit(d.sample_id), QLineEdit(d.analyst)
    date = QLineEdit(d.date)
    notes = QPlainTextEdit(d.notes)
    notes.setFixedHeight(80)
    size = QComboBox()
    size.addItems(["A4", "Letter"])
    size.setCurrentText("Letter" if page_size.upper() == "LETTER" else "A4")
    for label, w in (
        ("Title", title),
        ("Sample ID", sample),
        ("Analyst", analyst),
        ("Date", date),
        ("Notes", notes),
        ("Page size", size),
    ):
        form.addRow(label, w)
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    buttons.accepted.connect(dlg.accept)
    buttons.rejected.connect(dlg.reject)
    form.addRow(buttons)
    dlg.title_edit, dlg.sample_edit, dlg.analyst_edit, dlg.notes_edit = (
        title,
        sample,
        analyst,
        notes,
    )
    if dlg.exec() != QDialog.DialogCode.Accepted:
        return None
    meta = ReportMeta(
        title=title.text().strip() or d.title,
        sample_id=sample.text().strip(),
        analyst=analyst.text().strip(),
        notes=notes.toPlainText().strip(),
        date=date.text().strip() or d.date,
        app_version=d.app_version,
    )
    return meta, size.currentText()


__all__ = ["ask_report_meta", "write_batch_report", "write_image_report"]
