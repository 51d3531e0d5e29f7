"""Side panels: prediction tree, image information, model and device; the message bar."""

from __future__ import annotations

import html
import json

from PySide6.QtCore import QModelIndex, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPainter
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTextBrowser,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fractoscope.analysis import wording
from fractoscope.analysis.results import Prediction
from fractoscope.calibration import format_length
from fractoscope.gui.theme import ERROR_COLOR, HIGHLIGHT_COLOR, WARNING_COLOR
from fractoscope.io.describe import NOT_RECORDED, format_metadata
from fractoscope.io.sem_image import SemImage

PROB_ROLE = Qt.ItemDataRole.UserRole + 1
KEY_ROLE = Qt.ItemDataRole.UserRole + 2  # (level, label)


class ProbabilityDelegate(QStyledItemDelegate):
    """Paints a probability as a horizontal bar with its percentage."""

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        prob = index.data(PROB_ROLE)
        if prob is None:
            return super().paint(p, option, index)
        self.initStyleOption(option, index)
        option.text = ""
        option.widget.style().drawControl(QStyle.ControlElement.CE_ItemViewItem, option, p, option.widget)
        full = QRectF(option.rect).adjusted(4, 0, -4, 0)
        text_w = 52.0
        r = QRectF(full.left(), full.top() + 5, max(4.0, full.width() - text_w - 4), full.height() - 10)
        p.save()
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(255, 255, 255, 28))
        p.drawRoundedRect(r, 2, 2)
        font = index.data(Qt.ItemDataRole.FontRole)
        bold = bool(font is not None and font.bold())
        p.setBrush(QColor(HIGHLIGHT_COLOR) if bold else QColor(130, 150, 180))
        p.drawRoundedRect(QRectF(r.left(), r.top(), r.width() * max(0.0, min(1.0, prob)), r.height()), 2, 2)
        p.setPen(option.palette.text().color())
        if font is not None:
            p.setFont(font)
        text_r = QRectF(full.right() - text_w, full.top(), text_w, full.height())
        p.drawText(text_r, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{100 * prob:.1f}\u00a0%")
        p.restore()


def _without_uncertain(text: str) -> str:
    """``"Uncertain: x"`` -> ``"X"`` (the banner above already says the result is not recognised)."""
    if text.lower().startswith("uncertain:"):
        text = text[len("uncertain:"):].strip()
        return text[:1].upper() + text[1:]
    return text


class PredictionPanel(QWidget):
    """The result: a headline worded by ``fractoscope.analysis.wording`` and the level 1 -> level 2
    tree with probability bars (clicking a class shows its CAM). A flagged result's headline is
    "Not recognised with confidence: <reason>" in an unmistakable banner, the best guess follows
    in a plain line ("closest: ...") and an evidence row points to what lets the analyst decide
    (the CAM of the closest class, the Similar tab) and how to teach the model (``actions``, which
    the library feature fills with *Label as…* and *Teach it your lab…*). A level-1-only model's
    tree has no morphologies and the panel says level 2 was not trained."""

    classSelected = Signal(int, str)  # level, label
    showSimilar = Signal()  # "Compare with similar labelled images" (the window opens that tab)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prediction: Prediction | None = None
        self.library_images: int | None = None  # labelled images to compare with (set_library_images)
        self.banner = QLabel()  # the headline of a flagged result: coloured, on top, never a footnote
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(
            f"QLabel {{ background: {WARNING_COLOR}; color: black; font-weight: bold;"
            " padding: 4px 6px; border-radius: 3px; }"
        )
        self.banner.setVisible(False)
        self.summary = QLabel("No analysis yet")
        self.summary.setWordWrap(True)
        self._headline_font = QFont(self.summary.font())
        self._headline_font.setPointSizeF(self._headline_font.pointSizeF() * 1.25)
        self._headline_font.setBold(True)
        self.summary.setFont(self._headline_font)
        self.summary.setToolTip(wording.DECODING_RULE)
        self.confidence = QLabel()
        self.confidence.setWordWrap(True)
        self.confidence.setVisible(False)
        # Evidence beside a flagged answer: which map is shown, where the similar images are.
        self.evidence = QLabel()
        self.evidence.setWordWrap(True)
        self.evidence.setStyleSheet("color: gray;")
        self.evidence.setVisible(False)
        self.similar_button = QToolButton()
        self.similar_button.setText("Compare with similar labelled images")
        self.similar_button.setToolTip("Open the Similar tab: the closest images of your reference library")
        self.similar_button.clicked.connect(self.showSimilar)
        self.similar_button.setVisible(False)
        # Filled by the library feature (Label as…, Teach it your lab…); shown for flagged results.
        self.actions = QWidget()
        self.actions_layout = QHBoxLayout(self.actions)
        self.actions_layout.setContentsMargins(0, 0, 0, 0)
        self.actions_layout.addWidget(self.similar_button)
        self.actions_layout.addStretch(1)
        self.actions.setVisible(False)
        self.level2_note = QLabel()
        self.level2_note.setWordWrap(True)
        self.level2_note.setVisible(False)
        # What changed the result beyond image and model: lab statistics, the surface context.
        self.provenance = QLabel()
        self.provenance.setWordWrap(True)
        self.provenance.setStyleSheet("color: gray;")
        self.provenance.setVisible(False)
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(f"color: {WARNING_COLOR};")
        self.warning.setVisible(False)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Class", "Probability"])
        self.tree.setItemDelegateForColumn(1, ProbabilityDelegate(self.tree))
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        self.tree.header().resizeSection(1, 150)
        self.tree.setStyleSheet("QTreeView::item { min-height: 22px; }")
        self.tree.header().setStretchLastSection(False)
        self.tree.setRootIsDecorated(True)
        self.tree.itemClicked.connect(self._clicked)
        self.tree.setToolTip("Click a class to show its Grad-CAM")
        self.hint = QLabel("Click a class to show its Grad-CAM.")
        self.hint.setStyleSheet("color: gray;")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        for w in (self.banner, self.summary, self.confidence, self.evidence, self.actions,
                  self.level2_note, self.provenance, self.warning):
            lay.addWidget(w)
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.hint)
        self.items: dict[tuple[int, str], QTreeWidgetItem] = {}

    @property
    def uncertain(self) -> bool:
        return self.banner.isVisible() or (
            self.prediction is not None and bool(self.prediction.confidence.uncertain)
        )

    def clear(self, message: str = "No analysis yet") -> None:
        self.prediction = None
        self.tree.clear()
        self.items = {}
        self.summary.setFont(self._headline_font)
        self.summary.setText(message)
        for w in (self.banner, self.confidence, self.evidence, self.actions, self.level2_note, self.warning,
                  self.provenance):
            w.setVisible(False)

    def set_prediction(self, pred: Prediction) -> None:
        self.tree.clear()
        self.items = {}
        self.prediction = pred
        t = pred.taxonomy
        uncertain = wording.is_uncertain(pred)
        # A result the model stands behind: its headline, large and bold. A flagged one: "Not
        # recognised with confidence: <reason>" in the banner, and the best guess in plain text
        # below it, so it never reads as the answer.
        self.banner.setText(wording.headline(pred) if uncertain else "")
        self.banner.setVisible(uncertain)
        self.summary.setFont(QFont(self.tree.font()) if uncertain else QFont(self._headline_font))
        self.summary.setText(wording.closest_text(pred) if uncertain else wording.headline(pred))
        text = wording.confidence_text(pred)
        self.confidence.setText(_without_uncertain(text) if uncertain else text)
        self.confidence.setVisible(True)
        self._show_evidence()
        self.actions.setVisible(uncertain)
        self.level2_note.setText("" if pred.has_level2 else f"Level 2: {wording.level2_text(pred)}")
        self.level2_note.setVisible(not pred.has_level2)
        lines = wording.provenance_lines(pred)
        self.provenance.setText("\n".join(x[:1].upper() + x[1:] for x in lines))
        self.provenance.setVisible(bool(lines))

        bold = QFont(self.tree.font())
        bold.setBold(True)
        highlight = QBrush(QColor(HIGHLIGHT_COLOR).darker(250))
        order1 = sorted(range(len(t.level1)), key=lambda i: -pred.p_level1[i])
        for i in order1:
            lab = t.level1[i]
            it = QTreeWidgetItem([t.display_name(lab), ""])
            it.setData(1, PROB_ROLE, float(pred.p_level1[i]))
            it.setData(0, KEY_ROLE, (1, lab))
            it.setToolTip(0, t.description(lab))
            self.tree.addTopLevelItem(it)
            self.items[(1, lab)] = it
            if not pred.has_level2:
                continue  # no morphologies from a model whose level 2 was not trained
            children = sorted(t.children(lab), key=lambda c: -pred.p_level2[t.level2.index(c)])
            for c in children:
                j = t.level2.index(c)
                ch = QTreeWidgetItem([t.display_name(c), ""])
                ch.setData(1, PROB_ROLE, float(pred.p_level2[j]))
                ch.setData(0, KEY_ROLE, (2, c))
                ch.setToolTip(0, t.description(c))
                it.addChild(ch)
                self.items[(2, c)] = ch
        shown = [(1, pred.level1.label)] + ([(2, pred.level2.label)] if pred.has_level2 else [])
        for key in shown:
            it = self.items[key]
            for col in (0, 1):
                if not uncertain:  # bold marks an answer; a flagged result's guess is only tinted
                    it.setFont(col, bold)
                it.setBackground(col, highlight)
        self.tree.expandAll()
        self._set_warnings(pred)

    def set_library_images(self, n: int | None) -> None:
        """How many labelled images the reference library holds (None: no library): the evidence
        line of a flagged result points to the most similar ones, or says there are none yet."""
        self.library_images = n
        self._show_evidence()

    def _show_evidence(self) -> None:
        pred = self.prediction
        uncertain = pred is not None and wording.is_uncertain(pred)
        n = self.library_images
        if uncertain:
            t = pred.taxonomy
            names = [t.display_name(pred.level1.label).lower()]
            if pred.has_level2:
                names.append(t.display_name(pred.level2.label).lower())
            if pred.cams_level1 is None:
                cam = "This result was stored without Grad-CAM maps."
            else:
                cam = f"The maps show where the model saw {' and '.join(names)}, the closest classes."
            if n:
                lib = f" Compare the surface with the most similar of your {n} labelled images (Similar tab)."
            else:
                lib = " No labelled images of your lab to compare with yet: label a few, or teach it your lab."
            self.evidence.setText(cam + lib)
        self.evidence.setVisible(uncertain)
        self.similar_button.setVisible(bool(uncertain and n))

    def _set_warnings(self, pred: Prediction) -> None:
        lines = [w[:1].upper() + w[1:] for w in wording.warnings(pred)]
        if not pred.has_level2:  # said by level2_note already
            lines = [w for w in lines if "mechanisms only" not in w]
        text = " ".join(lines).lower()
        rng = pred.model.pixel_size_range_m
        if pred.pixel_size_m is None:
            if "calibrat" not in text and "scale" not in text:
                lines.append("No calibration: the scale could not be checked (use Set scale).")
        elif rng and not (rng[0] <= pred.pixel_size_m <= rng[1]) and "trained" not in text:
            lines.append(
                f"Scale {format_length(pred.pixel_size_m)}/px is outside the model's trained range "
                f"({format_length(rng[0])} – {format_length(rng[1])}/px)."
            )
        self.warning.setText("⚠ " + "\n⚠ ".join(lines) if lines else "")
        self.warning.setVisible(bool(lines))

    def _clicked(self, item: QTreeWidgetItem, _col: int) -> None:
        key = item.data(0, KEY_ROLE)
        if key:
            self.classSelected.emit(int(key[0]), str(key[1]))

    def class_labels(self) -> list[str]:
        """Displayed class names, in tree order (for tests and screenshots)."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            it = self.tree.topLevelItem(i)
            out.append(it.text(0))
            out.extend(it.child(k).text(0) for k in range(it.childCount()))
        return out


class InfoForm(QWidget):
    """A read-only two-column form of named values."""

    def __init__(self, fields: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(6, 6, 6, 6)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.values: dict[str, QLabel] = {}
        for name in fields:
            lab = QLabel("—")
            lab.setWordWrap(True)
            lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.form.addRow(name + ":", lab)
            self.values[name] = lab

    def set_values(self, values: dict[str, str]) -> None:
        for name, lab in self.values.items():
            lab.setText(values.get(name, "—"))

    def value(self, name: str) -> str:
        return self.values[name].text()


class ImageInfoPanel(InfoForm):
    """The Image tab: every value worded by ``io.describe.metadata_text``, as ``fractoscope info``
    and the PDF report word it."""

    FIELDS = [
        "File", "Vendor", "Instrument", "kV", "WD", "Magnification", "Detector", "Date",
        "Image size", "Pixels", "Pixel size", "Calibration", "Field of view", "Data bar", "Stage", "Notes",
    ]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(self.FIELDS, parent)

    def set_image(self, sem: SemImage | None) -> None:
        if sem is None:
            self.set_values({})
            return
        t = format_metadata(sem)
        self.set_values({
            "File": t.file,
            "Vendor": t.vendor,
            "Instrument": t.instrument,
            "kV": t.high_voltage,
            "WD": t.working_distance,
            "Magnification": t.magnification,
            "Detector": t.detector,
            "Date": t.date,
            "Image size": t.image_size,
            "Pixels": t.pixel_type,
            "Pixel size": t.pixel_size,
            "Calibration": t.calibration_source,
            "Field of view": t.field_of_view,
            "Data bar": t.data_bar,
            "Stage": t.stage or NOT_RECORDED,
            "Notes": "; ".join(t.notes) if t.notes else "—",
        })


class ModelPanel(QWidget):
    """Model name, taxonomy, device choice and the model card."""

    deviceChanged = Signal(str)

    DEVICES = (("Auto", "auto"), ("CPU", "cpu"), ("CUDA", "cuda"))

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = InfoForm(["Model", "SHA-256", "Input", "Trained scale", "Device in use"])
        self.device_combo = QComboBox()
        for text, key in self.DEVICES:
            self.device_combo.addItem(text, key)
        self.device_combo.currentIndexChanged.connect(
            lambda _i: self.deviceChanged.emit(self.device_combo.currentData())
        )
        row = QHBoxLayout()
        row.addWidget(QLabel("Device:"))
        row.addWidget(self.device_combo, 1)
        self.card = QTextBrowser()
        self.card.setOpenExternalLinks(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(row)
        lay.addWidget(self.info)
        lay.addWidget(QLabel("Taxonomy and model card:"))
        lay.addWidget(self.card, 1)

    def set_device_choice(self, key: str) -> None:
        i = self.device_combo.findData(key)
        if i >= 0 and i != self.device_combo.currentIndex():
            self.device_combo.blockSignals(True)
            self.device_combo.setCurrentIndex(i)
            self.device_combo.blockSignals(False)

    def set_model(self, model, device: str | None) -> None:
        """``model`` is a ModelInfo (or None while the model is not loaded yet)."""
        if model is None:
            self.info.set_values({"Model": "not loaded yet", "Device in use": device or "—"})
            self.card.setHtml("")
            return
        rng = model.pixel_size_range_m
        self.info.set_values({
            "Model": model.name,
            "SHA-256": (model.sha256[:16] + "…") if model.sha256 else "—",
            "Input": f"{model.input_size} px tiles",
            "Trained scale": f"{format_length(rng[0])} – {format_length(rng[1])}/px" if rng else "—",
            "Device in use": device or "—",
        })
        t = model.taxonomy
        parts = ["<b>Taxonomy</b><ul>"]
        for l1 in t.level1:
            kids = ", ".join(html.escape(t.display_name(c)) for c in t.children(l1))
            parts.append(f"<li><b>{html.escape(t.display_name(l1))}</b>: {kids}</li>")
        parts.append("</ul>")
        card = {k: v for k, v in (model.card or {}).items() if k != "taxonomy"}
        if card:
            parts.append("<b>Model card</b><pre>")
            parts.append(html.escape(json.dumps(card, indent=2, default=str)[:20000]))
            parts.append("</pre>")
        self.card.setHtml("".join(parts))


class MessageBar(QFrame):
    """An in-window banner for errors and notices (never a modal box, never a traceback)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 4, 4)
        lay.addWidget(self.label, 1)
        lay.addWidget(close)
        self.hide()

    def show_message(self, text: str, error: bool = True) -> None:
        colour = ERROR_COLOR if error else HIGHLIGHT_COLOR
        self.setStyleSheet(f"MessageBar {{ background: {colour}; border-radius: 3px; }} QLabel {{ color: white; }}")
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""
