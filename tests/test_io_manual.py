"""Manual scale: saved beside the image, applied by read_sem over metadata."""

import json
import os

import pytest
from io_fixtures import textured, write_tiff

from fractoscope.calibration import Calibration
from fractoscope.errors import CalibrationError
from fractoscope.io import (
    load_manual_calibration,
    manual_calibration_path,
    read_sem,
    save_manual_calibration,
)


def test_save_reopen_manual(tmp_path):
    img = write_tiff(tmp_path / "a.tif", textured(64, 64))
    assert load_manual_calibration(img) is None
    cal = Calibration.from_scale_bar(200, 10e-6)
    path = save_manual_calibration(img, cal)
    assert path == tmp_path / "a.tif.fractoscope.json"
    assert json.loads(path.read_text())["calibration"]["pixel_size_x_m"] == pytest.approx(5e-8)
    sem = read_sem(img)
    assert sem.calibration.source == "manual"
    assert sem.pixel_size_m == pytest.approx(5e-8)
    again = load_manual_calibration(img)
    assert again.source == "manual"
    assert again.pixel_size_y_m == pytest.approx(5e-8)
    assert not list(tmp_path.glob("*.tmp"))


def test_manual_overrides_metadata(sem_tiff_dir, tmp_path):
    img = tmp_path / "z.tif"
    img.write_bytes((sem_tiff_dir / "teplonogova/Zeiss_3.tif").read_bytes())
    save_manual_calibration(img, Calibration.isotropic(3.1e-9, "whatever"))
    sem = read_sem(img)
    assert (sem.calibration.source, sem.pixel_size_m) == ("manual", pytest.approx(3.1e-9))
    assert sem.instrument.vendor == "Zeiss"
    assert any("overrides Zeiss metadata" in n for n in sem.notes)


@pytest.mark.parametrize("content", ["{not json", '{"calibration": {"pixel_size_x_m": -1}}',
                                     "[1, 2]", '{"calibration": {"pixel_size_x_m": "x"}}'])
def test_corrupt_sidecar_is_a_note_not_a_failure(tmp_path, content):
    img = write_tiff(tmp_path / "c.tif", textured(64, 64))
    manual_calibration_path(img).write_text(content)
    with pytest.raises(CalibrationError):
        load_manual_calibration(img)
    with pytest.warns(UserWarning, match="manual calibration ignored"):
        sem = read_sem(img)
    assert sem.calibration.source == "none"
    assert any("manual calibration ignored" in n for n in sem.notes)


def test_save_refuses_empty_or_implausible(tmp_path):
    img = tmp_path / "x.tif"
    with pytest.raises(CalibrationError):
        save_manual_calibration(img, Calibration.none())
    with pytest.raises(CalibrationError):
        save_manual_calibration(img, Calibration(5.0, 5.0, "manual"))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_save_to_read_only_folder_is_a_clear_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    img = write_tiff(folder / "a.tif", textured(64, 64))
    folder.chmod(0o555)
    try:
        with pytest.raises(CalibrationError, match="cannot save manual calibration"):
            save_manual_calibration(img, Calibration.isotropic(1e-8, "manual"))
    finally:
        folder.chmod(0o755)
