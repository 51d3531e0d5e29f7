"""Layout of the batch summary report (content from :class:`BatchReport`).

Summary figures and class counts, the table of every image, thumbnails with scale bars (pixel
sizes differ between images), failures, model provenance. Sections flow: a short table shares
a page with what precedes it.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor

from fractoscope.io.describe import pixel_size_text
from fractoscope.report.data import BatchReport, ModelProvenance, Picture, ReportMeta
from fractoscope.report.pdf.canvas import (
    ACCENT,
    BAD,
    CENTRE,
    GOOD,
    LEFT,
    MUTED,
    RIGHT,
    RULE,
    TINT,
    WARN_INK,
    ZEBRA,
    Canvas,
    pct,
    rgb,
)
from fractoscope.report.pdf.single import meta_block, model_section

UNCERTAIN_MARK = "uncertain"
NOT_RECOGNISED_CELL = "Not recognised"  # the Level 1 cell of a flagged row (wording.NOT_RECOGNISED)


def closest_cell(rep: BatchReport, r) -> str:
    """'Wear 88 %, abrasive grooves 86 %': a flagged row's best guess."""
    text = f"{rep.names.get(r.closest_level1, r.closest_level1)} {pct(r.closest_p_level1)}"
    if r.closest_level2:
        text += f", {rep.names.get(r.closest_level2, r.closest_level2).lower()} {pct(r.closest_p_level2)}"
    return text


def _count_chart(
    c: Canvas,
    title: str,
    counts: list[tuple[str, str, int]],
    colours: dict[str, tuple[int, int, int]],
    x: float,
    w: float,
) -> float:
    y = c.y
    c.text(x, y, w, 12, title, 9, bold=True)
    y += 15
    top = max([n for _, _, n in counts] + [1])
    name_w = w * 0.54
    for label, name, n in counts:
        c.text(x, y, name_w - 4, 12, name, 8)
        c.bar(x + name_w, y + 2.5, w - name_w - 30, 8, n / top, rgb(colours.get(label, (120, 120, 120))))
        c.text(x + w - 28, y, 28, 12, str(n), 8, bold=n > 0, align=RIGHT)
        y += 13
    return y - c.y


def _summary(c: Canvas, rep: BatchReport) -> None:
    stats = [
        ("Images", rep.images, ACCENT),
        ("Analysed", rep.ok, GOOD),
        ("Not recognised (uncertain)", rep.uncertain, WARN_INK if rep.uncertain else MUTED),
        ("Failed", len(rep.failed), BAD if rep.failed else MUTED),
        ("Non-image files ignored", rep.ignored, MUTED),
    ]
    n = len(stats)
    tw = (c.width - (n - 1) * 8) / n
    c.ensure(56)
    for i, (lab, num, col) in enumerate(stats):
        x = c.left + i * (tw + 8)
        c.rect(x, c.y, tw, 44, TINT, radius=3)
        c.text(x, c.y + 4, tw, 22, str(num), 18, bold=True, color=col, align=CENTRE)
        c.text(x, c.y + 28, tw, 12, lab, 7.5, color=MUTED, align=CENTRE)
    c.y += 56


def _table(c: Canvas, rep: BatchReport) -> None:
    c.section("All images", need=60)
    rows, styles = [], []
    for i, r in enumerate(rep.rows, 1):
        if r.status == "ok" and r.uncertain:
            # Not a verdict: no class in the Level columns, the guess under "Closest".
            rows.append(
                [str(i), r.name, NOT_RECOGNISED_CELL, "", "", "", closest_cell(rep, r),
                 pixel_size_text(r.pixel_size_m), UNCERTAIN_MARK]
            )  # fmt: skip
            styles.append({"colors": {2: WARN_INK, 8: WARN_INK}})
        elif r.status == "ok":
            rows.append(
                [
                    str(i),
                    r.name,
                    rep.names.get(r.level1, r.level1),
                    pct(r.p_level1),
                    rep.names.get(r.level2, r.level2) if r.level2 else "not trained",
                    pct(r.p_level2),
                    "",
                    pixel_size_text(r.pixel_size_m),
                    "ok",
                ]
            )
            styles.append({})
        else:
            rows.append([str(i), r.name, "", "", "", "", "", "", "failed"])
            styles.append({"colors": {8: BAD}})
    c.table(
        [
            ("#", 0.04, RIGHT),
            ("Image", 0.19, LEFT),
            ("Level 1", 0.14, LEFT),
            ("P", 0.06, RIGHT),
            ("Level 2", 0.14, LEFT),
            ("P", 0.06, RIGHT),
            ("Closest (a guess)", 0.19, LEFT),
            ("Pixel size", 0.09, RIGHT),
            ("Status", 0.09, LEFT),
        ],
        rows,
        styles=styles,
        size=7.5,
        row_h=12,
        wrap_cols=(6, 7),  # "not calibrated" takes two lines in the pixel size column
    )
    if rep.uncertain:
        c.paragraph(
            f"{NOT_RECOGNISED_CELL} ({UNCERTAIN_MARK}): the model is not confident about this image "
            "(close alternatives, or an image unlike those it was trained on), so it gives no class; "
            "the closest class is only a guess: check the image yourself. Such images are not "
            "counted in the class charts. P = probability of the class shown.",
            7.5,
            color=MUTED,
        )


def _load_thumbnail(path) -> np.ndarray | None:
    from PIL import Image, UnidentifiedImageError  # Pillow comes with scikit-image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L"))
    except (OSError, UnidentifiedImageError):
        return None  # a damaged thumbnail must not cost the whole report


THUMB_COLUMNS, THUMB_GAP = 4, 10.0  # thumbnails per row, and the space between two
THUMB_ROW_GAP = 4.0  # below a row's captions


def _thumbnail_cell(c: Canvas, rep: BatchReport, r, x: float, top: float, tw: float, arr) -> float:
    """One image's cell at (x, top): its thumbnail (``arr``, None: "no thumbnail") in a ``tw``
    square, its name and its class; returns where the cell ends (also when measuring)."""
    if arr is not None:
        ph, pw = arr.shape[:2]
        pw_, ph_ = (tw, tw * ph / pw) if pw >= ph else (tw * pw / ph, tw)
        pic = Picture(arr, r.thumbnail_pixel_size_m(arr.shape[1]))
        c.picture(x + (tw - pw_) / 2, top + (tw - ph_) / 2, pw_, pic, small_bar=True)
    else:
        c.text(x, top + tw / 2 - 5, tw, 10, "no thumbnail", 7, color=MUTED, align=CENTRE)
    c.rect(x, top, tw, tw, stroke=RULE, width=0.4)
    if r.uncertain:
        c.rect(x, top, tw, 3, QColor(WARN_INK))
    lh = c.line_height(7)
    y = top + tw + 2
    c.text(x, y, tw, lh, r.name, 7, bold=True)
    y += lh
    if r.uncertain:  # the guess, said to be one
        l1, p1, l2, p2 = r.closest_level1, r.closest_p_level1, r.closest_level2, r.closest_p_level2
    else:
        l1, p1, l2, p2 = r.level1, r.p_level1, r.level2, r.p_level2
    what = rep.names.get(l2, l2) if l2 else rep.names.get(l1, l1)
    p = p2 if l2 else p1
    caption = f"not recognised; closest {what.lower()} {pct(p)}" if r.uncertain else f"{what} {pct(p)}"
    c.text(x, y, tw, lh, caption, 6.5, color=WARN_INK if r.uncertain else MUTED)
    return y + lh


def _thumbnails(c: Canvas, rep: BatchReport) -> None:
    ok_rows = [r for r in rep.rows if r.status == "ok"]
    if not ok_rows:
        return
    cols = THUMB_COLUMNS
    tw = (c.width - (cols - 1) * THUMB_GAP) / cols
    rows = [ok_rows[i : i + cols] for i in range(0, len(ok_rows), cols)]

    def row_height(row) -> float:
        # Measured by laying the cells out (nothing drawn, no thumbnail read): the height a row
        # is paginated by is the one it is drawn with.
        with c.measuring():
            return max(_thumbnail_cell(c, rep, r, c.left, c.y, tw, None) for r in row) - c.y + THUMB_ROW_GAP

    c.section("Thumbnails", need=row_height(rows[0]))
    for row in rows:
        h = row_height(row)
        c.ensure(h)
        top = c.y
        for k, r in enumerate(row):
            arr = _load_thumbnail(r.thumbnail) if r.thumbnail is not None else None
            _thumbnail_cell(c, rep, r, c.left + k * (tw + THUMB_GAP), top, tw, arr)
        c.y = top + h


def _failures(c: Canvas, rep: BatchReport) -> None:
    c.section(f"Failed files ({len(rep.failed)})", need=30)
    if not rep.failed:
        c.paragraph("None: every image was analysed.", 9, color=MUTED)
        return
    lh = c.line_height(8)
    for r in rep.failed:
        msg = c.wrap(r.error or "failed", c.width * 0.6, 8)
        c.ensure(lh * min(2, len(msg)))
        c.text(c.left, c.y, c.width * 0.36, lh, r.name, 8, bold=True)
        for i, line in enumerate(msg):
            if i:
                c.ensure(lh)
            c.text(c.left + c.width * 0.38, c.y, c.width * 0.6, lh, line, 8, color=BAD)
            c.y += lh
        c.y += 3
        c.hline(c.y - 1.5, ZEBRA)


def render_batch(c: Canvas, rep: BatchReport, meta: ReportMeta) -> None:
    meta_block(c, meta, [("Results", str(rep.out_dir))])
    _summary(c, rep)
    c.section("Predicted classes", need=120)
    half = (c.width - 20) / 2
    h1 = _count_chart(c, "Level 1 - failure mechanism", rep.level1_counts, rep.colours, c.left, half)
    h2 = _count_chart(
        c, "Level 2 - fracture morphology", rep.level2_counts, rep.colours, c.left + half + 20, half
    )
    c.y += max(h1, h2) + 6
    if rep.uncertain:
        c.paragraph(
            f"Not counted above: {rep.uncertain} image{'s' if rep.uncertain != 1 else ''} not "
            "recognised with confidence (their closest classes are in the table).",
            8,
            color=WARN_INK,
        )
    _table(c, rep)
    _failures(c, rep)
    _thumbnails(c, rep)
    model_section(
        c,
        ModelProvenance(
            name=rep.model_name,
            sha256=rep.model_sha256,
            input_size=0,
            taxonomy=rep.taxonomy,
            names=rep.names,
            facts=[
                ("Model", rep.model_name or "-"),
                ("SHA-256", rep.model_sha256 or "-"),
                ("Device", rep.device or "-"),
                ("Run started", rep.started_at or "-"),
                *((("Lab statistics", rep.lab_stats),) if rep.lab_stats else ()),
                *((("Surface context", rep.surface),) if rep.surface else ()),
            ],
        ),
        rep.colours,
    )
    c.note_box(rep.decision_support)


__all__ = ["render_batch"]
