"""Windowing (paper Section III-F): split, repeat-fill, stitched inference, edge lengths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from highlight_studio.model.config import RASLConfig
from highlight_studio.model.inference import minmax, raw_scores, score_sequence
from highlight_studio.model.rasl import RASL
from highlight_studio.model.windows import (
    fill_indices,
    inference_windows,
    random_window,
    repeat_fill,
    split_windows,
)

torch.set_num_threads(1)  # tiny tensors: extra threads only add contention on shared CI cores


def test_split_windows_covers_sequence_in_order() -> None:
    assert split_windows(0, 4) == []
    assert split_windows(3, 4) == [slice(0, 3)]
    assert split_windows(4, 4) == [slice(0, 4)]
    assert split_windows(5, 4) == [slice(0, 4), slice(4, 5)]
    assert split_windows(9, 4) == [slice(0, 4), slice(4, 8), slice(8, 9)]


def test_repeat_fill_repeats_end_to_end() -> None:
    x = np.array([[1], [2], [3]])
    np.testing.assert_array_equal(repeat_fill(x, 7)[:, 0], [1, 2, 3, 1, 2, 3, 1])
    np.testing.assert_array_equal(repeat_fill(x, 2)[:, 0], [1, 2])
    np.testing.assert_array_equal(fill_indices(slice(8, 9), 4), [8, 8, 8, 8])


def test_inference_windows_lead_with_the_original_piece() -> None:
    windows = inference_windows(6, 4)
    assert [p for p, _ in windows] == [slice(0, 4), slice(4, 6)]
    np.testing.assert_array_equal(windows[1][1], [4, 5, 4, 5])


def test_random_window_offsets_stay_inside() -> None:
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(50):
        idx = random_window(10, 4, rng)
        assert len(idx) == 4 and idx.min() >= 0 and idx.max() < 10
        np.testing.assert_array_equal(np.diff(idx), 1)
        starts.add(int(idx[0]))
    assert len(starts) > 3  # offsets really vary
    short = random_window(3, 8, rng)
    assert set(short.tolist()) == {0, 1, 2} and len(short) == 8
    assert set(((short[1:] - short[:-1]) % 3).tolist()) == {1}  # cyclic order kept


class WindowProbe(RASL):
    """Scores each step by its first feature, so stitching is checkable exactly."""

    def score(self, visual: torch.Tensor) -> torch.Tensor:
        self.seen.append(visual.shape)
        return visual[..., 0] + visual.sum(dim=1, keepdim=True)[..., 0] * 0


@pytest.fixture
def probe() -> WindowProbe:
    model = WindowProbe(RASLConfig(visual_dim=8, audio_dim=8, window=4, k=1,
                                   enc_channels=(2, 2, 2), proj_dim=2, use_audio=False))
    model.seen = []
    return model


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 9])
def test_raw_scores_keep_the_original_part(probe: WindowProbe, n: int) -> None:
    visual = np.zeros((n, 8), np.float32)
    visual[:, 0] = np.arange(n) * 10.0
    out = raw_scores(probe, visual, batch_size=2)
    assert out.dtype == np.float32 and out.shape == (n,)
    np.testing.assert_array_equal(out, visual[:, 0])
    assert all(shape[1] == 4 for shape in probe.seen)  # every window is full length


def test_score_sequence_normalises_and_handles_constant(probe: WindowProbe) -> None:
    visual = np.zeros((5, 8), np.float32)
    visual[:, 0] = [3, 1, 2, 5, 4]
    np.testing.assert_allclose(score_sequence(probe, visual), [0.5, 0, 0.25, 1, 0.75])
    constant = score_sequence(probe, np.ones((6, 8), np.float32))
    np.testing.assert_array_equal(constant, np.zeros(6, np.float32))  # no NaN, no ranking
    assert score_sequence(probe, np.ones((1, 8), np.float32)).tolist() == [0.0]
    assert score_sequence(probe, np.ones((0, 8), np.float32)).shape == (0,)
    assert minmax(np.array([2.0, 2.0])).tolist() == [0.0, 0.0]


def test_real_model_scores_a_long_clip_like_its_windows() -> None:
    torch.manual_seed(0)
    model = RASL(RASLConfig(visual_dim=16, audio_dim=16, window=4, k=1, enc_channels=(2, 2, 2),
                            proj_dim=2, use_audio=False, zero_init_attn_out=False))
    visual = np.random.default_rng(0).random((6, 16)).astype(np.float32)
    out = raw_scores(model, visual)
    first = model.score(torch.from_numpy(visual[None, :4]))[0].numpy()
    second = model.score(torch.from_numpy(visual[None, [4, 5, 4, 5]]))[0].numpy()
    np.testing.assert_allclose(out, np.concatenate([first, second[:2]]), rtol=1e-5)
