"""Clip readouts that need no network: numpy only, so label-free baselines can share them."""

from __future__ import annotations

import numpy as np


def main_axis(visual: np.ndarray, activation: np.ndarray) -> np.ndarray:
    """Each step's projection on the clip's first principal direction of ``visual``, signed to
    correlate positively with ``activation`` (float32 [N]).

    The direction comes from the smaller of the two Gram matrices (steps x steps for short
    clips, d x d for long ones), so neither time nor memory grows with the square of both.
    Where it is undefined (fewer than 3 steps, no variance) or cannot be oriented (a flat
    activation), the activation is returned unchanged.
    """
    activation = np.asarray(activation, dtype=np.float32)
    x = np.asarray(visual, dtype=np.float64)
    if len(x) < 3 or not np.isfinite(x).all() or np.ptp(activation) == 0:
        return activation
    centred = x - x.mean(axis=0)
    if len(x) <= x.shape[1]:
        values, vectors = np.linalg.eigh(centred @ centred.T)
        projection = vectors[:, -1] * np.sqrt(max(values[-1], 0.0))
    else:
        values, vectors = np.linalg.eigh(centred.T @ centred)
        projection = centred @ vectors[:, -1]
    # Centring leaves rounding noise of ~1e-16 |x| per entry, ~1e-32 of the energy squared.
    if not values[-1] > 1e-20 * float(np.sum(x * x)):  # also False for NaN
        return activation
    p = projection - projection.mean()
    a = activation.astype(np.float64) - float(np.mean(activation, dtype=np.float64))
    correlation = float(p @ a) / (float(np.linalg.norm(p) * np.linalg.norm(a)) or 1.0)
    if not abs(correlation) > 1e-6:  # orthogonal (or NaN): no sign to take
        return activation
    return (projection if correlation > 0 else -projection).astype(np.float32)
