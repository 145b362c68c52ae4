"""The two benchmark protocols (YouTube Highlights mAP, TVSum top-5 mAP), as in FORMAT.md.

Ranking rule: a video's steps are ranked by score, descending, with a stable sort on
``-score``; tied steps keep their time order (the earlier step ranks first). A constant scorer
is therefore scored as if it ranked the video in time order, which is reproducible, rather than
by an arbitrary order that would change from run to run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import DatasetError
from .benchmark import BenchmarkAnnotations

TVSUM_TOP = 5  # the tvsum protocol scores only the first 5 entries of the ranking


def average_precision(ranked_binary: np.ndarray | list[int]) -> float:
    """AP of a ranked 0/1 list by FORMAT.md's trapezoid rule (precision starts at 1).

    Each step adds ``(recall - previous recall) * (precision + previous precision) / 2``;
    a list without positives scores 0.
    """
    g = np.asarray(ranked_binary, dtype=np.float64).ravel()
    n = g.sum()
    if n == 0:
        return 0.0
    hits = np.cumsum(g)
    recall = hits / n
    precision = hits / np.arange(1, g.size + 1)
    prev_recall = np.concatenate(([0.0], recall[:-1]))
    prev_precision = np.concatenate(([1.0], precision[:-1]))
    return float(np.sum((recall - prev_recall) * (precision + prev_precision) / 2))


def rank_steps(scores: np.ndarray) -> np.ndarray:
    """Step indices from highest to lowest score; ties keep time order (stable sort).

    FORMAT.md does not say how ties rank. Time order is deterministic, but it favours a flat
    scorer a little (``evaluate_scores`` with all-zero scores gives 0.505 on yth-train, random
    0.473), so a model whose curve has many ties should be read with that in mind; the shipped
    models have ties in one yth-train video, whose AP is the same either way."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


def yth_ap(labels: np.ndarray, scores: np.ndarray) -> float:
    """One video's AP under the yth protocol: whole ranking, label > 0 positive (-1 is 0)."""
    return average_precision(np.asarray(labels)[rank_steps(scores)] > 0)


def tvsum_ap(annotator_scores: np.ndarray, scores: np.ndarray) -> float:
    """One video's top-5 AP under the tvsum protocol, averaged over its annotators.

    For annotator ``a`` a step is positive when ``a``'s score for it is above the median of
    ``a``'s scores over the video; AP is taken over the first 5 ranked steps only, so ``n``
    counts the positives among those 5.
    """
    truth = np.asarray(annotator_scores, dtype=np.float64)
    positive = truth > np.median(truth, axis=0, keepdims=True)  # [n_steps, n_annotators]
    top = positive[rank_steps(scores)[:TVSUM_TOP]]
    return float(np.mean([average_precision(top[:, a]) for a in range(top.shape[1])]))


@dataclass(frozen=True)
class EvaluationResult:
    """A scorer's figures on one benchmark: per video, per domain, and the headline mean."""

    benchmark: str
    protocol: str
    per_video: dict[str, float]  # video id -> AP
    per_domain: dict[str, float]  # domain -> mean AP over its videos (domains sorted)
    domain_sizes: dict[str, int]  # domain -> number of videos
    headline: float  # mean of the domain means

    @property
    def metric(self) -> str:
        return "mAP" if self.protocol == "yth" else "top-5 mAP"

    def format_table(self, label: str = "scorer") -> str:
        """The figures laid out like the paper's Tables I/II: one column per domain, then Avg."""
        names = [*self.per_domain, "Avg."]
        width = max(7, *(len(n) for n in names))
        label_width = max(len(label), len("videos"))
        values = [*self.per_domain.values(), self.headline]
        sizes = [*self.domain_sizes.values(), sum(self.domain_sizes.values())]
        lines = [
            f"{self.benchmark} ({self.protocol} protocol, {self.metric})",
            " ".join([" " * label_width, *(n.rjust(width) for n in names)]),
            " ".join([label.ljust(label_width), *(f"{v:.3f}".rjust(width) for v in values)]),
            " ".join(["videos".ljust(label_width), *(str(s).rjust(width) for s in sizes)]),
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """A JSON-ready copy of the result."""
        return {
            "benchmark": self.benchmark,
            "protocol": self.protocol,
            "metric": self.metric,
            "headline": self.headline,
            "per_domain": self.per_domain,
            "domain_sizes": self.domain_sizes,
            "per_video": self.per_video,
        }


def evaluate_scores(
    annotations: BenchmarkAnnotations, scores: Mapping[str, np.ndarray]
) -> EvaluationResult:
    """Score every annotated video under the set's protocol and average per domain.

    ``scores`` must hold one finite score per step for every annotated video; ids that are not
    annotated are ignored.
    """
    per_video: dict[str, float] = {}
    for vid, truth in annotations.videos.items():
        if vid not in scores:
            raise DatasetError(f"No scores for video {vid}; every annotated video needs scores.")
        s = np.asarray(scores[vid], dtype=np.float64)
        if s.shape != (truth.n_steps,):
            raise DatasetError(
                f"Video {vid}: got scores of shape {s.shape} but it has {truth.n_steps} steps; "
                "give one score per step."
            )
        if not np.isfinite(s).all():
            raise DatasetError(f"Video {vid}: scores contain NaN or infinity.")
        if annotations.protocol == "yth":
            assert truth.labels is not None
            per_video[vid] = yth_ap(truth.labels, s)
        else:
            assert truth.annotator_scores is not None
            per_video[vid] = tvsum_ap(truth.annotator_scores, s)
    per_domain: dict[str, float] = {}
    sizes: dict[str, int] = {}
    for domain in annotations.domains:
        aps = [per_video[v] for v, t in annotations.videos.items() if t.domain == domain]
        per_domain[domain] = float(np.mean(aps))
        sizes[domain] = len(aps)
    return EvaluationResult(
        benchmark=annotations.name,
        protocol=annotations.protocol,
        per_video=per_video,
        per_domain=per_domain,
        domain_sizes=sizes,
        headline=float(np.mean(list(per_domain.values()))),
    )
