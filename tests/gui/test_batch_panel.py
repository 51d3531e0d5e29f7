"""Batch panel in pytest-qt: a dropped folder becomes rows, runs with the real model, sorts,
filters, and a double-click on a finished row asks to open its stored result."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from fractoscope.synth import generate_dataset


def _drop(widget, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    ev = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    widget.dropEvent(ev)


def test_dropped_folder_runs_and_opens_stored_result(qtbot, tmp_path: Path, analyzer) -> None:
    from fractoscope.batch import load_stored_prediction
    from fractoscope.gui.batch.batch_panel import BatchPanel

    src = tmp_path / "drop"
    generate_dataset(src, per_class=1, seed=21, size=256, classes=["cleavage", "striations"])
    (src / "bad.tif").write_bytes(b"II*\x00junk")
    (src / "sidecar.txt").write_text("x")
    calls = []
    panel = BatchPanel(lambda: calls.append(1) or analyzer)
    qtbot.addWidget(panel)
    panel.show()

    _drop(panel, [src])
    assert panel.model.rowCount() == 3  # 2 images + bad.tif; the .txt is not a row
    # every file that is not a .tif here is ignored (the .txt, and whatever synth writes beside)
    others = sum(1 for f in src.rglob("*") if f.is_file() and f.suffix != ".tif")
    assert f"{others} non-image files ignored" in panel.eta_label.text()
    assert {r.status for r in panel.model.rows} == {"pending"}

    out = tmp_path / "out"
    with qtbot.waitSignal(panel.finished, timeout=120_000) as blocker:
        panel.start(out)
        assert panel.is_running
    summary = blocker.args[0]
    assert (summary.ok, summary.failed) == (2, 1)
    assert not panel.is_running and calls == [1]
    status = {r.name: r.status for r in panel.model.rows}
    assert status == {"bad.tif": "failed", "cleavage_21_0.tif": "ok", "striations_21_0.tif": "ok"}
    assert panel.progress.value() == 1000
    bad = next(r for r in panel.model.rows if r.name == "bad.tif")
    from fractoscope.gui.batch.batch_panel import COL_CONFIDENCE, COL_ERROR

    assert bad.record.error and panel.model.data(panel.model.index(panel.model.rows.index(bad), COL_ERROR))
    # each analysed image says whether its result is uncertain, as its record does
    for r in panel.model.rows:
        text = panel.model.data(panel.model.index(panel.model.rows.index(r), COL_CONFIDENCE))
        if r.record.ok:
            assert text.startswith("uncertain" if r.record.uncertain else "confident")
        else:
            assert text == ""

    # Filter by status, then by text.
    panel.status_combo.setCurrentText("failed")
    assert panel.proxy.rowCount() == 1
    panel.status_combo.setCurrentText("All")
    panel.filter_edit.setText("striations")
    assert panel.proxy.rowCount() == 1
    panel.filter_edit.clear()
    assert panel.proxy.rowCount() == 3

    # Sort by P(L2) descending: numbers sort as numbers, failed rows last.
    panel.table.sortByColumn(5, Qt.SortOrder.DescendingOrder)
    names = [panel.proxy.index(i, 0).data() for i in range(3)]
    assert names[-1] == "bad.tif"

    # Double-click a finished row: open_result with the image and its stored prediction.
    row = next(i for i in range(3) if panel.proxy.index(i, 0).data() == "cleavage_21_0.tif")
    idx = panel.proxy.index(row, 0)
    rect = panel.table.visualRect(idx)
    with qtbot.waitSignal(panel.open_result, timeout=5000) as opened:
        # A real double-click is press/release then a double-click event on the same index.
        qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    image_path, item_path = opened.args
    assert Path(image_path).name == "cleavage_21_0.tif"
    pred = load_stored_prediction(item_path)
    assert pred.level1.label == panel.record_for(image_path).level1

    # Double-clicking the failed row opens nothing.
    bad_row = next(i for i in range(3) if panel.proxy.index(i, 0).data() == "bad.tif")
    with qtbot.assertNotEmitted(panel.open_result):
        panel._on_double_click(panel.proxy.index(bad_row, 0))

    # Running again on the same folder reuses every finished image (no recomputation).
    with qtbot.waitSignal(panel.finished, timeout=120_000) as blocker:
        panel.start(out)
    assert blocker.args[0].reused == 2


def test_pause_and_cancel(qtbot, tmp_path: Path, analyzer) -> None:
    from fractoscope.gui.batch.batch_panel import BatchPanel

    src = tmp_path / "in"
    generate_dataset(src, per_class=2, seed=22, size=256, classes=["pitting", "cleavage"])
    panel = BatchPanel(lambda: analyzer)
    qtbot.addWidget(panel)
    panel.add_paths([src])
    assert panel.model.rowCount() == 4
    with qtbot.waitSignal(panel.finished, timeout=120_000) as blocker:
        panel.start(tmp_path / "out")
        panel.pause(True)  # the image in flight (if any) finishes, then nothing more
        qtbot.wait(1500)
        finished = sum(r.status != "pending" for r in panel.model.rows)
        assert finished <= 1
        assert panel.pause_button.text() == "Resume"
        qtbot.wait(500)
        assert sum(r.status != "pending" for r in panel.model.rows) == finished
        panel.cancel()
    s = blocker.args[0]
    assert s.cancelled and s.ok == finished < 4
    assert all(r.status in ("pending", "ok") for r in panel.model.rows)
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_table_shows_a_flagged_row_as_not_recognised_with_its_guess_apart(qtbot):
    """Hand-set records, one flagged and one confident: the cells the table shows."""
    from fractoscope.batch import BatchRecord
    from fractoscope.gui.batch.batch_panel import (
        COL_CLOSEST,
        COL_CONFIDENCE,
        COLUMNS,
        BatchTableModel,
    )

    model = BatchTableModel()
    flagged = BatchRecord(path="/d/a.tif", name="a.tif", status="ok")
    flagged.set_answer("wear", 0.88, "abrasive_grooves", 0.86, True, "unlike the images the model was trained on")
    sure = BatchRecord(path="/d/b.tif", name="b.tif", status="ok")
    sure.set_answer("fatigue", 0.97, "striations", 0.9, False, "")
    model.set_status(flagged.path, "ok", flagged)
    model.set_status(sure.path, "ok", sure)

    def cells(i):
        return [model.data(model.index(i, c)) for c in range(len(COLUMNS))]

    a, b = cells(0), cells(1)
    assert a[2:6] == ["not recognised", "", "", ""]
    assert a[COL_CONFIDENCE] == "uncertain — unlike the images the model was trained on"
    assert a[COL_CLOSEST] == "wear (0.880), abrasive_grooves (0.860)"
    assert model.data(model.index(0, 2), Qt.ItemDataRole.ToolTipRole).startswith("Not recognised with confidence")
    assert b[2:6] == ["fatigue", "0.970", "striations", "0.900"]
    assert b[COL_CONFIDENCE] == "confident" and b[COL_CLOSEST] == "fatigue (0.970), striations (0.900)"


def test_table_sorts_numbers_as_numbers_not_as_text(qtbot) -> None:
    """Hand-set rows whose text order differs from their numeric order: pixel sizes shown as
    "1 µm", "15 nm", "2 nm", "300 nm" sort (as text) 1 µm < 15 nm < 2 nm < 300 nm, as numbers
    2 nm < 15 nm < 300 nm < 1 µm. A failed row has no number and goes last when descending."""
    from fractoscope.batch.records import STATUS_FAILED, STATUS_OK, BatchRecord
    from fractoscope.gui.batch.batch_panel import COLUMNS, BatchPanel

    panel = BatchPanel(lambda: None)
    qtbot.addWidget(panel)
    sizes = {"a.tif": 1e-6, "b.tif": 1.5e-8, "c.tif": 2e-9, "d.tif": 3e-7}
    p1 = {"a.tif": 0.5, "b.tif": 0.95, "c.tif": 1.0, "d.tif": 0.075}
    for name, px in sizes.items():
        rec = BatchRecord(path=f"/x/{name}", name=name, status=STATUS_OK, level1="fatigue", p_level1=p1[name],
                          level2="striations", p_level2=p1[name] / 2, pixel_size_m=px, uncertain=False)
        panel.model.set_status(rec.path, STATUS_OK, rec)
    bad = BatchRecord(path="/x/e.tif", name="e.tif", status=STATUS_FAILED, error="not an image")
    panel.model.set_status(bad.path, STATUS_FAILED, bad)

    def order(column: str, descending: bool) -> list[str]:
        panel.table.sortByColumn(COLUMNS.index(column), Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder)
        return [panel.proxy.index(i, 0).data() for i in range(panel.proxy.rowCount())]

    m = panel.model
    shown = sorted(m.data(m.index(i, COLUMNS.index("Pixel size"))) for i in range(4))
    assert shown == ["1 µm", "15 nm", "2 nm", "300 nm"]  # their text order ...
    assert order("Pixel size", False) == ["e.tif", "c.tif", "b.tif", "d.tif", "a.tif"]  # ... is not the sort
    assert order("Pixel size", True) == ["a.tif", "d.tif", "b.tif", "c.tif", "e.tif"]
    assert order("P(L1)", True) == ["c.tif", "b.tif", "a.tif", "d.tif", "e.tif"]
    assert order("P(L2)", False) == ["e.tif", "d.tif", "a.tif", "b.tif", "c.tif"]
