"""The ``fractoscope`` command: the GUI by default, headless jobs as subcommands.

Each subcommand lives in ``fractoscope/commands/<name>.py`` and exposes ``register(subparsers)``
(adds its parser and sets ``func``); ``func(args) -> int`` returns the exit status. Heavy imports
(torch, Qt) happen inside those functions so ``fractoscope info`` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from fractoscope import __version__

# Order = order in --help.
COMMANDS = (
    "info", "predict", "batch", "case", "report", "synth", "synth-case", "train", "adapt", "evaluate", "calibrate",
    "bench", "self-test", "gui",
)


class MissingCommandError(RuntimeError):
    """A command listed in COMMANDS has no module (a packaging bug)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fractoscope",
        description="SEM fractography: failure mechanism and fracture morphology with Grad-CAM. "
        "With no subcommand, or with image/folder paths, the desktop app opens. "
        "--self-test (= the self-test command) checks this installation.",
    )
    p.add_argument("--version", action="version", version=f"fractoscope {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        modname = f"fractoscope.commands.{name.replace('-', '')}"  # self-test -> selftest
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name == modname:
                # Every listed command ships with the package: a missing module is a broken
                # installation or build, never a command to leave out of --help quietly.
                raise MissingCommandError(
                    f"broken installation: the module of command '{name}' ({modname}) is missing; "
                    "reinstall Fractoscope"
                ) from exc
            raise
        mod.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `--self-test` is the flag form of the self-test command (what frozen builds document).
    if argv and argv[0] == "--self-test":
        argv = ["self-test", *argv[1:]]
    # No subcommand (or only paths / GUI flags): open the desktop app.
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv = ["gui", *argv]
    try:
        parser = build_parser()
    except MissingCommandError as exc:
        print(f"fractoscope: {exc}", file=sys.stderr)
        return 1
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("fractoscope: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
