#!/usr/bin/env python3
"""Add the built Fractoscope app to the Linux desktop menu (freedesktop.org .desktop + icons).

    python3 packaging/linux/install_desktop.py [APP_DIR] [--prefix ~/.local] [--uninstall]

APP_DIR is the one-folder app (default: dist/fractoscope beside this repo, or the folder this
script was copied into). Writes PREFIX/share/applications/fractoscope.desktop with Exec/TryExec
pointing at APP_DIR/fractoscope, and the icons into PREFIX/share/icons/hicolor/. Needs only
Python 3 (no Fractoscope imports), so it also runs from an unpacked release.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def _exec_quote(path: Path) -> str:
    # Desktop Entry spec: quote arguments with reserved characters; escape " ` $ \ inside.
    s = str(path)
    for ch in ("\\", '"', "`", "$"):
        s = s.replace(ch, "\\" + ch)
    return f'"{s}"'


def desktop_text(template: str, exe: Path) -> str:
    out = []
    for line in template.splitlines():
        if line.startswith("Exec="):
            line = f"Exec={_exec_quote(exe)} %F"
        elif line.startswith("TryExec="):
            line = f"TryExec={exe}"
        out.append(line)
    return "\n".join(out) + "\n"


def find_icons(app_dir: Path) -> Path:
    for cand in (app_dir / "resources" / "icons", app_dir / "_internal" / "resources" / "icons",
                 HERE.parents[1] / "resources" / "icons"):
        if (cand / "fractoscope-256.png").is_file():
            return cand
    raise SystemExit("install_desktop: icons not found (resources/icons/fractoscope-*.png)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("app_dir", nargs="?", type=Path, default=None)
    ap.add_argument("--prefix", type=Path, default=Path.home() / ".local")
    ap.add_argument("--uninstall", action="store_true")
    args = ap.parse_args(argv)

    share = args.prefix.expanduser() / "share"
    desktop = share / "applications" / "fractoscope.desktop"
    icon_paths = [share / "icons" / "hicolor" / f"{s}x{s}" / "apps" / "fractoscope.png" for s in SIZES]
    svg_path = share / "icons" / "hicolor" / "scalable" / "apps" / "fractoscope.svg"
    if args.uninstall:
        for p in [desktop, svg_path, *icon_paths]:
            p.unlink(missing_ok=True)
        print(f"removed {desktop} and icons")
        return 0

    app_dir = args.app_dir
    if app_dir is None:
        app_dir = HERE if (HERE / "fractoscope").is_file() else HERE.parents[1] / "dist" / "fractoscope"
    app_dir = app_dir.expanduser().resolve()
    exe = app_dir / "fractoscope"
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        print(f"install_desktop: {exe} is not an executable (build the app first)", file=sys.stderr)
        return 1
    icons = find_icons(app_dir)
    template = (HERE / "fractoscope.desktop").read_text(encoding="utf-8") if (
        HERE / "fractoscope.desktop").is_file() else (app_dir / "fractoscope.desktop").read_text(encoding="utf-8")

    desktop.parent.mkdir(parents=True, exist_ok=True)
    desktop.write_text(desktop_text(template, exe), encoding="utf-8")
    for s, dst in zip(SIZES, icon_paths, strict=True):
        src = icons / f"fractoscope-{s}.png"
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    if (icons / "fractoscope.svg").is_file():
        svg_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(icons / "fractoscope.svg", svg_path)
    # Refresh the menu caches where the tools exist (fixed argument lists, no shell).
    for cmd in (["update-desktop-database", str(desktop.parent)],
                ["gtk-update-icon-cache", "-q", "-t", str(share / "icons" / "hicolor")]):
        if shutil.which(cmd[0]):
            subprocess.run(cmd, check=False, capture_output=True)
    print(f"installed {desktop} -> {exe}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
