"""The ``ridge`` axis head: a linear scorer of each step's per-stream unit input, fitted in
closed form (:mod:`highlight_studio.training.ridge_head`), never by gradient.

The visual input of a ``visual+motion`` model is two streams side by side whose scales differ
(I3D RGB is ~1.6x flow; the app's motion descriptor is in frame widths per second), so each
stream is L2-normalised on its own before the linear map, as the ridge student that held out
best did (``benchmarks/label_free_students.py``). Which columns form a stream is a buffer
(``streams``, one 0/1 row per stream), because the motion width is the data's, not the
config's; the normalisation is then two matrix products, so the ONNX graph stays plain. All
weights are buffers: they travel in the checkpoint and the graph, and no optimizer moves them.

With ``context`` K > 0 (``RASLConfig.ridge_context``) the head also reads the mean of the unit
input over each step's +-K neighbours. It is linear, so that part is computed as the
neighbours' mean of a second per-step score (an average pool inside the window, truncated at
its ends), and its buffers (``context_mean``, ``context_weight``) exist only then: checkpoints
of heads without context load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RidgeHead(nn.Module):
    """score = (per-stream unit input - mean) . weight, one value per step; with context K,
    plus the mean over the step's +-K neighbours of (unit input - context_mean) .
    context_weight."""

    def __init__(self, visual_dim: int, visual_inputs: str, context: int = 0) -> None:
        super().__init__()
        n_streams = len(visual_inputs.split("+"))  # "visual": 1, "visual+motion": 2
        self.context = int(context)
        # Unfitted: every column its own stream's, scores all zero (a flat curve, never noise).
        self.register_buffer("streams", torch.zeros(n_streams, visual_dim))
        self.register_buffer("mean", torch.zeros(visual_dim))
        self.register_buffer("weight", torch.zeros(visual_dim))
        if self.context:
            self.register_buffer("context_mean", torch.zeros(visual_dim))
            self.register_buffer("context_weight", torch.zeros(visual_dim))

    def unit_streams(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [..., D] with each stream's part divided by its L2 norm (a zero part, such
        as the motion of a clip that has none, stays zero)."""
        norms = torch.sqrt((x * x) @ self.streams.T).clamp_min(1e-9)  # [..., S]
        return x * ((1.0 / norms) @ self.streams)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [..., N, D] -> scores [..., N] (the context is taken along N)."""
        unit = self.unit_streams(x)
        score = (unit - self.mean) @ self.weight
        if not self.context:
            return score
        near = (unit - self.context_mean) @ self.context_weight  # [..., N]
        pooled = F.avg_pool1d(near.reshape(-1, 1, near.shape[-1]), 2 * self.context + 1,
                              stride=1, padding=self.context, count_include_pad=False)
        return score + pooled.reshape(near.shape)

    @property
    def fitted(self) -> bool:
        return bool(self.streams.any())
