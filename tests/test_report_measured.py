"""Report boxes are measured, not re-added by hand (issue 27): ``Canvas.measuring`` lays content
out without drawing it, and the result box is exactly as tall as what it holds, on both branches
(a clear result, a flagged one with long warnings) and both paper sizes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PySide6.QtCore import QBuffer, QIODevice

from fractoscope.analysis.results import Confidence
from fractoscope.io import read_sem
from fractoscope.report import ReportMeta
from fractoscope.report.pdf import canvas as cv
from fractoscope.report.pdf.writer import image_report_pages

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "samples" / "cleavage_777_0.tif"


@pytest.fixture(scope="module")
def analysed():
    from fractoscope.analysis.pipeline import Analyzer

    sem = read_sem(SAMPLE)
    return sem, Analyzer(device="cpu").analyze(sem)


def _canvas(qapp) -> cv.Canvas:
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    c = cv.Canvas(buf, "A4", "t", "left", "right", "footer", None, False)
    c._buf = buf  # keep the device alive as long as the canvas
    return c


def test_measuring_draws_nothing_and_restores_the_cursor(qapp):
    c = _canvas(qapp)
    rows = [("Key", "a value long enough to wrap " * 6), ("Other", "short")]
    n, y = len(c.boxes), c.y
    with c.measuring():
        c.text(c.left, c.y, 100, 12, "invisible")
        c.y += 50
        h = c.key_values(rows, c.left, 200)
    assert len(c.boxes) == n and c.y == y
    assert c.key_values_height(rows, 200) == pytest.approx(h)
    drawn = c.key_values(rows, c.left, 200)  # drawn for real: the height measured, and boxes this time
    assert drawn == pytest.approx(h) and len(c.boxes) > n
    texts = [b for b in c.boxes[n:]]
    assert max(b.y + b.h for b in texts) <= y + h + 0.5
    with pytest.raises(RuntimeError), c.measuring():
        c.new_page()  # a measured height cannot span pages
    c.finish()


@pytest.mark.parametrize("page", ["A4", "Letter"])
@pytest.mark.parametrize("flagged", [False, True])
def test_result_box_holds_its_content_exactly(qapp, tmp_path, monkeypatch, analysed, page, flagged):
    sem, pred = analysed
    conf = Confidence(0.5, 6.0, True, "unlike the images the model was trained on") if flagged else Confidence(0.9, 1.0, False, "")
    pred = dataclasses.replace(pred, confidence=conf, warnings=["a warning long enough to wrap " * 8] * 2)
    rects = []
    real_rect = cv.Canvas.rect

    def rect(self, x, y, w, h, *a, **k):
        if not self.dry and not self._measuring:
            rects.append((self.page, x, y, w, h))
        return real_rect(self, x, y, w, h, *a, **k)

    monkeypatch.setattr(cv.Canvas, "rect", rect)
    c = image_report_pages(tmp_path / "r.pdf", sem, pred, ReportMeta(sample_id="S-1"), page)
    # The result box: the first full-width rectangle (its 4-pt accent bar follows it).
    box = next(r for r in rects if abs(r[3] - c.width) < 0.01 and r[4] > 40)
    pg, x, y, w, h = box
    inside = [b for b in c.boxes if b.page == pg and b.kind == "text" and y < b.y < y + h]
    assert inside and any("Warning:" in b.text for b in inside)
    top = min(b.y for b in inside)
    bottom = max(b.y + b.h for b in inside)
    assert top == pytest.approx(y + 8, abs=0.01)  # 8 pt of padding above the first line ...
    # ... and 6 below the last line's slot (a line's box is its font height, its slot the spacing)
    assert y + h - 6 - 3 <= bottom <= y + h - 6 + 0.01
