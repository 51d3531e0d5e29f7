"""Render resources/icons/fractoscope.svg into the PNG, ICO (Windows) and ICNS (macOS) icons.

Run once after changing the SVG (the outputs are committed, so builds need neither Qt's SVG
renderer nor Pillow): ``QT_QPA_PLATFORM=offscreen python packaging/make_icons.py``.
Needs PySide6 (QtSvg) and Pillow.
"""

from __future__ import annotations

import io
from pathlib import Path

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render_png(svg: Path, size: int) -> bytes:
    from PySide6.QtCore import QBuffer, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    img = QImage(size, size, QImage.Format.Format_ARGB32)
    img.fill(Qt.GlobalColor.transparent)
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    QSvgRenderer(str(svg)).render(p)
    p.end()
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    img.save(buf, "PNG")
    return bytes(buf.data())


def main() -> None:
    from PIL import Image
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication.instance() or QGuiApplication([])
    svg = ICONS / "fractoscope.svg"
    images = {}
    for s in PNG_SIZES:
        data = render_png(svg, s)
        (ICONS / f"fractoscope-{s}.png").write_bytes(data)
        images[s] = Image.open(io.BytesIO(data)).convert("RGBA")
    images[256].save(ICONS / "fractoscope.ico", sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)])
    images[512].save(ICONS / "fractoscope.icns")
    print(f"wrote icons to {ICONS}")


if __name__ == "__main__":
    main()
