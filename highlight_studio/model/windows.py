"""Cutting a sequence into fixed-length windows (paper Section III-F), shared by inference and
training so both see windows made the same way.

A window is an index array of exactly ``window`` steps into the sequence: consecutive steps,
and for a piece shorter than the window (a short clip, or the last remainder of a long one) the
piece repeated end to end until the window is full.
"""

from __future__ import annotations

import numpy as np


def split_windows(n: int, window: int) -> list[slice]:
    """Consecutive pieces of at most ``window`` steps covering ``range(n)``; [] for n = 0."""
    if window < 1:
        raise ValueError(f"window must be positive, not {window}")
    return [slice(start, min(start + window, n)) for start in range(0, n, window)]


def fill_indices(piece: slice, window: int) -> np.ndarray:
    """Indices of ``piece`` repeated end to end to exactly ``window`` steps (int64)."""
    start, stop = piece.start, piece.stop
    length = stop - start
    if length < 1:
        raise ValueError("cannot fill a window from an empty piece")
    return start + np.arange(window, dtype=np.int64) % length


def repeat_fill(x: np.ndarray, window: int) -> np.ndarray:
    """``x`` [n, ...] repeated along axis 0 to exactly ``window`` rows (truncated if longer)."""
    return x[fill_indices(slice(0, len(x)), window)]


def inference_windows(n: int, window: int) -> list[tuple[slice, np.ndarray]]:
    """For each piece of :func:`split_windows`, (the piece, its filled window's indices).

    The first ``piece.stop - piece.start`` entries of a window are the piece itself, in order, so
    the scores that belong to the original are the window's leading ones.
    """
    return [(piece, fill_indices(piece, window)) for piece in split_windows(n, window)]


def random_window(n: int, window: int, rng: np.random.Generator) -> np.ndarray:
    """A training window of a length-``n`` sequence at a random offset (the augmentation).

    Longer than the window: ``window`` consecutive steps starting anywhere. Shorter: the whole
    sequence, repeat-filled, starting at a random step (a cyclic shift), so the repeat seam moves.
    """
    if n < 1:
        raise ValueError("cannot cut a window from an empty sequence")
    if n >= window:
        start = int(rng.integers(0, n - window + 1))
        return np.arange(start, start + window, dtype=np.int64)
    shift = int(rng.integers(0, n))
    return (shift + np.arange(window, dtype=np.int64)) % n
