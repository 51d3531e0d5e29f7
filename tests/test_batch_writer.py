"""The embedded batch path writes on its own thread, behind the model, and stays resumable.

Overlays, thumbnails, stored predictions and the CSV/JSONL rows are made on the writer thread
while the model works on the next image; an image is done only once its row is written, so an
interrupt (KeyboardInterrupt, Ctrl-C, kill) leaves a folder that resumes with every image
exactly once, and a failed write fails the run as before.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fractoscope.batch import run_batch
from fractoscope.synth import generate_dataset

CLASSES = ["striations", "cleavage", "pitting", "intergranular", "mud_cracking"]


@pytest.fixture(scope="module")
def analyzer():
    from fractoscope.analysis.pipeline import Analyzer

    # Every test here generates the same images and interrupts a run while the model is busy:
    # from the tile cache a repeated image would be done before any interrupt could land.
    return Analyzer(device="cpu", tile_cache=False)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    generate_dataset(src, per_class=1, seed=11, size=256, classes=CLASSES)
    return src


def _rows(out: Path) -> list[dict]:
    with open(out / "results.csv", encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _jsonl(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]


def _names(src: Path) -> list[str]:
    return sorted(p.name for p in src.rglob("*.tif"))


def _check_complete_rows(out: Path) -> list[str]:
    """Every row is whole, ok, and has its files; no temporary file is left. Returns the names."""
    rows, lines = _rows(out), _jsonl(out)
    assert [r["path"] for r in rows] == [r["path"] for r in lines]
    assert all(r["status"] == "ok" for r in rows)
    for r in lines:
        assert r["status"] == "ok"
        for col in ("item", "overlay_level1", "overlay_level2", "thumbnail"):
            assert (out / r[col]).is_file(), (r["name"], col)
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp") or ".tmp" in p.suffixes]
    return [r["name"] for r in rows]


def test_files_are_made_on_the_writer_thread(folder: Path, tmp_path: Path, analyzer, monkeypatch) -> None:
    import fractoscope.batch.work as work

    threads: dict[str, set[str]] = {"analyze": set(), "overlays": set(), "done": set()}
    real_overlays, real_analyze = work.overlays_for, analyzer.analyze

    def overlays(*a, **k):
        threads["overlays"].add(threading.current_thread().name)
        return real_overlays(*a, **k)

    def analyze(*a, **k):
        threads["analyze"].add(threading.current_thread().name)
        return real_analyze(*a, **k)

    def on_event(ev) -> None:
        if ev.kind == "image_done":
            threads["done"].add(threading.current_thread().name)

    monkeypatch.setattr(work, "overlays_for", overlays)
    monkeypatch.setattr(analyzer, "analyze", analyze)
    out = tmp_path / "out"
    s = run_batch([folder], out, analyzer, recursive=True, progress=on_event)
    assert (s.ok, s.failed) == (5, 0)
    me = threading.current_thread().name
    assert threads == {"analyze": {me}, "overlays": {"batch-writer"}, "done": {"batch-writer"}}
    # Rows in the order the images were analysed, as before.
    assert [r["name"] for r in _rows(out)] == _names(folder)
    _check_complete_rows(out)


def test_keyboard_interrupt_mid_run_then_resume(folder: Path, tmp_path: Path, analyzer) -> None:
    out = tmp_path / "out"
    done: list[str] = []

    def on_event(ev) -> None:
        if ev.kind == "image_done":
            done.append(ev.path)
        # Ctrl-C pressed twice (abort) while the model is inside the third or a later image.
        elif ev.kind == "image_progress" and len(done) >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch([folder], out, analyzer, recursive=True, progress=on_event)
    written = _check_complete_rows(out)
    assert 2 <= len(written) < 5
    assert sorted(written) == sorted(Path(p).name for p in done)  # a row iff reported done

    s = run_batch([folder], out, analyzer, recursive=True)  # the lock was released
    assert (s.ok, s.failed, s.reused) == (5, 0, len(written))
    assert sorted(_check_complete_rows(out)) == _names(folder)  # each image exactly once


def test_cancel_between_images_drops_unwritten_results(folder: Path, tmp_path: Path, analyzer) -> None:
    out = tmp_path / "out"
    done: list[str] = []
    s = run_batch(
        [folder], out, analyzer, recursive=True,
        progress=lambda ev: done.append(ev.path) if ev.kind == "image_done" else None,
        cancel=lambda: len(done) >= 3,
    )  # fmt: skip
    assert s.cancelled and s.ok == 3
    assert len(_check_complete_rows(out)) == 3
    s = run_batch([folder], out, analyzer, recursive=True)
    assert (s.ok, s.reused) == (5, 3) and sorted(_check_complete_rows(out)) == _names(folder)


def test_a_failed_write_fails_the_run_and_the_folder_resumes(
    folder: Path, tmp_path: Path, analyzer, monkeypatch
) -> None:
    from fractoscope.batch.store import ResultStore

    out = tmp_path / "out"
    real_append = ResultStore.append
    calls = {"n": 0}

    def append(self, record) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        real_append(self, record)

    monkeypatch.setattr(ResultStore, "append", append)
    with pytest.raises(OSError, match="No space left"):
        run_batch([folder], out, analyzer, recursive=True)
    monkeypatch.setattr(ResultStore, "append", real_append)
    assert len(_check_complete_rows(out)) == 2

    s = run_batch([folder], out, analyzer, recursive=True)
    assert (s.ok, s.reused) == (5, 2) and sorted(_check_complete_rows(out)) == _names(folder)


def test_a_bug_while_making_an_images_files_is_that_images_failed_row(
    folder: Path, tmp_path: Path, analyzer, monkeypatch
) -> None:
    import fractoscope.batch.work as work

    real = work.png_bytes
    seen = {"n": 0}

    def png_bytes(img):
        seen["n"] += 1
        if seen["n"] == 4:  # the second image's first PNG
            raise ValueError("planted encoder bug")
        return real(img)

    monkeypatch.setattr(work, "png_bytes", png_bytes)
    out = tmp_path / "out"
    s = run_batch([folder], out, analyzer, recursive=True)
    assert (s.ok, s.failed) == (4, 1)
    (bad,) = [r for r in _jsonl(out) if r["status"] == "failed"]
    assert "planted encoder bug" in bad["error"] and "ValueError" in bad["details"]["traceback"]


def _env() -> dict:
    import os

    env = dict(os.environ)
    repo = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def test_ctrl_c_in_the_cli_then_resume(tmp_path: Path) -> None:
    src = tmp_path / "in"
    generate_dataset(src, per_class=1, seed=12, size=512, classes=CLASSES)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "fractoscope", "batch", str(src), "--out", str(out), "-r", "--device", "cpu"]
    proc = subprocess.Popen([*cmd, "-q"], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not (out / "results.csv").is_file() or (out / "results.csv").read_bytes().count(b"\n") < 2:
            assert proc.poll() is None, proc.stderr.read().decode(errors="replace")
            assert time.monotonic() < deadline, "no result row appeared"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err.decode(errors="replace")
    written = _check_complete_rows(out)
    assert 1 <= len(written) < 5

    res = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("[done earlier]") == len(written)
    assert sorted(_check_complete_rows(out)) == _names(src)
