"""Fractoscope: SEM fractography with a hierarchical CNN+ViT classifier.

Core modules (``io``, ``imaging``, ``model``, ``analysis``, ``synth``, ``train``, ``batch``,
``report``) never import Qt; ``fractoscope.gui`` is the only Qt layer.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
