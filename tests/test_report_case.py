"""The case report (issue 25): a map page with every placed frame drawn to scale in its
mechanism's colour, a summary table with positions from the origin, one page per frame; A4 and
Letter with nothing outside the page.

Checked on the PDF itself, read back with QtPdf (pdfium): its text, the boxes of its text lines,
and the pages rendered to pixels (a frame's fill colour where the placement puts it; no ink
outside the page margins).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PAGE_PT = {"A4": (595, 842), "Letter": (612, 792)}
MARGIN = 42.0  # the reports' page margin (pt)
UM_PER_PX = 4.0  # the overview's pixel size: 700 x 500 px = 2.8 x 2.0 mm
OVERVIEW_SHAPE = (500, 700)

# Hand placements (overview px) and hand-made results, by frame-name prefix.
PLACE = {
    "striations": (200, 200, 60, 60, 0.0),
    "equiaxed": (480, 300, 90, 90, 30.0),
    "cleavage": (350, 120, 120, 80, -15.0),
}
RESULTS = {
    "striations": {"level1": "fatigue", "level2": "striations", "uncertain": False, "calibrated": 0.93, "reason": ""},
    "equiaxed": {"level1": "ductile_overload", "level2": "equiaxed_dimples", "uncertain": False, "calibrated": 0.88, "reason": ""},
    "cleavage": {"level1": "brittle_overload", "level2": "cleavage", "uncertain": True, "calibrated": 0.52, "reason": "low confidence"},
}
ORIGIN = (150.0, 250.0)
# The bundled model's card lists its mechanisms alphabetically; one colour per class is Tableau 10
# in that order (fractoscope.imaging.display), the same in the viewer, the reports and the map.
MECHANISM_RGB = {
    "brittle_overload": (31, 119, 180), "corrosion": (255, 127, 14), "ductile_overload": (44, 160, 44),
    "fatigue": (148, 103, 189), "wear": (214, 39, 40),
}  # fmt: skip


def _closest_hue(rgb) -> str:
    """The mechanism whose colour's hue a grey-tinted sample points to (correlation of the
    colour channels about their mean)."""
    s = np.asarray(rgb, float) - np.mean(rgb)
    return max(MECHANISM_RGB, key=lambda k: float(np.dot(s, np.asarray(MECHANISM_RGB[k], float) - np.mean(MECHANISM_RGB[k]))
                                                 / (np.linalg.norm(np.asarray(MECHANISM_RGB[k], float) - np.mean(MECHANISM_RGB[k])) + 1e-9)))


def test_the_bundled_card_orders_mechanisms_alphabetically() -> None:
    import json

    card = json.loads((Path(__file__).resolve().parents[1] / "models" / "hffnet2d-v2.json").read_text())
    assert list(card["taxonomy"]["tree"]) == list(MECHANISM_RGB)


def _norm(s: str) -> str:
    return " ".join(s.replace("\u00a0", " ").split())


@pytest.fixture()
def app(qapp):
    return qapp


def _overview(path: Path, calibrated: bool = True) -> None:
    import tifffile
    from scipy.ndimage import gaussian_filter

    rows, cols = OVERVIEW_SHAPE
    img = gaussian_filter(np.random.default_rng(1).random((rows, cols)), 3.0)
    img = (img - img.min()) / np.ptp(img)
    data = (60 + 120 * img).astype(np.uint8)  # mid grey: a class colour over it stays visible
    if calibrated:
        tifffile.imwrite(path, data, imagej=True, resolution=(1 / UM_PER_PX, 1 / UM_PER_PX), metadata={"unit": "um"})
    else:
        tifffile.imwrite(path, data)


@pytest.fixture(scope="module")
def frames_src(tmp_path_factory) -> list[Path]:
    from fractoscope.synth import generate_dataset

    out = tmp_path_factory.mktemp("frames")
    return generate_dataset(
        out, per_class=1, seed=3, size=256, classes=["striations", "equiaxed_dimples", "cleavage", "shear_dimples"]
    )


def _make_case(folder: Path, frames_src: list[Path], calibrated: bool = True, annotate: bool = True):
    from fractoscope.case.model import Annotation, Placement, load_case, save_case

    folder.mkdir()
    _overview(folder / "overview.tif", calibrated)
    for p in frames_src:
        shutil.copy(p, folder / p.name)
    case, _ = load_case(folder)
    if not calibrated:  # the default is the widest calibrated field of view: choose it by hand
        case.set_overview(folder / "overview.tif")
    assert case.overview.name == "overview.tif"
    for f in case.frames:
        for key, (x, y, w, h, r) in PLACE.items():
            if f.path.name.startswith(key):
                f.placement = Placement(x, y, w, h, r, "hand")
                f.result = dict(RESULTS[key])
    if annotate:
        case.annotations = [
            Annotation("origin", [ORIGIN], "origin"),
            Annotation("arrow", [(170, 250), (420, 250)], "crack growth"),
            Annotation("zone", [(120, 120), (330, 100), (330, 400), (120, 390)], "fatigue zone"),
        ]
    case.notes = "Bolt from the flange joint."
    save_case(case)
    return load_case(folder)[0]  # as a reopened case: what case.json restores


def _pdf(path: Path):
    from PySide6.QtPdf import QPdfDocument

    doc = QPdfDocument()
    assert doc.load(str(path)) == QPdfDocument.Error.None_
    return doc


def _page_lines(doc, i: int) -> list[tuple[str, float, float, float, float]]:
    text = doc.getAllText(i).text()
    out = []
    for m in re.finditer(r"[^\r\n]+", text):
        r = doc.getSelectionAtIndex(i, m.start(), m.end() - m.start()).boundingRectangle()
        out.append((m.group(), r.left(), r.top(), r.right(), r.bottom()))
    return out


def _render(doc, i: int, scale: float = 2.0) -> np.ndarray:
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QImage

    s = doc.pagePointSize(i)
    img = doc.render(i, QSize(round(s.width() * scale), round(s.height() * scale)))
    img = img.convertToFormat(QImage.Format.Format_RGBA8888)  # pdfium leaves the paper transparent
    w, h = img.width(), img.height()
    arr = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * h).reshape(h, img.bytesPerLine())
    rgba = arr[:, : 4 * w].reshape(h, w, 4).astype(np.float32)
    a = rgba[..., 3:] / 255.0
    return np.round(rgba[..., :3] * a + 255.0 * (1 - a)).astype(np.uint8)  # on white paper


def assert_inside(doc, page: str) -> None:
    """Every text line and every painted pixel of every page lies inside the page margins."""
    w, h = PAGE_PT[page]
    scale = 2.0
    for i in range(doc.pageCount()):
        for text, left, top, right, bottom in _page_lines(doc, i):
            where = f"page {i + 1}: {text!r} at ({left:.0f}, {top:.0f})-({right:.0f}, {bottom:.0f})"
            assert left >= MARGIN - 2 and right <= w - MARGIN + 2, "off the page edge: " + where
            assert top >= MARGIN - 2 and bottom <= h - MARGIN + 2, "outside the page: " + where
        px = _render(doc, i, scale)
        ink = np.argwhere((px < 245).any(axis=2))
        assert len(ink), f"page {i + 1} is blank"
        (y0, x0), (y1, x1) = ink.min(axis=0) / scale, ink.max(axis=0) / scale
        assert x0 >= MARGIN - 2 and x1 <= w - MARGIN + 2, f"page {i + 1}: ink from x {x0:.0f} to {x1:.0f} pt"
        assert y0 >= MARGIN - 2 and y1 <= h - MARGIN + 2, f"page {i + 1}: ink from y {y0:.0f} to {y1:.0f} pt"


@pytest.mark.parametrize("page", ["A4", "Letter"])
def test_case_report_map_table_and_frames(tmp_path: Path, app, frames_src, page) -> None:
    from fractoscope.report.data import ReportMeta
    from fractoscope.report.pdf.case import case_report_pages, write_case_report

    case = _make_case(tmp_path / "case", frames_src)
    out = tmp_path / "case.pdf"
    meta = ReportMeta(title="Failure case report", sample_id="S-77", analyst="A. Fractographer", date="2026-12-06")
    canvas = case_report_pages(case, out, page, meta)
    assert not [p for p in tmp_path.iterdir() if p.name not in ("case", "case.pdf")], "no temporary file left"
    doc = _pdf(out)
    n = doc.pageCount()
    # The map and the 4-row table share page 1; then one page per frame (4 frames, 1 unplaced).
    assert n == 1 + 4
    for i in range(n):
        s = doc.pagePointSize(i)
        assert abs(s.width() - PAGE_PT[page][0]) < 2 and abs(s.height() - PAGE_PT[page][1]) < 2
    texts = [_norm(doc.getAllText(i).text()) for i in range(n)]
    first = texts[0]
    for needle in ("Fracture map", "S-77", "A. Fractographer", "overview.tif", "Bolt from the flange joint",
                   "Brittle overload", "Ductile overload", "Fatigue", "Cleavage", "Equiaxed dimples",
                   "origin", "crack growth", "fatigue zone", "uncertain (low confidence), 52 %", "93 %",
                   "shear_dimples_3_0.tif", "unplaced", "3 of 4 frames placed"):
        assert needle in first, needle
    # Positions in mm from the origin annotation, x right and y up, at 4 um per overview pixel.
    for key, (x, y, *_rest) in PLACE.items():
        dx, dy = (x - ORIGIN[0]) * UM_PER_PX / 1000, (ORIGIN[1] - y) * UM_PER_PX / 1000
        row = next(t for t in first.split(" ") if t.startswith(key))
        assert f"{row} {dx:+.2f} {dy:+.2f} hand" in first, (key, first)
    # One page per frame, in table order, each naming its frame and showing its result.
    names = sorted(p.name for p in frames_src)
    for k, name in enumerate(names, 1):
        assert f"Frame {k}: {name}" in texts[k], texts[k][:200]
    assert "not placed on the overview" in texts[names.index("shear_dimples_3_0.tif") + 1]
    assert "not analysed" in texts[names.index("shear_dimples_3_0.tif") + 1]
    assert_inside(doc, page)

    # The map: each analysed frame's fill is its mechanism's colour where its placement puts it.
    pics = [b for b in canvas.boxes if b.page == 1 and b.kind == "image"]
    mb = max(pics, key=lambda b: b.w * b.h)
    assert abs(mb.w / mb.h - OVERVIEW_SHAPE[1] / OVERVIEW_SHAPE[0]) < 0.01  # to scale
    px = _render(doc, 0, 2.0).astype(int)
    for key, (x, y, w, _h, _r) in PLACE.items():
        # A point inside the frame, off the number drawn at its centre: its tint over the grey
        # overview is its mechanism's hue, not another mechanism's.
        qx, qy = mb.x + (x - 0.3 * w) * mb.w / OVERVIEW_SHAPE[1], mb.y + y * mb.h / OVERVIEW_SHAPE[0]
        rgb = px[round(qy * 2) - 2 : round(qy * 2) + 3, round(qx * 2) - 2 : round(qx * 2) + 3].reshape(-1, 3).mean(0)
        assert _closest_hue(rgb) == RESULTS[key]["level1"], (key, rgb)
    # Outside every frame the overview stays grey.
    qx, qy = mb.x + 60 * mb.w / 700, mb.y + 450 * mb.h / 500
    rgb = px[round(qy * 2), round(qx * 2)]
    assert np.ptp(rgb) < 8, rgb
    doc.close()

    # write_case_report is the same report; an unknown page size is one clear error.
    from fractoscope.errors import FractoscopeError

    assert write_case_report(case, tmp_path / "again.pdf", "Letter") == tmp_path / "again.pdf"
    with pytest.raises(FractoscopeError, match="page size"):
        write_case_report(case, tmp_path / "bad.pdf", "A3")


def test_uncalibrated_overview_positions_in_pixels(tmp_path: Path, app, frames_src) -> None:
    """No pixel size on the overview and no origin marked: positions are overview pixels from
    its centre, and the report says so."""
    from fractoscope.report.pdf.case import write_case_report

    case = _make_case(tmp_path / "case", frames_src, calibrated=False, annotate=False)
    out = write_case_report(case, tmp_path / "u.pdf", "Letter")
    doc = _pdf(out)
    first = _norm(doc.getAllText(0).text())
    assert "x (px)" in first and "y (px)" in first
    assert "not calibrated (positions in overview pixels)" in first and "centre" in first
    assert "uncalibrated" not in first  # the metadata views' wording (io.describe), not a second one
    cx, cy = OVERVIEW_SHAPE[1] / 2, OVERVIEW_SHAPE[0] / 2
    x, y = PLACE["striations"][:2]
    assert f"{x - cx:+.0f} {cy - y:+.0f} hand" in first
    assert_inside(doc, "Letter")
    doc.close()


def test_frame_page_with_its_prediction(tmp_path: Path, app, frames_src) -> None:
    """A frame whose prediction is at hand gets the single-image report's answer box and image,
    worded as the CLI and the window word it."""
    from fractoscope.analysis import wording
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.io import read_sem
    from fractoscope.report.pdf.case import write_case_report

    case = _make_case(tmp_path / "case", frames_src)
    frame = next(f for f in case.frames if f.path.name.startswith("striations"))
    pred = Analyzer(device="cpu").analyze(read_sem(frame.path))
    out = write_case_report(case, tmp_path / "p.pdf", "A4", predictions={str(frame.path): pred})
    doc = _pdf(out)
    names = sorted(f.path.name for f in case.frames)
    page = _norm(doc.getAllText(names.index(frame.path.name) + 1).text())
    assert _norm(wording.headline(pred)) in page
    assert "Calibrated probability" in page and "SEM image" in page
    assert_inside(doc, "A4")
    doc.close()
