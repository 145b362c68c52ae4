"""Windowed inference as the paper's Section III-F (window, score, stitch, normalise), then the
config's clip readout."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ModelError
from ..training.windows import inference_windows
from .clip_readout import main_axis
from .config import CLIP_READOUT
from .rasl import RASL


def model_device(model: RASL) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def raw_scores(model: RASL, visual: np.ndarray, device: str | torch.device | None = None,
               batch_size: int = 32) -> np.ndarray:
    """Un-normalised activations [N] (float32): every window scored, the original part kept.

    Windows are independent, so they are batched; ``device`` defaults to the model's.
    """
    visual = np.asarray(visual)
    if visual.ndim != 2 or visual.shape[1] != model.config.visual_dim:
        raise ModelError(
            f"The model expects visual features of shape [steps, {model.config.visual_dim}], "
            f"got {list(visual.shape)}. Were they made with another backbone?")
    n, window = visual.shape[0], model.config.window
    out = np.zeros(n, dtype=np.float32)
    if n == 0:
        return out
    dev = torch.device(device) if device is not None else model_device(model)
    model.eval()
    windows = inference_windows(n, window)
    feats = torch.from_numpy(np.ascontiguousarray(visual, dtype=np.float32))
    for first in range(0, len(windows), batch_size):
        chunk = windows[first:first + batch_size]
        batch = torch.stack([feats[torch.from_numpy(idx)] for _, idx in chunk]).to(dev)
        scores = model.score(batch).float().cpu().numpy()
        for (piece, _), row in zip(chunk, scores, strict=True):
            out[piece] = row[: piece.stop - piece.start]
    return out


def minmax(scores: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]. A constant curve (including one step) has no ranking: all zeros, so a
    threshold never selects everything by accident and nothing is NaN."""
    scores = np.asarray(scores, dtype=np.float32)
    if scores.size == 0:
        return scores
    low, high = float(scores.min()), float(scores.max())
    if not np.isfinite(low) or not np.isfinite(high):
        raise ModelError("The model produced non-finite scores; the checkpoint is broken.")
    if high - low <= 0.0:
        return np.zeros_like(scores)
    return ((scores - low) / (high - low)).astype(np.float32)


def score_sequence(model: RASL, visual: np.ndarray, device: str | torch.device | None = None,
                   batch_size: int = 32, readout: str | None = None) -> np.ndarray:
    """The highlight curve of one clip: float32 [N] in [0, 1] (all 0 if N <= 1 or constant).

    ``readout`` overrides the model's ``config.clip_readout`` ("activation" or "main_axis").
    """
    readout = readout or model.config.clip_readout
    if readout not in CLIP_READOUT:
        raise ModelError(f"Unknown clip readout {readout!r}; pick one of "
                         f"{', '.join(CLIP_READOUT)}.")
    activation = raw_scores(model, visual, device=device, batch_size=batch_size)
    if readout == "main_axis":
        activation = main_axis(visual, activation)
    return minmax(activation)
