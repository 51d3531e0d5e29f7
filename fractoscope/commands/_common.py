"""Helpers shared by the headless commands: error lines, JSON output, device/model options."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any


def error_line(path: object, reason: object) -> None:
    """The one line a user sees for a failed file (no traceback)."""
    text = str(reason)
    # Errors from fractoscope.io already name the file; don't say it twice.
    line = text if text.startswith(str(path)) else f"{path}: {text}"
    print(f"fractoscope: {line}", file=sys.stderr)


def fail(reason: object) -> int:
    print(f"fractoscope: {reason}", file=sys.stderr)
    return 2


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


DEVICES = ("auto", "cpu", "cuda")


def add_device_option(p: argparse.ArgumentParser, default: str | None = "auto", help: str | None = None) -> None:
    """The one ``--device`` option of every command that runs the model."""
    p.add_argument("--device", default=default, choices=DEVICES, help=help or "auto = CUDA when available, else CPU")


def add_model_options(p: argparse.ArgumentParser, device_default: str | None = "auto") -> None:
    """``--model`` and ``--device``, the same in every command that runs the model."""
    p.add_argument("--model", "-m", default=None, help="checkpoint .safetensors (default: the bundled HFFNet-2d)")
    add_device_option(p, device_default)


def print_progress(prefix: str) -> Callable[[int, int], None]:
    """A ``(done, total)`` callback printing ``prefix done/total`` on one stderr line (about 20 updates)."""

    def _p(done: int, total: int) -> None:
        if done == total or done % max(1, total // 20) == 0:
            print(f"\r{prefix} {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)

    return _p


def add_surface_option(p: argparse.ArgumentParser, what: str = "image") -> None:
    """The one ``--surface`` option: what the analyst knows of the surface (default unknown)."""
    from fractoscope.analysis.context import SURFACE_CONTEXTS

    p.add_argument(
        "--surface",
        choices=SURFACE_CONTEXTS,
        default="unknown",
        help=f"what the {what} shows, if you know: fracture (ductile/brittle overload, fatigue), "
        "worn (wear), corroded (corrosion, and brittle overload or fatigue: SCC, corrosion "
        "fatigue); only those mechanisms are considered (default: unknown, all)",
    )
