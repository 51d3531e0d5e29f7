"""``fractoscope bench`` in the default suite with tiny settings, so the command cannot rot:
the fair baselines are measured and agree with our CAMs; ``--profile`` times every stage."""

from __future__ import annotations

import json

import pytest
import pytorch_grad_cam  # noqa: F401 - in the test extra; missing, this module errors, not skips

from fractoscope.cli import main


def _json(capsys, *argv: str) -> dict:
    assert main(["bench", *argv, "--device", "cpu", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_bench_tiny(capsys) -> None:
    r = _json(capsys, "--tiles", "2", "--batch-size", "2", "--repeats", "1", "--size", "320x256")
    assert r["tiles"] == 2 and r["repeats"] == 1 and r["device"] == "cpu"
    for key in ("forward_tiles_per_s", "tiles_per_s", "tiles_per_s_with_cams", "lean_gradcam_tiles_per_s"):
        assert r[key] > 0
    assert r["cam_overhead"] == pytest.approx(r["forward_tiles_per_s"] / r["tiles_per_s_with_cams"])
    # Autograd (lean Grad-CAM) and our closed form must give the same maps.
    assert r["cam_max_abs_diff_vs_lean_gradcam"] < 1e-4
    # ... and pytorch-grad-cam's (in the test extra: this comparison always runs).
    assert r["vs_pytorch_grad_cam"] is not None and r["vs_pytorch_grad_cam"] > 0
    assert r["cam_max_abs_diff_vs_pytorch_grad_cam"] < 1e-3
    assert r["gflop_per_tile"] > 0
    # Issue 26's ratios: the network against a plain matmul, the whole analysis against the network.
    assert r["matmul_gflops"] > 0
    assert r["forward_vs_matmul"] == pytest.approx(r["gflops"] / r["matmul_gflops"])
    e = r["end_to_end_image"]
    assert e["shape"] == [256, 320] and 1 <= e["tiles_run"] <= e["tiles"]
    assert r["end_to_end_tiles_per_s"] == pytest.approx(e["tiles_run"] / e["total_s"])
    assert r["end_to_end_vs_forward"] == pytest.approx(
        r["end_to_end_tiles_per_s"] / r["forward_tiles_per_s"]
    )


def test_bench_text_names_the_ratios(capsys) -> None:
    argv = ["bench", "--device", "cpu", "--tiles", "1", "--batch-size", "1", "--repeats", "1"]
    assert main([*argv, "--no-end-to-end"]) == 0
    out = capsys.readouterr().out
    assert "2048x2048 fp32 matmul" in out and "forward / matmul = " in out
    assert "end to end (analyze" not in out  # --no-end-to-end
    assert "batch_vs_predict.py" in out


def test_bench_profile_tiny(capsys) -> None:
    r = _json(capsys, "--profile", "--size", "320x256", "--repeats", "1")
    assert tuple(r["shape"]) == (256, 320) and r["tiles"] >= 1
    stages = r["seconds"]
    assert set(stages) == {
        "hash", "read", "normalise", "model", "tiles, stitch, vote", "overlays",
        "encode (npz, PNG)", "write (atomic, fsync)",
    }  # fmt: skip
    assert all(v >= 0 for v in stages.values()) and stages["model"] > 0
    assert r["total_s"] == pytest.approx(sum(stages.values()))


def test_bench_rejects_bad_settings(capsys) -> None:
    assert main(["bench", "--tiles", "0"]) == 2
    assert "--tiles must be at least 1" in capsys.readouterr().err
    assert main(["bench", "--size", "big"]) == 2
    assert "--size must look like 2048x1536" in capsys.readouterr().err
