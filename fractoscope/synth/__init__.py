"""Procedural SEM fractograph generator: training data for the bundled classifier."""

from fractoscope.synth.generate import (
    FAMILIES,
    MORPHOLOGIES,
    Rendered,
    generate_dataset,
    image_rng,
    load_manifest,
    render_details,
    render_fractograph,
    write_tiff,
)

__all__ = [
    "FAMILIES",
    "MORPHOLOGIES",
    "Rendered",
    "generate_dataset",
    "image_rng",
    "load_manifest",
    "render_details",
    "render_fractograph",
    "write_tiff",
]
