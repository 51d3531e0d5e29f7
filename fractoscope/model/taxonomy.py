"""A two-level class hierarchy: failure mechanism (level 1) -> fracture morphology (level 2)."""

from __future__ import annotations

from dataclasses import dataclass, field

# The bundled model's taxonomy; any checkpoint carries its own in its model card.
DEFAULT_TREE: dict[str, list[str]] = {
    "ductile_overload": ["equiaxed_dimples", "shear_dimples"],
    "brittle_overload": ["cleavage", "intergranular"],
    "fatigue": ["striations", "beach_marks"],
    "wear": ["abrasive_grooves", "adhesive_delamination"],
    "corrosion": ["pitting", "mud_cracking"],
}

DEFAULT_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "ductile_overload": {"name": "Ductile overload", "description": "Microvoid nucleation, growth and coalescence under a single excessive load."},
    "brittle_overload": {"name": "Brittle overload", "description": "Fast fracture with little plastic deformation, along crystal planes or grain boundaries."},
    "fatigue": {"name": "Fatigue", "description": "Progressive crack growth under cyclic loading."},
    "wear": {"name": "Wear", "description": "Surface damage by sliding or abrasive contact."},
    "corrosion": {"name": "Corrosion", "description": "Environmentally assisted attack of the surface."},
    "equiaxed_dimples": {"name": "Equiaxed dimples", "description": "Round cup-shaped microvoids from tensile overload."},
    "shear_dimples": {"name": "Shear (elongated) dimples", "description": "Parabolic, elongated dimples from shear or tearing overload."},
    "cleavage": {"name": "Cleavage", "description": "Flat transgranular facets with river patterns."},
    "intergranular": {"name": "Intergranular facets", "description": "Polyhedral grain faces ('rock candy'), often with secondary boundary cracks."},
    "striations": {"name": "Fatigue striations", "description": "Fine parallel ridges, one per load cycle, on plateaus."},
    "beach_marks": {"name": "Beach marks", "description": "Curved progression bands marking crack-front positions."},
    "abrasive_grooves": {"name": "Abrasive grooves", "description": "Parallel ploughing scratches from hard particles."},
    "adhesive_delamination": {"name": "Adhesive wear / delamination", "description": "Smeared, torn flakes of transferred or delaminated material."},
    "pitting": {"name": "Pitting", "description": "Localised hemispherical corrosion pits."},
    "mud_cracking": {"name": "Mud cracking", "description": "Network of cracks in a corrosion-product layer."},
}


@dataclass(frozen=True)
class Taxonomy:
    """Ordered level-1 classes and, for each, its ordered level-2 children."""

    tree: dict[str, tuple[str, ...]]
    descriptions: dict[str, dict[str, str]] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        tree = {str(k): tuple(str(c) for c in v) for k, v in self.tree.items()}
        object.__setattr__(self, "tree", tree)
        if not tree or any(not v for v in tree.values()):
            raise ValueError("taxonomy needs at least one level-1 class, each with children")
        l2 = [c for v in tree.values() for c in v]
        if len(set(l2)) != len(l2) or set(l2) & set(tree):
            raise ValueError("taxonomy labels must be unique across both levels")

    @classmethod
    def default(cls) -> Taxonomy:
        return cls(DEFAULT_TREE, DEFAULT_DESCRIPTIONS)

    @property
    def level1(self) -> list[str]:
        return list(self.tree)

    @property
    def level2(self) -> list[str]:
        return [c for v in self.tree.values() for c in v]

    def parent_index(self) -> list[int]:
        """For each level-2 index, the index of its level-1 parent."""
        return [i for i, v in enumerate(self.tree.values()) for _ in v]

    def children_indices(self, level1_index: int) -> list[int]:
        """Level-2 indices of the children of the ``level1_index``-th level-1 class."""
        return [j for j, p in enumerate(self.parent_index()) if p == level1_index]

    def parent_of(self, level2_label: str) -> str:
        for p, children in self.tree.items():
            if level2_label in children:
                return p
        raise KeyError(level2_label)

    def children(self, level1_label: str) -> tuple[str, ...]:
        return self.tree[level1_label]

    def display_name(self, label: str) -> str:
        d = self.descriptions.get(label)
        return d["name"] if d and "name" in d else label.replace("_", " ").capitalize()

    def description(self, label: str) -> str:
        d = self.descriptions.get(label)
        return d.get("description", "") if d else ""

    def to_dict(self) -> dict:
        return {"tree": {k: list(v) for k, v in self.tree.items()}, "descriptions": self.descriptions}

    @classmethod
    def from_dict(cls, d: dict) -> Taxonomy:
        return cls(d["tree"], d.get("descriptions", {}))


# A mechanism with no labelled morphology still needs one level-2 child (the network's level-2
# head has one row per child); this suffix names that placeholder child ("not trained").
UNTRAINED_CHILD_SUFFIX = "_unspecified"


def taxonomy_from_tree(tree: dict[str, list[str]]) -> Taxonomy:
    """The taxonomy a labelled folder tree spells out ({level1: [level2 folders]}, in order).

    A mechanism without morphology folders (its images are labelled with the mechanism only)
    gets a single placeholder child, ``<level1>_unspecified``, named "level 2 not trained".
    Raises ValueError when a name is used twice across both levels.
    """
    full = {k: (list(v) if v else [k + UNTRAINED_CHILD_SUFFIX]) for k, v in tree.items()}
    names = [*full, *(c for v in full.values() for c in v)]
    desc = {k: v for k, v in DEFAULT_DESCRIPTIONS.items() if k in names}
    for k, v in tree.items():
        if not v:
            desc[k + UNTRAINED_CHILD_SUFFIX] = {
                "name": "level 2 not trained",
                "description": "No morphology was labelled for this mechanism; only the mechanism was trained.",
            }
    return Taxonomy(full, desc)
