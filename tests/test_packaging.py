"""PyInstaller packaging: the spec, what it bundles, Linux desktop integration, icons (fast), and
one slow test marked ``packaging`` that builds the app and runs the frozen ``--self-test``:

    pytest -m packaging tests/test_packaging.py      # FRACTOSCOPE_PACKAGING_VARIANT=cpu for cpu
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "packaging"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def fb():
    return _load("fractoscope_bundle", PKG / "fractoscope_bundle.py")


class _Recorder:
    """Stands in for one of PyInstaller's build steps (Analysis, EXE, ...): records its arguments.

    PyInstaller runs a spec file as Python with these names in its namespace; running the spec the
    same way with recorders shows what it asks PyInstaller to build, without a 10-minute build (the
    real build is the ``packaging``-marked test below)."""

    calls: list = []

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        type(self).calls.append(self)
        # Analysis exposes these lists to the rest of the spec
        self.binaries = list(kwargs.get("binaries", []))
        self.datas = list(kwargs.get("datas", []))
        self.scripts, self.pure = [], []


# Walks the installed package as PyInstaller's collect_submodules does (pkgutil.walk_packages) and
# imports every module for real, in a fresh interpreter: a module that cannot be imported is
# reported, not bundled silently. __main__ is listed but not imported (importing it runs the app).
_WALK = """
import importlib, json, pkgutil, sys
import fractoscope
names, failed = ["fractoscope"], {}
for m in pkgutil.walk_packages(fractoscope.__path__, "fractoscope.", onerror=lambda n: failed.setdefault(n, "walk")):
    names.append(m.name)
for name in names:
    if name.rpartition(".")[2] == "__main__":
        continue
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps({"names": names, "failed": failed}))
"""


@pytest.fixture(scope="module")
def walked_modules() -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-c", _WALK], capture_output=True, text=True, timeout=600, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _run_spec(monkeypatch, argv: list[str], modules: list[str] | None = None) -> dict[str, list[_Recorder]]:
    import types

    steps = {name: type(name, (_Recorder,), {"calls": []}) for name in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")}
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda pkg: list(modules or []) if pkg == "fractoscope" else []
    hooks.collect_dynamic_libs = lambda pkg, search_patterns=(): [(f"{pkg}-lib", pkg, "BINARY")]
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    monkeypatch.setattr(sys, "argv", ["pyinstaller", *argv])
    monkeypatch.setattr(sys, "platform", "linux")  # no Windows version resource / macOS bundle here
    monkeypatch.syspath_prepend(str(PKG))
    spec = PKG / "fractoscope.spec"
    ns = {"SPECPATH": str(PKG), "__file__": str(spec), "__name__": "__main__", **steps}
    exec(compile(spec.read_text(encoding="utf-8"), str(spec), "exec"), ns)
    return {name: cls.calls for name, cls in steps.items()}


def test_every_module_is_found_and_imports(walked_modules):
    # Independent of the walk: every .py file of the source tree is a module it must have found.
    on_disk = {
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for p in (REPO / "fractoscope").rglob("*.py")
    }
    assert not walked_modules["failed"], walked_modules["failed"]
    assert on_disk <= set(walked_modules["names"]), sorted(on_disk - set(walked_modules["names"]))


def test_spec_builds_gui_and_console_executables_with_models_and_all_submodules(monkeypatch, fb, walked_modules):
    from fractoscope.cli import COMMANDS

    built = _run_spec(monkeypatch, [], walked_modules["names"])
    (analysis,) = built["Analysis"]
    kw = analysis.kwargs
    assert Path(analysis.args[0][0]).name == "fractoscope_entry.py" and Path(analysis.args[0][0]).is_file()
    assert kw["datas"] == fb.datas(REPO)
    # Every module the walk found is bundled, above all each subcommand's (imported by name at
    # run time, so PyInstaller's import analysis cannot see them).
    assert set(walked_modules["names"]) <= set(kw["hiddenimports"])
    commands = {f"fractoscope.commands.{c.replace('-', '')}" for c in COMMANDS}
    assert commands | {"fractoscope.gui.app"} <= set(kw["hiddenimports"])
    assert ("torchvision-lib", "torchvision", "BINARY") in kw["binaries"]  # operators loaded by path
    assert set(fb.EXCLUDES) <= set(kw["excludes"]) and "nvidia" not in kw["excludes"]
    exes = {e.kwargs["name"]: e.kwargs["console"] for e in built["EXE"]}
    assert exes == {fb.GUI_EXE: False, fb.CLI_EXE: True}
    (coll,) = built["COLLECT"]
    assert coll.kwargs["name"] == fb.APP_NAME and len(coll.args) == 4
    assert not built["BUNDLE"]  # the macOS .app only on macOS


def test_spec_cpu_variant_leaves_out_cuda(monkeypatch, fb):
    import torch

    built = _run_spec(monkeypatch, ["--variant", "cpu"])
    kw = built["Analysis"][0].kwargs
    assert "nvidia" in kw["excludes"]
    hooks = [Path(h).name for h in kw["runtime_hooks"]]
    assert hooks == (["rthook_cpu_only.py"] if torch.version.cuda else [])
    assert all(Path(h).is_file() for h in kw["runtime_hooks"])


def test_bundle_data_has_model_card_samples_and_icons(fb):
    datas = fb.datas(REPO)
    dests = {(Path(src).name, dest) for src, dest in datas}
    weights = sorted((REPO / "models").glob("hffnet2d-*.safetensors"))
    assert weights
    for w in weights:
        assert (w.name, "models") in dests
        assert (w.with_suffix(".json").name, "models") in dests
    samples = sorted((REPO / "resources" / "samples").glob("*.tif"))
    assert samples
    for s in samples:
        assert (s.name, str(Path("resources") / "samples")) in dests
    assert ("fractoscope-256.png", str(Path("resources") / "icons")) in dests
    assert all(Path(src).is_file() for src, _ in datas)
    # What the frozen app must never carry: pickled checkpoints, downloaders.
    assert not any(src.endswith((".pt", ".pth", ".ckpt")) for src, _ in datas)
    assert {"huggingface_hub", "triton"} <= set(fb.EXCLUDES)


def test_icons_for_every_platform(fb):
    icons = REPO / "resources" / "icons"
    for s in (16, 32, 48, 64, 128, 256, 512):
        assert (icons / f"fractoscope-{s}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (icons / "fractoscope.ico").read_bytes()[:4] == b"\x00\x00\x01\x00"
    assert (icons / "fractoscope.icns").read_bytes()[:4] == b"icns"
    assert fb.icon_for_platform("win32", REPO).endswith("fractoscope.ico")
    assert fb.icon_for_platform("darwin", REPO).endswith("fractoscope.icns")


def _desktop(path: Path) -> dict[str, str]:
    cp = configparser.ConfigParser(interpolation=None, strict=True)
    cp.optionxform = str  # keys are case-sensitive
    cp.read(path, encoding="utf-8")
    return dict(cp["Desktop Entry"])


def test_desktop_file_is_valid():
    path = PKG / "linux" / "fractoscope.desktop"
    d = _desktop(path)
    for key in ("Name", "Exec", "Icon", "Type", "Categories"):
        assert d.get(key), key
    assert d["Type"] == "Application"
    assert d["Exec"].split()[0] == "fractoscope" and d["Exec"].endswith("%F")
    assert d["Icon"] == "fractoscope"
    assert (REPO / "resources" / "icons" / "fractoscope.svg").is_file()
    cats = d["Categories"]
    assert cats.endswith(";")
    main = {"AudioVideo", "Development", "Education", "Game", "Graphics", "Network", "Office",
            "Science", "Settings", "System", "Utility"}
    assert len(main & set(cats.split(";"))) == 1  # one main category: listed once in menus
    if shutil.which("desktop-file-validate"):
        proc = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_install_desktop_points_exec_at_the_app(tmp_path):
    inst = _load("install_desktop", PKG / "linux" / "install_desktop.py")
    app = tmp_path / "my apps" / "fractoscope"  # a space: Exec must be quoted
    app.mkdir(parents=True)
    exe = app / "fractoscope"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    prefix = tmp_path / "prefix"
    assert inst.main([str(app), "--prefix", str(prefix)]) == 0
    desk = prefix / "share" / "applications" / "fractoscope.desktop"
    d = _desktop(desk)
    assert d["Exec"] == f'"{exe}" %F'
    assert d["TryExec"] == str(exe)
    assert (prefix / "share/icons/hicolor/256x256/apps/fractoscope.png").is_file()
    if shutil.which("desktop-file-validate"):
        proc = subprocess.run(["desktop-file-validate", str(desk)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout
    assert inst.main([str(app), "--prefix", str(prefix), "--uninstall"]) == 0
    assert not desk.exists()


def test_cuda_libs_are_classified(fb):
    assert fb.is_lazy_cuda_lib("nvidia/cudnn/lib/libcudnn_engines_precompiled.so.9")
    assert fb.is_lazy_cuda_lib("torch/lib/libtorch_cuda_linalg.so")
    assert not fb.is_lazy_cuda_lib("nvidia/cudnn/lib/libcudnn.so.9")  # linked at load time
    assert not fb.is_lazy_cuda_lib("torch/lib/libtorch_cpu.so")
    assert fb.is_cuda_lib("nvidia/cu13/lib/libcublasLt.so.13")
    assert fb.is_cuda_lib("torch/lib/libtorch_cuda.so")
    assert not fb.is_cuda_lib("torch/lib/libtorch_cpu.so")
    assert not fb.is_cuda_lib("PySide6/Qt/lib/libQt6Core.so.6")


def test_prune_keeps_what_torch_links_at_load_time(fb):
    """On the real CUDA wheel: on-demand libraries go, load-time ones (DT_NEEDED) stay."""
    torch_spec = importlib.util.find_spec("torch")
    if torch_spec is None or not shutil.which("objdump") or sys.platform != "linux":
        pytest.skip("needs torch, objdump and Linux")
    site = Path(torch_spec.origin).parents[1]
    cudnn = site / "nvidia" / "cudnn" / "lib"
    if not (cudnn / "libcudnn.so.9").is_file():
        pytest.skip("torch here is not the CUDA wheel with nvidia-cudnn")
    binaries = [
        (f"torch/lib/{n}", str(site / "torch" / "lib" / n), "BINARY")
        for n in ("libtorch_global_deps.so", "libc10_cuda.so", "libtorch_cuda_linalg.so")
    ]
    binaries += [(f"nvidia/cudnn/lib/{p.name}", str(p), "BINARY") for p in sorted(cudnn.glob("*.so*"))]
    kept, dropped = fb.prune_lazy_cuda(binaries, log=lambda _m: None)
    kept_names = {Path(d).name for d, _, _ in kept}
    dropped_names = {Path(d).name for d, _, _ in dropped}
    assert {"libcudnn.so.9", "libtorch_global_deps.so", "libc10_cuda.so"} <= kept_names
    assert "libtorch_cuda_linalg.so" in dropped_names
    assert "libcudnn_engines_precompiled.so.9" in dropped_names
    # Nothing kept links anything that was dropped.
    needed = set().union(*(fb.elf_needed(src) for _, src, _ in kept))
    assert not (needed & dropped_names)


# --- the real build (slow: minutes and gigabytes) -------------------------------------------
@pytest.mark.packaging
def test_build_app_and_frozen_self_test(tmp_path):
    pytest.importorskip("PyInstaller")
    variant = os.environ.get("FRACTOSCOPE_PACKAGING_VARIANT", "full")
    build = _load("fractoscope_build", PKG / "build.py")
    if os.environ.get("FRACTOSCOPE_PACKAGING_REUSE") != "1" or not build.exe_path(variant, "fractoscope").is_file():
        proc = subprocess.run(
            [sys.executable, str(PKG / "build.py"), "--variant", variant],
            cwd=REPO, timeout=5400, capture_output=True, text=True,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    app = build.app_dir(variant)
    info = json.loads((app / "BUILD_INFO.json").read_text())
    assert info["variant"] == variant and info["size_bytes"] > 0
    assert (app / "fractoscope.desktop").is_file()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="2")
    # Run from an unrelated folder, so nothing can come from the source checkout.
    for exe in ("fractoscope", "fractoscope-cli"):
        proc = subprocess.run(
            [str(build.exe_path(variant, exe)), "--self-test", "--keep", str(tmp_path / exe)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.startswith("fractoscope self-test: OK (frozen app"), proc.stdout
        assert (tmp_path / exe / "self-test-report.pdf").read_bytes().startswith(b"%PDF-")
    proc = subprocess.run([str(build.exe_path(variant, "fractoscope-cli")), "--version"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == f"fractoscope {info['version']}"
