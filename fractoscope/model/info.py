"""What a loaded checkpoint is: name, hash, taxonomy, input specification and its model card."""

from __future__ import annotations

from dataclasses import dataclass, field

from fractoscope.imaging.spec import InputSpec
from fractoscope.model.taxonomy import Taxonomy


@dataclass
class ModelInfo:
    name: str
    sha256: str
    taxonomy: Taxonomy
    input_size: int
    pixel_size_range_m: tuple[float, float] | None = None
    card: dict = field(default_factory=dict)
    # Read once from the card (the card's "input" block); everything that feeds the model uses it.
    input_spec: InputSpec | None = None

    def __post_init__(self) -> None:
        if self.input_spec is None:
            self.input_spec = InputSpec.from_card(self.card, default_tile_size=self.input_size)

    @property
    def has_level2(self) -> bool:
        """False for a level-1-only model (e.g. adapted to a lab's mechanisms only): its level-2
        head was not trained, so its morphology output means nothing. Card key ``level2_trained``."""
        return bool(self.card.get("level2_trained", True))

    @property
    def confidence_card(self) -> dict | None:
        """The card's ``confidence`` block (temperature, OOD statistics), if it was fitted."""
        block = self.card.get("confidence")
        return block if isinstance(block, dict) else None
