#!/usr/bin/env python3
"""Build the one-folder Fractoscope desktop app with PyInstaller, then (optionally) self-test it.

    python packaging/build.py [--variant full|cpu] [--clean] [--self-test]

Output: ``dist/<variant>/fractoscope/`` (executables ``fractoscope`` and ``fractoscope-cli``),
work files in ``build/pyinstaller-<variant>/``. Prints the build time and the app's size and
writes them, with the torch build used, to ``dist/<variant>/fractoscope/BUILD_INFO.json``.

Variants (see packaging/README.md):
  full  whatever torch the build environment has; with a CUDA wheel the app can use NVIDIA GPUs.
  cpu   no GPU support, smaller. Build it from an environment with a CPU-only torch to leave every
        CUDA library out; from a CUDA wheel it leaves out what torch only loads on demand.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import fractoscope_bundle as fb  # noqa: E402


def dir_size(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
    return total


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit in ("B", "KiB") else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def app_dir(variant: str) -> Path:
    return ROOT / "dist" / variant / fb.APP_NAME


def exe_path(variant: str, name: str) -> Path:
    suffix = ".exe" if sys.platform.startswith("win") else ""
    return app_dir(variant) / (name + suffix)


def preflight(variant: str) -> str:
    """Refuse early, in one line, what would fail or ship a broken app. Returns torch's build."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        raise SystemExit('build: PyInstaller is not installed: pip install -e ".[packaging]"') from None
    if not fb.model_files():
        raise SystemExit(f"build: no bundled model in {ROOT / 'models'} (hffnet2d-*.safetensors)")
    missing = [p for p in fb.model_files() if not p.is_file()]
    if missing:
        raise SystemExit(f"build: model card missing: {missing[0]}")
    samples = list((ROOT / "resources" / "samples").glob("*.tif*"))
    if not samples:
        raise SystemExit("build: no sample images in resources/samples (the self-test needs one)")
    try:
        import torch
    except ImportError:
        raise SystemExit("build: torch is not installed in this environment") from None
    cuda = torch.version.cuda
    if variant == "cpu" and cuda:
        print(
            f"build: note: torch {torch.__version__} is a CUDA build: the cpu variant keeps the "
            "CUDA libraries torch links at load time (see packaging/README.md); use an environment "
            "with a CPU-only torch to leave them all out",
            file=sys.stderr,
        )
    return f"{torch.__version__}" + (f" (CUDA {cuda})" if cuda else " (CPU only)")


def run_self_test(variant: str, timeout: float = 900) -> tuple[int, str, float]:
    exe = exe_path(variant, fb.CLI_EXE)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(exe), "--self-test"], capture_output=True, text=True, env=env, timeout=timeout,
        check=False,
    )
    return proc.returncode, (proc.stdout + proc.stderr).strip(), time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", choices=fb.VARIANTS, default="full")
    ap.add_argument("--clean", action="store_true", help="clear PyInstaller's cache and work folder first")
    ap.add_argument("--self-test", action="store_true", help="run the built app's --self-test afterwards")
    ap.add_argument("--debug-console", action="store_true", help="give the GUI executable a console")
    args = ap.parse_args(argv)

    torch_build = preflight(args.variant)
    work = ROOT / "build" / f"pyinstaller-{args.variant}"
    dist = ROOT / "dist" / args.variant
    cmd = [
        sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
        "--distpath", str(dist), "--workpath", str(work),
    ]
    if args.clean:
        cmd.append("--clean")
    cmd += [str(HERE / "fractoscope.spec"), "--", "--variant", args.variant]
    if args.debug_console:
        cmd.append("--debug-console")
    print("build: " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        print(f"build: PyInstaller failed (exit {proc.returncode}) after {seconds:.0f} s", file=sys.stderr)
        return 1

    out = app_dir(args.variant)
    # Linux desktop integration travels with the app folder.
    shutil.copy2(HERE / "linux" / "fractoscope.desktop", out / "fractoscope.desktop")
    shutil.copy2(HERE / "linux" / "install_desktop.py", out / "install_desktop.py")
    size = dir_size(out)
    info = {
        "variant": args.variant,
        "version": fb.version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "torch": torch_build,
        "build_seconds": round(seconds, 1),
        "size_bytes": size,
        "clean": args.clean,
    }
    if args.self_test:
        rc, text, st = run_self_test(args.variant)
        info["self_test"] = {"exit": rc, "seconds": round(st, 1)}
        print(text)
        if rc != 0:
            (out / "BUILD_INFO.json").write_text(json.dumps(info, indent=2) + "\n")
            print(f"build: the built app's self-test FAILED (exit {rc})", file=sys.stderr)
            return 1
    (out / "BUILD_INFO.json").write_text(json.dumps(info, indent=2) + "\n")
    print(
        f"build: {out} ({args.variant}, torch {torch_build}): {human(size)}, "
        f"built in {seconds / 60:.1f} min" + (" - self-test passed" if args.self_test else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
