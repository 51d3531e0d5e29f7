"""A lab's reference library of labelled fractographs (``level1/level2/*``) and image similarity.

The library is an ordinary folder tree, the same layout ``fractoscope adapt`` reads, so it can be
adapted on directly, backed up or shared. Adding an image *copies* it (with its calibration
sidecars); nothing outside the library is ever moved or deleted. ``similar`` ranks the library's
images by cosine similarity of the model's pooled features (cached per image and backbone).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fractoscope.adapt.features import (
    FeatureCache,
    ImageFeatures,
    extract_features,
    features_sha256,
    image_key,
)
from fractoscope.errors import FractoscopeError
from fractoscope.io.labelled import LabelledPath, ScanMode, scan_labelled_tree
from fractoscope.io.manual import manual_calibration_path
from fractoscope.io.reader import is_supported
from fractoscope.io.sidecars import sidecar_paths

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


@dataclass
class SimilarImage:
    """One reference image near the analysed one (cosine similarity of pooled model features)."""

    path: str
    level1: str
    level2: str | None  # None in a level-1-only library folder
    similarity: float  # cosine, -1..1
    thumbnail: np.ndarray  # (H, W) uint8 grey
    pixel_size_m: float | None


# One labelled image of the library: (path, level1, level2 or None for mechanism-only).
LibraryEntry = LabelledPath


def _check_label(name: str, what: str) -> str:
    name = str(name).strip()
    if not name or name in (".", "..") or any(c in name for c in '/\\:*?"<>|') or name.startswith("."):
        raise FractoscopeError(f"{what} {name!r} cannot be used as a folder name")
    return name


def _sidecars(image: Path) -> list[tuple[Path, Callable[[Path], Path]]]:
    """(existing sidecar of ``image``, how to name it for another image path)."""
    out: list[tuple[Path, Callable[[Path], Path]]] = []
    manual = manual_calibration_path(image)
    if manual.is_file():
        out.append((manual, manual_calibration_path))
    for i, p in enumerate(sidecar_paths(image)):
        if p != image and p.is_file():
            out.append((p, lambda dst, i=i: sidecar_paths(dst)[i]))
    return out


class ReferenceLibrary:
    """A folder tree ``root/level1/level2/*`` (or ``root/level1/*``) of labelled images."""

    def __init__(self, root: str | Path, cache_dir: str | Path | None = None) -> None:
        self.root = Path(root)
        self.cache_dir = cache_dir
        # features of the last backbone asked for: {key: ImageFeatures}
        self._mem: dict[tuple[str, str], ImageFeatures] = {}

    # --- contents ---------------------------------------------------------------------------
    def entries(self) -> list[LibraryEntry]:
        """Every labelled image, sorted by class then name (an absent root is an empty library).

        The same scanner as ``fractoscope adapt`` (so *Update model* adapts on exactly these)."""
        return scan_labelled_tree(self.root, ScanMode.LIBRARY)

    def counts(self) -> dict[str, dict[str | None, int]]:
        """{level1: {level2 or None: number of images}}."""
        out: dict[str, dict[str | None, int]] = {}
        for e in self.entries():
            d = out.setdefault(e.level1, {})
            d[e.level2] = d.get(e.level2, 0) + 1
        return out

    def __len__(self) -> int:
        return len(self.entries())

    def entry(self, path: str | Path) -> LibraryEntry:
        p = self._inside(path)
        rel = p.relative_to(self.root.resolve()).parts
        if len(rel) == 3:
            return LibraryEntry(p, rel[0], rel[1])
        if len(rel) == 2:
            return LibraryEntry(p, rel[0], None)
        raise FractoscopeError(f"{path}: not a labelled image of the library")

    def _inside(self, path: str | Path) -> Path:
        """``path`` resolved, refused unless it is a file inside the library (never touch others)."""
        p = Path(path).resolve()
        root = self.root.resolve()
        if root not in p.parents or not p.is_file():
            raise FractoscopeError(f"{path}: not an image of the reference library {self.root}")
        return p

    # --- changes ------------------------------------------------------------------------------
    def add(self, image: str | Path, level1: str, level2: str | None = None) -> Path:
        """Copy ``image`` (and its calibration sidecars) into ``level1/level2/``; returns the copy.

        The same file already filed under that label is not copied twice; a different file of the
        same name gets a numbered name. The original is never moved or changed.
        """
        src = Path(image)
        if not src.is_file():
            raise FractoscopeError(f"{src}: no such image")
        if not is_supported(src):
            raise FractoscopeError(f"{src}: not a TIFF, PNG, JPEG or BMP image")
        folder = self.root / _check_label(level1, "class")
        if level2:
            folder = folder / _check_label(level2, "class")
        key, _ = image_key(src)
        dst = folder / src.name
        n = 1
        while dst.exists():
            if image_key(dst)[0] == key:
                return dst  # already there under this label
            dst = folder / f"{src.stem}_{n}{src.suffix}"
            n += 1
        try:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            for side, name_for in _sidecars(src):
                shutil.copy2(side, name_for(dst))
        except OSError as exc:
            raise FractoscopeError(f"{dst}: cannot copy into the library ({exc.strerror or exc})") from None
        return dst

    def remove(self, path: str | Path) -> None:
        """Delete the library's copy (and its sidecars); refused for files outside the library."""
        p = self._inside(path)
        try:
            for side, _ in _sidecars(p):
                side.unlink(missing_ok=True)
            p.unlink()
            self._prune(p.parent)
        except OSError as exc:
            raise FractoscopeError(f"{path}: cannot remove ({exc.strerror or exc})") from None

    def relabel(self, path: str | Path, level1: str, level2: str | None = None) -> Path:
        """Move a library image (with its sidecars) to another class; returns its new path."""
        p = self._inside(path)
        folder = self.root / _check_label(level1, "class")
        if level2:
            folder = folder / _check_label(level2, "class")
        if folder.resolve() == p.parent:
            return p
        dst = folder / p.name
        n = 1
        while dst.exists():
            dst = folder / f"{p.stem}_{n}{p.suffix}"
            n += 1
        try:
            folder.mkdir(parents=True, exist_ok=True)
            sides = _sidecars(p)
            shutil.move(str(p), str(dst))
            for side, name_for in sides:
                shutil.move(str(side), str(name_for(dst)))
            self._prune(p.parent)
        except OSError as exc:
            raise FractoscopeError(f"{path}: cannot relabel ({exc.strerror or exc})") from None
        return dst

    def _prune(self, folder: Path) -> None:
        """Remove class folders left empty (only inside the library)."""
        root = self.root.resolve()
        folder = folder.resolve()
        while folder != root and root in folder.parents:
            try:
                folder.rmdir()  # only succeeds when empty
            except OSError:
                return
            folder = folder.parent

    # --- features and similarity ---------------------------------------------------------------
    def features(
        self, analyzer, progress: ProgressFn | None = None, cancel: CancelFn | None = None
    ) -> dict[Path, ImageFeatures]:
        """Pooled features of every library image for ``analyzer``'s backbone (cached on disk)."""
        sha = features_sha256(analyzer.model_info)
        cache = FeatureCache(self.cache_dir, sha)
        out: dict[Path, ImageFeatures] = {}
        todo: list[Path] = []
        for e in self.entries():
            try:
                key, _ = image_key(e.path)
            except FractoscopeError:
                continue
            f = self._mem.get((sha, key))
            if f is not None:
                out[e.path] = f
            else:
                todo.append(e.path)
        if todo:
            res = extract_features(todo, analyzer, cache, progress, cancel)
            for p, f in res.features.items():
                self._mem[(sha, f.key)] = f
                out[p] = f
        return out

    def similar(
        self,
        pred,
        k: int = 3,
        analyzer=None,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> list[SimilarImage]:
        """The ``k`` library images nearest to ``pred`` (cosine similarity of ``pred.features``).

        Library features come from the cache; images not cached yet are computed with
        ``analyzer`` (which must be the prediction's model or share its backbone) and skipped when
        no analyzer is given.
        """
        query = np.asarray(getattr(pred, "features", None), np.float64)
        if query.ndim != 1 or query.size == 0:
            raise FractoscopeError("this prediction carries no pooled features (re-analyse the image)")
        sha = features_sha256(pred.model)
        if analyzer is not None:
            if features_sha256(analyzer.model_info) != sha:
                raise FractoscopeError("the analyzer's model is not the one that made this prediction")
            feats = self.features(analyzer, progress, cancel)
        else:
            feats = self._cached_features(sha)
        if not feats:
            return []
        entries = {e.path: e for e in self.entries()}
        paths = [p for p in feats if p in entries]
        if not paths:
            return []
        lib = np.stack([feats[p].features for p in paths]).astype(np.float64)
        if lib.shape[1] != query.size:
            raise FractoscopeError("library features do not match this model's features")
        sims = _cosine(query, lib)
        order = np.argsort(-sims, kind="stable")[:k]
        return [
            SimilarImage(
                path=str(paths[i]),
                level1=entries[paths[i]].level1,
                level2=entries[paths[i]].level2,
                similarity=float(sims[i]),
                thumbnail=feats[paths[i]].thumbnail,
                pixel_size_m=feats[paths[i]].pixel_size_m,
            )
            for i in order
        ]

    # --- lab statistics -------------------------------------------------------------------------
    def lab_stats_path(self) -> Path:
        from fractoscope.analysis.labfiles import LAB_STATS_FILE

        return self.root / LAB_STATS_FILE

    def _fingerprint(self) -> str:
        """Which images the library holds now (names, sizes, times): the stored statistics are
        refreshed when it changes."""
        import hashlib

        h = hashlib.sha256()
        for e in self.entries():
            try:
                st = e.path.stat()
            except OSError:
                continue
            h.update(f"{e.path.relative_to(self.root)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        return h.hexdigest()[:32]

    def stored_lab_stats(self, model_sha256: str):
        """The stored lab statistics of this model when they match the library's images now."""
        from fractoscope.analysis.labfiles import read_lab_stats_file

        path = self.lab_stats_path()
        if not path.is_file():
            return None
        try:
            lab, d = read_lab_stats_file(path)
        except FractoscopeError:
            return None
        if lab.model_sha256 != model_sha256 or d.get("library_fingerprint") != self._fingerprint():
            return None
        return lab

    def lab_stats(self, analyzer, progress: ProgressFn | None = None, cancel: CancelFn | None = None):
        """``(LabStats or None, message)``: the lab's feature statistics over the library's images
        (labels not used), for single images opened later. Stored as ``lab_stats.json`` in the
        library, keyed by the model's sha256 and refreshed when images are added or removed.
        None (with the reason) under 20 images or for a model without training feature statistics.
        """
        from fractoscope.analysis.labfiles import not_enough_text, write_lab_stats
        from fractoscope.analysis.labstats import MIN_LAB_IMAGES, fit_lab_stats

        if getattr(getattr(analyzer, "confidence_model", None), "feature_mean", None) is None:
            return None, "lab statistics off: this model's card has no training feature statistics"
        sha = analyzer.model_info.sha256
        lab = self.stored_lab_stats(sha)
        if lab is not None:
            return lab, lab.describe() + " (reference library)"
        n = len(self.entries())
        if n < MIN_LAB_IMAGES:
            return None, not_enough_text(n).replace("usable image", "library image")
        feats = self.features(analyzer, progress, cancel)
        if len(feats) < MIN_LAB_IMAGES:
            return None, not_enough_text(len(feats))
        lab = fit_lab_stats(np.stack([f.features for f in feats.values()]), sha)
        try:
            write_lab_stats(self.lab_stats_path(), lab, {"library_fingerprint": self._fingerprint()})
        except OSError:
            pass  # a read-only library: used now, fitted again next time
        return lab, lab.describe() + " (reference library)"

    def _cached_features(self, sha: str) -> dict[Path, ImageFeatures]:
        cache = FeatureCache(self.cache_dir, sha)
        out: dict[Path, ImageFeatures] = {}
        for e in self.entries():
            try:
                key, _ = image_key(e.path)
            except FractoscopeError:
                continue
            f = self._mem.get((sha, key)) or cache.get(key)
            if f is not None:
                self._mem[(sha, key)] = f
                out[e.path] = f
        return out


def _cosine(q: np.ndarray, m: np.ndarray) -> np.ndarray:
    qn = np.linalg.norm(q)
    mn = np.linalg.norm(m, axis=1)
    # Clipped: rounding can put an image's similarity with its own copy a hair above 1.
    return np.clip((m @ q) / np.maximum(mn * qn, 1e-12), -1.0, 1.0)


__all__ = ["LibraryEntry", "ReferenceLibrary", "SimilarImage", "features_sha256"]
