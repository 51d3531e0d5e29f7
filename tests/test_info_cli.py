"""``fractoscope info``: text and JSON output, one stderr line per failed file, exit 2."""

import json
import subprocess
import sys

import pytest

from fractoscope.cli import main

FEI = "rosettasciio/FEI-Helios-Ebeam-8bits.tif"
TESCAN = "teplonogova/Tescan_1.TIF"
NOSCALE = "rosettasciio/test_loading_image_saved_with_imageJ_no_scale.tif"


def test_info_text(sem_tiff_dir, capsys):
    rc = main(["info", str(sem_tiff_dir / FEI), str(sem_tiff_dir / TESCAN)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "3.37 µm (FEI metadata)" in out
    assert "4.54 nm (TESCAN metadata)" in out
    assert "512 \u00d7 442 px" in out and "29 rows cropped (metadata)" in out
    assert "60,000 \u00d7" in out
    assert "field of view" in out


def test_info_json(sem_tiff_dir, capsys):
    rc = main(["info", "--json", str(sem_tiff_dir / TESCAN), str(sem_tiff_dir / NOSCALE)])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["calibration_source"] for d in data] == ["TESCAN metadata", "none"]
    t, n = data
    assert t["vendor"] == "TESCAN"
    assert t["pixel_size_m"] == pytest.approx(4.537772e-9, rel=1e-6)
    assert t["raw_shape"] == [1331, 1536] and t["shape"] == [1152, 1536]
    assert t["databar_rows"] == 179
    assert n["pixel_size_m"] is None and n["shape"] == [68, 68]


def test_info_no_crop(sem_tiff_dir, capsys):
    assert main(["info", "--json", "--no-crop", str(sem_tiff_dir / FEI)]) == 0
    (d,) = json.loads(capsys.readouterr().out)
    assert d["shape"] == [471, 512] and d["databar_rows"] == 0


def test_info_errors_one_line_each_and_exit_2(sem_tiff_dir, tmp_path, capsys):
    text = tmp_path / "notes.tif"
    text.write_text("this is not an image\n")
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.tif"
    good = sem_tiff_dir / FEI
    rc = main(["info", "--json", str(text), str(good), str(empty), str(missing)])
    captured = capsys.readouterr()
    assert rc == 2
    err = captured.err.strip().splitlines()
    assert len(err) == 3
    for line, path in zip(err, (text, empty, missing), strict=True):
        assert line.startswith(f"fractoscope: {path}: ")
    assert "Traceback" not in captured.err
    data = json.loads(captured.out)
    assert [("error" in d) for d in data] == [True, False, True, True]
    assert data[1]["pixel_size_m"] == pytest.approx(3.3724e-6)
    assert all(d["path"] for d in data)


def test_info_subprocess(sem_tiff_dir, tmp_path, repo_root):
    bad = tmp_path / "truncated.tif"
    bad.write_bytes((sem_tiff_dir / FEI).read_bytes()[:5000])
    proc = subprocess.run(
        [sys.executable, "-m", "fractoscope", "info", str(sem_tiff_dir / TESCAN), str(bad)],
        capture_output=True, text=True, cwd=repo_root, timeout=120,
    )
    assert proc.returncode == 2
    assert "TESCAN metadata" in proc.stdout
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"fractoscope: {bad}: ")
    assert "Traceback" not in proc.stderr
