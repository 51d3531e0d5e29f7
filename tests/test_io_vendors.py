"""read_sem on every real vendor file of ../shared/data/sem-tiff (see its MANIFEST.md)."""

import numpy as np
import pytest

from fractoscope.io import describe, read_sem

# file, pixel size (m) or None, source, raw shape, image rows above the data bar or None, dtype
MANIFEST = [
    ("rosettasciio/FEI-Helios-Ebeam-8bits.tif", 3.3724e-6, "FEI metadata", (471, 512), 442, "uint8"),
    ("rosettasciio/FEI-Helios-Ebeam-16bits.tif", 3.3724e-6, "FEI metadata", (471, 512), 442, "uint16"),
    ("rosettasciio/FEI-Helios-navcam.tif", None, "none", (551, 768), None, "uint8"),
    ("rosettasciio/FEI-Helios-navcam-with-no-IRBeam-bad-floats.tif", None, "none", (551, 768), None,
     "uint8"),
    ("rosettasciio/test_tiff_Zeiss_SEM_1k.tif", 2.615e-6, "Zeiss metadata", (768, 1024), None, "uint8"),
    ("rosettasciio/test_tiff_Zeiss_SEM_512pix.tif", 5.825e-9, "Zeiss metadata", (384, 512), None,
     "uint8"),
    ("rosettasciio/test_loading_image_saved_with_imageJ.tif", 1.6867469e-7, "ImageJ", (68, 68), None,
     "float32"),
    ("rosettasciio/test_loading_image_saved_with_imageJ_no_scale.tif", None, "none", (68, 68), None,
     "float32"),
    ("rosettasciio/test_loading_image_saved_with_DM.tif", None, "none", (68, 68), None, "int32"),
    ("rosettasciio/optical_Zeiss_AxioVision_RGB.tif", None, "none", (10, 13), None, "uint8"),
    ("teplonogova/Tescan_1.TIF", 4.537772e-9, "TESCAN metadata", (1331, 1536), 1152, "uint16"),
    ("teplonogova/Tescan_3.TIF", 3.973702e-9, "TESCAN metadata", (1331, 1536), 1152, "uint16"),
    ("teplonogova/Zeiss_1.tif", 5.86e-9, "Zeiss metadata", (768, 1024), None, "uint8"),
    ("teplonogova/Zeiss_3.tif", 2.93e-9, "Zeiss metadata", (768, 1024), None, "uint8"),
    ("kit-data-manager/FeMoOx_AntiA_04_1k5x_CN.tif", 74.43e-9, "Zeiss metadata", (768, 1024), None,
     "uint8"),
    ("kit-data-manager/1-as-cast_16_Sch_10k_InLens.tif", 11.16e-9, "Zeiss metadata", (768, 1024),
     None, "uint8"),
    ("kit-data-manager/1-as-cast_18_Sch_10k_BSD-Compo.tif", 11.16e-9, "Zeiss metadata", (768, 1024),
     None, "uint8"),
]


@pytest.mark.parametrize(("name", "px", "source", "raw_shape", "image_rows", "dtype"), MANIFEST,
                         ids=[m[0].split("/")[-1] for m in MANIFEST])
def test_manifest_file(sem_tiff_dir, name, px, source, raw_shape, image_rows, dtype):
    sem = read_sem(sem_tiff_dir / name)
    assert sem.calibration.source == source
    if px is None:
        assert sem.pixel_size_m is None
        assert not sem.calibration.is_calibrated
        assert sem.field_of_view_m is None
    else:
        assert sem.pixel_size_m == pytest.approx(px, rel=1e-3)
        assert sem.calibration.pixel_size_y_m == pytest.approx(px, rel=1e-3)
    assert sem.raw_shape == raw_shape
    assert str(sem.data.dtype) == dtype
    if image_rows is not None:
        assert sem.shape == (image_rows, raw_shape[1])
        assert sem.databar_rows == raw_shape[0] - image_rows
        assert sem.databar_source == "metadata"
    assert sem.image.shape[:2] == sem.shape
    d = describe(sem)
    assert d["raw_shape"] == list(raw_shape)
    assert d["calibration_source"] == source


def test_rgb_control_keeps_colour(sem_tiff_dir):
    sem = read_sem(sem_tiff_dir / "rosettasciio/optical_Zeiss_AxioVision_RGB.tif")
    assert sem.data.shape == (10, 13, 3)
    assert sem.vendor is None


def test_fei_instrument_metadata(sem_tiff_dir):
    sem = read_sem(sem_tiff_dir / "rosettasciio/FEI-Helios-Ebeam-16bits.tif")
    info = sem.instrument
    assert info.vendor == "Thermo Fisher/FEI"
    assert "Helios" in info.model
    assert info.high_voltage_kv == pytest.approx(5.0)
    assert info.working_distance_mm == pytest.approx(4.03466)
    assert info.horizontal_field_width_m == pytest.approx(1.72667e-3)
    assert info.detector.startswith("ETD")
    assert "2016" in info.date
    # image content above the bar is blank, the bar itself carries text
    assert sem.image.max() == 0
    assert sem.data[442:].max() > 0


def test_fei_bad_floats_do_not_crash(sem_tiff_dir):
    sem = read_sem(sem_tiff_dir / "rosettasciio/FEI-Helios-navcam-with-no-IRBeam-bad-floats.tif")
    assert sem.instrument.vendor == "Thermo Fisher/FEI"
    assert sem.instrument.high_voltage_kv is None  # HV=notafloat
    assert any("malformed" in n for n in sem.notes)


def test_zeiss_instrument_metadata(sem_tiff_dir):
    sem = read_sem(sem_tiff_dir / "rosettasciio/test_tiff_Zeiss_SEM_1k.tif")
    info = sem.instrument
    assert (info.vendor, info.model, info.detector) == ("Zeiss", "Merlin", "HE-SE2")
    assert info.high_voltage_kv == pytest.approx(25.0)
    assert info.working_distance_mm == pytest.approx(14.808)
    assert info.magnification == pytest.approx(105)
    assert info.horizontal_field_width_m == pytest.approx(2.677e-3)
    kx = read_sem(sem_tiff_dir / "teplonogova/Zeiss_3.tif").instrument
    assert kx.magnification == pytest.approx(100_000)
    assert kx.model == "NVision 40"


def test_zeiss_resized_image_is_flagged(sem_tiff_dir):
    # 512 px wide but ap_width = 1024 x ap_pixel_size: the file was downsampled after saving.
    sem = read_sem(sem_tiff_dir / "rosettasciio/test_tiff_Zeiss_SEM_512pix.tif")
    assert any("resized" in n for n in sem.notes)


def test_tescan_instrument_metadata(sem_tiff_dir):
    sem = read_sem(sem_tiff_dir / "teplonogova/Tescan_1.TIF")
    info = sem.instrument
    assert info.vendor == "TESCAN"
    assert "AMBER" in info.model
    assert info.high_voltage_kv == pytest.approx(1.0)
    assert info.working_distance_mm == pytest.approx(3.847444)
    assert info.magnification == pytest.approx(60_000, rel=1e-3)
    assert info.detector == "E-T"


def test_no_crop_keeps_all_rows(sem_tiff_dir):
    sem = read_sem(sem_tiff_dir / "teplonogova/Tescan_1.TIF", crop_databar=False)
    assert sem.databar_rows == 0
    assert sem.databar_source == "disabled"
    assert sem.shape == (1331, 1536)
    assert np.array_equal(sem.image, sem.data)
