"""A tiny start model on the ``test_tiny`` backbone and tiny clips, for training tests that must
run in a second or two on a shared 2-core machine."""

from __future__ import annotations

from pathlib import Path

import torch
from clipgen import ClipSpec, write_clip

from highlight_studio.model.checkpoint import save_checkpoint
from highlight_studio.model.config import RASLConfig
from highlight_studio.model.description import CheckpointMeta
from highlight_studio.model.rasl import RASL

STEP = 0.25  # seconds per step of the start model (2 s clips: 8 steps, one window)
CONFIG = RASLConfig(visual_dim=256, audio_dim=256, window=8, k=2, enc_channels=(4, 4, 4),
                    proj_dim=4)


def tiny_start_model(path: Path) -> Path:
    """A seeded, untrained RASL on test_tiny features (256-d) at 0.25 s per step."""
    torch.manual_seed(0)
    meta = CheckpointMeta(config=CONFIG, backbone_id="test_tiny:seed0", step_seconds=STEP)
    return save_checkpoint(path, RASL(CONFIG), meta)


def tiny_clips(folder: Path) -> tuple[Path, Path]:
    """Two 2-second clips, the first with a tone, the second silent (no audio stream)."""
    folder.mkdir(parents=True, exist_ok=True)
    return (write_clip(folder / "a.mp4", ClipSpec(n_frames=48, width=64, height=48)),
            write_clip(folder / "b.mp4", ClipSpec(n_frames=48, width=64, height=48,
                                                  audio_hz=None)))
