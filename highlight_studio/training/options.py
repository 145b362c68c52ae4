"""Training options, kept free of torch so the CLI can show their defaults instantly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ModelError

OPTIMIZERS = ("rmsprop", "adam")


@dataclass(frozen=True)
class TrainOptions:
    """How to train (the model's own shape and readings live in RASLConfig)."""

    steps: int = 300  # optimizer steps (batches)
    lr: float = 1e-3  # paper: RMSprop, 1e-3
    batch_size: int = 8  # windows per batch (paper: 8)
    seed: int = 0  # numpy (windows, masks) and torch (init) seed
    device: str = "cpu"
    optimizer: str = "rmsprop"
    warmup_steps: int = 0  # linear lr warm-up: RMSprop's first steps are its largest
    grad_clip: float = 0.0  # max global grad norm; 0 = off
    # L_r joins the total only from this step on: the reconstruction gate sets the activation's
    # sign first, then the k-point contrast refines the ranking (a symmetric contrast alone
    # picks a side by chance).
    kpoint_after: int = 0
    log_every: int = 10  # steps between events with diagnostics
    checkpoint_every: int = 0  # steps between checkpoints; 0 = only at the end
    checkpoint_path: str | None = None  # where checkpoints go (None: none written)
    backbone_id: str = "unknown"  # recorded in the checkpoint; checked at inference
    step_seconds: float = 0.0  # feature step in seconds, recorded in the checkpoint
    # The motion stream's settings (MotionConfig.as_dict) when the features carry one made
    # from clips, recorded in the checkpoint so analysis makes it the same way.
    motion: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ModelError(f"optimizer must be one of {', '.join(OPTIMIZERS)}.")
        if self.kpoint_after < 0:
            raise ModelError("kpoint_after must be 0 or more.")
        if self.steps < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ModelError("steps and batch size must be positive and lr above 0.")
        if self.log_every < 1 or self.checkpoint_every < 0 or self.warmup_steps < 0:
            raise ModelError("log_every must be 1 or more; checkpoint_every and warmup_steps "
                             "0 or more.")
        if self.grad_clip < 0:
            raise ModelError("grad_clip must be 0 (off) or more.")
