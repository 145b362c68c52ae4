"""Label-free scorers to put a trained model in context: what does a trivial ranking reach?

Each baseline maps one video's visual features ``[n_steps, dim]`` to one score per step and is
chosen by name (``evaluate --baseline NAME``) in place of a checkpoint.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np

from ..errors import DatasetError
from ..model.clip_readout import main_axis


def _random(visual: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform noise: the chance level of the protocol."""
    return rng.random(visual.shape[0])


def _feature_norm(visual: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """L2 norm of each step's visual feature: strong activations often mean action."""
    return np.linalg.norm(visual.astype(np.float64), axis=1)


def _distinctiveness(visual: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mean squared distance from each step to the video's other steps: rare content scores high.

    Uses ``sum_j |v_i - v_j|^2 = n |v_i|^2 + sum_j |v_j|^2 - 2 v_i . sum_j v_j`` so it costs
    O(n * dim) instead of the O(n^2 * dim) pairwise matrix; the ``j = i`` term is zero, so
    dividing by ``n - 1`` gives the mean over the other steps.
    """
    v = visual.astype(np.float64)
    n = v.shape[0]
    if n < 2:
        return np.zeros(n)
    sq = np.einsum("ij,ij->i", v, v)
    total = n * sq + sq.sum() - 2.0 * (v @ v.sum(axis=0))
    return np.maximum(total, 0.0) / (n - 1)


def _main_axis(visual: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each step's position on the video's first principal direction, oriented to agree with
    the feature norm: the main-axis clip readout with the norm in the model's place."""
    return main_axis(visual, _feature_norm(visual, rng))


_BASELINES: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "random": _random,
    "feature-norm": _feature_norm,
    "distinctiveness": _distinctiveness,
    "main-axis": _main_axis,
}
BASELINES = tuple(_BASELINES)


def baseline_scores(name: str, visual: np.ndarray, *, seed: int = 0, video_id: str = ""
                    ) -> np.ndarray:
    """Score one video's steps with the baseline ``name`` (one of :data:`BASELINES`).

    ``random`` draws from a generator seeded by ``(seed, crc32(video_id))``, so a video's scores
    depend only on the seed and its id, not on which other videos are scored or in what order.
    """
    try:
        scorer = _BASELINES[name]
    except KeyError:
        raise DatasetError(
            f"Unknown baseline {name!r}; choose one of {', '.join(BASELINES)}."
        ) from None
    rng = np.random.default_rng([seed, zlib.crc32(video_id.encode("utf-8"))])
    return scorer(np.asarray(visual), rng).astype(np.float32)
