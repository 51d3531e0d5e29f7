"""Vendor sidecars (JEOL, Hitachi, TESCAN .hdr) built from their documented layouts."""

import warnings

import numpy as np
import pytest
from io_fixtures import hitachi_txt, jeol_txt, tescan_hdr, textured, write_tiff
from PIL import Image

from fractoscope.io import read_sem


def test_jeol_sidecar(tmp_path):
    img = write_tiff(tmp_path / "jeol.tif", textured(96, 128))
    (tmp_path / "jeol.txt").write_text(jeol_txt(full_size=(128, 96), bar_px=160, marker="5um"))
    sem = read_sem(img)
    assert sem.calibration.source == "JEOL sidecar"
    assert sem.pixel_size_m == pytest.approx(5e-6 / 160)
    info = sem.instrument
    assert (info.vendor, info.model, info.detector) == ("JEOL", "JSM-7800F", "SEI")
    assert info.magnification == 5000
    assert info.high_voltage_kv == pytest.approx(15.0)
    assert info.working_distance_mm == pytest.approx(10.0)
    assert sem.databar_rows == 0


def test_jeol_databar_rows_below_full_size_and_rescale(tmp_path):
    # Saved at half the acquisition width, with a 12-row information bar under the frame.
    data = np.vstack([textured(48, 64), np.zeros((12, 64), np.uint8)])
    img = tmp_path / "half.bmp"
    Image.fromarray(data).save(img)
    (tmp_path / "half.txt").write_text(
        jeol_txt(full_size=(128, 48), bar_px=100, marker="10 µm"), encoding="utf-8")
    sem = read_sem(img)
    assert sem.pixel_size_m == pytest.approx(10e-6 / 100 * 2)
    assert any("rescaled" in n for n in sem.notes)
    assert (sem.databar_rows, sem.databar_source, sem.shape) == (12, "metadata", (48, 64))


def test_jeol_marker_units(tmp_path):
    img = write_tiff(tmp_path / "nm.tif", textured(64, 64))
    (tmp_path / "nm.txt").write_text(jeol_txt(full_size=(64, 64), bar_px=200, marker="500nm"))
    assert read_sem(img).pixel_size_m == pytest.approx(2.5e-9)


def test_hitachi_sidecar_utf16(tmp_path):
    img = tmp_path / "hit.jpg"
    Image.fromarray(textured(96, 128)).save(img, quality=95)
    # Hitachi software writes UTF-16 text on some versions.
    (tmp_path / "hit.txt").write_bytes(hitachi_txt(datasize="128x96").encode("utf-16"))
    sem = read_sem(img)
    assert sem.calibration.source == "Hitachi sidecar"
    assert sem.pixel_size_m == pytest.approx(24.8e-9)
    info = sem.instrument
    assert (info.vendor, info.model, info.detector) == ("Hitachi", "S-4800", "SE(U)")
    assert info.high_voltage_kv == pytest.approx(15.0)
    assert info.working_distance_mm == pytest.approx(8.1)
    assert info.magnification == 5000


def test_hitachi_databar_from_datasize(tmp_path):
    data = np.vstack([textured(80, 128), np.full((16, 128), 255, np.uint8)])
    img = write_tiff(tmp_path / "bar.tif", data)
    (tmp_path / "bar.txt").write_text(hitachi_txt(datasize="128x80"))
    sem = read_sem(img)
    assert (sem.databar_rows, sem.databar_source) == (16, "metadata")


def test_hitachi_zero_pixel_size_is_rejected_with_warning(tmp_path):
    img = write_tiff(tmp_path / "zero.tif", textured(64, 64))
    (tmp_path / "zero.txt").write_text(hitachi_txt(pixel_nm="0"))
    with pytest.warns(UserWarning, match="implausible pixel size"):
        sem = read_sem(img)
    assert not sem.calibration.is_calibrated
    assert any("implausible" in n for n in sem.notes)


@pytest.mark.parametrize("value", ["-5", "nan", "garbage", "1e12"])
def test_hitachi_bad_pixel_sizes(tmp_path, value):
    img = write_tiff(tmp_path / "bad.tif", textured(64, 64))
    (tmp_path / "bad.txt").write_text(hitachi_txt(pixel_nm=value))
    with pytest.warns(UserWarning):
        sem = read_sem(img)
    assert sem.calibration.source == "none"


def test_tescan_hdr_sidecar(tmp_path):
    img = write_tiff(tmp_path / "scan.tif", textured(64, 64))
    (tmp_path / "scan-tif.hdr").write_text(tescan_hdr(pixel_m="4.5e-09"))
    sem = read_sem(img)
    assert sem.calibration.source == "TESCAN sidecar"
    assert sem.pixel_size_m == pytest.approx(4.5e-9)
    assert sem.instrument.high_voltage_kv == pytest.approx(15.0)
    assert sem.instrument.working_distance_mm == pytest.approx(9.8)


def test_missing_or_unrelated_sidecar_is_uncalibrated(tmp_path):
    img = write_tiff(tmp_path / "plain.tif", textured(64, 64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_sem(img).calibration.source == "none"
    (tmp_path / "plain.txt").write_text("lab notebook: sample 3, polished\n")
    assert read_sem(img).calibration.source == "none"


def test_embedded_metadata_wins_over_sidecar(sem_tiff_dir, tmp_path):
    src = sem_tiff_dir / "teplonogova/Tescan_3.TIF"
    img = tmp_path / "t.TIF"
    img.write_bytes(src.read_bytes())
    (tmp_path / "t.txt").write_text(hitachi_txt())
    assert read_sem(img).calibration.source == "TESCAN metadata"
