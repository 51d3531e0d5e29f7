"""What the model expects as input, read once from its model card (like timm's pretrained config).

Training, analysis and the benchmark all take the tile size, the percentile clip of the contrast
stretch and the mean/std of the tensor normalisation from one :class:`InputSpec`, so a checkpoint
trained with other settings is analysed the way it was trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# New models analyse an uncalibrated image at this many tiles across its longer side: their
# uncalibrated training crops cover 21-86 % of a 448-px generated frame (scale jitter 0.5-2 of a
# 192-px tile), 4 tiles across gives 25 % while keeping striation-scale detail of large scans.
UNCALIBRATED_TILES_ACROSS = 4


@dataclass(frozen=True)
class InputSpec:
    tile_size: int = 192
    percentile_clip: tuple[float, float] = (0.5, 99.5)
    mean: float = 0.5
    std: float = 0.25
    channels: int = 1
    # An image without a pixel size is reduced (never enlarged) until its longer side is at most
    # this many pixels, px; None analyses it as stored. Operators frame a fracture so that its
    # features fill the field about as the generator frames them, so an uncalibrated 2000-px scan
    # shows the same features 3-4x larger in pixels than the 448-px training frames: reducing it
    # to a training-like frame size is the uncalibrated counterpart of resampling to the trained
    # pixel size.
    uncalibrated_max_side: int | None = None

    def __post_init__(self) -> None:
        lo, hi = (float(v) for v in self.percentile_clip)
        object.__setattr__(self, "percentile_clip", (lo, hi))
        if not 0.0 <= lo < hi <= 100.0:
            raise ValueError(f"percentile_clip must satisfy 0 <= low < high <= 100, got {self.percentile_clip}")
        if int(self.tile_size) != self.tile_size or self.tile_size < 16:
            raise ValueError(f"tile size must be an integer of at least 16 px, got {self.tile_size!r}")
        if not (math.isfinite(self.mean) and math.isfinite(self.std) and self.std > 0):
            raise ValueError(f"normalisation needs a finite mean and a positive std, got {self.mean}, {self.std}")
        side = self.uncalibrated_max_side
        if side is not None and (int(side) != side or side < self.tile_size):
            raise ValueError(f"uncalibrated_max_side must be an integer of at least one tile ({self.tile_size} px), got {side!r}")

    @classmethod
    def from_card(cls, card: dict, default_tile_size: int | None = None) -> InputSpec:
        """The spec of a model card's ``input`` block. Missing values take the defaults (cards
        written before the block was complete); present but invalid values raise ValueError."""
        block = card.get("input") or {}
        norm = block.get("normalisation") or {}
        d = cls()
        return cls(
            tile_size=int(block.get("size", default_tile_size or d.tile_size)),
            percentile_clip=tuple(norm.get("percentile_clip", d.percentile_clip)),
            mean=float(norm.get("mean", d.mean)),
            std=float(norm.get("std", d.std)),
            channels=int(block.get("channels", d.channels)),
            # Absent from cards written before it existed: those models analyse such images as stored.
            uncalibrated_max_side=(
                None if block.get("uncalibrated_max_side") is None else int(block["uncalibrated_max_side"])
            ),
        )

    def to_card(self) -> dict:
        """The model card's ``input`` block."""
        block = {
            "size": int(self.tile_size),
            "channels": int(self.channels),
            "normalisation": {
                "percentile_clip": list(self.percentile_clip),
                "mean": self.mean,
                "std": self.std,
            },
        }
        if self.uncalibrated_max_side is not None:
            block["uncalibrated_max_side"] = int(self.uncalibrated_max_side)
        return block

    def standardise(self, tiles: np.ndarray) -> np.ndarray:
        """[0, 1] tiles -> the network's input scale, float32 (``(x - mean) / std``)."""
        x = np.asarray(tiles, dtype=np.float32)
        return (x - np.float32(self.mean)) * np.float32(1.0 / self.std)
