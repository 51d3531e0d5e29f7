"""Make ``resources/gallery.png``: generated examples of every level-2 class, one row per class.

Columns: one image per family (sub-style) of the class, then the same class tilted, mixed with a
second morphology or a smeared patch, and as an operator left it (bright, low-contrast or
saturated). Run ``python -m fractoscope.synth.gallery [OUT.png] [--seed S] [--size 512] [--tile 200]``.
Uses Pillow (a scikit-image dependency) only for the text labels.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from skimage.transform import resize

from fractoscope.model.taxonomy import Taxonomy
from fractoscope.synth.generate import FAMILIES, image_rng, render_details

LABEL_W = 215
HEAD_H = 22
EXTRAS = ("tilted", "mixed", "operator")


def _cells(level2: str, seed: int, size: int) -> list[tuple[np.ndarray, str]]:
    """(image, caption) for every column of one class row."""
    nfam = max(len(f) for f in FAMILIES.values())
    out = []
    fams = FAMILIES[level2]
    for i in range(nfam):
        if i >= len(fams):
            out.append((np.ones((size, size), np.float32), ""))
            continue
        # Plain examples of each family: no scene effects, so the surface itself is shown.
        r = render_details(level2, image_rng(seed, level2, i), size, fams[i], tilt=False, mixture=False,
                           focus=False, operator="normal")
        out.append((_f(r.image), f"{fams[i]} {r.pixel_size_m * 1e9:.0f} nm/px"))
    r = render_details(level2, image_rng(seed, level2, 100), size, tilt=True, mixture=False, operator="normal")
    out.append((_f(r.image), f"{r.family} tilt {r.tilt_deg:.0f}°"))
    r = render_details(level2, image_rng(seed, level2, 101), size, tilt=False, mixture=True, operator="normal")
    # No tag: the family's own smeared patches already fill the mixture allowance (generate._mix).
    out.append((_f(r.image), f"{r.family} + {r.mixture or 'own smeared patches'}"))
    mode = ("bright", "low_contrast", "saturated")[len(level2) % 3]  # varied, and stable across runs
    r = render_details(level2, image_rng(seed, level2, 102), size, mixture=False, operator=mode)
    out.append((_f(r.image), f"{r.family} {mode}"))
    return out


def _f(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) / (65535.0 if img.dtype == np.uint16 else 255.0)


def make_gallery(seed: int = 0, size: int = 512, tile: int = 200, classes: list[str] | None = None) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    tax = Taxonomy.default()
    classes = classes or tax.level2
    nfam = max(len(f) for f in FAMILIES.values())
    ncol = nfam + len(EXTRAS)
    gap = 4
    H = HEAD_H + len(classes) * (tile + gap)
    W = LABEL_W + ncol * (tile + gap)
    canvas = np.full((H, W), 255, np.uint8)
    captions = []
    for r, c in enumerate(classes):
        for i, (img, cap) in enumerate(_cells(c, seed, size)):
            t = resize(img, (tile, tile), anti_aliasing=True)
            y, x = HEAD_H + r * (tile + gap), LABEL_W + i * (tile + gap)
            canvas[y : y + tile, x : x + tile] = np.round(t * 255).astype(np.uint8)
            if cap:
                canvas[y + tile - 15 : y + tile, x : x + tile] = 0
                captions.append((cap, (x + 3, y + tile - 14)))
    im = Image.fromarray(canvas)
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=15)
    small = ImageFont.load_default(size=12)
    heads = [f"family {i + 1}" for i in range(nfam)] + ["tilted specimen", "mixed frame", "operator extreme"]
    for i, head in enumerate(heads):
        d.text((LABEL_W + i * (tile + gap) + 4, 3), head, fill=0, font=font)
    for cap, xy in captions:
        d.text(xy, cap, fill=255, font=ImageFont.load_default(size=11))
    for r, c in enumerate(classes):
        y = HEAD_H + r * (tile + gap) + tile // 2 - 20
        d.text((6, y), tax.display_name(c), fill=0, font=font)
        d.text((6, y + 22), c, fill=90, font=small)
        d.text((6, y + 38), f"({tax.parent_of(c)})", fill=90, font=small)
    return np.asarray(im)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", nargs="?", default=str(Path(__file__).resolve().parents[2] / "resources" / "gallery.png"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--tile", type=int, default=200)
    ap.add_argument("--classes", default="")
    a = ap.parse_args(argv)
    from PIL import Image

    g = make_gallery(a.seed, a.size, a.tile, [c for c in a.classes.split(",") if c] or None)
    Image.fromarray(g).save(a.out, optimize=True)
    print(f"wrote {a.out} ({Path(a.out).stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
