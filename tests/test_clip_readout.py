"""The clip readout: the activation itself, or the clip's main axis oriented by it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from highlight_studio.errors import ModelError
from highlight_studio.model.clip_readout import main_axis
from highlight_studio.model.config import RASLConfig
from highlight_studio.model.inference import minmax, raw_scores, score_sequence
from highlight_studio.model.rasl import RASL

torch.set_num_threads(1)


def _rank_one_clip(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features that vary along one direction only: step i sits at t[i] along it."""
    rng = np.random.default_rng(seed)
    t = rng.normal(size=n)
    direction = rng.normal(size=d)
    offset = rng.normal(size=d) * 5
    return offset + t[:, None] * direction[None, :], t


@pytest.mark.parametrize(("n", "d"), [(6, 16), (40, 8)])  # steps x steps and d x d paths
def test_main_axis_recovers_the_direction_and_takes_the_activations_sign(n: int, d: int
                                                                         ) -> None:
    x, t = _rank_one_clip(n, d)
    noisy = t + np.random.default_rng(1).normal(scale=1.0, size=n)  # agrees only roughly
    assert np.corrcoef(noisy, t)[0, 1] > 0
    assert not np.array_equal(np.argsort(noisy), np.argsort(t))
    out = main_axis(x, noisy)
    assert out.dtype == np.float32 and out.shape == (n,)
    np.testing.assert_array_equal(np.argsort(out), np.argsort(t))  # the axis, not the noise
    np.testing.assert_allclose(out / np.linalg.norm(out - out.mean()),
                               (t - t.mean()) / np.linalg.norm(t - t.mean()), atol=1e-5)
    np.testing.assert_allclose(main_axis(x, -noisy), -out, atol=1e-5)


@pytest.mark.parametrize(("n", "d"), [(5, 8), (30, 8)])
def test_both_gram_paths_match_a_plain_svd(n: int, d: int) -> None:
    x = np.random.default_rng(n).normal(size=(n, d))
    activation = x[:, 0].astype(np.float32)
    centred = x - x.mean(axis=0)
    reference = centred @ np.linalg.svd(centred, full_matrices=False)[2][0]
    reference *= np.sign(np.dot(reference, activation - activation.mean()))
    np.testing.assert_allclose(main_axis(x, activation), reference, rtol=1e-4, atol=1e-5)


def test_undefined_axes_leave_the_activation() -> None:
    activation = np.array([0.3, 0.1, 0.2, 0.5], np.float32)
    x, _ = _rank_one_clip(4, 8)
    cases = {
        "no steps": (x[:0], activation[:0]),
        "two steps": (x[:2], activation[:2]),
        "constant features": (np.ones((4, 8)) * 7.0, activation),
        "non-finite features": (np.where(np.eye(4, 8) > 0, np.nan, x), activation),
        "flat activation": (x, np.full(4, 0.25, np.float32)),
        # steps at t = 1, -1, 1, -1 on one direction; the activation is orthogonal to that
        "activation orthogonal to the axis": (
            np.array([[1.0, 2.0], [-1.0, -2.0], [1.0, 2.0], [-1.0, -2.0]]) + 3.0,
            np.array([1.0, 1.0, -1.0, -1.0], np.float32)),
    }
    for name, (features, act) in cases.items():
        np.testing.assert_array_equal(main_axis(features, act), act, err_msg=name)


@pytest.mark.parametrize("value", [0.1, 1 / (1 + np.exp(-1.0)), 7.3])
def test_a_flat_activation_is_never_oriented_by_rounding(value: float) -> None:
    """Constants whose float32 mean is inexact (a saturated sigmoid, 0.1) are still flat."""
    rng = np.random.default_rng(0)
    for n in range(3, 80, 7):
        flat = np.full(n, value, np.float32)
        np.testing.assert_array_equal(main_axis(rng.normal(size=(n, 16)), flat), flat)


class FirstFeature(RASL):
    """Activation = the first feature, so the readout's input is known exactly."""

    def score(self, visual: torch.Tensor) -> torch.Tensor:
        return visual[..., 0].clone()


def _model(readout: str = "activation") -> FirstFeature:
    return FirstFeature(RASLConfig(visual_dim=8, audio_dim=8, window=4, k=1,
                                   enc_channels=(2, 2, 2), proj_dim=2, use_audio=False,
                                   clip_readout=readout))


def test_score_sequence_reads_the_configured_axis_and_takes_overrides() -> None:
    x, t = _rank_one_clip(10, 8, seed=2)
    x[:, 0] = t + np.random.default_rng(5).normal(scale=1.0, size=10)  # a noisy activation
    x = x.astype(np.float32)
    activation = raw_scores(_model(), x)
    np.testing.assert_array_equal(score_sequence(_model(), x), minmax(activation))
    on_axis = minmax(main_axis(x, activation))
    assert not np.allclose(on_axis, minmax(activation))
    np.testing.assert_array_equal(score_sequence(_model("main_axis"), x), on_axis)
    np.testing.assert_array_equal(score_sequence(_model(), x, readout="main_axis"), on_axis)
    np.testing.assert_array_equal(score_sequence(_model("main_axis"), x, readout="activation"),
                                  minmax(activation))
    with pytest.raises(ModelError, match="readout"):
        score_sequence(_model(), x, readout="median")
    with pytest.raises(ModelError, match="clip_readout"):
        RASLConfig(clip_readout="median")


def test_a_config_saved_before_the_option_reads_the_activation() -> None:
    data = RASLConfig(clip_readout="main_axis").to_dict()
    del data["clip_readout"]
    assert RASLConfig.from_dict(data).clip_readout == "activation"
    # the legacy value, not the dataclass default, decides: a later default may differ
    later = dataclasses.make_dataclass("Later", [("clip_readout", str, "main_axis")],
                                       bases=(RASLConfig,), frozen=True)
    assert later.from_dict(data).clip_readout == "activation"
