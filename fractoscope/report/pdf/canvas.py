"""Drawing primitives for the PDF reports: a QPdfWriter page in points with a flowing cursor.

Every flowing element paginates line by line (text is wrapped here, with the font's own metrics,
not by ``drawText``), so nothing is drawn below the body area into the footer. Every text line and
picture drawn is recorded in :attr:`Canvas.boxes`, which the layout tests read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QIODevice, QMarginsF, QPointF, QRectF, Qt
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

from fractoscope.analysis.wording import percent
from fractoscope.calibration import format_length, nice_length
from fractoscope.errors import FractoscopeError
from fractoscope.imaging.display import DEFAULT_CAM_COLORMAP, colormap_lut
from fractoscope.io.describe import NOT_CALIBRATED
from fractoscope.report.data import Picture

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
WARN_EDGE = QColor(230, 200, 120)
BAD = QColor(176, 42, 55)
GOOD = QColor(40, 120, 60)
WHITE = QColor(255, 255, 255)

FONT_FAMILIES = ["DejaVu Sans", "Segoe UI", "Helvetica Neue", "Arial", "Liberation Sans"]
MONO_FAMILIES = ["DejaVu Sans Mono", "Consolas", "Menlo", "Courier New", "Liberation Mono"]

LEFT = Qt.AlignmentFlag.AlignLeft
RIGHT = Qt.AlignmentFlag.AlignRight
CENTRE = Qt.AlignmentFlag.AlignHCenter


@dataclass(frozen=True)
class Box:
    """Something drawn on a page, in points from the page's top-left corner."""

    page: int  # 1-based
    kind: str  # "text", "header", "footer" or "image"
    x: float
    y: float
    w: float
    h: float
    text: str = ""


def qimage(arr: np.ndarray) -> QImage:
    a = np.ascontiguousarray(arr)
    h, w = a.shape[:2]
    fmt = QImage.Format.Format_Grayscale8 if a.ndim == 2 else QImage.Format.Format_RGB888
    return QImage(a.data, w, h, a.strides[0], fmt).copy()  # detach from the numpy buffer


def rgb(c: tuple[int, int, int]) -> QColor:
    return QColor(int(c[0]), int(c[1]), int(c[2]))


def pct(p: float | None) -> str:
    """A probability as the CLI and the GUI write it (``fractoscope.analysis.wording``)."""
    return "" if p is None else percent(p)


class Canvas:
    """A QPdfWriter in points (1/72 in), with a flowing cursor and running header/footer."""

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
        self.boxes: list[Box] = []
        self._kind = "text"
        self._measuring = False  # see measuring(): lay out, draw nothing
        self._fonts: dict[tuple, QFont] = {}
        self.p = QPainter()
        if not self.p.begin(self.writer):
            raise FractoscopeError("cannot start the PDF writer")
        self.p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.y = self.top
        self._start_page()

    # -- units ------------------------------------------------------------------------------------
    def r(self, x: float, y: float, w: float, h: float) -> QRectF:
        k = self.k
        return QRectF(x * k, y * k, w * k, h * k)

    def font(
        self, size: float = 9.0, bold: bool = False, mono: bool = False, italic: bool = False
    ) -> QFont:
        key = (size, bold, mono, italic)
        f = self._fonts.get(key)
        if f is None:
            f = QFont()
            f.setFamilies(MONO_FAMILIES if mono else FONT_FAMILIES)
            f.setPointSizeF(size)
            f.setBold(bold)
            f.setItalic(italic)
            f.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
            self._fonts[key] = f
        return f

    def metrics(self, size: float, bold: bool = False, mono: bool = False, italic: bool = False):
        return QFontMetricsF(self.font(size, bold, mono, italic), self.writer)

    def line_height(self, size: float, bold: bool = False, mono: bool = False) -> float:
        return self.metrics(size, bold, mono).lineSpacing() / self.k

    def text_width(self, s: str, size: float = 9.0, bold: bool = False, mono: bool = False) -> float:
        return self.metrics(size, bold, mono).horizontalAdvance(s) / self.k

    # -- pages ------------------------------------------------------------------------------------
    def _start_page(self) -> None:
        self.page += 1
        p = self.p
        # Running header: product line and document identity, then a rule.
        self._kind = "header"
        self.text(self.left, MARGIN, self.width * 0.58, 12, self.header_left, 8, color=MUTED)
        self.text(
            self.left + self.width * 0.42, MARGIN, self.width * 0.58, 12, self.header_right, 8,
            color=MUTED, align=RIGHT,
        )  # fmt: skip
        p.setPen(QPen(ACCENT, 1.2 * self.k))
        p.drawLine(
            QPointF(self.left * self.k, (MARGIN + 15) * self.k),
            QPointF(self.right * self.k, (MARGIN + 15) * self.k),
        )
        self._kind = "footer"
        fy = self.H - MARGIN - 14
        p.setPen(QPen(RULE, 0.6 * self.k))
        p.drawLine(
            QPointF(self.left * self.k, (fy - 4) * self.k),
            QPointF(self.right * self.k, (fy - 4) * self.k),
        )
        self.text(self.left, fy, self.width * 0.75, 12, self.footer_left, 7, color=MUTED)
        total = f" of {self.total}" if self.total else ""
        self.text(
            self.left + self.width * 0.75, fy, self.width * 0.25, 12, f"Page {self.page}{total}", 7,
            color=MUTED, align=RIGHT,
        )  # fmt: skip
        self._kind = "text"
        self.y = self.top

    def new_page(self) -> None:
        if self._measuring:  # a height measured across a page break would mean nothing
            raise RuntimeError("layout measured with Canvas.measuring() started a page")
        self.writer.newPage()
        self._start_page()

    def ensure(self, h: float) -> None:
        """Start a new page unless ``h`` points still fit below the cursor."""
        if self.y + h > self.bottom and self.y > self.top + 1:
            self.new_page()

    @contextmanager
    def measuring(self) -> Iterator[None]:
        """Run layout code without drawing or recording anything, to learn the height it takes:
        the same code then draws for real, so a box's height is measured, never re-added by hand.
        The cursor is restored afterwards; the code measured must not start a page."""
        y, outer = self.y, self._measuring
        self._measuring = True
        try:
            yield
        finally:
            self.y, self._measuring = y, outer

    @property
    def room(self) -> float:
        return self.bottom - self.y

    def finish(self) -> None:
        if not self.p.end():
            raise FractoscopeError("the PDF could not be completed")

    # -- text ---------------------------------------------------------------------------------------
    def wrap(
        self, s: str, w: float, size: float = 9.0, bold: bool = False, mono: bool = False,
        italic: bool = False,
    ) -> list[str]:  # fmt: skip
        """``s`` broken into lines no wider than ``w`` points (words, then characters if a single
        word is too long, e.g. a hash or a path). Newlines in ``s`` are kept."""
        fm = self.metrics(size, bold, mono, italic)
        limit = w * self.k

        def fits(t: str) -> bool:
            return fm.horizontalAdvance(t) <= limit

        lines: list[str] = []
        for para in s.split("\n"):
            cur = ""
            for word in para.split(" "):
                cand = f"{cur} {word}" if cur else word
                if fits(cand):
                    cur = cand
                    continue
                if cur:
                    lines.append(cur)
                    cur = ""
                while word and not fits(word):  # hard-break an over-long word
                    n = len(word)
                    while n > 1 and not fits(word[:n]):
                        n -= 1
                    lines.append(word[:n])
                    word = word[n:]
                cur = word
            lines.append(cur)
        return lines

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
        align: Qt.AlignmentFlag = LEFT,
        mono: bool = False,
        italic: bool = False,
        valign: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignTop,
    ) -> None:
        """One line of text in the box (x, y, w, h); too long a line is elided in the middle."""
        if self._measuring:
            return
        p = self.p
        p.setFont(self.font(size, bold, mono, italic))
        p.setPen(color)
        fm = self.metrics(size, bold, mono, italic)
        s = fm.elidedText(s, Qt.TextElideMode.ElideMiddle, w * self.k)
        p.drawText(self.r(x, y, w, h), int(align) | int(valign), s)
        if s:
            tw = min(w, fm.horizontalAdvance(s) / self.k)
            tx = x + (w - tw if align == RIGHT else (w - tw) / 2 if align == CENTRE else 0.0)
            self.boxes.append(Box(self.page, self._kind, tx, y, tw, fm.height() / self.k, s))

    def lines(
        self,
        lines: Sequence[str],
        x: float,
        y: float,
        w: float,
        size: float = 9.0,
        bold: bool = False,
        color: QColor = INK,
        mono: bool = False,
        italic: bool = False,
    ) -> float:
        """Draw already-wrapped lines at (x, y) without paginating; returns their height."""
        lh = self.line_height(size, bold, mono)
        for i, line in enumerate(lines):
            self.text(x, y + i * lh, w, lh, line, size, bold, color, mono=mono, italic=italic)
        return lh * len(lines)

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
        keep: int = 2,
    ) -> None:
        """Flowing text at the cursor, paginated line by line (at least ``keep`` lines together)."""
        x = self.left if x is None else x
        w = self.width if w is None else w
        lines = self.wrap(s, w, size, bold, italic=italic)
        lh = self.line_height(size, bold)
        self.ensure(lh * min(keep, len(lines)))
        for line in lines:
            self.ensure(lh)
            self.text(x, self.y, w, lh, line, size, bold, color, italic=italic)
            self.y += lh
        self.y += gap

    # -- shapes -------------------------------------------------------------------------------------
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
        if self._measuring:
            return
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
        if self._measuring:
            return
        self.p.setPen(QPen(color, width * self.k))
        x0 = self.left if x0 is None else x0
        x1 = self.right if x1 is None else x1
        self.p.drawLine(QPointF(x0 * self.k, y * self.k), QPointF(x1 * self.k, y * self.k))

    def vline(self, x: float, y0: float, y1: float, color: QColor = MUTED, width: float = 0.4) -> None:
        if self._measuring:
            return
        self.p.setPen(QPen(color, width * self.k))
        self.p.drawLine(QPointF(x * self.k, y0 * self.k), QPointF(x * self.k, y1 * self.k))

    def image(self, x: float, y: float, w: float, h: float, arr: np.ndarray) -> None:
        if self._measuring:
            return
        self.boxes.append(Box(self.page, "image", x, y, w, h))
        if not self.dry:
            self.p.drawImage(self.r(x, y, w, h), qimage(arr))

    def bar(self, x: float, y: float, w: float, h: float, frac: float, colour: QColor) -> None:
        self.rect(x, y, w, h, QColor(233, 236, 239))
        if frac > 0:
            self.rect(x, y, max(0.6, w * min(1.0, frac)), h, colour)

    # -- composite elements -------------------------------------------------------------------------
    def section(self, title: str, need: float = 80.0) -> None:
        """A section heading; keeps ``need`` points of content with it on the page."""
        self.ensure(22 + need)
        if self.y > self.top + 1:
            self.y += 8
        self.text(self.left, self.y, self.width, 16, title, 11.5, bold=True, color=ACCENT)
        self.y += 16
        self.hline(self.y, ACCENT, 0.5)
        self.y += 7

    def key_values(
        self,
        rows: list[tuple[str, str]],
        x: float,
        w: float,
        key_w: float = 95,
        size: float = 8.5,
        mono_keys: tuple[str, ...] = (),
    ) -> float:
        """A two-column key/value block at the cursor, not paginated (callers ``ensure`` its
        :meth:`key_values_height` first); returns its height, cursor unchanged."""
        y = self.y
        lh = self.line_height(size)
        for k, v in rows:
            mono = k in mono_keys
            vlines = self.wrap(v, w - key_w, size, mono=mono)
            self.text(x, y, key_w - 6, lh, k, size, color=MUTED)
            self.lines(vlines, x + key_w, y, w - key_w, size, mono=mono)
            y += max(lh, self.line_height(size, mono=mono) * len(vlines)) + 1.5
        return y - self.y

    def key_values_height(
        self, rows: list[tuple[str, str]], w: float, key_w: float = 95, size: float = 8.5,
        mono_keys: tuple[str, ...] = (),
    ) -> float:  # fmt: skip
        """The height :meth:`key_values` takes: measured by running it (nothing drawn)."""
        with self.measuring():
            return self.key_values(rows, self.left, w, key_w, size, mono_keys)

    def key_values_flow(
        self, rows: list[tuple[str, str]], key_w: float = 95, size: float = 8.5,
        mono_keys: tuple[str, ...] = (),
    ) -> None:  # fmt: skip
        """Full-width key/value rows at the cursor, paginated between and within rows."""
        lh = self.line_height(size)
        for k, v in rows:
            mono = k in mono_keys
            vlines = self.wrap(v, self.width - key_w, size, mono=mono)
            vh = self.line_height(size, mono=mono)
            self.ensure(max(lh, vh * min(2, len(vlines))))
            self.text(self.left, self.y, key_w - 6, lh, k, size, color=MUTED)
            for i, line in enumerate(vlines):
                if i:
                    self.ensure(vh)
                self.text(self.left + key_w, self.y, self.width - key_w, vh, line, size, mono=mono)
                self.y += vh
            self.y += 1.5

    def table(
        self,
        columns: list[tuple[str, float, Qt.AlignmentFlag]],
        rows: list[list[str]],
        size: float = 8.0,
        row_h: float = 13.0,
        styles: list[dict] | None = None,
        cell_painter: Callable[[int, int, float, float, float, float], bool] | None = None,
        wrap_cols: tuple[int, ...] = (),
        x: float | None = None,
        w: float | None = None,
    ) -> None:
        """A striped table at the cursor; widths are fractions of ``w`` (the text width); the
        header repeats on every page. Cells in ``wrap_cols`` wrap onto more lines (the row grows);
        the others are single lines, elided in the middle when too long."""
        x0 = self.left if x is None else x
        tw = self.width if w is None else w
        xs = [x0]
        for _, frac, _ in columns:
            xs.append(xs[-1] + frac * tw)
        lh = self.line_height(size)

        def header() -> None:
            self.rect(x0, self.y, tw, row_h + 1, QColor(222, 229, 238))
            for c, (title, _, align) in enumerate(columns):
                self.text(xs[c] + 3, self.y + 2, xs[c + 1] - xs[c] - 6, row_h, title, size,
                          bold=True, align=align)  # fmt: skip
            self.y += row_h + 1

        self.ensure(2 * row_h + 2)
        header()
        for i, row in enumerate(rows):
            st = styles[i] if styles else {}
            cells = [
                self.wrap(cell, xs[c + 1] - xs[c] - 6, size, st.get("bold", False))
                if c in wrap_cols
                else [cell]
                for c, cell in enumerate(row)
            ]
            rh = max(row_h, max(len(ls) for ls in cells) * lh + (row_h - lh))
            if self.y + rh > self.bottom:
                self.new_page()
                header()
            if i % 2 == 1:
                self.rect(x0, self.y, tw, rh, ZEBRA)
            for c, (lines, (_, _, align)) in enumerate(zip(cells, columns, strict=True)):
                cx, cw = xs[c] + 3, xs[c + 1] - xs[c] - 6
                if cell_painter is not None and cell_painter(i, c, cx, self.y, cw, row_h):
                    continue
                colour = st.get("colors", {}).get(c, st.get("color", INK))
                for j, line in enumerate(lines):
                    self.text(cx, self.y + 2 + j * lh, cw, lh, line, size,
                              bold=st.get("bold", False), color=colour, align=align)  # fmt: skip
            self.y += rh
        self.hline(self.y, RULE, 0.5, x0, x0 + tw)
        self.y += 4

    def scale_bar(self, x: float, y: float, w: float, h: float, pic: Picture, small: bool = False) -> None:
        """A calibrated scale bar in the bottom-left corner of a picture drawn at (x, y, w, h)."""
        fs = 6.0 if small else 7.0
        width_m = pic.width_m
        if not width_m:
            bw = self.text_width(NOT_CALIBRATED, fs) + 8  # the metadata views' wording
            self.rect(x + 3, y + h - 14, bw, 11, QColor(0, 0, 0, 150), radius=2)
            self.text(x + 3, y + h - 13.5, bw, 10, NOT_CALIBRATED, fs, color=WHITE, align=CENTRE)
            return
        length_m = nice_length(width_m * (0.3 if small else 0.22))
        bar = w * length_m / width_m
        label = format_length(length_m)
        box_w = max(bar, self.text_width(label, fs, bold=True) + 2) + 10
        bh = 15.0 if small else 18.0
        self.rect(x + 3, y + h - bh - 3, box_w, bh, QColor(0, 0, 0, 150), radius=2)
        self.rect(x + 8, y + h - 9, bar, 2.4, WHITE)
        self.text(x + 3, y + h - bh - 2.5, box_w, 9, label, fs, bold=True, color=WHITE, align=CENTRE)

    def picture(
        self, x: float, y: float, w: float, pic: Picture, max_h: float | None = None,
        small_bar: bool = False,
    ) -> tuple[float, float]:  # fmt: skip
        """Draw a picture ``w`` wide (or shrunk to ``max_h``) with its scale bar; returns (w, h)."""
        ph, pw = pic.pixels.shape[:2]
        h = w * ph / pw
        if max_h is not None and h > max_h:
            h = max_h
            w = h * pw / ph
        self.image(x, y, w, h, pic.pixels)
        self.rect(x, y, w, h, stroke=RULE, width=0.5)
        self.scale_bar(x, y, w, h, pic, small=small_bar)
        return w, h

    def colour_bar(self, x: float, y: float, w: float, caption: str) -> float:
        """The CAM colour scale (the viewer's default colormap); returns its height."""
        lut = colormap_lut(DEFAULT_CAM_COLORMAP, 256)[None, :, :].repeat(8, axis=0)
        self.image(x, y, w, 7, lut)
        self.rect(x, y, w, 7, stroke=RULE, width=0.4)
        for frac, lab in ((0.0, "0 (low)"), (0.5, "0.5"), (1.0, "1 (high)")):
            tx = x + frac * w
            self.vline(tx, y + 7, y + 9.5)
            self.text(tx - 25, y + 9.5, 50, 9, lab, 6.5, color=MUTED, align=CENTRE)
        self.text(x - 40, y + 18, w + 80, 10, caption, 7, color=MUTED, align=CENTRE)
        return 30.0

    def note_box(self, text: str, size: float = 9.0, bold: bool = True, fill: QColor = WARN_BG,
                 edge: QColor = WARN_EDGE, ink: QColor = WARN_INK) -> None:  # fmt: skip
        """A tinted box of wrapped text at the cursor (kept on one page)."""
        lines = self.wrap(text, self.width - 24, size, bold)
        h = self.line_height(size, bold) * len(lines) + 14
        self.ensure(h + 10)
        self.y += 4
        self.rect(self.left, self.y, self.width, h, fill, stroke=edge, radius=3)
        self.lines(lines, self.left + 12, self.y + 7, self.width - 24, size, bold, ink)
        self.y += h + 6
