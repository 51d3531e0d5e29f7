"""Procedural SEM fractograph generator: training data for the bundled classifier."""

from fractoscope.synth.generate import (
    MORPHOLOGIES,
    generate_dataset,
    image_rng,
    render_fractograph,
    write_tiff,
)

__all__ = ["MORPHOLOGIES", "generate_dataset", "image_rng", "render_fractograph", "write_tiff"]
