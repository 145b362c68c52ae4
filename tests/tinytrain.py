"""A tiny start model on the ``test_tiny`` backbone and tiny clips, for training tests that must
run in a second or two on a shared 2-core machine."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from clipgen import ClipSpec, write_clip

from highlight_studio.features.motion import MotionConfig
from highlight_studio.model.checkpoint import save_checkpoint
from highlight_studio.model.config import RASLConfig
from highlight_studio.model.description import CheckpointMeta
from highlight_studio.model.rasl import RASL
from highlight_studio.training.datasets import FeatureDataset, joint_norm_targets
from highlight_studio.training.ridge_head import fit_ridge_head

STEP = 0.25  # seconds per step of the start model (2 s clips: 8 steps, one window)
CONFIG = RASLConfig(visual_dim=256, audio_dim=256, window=8, k=2, enc_channels=(4, 4, 4),
                    proj_dim=4)


def tiny_start_model(path: Path) -> Path:
    """A seeded, untrained RASL on test_tiny features (256-d) at 0.25 s per step."""
    torch.manual_seed(0)
    meta = CheckpointMeta(config=CONFIG, backbone_id="test_tiny:seed0", step_seconds=STEP)
    return save_checkpoint(path, RASL(CONFIG), meta)


def tiny_ridge_motion_model(path: Path, motion: MotionConfig) -> tuple[Path, RASL]:
    """The default model's recipe at test size: test_tiny features and ``motion`` side by
    side, a ridge head with context 1 fitted on made rows' ``joint_norm`` teacher."""
    config = dataclasses.replace(CONFIG, visual_dim=256 + motion.dim,
                                 visual_inputs="visual+motion", axis_head="ridge",
                                 axis_teacher="joint_norm", ridge_context=1)
    rng = np.random.default_rng(0)
    corpus = {f"c{i}": (rng.uniform(0, 1, (20, 256 + motion.dim)).astype(np.float32), None)
              for i in range(3)}
    targets = {n: joint_norm_targets([r[:, :256], r[:, 256:]]) for n, (r, _) in corpus.items()}
    torch.manual_seed(0)
    model = RASL(config)
    fit_ridge_head(model, FeatureDataset(corpus, targets, "joint_norm", (256, motion.dim)))
    meta = CheckpointMeta(config=config, backbone_id="test_tiny:seed0", step_seconds=STEP,
                          motion=motion.as_dict())
    return save_checkpoint(path, model, meta), model


def tiny_clips(folder: Path) -> tuple[Path, Path]:
    """Two 2-second clips, the first with a tone, the second silent (no audio stream)."""
    folder.mkdir(parents=True, exist_ok=True)
    return (write_clip(folder / "a.mp4", ClipSpec(n_frames=48, width=64, height=48)),
            write_clip(folder / "b.mp4", ClipSpec(n_frames=48, width=64, height=48,
                                                  audio_hz=None)))
