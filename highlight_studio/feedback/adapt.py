"""A clip's curve with the editor's decisions applied: what the CLI's ``--profile`` and the
window show. The prior stays untouched; the adapted curve is a new ranking of the steps drawn
with the prior's values, so segment thresholds keep their meaning."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .learner import DEFAULT, LearnerConfig, adapt, kernel_features, step_features
from .profiles import Profile
from .store import ClipFeedback


def clip_key(path: str | Path, backbone_id: str, step: float) -> str:
    """The clip's feature-cache digest (visual features, as an analysis extracts them): the
    key its decisions are stored under."""
    from ..features.cache import cache_key

    return cache_key(path, backbone_id, step, None).digest


def like_prior(scores: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """``scores``' ranking with the prior's values: the k-th highest step gets the prior's k-th
    highest score. The curve keeps the prior's spread, so a threshold passes the same share of
    the clip before and after a decision (a min-max rescale let one strongly kept segment push
    every other one under the threshold)."""
    out = np.empty(len(scores), dtype=np.float32)
    out[stable_order(np.asarray(scores))] = np.sort(np.asarray(prior))
    return out


def stable_order(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, kind="stable")``, four times faster when no two values are equal
    (the order is then unique, so the unstable sort finds the same one): 3 ms of every
    decision's refit on a 2-hour curve. Ties and NaNs take the stable sort."""
    order = np.argsort(values)
    ranked = values[order]
    if len(ranked) and ((ranked.dtype.kind == "f" and np.isnan(ranked[-1]))
                        or bool(np.any(ranked[1:] == ranked[:-1]))):
        return np.argsort(values, kind="stable")
    return order


@dataclass(frozen=True)
class ClipContext:
    """Everything the learner needs about one analysed clip."""

    key: str
    clip: str
    backbone_id: str
    step: float
    prior: np.ndarray  # the model's curve [N]
    features: np.ndarray  # learner.step_features [N, D]: what decisions and profiles keep
    kernel: np.ndarray  # learner.kernel_features [N, r]: what the within-clip kernel compares

    @classmethod
    def of(cls, key: str, clip: str, backbone_id: str, step: float, prior: np.ndarray,
           visual: np.ndarray) -> ClipContext:
        if len(prior) != len(visual):
            raise ValueError(f"{len(prior)} scores but {len(visual)} feature rows")
        features = step_features(visual)
        return cls(key, clip, backbone_id, float(step), np.asarray(prior, dtype=np.float32),
                   features, kernel_features(features))

    def feedback(self, labels: np.ndarray) -> ClipFeedback:
        return ClipFeedback.from_labels(self.key, self.clip, self.backbone_id, self.step,
                                        labels, self.features)

    def profile_lean(self, profile: Profile | None, config: LearnerConfig = DEFAULT
                     ) -> np.ndarray | None:
        """The profile head's scores on this clip, from the profile's other clips; a profile
        for other features is refused (FeedbackError). They do not change while this clip is
        edited, so the window computes them once."""
        if profile is None:
            return None
        profile.check_features(self.backbone_id, self.step, self.features.shape[1])
        head = profile.head(exclude=self.key, config=config)
        return head.score(self.features) if head is not None else None

    def curve(self, labels: np.ndarray, profile: Profile | None = None,
              config: LearnerConfig = DEFAULT) -> np.ndarray:
        """The adapted curve in [0, 1]: the prior bent by this clip's ``labels`` [N] and by the
        profile's other clips."""
        return self.curve_with(labels, self.profile_lean(profile, config), config)

    def curve_with(self, labels: np.ndarray, lean: np.ndarray | None,
                   config: LearnerConfig = DEFAULT) -> np.ndarray:
        adapted = adapt(self.prior, self.kernel, labels, lean, config, step=self.step)
        return like_prior(adapted, self.prior)

    def saved_labels(self, profile: Profile | None) -> np.ndarray:
        """The clip's decisions as the profile holds them (zeros when it has none)."""
        stored = profile.clips.get(self.key) if profile is not None else None
        if stored is None or stored.n_steps != len(self.prior):
            return np.zeros(len(self.prior), dtype=np.int8)
        return stored.dense_labels()
