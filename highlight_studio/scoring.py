"""End to end: a clip in, a highlight curve out. The one function both the CLI and GUI call.

CONTRACT: ``Analysis`` and ``analyze``'s signature are fixed; the body lands once features and
the model exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .events import CancelToken, Progress
from .media import MediaInfo


@dataclass(frozen=True)
class Analysis:
    """A clip's highlight curve: one score in [0, 1] per step of ``step`` seconds."""

    path: Path
    info: MediaInfo
    model_name: str  # the checkpoint's name (the shipped default or a user's model)
    backbone_id: str
    step: float
    scores: np.ndarray  # float32 [N], min-max normalised over the clip
    device: str  # "cuda", "mps" or "cpu": what the analysis ran on

    @property
    def times(self) -> np.ndarray:
        """Start time in seconds of each step (step k covers [k*step, (k+1)*step))."""
        return np.arange(len(self.scores), dtype=np.float64) * self.step


def analyze(
    path: str | Path,
    *,
    checkpoint: str | Path | None = None,
    device: str | None = None,
    use_cache: bool = True,
    cancel: CancelToken | None = None,
) -> Iterator[Progress | Analysis]:
    """Yield Progress events (stages "probe", "features", "scoring"), then one Analysis."""
    raise NotImplementedError
