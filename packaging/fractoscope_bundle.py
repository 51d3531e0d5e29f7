"""What goes into the frozen Fractoscope app: plain Python, shared by the spec, build.py and tests.

Kept out of ``fractoscope.spec`` so it can be imported and checked without PyInstaller (the spec
is only executable inside PyInstaller). No imports of torch or Qt here.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP_NAME = "fractoscope"  # the one-folder app: dist/fractoscope/
GUI_EXE = "fractoscope"  # windowed on Windows/macOS (console=False)
CLI_EXE = "fractoscope-cli"  # console executable for the subcommands and --self-test
VARIANTS = ("full", "cpu")

# Never needed at run time by the app, and large. triton only serves torch.compile (unused);
# huggingface_hub & co. could only download pretrained weights (the app is offline);
# grad-cam/ttach/opencv/sklearn/matplotlib are benchmark-only or optional imports of libraries.
EXCLUDES = [
    "triton",
    "huggingface_hub",
    "hf_xet",
    "httpx",
    "httpcore",
    "pytorch_grad_cam",
    "ttach",
    "cv2",
    "sklearn",
    "matplotlib",
    "IPython",
    "jupyter_client",
    "notebook",
    "tkinter",
    "_tkinter",
    "pytest",
    "_pytest",
    "hypothesis",
    "PyInstaller",
    "torch.utils.tensorboard",
    "tensorboard",
    "pyqtgraph.examples",
    "pyqtgraph.opengl",
    "pyqtgraph.jupyter",
    "PySide6.QtWebEngineCore",
    "PySide6.QtWebEngineWidgets",
    "PySide6.QtQuick",
    "PySide6.QtQml",
    "PySide6.Qt3DCore",
    "PySide6.QtMultimedia",
    "PyQt5",
    "PyQt6",
]

# CUDA libraries that torch (CUDA wheel) only dlopen()s on demand: cuDNN's engine/op
# sub-libraries, cuSOLVER (torch.linalg on GPU), profiler and JIT-compiler extras. The "cpu"
# variant built from a CUDA wheel leaves them out; everything torch links at load time (DT_NEEDED)
# must stay, or ``import torch`` fails (e.g. "libcudnn.so.9: cannot open shared object file").
LAZY_CUDA_LIBS = [
    "libcudnn_*.so*",
    "libcusolver*.so*",
    "libtorch_cuda_linalg.so",
    "libnvperf_*.so",
    "libcheckpoint.so",
    "libpcsamplingutil.so",
    "libnvrtc.alt.so*",
    "libnvrtc-builtins*.so*",
    "libcufftw.so*",
    "libnvblas.so*",
    "libnvToolsExt.so*",
]


def version() -> str:
    text = (ROOT / "fractoscope" / "__init__.py").read_text(encoding="utf-8")
    m = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.M)
    return m.group(1) if m else "0.0.0"


def model_files(root: Path = ROOT) -> list[Path]:
    """The bundled checkpoint(s): weights and their model cards."""
    found = sorted((root / "models").glob("hffnet2d-*.safetensors"))
    out: list[Path] = []
    for w in found:
        out += [w, w.with_suffix(".json")]
    return out


def datas(root: Path = ROOT) -> list[tuple[str, str]]:
    """(source, folder in bundle) pairs: models/ and resources/ at the bundle root, where
    ``fractoscope.model.checkpoint`` and ``fractoscope.selftest`` look (``sys._MEIPASS``)."""
    out = [(str(p), "models") for p in model_files(root)]
    res = root / "resources"
    for p in sorted(res.rglob("*")):
        if p.is_file() and not p.name.startswith(".") and "__pycache__" not in p.parts:
            out.append((str(p), str(Path("resources") / p.parent.relative_to(res))))
    return out


def icon_for_platform(platform: str = sys.platform, root: Path = ROOT) -> str | None:
    icons = root / "resources" / "icons"
    if platform.startswith("win"):
        p = icons / "fractoscope.ico"
    elif platform == "darwin":
        p = icons / "fractoscope.icns"
    else:
        p = icons / "fractoscope-256.png"  # used by PyInstaller only on Windows/macOS
    return str(p) if p.is_file() else None


def is_lazy_cuda_lib(dest_name: str) -> bool:
    name = Path(dest_name).name
    return any(fnmatch.fnmatch(name, pat) for pat in LAZY_CUDA_LIBS)


def is_cuda_lib(dest_name: str) -> bool:
    """Any CUDA runtime library (what must be absent from a true CPU-only build)."""
    name = Path(dest_name).name
    parts = Path(dest_name).parts
    return (
        "nvidia" in parts
        or name.startswith(("libcuda", "libcudnn", "libcublas", "libcufft", "libcurand"))
        or name.startswith(("libcusparse", "libcusolver", "libnccl", "libnvrtc", "libnvJitLink"))
        or name.startswith(("libtorch_cuda", "libc10_cuda", "libnvshmem", "libcupti", "libcufile"))
    )


def elf_needed(path: str) -> set[str]:
    """DT_NEEDED sonames of an ELF file (empty when objdump is missing or it is not ELF)."""
    objdump = shutil.which("objdump")
    if not objdump:
        return set()
    try:
        out = subprocess.run(
            [objdump, "-p", path], capture_output=True, text=True, timeout=120, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return {line.split()[1] for line in out.splitlines() if line.strip().startswith("NEEDED")}


def prune_lazy_cuda(binaries: list[tuple], log=print) -> tuple[list[tuple], list[tuple]]:
    """Drop the on-demand CUDA libraries from PyInstaller's binaries (TOC of (dest, src, kind)).

    A library is only dropped when no remaining binary links it (DT_NEEDED): the result is
    checked, not assumed. Returns (kept, dropped).
    """
    kept = [b for b in binaries if not is_lazy_cuda_lib(b[0])]
    dropped = [b for b in binaries if is_lazy_cuda_lib(b[0])]
    if not dropped:
        return kept, dropped
    while True:
        needed: set[str] = set()
        for dest, src, _kind in kept:
            if Path(dest).name.endswith((".so",)) or ".so." in Path(dest).name:
                needed |= elf_needed(src)
        back = [b for b in dropped if Path(b[0]).name in needed]
        if not back:
            break
        for b in back:
            log(f"fractoscope.spec: keeping {Path(b[0]).name} (linked at load time)")
        kept += back
        dropped = [b for b in dropped if b not in back]
    return kept, dropped
