"""Which files a batch run processes: images in the given folders, plus files named explicitly."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from fractoscope.errors import FractoscopeError
from fractoscope.io import is_supported
from fractoscope.io.manual import SIDECAR_SUFFIX


class BatchInputError(FractoscopeError):
    """The inputs cannot make a run (a path that does not exist, no images at all): a usage error."""


@dataclass
class BatchInputs:
    images: list[Path] = field(default_factory=list)
    ignored: list[Path] = field(
        default_factory=list
    )  # non-image files met in folders (not failures)


def collect_inputs(
    inputs: Iterable[Path | str],
    recursive: bool = False,
    exclude: Path | None = None,
    *,
    require_images: bool = False,
) -> BatchInputs:
    """Expand folders into their image files (sorted, optionally recursive).

    Files inside folders are kept only when ``fractoscope.io`` opens their suffix; anything else
    (``.txt`` sidecars, our own ``.fractoscope.json`` calibrations, thumbnails) is listed as
    ignored, not failed. Files named explicitly are always attempted, so a wrongly named file
    becomes a failed row with its reason. ``exclude`` (the output folder) is never entered.

    Raises ``BatchInputError`` for a path that does not exist and, with ``require_images``,
    when nothing is left to analyse ("no images found in …"), so a run can stop before it
    loads a model or creates an output folder.
    """
    inputs = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    missing = [str(p) for p in inputs if not Path(p).exists()]
    if missing:
        raise BatchInputError(
            f"no such file or folder: {', '.join(missing[:3])}"
            + (f" (and {len(missing) - 3} more)" if len(missing) > 3 else "")
        )
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
                if is_supported(f) and not f.name.endswith(SIDECAR_SUFFIX):
                    add(f, out.images)
                else:
                    add(f, out.ignored)
        else:  # a named file, even oddly named: it gets a row with its reason
            add(p, out.images)
    if require_images and not out.images:
        where = ", ".join(str(p) for p in inputs[:3]) + (" …" if len(inputs) > 3 else "")
        has_subfolders = any(
            Path(p).is_dir() and any(c.is_dir() for c in Path(p).iterdir()) for p in inputs
        )
        hint = " (sub-folders are searched only in a recursive run)" if has_subfolders and not recursive else ""
        raise BatchInputError(f"no images found in {where}{hint}")
    return out
