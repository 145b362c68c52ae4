"""Label-free scorers to put a trained model in context: what does a trivial ranking reach?

Each baseline maps one video's visual features ``[n_steps, dim]`` (and, for the motion ones,
its motion features) to one score per step and is chosen by name (``evaluate --baseline NAME``)
in place of a checkpoint. None has a parameter fitted to anything.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np

from ..errors import DatasetError
from ..model.clip_readout import joint_norm, main_axis, scaled_streams


def _random(visual: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform noise: the chance level of the protocol."""
    return rng.random(visual.shape[0])


def _feature_norm(visual: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
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


def _joint_norm(visual: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """The two streams' norms, each z-scored over the clip, summed (their scales differ)."""
    return joint_norm([visual, motion])


def _joint_main_axis(visual: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """The main axis of both streams side by side, each divided by its mean norm over the clip
    (so neither dominates by scale), oriented to agree with the joint norm."""
    return main_axis(scaled_streams([visual, motion]), joint_norm([visual, motion]))


Single = Callable[[np.ndarray, np.random.Generator], np.ndarray]
Joint = Callable[[np.ndarray, np.ndarray], np.ndarray]
_BASELINES: dict[str, Single] = {
    "random": _random,
    "feature-norm": _feature_norm,
    "distinctiveness": _distinctiveness,
    "main-axis": _main_axis,
}
# The same readings of the motion stream (FORMAT.md's motion/), and of both streams together.
_MOTION: dict[str, Single] = {"motion-norm": _feature_norm, "motion-main-axis": _main_axis}
_JOINT: dict[str, Joint] = {"visual+motion-norm": _joint_norm,
                            "visual+motion-main-axis": _joint_main_axis}
BASELINES = (*_BASELINES, *_MOTION, *_JOINT)


def needs_motion(name: str) -> bool:
    """Whether the baseline ``name`` reads the motion stream."""
    return name in _MOTION or name in _JOINT


def baseline_scores(name: str, visual: np.ndarray, *, motion: np.ndarray | None = None,
                    seed: int = 0, video_id: str = "") -> np.ndarray:
    """Score one video's steps with the baseline ``name`` (one of :data:`BASELINES`).

    ``random`` draws from a generator seeded by ``(seed, crc32(video_id))``, so a video's scores
    depend only on the seed and its id, not on which other videos are scored or in what order.
    The motion baselines need ``motion`` (one row per visual step).
    """
    if name not in BASELINES:
        raise DatasetError(f"Unknown baseline {name!r}; choose one of {', '.join(BASELINES)}.")
    visual = np.asarray(visual)
    if needs_motion(name):
        if motion is None:
            raise DatasetError(f"The {name} baseline reads the motion stream; this set has none.")
        motion = np.asarray(motion)
        if motion.ndim != 2 or len(motion) != len(visual):
            raise DatasetError(f"Video {video_id}: the motion stream has shape "
                               f"{list(motion.shape)}, not one row per step ({len(visual)}).")
    rng = np.random.default_rng([seed, zlib.crc32(video_id.encode("utf-8"))])
    if name in _JOINT:
        assert motion is not None
        scores = _JOINT[name](visual, motion)
    elif name in _MOTION:
        assert motion is not None
        scores = _MOTION[name](motion, rng)
    else:
        scores = _BASELINES[name](visual, rng)
    return np.asarray(scores).astype(np.float32)
