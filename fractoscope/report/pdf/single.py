"""Layout of the single-image failure report (content from :class:`ImageReport`).

Page 1: the answer (with how far to trust it) and the SEM image. Page 2: the Grad-CAM maps, the
hierarchical probabilities and the alternatives. Then, flowing and paginated: the tile class map,
similar reference images, calibration and instrument, model provenance, the decision-support note.
"""

from __future__ import annotations

import math

from PySide6.QtGui import QColor

from fractoscope.report.data import ImageReport, ModelProvenance, ReportMeta
from fractoscope.report.pdf.canvas import (
    ACCENT,
    INK,
    LEFT,
    MUTED,
    RIGHT,
    RULE,
    TINT,
    WARN_BG,
    WARN_EDGE,
    WARN_INK,
    Canvas,
    pct,
    rgb,
)


def meta_block(c: Canvas, meta: ReportMeta, extra: list[tuple[str, str]]) -> None:
    """Title, then who/what/when in two columns, then the analyst's notes (flowing)."""
    for line in c.wrap(meta.title, c.width, 18, bold=True):
        c.text(c.left, c.y, c.width, 24, line, 18, bold=True)
        c.y += 24
    c.y += 4
    left = [("Sample ID", meta.sample_id or "-"), ("Analyst", meta.analyst or "-"), ("Date", meta.date)]
    right = extra + [("Software", f"Fractoscope {meta.app_version}")]
    half = c.width / 2
    h1 = c.key_values(left, c.left, half - 10, key_w=62, size=9)
    h2 = c.key_values(right, c.left + half, half, key_w=62, size=9)
    c.y += max(h1, h2) + 2
    if meta.notes.strip():
        c.key_values_flow([("Notes", meta.notes.strip())], key_w=62, size=9)
        c.y += 2
    c.hline(c.y, RULE)
    c.y += 8


def _result_box(c: Canvas, rep: ImageReport) -> None:
    """The answer first. A clear result gets a large bold headline. A flagged one gets the
    "Not recognised with confidence: <reason>" headline in amber, and its best guess below in
    plain text ("closest: ..."), with the level rows captioned as the closest classes."""
    tw = c.width - 28
    unsure = rep.uncertain
    head_size = 10.5 if unsure else 14.0
    head_text = rep.closest if unsure else rep.headline
    head_lines = c.wrap(head_text, tw, head_size, bold=not unsure)
    what1, what2 = ("Closest mechanism", "Closest morphology") if unsure else ("Failure mechanism", "Fracture morphology")
    levels = [(f"{what1} (level 1)", rep.level1.name, pct(rep.level1.probability))]
    if rep.level2 is not None:
        levels.append(
            (
                f"{what2} (level 2)",
                rep.level2.name,
                f"{pct(rep.level2.conditional)} within {rep.level1.name.lower()}",
            )
        )
    else:
        levels.append(("Fracture morphology (level 2)", "not trained", "this model gives the mechanism only"))
    ood = (
        f"{rep.ood_score:.2f} (higher = less like the training images)"
        if math.isfinite(rep.ood_score)
        else "not available for this model"
    )
    trust = [
        ("Confidence", rep.confidence_text),
        ("Calibrated probability", f"{pct(rep.calibrated)} that the failure mechanism is right"),
        ("Unfamiliarity (OOD) score", ood),
    ]
    if unsure:  # the evidence beside an answer the model does not stand behind
        trust.append(("Evidence", "The Grad-CAM maps (next page) show where the model saw the closest classes."))
        if rep.compared:
            trust.append(("Compared with", rep.compared))
    warn_lines = [c.wrap(f"Warning: {w}", tw, 8) for w in rep.warnings]
    banner_lines = c.wrap(rep.headline, tw, 13, bold=True) if unsure else []
    x0 = c.left + 14

    def content(y: float) -> float:
        """Draw the box's content from ``y``; returns where it ends."""
        if unsure:
            y += c.lines(banner_lines, x0, y, tw, 13, bold=True, color=WARN_INK) + 4
        y += c.lines(head_lines, x0, y, tw, head_size, bold=not unsure, color=INK) + 6
        for caption, name, p in levels:
            c.text(x0, y, 150, 12, caption, 8, color=MUTED)
            c.text(x0 + 150, y, tw - 150 - 175, 12, name, 9.5, bold=not unsure)
            c.text(c.right - 185, y, 175, 12, p, 8.5, align=RIGHT, color=INK)
            y += 14
        y += 6
        saved = c.y
        c.y = y
        y += c.key_values(trust, x0, tw, key_w=120, size=8.5)
        c.y = saved
        for ls in warn_lines:
            y += c.lines(ls, x0, y, tw, 8, color=WARN_INK) + 1
        return y

    # The box's height is its content's, measured by laying it out (8 pt above, 6 below).
    with c.measuring():
        box_h = 8 + (content(c.y + 8) - (c.y + 8)) + 6
    c.ensure(box_h)
    fill, edge = (WARN_BG, WARN_INK) if unsure else (TINT, ACCENT)
    c.rect(c.left, c.y, c.width, box_h, fill, stroke=WARN_EDGE if unsure else None, radius=3)
    c.rect(c.left, c.y, 4, box_h, edge)
    content(c.y + 8)
    c.y += box_h + 10


def _sem_image(c: Canvas, rep: ImageReport) -> None:
    c.section("SEM image", need=200)
    pic = rep.image
    cal = dict(rep.calibration)
    caption = (
        f"{rep.image_name} - pixel size {cal.get('Pixel size', 'n/a')} ({cal.get('Source', '')})"
        + (f", field of view {cal['Field of view']}" if "Field of view" in cal else "")
    )
    cap_lines = c.wrap(caption, c.width, 7.5)
    cap_h = c.line_height(7.5) * len(cap_lines) + 3
    max_h = max(120.0, c.room - cap_h - 4)
    ph, pw = pic.pixels.shape[:2]
    w = min(c.width, max_h * pw / ph)
    x = c.left + (c.width - w) / 2
    w, h = c.picture(x, c.y, w, pic, max_h=max_h)
    c.y += h + 3
    c.lines(cap_lines, c.left, c.y, c.width, 7.5, color=MUTED)
    c.y += cap_h


def _render_cams(c: Canvas, rep: ImageReport) -> None:
    c.section("Class activation maps (Grad-CAM)", need=260)
    gap = 14.0
    pw = (c.width - gap) / 2
    panels = [(1, rep.level1, rep.overlay_level1)]
    if rep.level2 is not None and rep.overlay_level2 is not None:
        panels.append((2, rep.level2, rep.overlay_level2))
    for i, (lvl, row, _) in enumerate(panels):
        title = f"Level {lvl}: {row.name} ({pct(row.probability)})"
        c.text(c.left + i * (pw + gap), c.y, pw, 12, title, 9, bold=True)
    if len(panels) == 1:
        c.text(c.left + pw + gap, c.y, pw, 12, "Level 2: not trained", 9, bold=True, color=MUTED)
    c.y += 14
    top = c.y
    hmax = 0.0
    for i, (_, _, pic) in enumerate(panels):
        _, h = c.picture(c.left + i * (pw + gap), top, pw, pic, max_h=min(330.0, c.room - 90))
        hmax = max(hmax, h)
    if len(panels) == 1:
        note = (
            "This model was adapted from level-1 labels only: it names the failure mechanism but "
            "has no trained fracture-morphology head, so no level-2 map is shown."
        )
        c.lines(c.wrap(note, pw, 8), c.left + pw + gap, top, pw, 8, color=MUTED)
    c.y = top + hmax + 6
    c.y += c.colour_bar(
        c.left + c.width * 0.25,
        c.y,
        c.width * 0.5,
        "Grad-CAM relevance of the predicted class (normalised over the image)",
    )
    c.paragraph(
        "Bright (yellow) areas drove the prediction most, dark purple ones least. Check that they "
        "fall on the fracture features themselves (dimples, facets, striations...) and not on "
        "debris, edges, charging artefacts or text.",
        8,
        color=MUTED,
    )


def _probabilities(c: Canvas, rep: ImageReport) -> None:
    c.section("Hierarchical prediction", need=180)
    rows: list[list[str]] = []
    styles: list[dict] = []
    bars: list[tuple[float, QColor]] = []
    l2 = rep.level2.label if rep.level2 is not None else None
    for r1 in rep.probabilities:
        rows.append([r1.name, "", pct(r1.probability), ""])
        styles.append({"bold": r1.label == rep.level1.label})
        bars.append((r1.probability, rgb(rep.colours[r1.label])))
        for r2 in r1.children:
            rows.append([f"    {r2.name}", pct(r2.conditional), pct(r2.probability), ""])
            styles.append({"bold": r2.label == l2, "color": INK if r2.probability >= 0.01 else MUTED})
            bars.append((r2.probability, rgb(rep.colours[r2.label])))

    if rep.has_level2:
        columns = [
            ("Class (level 1, then its level-2 morphologies)", 0.40, LEFT),
            ("Within mechanism", 0.18, RIGHT),
            ("Probability", 0.13, RIGHT),
            ("", 0.29, LEFT),
        ]
    else:  # no morphologies: no "within mechanism" column
        columns = [("Failure mechanism", 0.45, LEFT), ("Probability", 0.15, RIGHT), ("", 0.40, LEFT)]
        rows = [[r[0], r[2], r[3]] for r in rows]
    bar_col = len(columns) - 1

    def paint_bar(i: int, col: int, x: float, y: float, w: float, h: float) -> bool:
        if col != bar_col:
            return False
        c.bar(x, y + 3, w, h - 6, bars[i][0], bars[i][1])
        return True

    c.table(columns, rows, styles=styles, cell_painter=paint_bar, row_h=12.5)
    if rep.has_level2:
        c.paragraph(
            "Probability of a morphology = probability of its mechanism x probability of the "
            "morphology within that mechanism.",
            7.5,
            color=MUTED,
        )
    else:
        c.paragraph("Level 2 (fracture morphology) is not trained in this model.", 7.5, color=MUTED)

    c.section("Most likely alternatives", need=60)
    for k, alt in enumerate(rep.alternatives, 1):
        lines = c.wrap(alt, c.width - 20, 9)
        lh = c.line_height(9)
        c.ensure(lh * len(lines))
        c.text(c.left, c.y, 18, lh, f"{k}.", 9)
        c.lines(lines, c.left + 18, c.y, c.width - 20, 9)
        c.y += lh * len(lines) + 2
    if not rep.alternatives:
        c.paragraph("None: the model knows no other class.", 9, color=MUTED)
    c.y += 2
    c.paragraph(f"How the result is chosen: {rep.decoding_rule}", 8, color=MUTED)


def _class_map(c: Canvas, rep: ImageReport) -> None:
    level_word = "level 2" if rep.class_map_level == 2 else "level 1"
    c.section(f"Tile class map ({level_word}) and area fractions", need=300)
    mw = c.width * 0.52
    top = c.y
    _, mh = c.picture(c.left, top, mw, rep.class_map, max_h=min(290.0, c.room))
    lx, lw = c.left + mw + 16, c.width - mw - 16
    y = top

    def legend(title: str, areas: list[tuple[str, str, float]], main: str | None) -> float:
        nonlocal y
        c.text(lx, y, lw, 12, title, 8.5, bold=True)
        y += 14
        for label, name, frac in areas:
            if frac <= 0 and label != main:
                continue
            c.rect(lx, y + 1.5, 9, 9, rgb(rep.colours[label]), stroke=RULE, width=0.4)
            c.text(lx + 13, y, lw - 60, 12, name, 8)
            c.text(lx + lw - 45, y, 45, 12, pct(frac), 8, align=RIGHT)
            y += 13
        return y

    if rep.class_map_level == 2:
        legend("Level 2 (area of assessed tiles)", rep.area_level2, rep.level2.label if rep.level2 else None)
        c.rect(lx, y + 1.5, 9, 9, rgb((200, 200, 200)), stroke=RULE, width=0.4)
        c.text(lx + 13, y, lw - 13, 12, "not assessed (blank, saturated, text)", 8, color=MUTED)
        y += 20
        c.text(lx, y, lw, 12, "Level 1", 8.5, bold=True)
        y += 14
        for label, name, frac in rep.area_level1:
            if frac <= 0:
                continue
            c.text(lx, y, lw - 100, 12, name, 8)
            c.bar(lx + lw - 100, y + 3, 52, 7, frac, rgb(rep.colours[label]))
            c.text(lx + lw - 45, y, 45, 12, pct(frac), 8, align=RIGHT)
            y += 13
    else:
        legend("Level 1 (area of assessed tiles)", rep.area_level1, rep.level1.label)
        c.rect(lx, y + 1.5, 9, 9, rgb((200, 200, 200)), stroke=RULE, width=0.4)
        c.text(lx + 13, y, lw - 13, 12, "not assessed (blank, saturated, text)", 8, color=MUTED)
        y += 13
    y += 8
    areas = rep.area_level2 if rep.class_map_level == 2 else rep.area_level1
    mixed = [r for r in areas if r[2] >= 0.15]
    note = f"{rep.tiles_voting} of {rep.tiles_total} tiles assessed. " + (
        "Mixed-mode surface: " + ", ".join(f"{n} {pct(f)}" for _, n, f in mixed) + "."
        if len(mixed) > 1
        else "No second class covers 15 % or more of the assessed area."
    )
    note_lines = c.wrap(note, lw, 8)
    room = max(0, int((c.bottom - y) // c.line_height(8)))
    c.lines(note_lines[:room], lx, y, lw, 8, color=MUTED)
    y += c.line_height(8) * len(note_lines[:room])
    c.y = max(top + mh, y) + 12
    if note_lines[room:]:
        c.paragraph(" ".join(note_lines[room:]), 8, color=MUTED)


def _similar(c: Canvas, rep: ImageReport) -> None:
    if not rep.similar:
        if rep.compared:
            c.section("Similar images in the reference library", need=40)
            c.paragraph(rep.compared, 8, color=MUTED)
        return
    n = len(rep.similar)
    cols = min(4, max(3, n))
    gap = 10.0
    tw = (c.width - (cols - 1) * gap) / cols
    c.section("Similar images in the reference library", need=tw + 40)
    c.paragraph(
        rep.compared + " Compare the surfaces yourself."
        if rep.compared
        else "The labelled reference images whose model features are closest to this image's "
        "(cosine similarity: 1 = identical features). Compare the surfaces yourself.",
        8,
        color=MUTED,
    )
    lh = c.line_height(7.5)
    for start in range(0, n, cols):
        c.ensure(tw + 3 * lh + 8)
        top = c.y
        for k, s in enumerate(rep.similar[start : start + cols]):
            x = c.left + k * (tw + gap)
            ph, pw = s.picture.pixels.shape[:2]
            pw_, ph_ = (tw, tw * ph / pw) if pw >= ph else (tw * pw / ph, tw)
            px, py = x + (tw - pw_) / 2, top + (tw - ph_) / 2
            c.picture(px, py, pw_, s.picture, small_bar=True)
            c.rect(x, top, tw, tw, stroke=RULE, width=0.4)
            label = s.level1 + (f" > {s.level2}" if s.level2 else "")
            c.text(x, top + tw + 2, tw, lh, label, 7.5, bold=True)
            c.text(x, top + tw + 2 + lh, tw, lh, f"similarity {s.similarity:.2f}", 7.5, color=MUTED)
            c.text(x, top + tw + 2 + 2 * lh, tw, lh, s.name, 7, color=MUTED)
        c.y = top + tw + 3 * lh + 8


def _calibration(c: Canvas, rep: ImageReport) -> None:
    half = c.width / 2
    need = max(
        c.key_values_height(rep.calibration, half - 12, key_w=80),
        c.key_values_height(rep.instrument, half, key_w=100),
    )
    c.section("Calibration and instrument", need=need)
    h1 = c.key_values(rep.calibration, c.left, half - 12, key_w=80)
    h2 = c.key_values(rep.instrument, c.left + half, half, key_w=100)
    c.y += max(h1, h2) + 4


def model_section(c: Canvas, model: ModelProvenance, colours: dict[str, tuple[int, int, int]]) -> None:
    """Model provenance: key facts, a few accuracies with what they measure, the taxonomy."""
    c.section("Model provenance", need=110)
    c.key_values_flow(model.facts, key_w=110, mono_keys=("SHA-256",))
    if model.metrics:
        c.y += 6
        c.ensure(60)
        c.text(c.left, c.y, c.width, 12, "Measured accuracy (share of images whose class the model got right)", 9, bold=True)
        c.y += 15
        c.table(
            [
                ("Test", 0.24, LEFT),
                ("Images", 0.09, RIGHT),
                ("Level 1", 0.1, RIGHT),
                ("Level 2", 0.1, RIGHT),
                ("What it measures", 0.47, LEFT),
            ],
            [[m.what, m.images, m.level1, m.level2, m.meaning] for m in model.metrics],
            size=7.5,
            row_h=12,
            wrap_cols=(0, 4),
        )
    if model.taxonomy:
        c.y += 4
        c.ensure(60)
        c.text(c.left, c.y, c.width, 12, "Classes the model knows", 9, bold=True)
        c.y += 15
        rows = []
        def name(label: str) -> str:
            return model.names.get(label) or label.replace("_", " ").capitalize()

        for parent, kids in model.taxonomy.items():
            names = ", ".join(name(k) for k in kids) if model.has_level2 else "not trained"
            rows.append([name(parent), names or "-"])
        c.table(
            [("Failure mechanism (level 1)", 0.34, LEFT), ("Fracture morphologies (level 2)", 0.66, LEFT)],
            rows,
            size=7.5,
            row_h=12,
            wrap_cols=(1,),
        )


def render_image(c: Canvas, rep: ImageReport, meta: ReportMeta) -> None:
    meta_block(c, meta, [("Image", rep.image_name)])
    _result_box(c, rep)
    _sem_image(c, rep)
    c.new_page()
    _render_cams(c, rep)
    _probabilities(c, rep)
    _class_map(c, rep)
    _similar(c, rep)
    _calibration(c, rep)
    model_section(c, rep.model, rep.colours)
    c.note_box(rep.decision_support)


__all__ = ["meta_block", "model_section", "render_image"]
