"""``fractoscope gui [FILE|FOLDER...]``: the desktop viewer (also ``fractoscope FILE...``)."""

from __future__ import annotations

import argparse
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gui",
        help="open the desktop viewer (the default when no command is given)",
        description="Side-by-side calibrated viewer with level-1 / level-2 Grad-CAM overlays. "
        "Files open in the image list; a folder goes to the batch panel.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="image files or folders to open")
    p.add_argument(
        "--screenshot", metavar="OUT.png",
        help="open the files, wait for the analysis, save a screenshot of the window and exit",
    )
    p.add_argument("--no-analyse", action="store_true", help="do not analyse images when they open")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None, help="inference device (default: saved choice)")
    p.add_argument("--model", "-m", default=None, help="checkpoint .safetensors (default: the bundled model)")
    p.add_argument(
        "--settings-org", default=None, metavar="NAME",
        help="settings scope (organisation name; env FRACTOSCOPE_SETTINGS_ORG); "
        "env FRACTOSCOPE_SETTINGS_FILE names an ini file instead",
    )
    p.add_argument("--size", default=None, metavar="WxH", help="window size, e.g. 1600x1000 (for screenshots)")
    p.set_defaults(func=run)


def _size(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"fractoscope: --size wants WIDTHxHEIGHT, got {text!r}") from None
    if not (200 <= w <= 10000 and 200 <= h <= 10000):
        raise SystemExit(f"fractoscope: --size {text} is out of range")
    return w, h


def _display_available() -> bool:
    """Qt aborts the process without a display; find out first (Linux/BSD only)."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if not sys.platform.startswith(("linux", "freebsd")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fractoscope.commands._common import fail

    size = _size(args.size)
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing and args.screenshot:
        return fail(f"{missing[0]}: no such file or folder")
    if not _display_available():
        if args.screenshot:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a screenshot needs no screen
        else:
            return fail(
                "no display found (DISPLAY/WAYLAND_DISPLAY unset): run the app in a desktop session, "
                "use --screenshot OUT.png, or the headless commands (predict, batch, report)"
            )
    try:
        from fractoscope.gui.app import GuiOptions, run_app
    except ImportError as exc:
        return fail(f"the desktop app needs PySide6 and pyqtgraph ({exc})")
    opts = GuiOptions(
        paths=[Path(p) for p in args.paths],
        screenshot=Path(args.screenshot) if args.screenshot else None,
        analyse=False if args.no_analyse else None,
        device=args.device,
        model=Path(args.model) if args.model else None,
        settings_org=args.settings_org,
        size=size,
    )
    if opts.screenshot is not None and opts.analyse is None:
        opts.analyse = True  # the screenshot shows the analysis unless --no-analyse
    return run_app(opts)
