"""Windowed inference as the paper's Section III-F (window, score, stitch, normalise), then the
config's clip readout.

All of it is numpy. What scores the windows is either a torch ``RASL`` (wrapped by
:class:`TorchScorer`, which imports torch) or anything with ``config`` and ``score_windows``:
an :class:`~.onnx_scorer.OnnxScorer`, which needs no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..errors import ModelError
from .clip_readout import main_axis
from .config import CLIP_READOUT, RASLConfig
from .windows import inference_windows

if TYPE_CHECKING:
    import torch

    from .rasl import RASL


class WindowScorer(Protocol):
    """Scores full windows: float32 ``[B, window, visual_dim]`` -> activations ``[B, window]``."""

    config: RASLConfig

    def score_windows(self, windows: np.ndarray) -> np.ndarray: ...


class TorchScorer:
    """A torch ``RASL`` as a :class:`WindowScorer` on ``device`` (default: the model's)."""

    def __init__(self, model: RASL, device: str | torch.device | None = None) -> None:
        import torch

        self.config = model.config
        self._model = model.eval()
        self._device = torch.device(device) if device is not None else model_device(model)

    def score_windows(self, windows: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            batch = torch.from_numpy(windows).to(self._device)
            return self._model.score(batch).float().cpu().numpy()


def model_device(model: RASL) -> torch.device:
    return next(model.parameters()).device


def as_scorer(model: Any, device: Any = None) -> WindowScorer:
    """``model`` itself when it scores windows already, else the torch model wrapped."""
    return model if hasattr(model, "score_windows") else TorchScorer(model, device)


def raw_scores(model: RASL | WindowScorer, visual: np.ndarray,
               device: str | torch.device | None = None, batch_size: int = 32) -> np.ndarray:
    """Un-normalised activations [N] (float32): every window scored, the original part kept.

    Windows are independent, so they are batched; ``device`` (torch models only) defaults to
    the model's.
    """
    visual = np.asarray(visual)
    config = model.config
    if visual.ndim != 2 or visual.shape[1] != config.visual_dim:
        raise ModelError(
            f"The model expects visual features of shape [steps, {config.visual_dim}], "
            f"got {list(visual.shape)}. Were they made with another backbone?")
    n, window = visual.shape[0], config.window
    out = np.zeros(n, dtype=np.float32)
    if n == 0:
        return out
    scorer = as_scorer(model, device)
    windows = inference_windows(n, window)
    feats = np.ascontiguousarray(visual, dtype=np.float32)
    for first in range(0, len(windows), batch_size):
        chunk = windows[first:first + batch_size]
        scores = scorer.score_windows(np.stack([feats[idx] for _, idx in chunk]))
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


def score_sequence(model: RASL | WindowScorer, visual: np.ndarray,
                   device: str | torch.device | None = None, batch_size: int = 32,
                   readout: str | None = None) -> np.ndarray:
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
