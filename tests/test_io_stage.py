"""Stage position (X, Y, Z, rotation, tilt, scan rotation) from vendor metadata.

Expected values are the numbers written in the files' raw metadata text, read by hand (a tiny
script printing the tag bytes around each key), converted with the unit the file states: FEI
[Stage] metres and radians, Zeiss ``Stage at X = 62.9961 mm`` / degrees, TESCAN metres and
degrees. They are not taken from the reader under test.
"""

from __future__ import annotations

import json
import math

import pytest
from io_fixtures import jeol_txt, tescan_hdr, textured, write_tiff

from fractoscope.cli import main
from fractoscope.io import read_sem

FEI = "rosettasciio/FEI-Helios-Ebeam-8bits.tif"
NAVCAM = "rosettasciio/FEI-Helios-navcam.tif"
ZEISS_512 = "rosettasciio/test_tiff_Zeiss_SEM_512pix.tif"
ZEISS_1K = "rosettasciio/test_tiff_Zeiss_SEM_1k.tif"
TESCAN = "teplonogova/Tescan_1.TIF"
NO_STAGE = "rosettasciio/test_loading_image_saved_with_imageJ.tif"


def test_fei_helios_stage(sem_tiff_dir):
    # Tag 34682 text: [Stage] StageX=2.576e-005 StageY=-0.000194177 StageZ=0.007965
    # StageR=-2.3611 (rad) StageT=6.54498e-006 (rad); [Beam] ScanRotation=0
    st = read_sem(sem_tiff_dir / FEI).stage
    assert st is not None
    assert st.x_m == pytest.approx(2.576e-5)
    assert st.y_m == pytest.approx(-0.000194177)
    assert st.z_m == pytest.approx(0.007965)
    assert st.rotation_deg == pytest.approx(-2.3611 * 180 / math.pi)  # -135.28 degrees
    assert st.tilt_deg == pytest.approx(6.54498e-6 * 180 / math.pi)
    assert st.scan_rotation_deg == 0


def test_fei_navcam_stage_and_scan_rotation(sem_tiff_dir):
    # [Stage] StageX=0.0699197 StageY=0.000811186 StageR=1.07874; [Beam] ScanRotation=0.00840385
    st = read_sem(sem_tiff_dir / NAVCAM).stage
    assert (st.x_m, st.y_m) == pytest.approx((0.0699197, 0.000811186))
    assert st.rotation_deg == pytest.approx(61.8072, abs=1e-3)  # 1.07874 rad
    assert st.scan_rotation_deg == pytest.approx(0.481505, abs=1e-5)  # 0.00840385 rad


def test_zeiss_512_stage(sem_tiff_dir):
    # CZ_SEM text: "Stage at X = 62.9961 mm", "Stage at Y = 65.3168 mm", "Stage at Z = 44.678 mm",
    # "Stage at R = 245.8 °", "Stage at T =   0.0 °"; no AP_SCANROTATION in this file.
    st = read_sem(sem_tiff_dir / ZEISS_512).stage
    assert st.x_m == pytest.approx(62.9961e-3)
    assert st.y_m == pytest.approx(65.3168e-3)
    assert st.z_m == pytest.approx(44.678e-3)
    assert st.rotation_deg == pytest.approx(245.8)
    assert st.tilt_deg == pytest.approx(0.0)
    assert st.scan_rotation_deg is None


def test_zeiss_scan_rotation_switched_off_counts_as_zero(sem_tiff_dir):
    # "Scan Rotation = 145.6 °" but "Scan Rot = Off": the image is not rotated.
    st = read_sem(sem_tiff_dir / ZEISS_1K).stage
    assert st.x_m == pytest.approx(75.6442e-3) and st.y_m == pytest.approx(60.4901e-3)
    assert st.rotation_deg == pytest.approx(10.2)
    assert st.scan_rotation_deg == 0.0


def test_tescan_stage(sem_tiff_dir):
    # Tag 50431: StageX=0.00000145 StageY=-0.013496649 StageZ=0.003000001 (m),
    # StageRotation=30.001 StageTilt=0.001 ScanRotation=18.0 (degrees)
    st = read_sem(sem_tiff_dir / TESCAN).stage
    assert (st.x_m, st.y_m, st.z_m) == pytest.approx((1.45e-6, -0.013496649, 0.003000001))
    assert st.rotation_deg == pytest.approx(30.001)
    assert st.tilt_deg == pytest.approx(0.001)
    assert st.scan_rotation_deg == pytest.approx(18.0)


def test_no_stage_metadata(sem_tiff_dir):
    assert read_sem(sem_tiff_dir / NO_STAGE).stage is None


def test_jeol_sidecar_stage(tmp_path):
    # JEOL's documented layout: $CM_STAGE_POS X Y Z T R (mm, mm, mm, degrees, degrees)
    img = write_tiff(tmp_path / "j.tif", textured(96, 128))
    (tmp_path / "j.txt").write_text(
        jeol_txt(full_size=(128, 96), extra="$CM_STAGE_POS 12.5 -3.25 10.0 5.0 90.0\r\n")
    )
    st = read_sem(img).stage
    assert (st.x_m, st.y_m, st.z_m) == pytest.approx((0.0125, -0.00325, 0.010))
    assert st.tilt_deg == 5.0 and st.rotation_deg == 90.0


def test_tescan_hdr_sidecar_stage(tmp_path):
    # TESCAN .hdr sidecars use the tag's keys: metres and degrees
    img = write_tiff(tmp_path / "t.tif", textured(96, 128))
    (tmp_path / "t-tif.hdr").write_text(
        tescan_hdr() + "[MAIN]\r\nStageX=0.0012\r\nStageY=-0.0034\r\nStageRotation=45.5\r\n"
    )
    st = read_sem(img).stage
    assert (st.x_m, st.y_m, st.rotation_deg) == pytest.approx((0.0012, -0.0034, 45.5))
    assert st.scan_rotation_deg is None


def test_info_shows_stage(sem_tiff_dir, capsys):
    assert main(["info", str(sem_tiff_dir / ZEISS_512)]) == 0
    out = capsys.readouterr().out
    assert "stage:" in out and "X 62.9961 mm" in out and "R 245.8\u00b0" in out
    assert main(["info", "--json", str(sem_tiff_dir / FEI), str(sem_tiff_dir / NO_STAGE)]) == 0
    fei, none = json.loads(capsys.readouterr().out)
    assert fei["stage"]["x_m"] == pytest.approx(2.576e-5)
    assert fei["stage"]["scan_rotation_deg"] == 0
    assert none["stage"] is None
