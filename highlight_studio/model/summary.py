"""Size and cost of a RASL network, to check an implementation against the paper's figures
(8.53 M parameters, 0.82 G MACs per window at d = 1024, N = 150)."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from .config import RASLConfig
from .rasl import RASL


def count_parameters(model: torch.nn.Module) -> int:
    """Trainable parameters of the whole network (both branches; shared modules once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def inference_macs(model: RASL, steps: int | None = None) -> int:
    """Multiply-accumulates of one inference window through the visual branch (feature
    extractor excluded), counted by torch's FLOP counter (1 MAC = 2 FLOPs)."""
    n = steps or model.config.window
    x = torch.zeros(1, n, model.config.visual_dim)
    counter = FlopCounterMode(display=False)
    with counter:
        model.score(x)
    return counter.get_total_flops() // 2


def model_summary(config: RASLConfig) -> dict[str, Any]:
    """Parameters (total and per part) and inference MACs for ``config``."""
    model = RASL(config)
    parts = {name: count_parameters(module) for name, module in model.visual.named_children()}
    return {
        "params": count_parameters(model),
        "params_visual_branch": count_parameters(model.visual),
        "params_visual_parts": parts,
        "inference_macs": inference_macs(model),
        "window": config.window,
        "visual_dim": config.visual_dim,
        "audio_dim": config.audio_dim,
    }
