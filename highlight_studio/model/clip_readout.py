"""Clip readouts that need no network: numpy only, so label-free baselines can share them."""

from __future__ import annotations

import numpy as np


def principal_projection(visual: np.ndarray) -> np.ndarray | None:
    """Each step's projection on the clip's first principal direction of ``visual`` (float64
    [N], sign arbitrary), or None where it is undefined: fewer than 3 steps, non-finite
    features, or no variance beyond rounding.

    The direction comes from the smaller of the two Gram matrices (steps x steps for short
    clips, d x d for long ones), so neither time nor memory grows with the square of both.
    """
    x = np.asarray(visual, dtype=np.float64)
    if len(x) < 3 or not np.isfinite(x).all():
        return None
    centred = x - x.mean(axis=0)
    if len(x) <= x.shape[1]:
        values, vectors = np.linalg.eigh(centred @ centred.T)
        projection = vectors[:, -1] * np.sqrt(max(values[-1], 0.0))
    else:
        values, vectors = np.linalg.eigh(centred.T @ centred)
        projection = centred @ vectors[:, -1]
    # Centring leaves rounding noise of ~1e-16 |x| per entry, ~1e-32 of the energy squared.
    if not values[-1] > 1e-20 * float(np.sum(x * x)):  # also False for NaN
        return None
    return projection


def orientation(projection: np.ndarray, reference: np.ndarray, min_corr: float = 1e-6) -> int:
    """+1 or -1, whichever makes ``projection`` correlate positively with ``reference``; 0
    where |correlation| is ``min_corr`` or less (orthogonal) or ``reference`` is flat: no
    sign to take."""
    p = projection - projection.mean()
    a = np.asarray(reference, dtype=np.float64)
    a = a - a.mean()
    correlation = float(p @ a) / (float(np.linalg.norm(p) * np.linalg.norm(a)) or 1.0)
    if not abs(correlation) > min_corr:  # orthogonal (or NaN)
        return 0
    return 1 if correlation > 0 else -1


def main_axis(visual: np.ndarray, activation: np.ndarray) -> np.ndarray:
    """Each step's projection on the clip's first principal direction of ``visual``, signed to
    correlate positively with ``activation`` (float32 [N]).

    Where the direction is undefined (see :func:`principal_projection`) or cannot be oriented
    (a flat activation, or one orthogonal to it), the activation is returned unchanged.
    """
    activation = np.asarray(activation, dtype=np.float32)
    if activation.size < 3 or np.ptp(activation) == 0:
        return activation
    projection = principal_projection(visual)
    sign = 0 if projection is None else orientation(projection, activation)
    if sign == 0:
        return activation
    return (sign * projection).astype(np.float32)


def _zscore(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (float(x.std()) or 1.0)


def scaled_streams(streams: list[np.ndarray]) -> np.ndarray:
    """Streams of one clip side by side, each divided by its mean step norm over the clip, so
    that none dominates a principal direction by its units (I3D RGB is ~1.6x flow here)."""
    parts = []
    for x in streams:
        x = np.asarray(x, dtype=np.float64)
        parts.append(x / (float(np.linalg.norm(x, axis=1).mean()) or 1.0))
    return np.concatenate(parts, axis=1)


def joint_norm(streams: list[np.ndarray]) -> np.ndarray:
    """Each stream's step norm z-scored over the clip, summed: the streams' joint activation."""
    return sum((_zscore(np.linalg.norm(np.asarray(x, dtype=np.float64), axis=1))
                for x in streams), np.zeros(len(streams[0])))
