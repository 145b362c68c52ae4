"""The analysis time grid: one rule for how many steps a clip has and which step a time is in.

Analysis samples a clip every ``step_seconds``; step ``k`` covers ``[k * step_seconds,
(k + 1) * step_seconds)`` clipped to the clip's duration, so a final partial step still counts
and every moment of the clip belongs to exactly one step. Decoding (``media``), segment
selection (``segments``) and the editor's document (``gui/document.py``) all count and index
steps through these functions, with the one tolerance below, so they can never disagree on the
length of a curve or on the step a segment edge falls in.
"""

from __future__ import annotations

import math

import numpy as np

# Tolerance in units of one step: a time within this of k * step_seconds counts as exactly
# there, so float round-off (0.6 / 0.2 = 2.9999999999999996) can never add or drop a step.
STEP_TOLERANCE = 1e-6


def _check(step_seconds: float) -> None:
    if not step_seconds > 0:
        raise ValueError(f"step must be positive, got {step_seconds}")


def step_count(duration: float, step_seconds: float) -> int:
    """How many steps a clip of ``duration`` seconds has: ``ceil(duration / step_seconds)``.

    Features, scores and segments all size their arrays with this.
    """
    _check(step_seconds)
    return max(0, math.ceil(duration / step_seconds - STEP_TOLERANCE))


def step_start(k: int | np.ndarray, step_seconds: float) -> float | np.ndarray:
    """When step ``k`` starts, in seconds (one step or an array of them)."""
    return k * step_seconds


def step_end(k: int | np.ndarray, step_seconds: float, duration: float) -> float | np.ndarray:
    """When step ``k`` ends (exclusive), in seconds: the next step's start, or the clip's end
    for its last, partial step."""
    return np.minimum((k + 1) * step_seconds, duration)


def first_step_from(t: float | np.ndarray, step_seconds: float) -> int | np.ndarray:
    """The first step starting at or after ``t``: the steps whose start lies in ``[a, b)`` are
    ``first_step_from(a) .. first_step_from(b) - 1``. Takes one time or an array of them."""
    _check(step_seconds)
    if isinstance(t, np.ndarray):
        return np.ceil(t / step_seconds - STEP_TOLERANCE).astype(np.int64)
    return math.ceil(t / step_seconds - STEP_TOLERANCE)


def step_at(t: float | np.ndarray, step_seconds: float) -> int | np.ndarray:
    """The step whose span ``[k * step_seconds, (k + 1) * step_seconds)`` holds time ``t``
    (a time on a step's start counts as in that step). Takes one time or an array of them."""
    _check(step_seconds)
    if isinstance(t, np.ndarray):
        return np.floor(t / step_seconds + STEP_TOLERANCE).astype(np.int64)
    return math.floor(t / step_seconds + STEP_TOLERANCE)
