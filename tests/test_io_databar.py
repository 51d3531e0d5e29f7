"""Data-bar detection: finds the real Zeiss bars, never crops ordinary images."""

import numpy as np
import pytest
import skimage.data
from io_fixtures import textured, write_tiff

from fractoscope.io import read_sem
from fractoscope.io.databar import detect_databar, row_statistics

# Zeiss SmartSEM burns its data zone into the bottom of the stored frame (no metadata says so).
# Bar heights read off each image by hand (row statistics printed and the crops looked at), not
# from the detector: the bar's first row is the first graphics row (a frame line of <= 5 grey
# levels across the full width) under rows of ordinary image (80-200 distinct levels per row).
#   Auriga / kit-data-manager: black line at row 690, then a white band -> 768 - 690 = 78 rows
#   Merlin 1k: black line at row 691 -> 768 - 691 = 77
#   ULTRA 55 512 px: black line at row 350 -> 384 - 350 = 34
#   NVision 40 (teplonogova): two grey (192) frame lines at rows 699-700 precede the black text
#   band from row 701 -> 768 - 699 = 69
ZEISS_BAR_FIRST_ROW = {
    "kit-data-manager/FeMoOx_AntiA_04_1k5x_CN.tif": 690,
    "kit-data-manager/1-as-cast_16_Sch_10k_InLens.tif": 690,
    "kit-data-manager/1-as-cast_18_Sch_10k_BSD-Compo.tif": 690,
    "rosettasciio/test_tiff_Zeiss_SEM_1k.tif": 691,
    "rosettasciio/test_tiff_Zeiss_SEM_512pix.tif": 350,
    "teplonogova/Zeiss_1.tif": 699,
    "teplonogova/Zeiss_3.tif": 699,
}


@pytest.mark.parametrize("name,first_row", ZEISS_BAR_FIRST_ROW.items(), ids=lambda v: str(v).split("/")[-1])
def test_zeiss_bar_detected(sem_tiff_dir, name, first_row):
    raw = read_sem(sem_tiff_dir / name, crop_databar=False).data
    # the hand-read first row really is a graphics row under image rows (guards the table above)
    levels = [len(np.unique(r)) for r in raw[first_row - 3 : first_row + 1]]
    assert min(levels[:3]) > 60 and levels[3] <= 5, levels
    sem = read_sem(sem_tiff_dir / name)
    assert sem.databar_source == "detected"
    assert sem.databar_rows == raw.shape[0] - first_row
    # what is left is image: its last rows are not bar-like
    bar_like, _ = row_statistics(sem.image)
    assert not bar_like[-4:].all()
    assert read_sem(sem_tiff_dir / name, crop_databar=False).databar_source == "disabled"


def test_fei_bar_detected_without_metadata(sem_tiff_dir, tmp_path):
    # An FEI data bar under real image content, saved without FEI metadata.
    fei = read_sem(sem_tiff_dir / "rosettasciio/FEI-Helios-Ebeam-8bits.tif", crop_databar=False)
    bar = fei.data[442:]
    camera = skimage.data.camera()[:300, :512]
    path = write_tiff(tmp_path / "plain.tif", np.vstack([camera, bar]))
    sem = read_sem(path)
    assert (sem.databar_rows, sem.databar_source) == (bar.shape[0], "detected")


@pytest.mark.parametrize("name", ["camera", "moon", "coins", "text", "page", "brick", "grass",
                                  "gravel", "horse", "clock", "astronaut", "coffee", "cell",
                                  "shepp_logan_phantom", "binary_blobs", "checkerboard"])
def test_no_false_crop_on_ordinary_images(name):
    img = getattr(skimage.data, name)()
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    for variant in (img, img.max() - img, np.flipud(img)):
        assert detect_databar(variant) == 0


def test_no_false_crop_on_flat_noise_dark(tmp_path):
    rng = np.random.default_rng(1)
    assert detect_databar(np.zeros((200, 200), np.uint8)) == 0
    assert detect_databar(rng.integers(0, 256, (200, 200)).astype(np.uint8)) == 0
    dark = textured(200, 200)
    dark[150:] = 0  # a black region (vacuum beyond a specimen edge) is not a bar
    dark[160:170, 20:24] = 255
    assert detect_databar(dark) == 0
    assert read_sem(write_tiff(tmp_path / "d.tif", dark)).databar_source == "none"
