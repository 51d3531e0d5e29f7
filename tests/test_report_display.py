"""One owner for display pixels and colours (fractoscope.imaging.display): the viewer, the PDF
reports, batch PNGs and the model's preprocessing use the same luma, percentile stretch, block-mean
pyramid, CAM colormap and class colours. Each test compares two (or more) of those places with
values derived independently here, so they fail if one of them drifts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from fractoscope.imaging import display, normalize_contrast, to_float_grey  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REC709 = (0.2126, 0.7152, 0.0722)  # ITU-R BT.709 luma coefficients


def test_one_luma_for_preprocessing_viewer_and_reports() -> None:
    from fractoscope.gui import display as viewer_display

    # Left half black, right half white, one column pure red, one pure green.
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[:, 32:] = 255
    rgb[:, 10] = (255, 0, 0)
    rgb[:, 20] = (0, 255, 0)
    red, green = 255 * REC709[0], 255 * REC709[1]
    # Viewer: luma in the data's units.
    v = viewer_display.display_array(rgb)
    assert v[0, 10] == pytest.approx(red, abs=1e-3) and v[0, 20] == pytest.approx(green, abs=1e-3)
    # Preprocessing: the same luma, scaled 0..1 over the data range (black 0, white 255).
    g = to_float_grey(rgb)
    assert g[0, 10] == pytest.approx(REC709[0], abs=1e-6) and g[0, 20] == pytest.approx(REC709[1], abs=1e-6)
    # Reports and batch PNGs: the same luma through the display stretch (here 0..255 exactly).
    u = display.to_grey_u8(rgb)
    assert u[0, 10] == round(red) and u[0, 20] == round(green)


def test_one_percentile_stretch_for_preprocessing_viewer_and_reports() -> None:
    from fractoscope.gui import display as viewer_display

    rng = np.random.default_rng(3)
    img = rng.gamma(2.0, 600.0, size=(300, 400)).astype(np.uint16)  # 12-bit-ish detector data
    img[5, 5] = 65535  # a hot pixel must not squash the contrast
    lo, hi = np.percentile(img.astype(np.float64), [0.5, 99.5])  # independent reference
    assert viewer_display.percentile_levels(img) == pytest.approx((lo, hi))
    expected = np.clip((img - lo) / (hi - lo), 0, 1)
    # Preprocessing stretches the 0..1 grey; the same percentiles of the same pixels.
    assert np.abs(normalize_contrast(img) - expected).max() < 1e-5
    u8 = display.to_grey_u8(img)
    assert np.abs(u8.astype(float) - np.round(expected * 255)).max() <= 1


def test_one_block_mean_pyramid_for_viewer_and_reports() -> None:
    from fractoscope.gui import display as viewer_display

    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, size=(1100, 1300), dtype=np.uint8)
    # Independent 2 x 2 block mean (remainder row/column dropped).
    a = img[:1100, :1300].astype(np.float64)
    ref = (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) / 4
    levels = viewer_display.pyramid(img, min_side=300)
    assert len(levels) >= 2 and np.abs(levels[1] - ref).max() < 1e-4
    # The report's shrink by the same factor is the same block mean, rounded to uint8.
    small = display.shrink(img, 650)
    assert small.dtype == np.uint8 and small.shape == ref.shape
    assert np.abs(small.astype(float) - ref).max() <= 0.5 + 1e-6


def test_default_cam_colormap_is_the_viewers(qapp) -> None:
    """The PDF's colormap table matches the one pyqtgraph gives the viewer for the same name."""
    import pyqtgraph as pg

    from fractoscope.gui.settings import COLORMAPS

    assert COLORMAPS[0] == display.DEFAULT_CAM_COLORMAP  # the viewer's default setting
    ref = pg.colormap.get(display.DEFAULT_CAM_COLORMAP).getLookupTable(0.0, 1.0, 256, alpha=False)
    ours = display.colormap_lut(display.DEFAULT_CAM_COLORMAP, 256)
    assert np.abs(ours.astype(int) - ref.astype(int)).max() <= 2
    # Lightness rises monotonically (the reason for the choice; see imaging/display.py).
    luma = ours.astype(float) @ np.array(REC709)
    assert np.all(np.diff(luma) > -0.5)


def test_viewer_starts_with_the_default_colormap(qapp) -> None:
    from fractoscope.gui.viewer import LinkedViewer

    v = LinkedViewer()
    try:  # the colormap the viewer draws CAMs with, as a table, against the PDF's
        lut = v.colormap().getLookupTable(0.0, 1.0, 256, alpha=False)
    finally:
        v.deleteLater()
    ours = display.colormap_lut(display.DEFAULT_CAM_COLORMAP, 256)
    assert np.abs(ours.astype(int) - lut.astype(int)).max() <= 2


def test_pdf_colour_bar_shows_the_default_colormap(tmp_path: Path, qapp) -> None:
    """Rendered back from the PDF (pdfium), the colour bar's colours are the viewer's colormap."""
    import pyqtgraph as pg
    from PySide6.QtCore import QSize
    from PySide6.QtPdf import QPdfDocument

    from fractoscope.report.pdf.canvas import Canvas

    out = tmp_path / "bar.pdf"
    c = Canvas(str(out), "A4", "t", "", "", "", 1, False)
    x, y, w = c.left, c.top + 20, c.width
    c.colour_bar(x, y, w, "caption")
    c.finish()
    c.writer = None
    doc = QPdfDocument()
    assert doc.load(str(out)) == QPdfDocument.Error.None_
    scale = 2.0  # px per pt
    page = doc.pagePointSize(0)
    img = doc.render(0, QSize(int(page.width() * scale), int(page.height() * scale)))
    doc.close()
    ref = pg.colormap.get(display.DEFAULT_CAM_COLORMAP).getLookupTable(0.0, 1.0, 256, alpha=False)
    for frac in (0.1, 0.3, 0.5, 0.7, 0.9):
        px = img.pixelColor(int((x + frac * w) * scale), int((y + 3.5) * scale))
        expect = ref[round(frac * 255)].astype(int)
        got = np.array([px.red(), px.green(), px.blue()])
        assert np.abs(got - expect).max() <= 12, (frac, got, expect)


def test_class_colours_same_in_viewer_tile_grid_and_report(qtbot, tmp_path: Path) -> None:
    """After an analysis, every tile of the viewer's grid has the colour the PDF gives its class."""
    from PySide6.QtCore import QSettings

    from fractoscope.gui.main_window import MainWindow
    from fractoscope.gui.settings import AppSettings
    from fractoscope.report import ImageReport

    settings = AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    w = MainWindow(settings, auto_analyse=True)
    qtbot.addWidget(w)
    w.show()
    with qtbot.waitSignal(w.analysisFinished, timeout=300_000):
        w.open_paths([REPO / "resources" / "samples" / "intergranular_777_0.tif"])
    pred = w.result.prediction
    tax = pred.taxonomy
    by_name = {tax.display_name(k): k for k in tax.level1 + tax.level2}
    rep = ImageReport.build(w.sem, pred)
    grid = w.viewer.panes[1].tile_grid
    assert grid.tiles
    for t in grid.tiles:
        assert t.color.lower() == display.hex_colour(rep.colours[by_name[t.label]])
    # Distinct classes get distinct colours.
    assert len(set(rep.colours.values())) == len(rep.colours)
