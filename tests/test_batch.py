"""Batch runner: rows, statuses and reasons in results.csv/jsonl, overlays, stored predictions,
resume (same content + model skipped, changed content redone, truncated last line repaired)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from fractoscope.batch import CSV_COLUMNS, load_stored_prediction, read_manifest, run_batch
from fractoscope.synth import generate_dataset

CLASSES = ["striations", "cleavage", "pitting"]


@pytest.fixture(scope="module")
def analyzer():
    from fractoscope.analysis.pipeline import Analyzer

    return Analyzer(device="cpu")


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """3 generated fractographs (one in a sub-folder), 2 broken images, 2 non-image files."""
    src = tmp_path / "in"
    paths = generate_dataset(tmp_path / "gen", per_class=1, seed=3, size=256, classes=CLASSES)
    src.mkdir()
    (src / "sub").mkdir()
    for i, p in enumerate(paths):
        dest = (src / "sub" if i == 2 else src) / p.name
        dest.write_bytes(p.read_bytes())
    (src / "corrupt.tif").write_bytes(b"II*\x00" + b"\x00" * 40)  # TIFF magic, no valid IFD
    (src / "empty.png").write_bytes(b"")
    (src / "notes.txt").write_text("sidecar notes", encoding="utf-8")
    (src / "Thumbs.db").write_bytes(b"\x00\x01")
    return src


def _csv_rows(out: Path) -> list[dict]:
    with open(out / "results.csv", encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_rows_statuses_reasons_and_outputs(folder: Path, tmp_path: Path, analyzer) -> None:
    out = tmp_path / "out"
    events = []
    s = run_batch([folder], out, analyzer, recursive=True, progress=events.append)
    assert (s.total, s.ok, s.failed, s.ignored) == (5, 3, 2, 2)
    assert s.exit_code == 1

    rows = _csv_rows(out)
    assert list(rows[0].keys()) == list(CSV_COLUMNS)
    by_name = {r["name"]: r for r in rows}
    assert sorted(by_name) == sorted(
        [f"{c}_3_0.tif" for c in CLASSES] + ["corrupt.tif", "empty.png"]
    )
    for name in ("corrupt.tif", "empty.png"):
        assert by_name[name]["status"] == "failed"
        assert by_name[name]["error"].strip(), "a failed row states its reason"
        assert by_name[name]["level1"] == ""
    assert "notes.txt" not in by_name and "Thumbs.db" not in by_name

    tax = analyzer.model_info.taxonomy
    for c in CLASSES:
        r = by_name[f"{c}_3_0.tif"]
        assert r["status"] == "ok" and r["error"] == ""
        # The guess is always in closest_*; level1/level2 hold it only when the result is not flagged.
        g1, g2 = r["closest_level1"], r["closest_level2"]
        assert g1 in tax.level1 and tax.parent_of(g2) == g1
        assert 0 < float(r["closest_p_level2"]) <= float(r["closest_p_level1"]) <= 1
        if r["uncertain"] == "true":
            assert (r["level1"], r["p_level1"], r["level2"], r["p_level2"]) == ("", "", "", "")
            assert r["reason"]
        else:
            assert (r["level1"], r["level2"], r["reason"]) == (g1, g2, "")
            assert r["p_level1"] == r["closest_p_level1"] and r["p_level2"] == r["closest_p_level2"]
        assert float(r["pixel_size_m"]) > 0  # synth writes an ImageJ calibration
        assert r["model_sha256"] == analyzer.model_info.sha256
        for col in ("overlay_level1", "overlay_level2", "item"):
            assert (out / r[col]).is_file()

    # Full details in the JSONL, consistent with the stored prediction the viewer reopens.
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5
    rec = next(json.loads(x) for x in lines if json.loads(x)["name"] == "striations_3_0.tif")
    pred = load_stored_prediction(out / rec["item"])
    assert pred.level1.label == rec["closest_level1"] and pred.level2.label == rec["closest_level2"]
    assert pred.level1.probability == pytest.approx(rec["closest_p_level1"], abs=1e-6)
    assert pred.cams_level1 is not None and pred.cam(2).max() == pytest.approx(1.0)
    assert rec["details"]["model"]["sha256"] == analyzer.model_info.sha256
    assert rec["details"]["image"]["calibration"]["pixel_size_x_m"] == pytest.approx(
        pred.pixel_size_m
    )

    from PIL import Image

    with Image.open(out / rec["overlay_level2"]) as im:
        assert im.mode == "RGB" and im.size == (pred.image_shape[1], pred.image_shape[0])

    m = read_manifest(out)
    assert m["status"] == "complete"
    assert m["model"]["sha256"] == analyzer.model_info.sha256
    assert m["app"]["version"] and m["settings"]["recursive"] is True
    assert m["counts"]["ok"] == 3 and m["counts"]["failed"] == 2 and m["counts"]["ignored"] == 2

    kinds = [e.kind for e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    assert kinds.count("image_done") == 5 and "image_progress" in kinds
    assert events[-1].fraction == 1.0


def test_resume_skips_done_redoes_changed_and_failed(
    folder: Path, tmp_path: Path, analyzer
) -> None:
    out = tmp_path / "out"
    run_batch([folder], out, analyzer, recursive=True)
    first = {r["path"]: r for r in _csv_rows(out)}

    # Same content + model: nothing recomputed, nothing duplicated.
    s = run_batch([folder], out, analyzer, recursive=True)
    assert (s.ok, s.reused, s.failed) == (3, 3, 2)
    again = _csv_rows(out)
    assert len(again) == 5 and {r["path"] for r in again} == set(first)
    ok_rows = {r["path"]: r for r in again if r["status"] == "ok"}
    for p, r in ok_rows.items():
        assert r["finished_at"] == first[p]["finished_at"]  # the earlier row, not a new one

    # A fixed file and a changed file are (re)analysed; the old rows are replaced, not duplicated.
    good = next(folder.glob("cleavage_*.tif"))
    (folder / "corrupt.tif").write_bytes(good.read_bytes())
    changed = next(folder.glob("striations_*.tif"))
    changed.write_bytes(next((folder / "sub").glob("*.tif")).read_bytes())
    s = run_batch([folder], out, analyzer, recursive=True)
    assert (s.ok, s.failed, s.reused) == (4, 1, 2)
    rows = _csv_rows(out)
    assert len(rows) == 5 and len({r["path"] for r in rows}) == 5
    st = {r["name"]: r["status"] for r in rows}
    assert st["corrupt.tif"] == "ok" and st["empty.png"] == "failed"
    new = {r["name"]: r for r in rows}["striations_3_0.tif"]
    assert new["content_sha256"] != first[str(changed)]["content_sha256"]


def test_truncated_last_line_is_repaired(folder: Path, tmp_path: Path, analyzer) -> None:
    out = tmp_path / "out"
    run_batch([folder], out, analyzer, recursive=True)
    jl = out / "results.jsonl"
    lines = jl.read_text(encoding="utf-8").splitlines(keepends=True)
    ok_names = [json.loads(x)["name"] for x in lines if json.loads(x)["status"] == "ok"]
    # Simulate a kill -9 in the middle of writing the last record (and its CSV row missing).
    last = lines[-1]
    jl.write_text("".join(lines[:-1]) + last[: len(last) // 2], encoding="utf-8")
    csv_lines = (out / "results.csv").read_text(encoding="utf-8-sig").splitlines(keepends=True)
    (out / "results.csv").write_text("".join(csv_lines[:-1]), encoding="utf-8")

    s = run_batch([folder], out, analyzer, recursive=True)
    assert s.repaired_lines == 1
    assert s.total == 5 and s.ok == 3 and s.failed == 2
    rows = _csv_rows(out)
    assert len(rows) == 5 and len({r["path"] for r in rows}) == 5
    for line in jl.read_text(encoding="utf-8").splitlines():
        json.loads(line)  # every line whole again
    assert sorted(r["name"] for r in rows if r["status"] == "ok") == sorted(ok_names)


def test_cancel_keeps_finished_rows(folder: Path, tmp_path: Path, analyzer) -> None:
    out = tmp_path / "out"
    done = []

    def on_event(ev):
        if ev.kind == "image_done":
            done.append(ev.path)

    s = run_batch(
        [folder], out, analyzer, recursive=True, progress=on_event, cancel=lambda: len(done) >= 2
    )
    assert s.cancelled and s.exit_code == 130
    assert len(_csv_rows(out)) == 2
    assert read_manifest(out)["status"] == "cancelled"
    s = run_batch([folder], out, analyzer, recursive=True)
    assert not s.cancelled and len(_csv_rows(out)) == 5


def test_second_run_on_same_outdir_is_refused_while_locked(
    tmp_path: Path, folder: Path, analyzer
) -> None:
    from fractoscope.batch.store import ResultStore
    from fractoscope.errors import FractoscopeError

    out = tmp_path / "out"
    holder = ResultStore(out)
    try:
        with pytest.raises(FractoscopeError, match="another batch run"):
            run_batch([folder], out, analyzer)
    finally:
        holder.close()


def _leaves(d):
    if isinstance(d, dict):
        for v in d.values():
            yield from _leaves(v)
    elif isinstance(d, list):
        for v in d:
            yield from _leaves(v)
    else:
        yield d


def test_stored_prediction_round_trip(tmp_path: Path, analyzer) -> None:
    from fractoscope.batch import save_prediction
    from fractoscope.io import read_sem

    (p,) = generate_dataset(
        tmp_path / "g", per_class=1, seed=5, size=256, classes=["intergranular"]
    )
    pred = analyzer.analyze(read_sem(p))
    save_prediction(tmp_path / "x.npz", pred)
    back = load_stored_prediction(tmp_path / "x.npz")
    np.testing.assert_allclose(back.p_level2, pred.p_level2)
    np.testing.assert_allclose(back.cams_level2, pred.cams_level2)
    assert back.to_json_dict() == pred.to_json_dict()
    assert back.class_area_fractions(2) == pred.class_area_fractions(2)
    # The card comes back without the fitted arrays (the stored confidence stands for them), with
    # every threshold and figure a report reads.
    card, stored = pred.model.card, back.model.card
    assert "base64" in json.dumps(card) and '"base64": null' in json.dumps(stored)
    assert not any(len(str(v)) > 1000 for v in _leaves(stored))
    assert stored["confidence"]["ood"]["threshold"] == card["confidence"]["ood"]["threshold"]
    assert stored["confidence"]["min_probability"] == card["confidence"]["min_probability"]
    assert stored["metrics"] == card["metrics"] and stored["sha256"] == card["sha256"]
    assert back.confidence.to_dict() == pred.confidence.to_dict()
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    from fractoscope.errors import FractoscopeError

    with pytest.raises(FractoscopeError):
        load_stored_prediction(tmp_path / "bad.npz")


def test_lock_file_removed_and_uncertain_column(folder: Path, tmp_path: Path, analyzer) -> None:
    out = tmp_path / "out"
    run_batch([folder], out, analyzer, recursive=True)
    assert not (out / ".fractoscope-batch.lock").exists()
    rows = _csv_rows(out)
    for r in rows:
        if r["status"] == "ok":
            assert r["uncertain"] in ("true", "false")
        else:
            assert r["uncertain"] == ""
    for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec["status"] == "ok":
            conf = rec["details"]["confidence"]
            assert rec["uncertain"] is conf["uncertain"]
            assert rec["uncertain_reason"] == conf["reason"]


def test_no_images_and_missing_paths_are_refused_before_anything_is_created(
    tmp_path: Path, analyzer
) -> None:
    from fractoscope.batch import BatchInputError

    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("x")
    out = tmp_path / "out"
    with pytest.raises(BatchInputError, match="no images found in .*recursive"):
        run_batch([empty], out, analyzer)
    with pytest.raises(BatchInputError, match="no such file or folder"):
        run_batch([empty / "missing.tif"], out, analyzer)
    assert not out.exists()


def test_earlier_error_status_reads_as_failed(tmp_path: Path) -> None:
    from fractoscope.batch import BatchRecord

    rec = BatchRecord.from_json({"path": "/x.tif", "name": "x.tif", "status": "error", "error": "bad"})
    assert rec.status == "failed" and not rec.ok


def test_eta_text_and_estimate() -> None:
    from fractoscope.batch import EtaEstimator, format_eta

    assert format_eta(None) == "ETA --"
    assert format_eta(42.4) == "ETA 0:42"
    assert format_eta(725) == "ETA 12:05"
    assert format_eta(3 * 3600 + 7 * 60 + 10) == "ETA 3 h 07 min"
    t = [100.0]
    est = EtaEstimator(window=3, clock=lambda: t[0])
    assert est.eta(10) is None
    for step in (2.0, 4.0, 6.0, 8.0):  # the window keeps the last 3 intervals: 4, 6, 8 s
        t[0] += step
        est.computed()
    assert est.eta(10) == pytest.approx(60.0)


def test_flagged_row_keeps_its_guess_out_of_the_answer_columns() -> None:
    """A hand-set flagged row: no class in level1/level2, the guess in closest_*, the reason."""
    from fractoscope.batch import BatchRecord

    flagged = BatchRecord(path="/a.tif", name="a.tif", status="ok")
    flagged.set_answer("wear", 0.88, "abrasive_grooves", 0.86, True, "unlike the images the model was trained on")
    sure = BatchRecord(path="/b.tif", name="b.tif", status="ok")
    sure.set_answer("fatigue", 0.97, "striations", 0.9, False, "")
    row = dict(zip(CSV_COLUMNS, flagged.csv_row(), strict=True))
    assert (row["level1"], row["p_level1"], row["level2"], row["p_level2"]) == ("", "", "", "")
    assert (row["uncertain"], row["reason"]) == ("true", "unlike the images the model was trained on")
    assert (row["closest_level1"], row["closest_p_level1"]) == ("wear", "0.88")
    assert (row["closest_level2"], row["closest_p_level2"]) == ("abrasive_grooves", "0.86")
    row = dict(zip(CSV_COLUMNS, sure.csv_row(), strict=True))
    assert (row["level1"], row["p_level1"], row["level2"], row["p_level2"]) == ("fatigue", "0.97", "striations", "0.9")
    assert (row["uncertain"], row["reason"]) == ("false", "")
    assert (row["closest_level1"], row["closest_level2"]) == ("fatigue", "striations")


def test_resuming_a_results_folder_written_before_the_closest_columns(
    folder: Path, tmp_path: Path, analyzer
) -> None:
    """An old folder (level1/level2 = the guess even when flagged, no reason/closest columns)
    resumes: nothing is recomputed, and results.csv is rewritten in the new layout."""
    out = tmp_path / "out"
    run_batch([folder], out, analyzer, recursive=True)
    # Turn the folder into what the previous release wrote: one flagged row, old keys only.
    old_columns = [c for c in CSV_COLUMNS if c != "reason" and not c.startswith("closest_")]
    lines = []
    for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec["status"] == "ok":
            rec["level1"], rec["p_level1"] = rec["closest_level1"], rec["closest_p_level1"]
            rec["level2"], rec["p_level2"] = rec["closest_level2"], rec["closest_p_level2"]
            rec["uncertain"] = rec["name"].startswith("pitting")
            rec["uncertain_reason"] = "low confidence" if rec["uncertain"] else ""
        for k in ("closest_level1", "closest_p_level1", "closest_level2", "closest_p_level2"):
            rec.pop(k)
        lines.append(json.dumps(rec))
    (out / "results.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with open(out / "results.csv", "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(old_columns)
        for line in lines:
            rec = json.loads(line)
            w.writerow(["" if rec.get(c) is None else str(rec.get(c)) for c in old_columns])
    old = {json.loads(x)["name"]: json.loads(x) for x in lines}

    s = run_batch([folder], out, analyzer, recursive=True)
    assert (s.ok, s.reused, s.failed) == (3, 3, 2)  # the old rows were reused, not recomputed
    rows = _csv_rows(out)
    assert list(rows[0].keys()) == list(CSV_COLUMNS) and len(rows) == 5
    by_name = {r["name"]: r for r in rows}
    for name, r in by_name.items():
        o = old[name]
        if o["status"] != "ok":
            assert r["status"] == "failed" and r["closest_level1"] == ""
            continue
        assert r["finished_at"] == o["finished_at"]  # the earlier row
        assert (r["closest_level1"], r["closest_level2"]) == (o["level1"], o["level2"])
        if o["uncertain"]:
            assert (r["level1"], r["level2"], r["uncertain"], r["reason"]) == ("", "", "true", "low confidence")
        else:
            assert (r["level1"], r["level2"], r["uncertain"], r["reason"]) == (o["level1"], o["level2"], "false", "")
