"""One metadata wording (issue 27): ``fractoscope info``, the window's Image tab and the PDF
report's data show the same strings for a real vendor file, all from ``io.describe``."""

from __future__ import annotations

import dataclasses

import pytest

from fractoscope.calibration import Calibration
from fractoscope.cli import main
from fractoscope.gui.viewer.panels import ImageInfoPanel
from fractoscope.io import read_sem
from fractoscope.report.data import ImageReport

ZEISS_512 = "rosettasciio/test_tiff_Zeiss_SEM_512pix.tif"

# (info label, Image tab field, report key, expected): the expected strings are written by hand
# from the file's own metadata (rosettasciio's CZ_SEM block: ULTRA 55 at 50 kX, EHT 5 kV, WD 3.9 mm,
# InLens, ap_pixel_size 5.825 nm) and from its pixels (512 x 384, a 34-row data bar found).
ROWS = [
    ("vendor", "Vendor", "Vendor", "Zeiss"),
    ("high voltage", "kV", "Accelerating voltage", "5 kV"),
    ("working dist.", "WD", "Working distance", "3.9 mm"),
    ("magnification", "Magnification", "Magnification", "50,000 \u00d7"),
    ("detector", "Detector", "Detector", "InLens"),
    ("date", "Date", "Acquired", "25 Sep 2018 8:20:42"),
    ("pixel size", "Pixel size", "Pixel size", "5.83 nm"),
    ("image size", "Image size", "Image size", "512 \u00d7 350 px"),
    ("data bar", "Data bar", "Data bar", "34 rows cropped (detected)"),
    ("field of view", "Field of view", "Field of view", "2.98 \u00b5m \u00d7 2.04 \u00b5m"),
]


def _info_values(out: str) -> dict[str, str]:
    values = {}
    for line in out.splitlines()[1:]:
        key, sep, value = line.strip().partition(":")
        if sep and key != "note":
            values[key] = value.strip()
    return values


@pytest.fixture(scope="module")
def zeiss(sem_tiff_dir, analyzer):
    sem = read_sem(sem_tiff_dir / ZEISS_512)
    return sem, analyzer.analyze(sem, with_cams=True)


def test_info_image_tab_and_report_show_the_same_strings(qtbot, sem_tiff_dir, capsys, zeiss):
    sem, pred = zeiss
    assert main(["info", str(sem_tiff_dir / ZEISS_512)]) == 0
    info = _info_values(capsys.readouterr().out)
    panel = ImageInfoPanel()
    qtbot.addWidget(panel)
    panel.set_image(sem)
    rep = ImageReport.build(sem, pred)
    report = dict(rep.calibration + rep.instrument)
    for info_label, tab_field, report_key, expected in ROWS:
        assert info[info_label].split("  [")[0].split(" (Zeiss")[0] == expected, info_label
        assert panel.value(tab_field) == expected, tab_field
        assert report[report_key] == expected, report_key
    assert info["pixel size"] == "5.83 nm (Zeiss metadata)"
    assert panel.value("Calibration") == report["Source"] == "Zeiss metadata"


def test_not_calibrated_reads_the_same_everywhere(qtbot, sem_tiff_dir, capsys, zeiss):
    sem, pred = zeiss
    bare = dataclasses.replace(sem, calibration=Calibration.none())
    panel = ImageInfoPanel()
    qtbot.addWidget(panel)
    panel.set_image(bare)
    rep = ImageReport.build(bare, pred)
    noscale = sem_tiff_dir / "rosettasciio" / "test_loading_image_saved_with_imageJ_no_scale.tif"
    assert main(["info", str(noscale)]) == 0
    info = _info_values(capsys.readouterr().out)
    assert panel.value("Pixel size") == dict(rep.calibration)["Pixel size"] == "not calibrated"
    assert info["pixel size"].startswith("not calibrated")
    assert panel.value("Field of view") == info["field of view"] == "not calibrated"
    assert info["magnification"] == "not recorded" and info["vendor"] == "not recorded"


def test_batch_table_says_not_calibrated_as_the_image_tab_does(qtbot, sem_tiff_dir):
    """A real file without a scale: the Batch table's pixel size cell reads as the Image tab's."""
    from fractoscope.batch import BatchRecord
    from fractoscope.gui.batch.batch_panel import COLUMNS, BatchTableModel

    sem = read_sem(sem_tiff_dir / "rosettasciio" / "test_loading_image_saved_with_imageJ_no_scale.tif")
    assert not sem.calibration.is_calibrated
    panel = ImageInfoPanel()
    qtbot.addWidget(panel)
    panel.set_image(sem)
    model = BatchTableModel()
    rec = BatchRecord(path=str(sem.path), name=sem.name, status="ok", pixel_size_m=sem.calibration.pixel_size_x_m)
    rec.set_answer("fatigue", 0.97, "striations", 0.9, False, "")
    model.set_status(rec.path, "ok", rec)
    cell = model.data(model.index(0, COLUMNS.index("Pixel size")))
    assert cell == panel.value("Pixel size") == "not calibrated"
