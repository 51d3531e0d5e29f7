"""PDF reports: they open, have the expected pages and sizes, and their extracted text names the
predicted classes, the model sha256, the sample and the failures (Qt's QPdfDocument, no extras)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from fractoscope.io import read_sem  # noqa: E402
from fractoscope.report import BatchReport, ImageReport, ReportMeta  # noqa: E402
from fractoscope.synth import generate_dataset  # noqa: E402


@pytest.fixture(scope="module")
def analyzer():
    from fractoscope.analysis.pipeline import Analyzer

    return Analyzer(device="cpu")


@pytest.fixture()
def app(qapp):
    # pytest-qt's QApplication: a bare QGuiApplication here would break later widget tests.
    return qapp


def _pdf_text(path: Path) -> tuple[int, list[str], list[tuple[float, float]]]:
    from PySide6.QtPdf import QPdfDocument

    doc = QPdfDocument()
    assert doc.load(str(path)) == QPdfDocument.Error.None_
    n = doc.pageCount()
    texts = [doc.getAllText(i).text() for i in range(n)]
    sizes = [(doc.pagePointSize(i).width(), doc.pagePointSize(i).height()) for i in range(n)]
    doc.close()
    return n, texts, sizes


@pytest.fixture(scope="module")
def analysed(tmp_path_factory, analyzer):
    d = tmp_path_factory.mktemp("rep")
    (p,) = generate_dataset(d, per_class=1, seed=11, size=256, classes=["equiaxed_dimples"])
    sem = read_sem(p)
    return sem, analyzer.analyze(sem)


META = ReportMeta(
    title="Failure report",
    sample_id="S-2031-B",
    analyst="A. Fractographer",
    notes="Bolt from flange, fracture at first engaged thread.",
    date="2026-11-29",
)


@pytest.mark.parametrize(("page", "size_pt"), [("A4", (595, 842)), ("Letter", (612, 792))])
def test_single_image_report(tmp_path: Path, app, analysed, page, size_pt) -> None:
    from fractoscope.gui.report_pdf import write_image_report

    sem, pred = analysed
    out = tmp_path / "r.pdf"
    assert write_image_report(out, sem, pred, META, page_size=page) == out
    assert not [p for p in tmp_path.iterdir() if p != out], "no temporary file left behind"
    n, texts, sizes = _pdf_text(out)
    assert 3 <= n <= 4
    assert all(abs(w - size_pt[0]) < 2 and abs(h - size_pt[1]) < 2 for w, h in sizes)
    text = "\n".join(texts)
    tax = pred.taxonomy
    for needle in (
        tax.display_name(pred.level1.label),
        tax.display_name(pred.level2.label),
        pred.model.sha256,
        pred.model.name,
        "S-2031-B",
        "A. Fractographer",
        "first engaged thread",
        "2026-11-29",
        "confirmed by a qualified",
        sem.name,
        "Grad-CAM",
        "Tile class map",
        "Calibration and instrument",
        f"Page 1 of {n}",
    ):
        assert needle in text, needle
    assert f"{100 * pred.level1.probability:.1f} %" in texts[0]
    # Every alternative (top-3 path) is listed.
    for _a, b, _q in pred.top(3):
        assert tax.display_name(b) in text


def test_image_report_data(analysed) -> None:
    sem, pred = analysed
    rep = ImageReport.build(sem, pred)
    assert rep.image.pixels.dtype.name == "uint8" and rep.overlay_level1.pixels.shape[2] == 3
    assert rep.overlay_level1.pixels.shape == rep.overlay_level2.pixels.shape
    # Scale of every picture follows its resampling: width in metres is the field of view.
    fov_w = sem.field_of_view_m[0]
    for pic in (rep.image, rep.overlay_level1, rep.class_map):
        assert pic.width_m == pytest.approx(fov_w, rel=0.02)
    assert sum(f for _, _, f in rep.area_level2) == pytest.approx(1.0)
    assert [r.label for r in rep.probabilities][0] == pred.level1.label
    for r1 in rep.probabilities:
        assert sum(c.probability for c in r1.children) == pytest.approx(r1.probability, abs=1e-4)


def test_batch_report(tmp_path: Path, app, analyzer) -> None:
    from fractoscope.batch import run_batch
    from fractoscope.gui.report_pdf import write_batch_report

    src = tmp_path / "in"
    generate_dataset(
        src, per_class=1, seed=12, size=256, classes=["cleavage", "beach_marks", "pitting"]
    )
    (src / "truncated.tif").write_bytes(b"II*\x00\x08\x00\x00\x00")
    out = tmp_path / "out"
    run_batch([src], out, analyzer, recursive=True)
    rep = BatchReport.from_out_dir(out)
    assert rep.images == 4 and rep.ok == 3 and len(rep.failed) == 1
    assert sum(n for _, _, n in rep.level1_counts) == 3 == sum(n for _, _, n in rep.level2_counts)

    pdf = tmp_path / "batch.pdf"
    write_batch_report(pdf, rep, META)
    n, texts, _ = _pdf_text(pdf)
    assert n == 3  # summary, table, thumbnails + failures
    text = "\n".join(texts)
    assert rep.model_sha256 in text and "S-2031-B" in text
    assert "truncated.tif" in texts[-1] and rep.failed[0].error[:30] in text.replace("\n", " ")
    for r in rep.rows:
        assert r.name in texts[1]
        if r.status == "ok":
            assert rep.names[r.level1] in texts[1] and rep.names[r.level2] in texts[1]
    assert "Thumbnails" in texts[2]


def test_report_cli_single_and_batch(tmp_path: Path, analysed) -> None:
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(repo), OMP_NUM_THREADS="1", QT_QPA_PLATFORM="offscreen")
    sem, _ = analysed
    out = tmp_path / "one.pdf"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "fractoscope",
            "report",
            str(sem.path),
            "--out",
            str(out),
            "--sample-id",
            "CLI-1",
            "--analyst",
            "B",
            "--notes",
            "n",
            "--device",
            "cpu",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    assert out.read_bytes()[:5] == b"%PDF-"
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "fractoscope",
            "report",
            str(tmp_path / "nope.tif"),
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "fractoscope",
            "report",
            str(empty),
            "--out",
            str(tmp_path / "b.pdf"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 2 and "no batch results" in res.stderr


def test_report_meta_dialog(qtbot) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QDialog

    from fractoscope.gui.report_pdf import ask_report_meta

    def fill() -> None:
        dlg = next(
            w for w in QApplication.topLevelWidgets() if isinstance(w, QDialog) and w.isVisible()
        )
        dlg.sample_edit.setText("S-9")
        dlg.analyst_edit.setText("K. Tester")
        dlg.notes_edit.setPlainText("two origins")
        dlg.accept()

    QTimer.singleShot(50, fill)
    meta, size = ask_report_meta(None, ReportMeta(title="T", date="2026-01-02"), page_size="Letter")
    assert (meta.sample_id, meta.analyst, meta.notes, meta.date, meta.title) == (
        "S-9",
        "K. Tester",
        "two origins",
        "2026-01-02",
        "T",
    )
    assert size == "Letter"
