"""PDF reports: they open, have the expected pages and sizes, their extracted text names the
predicted classes, the model sha256, the sample and the failures (Qt's QPdfDocument, no extras),
and nothing is drawn across the footer or off the page on A4 or Letter.

The layout is checked twice: on the boxes the renderer records as it draws, and, independently,
on the text lines the PDF itself holds (positions read back from the file by QtPdf/pdfium).
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from fractoscope.analysis import wording  # noqa: E402
from fractoscope.calibration import format_length  # noqa: E402
from fractoscope.io import read_sem  # noqa: E402
from fractoscope.report import (  # noqa: E402
    BATCH_TITLE,
    DEFAULT_TITLE,
    BatchReport,
    ImageReport,
    ReportMeta,
)
from fractoscope.synth import generate_dataset  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "resources" / "samples" / "cleavage_777_0.tif"
PAGE_PT = {"A4": (595, 842), "Letter": (612, 792)}
MARGIN = 42.0  # the report's page margin (pt); header rule at MARGIN + 15, footer rule 18 pt above it
FOOTER = "Decision support - to be confirmed by a qualified fractographer"
LONG_NOTES = " ".join(
    ["Bolt from the flange joint; fracture at the first engaged thread, beach marks visible by eye."]
    * 14
)


def _norm(s: str) -> str:
    return " ".join(s.replace("\u00a0", " ").split())


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


def _pdf_lines(path: Path) -> list[list[tuple[str, float, float, float, float]]]:
    """Per page: every text line in the PDF with its bounding box (left, top, right, bottom, pt),
    as pdfium reads it back (independent of the renderer's own bookkeeping)."""
    from PySide6.QtPdf import QPdfDocument

    doc = QPdfDocument()
    assert doc.load(str(path)) == QPdfDocument.Error.None_
    pages = []
    for i in range(doc.pageCount()):
        text = doc.getAllText(i).text()
        lines = []
        for m in re.finditer(r"[^\r\n]+", text):
            r = doc.getSelectionAtIndex(i, m.start(), m.end() - m.start()).boundingRectangle()
            lines.append((m.group(), r.left(), r.top(), r.right(), r.bottom()))
        pages.append(lines)
    doc.close()
    return pages


def assert_layout_fits(path: Path, canvas, page: str) -> None:
    """No text or picture crosses the footer, the header or the page margins."""
    w, h = PAGE_PT[page]
    # 1. What the renderer drew: body text and pictures stay inside the body area.
    assert canvas.boxes, "the renderer recorded nothing"
    for b in canvas.boxes:
        assert canvas.left - 0.5 <= b.x and b.x + b.w <= canvas.right + 0.5, b
        if b.kind in ("text", "image"):
            assert canvas.top - 0.5 <= b.y and b.y + b.h <= canvas.bottom + 0.5, b
        else:  # running header / footer
            assert MARGIN - 1 <= b.y and b.y + b.h <= h - MARGIN + 1, b
    # 2. What the PDF holds: every line inside the margins; below the footer rule only the footer,
    #    above the header rule only the header.
    pages = _pdf_lines(path)
    n = len(pages)
    for i, lines in enumerate(pages, 1):
        footer = _norm(f"{FOOTER} Page {i} of {n}")
        for text, left, top, right, bottom in lines:
            where = f"page {i}: {text!r} at ({left:.0f}, {top:.0f})-({right:.0f}, {bottom:.0f})"
            assert left >= MARGIN - 2 and right <= w - MARGIN + 2, "off the page edge: " + where
            assert top >= MARGIN - 2 and bottom <= h - MARGIN + 2, "outside the page: " + where
            if bottom > h - MARGIN - 18:
                assert _norm(text) == footer, "runs into the footer: " + where
            if top < MARGIN + 15:
                assert _norm(text).startswith("Fractoscope "), "runs into the header: " + where


@pytest.fixture(scope="module")
def analysed(tmp_path_factory, analyzer):
    d = tmp_path_factory.mktemp("rep")
    (p,) = generate_dataset(d, per_class=1, seed=11, size=256, classes=["equiaxed_dimples"])
    sem = read_sem(p)
    return sem, analyzer.analyze(sem)


@pytest.fixture(scope="module")
def sample(analyzer):
    """The bundled 768 x 768 px cleavage sample (the issue's reproduction)."""
    sem = read_sem(SAMPLE)
    return sem, analyzer.analyze(sem)


META = ReportMeta(
    title="Failure report",
    sample_id="S-2031-B",
    analyst="A. Fractographer",
    notes="Bolt from flange, fracture at first engaged thread.",
    date="2026-11-29",
)


@pytest.mark.parametrize("page", ["A4", "Letter"])
def test_single_image_report(tmp_path: Path, app, analysed, page) -> None:
    from fractoscope.report.pdf import write_image_report

    sem, pred = analysed
    out = tmp_path / "r.pdf"
    assert write_image_report(out, sem, pred, META, page_size=page) == out
    assert not [p for p in tmp_path.iterdir() if p != out], "no temporary file left behind"
    n, texts, sizes = _pdf_text(out)
    assert 3 <= n <= 5
    size_pt = PAGE_PT[page]
    assert all(abs(w - size_pt[0]) < 2 and abs(h - size_pt[1]) < 2 for w, h in sizes)
    text = _norm("\n".join(texts))
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
        "Measured accuracy",
        f"Page 1 of {n}",
    ):
        assert needle in text, needle
    # The answer, worded as the CLI and GUI word it, with how far to trust it, on page 1.
    first = _norm(texts[0])
    assert _norm(wording.headline(pred)) in first
    assert _norm(wording.confidence_text(pred))[:60] in first
    assert f"Calibrated probability {_norm(wording.percent(pred.confidence.calibrated))}" in first
    # Alternatives from the same wording module, and the decoding rule stated.
    for alt in wording.alternatives(pred, 3):
        assert _norm(alt) in text
    assert _norm(wording.DECODING_RULE) in text
    # Provenance is a table of a few accuracies, not a dict dump.
    assert "confusion_level1" not in text and "{" not in text and "0.98333" not in text


@pytest.mark.parametrize("page", ["A4", "Letter"])
def test_layout_stays_inside_the_page(tmp_path: Path, app, sample, page) -> None:
    """Issue 14: page 3 ran into the footer, and off the page on Letter. A long title and long
    notes push every flowing section further down."""
    from fractoscope.report.pdf import image_report_pages

    sem, pred = sample
    meta = dataclasses.replace(
        META,
        title="Failure analysis of the main landing-gear bolt, flange side, second inspection",
        notes=LONG_NOTES,
    )
    out = tmp_path / "r.pdf"
    canvas = image_report_pages(out, sem, pred, meta, page_size=page)
    assert_layout_fits(out, canvas, page)
    n, texts, _ = _pdf_text(out)
    text = _norm("\n".join(texts))
    for needle in ("Trained pixel sizes", "Classes the model knows", "Limitations"):
        assert needle in text, needle  # nothing lost off the page
    # No page holds only the closing note: the last page carries some other content too.
    assert len(_norm(texts[-1])) > 400, texts[-1]


def test_uncertain_and_level1_only(tmp_path: Path, app, sample) -> None:
    """An uncertain result gets a banner with its reason; a model without a trained level 2 says
    so and shows no level-2 map."""
    from fractoscope.analysis.results import Confidence
    from fractoscope.report.pdf import image_report_pages

    sem, pred = sample
    # The card of a level-1-only adapted model, with the keys fractoscope.adapt writes.
    card = {
        **pred.model.card,
        "level2_trained": False,
        "adaptation": {"base_model": {"name": "hffnet2d-base", "sha256": "ab" * 32}},
        "metrics": {
            "cross_validated": {
                "level1_accuracy": 0.875,
                "level1_balanced_accuracy": 0.8,
                "level2_accuracy": None,
                "folds": 4,
                "n_images": 24,
            }
        },
    }
    model = dataclasses.replace(pred.model, name="lab-adapted", card=card)
    reason = "unlike the images the model was trained on"
    p1 = dataclasses.replace(
        pred, model=model, confidence=Confidence(0.41, 7.5, True, reason)
    )
    assert not p1.has_level2
    out = tmp_path / "u.pdf"
    canvas = image_report_pages(out, sem, p1, META, page_size="Letter")
    assert_layout_fits(out, canvas, "Letter")
    _, texts, _ = _pdf_text(out)
    first = _norm(texts[0])
    assert f"Not recognised with confidence: {reason}" in first
    assert wording.headline(p1) == f"Not recognised with confidence: {reason}"
    # The guess on its own plain line, the level rows captioned as the closest classes; no verdict.
    closest = wording.closest_text(p1)
    assert closest == f"closest: {pred.taxonomy.display_name(pred.level1.label)} ({wording.percent(pred.level1.probability)})"
    assert _norm(closest) in first and "Closest mechanism (level 1)" in first
    assert "Failure mechanism (level 1)" not in first and "Confident" not in first
    assert "41 %" in first and "7.50" in first  # calibrated probability and OOD score
    text = _norm("\n".join(texts))
    assert "Level 2: not trained" in text
    # Provenance names the adapted model and its base, and its cross-validated accuracy.
    assert "lab-adapted" in text and "Adapted from hffnet2d-base" in text
    assert "Cross validated 24 87.5 % not trained" in text
    assert pred.taxonomy.display_name(pred.level2.label) not in _norm(texts[1])
    cam_page = 2
    overlays = [b for b in canvas.boxes if b.kind == "image" and b.page == cam_page and b.h > 50]
    assert len(overlays) == 1  # the level-1 map only
    rep = ImageReport.build(sem, p1)
    assert rep.overlay_level2 is None and rep.level2 is None and rep.class_map_level == 1


def test_similar_images(tmp_path: Path, app, analyzer, analysed) -> None:
    from fractoscope.adapt.library import ReferenceLibrary
    from fractoscope.report.pdf import image_report_pages

    sem, pred = analysed
    src = generate_dataset(
        tmp_path / "src", per_class=1, seed=5, size=256,
        classes=["equiaxed_dimples", "cleavage", "pitting"],
    )  # fmt: skip
    lib = ReferenceLibrary(tmp_path / "lib", cache_dir=tmp_path / "cache")
    tax = pred.taxonomy
    for p in src:
        l2 = next(c for c in tax.level2 if p.name.startswith(c))
        lib.add(p, tax.parent_of(l2), l2)
    similar = lib.similar(pred, k=3, analyzer=analyzer)
    assert len(similar) == 3
    out = tmp_path / "s.pdf"
    canvas = image_report_pages(out, sem, pred, META, similar=similar)
    assert_layout_fits(out, canvas, "A4")
    _, texts, _ = _pdf_text(out)
    page = next(i for i, t in enumerate(texts) if "Similar images" in t)
    t = _norm(texts[page])
    for s in similar:
        assert f"similarity {s.similarity:.2f}" in t
        assert tax.display_name(s.level2) in t and Path(s.path).name in t
    thumbs = [b for b in canvas.boxes if b.kind == "image" and b.page == page + 1 and b.w < canvas.width / 2.5]
    assert len(thumbs) >= 3

    # A flagged result: the report says, beside the answer, which library images were compared.
    from fractoscope.analysis.results import Confidence

    flagged = dataclasses.replace(pred, confidence=Confidence(0.4, 6.0, True, "unlike the images the model was trained on"))
    out = tmp_path / "f.pdf"
    image_report_pages(out, sem, flagged, META, similar=similar, library=(str(lib.root), len(lib)))
    _, texts, _ = _pdf_text(out)
    first = _norm(texts[0])
    names = "; ".join(
        f"{Path(s.path).name} ({tax.display_name(s.level1)} > {tax.display_name(s.level2)}, similarity {s.similarity:.2f})"
        for s in similar
    )
    expected = (f"Compared with the 3 labelled images of the reference library {lib.root} (cosine similarity of "
                f"the model's features); the 3 closest: {names}.")  # fmt: skip
    assert _norm(expected) in first
    assert "The Grad-CAM maps (next page) show where the model saw the closest classes." in first
    # An empty library is said to be empty, not passed over.
    image_report_pages(out, sem, flagged, META, similar=[], library=(str(tmp_path / "empty"), 0))
    first = _norm(_pdf_text(out)[1][0])
    assert _norm(f"No labelled images were compared: the reference library {tmp_path / 'empty'} is empty.") in first


def test_stored_prediction_keeps_its_confidence(tmp_path: Path, app, sample) -> None:
    """A report made from a batch's stored prediction (--results) shows the run's confidence,
    not one recomputed without the model's statistics."""
    from fractoscope.analysis.results import Confidence
    from fractoscope.batch.stored import load_stored_prediction, save_prediction
    from fractoscope.report.pdf import write_image_report

    sem, pred = sample
    p1 = dataclasses.replace(pred, confidence=Confidence(0.52, 3.25, True, "unlike the images the model was trained on"))
    save_prediction(tmp_path / "item.npz", p1)
    back = load_stored_prediction(tmp_path / "item.npz")
    assert back.confidence.to_dict() == p1.confidence.to_dict()
    out = write_image_report(tmp_path / "r.pdf", sem, back, META)
    first = _norm(_pdf_text(out)[1][0])
    assert "Not recognised with confidence: unlike the images the model was trained on" in first and "3.25" in first


def test_confident_report_says_so_only_when_both_checks_pass(tmp_path: Path, app, sample) -> None:
    """The confident branch of the headline box, with a hand-set confidence and the card's two
    thresholds: the answer in bold words, 'Confident ... resembles', no 'Not recognised'."""
    from fractoscope.analysis.results import Confidence
    from fractoscope.report.pdf import image_report_pages

    sem, pred = sample
    card = {**pred.model.card, "confidence": {"min_probability": 0.5, "ood": {"threshold": 3.8}}}
    p1 = dataclasses.replace(pred, model=dataclasses.replace(pred.model, card=card),
                             confidence=Confidence(0.93, 0.4, False, ""))  # fmt: skip
    out = tmp_path / "c.pdf"
    image_report_pages(out, sem, p1, META)
    first = _norm(_pdf_text(out)[1][0])
    name = pred.taxonomy.display_name(pred.level1.label)
    assert _norm(wording.headline(p1)) in first and wording.headline(p1).startswith(name)
    assert f"Confident: 93 % for {name.lower()}, and the image resembles the images the model was trained on." in first
    assert "Failure mechanism (level 1)" in first
    assert "Not recognised" not in first and "closest:" not in first


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
    # Area fractions agree between levels (tiles labelled top-down, like the image).
    a1 = dict((k, f) for k, _, f in rep.area_level1)
    for parent in pred.taxonomy.level1:
        kids = sum(f for k, _, f in rep.area_level2 if pred.taxonomy.parent_of(k) == parent)
        assert kids == pytest.approx(a1.get(parent, 0.0), abs=1e-6)


def test_metric_rows_are_readable() -> None:
    from fractoscope.report.data import metric_rows

    rows = metric_rows(
        {
            "held_out": {"n": 300, "level1_accuracy": 0.98333, "level2_accuracy": 0.5, "note": "n"},
            "real_fractographs": "not measured",
            "confusion_only": {"confusion_level1": [[1, 0], [0, 1]]},
        }
    )
    assert [(r.what, r.images, r.level1, r.level2) for r in rows] == [
        ("Held out", "300", "98.3 %", "50.0 %"),
        ("Real fractographs", "", "", ""),
    ]
    assert rows[1].meaning == "not measured"
    assert metric_rows({"x": {"level1_accuracy": 0.9, "level2_accuracy": 0.8}}, has_level2=False)[0].level2 == "not trained"


def _batch_dir(tmp_path: Path, analyzer) -> Path:
    from fractoscope.batch import run_batch

    src = tmp_path / "in"
    generate_dataset(src, per_class=1, seed=12, size=256, classes=["cleavage", "beach_marks"])
    # Pixel sizes differ between images: the thumbnails' scale bars must follow each one.
    generate_dataset(src / "fine", per_class=1, seed=13, size=384, classes=["pitting"])
    (src / "truncated.tif").write_bytes(b"II*\x00\x08\x00\x00\x00")
    out = tmp_path / "out"
    run_batch([src], out, analyzer, recursive=True)
    return out


def test_batch_report(tmp_path: Path, app, analyzer) -> None:
    from fractoscope.report.pdf import batch_report_pages

    out = _batch_dir(tmp_path, analyzer)
    rep = BatchReport.from_out_dir(out)
    assert rep.images == 4 and rep.ok == 3 and len(rep.failed) == 1
    assert rep.failed[0].status == "failed"
    recognised = sum(1 for r in rep.rows if r.status == "ok" and not r.uncertain)  # flagged rows are not counted
    assert sum(n for _, _, n in rep.level1_counts) == recognised == sum(n for _, _, n in rep.level2_counts)
    for r in rep.rows:  # hand-set: every analysed row confident but one, flagged as a run records it
        if r.status == "ok":
            r.uncertain, r.uncertain_reason = False, ""
            r.level1, r.p_level1, r.level2, r.p_level2 = r.closest_level1, r.closest_p_level1, r.closest_level2, r.closest_p_level2
    marked = next(r for r in rep.rows if r.status == "ok")
    marked.uncertain, marked.uncertain_reason = True, "low confidence"
    marked.level1, marked.p_level1, marked.level2, marked.p_level2 = "", None, "", None

    for page in ("A4", "Letter"):  # both paper sizes: the same content, each on its own page size
        pdf = tmp_path / f"batch-{page}.pdf"
        canvas = batch_report_pages(pdf, rep, META, page)
        assert_layout_fits(pdf, canvas, page)
        n, texts, sizes = _pdf_text(pdf)
        assert all(abs(w - PAGE_PT[page][0]) < 1 and abs(h - PAGE_PT[page][1]) < 1 for w, h in sizes), sizes
        text = _norm("\n".join(texts))
        assert rep.model_sha256 in text
        assert META.sample_id in _norm(texts[0])  # the sample the report is about, on its first page
        # A 4-row table shares the first page with the summary instead of taking a page of its own.
        assert "All images" in texts[0] and n <= 3
        assert "truncated.tif" in text and _norm(rep.failed[0].error)[:30] in text
        table = _norm(texts[0])
        for r in rep.rows:
            assert r.name in table
            if r.status == "ok" and not r.uncertain:
                assert rep.names[r.level1] in table and rep.names[r.level2] in table
        assert " failed" in table and " error" not in table  # the CSV's word
        # The flagged row: "Not recognised", its guess in the Closest column, counted apart.
        guess = (f"{rep.names[marked.closest_level1]} {wording.percent(marked.closest_p_level1)}, "
                 f"{rep.names[marked.closest_level2].lower()} {wording.percent(marked.closest_p_level2)}")
        assert f"{marked.name} Not recognised" in table and _norm(guess) in table
        assert "Closest (a guess)" in table and "Not recognised (uncertain)" in table
        assert "Not counted above: 1 image not recognised with confidence" in table
        # Thumbnails: each has a scale bar whose length fits its own image's field of view.
        head = next(b for b in canvas.boxes if b.text == "Thumbnails")
        bars = [
            b
            for b in canvas.boxes
            if b.page == head.page and b.y > head.y and b.kind == "text"
            and re.fullmatch(r"[\d.]+ (nm|µm|mm)", b.text)
        ]  # fmt: skip
        assert len(bars) == 3
        fovs = sorted(r.pixel_size_m * r.image_width_px for r in rep.rows if r.status == "ok")
        assert fovs[0] < fovs[-1] / 1.2  # the images do differ in scale
        lengths = sorted(parse_length(b.text) for b in bars)
        for length, fov in zip(lengths, fovs, strict=True):
            assert 0.1 * fov <= length <= 0.5 * fov


def _many_thumbnails(tmp_path: Path, n: int) -> BatchReport:
    """A batch report of ``n`` analysed images, each with a real square PNG thumbnail (no model
    run: the layout is what is tested); every fifth one flagged, so both captions appear."""
    import numpy as np
    from PIL import Image

    from fractoscope.imaging.display import class_colours
    from fractoscope.model.taxonomy import Taxonomy
    from fractoscope.report.data import BatchRow

    tax = Taxonomy.default()
    l1 = tax.level1[0]
    l2 = tax.children(l1)[0]
    ramp = np.tile(np.linspace(0, 255, 96, dtype=np.uint8), (96, 1))
    rows = []
    for i in range(n):
        thumb = tmp_path / f"thumb-{i:02d}.png"
        Image.fromarray(np.roll(ramp, 7 * i, axis=1)).save(thumb)
        flagged = i % 5 == 0
        rows.append(BatchRow(
            name=f"image-{i:02d}.tif", path=f"/data/image-{i:02d}.tif", status="ok",
            level1="" if flagged else l1, p_level1=None if flagged else 0.9,
            level2="" if flagged else l2, p_level2=None if flagged else 0.8,
            pixel_size_m=1e-6, thumbnail=thumb, image_width_px=768,
            uncertain=flagged, uncertain_reason="low confidence" if flagged else "",
            closest_level1=l1, closest_p_level1=0.45, closest_level2=l2, closest_p_level2=0.3,
        ))  # fmt: skip
    return BatchReport(
        out_dir=tmp_path, rows=rows,
        level1_counts=[(k, tax.display_name(k), 0) for k in tax.level1],
        level2_counts=[(k, tax.display_name(k), 0) for k in tax.level2],
        colours=class_colours(tax), model_name="m", model_sha256="0" * 64,
        taxonomy={k: list(v) for k, v in tax.tree.items()}, app_version="t", device="cpu",
        ignored=0, started_at="", names={k: tax.display_name(k) for k in tax.level1 + tax.level2},
    )  # fmt: skip


@pytest.mark.parametrize("page", ["A4", "Letter"])
def test_batch_thumbnail_rows_fit_the_page(tmp_path: Path, app, page) -> None:
    """Rows of thumbnails over several pages: each cell (picture, name, class) whole on one page,
    inside the body, not over the next row; a row goes to the next page only when it does not fit."""
    from fractoscope.report.pdf import batch_report_pages

    n = 50
    rep = _many_thumbnails(tmp_path, n)
    pdf = tmp_path / f"thumbs-{page}.pdf"
    canvas = batch_report_pages(pdf, rep, META, page)
    assert_layout_fits(pdf, canvas, page)
    names = {r.name for r in rep.rows}
    head = next(i for i, b in enumerate(canvas.boxes) if b.text == "Thumbnails")
    # Drawing order per cell: its picture, its scale bar's label, its name, its class caption.
    cells, boxes = [], canvas.boxes[head + 1 :]
    for i, b in enumerate(boxes):
        if b.kind != "image":
            continue
        k = next(j for j in range(i + 1, len(boxes)) if boxes[j].text in names)
        name, caption = boxes[k], boxes[k + 1]
        assert caption.kind == "text" and caption.text and caption.text not in names
        cells.append((b, name, caption))
    assert len(cells) == n
    rows: dict[tuple[int, float], list] = {}
    for cell in cells:
        rows.setdefault((cell[0].page, round(cell[0].y, 2)), []).append(cell)
    assert [len(r) for r in rows.values()] == [4] * (n // 4) + [n % 4]
    assert len({p for p, _ in rows}) >= 3  # the thumbnails run over page breaks
    for pic, name, caption in cells:
        assert pic.page == name.page == caption.page  # a cell is never split
        assert name.y >= pic.y + pic.h and caption.y >= name.y + name.h - 0.5
        assert caption.y + caption.h <= canvas.bottom + 0.5
    keys = list(rows)
    for a, b in zip(keys, keys[1:], strict=False):
        a_bottom = max(c[2].y + c[2].h for c in rows[a])
        b_height = max(c[2].y + c[2].h for c in rows[b]) - b[1]
        if a[0] == b[0]:
            assert b[1] >= a_bottom, "a row runs into the next"
        else:  # moved on: it would not have fitted under the previous row (rows 4 pt apart;
            # a caption's box is about 1 pt shorter than its line)
            assert a_bottom + b_height > canvas.bottom - 12, (a, b, a_bottom, b_height)


def test_batch_report_says_not_calibrated_as_the_image_tab_does(tmp_path: Path, app) -> None:
    """Images without a pixel size: the table's pixel size and each thumbnail's scale-bar badge
    use the metadata views' wording ("not calibrated", io.describe), not a word of their own."""
    from fractoscope.report.pdf import batch_report_pages

    rep = _many_thumbnails(tmp_path, 3)
    for r in rep.rows:
        r.pixel_size_m = None
    pdf = tmp_path / "bare.pdf"
    canvas = batch_report_pages(pdf, rep, META, "A4")
    assert_layout_fits(pdf, canvas, "A4")
    _, texts, _ = _pdf_text(pdf)
    text = _norm("\n".join(texts))
    assert "uncal" not in text
    head = next(i for i, b in enumerate(canvas.boxes) if b.text == "Thumbnails")
    badges = [b.text for b in canvas.boxes[head:] if b.text == "not calibrated"]
    assert len(badges) == 3  # one per thumbnail
    # The table's pixel size cells (the words may wrap in the narrow column), one per row.
    cells = [b.text for b in canvas.boxes[:head] if b.text in ("not calibrated", "not", "calibrated")]
    assert " ".join(cells) == " ".join(["not calibrated"] * 3)
    assert text.count("calibrated") == 6  # read back from the PDF: 3 cells and 3 badges


def test_report_cli_single_and_batch(tmp_path: Path, analysed) -> None:
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", QT_QPA_PLATFORM="offscreen")
    sem, _ = analysed
    out = tmp_path / "one.pdf"
    res = subprocess.run(
        [sys.executable, "-m", "fractoscope", "report", str(sem.path), "--out", str(out),
         "--sample-id", "CLI-1", "--analyst", "B", "--notes", "n", "--device", "cpu"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert out.read_bytes()[:5] == b"%PDF-"
    _, texts, _ = _pdf_text(out)
    assert DEFAULT_TITLE in texts[0]  # the same default as the GUI dialog (ReportMeta)
    missing = subprocess.run(
        [sys.executable, "-m", "fractoscope", "report", str(tmp_path / "nope.tif"), "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    res = subprocess.run(
        [sys.executable, "-m", "fractoscope", "report", str(empty), "--out", str(tmp_path / "b.pdf")],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 2 and "no batch results" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_one_default_title() -> None:
    assert ReportMeta().title == DEFAULT_TITLE == "Fractography failure report"
    assert BATCH_TITLE != DEFAULT_TITLE


def test_report_meta_dialog(qtbot) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QDialog

    from fractoscope.gui.report_dialog import ask_report_meta

    seen = {}

    def fill() -> None:
        dlg = next(
            w for w in QApplication.topLevelWidgets() if isinstance(w, QDialog) and w.isVisible()
        )
        seen["default_title"] = dlg.title_edit.text()
        dlg.sample_edit.setText("S-9")
        dlg.analyst_edit.setText("K. Tester")
        dlg.notes_edit.setPlainText("two origins")
        dlg.accept()

    QTimer.singleShot(50, fill)
    meta, size = ask_report_meta(None, ReportMeta(date="2026-01-02"), page_size="Letter")
    assert seen["default_title"] == DEFAULT_TITLE
    assert (meta.sample_id, meta.analyst, meta.notes, meta.date, meta.title) == (
        "S-9",
        "K. Tester",
        "two origins",
        "2026-01-02",
        DEFAULT_TITLE,
    )
    assert size == "Letter"


def parse_length(s: str) -> float:
    """'20 µm' -> 2e-05 (the scale-bar labels' format)."""
    value, unit = s.split()
    return float(value) * {"nm": 1e-9, "µm": 1e-6, "mm": 1e-3}[unit]


def test_parse_length_reads_scale_bar_labels() -> None:
    for m in (20e-9, 500e-9, 2e-6, 50e-6, 1e-3):
        assert parse_length(format_length(m)) == pytest.approx(m)
