"""Fine-tuning from the editor's decisions: the training panel's "fine-tune from my decisions".

A profile (``feedback.profiles``) holds the steps an editor kept and rejected on clips they
edited. A run that names a profile trains the start model as usual (the unsupervised losses on
random windows of every clip) plus a ranking term on those steps: on the training clips the
profile has decisions for, the model's score of each kept step should beat each rejected step
of the same clip (pairwise logistic loss). Pairs stay inside a clip because the curve only
ranks steps of one clip against each other.

The term scores windows centred on decided steps, drawn from a generator seeded by the run's
seed and the step number, so a cancelled and resumed run draws what an unbroken one would.
A model scored by a ``ridge`` head (the app's default) has no gradient to its score: there
the same pairs enter the head's closed-form refit at the end of the run instead
(``ridge_head.decision_term``).
The finished model is read with the ``activation`` readout (the model's own score): the
``main_axis`` readout only takes the sign of the score, which no decision could move.

Torch loads with the trainer, as in :mod:`.finetune`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DatasetError

if TYPE_CHECKING:
    import torch

    from ..feedback.profiles import Profile
    from ..model.rasl import RASL
    from .datasets import FeatureDataset
    from .runs import FineTuneRequest

READOUT = "activation"  # how a model fine-tuned from decisions is read (see the module text)
DECISION_WEIGHT = 1.0  # the ranking term against the unsupervised losses
WINDOWS_PER_STEP = 8  # decided steps (one window each) the term scores per training step


def decisions_request(request: FineTuneRequest, profile: str) -> FineTuneRequest:
    """``request`` trained on the decisions of the profile named ``profile`` too, read by its
    own score."""
    return replace(request, profile=profile, config={**request.config, "clip_readout": READOUT})


def decided_steps(dataset: FeatureDataset, profile: Profile, backbone_id: str,
                  step: float) -> dict[int, np.ndarray]:
    """The profile's decisions on the training clips: dataset clip index -> labels int8 [N]
    (+1 kept, -1 rejected, 0 unreviewed), only for clips with both a kept and a rejected
    step. Clips are matched by their feature-cache key, as the window stores decisions;
    a profile on other features is refused (FeedbackError)."""
    from ..feedback.adapt import clip_key

    profile.check_features(backbone_id, step, dataset.stream_widths[0])  # the frames' part
    labels: dict[int, np.ndarray] = {}
    for index, name in enumerate(dataset.names):
        stored = profile.clips.get(clip_key(name, backbone_id, step))
        if stored is None or stored.n_steps != len(dataset.visual[index]):
            continue
        dense = stored.dense_labels()
        if (dense > 0).any() and (dense < 0).any():
            labels[index] = dense
    if not labels:
        raise DatasetError(f"Profile {profile.name!r} has no clip among these with both a kept "
                           "and a rejected step; add the clips you edited with it, or decide "
                           "on more steps first.")
    return labels


def window_around(n: int, window: int, at: int) -> tuple[np.ndarray, int]:
    """A window of a length-``n`` clip holding step ``at`` near its middle, and where ``at``
    sits in it (a clip shorter than the window is repeat-filled, as training windows are)."""
    if n < window:
        return np.arange(window) % n, at
    start = min(max(at - window // 2, 0), n - window)
    return np.arange(start, start + window), at - start


def window_scores(model: RASL, visual: torch.Tensor) -> torch.Tensor:
    """The model's score [B, W] of windows [B, W, D], with gradients: what ``model.score``
    returns at inference (the linear axis head's, else the visual branch's logit, whose order
    is the squashed score's)."""
    if model.axis_head is not None:
        return model.student(visual)
    _, _, _, logit, _ = model.visual.encode(model.visual.prepare(visual))
    return logit


@dataclass(frozen=True)
class DecisionLoss:
    """The ranking term over the decided steps of ``labels``' clips (see the module text)."""

    dataset: FeatureDataset
    labels: dict[int, np.ndarray]  # clip index -> labels [N]
    window: int
    seed: int
    weight: float = DECISION_WEIGHT

    def __call__(self, model: RASL, step: int) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        rng = np.random.default_rng([self.seed, step, 16])
        clips = sorted(self.labels)
        # one clip per call, so every drawn step has partners of the other kind beside it
        clip = clips[int(rng.integers(len(clips)))]
        labels = self.labels[clip]
        kept, rejected = np.flatnonzero(labels > 0), np.flatnonzero(labels < 0)
        half = WINDOWS_PER_STEP // 2
        steps = np.concatenate([rng.choice(kept, min(half, kept.size), replace=False),
                                rng.choice(rejected, min(half, rejected.size), replace=False)])
        visual = self.dataset.visual[clip]
        windows = [window_around(len(visual), self.window, int(s)) for s in steps]
        device = next(model.parameters()).device
        x = torch.from_numpy(np.stack([visual[idx] for idx, _ in windows])).to(device)
        scores = window_scores(model, x)[torch.arange(len(windows)),
                                         torch.tensor([at for _, at in windows])]
        is_kept = torch.from_numpy(labels[steps] > 0).to(device)
        margins = scores[is_kept][:, None] - scores[~is_kept][None, :]
        return self.weight * F.softplus(-margins).mean()


def decision_loss(profile_name: str, dataset: FeatureDataset, backbone_id: str, step: float,
                  window: int, seed: int) -> DecisionLoss:
    """The ranking term of a run that names a profile (loaded from the user data folder)."""
    from ..feedback.profiles import load_profile

    profile = load_profile(profile_name)
    return DecisionLoss(dataset, decided_steps(dataset, profile, backbone_id, step), window,
                        seed)
