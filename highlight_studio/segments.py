"""Turn a score curve into highlight segments: pure numpy, shared by the GUI and the exporters.

Times are seconds on the clip's own clock (0 = first frame). A segment's ``end`` is exclusive.
Step ``k`` of a curve covers ``[k * step, (k + 1) * step)`` clipped to the clip's duration.

Everything is vectorised (no Python loop over steps), so the GUI can call
:func:`select_segments` on every threshold drag, even on a two-hour curve of 36,000 steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import HighlightStudioError

EPS = 1e-9  # seconds; times this close count as equal, so k * step round-off cannot flip a rule


@dataclass(frozen=True)
class Segment:
    """One highlight: ``[start, end)`` in seconds and the mean score of the steps inside it."""

    start: float
    end: float
    score: float = float("nan")

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class SegmentOptions:
    """How a score curve becomes segments; applied in the order the fields are listed."""

    threshold: float = 0.5  # steps scoring >= threshold are picked (scores live in [0, 1])
    merge_gap: float = 0.0  # seconds; picked runs closer than this are joined into one
    pre_roll: float = 0.0  # seconds added before each segment (editors want a lead-in)
    post_roll: float = 0.0  # seconds added after each segment
    min_length: float = 0.0  # seconds; shorter segments are dropped after padding and merging
    best_total_seconds: float | None = None  # if set, pick the best steps up to this total

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise HighlightStudioError(
                f"The threshold must be between 0 and 1, not {self.threshold}."
            )
        for name in ("merge_gap", "pre_roll", "post_roll", "min_length"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise HighlightStudioError(
                    f"{name.replace('_', ' ')} must be zero or more seconds, not {value}."
                )
        best = self.best_total_seconds
        if best is not None and not (math.isfinite(best) and best > 0):
            raise HighlightStudioError(
                f"The best-seconds total must be more than 0 seconds, not {best}."
            )


def _pick_steps(scores: np.ndarray, lengths: np.ndarray, options: SegmentOptions) -> np.ndarray:
    """The steps a segment starts from, as a boolean mask.

    Threshold mode: ``score >= threshold``. Best-N mode: take steps from the highest score
    down (ties: earlier step first) and stop at the first step that brings their total length
    to N seconds, so the picked steps cover at least N seconds and at most one step more
    (or the whole clip when it is shorter). Rolls, merging and the minimum length then apply
    as in threshold mode, so the final segments can total more or less than N.
    """
    if options.best_total_seconds is None:
        return scores >= options.threshold
    order = np.argsort(-scores, kind="stable")
    covered = np.cumsum(lengths[order])
    count = int(np.searchsorted(covered, options.best_total_seconds - EPS)) + 1
    mask = np.zeros(scores.size, dtype=bool)
    mask[order[:count]] = True
    return mask


def _join(start: np.ndarray, end: np.ndarray, joins: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """Join segment ``i + 1`` onto segment ``i`` wherever ``joins[i]``; ends must be sorted."""
    first = np.concatenate(([0], np.flatnonzero(~joins) + 1))
    last = np.concatenate((first[1:] - 1, [start.size - 1]))
    return start[first], end[last]


def select_segments(
    scores: np.ndarray, step: float, duration: float, options: SegmentOptions
) -> list[Segment]:
    """Pick highlight segments from one score per step.

    1. pick steps (threshold, or best-N seconds: see :func:`_pick_steps`);
    2. join runs of picked steps separated by gaps shorter than ``merge_gap``;
    3. extend by ``pre_roll`` / ``post_roll``, clipped to ``[0, duration]``, and join segments
       that now overlap or touch;
    4. drop segments shorter than ``min_length``.

    A segment's score is the mean of the steps whose start lies inside it (gaps and rolls
    included). Steps that start at or after ``duration`` are ignored; a curve shorter than the
    clip (an analysis still running) simply ends early.
    """
    if not step > 0:
        raise ValueError(f"step must be positive, got {step}")
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"scores must be one value per step, got shape {s.shape}")
    n = min(s.size, max(0, math.ceil(duration / step - EPS)))
    s = s[:n]
    if n == 0:
        return []
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    step_start = np.arange(n) * step
    lengths = np.minimum(step_start + step, duration) - step_start
    picked = _pick_steps(s, lengths, options)

    edges = np.diff(np.concatenate(([0], picked.astype(np.int8), [0])))
    first, stop = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if first.size == 0:
        return []
    start = first * step
    end = np.minimum(stop * step, duration)
    start, end = _join(start, end, start[1:] - end[:-1] < options.merge_gap - EPS)

    start = np.maximum(start - options.pre_roll, 0.0)
    end = np.minimum(end + options.post_roll, duration)
    start, end = _join(start, end, start[1:] <= end[:-1] + EPS)

    keep = end - start >= options.min_length - EPS
    start, end = start[keep], end[keep]

    cumulative = np.concatenate(([0.0], np.cumsum(s)))
    lo = np.clip(np.ceil(start / step - EPS).astype(np.int64), 0, n)
    hi = np.clip(np.ceil(end / step - EPS).astype(np.int64), 0, n)
    mean = (cumulative[hi] - cumulative[lo]) / np.maximum(hi - lo, 1)
    return [Segment(float(a), float(b), float(m))
            for a, b, m in zip(start, end, mean, strict=True)]
