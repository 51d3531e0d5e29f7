"""Make ``resources/gallery.png``: a few generated examples of every level-2 class, labelled.

Run ``python -m fractoscope.synth.gallery [OUT.png] [--seed S] [--n 4] [--size 512] [--tile 256]``.
Uses Pillow (a scikit-image dependency) only for the text labels.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from skimage.transform import resize

from fractoscope.model.taxonomy import Taxonomy
from fractoscope.synth.generate import image_rng, render_fractograph

LABEL_W = 250


def make_gallery(n: int = 4, seed: int = 0, size: int = 512, tile: int = 256,
                 classes: list[str] | None = None) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    tax = Taxonomy.default()
    classes = classes or tax.level2
    gap = 4
    H = len(classes) * (tile + gap)
    W = LABEL_W + n * (tile + gap)
    canvas = np.full((H, W), 255, np.uint8)
    for r, c in enumerate(classes):
        for i in range(n):
            img, px, _ = render_fractograph(c, image_rng(seed, c, i), size)
            f = img.astype(np.float32) / (65535.0 if img.dtype == np.uint16 else 255.0)
            t = resize(f, (tile, tile), anti_aliasing=True)
            y, x = r * (tile + gap), LABEL_W + i * (tile + gap)
            canvas[y : y + tile, x : x + tile] = np.round(t * 255).astype(np.uint8)
            canvas[y + tile - 14 : y + tile, x : x + 70] = 0
            canvas = _text(canvas, f"{px * 1e9:.0f} nm/px", (x + 2, y + tile - 13))
    im = Image.fromarray(canvas)
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=15)
    small = ImageFont.load_default(size=12)
    for r, c in enumerate(classes):
        y = r * (tile + gap) + tile // 2 - 20
        d.text((6, y), tax.display_name(c), fill=0, font=font)
        d.text((6, y + 22), c, fill=90, font=small)
        d.text((6, y + 38), f"({tax.parent_of(c)})", fill=90, font=small)
    return np.asarray(im)


def _text(canvas: np.ndarray, s: str, xy: tuple[int, int]) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    im = Image.fromarray(canvas)
    ImageDraw.Draw(im).text(xy, s, fill=255, font=ImageFont.load_default(size=11))
    return np.asarray(im).copy()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", nargs="?", default=str(Path(__file__).resolve().parents[2] / "resources" / "gallery.png"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--tile", type=int, default=200)
    ap.add_argument("--classes", default="")
    a = ap.parse_args(argv)
    from PIL import Image

    g = make_gallery(a.n, a.seed, a.size, a.tile, [c for c in a.classes.split(",") if c] or None)
    Image.fromarray(g).save(a.out, optimize=True)
    print(f"wrote {a.out} ({Path(a.out).stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
