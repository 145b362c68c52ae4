"""The network's shapes, its config round trip, checkpoints and the paper-size summary."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from highlight_studio.cli import main
from highlight_studio.errors import ModelError
from highlight_studio.model.checkpoint import load_checkpoint, save_checkpoint
from highlight_studio.model.config import _ABSENT_MEANS, RASLConfig
from highlight_studio.model.description import CheckpointMeta, check_compatible, read_meta
from highlight_studio.model.inference import score_sequence
from highlight_studio.model.rasl import RASL
from highlight_studio.model.summary import model_summary

torch.set_num_threads(1)  # tiny tensors: extra threads only add contention on shared CI cores

TINY = dict(visual_dim=16, audio_dim=12, window=8, k=2, enc_channels=(2, 3, 3), proj_dim=4,
            zero_init_attn_out=False)


def test_forward_shapes_and_audio_resampling() -> None:
    model = RASL(RASLConfig(**TINY))
    visual, audio = torch.rand(2, 8, 16), torch.rand(2, 8, 12)
    out = model(visual, audio, mask=torch.zeros(2, 8, dtype=torch.bool))
    assert out.visual.recon.shape == (2, 8, 16)
    assert out.audio is not None and out.audio.target.shape == (2, 8, 16)  # resampled to d
    assert out.visual.r.shape == (2, 8, 3 * 2) and out.visual.s.shape == (2, 8)
    assert out.visual.masked_recon is not None
    assert ((out.visual.s > 0) & (out.visual.s < 1)).all()  # sigmoid gate by default
    assert model.score(visual).shape == (2, 8)
    # Linear resampling keeps a constant vector constant whatever the audio width.
    const = model.audio.prepare(torch.full((1, 1, 12), 0.25))
    torch.testing.assert_close(const, torch.full((1, 1, 16), 0.25))


def test_score_does_not_look_at_audio_or_decoder() -> None:
    torch.manual_seed(0)
    model = RASL(RASLConfig(**TINY))
    visual = torch.rand(1, 8, 16)
    before = model.score(visual)
    with torch.no_grad():
        for p in model.visual.decoder.parameters():
            p.add_(1.0)
    torch.testing.assert_close(model.score(visual), before)


def test_readout_options_change_the_score_path() -> None:
    raw = RASL(RASLConfig(**TINY, score_squash="raw"))
    out = raw(torch.rand(2, 8, 16))
    torch.testing.assert_close(out.visual.s, out.visual.logit)
    nonneg = RASL(RASLConfig(**TINY, readout="nonneg"))
    assert (nonneg(torch.rand(2, 8, 16)).visual.logit >= 0).all()


def test_zero_init_attention_starts_as_identity() -> None:
    model = RASL(RASLConfig(**{**TINY, "zero_init_attn_out": True}))
    x = torch.rand(1, 8, 16)
    torch.testing.assert_close(model.visual.sa(x)[0], x)
    rezero = RASL(RASLConfig(**{**TINY, "sa_output": "rezero_ln"}))
    torch.testing.assert_close(rezero.visual.sa(x)[0], x)
    assert rezero.visual.sa.o.weight.abs().sum() > 0  # the gate, not W_O, starts at 0


def test_config_round_trip_and_bad_options() -> None:
    config = RASLConfig(**TINY, score_squash="raw", kpoint_projection="shared")
    assert RASLConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ModelError, match="score_squash"):
        RASLConfig(score_squash="tanh")
    with pytest.raises(ModelError, match="k=10"):
        RASLConfig(window=16)
    with pytest.raises(ModelError, match="does not know: future_option"):
        RASLConfig.from_dict({**config.to_dict(), "future_option": 1})
    assert not RASLConfig.literal().zero_init_attn_out


def test_config_saved_before_an_option_existed_reads_as_it_was_trained() -> None:
    """Checkpoints shipped before kpoint_selection/kpoint_contrast/kpoint_space were trained
    with hard top-k and the contrast on the representation, whatever today's defaults are."""
    saved = RASLConfig(**TINY, kpoint_selection="soft", kpoint_contrast=False,
                       kpoint_space="input").to_dict()
    del saved["kpoint_selection"], saved["kpoint_contrast"], saved["kpoint_space"]
    old = RASLConfig.from_dict(saved)
    assert old.kpoint_selection == "hard" and old.kpoint_contrast
    assert old.kpoint_space == "representation"


# The options the first shipped checkpoints were saved with. Every option added since must say
# in _ABSENT_MEANS what a checkpoint without it was trained with.
FIRST_SHIPPED_OPTIONS = {
    "visual_dim", "audio_dim", "window", "enc_channels", "enc_kernel", "psi_kernel",
    "proj_dim", "k", "gamma_init", "mask_ratio", "score_squash", "decoder_input",
    "scl_negatives", "kpoint_projection", "sa_output", "zero_init_attn_out", "input_norm",
    "recon_target", "r_norm", "decoder_bias", "recon_scale", "readout", "kpoint_eta",
    "rank_by_logit", "scl_skip_repeats", "scl_center", "spread_weight", "use_recon_loss",
    "use_kpoint_loss", "use_scl", "use_self_attention", "use_aux_task", "use_audio",
}


def test_every_option_added_after_shipping_has_a_legacy_value() -> None:
    added = {f.name for f in dataclasses.fields(RASLConfig)} - FIRST_SHIPPED_OPTIONS
    assert added == set(_ABSENT_MEANS)


def _meta(model: RASL, backbone: str = "test-tiny") -> CheckpointMeta:
    return CheckpointMeta(config=model.config, backbone_id=backbone, step_seconds=0.2,
                          audio_dim=12, seed=3, final_losses={"total": 1.5})


@pytest.mark.parametrize("projection", ["separate", "shared"])
def test_checkpoint_round_trip_gives_same_scores(tmp_path, projection: str) -> None:
    torch.manual_seed(0)
    model = RASL(RASLConfig(**TINY, kpoint_projection=projection))
    visual = np.random.default_rng(0).random((11, 16)).astype(np.float32)
    path = save_checkpoint(tmp_path / "m", model, _meta(model))
    assert path.name == "m.safetensors"
    loaded, meta = load_checkpoint(path)
    assert meta.config == model.config and meta.seed == 3 and meta.visual_dim == 16
    np.testing.assert_array_equal(score_sequence(loaded, visual), score_sequence(model, visual))
    half = save_checkpoint(tmp_path / "h.safetensors", model, _meta(model), fp16=True)
    with safe_open(str(half), framework="pt") as handle:
        assert {handle.get_tensor(k).dtype for k in handle.keys()} == {torch.float16}  # noqa: SIM118
    loaded16, _ = load_checkpoint(half)
    np.testing.assert_allclose(score_sequence(loaded16, visual), score_sequence(model, visual),
                               atol=2e-2)


def test_bare_name_resolves_in_user_models_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("platformdirs.user_data_dir", lambda *a, **k: str(tmp_path))
    (tmp_path / "models").mkdir()
    model = RASL(RASLConfig(**TINY))
    save_checkpoint(tmp_path / "models" / "mine", model, _meta(model))
    assert read_meta("mine").backbone_id == "test-tiny"
    with pytest.raises(ModelError, match="No model named 'nope'"):
        load_checkpoint("nope")


def test_corrupt_and_foreign_files_are_refused(tmp_path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="not a readable checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(ModelError, match="does not exist"):
        load_checkpoint(tmp_path / "sub" / "missing.safetensors")


def test_incompatible_features_are_refused() -> None:
    model = RASL(RASLConfig(**TINY))
    meta = _meta(model, backbone="efficientnet-lite0")
    check_compatible(meta, "efficientnet-lite0", 16, 0.2)
    with pytest.raises(ModelError, match="trained on efficientnet-lite0 features"):
        check_compatible(meta, "swin-base", 16, 0.2)
    with pytest.raises(ModelError, match="16-wide"):
        check_compatible(meta, "efficientnet-lite0", 32, 0.2)
    with pytest.raises(ModelError, match=r"0\.2 s per step"):
        check_compatible(meta, "efficientnet-lite0", 16, 1.0)


def test_paper_size_summary_matches_the_paper() -> None:
    summary = model_summary(RASLConfig(visual_dim=1024, audio_dim=1024, window=150))
    assert 8.0e6 <= summary["params"] <= 9.0e6  # paper: 8.53 M
    # SA alone is 4*150*1024^2 + 2*150^2*1024 MACs; the rest is the conv stack.
    sa = 4 * 150 * 1024**2 + 2 * 150**2 * 1024
    assert sa < summary["inference_macs"] < 1.2e9  # paper: 0.82 G


def test_model_summary_command_prints_json(capsys) -> None:
    assert main(["model-summary", "--visual-dim", "64", "--audio-dim", "32",
                 "--steps", "24"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = RASL(RASLConfig(visual_dim=64, audio_dim=32, window=24))
    assert out["params"] == sum(p.numel() for p in expected.parameters())


def test_input_norm_and_reconstruction_target() -> None:
    x = torch.rand(1, 8, 16) * 5
    seen = RASL(RASLConfig(**TINY, input_norm="l2"))(x).visual.target
    torch.testing.assert_close(seen.norm(dim=-1), torch.ones(1, 8))
    raw = RASL(RASLConfig(**TINY, input_norm="l2", recon_target="raw"))(x).visual.target
    torch.testing.assert_close(raw, x)  # the scale stays in the target for s to carry


def test_gate_scale_gives_each_step_its_norm_through_s() -> None:
    model = RASL(RASLConfig(**TINY, recon_scale="gate"))
    x = torch.rand(2, 8, 16)
    out = model(x).visual
    relative = out.s / out.s.mean(dim=1, keepdim=True)
    expected = relative * x.norm(dim=-1).mean(dim=1, keepdim=True)
    torch.testing.assert_close(out.recon.norm(dim=-1), expected)


def test_a_wrong_shaped_tensor_is_a_model_error_naming_it(tmp_path) -> None:
    from safetensors.torch import save_file

    model = RASL(RASLConfig(**TINY))
    path = save_checkpoint(tmp_path / "m", model, _meta(model))
    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    name = next(k for k, v in tensors.items() if v.ndim == 2)
    tensors[name] = torch.zeros(tensors[name].shape[0] + 1, tensors[name].shape[1])
    save_file(tensors, str(path), metadata=header)
    with pytest.raises(ModelError, match=name.replace(".", r"\.")):
        load_checkpoint(path)
