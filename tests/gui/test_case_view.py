"""The case view (issue 25): a case folder opened in the window shows every placed frame's
outline in its mechanism's colour, lists the unplaced ones, opens a frame on click; a hand drag
places a frame and survives a restart; annotations are added, edited and deleted with the mouse;
the frames are analysed in the background with progress and cancel; the case report exports.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import write_textured_tiff
from PySide6.QtCore import QEvent, QPointF, QSettings, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from fractoscope.gui.main_window import MainWindow
from fractoscope.gui.settings import AppSettings

UM_PER_PX = 4.0
OVERVIEW_SHAPE = (500, 700)
# One colour per class (fractoscope.imaging.display): Tableau 10 in the order of the model's
# taxonomy; the bundled card lists brittle overload, corrosion, ductile overload, fatigue, wear.
BLUE, GREEN, PURPLE = (31, 119, 180), (44, 160, 44), (148, 103, 189)
MECHANISM_RGB = {"brittle_overload": BLUE, "corrosion": (255, 127, 14), "ductile_overload": GREEN,
                 "fatigue": PURPLE, "wear": (214, 39, 40)}
FRAMES = {
    # name: (placement or None, result or None, expected colour)
    "a_fatigue.tif": ((200, 200, 80, 60, 0.0), {"level1": "fatigue", "level2": "striations", "uncertain": False,
                                               "calibrated": 0.93, "reason": ""}, PURPLE),
    "b_ductile.tif": ((480, 300, 90, 90, 30.0), {"level1": "ductile_overload", "level2": "equiaxed_dimples",
                                                 "uncertain": False, "calibrated": 0.88, "reason": ""}, GREEN),
    "c_brittle.tif": ((350, 120, 120, 80, -15.0), {"level1": "brittle_overload", "level2": "cleavage",
                                                   "uncertain": True, "calibrated": 0.52, "reason": "low confidence"},
                      BLUE),
    "d_unplaced.tif": (None, None, None),
}


def _overview(path: Path) -> None:
    import tifffile
    from scipy.ndimage import gaussian_filter

    img = gaussian_filter(np.random.default_rng(1).random(OVERVIEW_SHAPE), 3.0)
    img = (img - img.min()) / np.ptp(img)
    tifffile.imwrite(path, (60 + 120 * img).astype(np.uint8), imagej=True,
                     resolution=(1 / UM_PER_PX, 1 / UM_PER_PX), metadata={"unit": "um"})  # fmt: skip


@pytest.fixture
def case_folder(tmp_path: Path) -> Path:
    """A hand-made case: frames without stage metadata, three placed by hand (with results),
    one not placed. The overview has the widest field of view (2.8 mm)."""
    from fractoscope.case.model import Placement, load_case, save_case

    folder = tmp_path / "case"
    folder.mkdir()
    _overview(folder / "overview.tif")
    for i, name in enumerate(FRAMES):
        write_textured_tiff(folder / name, seed=i)
    case, _ = load_case(folder)
    assert case.overview.name == "overview.tif"
    for f in case.frames:
        pl, res, _ = FRAMES[f.name]
        f.placement = Placement(*pl, "hand") if pl else None
        f.result = dict(res) if res else None
    save_case(case)
    return folder


def _settings(path: Path) -> AppSettings:
    return AppSettings(QSettings(str(path), QSettings.Format.IniFormat))


def _open(qtbot, settings_path: Path, folder: Path, **kw) -> MainWindow:
    w = MainWindow(_settings(settings_path), auto_analyse=False, **kw)
    qtbot.addWidget(w)
    w.resize(1500, 950)
    w.show()
    qtbot.waitExposed(w)
    with qtbot.waitSignal(w.case.shown, timeout=60_000):
        w.open_paths([folder])
    qtbot.wait(50)
    return w


def _send(widget, kind, pos: QPointF, button=Qt.MouseButton.LeftButton, buttons=Qt.MouseButton.LeftButton,
          mods=Qt.KeyboardModifier.NoModifier) -> None:  # fmt: skip
    ev = QMouseEvent(kind, QPointF(pos), widget.mapToGlobal(QPointF(pos)), button, buttons, mods)
    QApplication.sendEvent(widget, ev)


def _drag(qtbot, view, p0: QPointF, p1: QPointF, mods=Qt.KeyboardModifier.NoModifier, steps: int = 8) -> None:
    """A real mouse drag on the map (press, moves with the button held, release)."""
    vp = view.map.viewport()
    _send(vp, QEvent.Type.MouseButtonPress, p0, mods=mods)
    for k in range(1, steps + 1):
        qtbot.wait(25)  # pyqtgraph drops move events closer together than its rate limit
        _send(vp, QEvent.Type.MouseMove, p0 + (p1 - p0) * (k / steps), Qt.MouseButton.NoButton, mods=mods)
    qtbot.wait(25)
    _send(vp, QEvent.Type.MouseButtonRelease, p1, buttons=Qt.MouseButton.NoButton, mods=mods)
    qtbot.wait(30)


def _click(qtbot, view, p: QPointF, double: bool = False) -> None:
    vp = view.map.viewport()
    _send(vp, QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)
    qtbot.wait(30)
    _send(vp, QEvent.Type.MouseButtonPress, p)
    _send(vp, QEvent.Type.MouseButtonRelease, p, buttons=Qt.MouseButton.NoButton)
    if double:
        _send(vp, QEvent.Type.MouseButtonDblClick, p)
        _send(vp, QEvent.Type.MouseButtonRelease, p, buttons=Qt.MouseButton.NoButton)
    qtbot.wait(30)


def _case_json(folder: Path) -> dict:
    return json.loads((folder / "case.json").read_text(encoding="utf-8"))


def _json_placement(folder: Path, name: str) -> dict | None:
    return next(e["placement"] for e in _case_json(folder)["frames"] if e["path"] == name)


def test_case_opens_with_outlines_colours_legend_and_unplaced(qtbot, settings_path, case_folder) -> None:
    w = _open(qtbot, settings_path, case_folder)
    view = w.case.view
    assert w.case.dock.isVisible()
    placed = {n for n, (pl, _, _) in FRAMES.items() if pl}
    assert set(view.frame_items) == placed
    for name in placed:
        pl, res, colour = FRAMES[name]
        item = view.frame_items[name]
        c = item.colour
        assert (c.red(), c.green(), c.blue()) == colour, name
        assert item.uncertain == res["uncertain"]
        # Drawn to scale and rotation: the item's corners are the placement's outline.
        x, y, fw, fh, rot = pl
        a = math.radians(rot)
        want = [(x + math.cos(a) * dx - math.sin(a) * dy, y + math.sin(a) * dx + math.cos(a) * dy)
                for dx, dy in ((-fw / 2, -fh / 2), (fw / 2, -fh / 2), (fw / 2, fh / 2), (-fw / 2, fh / 2))]  # fmt: skip
        assert np.allclose(item.corners(), want, atol=1e-6), name
    assert view.unplaced_names() == ["d_unplaced.tif"]
    legend = view.legend_entries()
    for text in ("Ductile overload", "Brittle overload", "Fatigue", "hatched: uncertain"):
        assert text in legend, legend
    # What is on screen: inside the fatigue frame (off its centre) the map is purple, inside the
    # ductile one green (a tint of the grey overview pointing to the colour's hue), outside grey.
    w.case.view.fit()
    qtbot.wait(50)
    img = view.map.grab().toImage()
    for (px, py), colour in (((185, 200), PURPLE), ((480, 280), GREEN)):
        p = view.view_point(px, py)
        dpr = img.devicePixelRatio()
        c = img.pixelColor(round(p.x() * dpr), round(p.y() * dpr))
        vals = np.array([c.red(), c.green(), c.blue()], float)
        hues = [np.array(h, float) for h in (BLUE, GREEN, PURPLE)]
        scores = [float(np.dot(vals - vals.mean(), h - h.mean()) / np.linalg.norm(h - h.mean())) for h in hues]
        assert (BLUE, GREEN, PURPLE)[int(np.argmax(scores))] == colour, (px, py, vals)
    p = view.view_point(60, 450)
    g = img.pixelColor(round(p.x()), round(p.y()))
    assert max(g.red(), g.green(), g.blue()) - min(g.red(), g.green(), g.blue()) < 10
    # Hovering (a real mouse move) shows the frame's result; its thumbnail follows from a worker.
    p = view.view_point(330, 120)
    for dx in (-6, 0):
        _send(view.map.viewport(), QEvent.Type.MouseMove, p + QPointF(dx, 0), Qt.MouseButton.NoButton,
              Qt.MouseButton.NoButton)  # fmt: skip
        qtbot.wait(40)
    assert view.hovered == "c_brittle.tif"
    assert "Brittle overload" in view.card_text.text() and "Uncertain: low confidence" in view.card_text.text()
    qtbot.waitUntil(lambda: "c_brittle.tif" in view.thumbs, timeout=20_000)
    # The File menu has both entries.
    file_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&File")
    texts = [a.text() for a in file_menu.actions()]
    assert "Open &case folder…" in texts and "Export &case report (PDF)…" in texts
    w.close()


def test_damaged_case_json_opens_with_one_line(qtbot, settings_path, case_folder) -> None:
    """A hand-edited case.json that is not JSON: one line naming it, the images still open (all
    unplaced), and the damaged file is not lost when the case is saved again."""
    (case_folder / "case.json").write_text('{"format": "fractoscope-case", "frames": [', encoding="utf-8")
    w = _open(qtbot, settings_path, case_folder)
    view = w.case.view
    assert "case.json" in w.last_error and "\n" not in w.last_error
    assert sorted(view.unplaced_names()) == sorted(FRAMES)
    with qtbot.waitSignal(w.case.saved, timeout=5000):
        view.place_by_hand("a_fatigue.tif")
    kept = [p for p in case_folder.iterdir() if p.name.startswith("case.json.")]
    assert any('"frames": [' in p.read_text(encoding="utf-8") for p in kept), kept
    w.close()


def test_hand_drag_and_rotation_survive_a_restart(qtbot, settings_path, case_folder) -> None:
    w = _open(qtbot, settings_path, case_folder)
    view = w.case.view
    item = view.frame_items["a_fatigue.tif"]
    # Drag from inside the frame, 100 screen px right and 40 down.
    start = view.view_point(185, 200)
    px_per_screen = view.vb.viewPixelSize()[0]
    with qtbot.waitSignal(w.case.saved, timeout=5000):
        _drag(qtbot, view, start, start + QPointF(100, 40))
    x, y, *_ = item.placement
    assert abs(x - (200 + 100 * px_per_screen)) < 2 * px_per_screen and abs(y - (200 + 40 * px_per_screen)) < 2 * px_per_screen
    saved = _json_placement(case_folder, "a_fatigue.tif")
    assert saved["placed_by"] == "hand" and abs(saved["x_px"] - x) < 1e-6 and abs(saved["y_px"] - y) < 1e-6
    assert (case_folder / "case.json.bak").is_file(), "the previous case.json is kept"
    # Turn it with the keyboard ("]" = 1 degree clockwise, Shift+"]" 15) while it is under the cursor.
    view.show_card("a_fatigue.tif")
    view.map.setFocus()
    QTest.keyClick(view.map, Qt.Key.Key_BracketRight)
    QTest.keyClick(view.map, Qt.Key.Key_BracketRight, Qt.KeyboardModifier.ShiftModifier)
    assert abs(item.rotation() - 16.0) < 1e-6
    # Shift+drag turns it about its centre: a quarter turn around the centre.
    c = view.view_point(*item.placement[:2])
    r = 15.0  # screen px: inside the frame (about 22 overview px from its centre)
    with qtbot.waitSignal(w.case.saved, timeout=5000):
        _drag(qtbot, view, c + QPointF(r, 0), c + QPointF(0, r), Qt.KeyboardModifier.ShiftModifier, steps=12)
    assert abs(item.rotation() - (16.0 + 90.0)) < 3.0, item.rotation()
    assert abs(item.placement[0] - x) < 1e-6  # the centre did not move
    final = item.placement
    w.close()

    # Restart: a new window on the same settings and folder restores the hand placement.
    w2 = _open(qtbot, settings_path, case_folder)
    item2 = w2.case.view.frame_items["a_fatigue.tif"]
    assert np.allclose(item2.placement, final, atol=1e-6)
    assert w2.case.case.frame("a_fatigue.tif").placement.placed_by == "hand"
    assert w2.settings.q.value("case/last_folder") == str(case_folder)
    w2.close()


def test_unplaced_frame_is_placed_by_hand(qtbot, settings_path, case_folder) -> None:
    w = _open(qtbot, settings_path, case_folder)
    view = w.case.view
    it = view.unplaced.item(0)
    with qtbot.waitSignal(w.case.saved, timeout=5000):
        view.unplaced.itemDoubleClicked.emit(it)
    assert "d_unplaced.tif" in view.frame_items and view.unplaced_names() == []
    saved = _json_placement(case_folder, "d_unplaced.tif")
    # Its size comes from its pixel size (50 nm x 256 px) over the overview's (4 um).
    assert saved["placed_by"] == "hand" and abs(saved["width_px"] - 256 * 0.05 / UM_PER_PX) < 1e-6
    w.close()


def test_click_opens_the_frame_in_the_viewer(qtbot, settings_path, case_folder) -> None:
    w = _open(qtbot, settings_path, case_folder)
    view = w.case.view
    with qtbot.waitSignal(w.imageLoaded, timeout=30_000) as sig:
        _click(qtbot, view, view.view_point(490, 300))
    assert Path(sig.args[0].path).name == "b_ductile.tif"
    w.close()


def test_annotations_added_edited_deleted_with_the_mouse(qtbot, settings_path, case_folder) -> None:
    w = _open(qtbot, settings_path, case_folder)
    view = w.case.view
    answers = iter(["origin", "crack growth", "fatigue zone", "fatigue (beach marks)"])
    view.ask_label = lambda kind, current="": next(answers)
    view.tool_actions["origin"].trigger()
    _click(qtbot, view, view.view_point(100, 250))
    view.tool_actions["arrow"].trigger()
    _drag(qtbot, view, view.view_point(120, 250), view.view_point(400, 260))
    view.tool_actions["zone"].trigger()
    for q in ((90, 90), (320, 90), (320, 420)):
        _click(qtbot, view, view.view_point(*q))
    _click(qtbot, view, view.view_point(90, 420), double=True)
    anns = _case_json(case_folder)["annotations"]
    assert [a["kind"] for a in anns] == ["origin", "arrow", "zone"]
    assert [a["label"] for a in anns] == ["origin", "crack growth", "fatigue zone"]
    assert np.allclose(anns[0]["points"][0], (100, 250), atol=1.5)
    assert np.allclose(anns[1]["points"], [(120, 250), (400, 260)], atol=1.5)
    assert len(anns[2]["points"]) >= 3 and np.allclose(anns[2]["points"][0], (90, 90), atol=1.5)
    assert view.vb.tool is None  # the tool is left after each annotation
    # Double-click the zone's edge to edit its label, then select the arrow and delete it.
    _click(qtbot, view, view.view_point(205, 90), double=True)
    assert _case_json(case_folder)["annotations"][2]["label"] == "fatigue (beach marks)"
    _click(qtbot, view, view.view_point(300, 257))
    assert view.selected is not None and view.selected.kind == "arrow"
    view.map.setFocus()
    QTest.keyClick(view.map, Qt.Key.Key_Delete)
    assert [a["kind"] for a in _case_json(case_folder)["annotations"]] == ["origin", "zone"]
    w.close()


def test_keys_and_tile_map_setting(qtbot, settings_path, case_folder) -> None:
    w = _open(qtbot, settings_path, case_folder)
    view = w.case.view
    view.map.setFocus()
    r0 = view.vb.viewRect()
    QTest.keyClick(view.map, Qt.Key.Key_Plus)
    assert view.vb.viewRect().width() < 0.8 * r0.width()  # zoomed in (not the main viewer)
    QTest.keyClick(view.map, Qt.Key.Key_F)
    assert abs(view.vb.viewRect().width() - r0.width()) < 0.02 * r0.width()
    # The tile-map toggle is remembered (turned off again before the overview is analysed).
    with qtbot.waitSignal(view.tileMapWanted, timeout=2000):
        QTest.keyClick(view.map, Qt.Key.Key_M)
    assert view.act_tiles.isChecked() and w.case._setting_bool("case/show_tile_map", False) is True
    w.case.cancel()
    QTest.keyClick(view.map, Qt.Key.Key_M)
    assert w.case._setting_bool("case/show_tile_map", True) is False
    w.close()


def test_analysis_with_progress_cancel_and_report(qtbot, settings_path, case_folder, tmp_path) -> None:
    """Analyse a case whose frames have no results yet: progress, then colours from the model's
    results (kept in the batch store and case.json); a second run can be cancelled; the report
    exports from the view."""
    from fractoscope.case.analyse import results_dir

    data = _case_json(case_folder)
    for e in data["frames"]:
        e["result"] = None
    (case_folder / "case.json").write_text(json.dumps(data), encoding="utf-8")
    w = _open(qtbot, settings_path, case_folder, device="cpu")
    view = w.case.view
    assert all(not it.analysed for it in view.frame_items.values())
    progress = []
    w.case.analysis.progress.connect(lambda f, t: progress.append(f))
    with qtbot.waitSignal(w.case.analysis.finished, timeout=300_000):
        view.act_analyse.trigger()
        assert view.act_cancel.isEnabled()
    assert progress, "progress was reported"
    colours = MECHANISM_RGB
    saved = {e["path"]: e["result"] for e in _case_json(case_folder)["frames"]}
    for name, item in view.frame_items.items():
        res = saved[name]
        assert res and res["level1"], name
        c = colours[res["level1"]]
        assert (item.colour.red(), item.colour.green(), item.colour.blue()) == tuple(c)
    assert (results_dir(w.case.case) / "results.jsonl").is_file()
    assert view.tile_item.image is None  # the overview is classified only when its map is wanted
    # Turning the tile map on classifies the overview (the frames are reused from the store).
    with qtbot.waitSignal(w.case.analysis.finished, timeout=300_000):
        view.act_tiles.setChecked(True)
    assert view.tile_item.isVisible() and view.tile_item.image is not None
    assert view.tile_classes and set(view.tile_classes) <= set(colours)
    view.act_tiles.setChecked(False)

    # A new frame: analysing again only does that one; cancel it at once.
    shutil.copy(case_folder / "a_fatigue.tif", case_folder / "e_new.tif")
    with qtbot.waitSignal(w.case.shown, timeout=60_000):
        w.case.open_case(case_folder)
    with qtbot.waitSignal(w.case.analysis.cancelled, timeout=120_000):
        view.act_analyse.trigger()
        qtbot.wait(10)
        view.map.setFocus()
        QTest.keyClick(view.map, Qt.Key.Key_Escape)
    assert not view.busy and not view.act_cancel.isEnabled()

    out = tmp_path / "case-report.pdf"
    w.case.start_report(out, None, "Letter")
    qtbot.waitUntil(out.exists, timeout=120_000)
    assert out.read_bytes()[:5] == b"%PDF-"
    assert not w.last_error, w.last_error
    w.close()


def test_closing_the_window_while_the_case_is_analysed(qtbot, settings_path, case_folder) -> None:
    """Closing mid-analysis cancels and joins the worker (no Qt object ever crosses to it)."""
    import threading

    data = _case_json(case_folder)
    for e in data["frames"]:
        e["result"] = None
    (case_folder / "case.json").write_text(json.dumps(data), encoding="utf-8")
    w = _open(qtbot, settings_path, case_folder, device="cpu")
    w.case.view.act_analyse.trigger()
    qtbot.waitUntil(lambda: any(t.name == "fractoscope-case-analysis" for t in threading.enumerate()), timeout=5000)
    qtbot.wait(300)
    w.close()
    # The join waits 10 s; a model still loading on a busy machine may finish a little later.
    qtbot.waitUntil(lambda: not any(t.name == "fractoscope-case-analysis" and t.is_alive()
                                    for t in threading.enumerate()), timeout=60_000)  # fmt: skip
    # What was done before the close is kept in the store and shown on reopening.
    w2 = _open(qtbot, settings_path, case_folder)
    assert w2.case.case is not None and w2.case.view.unplaced_names() == ["d_unplaced.tif"]
    w2.close()


def test_generated_case_placed_from_the_stage_and_back_to_stage(qtbot, settings_path, tmp_path) -> None:
    """A generated case (Thermo Fisher-style stage metadata): every frame with metadata is drawn
    where it was taken (case_truth.json, within 2 % of the overview's width), the one without is
    listed; a frame moved by hand goes back to its stage position from its menu."""
    from fractoscope.synth.case import generate_case

    folder = tmp_path / "bar"
    truth = generate_case(folder, seed=3, unplaced=1)
    (folder / "case.json").write_text("{}", encoding="utf-8")  # opened as a case from open_paths
    w = _open(qtbot, settings_path, folder)
    view = w.case.view
    width = truth["overview_size_px"][0]
    with_meta = [f for f in truth["frames"] if f["has_metadata"]]
    assert set(view.frame_items) == {f["path"] for f in with_meta}
    for f in with_meta:
        x, y, *_ = view.frame_items[f["path"]].placement
        assert math.hypot(x - f["x_px"], y - f["y_px"]) < 0.02 * width, f["path"]
    assert view.unplaced_names() == [f["path"] for f in truth["frames"] if not f["has_metadata"]]
    name = with_meta[0]["path"]
    item = view.frame_items[name]
    stage = item.placement
    start = view.view_point(*stage[:2])
    with qtbot.waitSignal(w.case.saved, timeout=5000):
        _drag(qtbot, view, start, start + QPointF(60, 0))
    assert _json_placement(folder, name)["placed_by"] == "hand"
    with qtbot.waitSignal(w.case.saved, timeout=5000):
        assert view.back_to_stage(name)
    assert np.allclose(item.placement, stage, atol=1e-6)
    assert _json_placement(folder, name)["placed_by"] == "stage"
    w.close()
