"""Turn a score curve into highlight segments: pure numpy, shared by the GUI and the exporters.

Times are seconds on the clip's own clock (0 = first frame). A segment's ``end`` is exclusive.
Step ``k`` of a curve covers ``[k * step_seconds, (k + 1) * step_seconds)`` clipped to the
clip's duration (the grid of :mod:`.timegrid`).

A step's score is the model's highlight score, min-max scaled over the clip: 1 is the clip's
most highlight-like step, 0 its least; a segment's score is the mean over its steps. Scores
rank moments within one clip, not across clips.

Everything is vectorised (no Python loop over steps), so the GUI can call
:func:`select_segments` on every threshold drag, even on a two-hour curve of 36,000 steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import HighlightStudioError
from .timegrid import first_step_from, step_count, step_end, step_start

# Seconds; lengths and gaps this close count as equal, so k * step round-off cannot flip a rule.
# Which step a time falls in is the time grid's rule (timegrid.STEP_TOLERANCE), not this one.
EPS = 1e-9


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
    """How a score curve becomes segments (see :func:`select_segments` for the order).

    The defaults are an editor's: shots of a couple of seconds with a lead-in and a tail, not
    the 0.2 s fragments a bare threshold gives. The window and the CLI both start from them.
    """

    threshold: float = 0.5  # steps scoring >= threshold are picked (scores live in [0, 1])
    merge_gap: float = 1.0  # seconds; segments closer than this (after the rolls) are joined
    pre_roll: float = 0.5  # seconds added before each segment (editors want a lead-in)
    post_roll: float = 0.5  # seconds added after each segment
    min_length: float = 2.0  # seconds; shorter segments are dropped after rolls and merging
    best_total_seconds: float | None = None  # if set: the best steps, segments totalling <= this

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


def _join(start: np.ndarray, end: np.ndarray, joins: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """Join segment ``i + 1`` onto segment ``i`` wherever ``joins[i]``; ends must be sorted."""
    first = np.concatenate(([0], np.flatnonzero(~joins) + 1))
    last = np.concatenate((first[1:] - 1, [start.size - 1]))
    return start[first], end[last]


def _spans(picked: np.ndarray, step_seconds: float, duration: float, options: SegmentOptions
           ) -> tuple[np.ndarray, np.ndarray]:
    """Runs of picked steps -> rolled, merged, long-enough ``[start, end)`` arrays."""
    edges = np.diff(np.concatenate(([0], picked.astype(np.int8), [0])))
    first, stop = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if first.size == 0:
        return np.zeros(0), np.zeros(0)
    start = np.maximum(step_start(first, step_seconds) - options.pre_roll, 0.0)
    end = np.minimum(step_end(stop - 1, step_seconds, duration) + options.post_roll, duration)
    gap = start[1:] - end[:-1]  # negative where the rolls overlap
    start, end = _join(start, end, (gap <= EPS) | (gap < options.merge_gap - EPS))
    keep = end - start >= options.min_length - EPS
    return start[keep], end[keep]


def _best_spans(scores: np.ndarray, step_seconds: float, duration: float,
                options: SegmentOptions) -> tuple[np.ndarray, np.ndarray]:
    """Best-N mode: the highest-scoring steps (ties: earlier first), as many as keep the final
    segments (rolls, merging and the minimum length applied) within N seconds in total.

    Adding a step never shrinks the segments (rolls and merges only grow, and a kept segment
    stays long enough), so the total rises with the number of steps taken and a binary search
    finds the most that fit: the total closest to N from below.
    """
    assert options.best_total_seconds is not None
    limit = options.best_total_seconds + EPS
    order = np.argsort(-scores, kind="stable")
    picked = np.zeros(scores.size, dtype=bool)

    def spans(count: int) -> tuple[np.ndarray, np.ndarray]:
        picked[:] = False
        picked[order[:count]] = True
        return _spans(picked, step_seconds, duration, options)

    lo, hi = 0, scores.size  # spans(lo) fits; find the largest count that does
    while lo < hi:
        mid = (lo + hi + 1) // 2
        start, end = spans(mid)
        if float(np.sum(end - start)) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return spans(lo)


def select_segments(
    scores: np.ndarray, step_seconds: float, duration: float, options: SegmentOptions
) -> list[Segment]:
    """Pick highlight segments from one score per step.

    1. pick steps: ``score >= threshold`` (or best-N seconds: see :func:`_best_spans`);
    2. turn each run of picked steps into a segment and extend it by ``pre_roll`` /
       ``post_roll``, clipped to ``[0, duration]``;
    3. join segments that overlap, touch, or are less than ``merge_gap`` apart;
    4. drop segments shorter than ``min_length``.

    A segment's score is the mean of the steps whose start lies inside it (gaps and rolls
    included). Steps that start at or after ``duration`` are ignored; a curve shorter than the
    clip (an analysis still running) simply ends early.
    """
    if not step_seconds > 0:
        raise ValueError(f"step must be positive, got {step_seconds}")
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"scores must be one value per step, got shape {s.shape}")
    n = min(s.size, step_count(duration, step_seconds))
    s = s[:n]
    if n == 0:
        return []
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    if options.best_total_seconds is None:
        start, end = _spans(s >= options.threshold, step_seconds, duration, options)
    else:
        start, end = _best_spans(s, step_seconds, duration, options)

    cumulative = np.concatenate(([0.0], np.cumsum(s)))
    lo = np.clip(first_step_from(start, step_seconds), 0, n)
    hi = np.clip(first_step_from(end, step_seconds), 0, n)
    mean = (cumulative[hi] - cumulative[lo]) / np.maximum(hi - lo, 1)
    return [Segment(float(a), float(b), float(m))
            for a, b, m in zip(start, end, mean, strict=True)]
