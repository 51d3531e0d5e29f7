"""`fractoscope --self-test` (unfrozen) and the checks it is made of: each check must be able to
fail, so each is also fed a broken input."""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fractoscope.selftest import (
    SelfTestFailure,
    bundled_samples,
    check_model_files,
    check_prediction,
    no_network,
)

ENV = dict(os.environ, QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="2")


def _run(args: list[str], repo_root: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fractoscope", *args],
        capture_output=True, text=True, cwd=repo_root, env=ENV, timeout=timeout,
    )


def test_bundled_samples_exist():
    samples = bundled_samples()
    assert samples, "resources/samples has no .tif: the frozen app's --self-test needs one"
    assert all(p.parent.name == "samples" and p.suffix.lower() in (".tif", ".tiff") for p in samples)


def test_self_test_flag_passes_unfrozen(repo_root, tmp_path):
    proc = _run(["--self-test", "--keep", str(tmp_path)], repo_root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.startswith("fractoscope self-test: OK (source install")
    for s in bundled_samples():
        assert s.name in out
    pdf = tmp_path / "self-test-report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert "text names the predicted class" in out  # QtPdf is installed here


def test_self_test_failure_is_one_line_and_exit_1(repo_root, tmp_path):
    bad = tmp_path / "notes.tif"
    bad.write_text("this is not an image\n")
    proc = _run(["self-test", "--sample", str(bad)], repo_root)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fractoscope self-test: FAILED:"), proc.stderr
    assert "notes.tif" in lines[0] and "Traceback" not in proc.stderr


def test_flag_routes_to_command_in_process(capsys):
    from fractoscope.cli import main

    assert main(["--self-test", "--sample", "/no/such/sample.tif"]) == 1
    assert "sample /no/such/sample.tif not found" in capsys.readouterr().err


# --- the individual checks, on real data ---------------------------------------------------
@pytest.fixture(scope="module")
def prediction():
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.io import read_sem

    analyzer = Analyzer(device="cpu")
    return analyzer.analyze(read_sem(bundled_samples()[0])), analyzer.model_info.sha256


def test_check_prediction_accepts_a_real_prediction(prediction):
    pred, sha = prediction
    check_prediction(pred, sha)


def test_check_prediction_catches_broken_predictions(prediction):
    pred, sha = prediction
    with pytest.raises(SelfTestFailure, match="different model"):
        check_prediction(pred, "0" * 64)

    bad = copy.copy(pred)
    bad.p_level1 = pred.p_level1 * 0.5
    with pytest.raises(SelfTestFailure, match="level-1 probabilities sum"):
        check_prediction(bad, sha)

    bad = copy.copy(pred)
    bad.p_level2 = np.roll(pred.p_level2, 1)  # still sums to 1, but children no longer add up
    with pytest.raises(SelfTestFailure, match="level-2 probabilities of"):
        check_prediction(bad, sha)

    bad = copy.copy(pred)
    cams = pred.cams_level1.copy()
    cams[:, 0, 0] = np.nan
    bad.cams_level1 = cams
    with pytest.raises(SelfTestFailure, match="level-1 CAM"):
        check_prediction(bad, sha)


def test_check_model_files_detects_a_card_mismatch(tmp_path):
    from fractoscope.model.checkpoint import default_model_path

    src = default_model_path()
    sha, card = check_model_files(src)
    assert sha == card["sha256"] and len(sha) == 64
    w = tmp_path / src.name
    shutil.copyfile(src, w)
    card["sha256"] = "f" * 64
    w.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(SelfTestFailure, match="differs from its card"):
        check_model_files(w)


def test_no_network_refuses_connections_and_restores():
    original = socket.socket.connect
    with no_network():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            with pytest.raises(SelfTestFailure, match="network access attempted"):
                s.connect(("127.0.0.1", 9))
        finally:
            s.close()
    assert socket.socket.connect is original
