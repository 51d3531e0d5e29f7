"""The layer rules, checked statically on the source (every import statement, including those inside
functions, which a ``sys.modules`` check after import would miss).

Run just this file to check the architecture: ``pytest tests/test_architecture.py``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG_ROOT = Path(__file__).resolve().parents[1] / "fractoscope"

# Layers run one way: io -> imaging -> model -> analysis -> adapt -> batch/report -> commands/gui.
# synth and train sit beside the inference chain. "core" holds the small top-level modules every
# layer may use (errors, atomic writes, calibration units, hashing). "app" holds the entry points.
CORE = {"core"}
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "io": CORE,
    "imaging": CORE | {"io"},
    "model": CORE | {"io", "imaging"},
    "analysis": CORE | {"io", "imaging", "model"},
    "synth": CORE | {"io", "imaging", "model"},
    "train": CORE | {"io", "imaging", "model", "analysis", "synth"},
    "adapt": CORE | {"io", "imaging", "model", "analysis"},
    "batch": CORE | {"io", "imaging", "model", "analysis", "adapt"},
    "case": CORE | {"io", "imaging", "model", "analysis", "adapt", "batch"},
    "report": CORE | {"io", "imaging", "model", "analysis", "adapt", "batch", "case"},
    "commands": CORE | {"io", "imaging", "model", "analysis", "adapt", "batch", "case", "report", "synth", "train", "app"},
    "gui": CORE | {"io", "imaging", "model", "analysis", "adapt", "batch", "case", "report", "synth", "train"},
    "app": CORE | {"io", "imaging", "model", "analysis", "adapt", "batch", "case", "report", "synth", "train", "commands"},
}
APP_MODULES = {"cli", "__main__", "selftest"}
QT_ROOTS = ("PySide6", "pyqtgraph", "shiboken6")


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG_ROOT.rglob("*.py"):
        rel = path.relative_to(PKG_ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """Absolute names of every module imported anywhere in the file, with line numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_pkg = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((name, node.lineno))
            # "from fractoscope import gui" names a package too.
            out += [(f"{name}.{a.name}", node.lineno) for a in node.names]
    return out


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "core"
    if parts[1] in APP_MODULES:
        return "app"
    if parts[1] in ALLOWED:
        return parts[1]
    return "core"  # a top-level helper module (errors, atomic, calibration, ...)


def _edges(mod: str, path: Path, mods: dict[str, Path]) -> list[tuple[str, str, int]]:
    """[(imported fractoscope module, imported name, line)] of one source file."""
    edges = []
    for name, line in _imports(mod, path):
        if not name.startswith("fractoscope"):
            edges.append(("", name, line))
            continue
        # resolve to the longest existing module name
        target = name
        while target and target not in mods:
            target = target.rpartition(".")[0]
        if target:
            edges.append((target, name, line))
    return sorted(set(edges), key=lambda e: (e[2], e[1]))


def _graph() -> dict[str, list[tuple[str, str, int]]]:
    """module -> [(imported fractoscope module, imported name, line)]"""
    mods = _modules()
    return {mod: _edges(mod, path, mods) for mod, path in mods.items()}


GRAPH = _graph()


def test_the_scan_sees_the_package():
    # Guards the test itself: a broken scan would pass every rule below vacuously.
    assert len(GRAPH) > 60
    assert any(t.startswith("fractoscope.model") for t, _, _ in GRAPH["fractoscope.analysis.pipeline"])


def test_layers_run_one_way():
    bad = []
    for mod, edges in GRAPH.items():
        src = _layer(mod)
        for target, _, line in edges:
            if not target:
                continue
            dst = _layer(target)
            if mod == "fractoscope.commands.gui" and dst == "gui":
                continue  # the one door from the command line into the window
            if dst != src and dst not in ALLOWED[src]:
                bad.append(f"{mod}:{line} ({src}) imports {target} ({dst})")
    bad = sorted(set(bad))
    assert not bad, "\n".join(bad)


def test_only_gui_imports_gui():
    bad = [
        f"{mod}:{line} imports {target}"
        for mod, edges in GRAPH.items()
        for target, _, line in edges
        if target.startswith("fractoscope.gui")
        and not (mod.startswith("fractoscope.gui") or mod == "fractoscope.commands.gui")
    ]
    bad = sorted(set(bad))
    assert not bad, "\n".join(bad)


def test_only_gui_and_pdf_renderer_import_qt():
    bad = []
    for mod, edges in GRAPH.items():
        for _, name, line in edges:
            if name.split(".")[0] not in QT_ROOTS:
                continue
            if mod.startswith("fractoscope.gui"):
                continue
            # The PDF renderer draws headless with QtGui; widgets stay in gui/.
            if mod.startswith("fractoscope.report.pdf") and "QtWidgets" not in name and "pyqtgraph" not in name:
                continue
            bad.append(f"{mod}:{line} imports {name}")
    bad = sorted(set(bad))
    assert not bad, "\n".join(bad)


# The window's parts live in feature folders of gui/ (see its __init__ docstring). A folder imports
# the top level of gui/ and itself; only the window that composes the parts reaches into them all.
GUI_FEATURES = ("viewer", "library", "batch", "case")
GUI_COMPOSERS = {"fractoscope.gui.main_window"}
# The one borrowing between parts: the case map draws the viewer's scale bar item.
GUI_BORROWED = {("fractoscope.gui.case.view", "fractoscope.gui.viewer.viewer")}


def _gui_feature(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if parts[:2] == ["fractoscope", "gui"] and len(parts) > 2 and parts[2] in GUI_FEATURES else None


def test_gui_feature_folders_stay_apart():
    bad = [
        f"{mod}:{line} imports {target}"
        for mod, edges in GRAPH.items()
        if mod.startswith("fractoscope.gui.") and mod not in GUI_COMPOSERS
        for target, _, line in edges
        if _gui_feature(target) not in (None, _gui_feature(mod)) and (mod, target) not in GUI_BORROWED
    ]
    bad = sorted(set(bad))
    assert not bad, "\n".join(bad)


def test_gui_feature_folders_exist():
    # Guards the rule above: renamed folders would leave it nothing to check.
    for feature in GUI_FEATURES:
        assert any(_gui_feature(m) == feature for m in GRAPH), feature
    assert {b for _, b in GUI_BORROWED} <= set(GRAPH) and GUI_COMPOSERS <= set(GRAPH)


def test_commands_do_not_import_each_other():
    # Shared command plumbing lives in commands/_common.py; work lives in the layers below.
    bad = [
        f"{mod}:{line} imports {target}"
        for mod, edges in GRAPH.items()
        if mod.startswith("fractoscope.commands.")
        for target, _, line in edges
        if target.startswith("fractoscope.commands.") and target != "fractoscope.commands._common"
    ]
    bad = sorted(set(bad))
    assert not bad, "\n".join(bad)


def test_no_import_cycles_between_packages():
    pkgs: dict[str, set[str]] = {}
    for mod, edges in GRAPH.items():
        src = _layer(mod)
        for target, _, _ in edges:
            if mod == "fractoscope.commands.gui" and _layer(target) == "gui":
                continue
            if target and _layer(target) != src:
                pkgs.setdefault(src, set()).add(_layer(target))
    seen: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        seen[node] = 1
        for nxt in sorted(pkgs.get(node, ())):
            if seen.get(nxt) == 1:
                cycle.extend(stack[stack.index(nxt) :] + [node, nxt] if nxt in stack else [node, nxt])
                return True
            if nxt not in seen and visit(nxt, stack + [node]):
                return True
        seen[node] = 2
        return False

    for p in sorted(pkgs):
        if p not in seen and visit(p, []):
            break
    assert not cycle, " -> ".join(cycle)


# Every rule above, fed a synthetic module that breaks it (placed in the graph as if it were a
# file of the package): the rule must fail and name the culprit. Without this a rule that can
# never fail (a typo in a layer name, a scan that misses some imports) would pass silently.
VIOLATIONS = [
    # (module the probe pretends to be, its source, the rule it breaks, text the failure must show)
    ("fractoscope.io._probe", "from fractoscope.analysis import pipeline\n", "test_layers_run_one_way",
     "fractoscope.io._probe"),
    ("fractoscope.model._probe", "def f():\n    import fractoscope.batch.runner\n", "test_layers_run_one_way",
     "fractoscope.model._probe"),
    ("fractoscope.report._probe", "def f():\n    from fractoscope.gui import viewer\n", "test_only_gui_imports_gui",
     "fractoscope.report._probe"),
    ("fractoscope.batch._probe", "from PySide6.QtCore import QObject\n", "test_only_gui_and_pdf_renderer_import_qt",
     "fractoscope.batch._probe"),
    ("fractoscope.report.pdf._probe", "from PySide6.QtWidgets import QWidget\n",
     "test_only_gui_and_pdf_renderer_import_qt", "fractoscope.report.pdf._probe"),
    ("fractoscope.io._probe", "import pyqtgraph\n", "test_only_gui_and_pdf_renderer_import_qt", "fractoscope.io._probe"),
    ("fractoscope.commands._probe", "from fractoscope.commands import predict\n", "test_commands_do_not_import_each_other",
     "fractoscope.commands._probe"),
    ("fractoscope.gui.batch._probe", "from fractoscope.gui.library import library_dock\n",
     "test_gui_feature_folders_stay_apart", "fractoscope.gui.batch._probe"),
    ("fractoscope.gui._probe", "def f():\n    from fractoscope.gui.viewer.viewer import LinkedViewer\n",
     "test_gui_feature_folders_stay_apart", "fractoscope.gui._probe"),
    # io -> imaging closes the loop imaging -> io that the package already has
    ("fractoscope.io._probe", "from fractoscope.imaging import tiles\n", "test_no_import_cycles_between_packages",
     "imaging"),
]


@pytest.mark.parametrize("mod, source, rule, culprit", VIOLATIONS, ids=[f"{v[2][5:]}-{v[0]}" for v in VIOLATIONS])
def test_rules_catch_a_violation(tmp_path, monkeypatch, mod, source, rule, culprit):
    path = tmp_path / "_probe.py"
    path.write_text(source)
    edges = _edges(mod, path, _modules())
    assert edges, "the probe's import was not seen"
    monkeypatch.setitem(GRAPH, mod, edges)
    with pytest.raises(AssertionError) as failed:
        globals()[rule]()
    assert culprit in str(failed.value)


def test_the_scan_guard_catches_an_empty_scan(monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "GRAPH", {"fractoscope.analysis.pipeline": []})
    with pytest.raises(AssertionError):
        test_the_scan_sees_the_package()


def _qt_loaded_by_headless_imports(extra: str = "") -> subprocess.CompletedProcess:
    code = (
        "import sys\n"
        "from fractoscope.cli import build_parser; build_parser()  # imports every command module\n"
        "import fractoscope.selftest, fractoscope.batch.runner, fractoscope.train.trainer\n"
        f"{extra}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6'))\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_core_modules_do_not_load_qt_at_run_time():
    # The static rules above, confirmed dynamically: importing the headless commands loads no Qt.
    r = _qt_loaded_by_headless_imports()
    assert r.returncode == 0, r.stdout + r.stderr


def test_run_time_qt_check_catches_a_violation():
    # The same check with one module that does load Qt among the imports: it must notice.
    r = _qt_loaded_by_headless_imports("import fractoscope.gui.background")
    assert r.returncode == 1 and "PySide6" in r.stdout, r.stdout + r.stderr


def test_version_and_help():
    from fractoscope import __version__

    r = subprocess.run([sys.executable, "-m", "fractoscope", "--version"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and __version__ in r.stdout
    r = subprocess.run([sys.executable, "-m", "fractoscope", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0
    for cmd in ("info", "predict", "batch", "report", "synth", "train", "evaluate", "bench"):
        assert cmd in r.stdout
