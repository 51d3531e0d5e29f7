"""``fractoscope gui [FILE|FOLDER...]``: the desktop viewer (also ``fractoscope FILE...``)."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path


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


def _debian_package(soname: str) -> str:
    """``libxcb-icccm.so.4`` -> ``libxcb-icccm4`` (Debian/Ubuntu's naming of library packages)."""
    m = re.match(r"(lib[\w+.-]+?)\.so\.(\d+)", soname)
    if not m:
        return soname
    name, major = m.groups()
    return f"{name}-{major}" if name[-1].isdigit() else f"{name}{major}"


def _missing_xcb_libraries() -> list[str]:
    """System libraries Qt's X11 (xcb) platform plugin needs but cannot find; [] when none.

    Qt itself aborts naming only ``xcb-cursor0``; loading the plugin's shared object reports
    the real culprit (and ``ldd``, when present, every one of them).
    """
    import ctypes
    import ctypes.util
    import importlib.util
    import shutil
    import subprocess

    # Located, not imported: Qt itself is what may fail to load, and commands stay Qt-free.
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return []
    qt = Path(list(spec.submodule_search_locations)[0]).resolve() / "Qt"
    plugin = qt / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.is_file():
        return []
    missing: list[str] = []
    ldd = shutil.which("ldd")
    if ldd:
        try:
            out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        missing = [ln.split("=>")[0].strip() for ln in out.splitlines() if "not found" in ln]
    if not missing:
        try:
            ctypes.CDLL(str(plugin))
        except OSError as exc:
            m = re.search(r"(lib[\w+.-]+\.so[\w.]*)", str(exc))
            missing = [m.group(1) if m else str(exc)]
    # Qt 6.5+ also loads libxcb-cursor at run time (it is not a link-time dependency).
    if ctypes.util.find_library("xcb-cursor") is None:
        missing.append("libxcb-cursor.so.0")
    return list(dict.fromkeys(missing))


def _x_server_unreachable() -> bool:
    """True when DISPLAY names a local X server whose socket does not exist."""
    m = re.fullmatch(r"(unix)?:(\d+)(\.\d+)?", os.environ.get("DISPLAY", ""))
    return bool(m) and not Path(f"/tmp/.X11-unix/X{m.group(2)}").exists()


def _display_problem() -> str | None:
    """One line saying why the window cannot open here, or None when it (probably) can."""
    if not _display_available():
        return "no display found (DISPLAY/WAYLAND_DISPLAY unset)"
    if os.environ.get("QT_QPA_PLATFORM") or not sys.platform.startswith("linux"):
        return None
    if not os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None  # Wayland: Qt's wayland plugin, nothing of xcb's to check
    missing = _missing_xcb_libraries()
    if missing:
        pkgs = " ".join(_debian_package(x) for x in missing)
        return (
            f"the X11 window system plugin cannot load: missing {', '.join(missing)} "
            f"(Debian/Ubuntu: apt install {pkgs})"
        )
    if _x_server_unreachable():
        return f"no X server at DISPLAY={os.environ['DISPLAY']}"
    return None


def run(args: argparse.Namespace) -> int:
    from fractoscope.commands._common import fail

    size = _size(args.size)
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing and args.screenshot:
        return fail(f"{missing[0]}: no such file or folder")
    problem = _display_problem()
    if problem:
        if args.screenshot:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a screenshot needs no screen
        else:
            return fail(
                f"{problem}: run the app in a desktop session, "
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
