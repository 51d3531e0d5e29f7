"""Which bundled model is the default (by version number), a missing command module is said
aloud, and every third-party package the code imports is declared in pyproject.toml."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_default_model_is_the_highest_version_not_the_last_name(tmp_path, monkeypatch):
    import fractoscope.model.checkpoint as ckpt

    # Alphabetically: v10 < v2 < v9 (so a name sort would pick v9); by version v10 is the newest.
    for name in ("hffnet2d-v2", "hffnet2d-v10", "hffnet2d-v9", "hffnet2d-v2.1"):
        (tmp_path / f"{name}.safetensors").write_bytes(b"")
    (tmp_path / "other-v99.safetensors").write_bytes(b"")  # not a bundled hffnet2d model
    monkeypatch.setattr(ckpt, "models_dir", lambda: tmp_path)
    assert ckpt.default_model_path().name == "hffnet2d-v10.safetensors"
    order = sorted(tmp_path.glob("hffnet2d-*.safetensors"), key=ckpt.version_key)
    assert [p.stem for p in order] == ["hffnet2d-v2", "hffnet2d-v2.1", "hffnet2d-v9", "hffnet2d-v10"]


def test_a_missing_command_module_is_a_clear_error_not_a_missing_command(monkeypatch, capsys):
    import fractoscope.cli as cli

    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, "no-such-command"))
    with pytest.raises(cli.MissingCommandError, match="fractoscope.commands.nosuchcommand"):
        cli.build_parser()
    assert cli.main(["info", "--help"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "broken installation" in err and "no-such-command" in err


def test_every_listed_command_has_its_module():
    from fractoscope.cli import COMMANDS, build_parser

    parser = build_parser()  # raises for a missing module
    sub = next(a for a in parser._actions if a.dest == "command")
    assert list(sub.choices) == list(COMMANDS)


def _import_roots() -> set[str]:
    roots = set()
    for path in (REPO / "fractoscope").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                roots.add(node.module.split(".")[0])
    return roots - set(sys.stdlib_module_names) - {"fractoscope", "__future__"}


def _dist(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def test_every_imported_package_is_declared():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = {_dist(r) for r in project["dependencies"]}
    extras = {_dist(r) for reqs in project["optional-dependencies"].values() for r in reqs}
    # Import name -> installed distribution(s), from the environment's own metadata.
    dists = importlib.metadata.packages_distributions()
    missing = []
    for root in sorted(_import_roots()):
        names = {d.lower().replace("_", "-") for d in dists.get(root, [])}
        if names and not names & (core | extras):
            missing.append(f"{root} ({', '.join(sorted(names))})")
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
    # scipy is imported by the analysis itself (confidence fits), not only by optional parts.
    assert "scipy" in core
