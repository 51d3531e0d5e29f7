"""``fractoscope batch`` end to end in a subprocess: exit status, and resume after ``kill -9``."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fractoscope.synth import generate_dataset

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def _batch(*args: str) -> list[str]:
    return [sys.executable, "-m", "fractoscope", "batch", *args]


def _rows(out: Path) -> list[dict]:
    with open(out / "results.csv", encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _data_rows(out: Path) -> int:
    p = out / "results.csv"
    if not p.is_file():
        return 0
    # Count complete lines only: the writer may be mid-line.
    return max(0, p.read_bytes().count(b"\n") - 1)


def test_resume_after_kill_9(tmp_path: Path) -> None:
    src = tmp_path / "in"
    # 384 px (9 tiles each, ~0.4 s of network per image) so the run is still busy when the first
    # row lands: the kill comes within 5 ms of it.
    generate_dataset(
        src,
        per_class=1,
        seed=7,
        size=384,
        classes=[
            "striations",
            "cleavage",
            "pitting",
            "equiaxed_dimples",
            "abrasive_grooves",
            "mud_cracking",
        ],
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        _batch(str(src), "--out", str(out), "--recursive", "--device", "cpu", "-q"),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 300
        while _data_rows(out) < 1:
            assert proc.poll() is None, proc.stderr.read().decode(errors="replace")
            assert time.monotonic() < deadline, "no result row appeared"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    before = _data_rows(out)
    assert proc.returncode == -signal.SIGKILL
    assert 1 <= before < 6, "the run must have been interrupted mid-way"

    res = subprocess.run(
        _batch(str(src), "--out", str(out), "--recursive", "--device", "cpu"),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    assert "done earlier" in res.stderr
    rows = _rows(out)
    names = sorted(r["name"] for r in rows)
    assert names == sorted(p.name for p in src.rglob("*.tif"))  # each image exactly once
    assert all(r["status"] == "ok" for r in rows)
    jsonl = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(jsonl) == 6


def test_exit_status_and_failure_lines(tmp_path: Path) -> None:
    src = tmp_path / "in"
    generate_dataset(src, per_class=1, seed=2, size=256, classes=["pitting"])
    (src / "broken.tif").write_bytes(b"MM\x00*garbage")
    (src / "readme.txt").write_text("not an image")
    out = tmp_path / "out"
    res = subprocess.run(
        _batch(str(src), "--out", str(out), "-r", "--device", "cpu"),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 1, res.stderr
    assert "broken.tif" in res.stderr and "Traceback" not in res.stderr
    others = [f for f in src.rglob("*") if f.is_file() and f.suffix != ".tif"]  # readme.txt, synth manifest
    assert f"{len(others)} non-image files ignored" in res.stderr
    assert {r["name"]: r["status"] for r in _rows(out)} == {
        "broken.tif": "failed",
        "pitting_2_0.tif": "ok",
    }

    (src / "broken.tif").unlink()
    res = subprocess.run(
        _batch(str(src), "--out", str(out), "-r", "--device", "cpu", "-q"),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr

    bad = subprocess.run(
        _batch(str(src), "--out", str(out / "results.csv" / "x")),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


@pytest.mark.parametrize("page", ["A4"])
def test_batch_report_option(tmp_path: Path, page: str) -> None:
    src = tmp_path / "in"
    generate_dataset(src, per_class=1, seed=4, size=256, classes=["cleavage"])
    out = tmp_path / "out"
    res = subprocess.run(
        _batch(
            str(src),
            "--out",
            str(out),
            "-r",
            "--report",
            "--page-size",
            page,
            "--sample-id",
            "S-77",
        ),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    pdf = out / "report.pdf"
    assert pdf.is_file() and pdf.read_bytes()[:5] == b"%PDF-"
    assert not list(out.glob("*.tmp"))


def test_usage_errors_before_anything_is_loaded_or_created(tmp_path: Path) -> None:
    """No images / a missing path: exit 2 with one line, before the model loads (a model path
    that does not exist would otherwise be the error) and before the output folder exists."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    for inputs, expected in (
        ([str(empty)], f"no images found in {empty}"),
        ([str(tmp_path / "nope")], f"no such file or folder: {tmp_path / 'nope'}"),
    ):
        res = subprocess.run(
            _batch(*inputs, "--out", str(out), "--report", "--model", str(tmp_path / "no.safetensors")),
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert res.returncode == 2, res.stderr
        assert res.stderr.strip().splitlines() == [f"fractoscope batch: {expected}"]
        assert not out.exists()


def test_help_documents_exit_codes() -> None:
    res = subprocess.run(_batch("--help"), env=_env(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0
    text = " ".join(res.stdout.split())
    for code, words in (("0", "every image analysed"), ("1", "some images failed"), ("2", "usage error")):
        assert f"{code} {words}" in text
    assert "--workers" in text and "--scheduler" in text
