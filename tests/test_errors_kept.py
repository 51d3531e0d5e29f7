"""Errors are kept (issue 27): bad input is one line, a bug keeps its traceback (log file,
``results.jsonl``), and a bug in the reading code is not reported as a corrupt file."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from fractoscope import applog, paths
from fractoscope.cli import main as cli_main
from fractoscope.errors import ImageReadError
from fractoscope.io import read_sem


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A fresh user data folder for the log; the handler is detached afterwards."""
    d = tmp_path / "userdata"
    monkeypatch.setenv(paths.DATA_ENV, str(d))
    applog.close_logging()
    yield d
    applog.close_logging()


def _boom(*_args, **_kwargs):
    return 1 / 0  # the planted programming error: ZeroDivisionError, raised in "our" code


def test_data_folder_follows_the_platform_and_the_override(monkeypatch, tmp_path):
    monkeypatch.delenv(paths.DATA_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(paths.sys, "platform", "linux")
    assert paths.user_data_dir() == tmp_path / "xdg" / "fractoscope"
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path / "mine"))
    assert applog.log_path() == tmp_path / "mine" / "logs" / "fractoscope.log"


def test_log_file_keeps_a_traceback(data_dir):
    path = applog.setup_logging()
    assert path == data_dir / "logs" / "fractoscope.log"
    assert applog.setup_logging() == path  # idempotent: one handler
    assert sum(getattr(h, "_fractoscope_log", False) for h in logging.getLogger("fractoscope").handlers) == 1
    try:
        _boom()
    except ZeroDivisionError as exc:
        applog.log_unexpected(logging.getLogger("fractoscope.gui.worker"), "background job failed", exc)
    text = path.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text
    assert "in _boom" in text and "ZeroDivisionError" in text


def test_worker_logs_an_unexpected_error_with_traceback(data_dir):
    from fractoscope.gui.background import Outbox
    from fractoscope.gui.worker import _run_one

    path = applog.setup_logging()
    import threading

    out = Outbox()
    _run_one(7, lambda progress, cancel: _boom(), threading.Event(), out)
    (kind, job_id, line), = out.drain()
    assert (kind, job_id) == ("failed", 7) and "ZeroDivisionError" in line and "\n" not in line
    text = path.read_text(encoding="utf-8")
    assert "background job failed" in text and "in _boom" in text and "Traceback" in text


def _batch(inputs, out, *extra):
    return cli_main(["batch", *map(str, inputs), "--out", str(out), "--device", "cpu", "--quiet", *extra])


def _rows(out):
    return {r["name"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}


def test_batch_bug_keeps_traceback_bad_input_stays_one_line(data_dir, tmp_path, repo_root, monkeypatch):
    from fractoscope.imaging.stitch import Stitcher

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(repo_root / "resources" / "samples" / "cleavage_777_0.tif", src / "good.tif")
    (src / "bad.tif").write_text("this is a text file, not an image\n")
    # A programming error deep in the analysis (CAM stitching of the first tile batch).
    monkeypatch.setattr(Stitcher, "add", _boom)
    out = tmp_path / "out"
    assert _batch([src], out) == 1
    rows = _rows(out)

    bug = rows["good.tif"]
    assert bug["status"] == "failed"
    assert "unexpected error (ZeroDivisionError" in bug["error"] and "\n" not in bug["error"]
    tb = bug["details"]["traceback"]
    assert tb.startswith("Traceback (most recent call last)") and "in _boom" in tb
    assert "stitch" in tb or "image_outputs" in tb  # where it happened, not just what

    bad = rows["bad.tif"]
    assert bad["status"] == "failed"
    assert bad["error"] == "not an image: the file contains text"
    assert "traceback" not in bad["details"]

    log = (data_dir / "logs" / "fractoscope.log").read_text(encoding="utf-8")
    assert "good.tif" in log and "in _boom" in log and "ZeroDivisionError" in log
    assert "bad.tif" not in log  # bad input is not a bug: nothing to report


def test_a_bug_in_the_tiff_reader_is_not_called_a_corrupt_file(sem_tiff_dir, monkeypatch):
    from fractoscope.io import pixels

    f = sem_tiff_dir / "teplonogova" / "Zeiss_1.tif"
    monkeypatch.setattr(pixels, "tiff_layout", _boom)
    with pytest.raises(ZeroDivisionError) as info:
        read_sem(f)
    assert info.traceback[-1].name == "_boom"  # the traceback is the bug's own, not hidden


def test_a_bug_in_a_vendor_reader_is_not_a_note(sem_tiff_dir, monkeypatch):
    from fractoscope.io import vendors

    f = sem_tiff_dir / "rosettasciio" / "FEI-Helios-Ebeam-8bits.tif"
    assert read_sem(f).calibration.source == "FEI metadata"  # the file itself is fine
    monkeypatch.setattr(vendors, "to_float", _boom)
    with pytest.raises(ZeroDivisionError):
        read_sem(f)


def test_a_damaged_tiff_is_still_one_line(sem_tiff_dir, tmp_path):
    # tifffile's own verdict on bad bytes stays an ImageReadError (a user's problem, not a bug).
    raw = (sem_tiff_dir / "teplonogova" / "Zeiss_1.tif").read_bytes()
    broken = tmp_path / "broken.tif"
    broken.write_bytes(raw[:8] + b"\xff" * 64)  # header points at an IFD that is garbage
    with pytest.raises(ImageReadError) as info:
        read_sem(broken)
    assert "\n" not in str(info.value) and str(broken) in str(info.value)
