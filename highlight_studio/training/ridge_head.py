"""Fitting the ``ridge`` axis head (:class:`~highlight_studio.model.ridge_head.RidgeHead`) in
closed form on a training set's label-free teacher targets.

Held out on yth-train, a ridge regression from each step's per-stream unit features to the
clip's joint main axis of change beat every parameter-free baseline on every seed, where the
same linear scorer trained by RMSprop for 200 steps did not (BENCHMARKS.md). The targets are
the dataset's ``axis_target`` (its teacher: the clip's own main axis, the joint visual and
motion axis, or their joint norm), made from features alone; labels are never in a
:class:`FeatureDataset`. Fine-tuning refits the head toward its own weights, and an editor's
decisions enter that refit as a pairwise term (:func:`decision_term`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ..errors import ModelError
from ..feedback.learner import pair_moments
from ..model.rasl import RASL
from ..model.ridge_head import RidgeHead
from .datasets import FeatureDataset

# Ridge per training step (the penalty is this times the number of steps): the setting of
# benchmarks/label_free_students.py's held-out figures.
RIDGE_PER_STEP = 0.1
# How an editor's decisions enter a refit (decision_term): their weight against the teacher
# on the clips they were made on, and how far above a rejected step a kept one should score.
REFIT_DECISION_WEIGHT = 4.0
REFIT_DECISION_MARGIN = 2.0


def membership(widths: tuple[int, ...]) -> np.ndarray:
    """float32 [streams, sum(widths)]: row s is 1 on stream s's columns."""
    rows = np.zeros((len(widths), sum(widths)), np.float32)
    start = 0
    for s, width in enumerate(widths):
        rows[s, start:start + width] = 1.0
        start += width
    return rows


def unit_streams(x: np.ndarray, streams: np.ndarray) -> np.ndarray:
    """numpy twin of ``RidgeHead.unit_streams`` (float64): each stream's part L2-normalised."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.maximum(np.sqrt((x * x) @ streams.T), 1e-9)
    return x * ((1.0 / norms) @ streams)


def neighbour_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Each row's mean over its +-``k`` neighbours along axis 0, itself included, truncated at
    the ends: the numpy twin of the head's average pool (``count_include_pad=False``)."""
    if k == 0 or len(x) == 0:
        return x
    total = np.concatenate([np.zeros((1, *x.shape[1:])), np.cumsum(x, axis=0)])
    i = np.arange(len(x))
    low, high = np.maximum(i - k, 0), np.minimum(i + k + 1, len(x))
    return (total[high] - total[low]) / (high - low).reshape((-1,) + (1,) * (x.ndim - 1))


def ridge_solve(x: np.ndarray, y: np.ndarray, ridge: float, prior: np.ndarray | None = None,
                extra: tuple[np.ndarray, np.ndarray] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form ridge of ``y`` on the rows of ``x``, both centred, with ``ridge`` per row
    as the penalty, which pulls the weights toward ``prior`` (zero by default). ``extra``:
    a further least-squares term's (gram, right-hand side) added to the normal equations
    (one on differences of rows, which centring does not change). Returns (the rows' mean,
    the weights)."""
    mean = x.mean(axis=0)
    centred = x - mean
    gram = centred.T @ centred
    gram[np.diag_indices_from(gram)] += ridge * len(x)
    rhs = centred.T @ (y - y.mean())
    if prior is not None:
        rhs += ridge * len(x) * prior
    if extra is not None:
        gram += extra[0]
        rhs += extra[1]
    return mean, np.linalg.solve(gram, rhs)


def decision_term(units: list[np.ndarray], decisions: Mapping[int, np.ndarray],
                  weight: float = REFIT_DECISION_WEIGHT, margin: float = REFIT_DECISION_MARGIN
                  ) -> tuple[np.ndarray, np.ndarray]:
    """An editor's decisions as a term of the ridge fit (``ridge_solve``'s ``extra``): on each
    clip (index -> labels, +1 kept, -1 rejected, 0 unreviewed) with both kinds, every kept
    step's input minus every rejected one's should score ``margin`` (in the teacher's
    standard deviations). A clip's pairs count, together, as ``weight`` times its steps of
    teacher rows, so the decisions outweigh the teacher on the clips they were made on."""
    d = units[0].shape[1]
    gram, rhs = np.zeros((d, d)), np.zeros(d)
    for clip, labels in decisions.items():
        labels = np.asarray(labels)
        kept, rejected = units[clip][labels > 0], units[clip][labels < 0]
        if not (len(kept) and len(rejected)):
            continue
        pair_gram, pair_mean = pair_moments(kept, rejected)
        rows = weight * len(units[clip])
        gram += rows * pair_gram
        rhs += rows * margin * pair_mean
    return gram, rhs


def with_fit(diagnostics: Mapping[str, float], fit: Mapping[str, float]) -> dict[str, float]:
    """A checkpoint's diagnostics with a new head fit's record in place of any earlier one's
    (a start model's ``ridge_head_*`` keys would otherwise outlive the fit they describe)."""
    kept = {k: v for k, v in diagnostics.items() if not k.startswith("ridge_head_")}
    return {**kept, **fit}


def fit_ridge_head(model: RASL, dataset: FeatureDataset, ridge: float = RIDGE_PER_STEP,
                   toward_current: bool = False,
                   decisions: Mapping[int, np.ndarray] | None = None) -> dict[str, float]:
    """Fit ``model``'s ridge head on every clip of ``dataset`` in place; returns what the
    checkpoint records of the fit (its ridge, and the in-sample correlation with the teacher).

    Clips whose teacher has no axis (all-zero targets) stay in, as zeros: the student learns
    to leave featureless steps in the middle. Deterministic: no seed, no step order. With
    ``ridge_context`` K, each step's input is its unit features next to their mean over its
    +-K neighbours in the whole clip, and both weight vectors are one ridge solve.
    ``toward_current``: where the head is fitted already, the ridge pulls toward its weights
    instead of toward zero (fine-tuning a fitted model on a few clips of one's own).
    ``decisions`` (clip index -> labels): an editor's kept and rejected steps, fitted as a
    ranking term beside the teacher (``decision_term``): "fine-tune from my decisions".
    """
    config = model.config
    head = model.axis_head
    if not isinstance(head, RidgeHead):
        raise ModelError(f"The model's axis head is {config.axis_head!r}, not 'ridge'.")
    if dataset.axis_teacher != config.axis_teacher:
        raise ModelError(f"The ridge head learns the {config.axis_teacher} teacher, which these "
                         f"clips do not carry ({dataset.axis_teacher}).")
    if dataset.visual_dim != config.visual_dim or len(dataset.stream_widths) != len(
            head.streams):
        raise ModelError(f"The model reads {config.visual_dim}-wide {config.visual_inputs!r} "
                         f"inputs; the data has {dataset.visual_dim} columns in "
                         f"{len(dataset.stream_widths)} stream(s).")
    if not ridge > 0:
        raise ModelError(f"The ridge must be above 0, not {ridge}.")
    streams = membership(dataset.stream_widths)
    context = head.context  # RASL builds the head from config.ridge_context
    units = [unit_streams(v, streams) for v in dataset.visual]
    if context:
        units = [np.concatenate([u, neighbour_mean(u, context)], axis=1) for u in units]
    x = np.concatenate(units)
    y = np.concatenate([dataset.axis_target(i) for i in range(len(dataset))]).astype(np.float64)
    prior = None
    if toward_current and head.fitted:
        parts = [head.weight] + ([head.context_weight] if context else [])
        prior = torch.cat(parts).detach().double().numpy()
    extra = decision_term(units, decisions) if decisions else None
    x_mean, weight = ridge_solve(x, y, ridge, prior, extra)
    fitted = (x - x_mean) @ weight
    spread = float(np.std(fitted) * np.std(y))
    agreement = float(np.mean((fitted - fitted.mean()) * (y - y.mean())) / spread) if spread \
        else 0.0
    width = config.visual_dim

    def put(buffer: torch.Tensor, values: np.ndarray) -> None:
        buffer.copy_(torch.from_numpy(values.astype(np.float32)))

    with torch.no_grad():
        head.streams.copy_(torch.from_numpy(streams))
        put(head.mean, x_mean[:width])
        put(head.weight, weight[:width])
        if context:
            put(head.context_mean, x_mean[width:])
            put(head.context_weight, weight[width:])
    record = {"ridge_head_ridge_per_step": float(ridge), "ridge_head_steps": float(len(x)),
              "ridge_head_teacher_corr": agreement}
    if context:
        record["ridge_head_context"] = float(context)
    if prior is not None:
        record["ridge_head_toward_start"] = 1.0
    if decisions:
        record["ridge_head_decision_clips"] = float(len(decisions))
    return record
