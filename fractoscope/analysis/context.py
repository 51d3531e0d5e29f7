"""What the analyst knows: a surface context that restricts the mechanisms considered.

An analyst usually knows whether the part broke (a fracture surface), rubbed (a worn surface) or
was attacked (a corroded surface) before any image is taken. Given that, a classifier that calls a
dimple field "wear" has answered a question nobody asked. The context restricts the level-1
mechanisms considered and renormalises the probabilities over them; level 2 follows its parents
(the morphology given its mechanism is unchanged); every tile is renormalised the same way. Grad-CAMs
are untouched: they show where the network saw each class, whatever the context.

The contexts, by the bundled model's class names:

- ``fracture``: ductile overload, brittle overload, fatigue;
- ``worn``: wear;
- ``corroded``: corrosion, and the two fracture mechanisms a corroded surface often carries:
  brittle overload (environmentally assisted intergranular cracking, SCC, hydrogen) and fatigue
  (corrosion fatigue). Ductile overload is left out: a surface the analyst calls corroded is not
  read as a clean dimple field;
- ``unknown`` (the default): everything, no restriction.

An adapted model with other class names is mapped by those bundled names; a class the contexts do
not know is kept (never ruled out by a context that cannot judge it) and the result says so. A
context that would leave no class, or would rule nothing out, is not applied and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fractoscope.model.taxonomy import Taxonomy

UNKNOWN = "unknown"
# Order of the choices in the CLI and the GUI (unknown first: the default).
SURFACE_CONTEXTS: tuple[str, ...] = (UNKNOWN, "fracture", "worn", "corroded")
SURFACE_NAMES: dict[str, str] = {
    UNKNOWN: "unknown surface",
    "fracture": "fracture surface",
    "worn": "worn surface",
    "corroded": "corroded surface",
}
# Mechanisms considered for each context, by the bundled taxonomy's level-1 names.
ALLOWED: dict[str, frozenset[str]] = {
    "fracture": frozenset({"ductile_overload", "brittle_overload", "fatigue"}),
    "worn": frozenset({"wear"}),
    "corroded": frozenset({"corrosion", "brittle_overload", "fatigue"}),
}
# Every level-1 name some context judges (a class outside it is unknown to the contexts).
KNOWN_MECHANISMS = frozenset({"ductile_overload", "brittle_overload", "fatigue", "wear", "corrosion"})


def check_context(context: str | None) -> str:
    """The context name (``None`` and "" mean unknown); ValueError for a name not in the list."""
    c = (context or UNKNOWN).strip().lower()
    if c not in SURFACE_CONTEXTS:
        raise ValueError(f"unknown surface context {context!r} (choose from {', '.join(SURFACE_CONTEXTS)})")
    return c


@dataclass(frozen=True)
class SurfaceContext:
    """A context resolved against one taxonomy: which level-1 classes stay, and what to say."""

    context: str  # one of SURFACE_CONTEXTS
    considered: tuple[str, ...]  # level-1 classes considered (all of them when not applied)
    applied: bool  # False: the probabilities are left as they are
    note: str = ""  # why a context was not (fully) applied; "" when it was applied as stated

    def restrict(self, p_level1: np.ndarray, p_level2: np.ndarray, taxonomy: Taxonomy) -> tuple[np.ndarray, np.ndarray]:
        """Level-1 probabilities (..., n1) renormalised over the considered classes; the joint
        level-2 probabilities (..., n2) scaled with their parents, so each morphology keeps its
        probability given its mechanism. Works on one image (1-D) or on tiles (2-D)."""
        if not self.applied:
            return p_level1, p_level2
        keep = np.array([lab in self.considered for lab in taxonomy.level1], dtype=np.float64)
        p1 = np.asarray(p_level1, np.float64)
        p2 = np.asarray(p_level2, np.float64)
        kept = p1 * keep
        total = kept.sum(-1, keepdims=True)
        # A tile that gave the considered classes no probability at all (underflow): spread evenly
        # over them rather than divide by 0.
        even = keep / keep.sum()
        tiny = total <= 1e-30
        q1 = np.where(tiny, even, kept / np.where(tiny, 1.0, total))
        parents = np.asarray(taxonomy.parent_index())
        with np.errstate(invalid="ignore", divide="ignore"):
            cond = np.where(p1[..., parents] > 0, p2 / p1[..., parents], 0.0)
        # Within a parent whose probability underflowed, its children share it evenly.
        counts = np.bincount(parents, minlength=len(taxonomy.level1))[parents]
        cond = np.where(p1[..., parents] > 0, cond, 1.0 / counts)
        q2 = q1[..., parents] * cond
        return q1.astype(np.asarray(p_level1).dtype), q2.astype(np.asarray(p_level2).dtype)

    def describe(self) -> str:
        """One line for the result: 'fracture surface (considered: ductile overload, ...)'."""
        name = SURFACE_NAMES[self.context]
        if self.context == UNKNOWN:
            return f"{name}: all mechanisms considered"
        if not self.applied:
            return f"{name}: not applied ({self.note})"
        text = f"{name}: only {', '.join(c.replace('_', ' ') for c in self.considered)} considered"
        return f"{text} ({self.note})" if self.note else text

    def to_dict(self) -> dict:
        return {
            "context": self.context,
            "applied": self.applied,
            "considered": list(self.considered),
            "note": self.note,
            "text": self.describe(),
        }


def resolve(context: str | None, taxonomy: Taxonomy) -> SurfaceContext:
    """The context ``context`` for a model with ``taxonomy`` (see the module docstring)."""
    c = check_context(context)
    labels = taxonomy.level1
    if c == UNKNOWN:
        return SurfaceContext(c, tuple(labels), False)
    allowed = ALLOWED[c]
    unknown = [lab for lab in labels if lab not in KNOWN_MECHANISMS]
    considered = tuple(lab for lab in labels if lab in allowed or lab in unknown)
    named = [lab for lab in labels if lab in allowed]
    if not named:
        return SurfaceContext(
            c, tuple(labels), False, "this model has none of the mechanisms it allows"
        )
    if len(considered) == len(labels):
        return SurfaceContext(c, tuple(labels), False, "it rules out none of this model's mechanisms")
    note = ""
    if unknown:
        note = "kept, as the surface contexts do not know them: " + ", ".join(unknown)
    return SurfaceContext(c, considered, True, note)


__all__ = [
    "ALLOWED",
    "SURFACE_CONTEXTS",
    "SURFACE_NAMES",
    "UNKNOWN",
    "SurfaceContext",
    "check_context",
    "resolve",
]
