"""Failure cases (issue 25): placement from stage metadata, case.json, the CLI, generated cases.

Expected positions come from outside the code under test: the generator's truth file (where it
took each frame) and, for a case built here, crops cut from one surface at known offsets with the
FEI tag text written by hand below (not by fractoscope's writer).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import tifffile

from fractoscope.case.layout import ImageGeometry, place_frames, stage_placement
from fractoscope.case.model import (
    BACKUP_FILE,
    CASE_FILE,
    DAMAGED_FILE,
    Annotation,
    Placement,
    load_case,
    save_case,
)
from fractoscope.cli import main
from fractoscope.io import StagePosition
from fractoscope.synth.case import TRUTH_FILE, generate_case


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("case") / "bar"
    truth = generate_case(out, seed=3, unplaced=1)
    return out, truth


def _copy_case(src, dst):
    dst.mkdir()
    for p in src.iterdir():
        if p.is_file():
            (dst / p.name).write_bytes(p.read_bytes())
    return dst


def _within(frame, t, tol):
    p = frame.placement
    return math.hypot(p.x_px - t["x_px"], p.y_px - t["y_px"]) <= tol


def test_generated_case_frames_land_where_they_were_taken(generated):
    folder, truth = generated
    case, warnings = load_case(folder)
    assert case.overview.name == "overview.tif"  # the widest field of view
    tol = 0.02 * truth["overview_size_px"][0]
    by_name = {t["path"]: t for t in truth["frames"]}
    placed = [f for f in case.frames if by_name[f.name]["has_metadata"]]
    assert len(placed) == 14
    for f in placed:
        t = by_name[f.name]
        assert f.placement is not None and f.placement.placed_by == "stage", f.name
        assert _within(f, t, tol), (f.name, f.placement, t)
        assert f.placement.width_px == pytest.approx(t["width_px"], rel=0.02)
        assert f.placement.rotation_deg == pytest.approx(t["rotation_deg"], abs=0.5)
    # the generator turned some frames by stage rotation and some by scan rotation
    assert any(t["stage_r_deg"] for t in truth["frames"]) and any(t["scan_rotation_deg"] for t in truth["frames"])
    # the frame without metadata is listed, unplaced, with one warning line naming it
    nometa = case.frame("frame_nometa_01.tif")
    assert nometa is not None and nometa.placement is None
    assert [w for w in warnings if "frame_nometa_01.tif" in w and "unplaced" in w]


def test_cli_json_lists_unplaced_frame_with_nulls(generated, tmp_path, capsys):
    folder, truth = _copy_case(generated[0], tmp_path / "j"), generated[1]
    rc = main(["case", str(folder), "--json", "--no-analyse", "-q"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"overview", "frames"}
    assert data["overview"].endswith("overview.tif")
    keys = {"path", "x_px", "y_px", "width_px", "height_px", "rotation_deg", "placed_by",
            "level1", "level2", "uncertain"}
    by_name = {t["path"]: t for t in truth["frames"]}
    for fr in data["frames"]:
        assert set(fr) == keys
        t = by_name[fr["path"].rsplit("/", 1)[-1]]
        if t["has_metadata"]:
            assert fr["placed_by"] == "stage"
            assert math.hypot(fr["x_px"] - t["x_px"], fr["y_px"] - t["y_px"]) < 0.02 * 1024
        else:
            assert fr["placed_by"] is None
            assert all(fr[k] is None for k in ("x_px", "y_px", "width_px", "height_px", "rotation_deg"))


# --- a case built outside the generator: crops of one surface, FEI text written by hand --------


def _fei_text(px_m: float, w: int, h: int, x_m: float, y_m: float, r_rad: float = 0.0) -> str:
    return (
        "[User]\r\nDate=01/02/2025\r\n\r\n"
        "[Beam]\r\nHV=10000\r\nScanRotation=0\r\n\r\n"
        f"[Scan]\r\nPixelWidth={px_m!r}\r\nPixelHeight={px_m!r}\r\n\r\n"
        f"[Stage]\r\nStageX={x_m!r}\r\nStageY={y_m!r}\r\nStageZ=0.01\r\nStageR={r_rad!r}\r\nStageT=0\r\n\r\n"
        f"[Image]\r\nResolutionX={w}\r\nResolutionY={h}\r\n\r\n"
    )


def test_crops_of_one_surface_are_placed_where_they_were_cut(tmp_path):
    rng = np.random.default_rng(7)
    big = rng.integers(0, 255, (1200, 1600), dtype=np.uint8)
    base_px = 0.5e-6  # the frames' pixel size; the overview is the surface reduced 4x
    ov = big.reshape(300, 4, 400, 4).mean(axis=(1, 3)).astype(np.uint8)
    ov_stage = (0.020, 0.030)
    # overview centre = surface centre (800, 600) in full-resolution pixels
    tifffile.imwrite(tmp_path / "a_overview.tif", ov,
                     extratags=[(34682, "s", 0, _fei_text(4 * base_px, 400, 300, *ov_stage), True)])
    cuts = {"b1.tif": (200, 100), "b2.tif": (1200, 900), "b3.tif": (640, 520)}  # top-left x, y
    for name, (x, y) in cuts.items():
        crop = big[y:y + 192, x:x + 256]
        cx, cy = x + 128, y + 96
        sx = ov_stage[0] + (cx - 800) * base_px  # +X right
        sy = ov_stage[1] - (cy - 600) * base_px  # +Y up
        tifffile.imwrite(tmp_path / name, crop,
                         extratags=[(34682, "s", 0, _fei_text(base_px, 256, 192, sx, sy), True)])
    tifffile.imwrite(tmp_path / "c_nometa.tif", big[:100, :100])
    case, _ = load_case(tmp_path)
    assert case.overview.name == "a_overview.tif"
    for name, (x, y) in cuts.items():
        p = case.frame(name).placement
        # crop centre in overview pixels: full-resolution centre / 4 (independent of the reader)
        assert p.x_px == pytest.approx((x + 128) / 4, abs=0.01)
        assert p.y_px == pytest.approx((y + 96) / 4, abs=0.01)
        assert (p.width_px, p.height_px) == pytest.approx((64, 48))
    assert case.frame("c_nometa.tif").placement is None


# --- layout rules on hand-made geometry ----------------------------------------------------


def _geo(px, w, h, x, y, r=0.0, s=0.0):
    return ImageGeometry(None, w, h, px, px, StagePosition(x, y, 0.0, r, 0.0, s))


def test_stage_placement_convention_rotation_and_flips():
    ov = _geo(1e-5, 1000, 800, 0.0, 0.0)
    fr = _geo(1e-6, 500, 400, 1e-3, 2e-3)  # 1 mm right, 2 mm up = 100 px right, 200 px up
    p, _ = stage_placement(fr, ov)
    assert (p.x_px, p.y_px, p.width_px, p.height_px) == pytest.approx((600, 200, 50, 40))
    p, _ = stage_placement(fr, ov, flip_x=True)
    assert (p.x_px, p.y_px) == pytest.approx((400, 200))
    p, _ = stage_placement(fr, ov, flip_y=True)
    assert (p.x_px, p.y_px) == pytest.approx((600, 600))
    # stage rotation 30 (sample turned counter-clockwise): outline turned 30 clockwise on screen;
    # scan rotation 30 turns it the other way; the centre does not move
    p, _ = stage_placement(_geo(1e-6, 500, 400, 1e-3, 2e-3, r=30.0), ov)
    assert p.rotation_deg == pytest.approx(30.0) and (p.x_px, p.y_px) == pytest.approx((600, 200))
    p, _ = stage_placement(_geo(1e-6, 500, 400, 1e-3, 2e-3, s=30.0), ov)
    assert p.rotation_deg == pytest.approx(-30.0)
    p, _ = stage_placement(_geo(1e-6, 500, 400, 1e-3, 2e-3, r=30.0), ov, flip_x=True)
    assert p.rotation_deg == pytest.approx(-30.0)
    # an overview taken with scan rotation 90 shows +X pointing down: 100 px right -> 100 px down
    ov90 = _geo(1e-5, 1000, 800, 0.0, 0.0, s=90.0)
    p, _ = stage_placement(_geo(1e-6, 500, 400, 1e-3, 0.0, s=90.0), ov90)
    assert (p.x_px, p.y_px, p.rotation_deg) == pytest.approx((500, 500, 0.0), abs=1e-6)
    # no stage, no pixel size: unplaced with the reason
    p, why = stage_placement(ImageGeometry(None, 10, 10, 1e-6, 1e-6, None), ov)
    assert p is None and "no stage position" in why
    p, why = stage_placement(_geo(None, 500, 400, 0.0, 0.0), ov)
    assert p is None and "pixel size" in why


def test_corners_turn_clockwise_on_screen():
    c = Placement(10, 20, 4, 2, rotation_deg=90.0).corners()
    # top-left (-2, -1) turned 90 clockwise on screen (y down) -> (+1, -2)
    assert c[0] == pytest.approx((11, 18))
    assert c[1] == pytest.approx((11, 22))


# --- case.json: hand placements, damage, backups -------------------------------------------


def test_hand_placement_survives_save_and_load_and_wins(generated, tmp_path):
    folder = _copy_case(generated[0], tmp_path / "c")
    case, _ = load_case(folder)
    f = case.frame("frame_03.tif")
    stage = f.placement
    hand = Placement(111.5, 222.25, 30, 20, rotation_deg=12.5, placed_by="hand")
    f.placement = hand
    case.frame("frame_nometa_01.tif").placement = Placement(50, 60, 10, 8, placed_by="hand")
    case.annotations = [Annotation("origin", [(400.0, 600.0)], "origin"),
                        Annotation("zone", [(0, 0), (10, 0), (10, 10)], "shear lip")]
    case.notes = "bending fatigue from the keyway"
    save_case(case)
    again, warnings = load_case(folder)
    g = again.frame("frame_03.tif")
    assert g.placement == hand  # not the stage placement
    assert g.stage_placement is not None and g.stage_placement.x_px == pytest.approx(stage.x_px)
    assert again.frame("frame_nometa_01.tif").placement.placed_by == "hand"
    assert not [w for w in warnings if "frame_nometa_01" in w]  # placed by hand now
    assert [a.label for a in again.annotations] == ["origin", "shear lip"]
    assert again.notes == "bending fatigue from the keyway"
    # a second save keeps the first as case.json.bak; the images are untouched
    before = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.tif")}
    again.notes = "changed"
    save_case(again)
    assert json.loads((folder / BACKUP_FILE).read_text())["notes"] == "bending fatigue from the keyway"
    assert {p.name: p.stat().st_mtime_ns for p in folder.glob("*.tif")} == before


def test_damaged_case_json_one_clear_line_images_open_nothing_lost(generated, tmp_path):
    folder = _copy_case(generated[0], tmp_path / "d")
    damaged = '{"frames": [{"path": "frame_02.tif", "placement": {"x_px": 5, "y_px": 6,'
    (folder / CASE_FILE).write_text(damaged)
    case, warnings = load_case(folder)
    lines = [w for w in warnings if w.startswith(CASE_FILE)]
    assert len(lines) == 1 and "not valid JSON" in lines[0] and "line 1" in lines[0]
    assert len(case.frames) == 15 and case.frame("frame_02.tif").placement.placed_by == "stage"
    save_case(case)
    save_case(case)  # a second save must not lose the damaged text either
    assert (folder / DAMAGED_FILE).read_text() == damaged
    assert json.loads((folder / CASE_FILE).read_text())["format"] == "fractoscope-case"


def test_hand_edited_bad_values_named_and_kept(generated, tmp_path, capsys):
    folder = _copy_case(generated[0], tmp_path / "e")
    (folder / CASE_FILE).write_text(json.dumps({
        "flip_x": "yes",
        "frames": [
            {"path": "frame_01.tif", "placement": {"x_px": "abc", "y_px": 1, "width_px": 1, "height_px": 1}},
            {"path": "frame_02.tif", "placement": {"x_px": 1, "y_px": 2, "width_px": 3, "height_px": 4,
                                                   "placed_by": "hand"}},
            {"path": "gone.tif", "placement": {"x_px": 1, "y_px": 2, "width_px": 3, "height_px": 4,
                                               "placed_by": "hand"}},
        ],
        "annotations": [{"kind": "circle", "points": [[1, 2]]}],
    }))
    case, warnings = load_case(folder)
    text = "\n".join(warnings)
    assert "flip_x must be true or false" in text
    assert "frame frame_01.tif: x_px must be a number, not 'abc'" in text
    assert "annotation 1: annotation kind must be origin, arrow or zone" in text
    assert "frame gone.tif: image not in the folder" in text
    assert case.frame("frame_02.tif").placement == Placement(1, 2, 3, 4, 0.0, "hand")
    assert case.frame("frame_01.tif").placement.placed_by == "stage"
    # the CLI prints each problem as one line, no traceback, and saves the case
    assert main(["case", str(folder), "--no-analyse", "-q"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "x_px must be a number" in err
    saved = json.loads((folder / CASE_FILE).read_text())
    entries = {e["path"]: e for e in saved["frames"]}
    assert entries["frame_01.tif"]["placement_ignored"]["x_px"] == "abc"  # what was typed is kept
    assert entries["gone.tif"]["placement"]["placed_by"] == "hand"
    assert entries["frame_02.tif"]["placement"]["placed_by"] == "hand"


def test_flip_settings(tmp_path, capsys):
    out = tmp_path / "flipped"
    truth = generate_case(out, seed=5, unplaced=0, flip_x=True)
    by_name = {t["path"]: t for t in truth["frames"]}
    case, _ = load_case(out)
    wrong = sum(not _within(f, by_name[f.name], 0.02 * 1024) for f in case.frames)
    assert wrong >= 10  # the instrument's X runs the other way: most frames land mirrored
    assert main(["case", str(out), "--flip-x", "--no-analyse", "--json", "-q"]) == 0
    data = json.loads(capsys.readouterr().out)
    for fr in data["frames"]:
        t = by_name[fr["path"].rsplit("/", 1)[-1]]
        assert math.hypot(fr["x_px"] - t["x_px"], fr["y_px"] - t["y_px"]) < 0.02 * 1024
        assert fr["rotation_deg"] == pytest.approx(t["rotation_deg"], abs=0.5)
    case, _ = load_case(out)  # the flip was saved with the case
    assert case.flip_x and all(_within(f, by_name[f.name], 0.02 * 1024) for f in case.frames)


def test_overview_choice_and_bad_folder(generated, tmp_path, capsys):
    folder = _copy_case(generated[0], tmp_path / "o")
    case, _ = load_case(folder)
    case.set_overview("frame_01.tif")
    place_frames(case)
    assert case.overview.name == "frame_01.tif" and case.frame("overview.tif") is not None
    # the old overview (33x) lies around the 400x frame: centred on its own stage position
    save_case(case)
    again, _ = load_case(folder)
    assert again.overview.name == "frame_01.tif"
    assert main(["case", str(tmp_path / "missing"), "--no-analyse"]) == 2
    assert "not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["case", str(tmp_path / "empty"), "--no-analyse"]) == 2
    assert "no images" in capsys.readouterr().err
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "overview.tif").write_bytes((folder / "overview.tif").read_bytes())
    assert main(["case", str(tmp_path / "one"), "--no-analyse", "--json", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == []


def test_synth_case_command(tmp_path):
    assert main(["synth-case", str(tmp_path / "s"), "--seed", "1", "--unplaced", "2", "--no-rotation"]) == 0
    truth = json.loads((tmp_path / "s" / TRUTH_FILE).read_text())
    assert len(truth["frames"]) == 16
    assert sum(not t["has_metadata"] for t in truth["frames"]) == 2
    assert all(t["rotation_deg"] == 0 for t in truth["frames"])
    mags = [t["magnification"] for t in truth["frames"]]
    assert min(mags) >= 300 and max(mags) <= 5000
    assert 25 <= 0.2 / (truth["overview_pixel_size_m"] * 1024) <= 40  # about 30x


# --- with the model -----------------------------------------------------------------------


@pytest.mark.slow
def test_generated_case_mechanism_is_its_zones(generated, tmp_path, capsys):
    """Every frame of a generated case is analysed through the batch store, its mechanism is
    its zone's, and a second run reuses the stored results."""
    folder = _copy_case(generated[0], tmp_path / "m")
    truth = generated[1]
    assert main(["case", str(folder), "--json", "-q"]) == 0
    data = json.loads(capsys.readouterr().out)
    by_name = {t["path"]: t for t in truth["frames"]}
    right = [fr["level1"] == by_name[fr["path"].rsplit("/", 1)[-1]]["level1"] for fr in data["frames"]]
    assert sum(right) >= len(right) - 1, data["frames"]
    assert (folder / ".fractoscope-case" / "results" / "results.jsonl").is_file()
    from fractoscope.case.analyse import analyse_case

    case, _ = load_case(folder)
    assert all(f.result and f.result["level1"] for f in case.frames)  # reopened from case.json
    texts, finished = [], {}
    analyse_case(case, progress=lambda f, t: texts.append(t), include_overview=True,
                 on_frame=lambda p, r: finished.__setitem__(p.name, r))
    assert set(finished) == {f.name for f in case.frames} | {"overview.tif"}
    done = [t for t in texts if "/" in t and "done earlier" in t]
    assert len(done) == len(case.frames)  # no frame analysed again (only the overview is new)
    # the overview's tiles as a coarse mechanism map, in overview pixels
    from fractoscope.case.analyse import overview_tile_map
    from fractoscope.model.taxonomy import Taxonomy

    tiles = overview_tile_map(case)
    assert len(tiles) > 10
    w, h = truth["overview_size_px"]
    assert all(0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h for y0, x0, y1, x1, _ in tiles)
    assert {lab for *_, lab in tiles} <= set(Taxonomy.default().level1)


def test_geometry_cache_follows_changed_images(generated, tmp_path):
    folder = _copy_case(generated[0], tmp_path / "g")
    case, _ = load_case(folder)
    p4 = case.frame("frame_04.tif").placement
    cache = folder / ".fractoscope-case" / "geometry.json"
    assert cache.is_file()
    # frame_03 replaced by another picture (frame_04's bytes): its new stage position is used
    (folder / "frame_03.tif").write_bytes((folder / "frame_04.tif").read_bytes())
    again, _ = load_case(folder)
    assert again.frame("frame_03.tif").placement == p4
    cache.write_text("{ damaged")  # a damaged cache is only a cache
    third, _ = load_case(folder)
    assert third.frame("frame_03.tif").placement == p4
    assert json.loads(cache.read_text())["version"] == 1


@pytest.mark.parametrize("text", [
    "[]", "null", "42", '"text"', "{}", '{"frames": {"a": 1}}', '{"frames": [1, "x", null, {"path": 5}]}',
    '{"frames": [{"path": "frame_01.tif", "placement": [1, 2]}]}',
    '{"frames": [{"path": "frame_01.tif", "placement": {"x_px": NaN, "y_px": 1, "width_px": 1, "height_px": 1}}]}',
    '{"frames": [{"path": "frame_01.tif", "placement": {"x_px": 1, "y_px": 1, "width_px": -1, "height_px": 1}}]}',
    '{"frames": [{"path": "frame_01.tif", "placement": {"x_px": 1, "y_px": 1, "width_px": 1, "height_px": 1, "placed_by": "robot"}}]}',
    '{"annotations": [{"kind": "arrow", "points": [[1, "a"]]}, {"kind": "zone", "points": 3}, 7]}',
    '{"overview": 5, "notes": ["a"], "flip_y": 1, "format": "other"}',
    '{"frames": [{"path": "../../etc/passwd", "placement": {"x_px": 1, "y_px": 1, "width_px": 1, "height_px": 1}}]}',
    b"\xff\xfe\x00garbage",
])
def test_malformed_case_json_never_crashes(generated, tmp_path, text):
    folder = _copy_case(generated[0], tmp_path / "z")
    raw = text if isinstance(text, bytes) else text.encode()
    (folder / CASE_FILE).write_bytes(raw)
    case, warnings = load_case(folder)
    assert len(case.frames) == 15 and case.overview.name == "overview.tif"
    assert all("\n" not in w for w in warnings)
    save_case(case)
    assert json.loads((folder / CASE_FILE).read_text())["format"] == "fractoscope-case"
    assert all(p.parent == folder for p in folder.glob("*.tif"))
