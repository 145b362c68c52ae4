"""A simulated editor on a benchmark: how much do N decisions improve the curve?

The editor reviews, one at a time, the highest-scored step it has not reviewed yet, says keep
or reject, and the curve is refitted before the next pick. The simulation sees a label only
through :class:`Oracle`, which records what it revealed, so a test can check that no other
label was read. Figures are taken on the unreviewed steps only, for the prior and the adapted
curve alike, so nothing is scored on what the editor has already seen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..evaluation.benchmark import VideoAnnotation
from ..evaluation.protocols import TVSUM_TOP, average_precision, rank_steps
from .learner import (
    DEFAULT,
    NEGATIVE,
    POSITIVE,
    UNREVIEWED,
    LearnerConfig,
    ProfileHead,
    adapt,
    fit_profile_head,
    kernel_features,
    nearest_neighbour,
    step_features,
)

# (prior [N], step features [N, D], labels [N], profile head or None) -> adapted scores [N]
Method = Callable[[np.ndarray, np.ndarray, np.ndarray, ProfileHead | None], np.ndarray]
# the earlier clips' (step features [k, D], decisions [k]) -> a profile head or None
ProfileFit = Callable[[Sequence[tuple[np.ndarray, np.ndarray]]], ProfileHead | None]


def editor_choice(truth: VideoAnnotation) -> np.ndarray:
    """What the simulated editor keeps: label > 0 (yth), or a mean annotation above the
    video's median (tvsum)."""
    if truth.labels is not None:
        return np.asarray(truth.labels) > 0
    assert truth.annotator_scores is not None
    mean = np.asarray(truth.annotator_scores, dtype=np.float64).mean(axis=1)
    return mean > np.median(mean)


@dataclass
class Oracle:
    """The only door to the labels: ``reveal(step)`` answers and remembers the step."""

    keep: np.ndarray  # bool [N]
    shown: set[int] = field(default_factory=set)

    def reveal(self, step: int) -> bool:
        self.shown.add(int(step))
        return bool(self.keep[step])


@dataclass(frozen=True)
class ClipReview:
    """One clip's review: the labels and the adapted curve after each checkpoint N."""

    labels: dict[int, np.ndarray]  # N -> int8 labels [steps] after N decisions
    scores: dict[int, np.ndarray]  # N -> adapted scores after N decisions


def review_clip(prior: np.ndarray, features: np.ndarray, oracle: Oracle, method: Method,
                checkpoints: Sequence[int], profile: ProfileHead | None = None) -> ClipReview:
    """Review up to ``max(checkpoints)`` steps of one clip in turn, refitting after each."""
    labels = np.zeros(len(prior), dtype=np.int8)
    scores = method(prior, features, labels, profile)
    kept_labels: dict[int, np.ndarray] = {}
    kept_scores: dict[int, np.ndarray] = {}
    for n in range(max(checkpoints) + 1):
        if n in checkpoints:
            kept_labels[n], kept_scores[n] = labels.copy(), scores.copy()
        open_steps = np.flatnonzero(labels == UNREVIEWED)
        if n == max(checkpoints) or open_steps.size == 0:
            break
        pick = open_steps[rank_steps(scores[open_steps])[0]]
        labels[pick] = POSITIVE if oracle.reveal(pick) else NEGATIVE
        scores = method(prior, features, labels, profile)
    for n in checkpoints:  # a clip shorter than n: every step was reviewed
        kept_labels.setdefault(n, labels.copy())
        kept_scores.setdefault(n, scores.copy())
    return ClipReview(kept_labels, kept_scores)


def unreviewed_ap(truth: VideoAnnotation, scores: np.ndarray, labels: np.ndarray) -> float:
    """The protocol's AP of ``scores`` over the steps ``labels`` leaves unreviewed (positives
    are decided on the whole video, as the protocol does, then the reviewed steps dropped)."""
    open_steps = np.flatnonzero(np.asarray(labels) == UNREVIEWED)
    ranked = open_steps[rank_steps(np.asarray(scores)[open_steps])]
    if truth.labels is not None:
        return average_precision(np.asarray(truth.labels)[ranked] > 0)
    assert truth.annotator_scores is not None
    a = np.asarray(truth.annotator_scores, dtype=np.float64)
    positive = (a > np.median(a, axis=0, keepdims=True))[ranked[:TVSUM_TOP]]
    return float(np.mean([average_precision(positive[:, k]) for k in range(a.shape[1])]))


def _domain_mean(per_video: dict[str, float], truths: dict[str, VideoAnnotation]) -> float:
    """The protocol's headline: the mean over domains of the mean over their videos."""
    domains = sorted({truths[v].domain for v in per_video})
    return float(np.mean([np.mean([ap for v, ap in per_video.items()
                                   if truths[v].domain == d]) for d in domains]))


@dataclass(frozen=True)
class SimulationRow:
    """One line of the table: N decisions, the prior and the adapted curve on the same steps."""

    setting: str  # "within" (same clip) or "across" (the next clips of a domain)
    method: str
    n: int
    prior: float  # headline figure of the prior on the scored steps
    adapted: float  # headline figure of the adapted curve on the same steps
    videos: int

    @property
    def gain(self) -> float:
        return self.adapted - self.prior


def within_clip(truths: dict[str, VideoAnnotation], priors: dict[str, np.ndarray],
                features: dict[str, np.ndarray], method: Method, name: str,
                checkpoints: Sequence[int]) -> list[SimulationRow]:
    """Each video on its own: N decisions on it, then its unreviewed steps scored."""
    prior_ap: dict[int, dict[str, float]] = {n: {} for n in checkpoints}
    adapted_ap: dict[int, dict[str, float]] = {n: {} for n in checkpoints}
    for vid, truth in truths.items():
        result = review_clip(priors[vid], features[vid], Oracle(editor_choice(truth)), method,
                             checkpoints)
        for n in checkpoints:
            prior_ap[n][vid] = unreviewed_ap(truth, priors[vid], result.labels[n])
            adapted_ap[n][vid] = unreviewed_ap(truth, result.scores[n], result.labels[n])
    return [SimulationRow("within", name, n, _domain_mean(prior_ap[n], truths),
                          _domain_mean(adapted_ap[n], truths), len(truths))
            for n in checkpoints]


def across_clips(truths: dict[str, VideoAnnotation], priors: dict[str, np.ndarray],
                 features: dict[str, np.ndarray], method: Method, name: str,
                 checkpoints: Sequence[int], fit_profile: ProfileFit,
                 seed: int, after: int = 10) -> list[SimulationRow]:
    """Per domain, videos in a fixed random order (``seed``); a profile grows video by video
    from N decisions on each. Each video is scored with the profile of the videos before it,
    before any decision of its own; the figure averages the videos with at least ``after``
    videos before them."""
    rows = []
    for n in checkpoints:
        prior_ap: dict[str, float] = {}
        adapted_ap: dict[str, float] = {}
        for domain in sorted({t.domain for t in truths.values()}):
            ids = sorted(v for v, t in truths.items() if t.domain == domain)
            order = np.random.default_rng([seed, len(ids)]).permutation(ids)
            seen: list[tuple[np.ndarray, np.ndarray]] = []  # each earlier video's decisions
            for position, vid in enumerate(order):
                head = fit_profile(seen) if seen else None
                if position >= after:
                    untouched = np.zeros(len(priors[vid]), dtype=np.int8)
                    opening = method(priors[vid], features[vid], untouched, head)
                    prior_ap[vid] = unreviewed_ap(truths[vid], priors[vid], untouched)
                    adapted_ap[vid] = unreviewed_ap(truths[vid], opening, untouched)
                if n == 0:
                    continue
                labels = review_clip(priors[vid], features[vid],
                                     Oracle(editor_choice(truths[vid])), method, (n,),
                                     head).labels[n]
                reviewed = labels != UNREVIEWED
                seen.append((features[vid][reviewed], labels[reviewed]))
        rows.append(SimulationRow("across", name, n, _domain_mean(prior_ap, truths),
                                  _domain_mean(adapted_ap, truths), len(prior_ap)))
    return rows


# Seconds per benchmark step (FORMAT.md): yth steps hop 50 frames, nearly all at 30 fps;
# tvsum steps are 2 s clips. The learner's time kernel is in seconds.
BENCHMARK_STEP = {"yth": 50 / 30, "tvsum": 2.0}
CHECKPOINTS = (0, 1, 3, 5, 10)


def methods(step: float, config: LearnerConfig = DEFAULT) -> dict[str, Method]:
    """The learner and the naive nearest-neighbour baseline, by name. Both take a clip's
    :func:`step_features`; the learner's kernel features are computed once per clip."""
    reduced: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def kernel_of(features: np.ndarray) -> np.ndarray:
        if id(features) not in reduced:  # the array is kept, so its id is not reused
            reduced[id(features)] = (features, kernel_features(features, config))
        return reduced[id(features)][1]

    def learner(prior: np.ndarray, features: np.ndarray, labels: np.ndarray,
                head: ProfileHead | None) -> np.ndarray:
        lean = head.score(features) if head is not None else None
        return adapt(prior, kernel_of(features), labels, lean, config, step=step)

    return {
        "learner": learner,
        "nearest": lambda p, f, lab, h: nearest_neighbour(p, f, lab, config),
    }


def simulate_editor(truths: dict[str, VideoAnnotation], priors: dict[str, np.ndarray],
                    visual: dict[str, np.ndarray], protocol: str, n: int,
                    seeds: Sequence[int] = (0,), config: LearnerConfig = DEFAULT,
                    ) -> list[SimulationRow]:
    """Both figures for both methods at N = 0 and the standard checkpoints up to ``n``; the
    across-clips rows average ``seeds`` (orderings of each domain's videos)."""
    checkpoints = tuple(sorted({c for c in CHECKPOINTS if c <= n} | {0, n}))
    features = {vid: step_features(v) for vid, v in visual.items()}
    rows: list[SimulationRow] = []
    for name, method in methods(BENCHMARK_STEP[protocol], config).items():
        rows += within_clip(truths, priors, features, method, name, checkpoints)
        if name != "learner":  # the baseline has no profile to carry across clips
            continue
        runs = [across_clips(truths, priors, features, method, name, checkpoints,
                             lambda seen: fit_profile_head(seen, config), seed)
                for seed in seeds]
        rows += [SimulationRow("across", name, r[0].n, float(np.mean([x.prior for x in r])),
                               float(np.mean([x.adapted for x in r])), r[0].videos)
                 for r in zip(*runs, strict=True)]
    return rows


def format_rows(rows: Sequence[SimulationRow], metric: str) -> str:
    """The simulation table: each row's prior and adapted figure on the same steps."""
    lines = [f"{'setting':8} {'method':8} {'N':>3} {'prior':>7} {'adapted':>7} {'gain':>7} "
             f"videos   ({metric} on unreviewed steps)"]
    lines += [f"{r.setting:8} {r.method:8} {r.n:3d} {r.prior:7.3f} {r.adapted:7.3f} "
              f"{r.gain:+7.3f} {r.videos:6d}" for r in rows]
    return "\n".join(lines)
