"""The fast learner: the unsupervised curve bent by the editor's decisions (numpy only).

The prior is the model's curve, standardised over the clip. Two terms are added to it:

- a **profile head**, a linear ranking direction over the step features, ridge-fitted on
  kept-minus-rejected pairs within each clip of a profile (other clips of the same footage),
  so a new clip opens already leaning towards what the editor kept before;
- a **within-clip propagation**, kernel ridge regression of the decisions' residuals over
  feature similarity (cosine of the clip-centred features), so one accepted goal lifts every
  step that looks like it.

Both are closed-form solves on at most a few thousand rows: a refit takes milliseconds, which
is what lets the window redraw the curve after every decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

POSITIVE, NEGATIVE, UNREVIEWED = 1, -1, 0


@dataclass(frozen=True)
class LearnerConfig:
    """How strongly decisions bend the prior (units: the prior's standard deviation)."""

    push: float = 8.0  # how far a decision moves its own step from the prior
    width: float = 0.6  # kernel width on the cosine distance of clip-centred features
    ridge: float = 0.5  # kernel ridge regulariser: decisions that disagree are averaged
    profile_weight: float = 0.5  # weight of the profile head against the prior
    profile_ridge: float = 5.0  # ridge of the profile head's pairwise fit
    time_weight: float = 1.0  # weight of nearness in time against feature similarity
    time_width: float = 4.0  # seconds: how far along the clip a decision carries
    max_support: int = 96  # most decided steps the kernel uses (evenly spread beyond that)
    kernel_rank: int = 64  # the kernel compares steps on the clip's main directions only


DEFAULT = LearnerConfig()


def step_features(visual: np.ndarray) -> np.ndarray:
    """What the learner compares: each step's feature minus the clip's mean, unit length.

    Centring on the clip makes "like this step" mean "unlike the rest of this clip", which is
    what transfers between clips shot in different light and places."""
    v = np.asarray(visual, dtype=np.float32)
    centred = v - v.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return centred / np.maximum(norms, 1e-6)


def kernel_features(features: np.ndarray, config: LearnerConfig = DEFAULT,
                    seed: int = 0) -> np.ndarray:
    """Step features projected on the clip's ``kernel_rank`` principal directions (from at
    most 2,048 of its steps), unit length: what the within-clip kernel compares. Computed once
    per clip, they make a refit on a 2-hour curve of 36,000 steps cost milliseconds instead
    of a second; a clip with fewer steps than the rank keeps its exact cosines."""
    x = np.asarray(features, dtype=np.float32)
    n, d = x.shape
    if min(n, d) <= config.kernel_rank:
        return x
    rows = x if n <= 2048 else x[np.random.default_rng(seed).choice(n, 2048, replace=False)]
    reduced = x @ _main_directions(rows, config.kernel_rank)
    return reduced / np.maximum(np.linalg.norm(reduced, axis=1, keepdims=True), 1e-6)


def _main_directions(rows: np.ndarray, rank: int) -> np.ndarray:
    """The ``rank`` leading right singular vectors of ``rows`` [m, D] as columns [D, rank],
    from an eigendecomposition of the smaller Gram matrix: the subspace an SVD finds, at a
    quarter of its cost (an SVD of 2,048 x 1,280 took 2 s of CPU, 16-50 s on the loaded
    2-core box, each time a clip opened)."""
    m, d = rows.shape
    if d <= m:
        _, vectors = np.linalg.eigh(rows.T @ rows)
        return vectors[:, ::-1][:, :rank]
    values, vectors = np.linalg.eigh(rows @ rows.T)
    top = vectors[:, ::-1][:, :rank]
    scale = np.sqrt(np.maximum(values[::-1][:rank], 1e-12))
    return (rows.T @ top) / scale


def standardise(scores: np.ndarray) -> np.ndarray:
    """Zero mean, unit deviation over the clip (a flat curve stays flat at zero)."""
    s = np.asarray(scores, dtype=np.float64)
    std = s.std()
    return (s - s.mean()) / std if std > 1e-12 else np.zeros_like(s)


def _kernel(x: np.ndarray, step: float, rows: np.ndarray, config: LearnerConfig
            ) -> np.ndarray:
    """Similarity of every step to the steps ``rows``: alike in content, or close in time
    (a highlight is a stretch of footage, not a lone step). float32, and the time term only
    within 12 time widths of each row (beyond, it is under 1e-5): on a 2-hour curve this
    [36,000, 96] matrix is most of a refit's cost."""
    k = np.exp((x @ x[rows].T - np.float32(1.0)) / np.float32(config.width))
    reach = int(np.ceil(12 * config.time_width / step))
    for j, row in enumerate(rows):
        lo, hi = max(0, row - reach), min(len(x), row + reach + 1)
        gap = np.abs(np.arange(lo, hi, dtype=np.float32) - np.float32(row)) * np.float32(step)
        k[lo:hi, j] += np.float32(config.time_weight) * np.exp(-gap / np.float32(config.time_width))
    return k


@dataclass(frozen=True)
class ProfileHead:
    """A linear direction over step features learnt from a profile's decisions."""

    weights: np.ndarray  # float32 [D]

    def score(self, features: np.ndarray) -> np.ndarray:
        return standardise(features @ self.weights)


def fit_profile_head(clips: Sequence[tuple[np.ndarray, np.ndarray]],
                     config: LearnerConfig = DEFAULT) -> ProfileHead | None:
    """A ranking direction from a profile's clips, each ``(features [k, D], labels [k])`` of
    its reviewed steps: ridge regression of +1 on every kept-minus-rejected feature difference
    **within** a clip, each clip's pairs weighted to count as one clip.

    Pairs inside a clip say "this step over that one of the same footage", which is what the
    next clip's ranking needs; absolute labels pooled over clips also learnt how one clip's
    steps differ from another's (light, place), which no ranking inside a clip can use.
    None without a clip that has both a kept and a rejected step."""
    rows, parts = 0, []
    for features, labels in clips:
        x, y = np.asarray(features, dtype=np.float64), np.asarray(labels)
        kept, rejected = x[y > 0], x[y < 0]
        if len(kept) and len(rejected):
            rows += len(kept) * len(rejected)
            parts.append((kept, rejected))
    if not parts:
        return None
    d = parts[0][0].shape[1]
    if rows < d:  # dual form: a (pairs x pairs) solve
        x = np.concatenate([_pairs(k, r) / np.sqrt(len(k) * len(r)) for k, r in parts])
        y = np.concatenate([np.full(len(k) * len(r), 1.0 / np.sqrt(len(k) * len(r)))
                            for k, r in parts])
        w = x.T @ np.linalg.solve(x @ x.T + config.profile_ridge * np.eye(len(x)), y)
    else:
        gram, target = config.profile_ridge * np.eye(d), np.zeros(d)
        for k, r in parts:
            pair_gram, pair_mean = pair_moments(k, r)
            gram += pair_gram
            target += pair_mean
        w = np.linalg.solve(gram, target)
    return ProfileHead(w.astype(np.float32))


def pair_moments(kept: np.ndarray, rejected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean over every (kept, rejected) pair of rows of the difference's outer product
    [D, D] and of the difference [D], without making the pairs: what a least-squares fit of
    "each kept step scores above each rejected one" needs (here and in the ridge head's refit
    from decisions)."""
    k, r = np.asarray(kept, dtype=np.float64), np.asarray(rejected, dtype=np.float64)
    sk, sr = k.sum(axis=0), r.sum(axis=0)
    gram = (len(r) * k.T @ k + len(k) * r.T @ r - np.outer(sk, sr) - np.outer(sr, sk))
    return gram / (len(k) * len(r)), k.mean(axis=0) - r.mean(axis=0)


def _pairs(kept: np.ndarray, rejected: np.ndarray) -> np.ndarray:
    """Every kept row minus every rejected row, [k * r, D]."""
    return (kept[:, None, :] - rejected[None, :, :]).reshape(-1, kept.shape[1])


def adapt(prior: np.ndarray, features: np.ndarray, labels: np.ndarray,
          profile: ProfileHead | np.ndarray | None = None,
          config: LearnerConfig = DEFAULT, step: float = 1.0) -> np.ndarray:
    """The adapted curve of one clip: ``prior`` [N] bent by its own ``labels`` [N] (+1 kept,
    -1 rejected, 0 unreviewed) and by a profile head (or its scores on this clip, computed
    once). ``features`` are :func:`kernel_features` of :func:`step_features`; ``step`` is the
    seconds between steps.

    Returned in the prior's standardised units (float64 [N]); callers rescale for display."""
    base = standardise(prior)
    if profile is not None:
        lean = profile.score(features) if isinstance(profile, ProfileHead) else profile
        base = base + config.profile_weight * lean
    labels = np.asarray(labels)
    reviewed = np.flatnonzero(labels != UNREVIEWED)
    if reviewed.size == 0:
        return base
    if reviewed.size > config.max_support:  # an unticked hour-long segment: keep it cheap
        reviewed = reviewed[np.linspace(0, reviewed.size - 1, config.max_support).astype(int)]
    x = np.asarray(features, dtype=np.float32)
    k = _kernel(x, step, reviewed, config)
    target = np.where(labels[reviewed] > 0, config.push, -config.push)
    alpha = np.linalg.solve(k[reviewed].astype(np.float64) + config.ridge * np.eye(reviewed.size),
                            target)
    return base + k @ alpha.astype(np.float32)


def nearest_neighbour(prior: np.ndarray, features: np.ndarray, labels: np.ndarray,
                      config: LearnerConfig = DEFAULT) -> np.ndarray:
    """The naive baseline: every step takes the decision of its most similar reviewed step,
    added to the prior (what the learner must clearly beat)."""
    base = standardise(prior)
    labels = np.asarray(labels)
    reviewed = np.flatnonzero(labels != UNREVIEWED)
    if reviewed.size == 0:
        return base
    sims = np.asarray(features, dtype=np.float64) @ np.asarray(features, dtype=np.float64)[
        reviewed].T
    nearest = reviewed[np.argmax(sims, axis=1)]
    return base + np.where(labels[nearest] > 0, config.push, -config.push)
