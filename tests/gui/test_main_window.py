"""The main window end to end: real files, the real bundled model, simulated user input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtTest import QTest

from fractoscope.io import manual_calibration_path, read_sem


def _pane_point(pane, x: float, y: float) -> QPoint:
    """Widget (viewport) position of image pixel (x, y) in a pane."""
    return pane.mapFromScene(pane.vb.mapViewToScene(QPointF(x, y)))


def _pixels(qimage) -> np.ndarray:
    img = qimage.convertToFormat(qimage.Format.Format_RGBA8888)
    ptr = img.constBits()
    return np.frombuffer(ptr, np.uint8, img.sizeInBytes()).reshape(img.height(), img.bytesPerLine())[
        :, : img.width() * 4
    ].copy()


# ------------------------------------------------------------------------------------ opening files
def test_open_real_vendor_tiff_shows_image_and_info(make_window, open_and_wait, sem_tiff_dir):
    path = sem_tiff_dir / "rosettasciio" / "test_tiff_Zeiss_SEM_1k.tif"
    w = open_and_wait(make_window(), path)
    sem = read_sem(path)
    assert w.viewer.image_shape == sem.shape  # the image above the data bar
    assert w.viewer.image.shape[:2] == sem.shape
    info = w.info_panel
    assert info.value("Vendor") == "Zeiss"
    assert info.value("Pixel size") == "2.62 µm"
    assert "rows cropped" in info.value("Data bar")
    assert w.viewer.panes[0].scale_bar.label.endswith(("µm", "mm"))
    assert w.prediction_panel.prediction is None  # auto-analyse was off
    assert str(path.resolve()) in w.settings.recent_files


def test_corrupt_file_shows_error_and_window_stays_usable(make_window, qtbot, tmp_path, textured_tiff):
    w = make_window()
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00" + os.urandom(200))
    with qtbot.waitSignal(w.imageFailed, timeout=20_000):
        w.open_paths([bad])
    assert w.message_bar.isVisible()
    text = w.message_bar.text()
    assert text.count("broken.tif") == 1, text  # the file is named once
    assert text.startswith("Cannot open broken.tif: ") and "Traceback" not in text and "\n" not in text
    with qtbot.waitSignal(w.imageLoaded, timeout=20_000):
        w.open_paths([textured_tiff])
    assert w.viewer.image_shape == (256, 256)
    assert not w.message_bar.isVisible()


def test_drop_files_and_folder(make_window, qtbot, make_tiff, tmp_path):
    w = make_window()
    a, b = make_tiff("a.tif", seed=1), make_tiff("b.tif", seed=2)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(a)), QUrl.fromLocalFile(str(b))])
    ev = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(w.imageLoaded, timeout=20_000):
        w.dropEvent(ev)
    assert ev.isAccepted()
    assert w.image_list.count() == 2
    assert w.current_path == a
    with qtbot.waitSignal(w.imageLoaded, timeout=20_000):
        w.step_image(1)
    assert w.current_path == b

    folder = tmp_path / "folder"
    folder.mkdir()
    make_tiff("folder/c.tif", seed=3)
    make_tiff("folder/d.tif", seed=4)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    w.dropEvent(QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                           Qt.KeyboardModifier.NoModifier))
    # A folder is a batch job: its images become batch rows, not viewer list entries.
    assert w.tabs.currentWidget() is w.batch_tab
    assert sorted(Path(r.path).name for r in w.batch_panel.model.rows) == ["c.tif", "d.tif"]
    assert w.image_list.count() == 2 and not w.batch_panel.is_running


# ------------------------------------------------------------------------------------ analysis
def test_analysis_fills_prediction_panel_and_overlays(make_window, open_and_wait, qtbot, fractograph):
    w = open_and_wait(make_window(auto_analyse=True), fractograph, analyse=True)
    pred = w.result.prediction
    tax = pred.taxonomy
    names = w.prediction_panel.class_labels()
    assert sorted(names) == sorted(tax.display_name(c) for c in tax.level1 + tax.level2)
    panel = w.prediction_panel
    headline = panel.summary.text()  # the answer, or for a flagged result the "closest:" line
    assert tax.display_name(pred.level1.label) in headline
    assert tax.display_name(pred.level2.label).lower() in headline.lower()
    assert " %" not in headline and "\u00a0%" in headline  # a number never wraps away from its %
    # A flagged result is said on top ("Not recognised ..."), and its guess is not the big bold one.
    assert panel.banner.isVisible() == pred.confidence.uncertain
    assert panel.summary.font().bold() != pred.confidence.uncertain
    if pred.confidence.uncertain:
        assert panel.banner.text().startswith("Not recognised with confidence")
        assert headline.startswith("closest: ")
    assert w.model_panel.info.value("Model") == pred.model.name
    assert w.viewer.cams[2] is not None and w.viewer.cams[1] is not None

    # Toggling each level changes what is drawn (keys 1 and 2, as a user would).
    w.act_l1.setChecked(False)
    w.act_l2.setChecked(True)
    qtbot.wait(20)
    assert w.viewer.drawn_overlays()[1] == [2]
    shot_l2 = _pixels(w.viewer.panes[1].render_view())
    QTest.keyClick(w, Qt.Key.Key_1)
    assert w.act_l1.isChecked() and w.cb_l1.isChecked()
    assert w.viewer.drawn_overlays()[1] == [1, 2]
    QTest.keyClick(w, Qt.Key.Key_2)
    assert w.viewer.drawn_overlays()[1] == [1]
    shot_l1 = _pixels(w.viewer.panes[1].render_view())
    QTest.keyClick(w, Qt.Key.Key_1)
    assert w.viewer.drawn_overlays()[1] == []
    shot_none = _pixels(w.viewer.panes[1].render_view())
    assert not np.array_equal(shot_l2, shot_none)
    assert not np.array_equal(shot_l1, shot_none)
    assert not np.array_equal(shot_l1, shot_l2)

    # The tile grid shows each tile's level-2 class.
    w.act_tiles.setChecked(True)
    grid = w.viewer.panes[1].tile_grid
    assert grid.isVisible() and len(grid.tiles) == len(pred.tiles)
    assert {t.label for t in grid.tiles} <= {tax.display_name(c) for c in tax.level2}

    # Clicking any class shows that class's CAM, not the predicted one's.
    other = next(c for c in tax.level2 if c != pred.level2.label)
    item = w.prediction_panel.items[(2, other)]
    w.prediction_panel.tree.scrollToItem(item)  # rows are sorted by probability: it may be below the fold
    rect = w.prediction_panel.tree.visualItemRect(item)
    assert rect.isValid() and w.prediction_panel.tree.viewport().rect().contains(rect.center())
    QTest.mouseClick(w.prediction_panel.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert w.viewer.cam_labels[2] == tax.display_name(other)
    assert w.act_l2.isChecked()
    expected = pred.cam(2, other, shape=w.viewer.cams[2].shape)
    np.testing.assert_allclose(w.viewer.cams[2], expected)

    # Export view: PNG and TIFF with the overlay burned in, compared with the same view without
    # overlays (the grey image alone has R = G = B; the CAM colours do not).
    w.act_tiles.setChecked(False)  # the tile grid draws class colours of its own
    w.act_l1.setChecked(False)
    w.act_l2.setChecked(True)
    qtbot.wait(20)
    out_png = w.export_view(fractograph.parent / "view.png")
    out_tif = w.export_view(fractograph.parent / "view.tif")
    w.act_l2.setChecked(False)
    qtbot.wait(20)
    assert w.viewer.drawn_overlays()[1] == []
    plain = w.export_view(fractograph.parent / "plain.png")
    with_overlay, as_tiff, without = (np.asarray(Image.open(f).convert("RGB"), np.int16) for f in (out_png, out_tif, plain))
    assert with_overlay.shape == without.shape and with_overlay.shape[0] > 100
    np.testing.assert_array_equal(as_tiff, with_overlay)  # the same picture in both formats

    def coloured(a: np.ndarray) -> float:
        return float(((np.abs(a[..., 0] - a[..., 1]) > 8) | (np.abs(a[..., 1] - a[..., 2]) > 8)).mean())

    bare, tinted = coloured(without), coloured(with_overlay)
    assert bare < 0.005 and tinted > max(0.02, 10 * bare), (bare, tinted)


def test_cancel_stops_running_analysis(make_window, open_and_wait, qtbot, make_tiff):
    big = make_tiff("big.tif", size=1024)
    w = open_and_wait(make_window(), big)
    finished = []
    w.analysisFinished.connect(finished.append)
    with qtbot.waitSignal(w.analysis.progress, timeout=60_000,
                          check_params_cb=lambda f, msg: msg.startswith("tile")):
        w.analyse()
    assert w.cancel_button.isVisible()
    with qtbot.waitSignal(w.analysisCancelled, timeout=60_000):
        QTest.mouseClick(w.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.wait(50)
    assert not finished and w.result is None
    assert "cancelled" in w.prediction_panel.summary.text().lower()
    assert not w.analysis.busy and not w.cancel_button.isVisible()


def test_model_problem_shows_error_and_keeps_image(make_window, qtbot, tmp_path, textured_tiff):
    bad_model = tmp_path / "broken.safetensors"
    bad_model.write_bytes(b"not a checkpoint")
    w = make_window(auto_analyse=True, model_path=bad_model)
    with qtbot.waitSignal(w.analysisFailed, timeout=60_000):
        w.open_paths([textured_tiff])
    assert w.message_bar.text().startswith("Analysis failed:")
    assert "Traceback" not in w.message_bar.text()
    assert w.viewer.image_shape == (256, 256)  # what was shown stays shown
    assert w.result is None and not w.analysis.busy


# ------------------------------------------------------------------------------------ calibration
def test_cursor_readout_matches_calibration(make_window, open_and_wait, qtbot, textured_tiff):
    w = open_and_wait(make_window(), textured_tiff)
    pane = w.viewer.panes[0]
    QTest.mouseMove(pane.viewport(), _pane_point(pane, 100.5, 40.5))
    qtbot.waitUntil(lambda: "x_um" in w.cursor_readout, timeout=5000)
    r = w.cursor_readout
    assert r["x_px"] == pytest.approx(100.5, abs=0.6) and r["y_px"] == pytest.approx(40.5, abs=0.6)
    assert r["x_um"] == pytest.approx(r["x_px"] * 0.05, rel=1e-9)
    assert r["y_um"] == pytest.approx(r["y_px"] * 0.05, rel=1e-9)
    sem = read_sem(textured_tiff)
    assert r["value"] == float(sem.image[int(r["y_px"]), int(r["x_px"])])
    assert "µm" in w.cursor_label.text()
    # the crosshair is mirrored in the other pane
    other = w.viewer.panes[1]
    assert other.vline.isVisible() and other.vline.value() == pytest.approx(r["x_px"])
    assert other.hline.value() == pytest.approx(r["y_px"])


def test_set_scale_changes_and_persists_calibration(make_window, open_and_wait, qtbot, textured_tiff):
    w = open_and_wait(make_window(), textured_tiff)
    assert w.sem.calibration.source == "ImageJ"
    w.viewer.fit()
    QTest.keyClick(w, Qt.Key.Key_S)  # the Set scale tool
    assert w.act_set_scale.isChecked()
    pane = w.viewer.panes[0]
    vp = pane.viewport()
    p0, p1 = _pane_point(pane, 20, 200), _pane_point(pane, 220, 200)
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, p0)
    for k in range(1, 11):
        QTest.mouseMove(vp, p0 + (p1 - p0) * (k / 10))
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, p1)
    qtbot.waitUntil(lambda: w._scale_dialog is not None, timeout=5000)
    dlg = w._scale_dialog
    assert dlg.length_px == pytest.approx(200, rel=0.02)
    dlg.set_length(2, "µm")
    with qtbot.waitSignal(w.calibrationChanged, timeout=5000):
        dlg.accept()
    expected = 2e-6 / dlg.length_px
    cal = w.sem.calibration
    assert cal.source == "manual" and cal.pixel_size_x_m == pytest.approx(expected)
    assert w.viewer.panes[0].scale_bar.pixel_size_m == pytest.approx(expected)
    assert w.info_panel.value("Calibration") == "manual"
    assert not w.act_set_scale.isChecked()
    # saved as the I/O layer's sidecar, which read_sem applies
    assert manual_calibration_path(textured_tiff).is_file()
    again = read_sem(textured_tiff)
    assert again.calibration.source == "manual"
    assert again.calibration.pixel_size_x_m == pytest.approx(expected)


# ------------------------------------------------------------------------------------ settings
def test_settings_survive_restart(make_window, open_and_wait, qtbot, textured_tiff):
    w = open_and_wait(make_window(), textured_tiff)
    w.opacity_slider.setValue(30)
    w.cmap_combo.setCurrentText("viridis")
    w.act_l1.setChecked(True)
    w.act_three.setChecked(True)
    w.model_panel.device_combo.setCurrentIndex(w.model_panel.device_combo.findData("cpu"))
    w.set_theme("light")
    w.main_splitter.setSizes([900, 500])
    w.resize(1234, 789)
    qtbot.wait(20)
    sizes = w.main_splitter.sizes()
    geometry = w.saveGeometry()
    w.close()

    w2 = make_window(size=None)  # geometry comes from the settings
    # (the offscreen platform clamps restored geometry to its small virtual screen)
    assert w2.settings.saved_geometry() == geometry
    assert w2.opacity_slider.value() == 30 and w2.viewer.opacity == pytest.approx(0.3)
    assert w2.cmap_combo.currentText() == "viridis" and w2.viewer.cmap_name == "viridis"
    assert w2.act_l1.isChecked() and w2.act_three.isChecked()
    assert w2.service.device == "cpu"
    assert w2.settings.theme == "light" and w2.theme_actions["light"].isChecked()
    assert w2.settings.splitter_sizes("main") == sizes
    assert w2.settings.recent_files[0] == str(textured_tiff.resolve())
    assert w2.recent_menu.actions() and w2.settings.last_folder == str(textured_tiff.parent)
    w2.set_theme("dark")


# ------------------------------------------------------------------------------------ command line
def test_screenshot_command(tmp_path, fractograph, repo_root):
    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1",
               FRACTOSCOPE_SETTINGS_FILE=str(tmp_path / "cli-settings.ini"))
    env["PYTHONPATH"] = str(repo_root) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "fractoscope", str(fractograph), "--screenshot", str(out), "--size", "1200x800"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "propagateSizeHints" not in proc.stderr  # Qt's offscreen-platform noise is filtered
    from PySide6.QtGui import QImage

    img = QImage(str(out))
    assert (img.width(), img.height()) == (1200, 800)
    assert (tmp_path / "cli-settings.ini").is_file()  # its own settings, not the user's


def test_screenshot_command_missing_file(tmp_path, repo_root):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               FRACTOSCOPE_SETTINGS_FILE=str(tmp_path / "s.ini"))
    env["PYTHONPATH"] = str(repo_root) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "fractoscope", str(tmp_path / "nope.tif"), "--screenshot", str(tmp_path / "x.png")],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    assert "nope.tif" in proc.stderr and "Traceback" not in proc.stderr
