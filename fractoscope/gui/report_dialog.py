"""The "Export report" dialog: title, sample ID, analyst, date, notes and page size.

The PDF itself is drawn by ``fractoscope.report.pdf`` (headless); this is the only widget part.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QPlainTextEdit,
)

from fractoscope.report.data import ReportMeta


def ask_report_meta(parent=None, defaults: ReportMeta | None = None, page_size: str = "A4"):
    """Ask for the report's metadata. Returns ``(ReportMeta, page_size)`` or None when cancelled.

    Defaults (title included) come from ``ReportMeta``, the same as the command line's.
    """
    d = defaults or ReportMeta()
    dlg = QDialog(parent)
    dlg.setWindowTitle("Export report")
    form = QFormLayout(dlg)
    title, sample, analyst = QLineEdit(d.title), QLineEdit(d.sample_id), QLineEdit(d.analyst)
    date = QLineEdit(d.date)
    notes = QPlainTextEdit(d.notes)
    notes.setFixedHeight(80)
    size = QComboBox()
    size.addItems(["A4", "Letter"])
    size.setCurrentText("Letter" if page_size.upper() == "LETTER" else "A4")
    for label, w in (
        ("&Title", title),
        ("&Sample ID", sample),
        ("&Analyst", analyst),
        ("&Date", date),
        ("&Notes", notes),
        ("&Page size", size),
    ):
        form.addRow(label, w)
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    buttons.accepted.connect(dlg.accept)
    buttons.rejected.connect(dlg.reject)
    form.addRow(buttons)
    dlg.title_edit, dlg.sample_edit, dlg.analyst_edit, dlg.notes_edit = title, sample, analyst, notes
    dlg.size_combo = size
    if dlg.exec() != QDialog.DialogCode.Accepted:
        return None
    meta = ReportMeta(
        title=title.text().strip() or d.title,
        sample_id=sample.text().strip(),
        analyst=analyst.text().strip(),
        notes=notes.toPlainText().strip(),
        date=date.text().strip() or d.date,
        app_version=d.app_version,
    )
    return meta, size.currentText()


__all__ = ["ask_report_meta"]
