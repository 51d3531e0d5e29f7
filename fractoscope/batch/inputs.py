"""Which files a batch run processes: images in the given folders, plus files named explicitly."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


def supported_suffixes() -> frozenset[str]:
    from fractoscope.io import SUPPORTED_SUFFIXES

    return frozenset(s.lower() for s in SUPPORTED_SUFFIXES)


@dataclass
class BatchInputs:
    images: list[Path] = field(default_factory=list)
    ignored: list[Path] = field(
        default_factory=list
    )  # non-image files met in folders (not failures)


def collect_inputs(
    inputs: Iterable[Path | str], recursive: bool = False, exclude: Path | None = None
) -> BatchInputs:
    """Expand folders into their image files (sorted, optionally recursive).

    Files inside folders are kept only when their suffix is a supported image type; anything
    else (``.txt`` sidecars, our own ``.fractoscope.json`` calibrations, thumbnails) is listed as
    ignored, not failed. Files named explicitly are always attempted, so a wrongly named file
    becomes an error row with its reason. ``exclude`` (the output folder) is never entered.
    """
    suffixes = supported_suffixes()
    out = BatchInputs()
    seen: set[Path] = set()
    excl = Path(exclude).resolve() if exclude is not None else None

    def add(p: Path, target: list[Path]) -> None:
        rp = p.resolve()
        if rp not in seen:
            seen.add(rp)
            target.append(rp)

    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            walker = p.rglob("*") if recursive else p.iterdir()
            for f in sorted(walker, key=lambda q: str(q).lower()):
                if excl is not None and (f.resolve() == excl or excl in f.resolve().parents):
                    continue
                if any(part.startswith(".") for part in f.relative_to(p).parts) or not f.is_file():
                    continue
                if f.suffix.lower() in suffixes and not f.name.endswith(".fractoscope.json"):
                    add(f, out.images)
                else:
                    add(f, out.ignored)
        else:  # a named file, even missing or oddly named: it gets a row with its reason
            add(p, out.images)
    return out
