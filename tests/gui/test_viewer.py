"""Viewer pieces without the model: display helpers, linked panes, overlays, scale bars, settings."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from fractoscope.gui import display
from fractoscope.gui.settings import AppSettings
from fractoscope.gui.viewer.viewer import LinkedViewer


def test_scale_bar_lengths_are_1_2_5_and_fit():
    for px_m, max_px in [(5e-9, 160), (2.62e-6, 130), (74.43e-9, 33), (1e-4, 50)]:
        length_m, label, length_px = display.scale_bar(px_m, max_px)
        mant = length_m / 10 ** np.floor(np.log10(length_m))
        assert round(mant, 6) in (1, 2, 5)
        assert length_px <= max_px + 1e-6
        assert length_px > max_px / 2.5 - 1e-6  # the longest such bar, not a tiny one
        assert label.split()[-1] in ("nm", "µm", "mm")
    assert display.scale_bar(5e-9, 200)[1] == "1 µm"  # 200 px * 5 nm = 1 µm exactly
    assert display.scale_bar(2.62e-6, 100)[1] == "200 µm"
    with pytest.raises(ValueError):
        display.scale_bar(0, 100)


def test_tile_cells_partition_the_image():
    # 3 x 3 tiles of 100 px with stride 75 over a 250 x 250 image (25 % overlap)
    starts = [0, 75, 150]
    boxes = [(y, x, y + 100, x + 100) for y in starts for x in starts]
    cells = display.tile_cores(boxes, (250, 250))
    assert cells[0] == (0, 0, 87.5, 87.5)
    assert cells[4] == (87.5, 87.5, 162.5, 162.5)
    assert cells[8] == (162.5, 162.5, 250, 250)
    assert sum((y1 - y0) * (x1 - x0) for y0, x0, y1, x1 in cells) == 250 * 250


def test_levels_and_sampling():
    img = np.arange(100 * 100, dtype=np.uint16).reshape(100, 100)
    lo, hi = display.percentile_levels(img)
    assert 0 < lo < hi < 9999
    assert display.full_levels(img) == (0.0, 9999.0)
    flat = np.full((10, 10), 7, np.uint8)
    lo, hi = display.percentile_levels(flat)
    assert hi > lo
    m = np.array([[0.0, 1.0], [0.5, 0.25]], np.float32)
    assert display.sample_map(m, (100, 200), 150, 10) == 1.0
    assert display.sample_map(m, (100, 200), 10, 90) == 0.5
    assert display.sample_map(m, (100, 200), 250, 10) is None
    assert display.overlay_shape((4096, 2048)) == (1024, 512)
    assert display.overlay_shape((300, 200)) == (300, 200)
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 1] = 100
    assert display.display_array(rgb).shape == (4, 4)


@pytest.fixture
def viewer(qtbot):
    v = LinkedViewer()
    qtbot.addWidget(v)
    v.resize(1000, 600)
    v.show()
    qtbot.waitExposed(v)
    img = np.random.default_rng(0).integers(0, 4000, (300, 400)).astype(np.uint16)
    v.set_image(img, (0.0, 4000.0))
    return v


def _same_view(a, b, tol=1e-3):
    ca, cb = a.viewRect().center(), b.viewRect().center()
    za, zb = a.viewPixelSize()[0], b.viewPixelSize()[0]
    return abs(ca.x() - cb.x()) < 0.5 and abs(ca.y() - cb.y()) < 0.5 and abs(za / zb - 1) < tol


def test_zooming_one_pane_moves_the_other(viewer, qtbot):
    left, right = viewer.panes[0].vb, viewer.panes[1].vb
    assert _same_view(left, right)
    before = left.viewPixelSize()[0]
    right.scaleBy((0.5, 0.5))  # zoom in on the overlay pane
    right.translateBy(x=20, y=-10)
    qtbot.wait(10)
    assert left.viewPixelSize()[0] == pytest.approx(before / 2, rel=1e-3)
    assert _same_view(left, right)
    # and the other way round, through the viewer's own zoom (about the centre)
    viewer.zoom(2.0)
    assert right.viewPixelSize()[0] == pytest.approx(before / 4, rel=1e-3)
    assert _same_view(left, right)
    viewer.one_to_one()
    assert viewer.zoom_factor() == pytest.approx(1.0, rel=1e-3)
    assert _same_view(left, right)


def test_three_panes_and_overlay_toggles(viewer, qtbot):
    cam1 = np.linspace(0, 1, 30 * 40, dtype=np.float32).reshape(30, 40)
    cam2 = cam1[::-1].copy()
    viewer.set_cam(1, cam1, "Fatigue")
    viewer.set_cam(2, cam2, "Striations")
    viewer.set_level_visible(1, False)
    viewer.set_level_visible(2, True)
    assert viewer.drawn_overlays()[1] == [2]
    viewer.set_level_visible(1, True)
    assert viewer.drawn_overlays()[1] == [1, 2]
    viewer.set_three_panes(True)
    assert viewer.panes[2].isVisible()
    drawn = viewer.drawn_overlays()
    assert drawn[1] == [1] and drawn[2] == [2]
    assert _same_view(viewer.panes[0].vb, viewer.panes[2].vb)
    qtbot.wait(20)
    viewer.fit()
    for pane in viewer.panes:  # Fit shows the whole image in every pane, however narrow
        r = pane.vb.viewRect()
        assert r.left() <= 0 and r.top() <= 0 and r.right() >= 400 and r.bottom() >= 300
    # the overlay is stretched over the whole image although the map is smaller
    br = viewer.panes[1].overlays[1].mapRectToParent(viewer.panes[1].overlays[1].boundingRect())
    assert (br.width(), br.height()) == pytest.approx((400, 300))


def test_scale_bar_follows_zoom(viewer):
    viewer.set_pixel_size(50e-9)
    bar = viewer.panes[0].scale_bar
    label1, len1 = bar.label, bar.length_screen
    assert label1 and len1 > 0
    viewer.zoom(4.0)
    assert bar.label != label1  # a shorter physical length at higher zoom
    assert 0 < bar.length_screen <= bar.MAX_SCREEN_PX + 1
    viewer.set_pixel_size(None)
    assert not bar.isVisible()


def test_settings_round_trip(tmp_path):
    path = tmp_path / "s.ini"
    s = AppSettings(QSettings(str(path), QSettings.Format.IniFormat))
    assert s.theme == "dark" and s.device == "auto" and s.auto_analyse
    s.overlay_opacity = 0.3
    s.colormap = "viridis"
    s.device = "cpu"
    s.add_recent(tmp_path / "a.tif")
    s.add_recent(tmp_path / "b.tif")
    s.add_recent(tmp_path / "a.tif")
    s.set_splitter_sizes("main", [700, 300])
    s.sync()
    s2 = AppSettings(QSettings(str(path), QSettings.Format.IniFormat))
    assert s2.overlay_opacity == pytest.approx(0.3)
    assert s2.colormap == "viridis" and s2.device == "cpu"
    assert [p.rsplit("/", 1)[-1] for p in s2.recent_files] == ["a.tif", "b.tif"]
    assert s2.splitter_sizes("main") == [700, 300]
    s2.q.setValue("view/colormap", "no-such-map")
    assert s2.colormap == "inferno"


def test_large_image_pyramid_follows_zoom(qtbot):
    v = LinkedViewer()
    qtbot.addWidget(v)
    v.resize(900, 500)
    v.show()
    qtbot.waitExposed(v)
    img = np.zeros((2048, 2048), np.uint16)
    img[:, ::2] = 4000  # 1-pixel stripes: must average to grey when zoomed out, not alias
    v.set_image(img, (0.0, 4000.0))
    pane = v.panes[0]
    shown = pane.image_item.image
    assert shown.shape[0] < 2048  # fitted in a small pane: a coarser level
    assert np.allclose(shown, 2000.0)  # box-filtered, no false pattern
    r = pane.image_item.mapRectToParent(pane.image_item.boundingRect())
    assert (r.width(), r.height()) == pytest.approx((2048, 2048))
    v.one_to_one()
    assert pane.image_item.image.shape == (2048, 2048)
    assert v.panes[1].image_item.image.shape == (2048, 2048)
