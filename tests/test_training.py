"""The training loop: it learns, it is deterministic, it resumes, it cancels, it reports."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from highlight_studio.cli import main
from highlight_studio.errors import DatasetError, ModelError
from highlight_studio.events import Cancelled, CancelToken
from highlight_studio.model.checkpoint import (
    load_checkpoint,
    save_checkpoint,
    training_state_path,
)
from highlight_studio.model.config import RASLConfig
from highlight_studio.model.description import read_meta
from highlight_studio.model.rasl import RASL
from highlight_studio.training.datasets import FeatureDataset, axis_targets
from highlight_studio.training.diagnostics import spearman_rows
from highlight_studio.training.trainer import TrainOptions, train

torch.set_num_threads(1)  # tiny tensors: extra threads only add contention on shared CI cores

CONFIG = RASLConfig(visual_dim=16, audio_dim=12, window=8, k=2, enc_channels=(4, 4, 4),
                    proj_dim=4)


def _clips(n_clips: int = 3, seed: int = 0, audio: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    clips = {}
    for i in range(n_clips):
        n = 6 + 5 * i  # shorter and longer than the window
        visual = rng.random((n, 16)).astype(np.float32)
        clips[f"clip{i}"] = (visual, rng.random((n, 12)).astype(np.float32) if audio else None)
    return clips


def _run(options: TrainOptions, config: RASLConfig = CONFIG, clips: dict | None = None,
         **kwargs) -> tuple[RASL, list]:
    torch.manual_seed(options.seed)
    model = RASL(config)
    events = list(train(model, FeatureDataset(clips or _clips()), options, **kwargs))
    return model, events


def test_tiny_model_overfits_tiny_set() -> None:
    # Steps drawn from three prototypes: a tiny autoencoder can learn them exactly, while
    # predicting their mean (what a collapsed model does) stays far off.
    rng = np.random.default_rng(0)
    protos = rng.random((3, 16)).astype(np.float32) * 2
    clips = {f"c{i}": (protos[rng.integers(0, 3, 12)], None) for i in range(2)}
    config = replace(CONFIG, enc_channels=(8, 16, 16), use_audio=False, use_aux_task=False)
    options = TrainOptions(steps=100, lr=1e-2, batch_size=8, optimizer="adam", log_every=100)
    torch.manual_seed(0)
    model = RASL(config)
    probe = torch.from_numpy(np.stack([clips["c0"][0][:8], clips["c1"][0][:8]]))

    def recon() -> float:
        with torch.no_grad():
            out = model(probe).visual
            return float((out.target - out.recon).abs().mean())

    before = recon()
    events = list(train(model, FeatureDataset(clips), options))
    assert events[-1].step == 100 and events[-1].total_steps == 100
    assert recon() < before / 3  # reconstruction really learned
    assert np.isfinite(events[-1].total)


def test_events_carry_every_term_and_the_diagnostics() -> None:
    _, events = _run(TrainOptions(steps=4, log_every=2))
    assert [e.step for e in events] == [2, 4]
    diag = events[-1].diagnostics
    for key in ("visual_sa_ratio", "visual_r_cos", "visual_s_std", "visual_s_ties",
                "visual_norm_spearman", "visual_top_bottom_cos", "scl_ln_n", "audio_r_cos"):
        assert key in diag and np.isfinite(diag[key]), key
    assert diag["scl_ln_n"] == pytest.approx(np.log(8))
    assert events[-1].scl > 0 and events[-1].kpoint > 0 and events[-1].aux > 0
    assert events[-1].steps_per_sec > 0 and events[-1].eta_seconds == 0


def test_axis_targets_follow_the_clip_main_axis_signed_by_the_norm() -> None:
    rng = np.random.default_rng(0)
    direction = rng.random(16).astype(np.float32)
    t = rng.normal(size=40).astype(np.float32)
    visual = 2.0 + np.outer(t, direction) + 0.01 * rng.normal(size=(40, 16)).astype(np.float32)
    target = axis_targets(visual)
    assert target.dtype == np.float32 and target.shape == (40,)
    assert abs(target.mean()) < 1e-5 and target.std() == pytest.approx(1.0, abs=1e-4)
    # the steps further along +direction have the larger norm (all entries positive)
    assert np.corrcoef(target, t)[0, 1] > 0.99
    assert not axis_targets(visual[:2]).any()  # too short to have an axis
    same_norm = np.ones((10, 16), np.float32) * np.arange(1, 11, dtype=np.float32)[:, None]
    assert not axis_targets(same_norm / np.linalg.norm(same_norm, axis=1, keepdims=True)
                            ).any()  # no variance at all
    # L2-normalised features: the norm is rounding noise, so the sign would be a coin toss
    unit = visual / np.linalg.norm(visual, axis=1, keepdims=True)
    assert np.ptp(unit @ direction) > 0.1 and not axis_targets(unit).any()
    # a norm symmetric about the axis's middle is orthogonal to it: no sign either (not
    # the norm itself in the axis's place)
    t_sym = np.linspace(-1, 1, 9)
    base = np.zeros(16)
    base[0] = 5.0
    orth = np.zeros(16)
    orth[1] = 1.0
    symmetric = base + np.outer(t_sym, orth) + np.outer(t_sym ** 2, np.eye(16)[2]) * 0.1
    assert not axis_targets(symmetric.astype(np.float32)).any()
    # ...nor a nearly symmetric one, whose sign a tiny asymmetry would pick
    nearly = symmetric + np.outer(0.0005 * t_sym ** 3, np.eye(16)[0])
    assert not axis_targets(nearly.astype(np.float32)).any()
    assert axis_targets(nearly.astype(np.float32), min_corr=1e-9).any()  # the premise
    # L2-normalised features stored as float16: rounding, not content, moves the norm
    assert not axis_targets(unit.astype(np.float16)).any()


def test_sampling_with_axis_targets_draws_the_same_windows() -> None:
    dataset = FeatureDataset(_clips())
    rng_plain, rng_axis = np.random.default_rng(3), np.random.default_rng(3)
    plain = dataset.sample(rng_plain, 4, 8)
    batch = dataset.sample(rng_axis, 4, 8, with_axis=True)
    assert rng_plain.bit_generator.state == rng_axis.bit_generator.state
    assert plain.axis_target is None
    torch.testing.assert_close(batch.visual, plain.visual)
    max_len = max(len(v) for v in dataset.visual)
    for row, source in zip(batch.axis_target, batch.source, strict=True):
        clip, steps = int(source[0]) // max_len, source.numpy() % max_len
        np.testing.assert_array_equal(row.numpy(), axis_targets(dataset.visual[clip])[steps])


def test_axis_weight_teaches_the_activation_the_clip_main_axis() -> None:
    # Each clip varies most along its own zero-sum direction (which barely changes the norm)
    # and a little along the all-ones direction (which sets the norm): the reconstruction
    # gate alone ranks by the norm, the axis term by the main axis.
    rng = np.random.default_rng(0)
    clips = {}
    for i in range(6):
        direction = rng.normal(size=16)
        direction -= direction.mean()
        visual = (3.0 + np.outer(rng.normal(size=24), direction)
                  + np.outer(0.3 * rng.normal(size=24), np.ones(16)))
        clips[f"c{i}"] = (visual.astype(np.float32), None)
    dataset = FeatureDataset(clips)

    def agreement(axis_weight: float) -> float:
        from highlight_studio.model.inference import raw_scores
        config = replace(CONFIG, use_audio=False, use_aux_task=False, axis_weight=axis_weight)
        torch.manual_seed(0)
        model = RASL(config)
        list(train(model, dataset, TrainOptions(steps=150, lr=3e-3, batch_size=8,
                                                optimizer="adam", log_every=150)))
        return float(np.mean([np.corrcoef(raw_scores(model, v), dataset.axis_target(i))[0, 1]
                              for i, v in enumerate(dataset.visual)]))

    assert agreement(1.0) > agreement(0.0) + 0.3


def test_ties_ignore_repeat_filled_copies() -> None:
    from highlight_studio.training.diagnostics import branch_diagnostics

    model = RASL(CONFIG)
    out = model(torch.rand(1, 8, 16)).visual
    out.s = torch.tensor([[0.1, 0.2, 0.1, 0.2, 0.5, 0.5, 0.7, 0.8]])
    source = torch.tensor([[0, 1, 0, 1, 2, 3, 4, 5]])  # steps 0-3: two copies of two steps
    diag = branch_diagnostics(out, torch.rand(1, 8, 16), source)
    assert diag["s_ties"] == pytest.approx(2 / 8)  # only steps 4 and 5 really tie
    assert branch_diagnostics(out, torch.rand(1, 8, 16))["s_ties"] == pytest.approx(6 / 8)


def test_spearman_rows_signs() -> None:
    a = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    torch.testing.assert_close(spearman_rows(a, a * 10), torch.tensor([1.0]))
    torch.testing.assert_close(spearman_rows(a, -a), torch.tensor([-1.0]))


def test_seeded_training_is_deterministic() -> None:
    options = TrainOptions(steps=6, log_every=3, seed=5)
    m1, e1 = _run(options)
    m2, e2 = _run(options)
    assert [e.total for e in e1] == [e.total for e in e2]
    for p1, p2 in zip(m1.parameters(), m2.parameters(), strict=True):
        assert torch.equal(p1, p2)
    _, e3 = _run(replace(options, seed=6))
    assert e3[-1].total != e1[-1].total


def test_kpoint_after_holds_the_kpoint_loss_back_until_that_step(tmp_path: Path) -> None:
    """Before ``kpoint_after`` the update is that of a model without L_r (the term is still
    logged); from that step on (0-based) L_r counts again, also after a resume."""
    options = TrainOptions(steps=4, log_every=2, seed=1)
    held, events = _run(replace(options, kpoint_after=4))
    without, _ = _run(options, config=replace(CONFIG, use_kpoint_loss=False))
    joined, _ = _run(replace(options, kpoint_after=3))  # only the last step has L_r
    assert events[-1].kpoint > 0  # computed and reported, just not trained on
    for p_held, p_without in zip(held.parameters(), without.parameters(), strict=True):
        torch.testing.assert_close(p_held, p_without, rtol=0, atol=1e-6)
    # Only L_r trains the k-point projection: it keeps its initial weights until then (at
    # init s is nearly flat, so L_r's first updates are small but not zero).
    assert torch.equal(held.visual.proj_top.weight, without.visual.proj_top.weight)
    assert not torch.equal(joined.visual.proj_top.weight, held.visual.proj_top.weight)
    with pytest.raises(ModelError, match="kpoint_after"):
        TrainOptions(kpoint_after=-1)
    # Stopped at step 2 and resumed: the same weights as the uninterrupted run.
    path = tmp_path / "late.safetensors"
    _run(replace(options, steps=2, kpoint_after=3, checkpoint_path=str(path)))
    model, _ = load_checkpoint(path)
    list(train(model, FeatureDataset(_clips()), replace(options, kpoint_after=3),
               resume_from=path))
    for p_joined, p_resumed in zip(joined.parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(p_joined, p_resumed)


def test_resume_continues_exactly(tmp_path: Path) -> None:
    path = tmp_path / "run.safetensors"
    full_opts = TrainOptions(steps=8, log_every=2, seed=1)
    full, _ = _run(full_opts)
    half_opts = replace(full_opts, steps=4, checkpoint_path=str(path))
    _, events = _run(half_opts)
    assert events[-1].checkpoint == path and read_meta(path).train_step == 4
    model, _ = load_checkpoint(path)
    resumed = list(train(model, FeatureDataset(_clips()), replace(full_opts,
                         checkpoint_path=str(path)), resume_from=path))
    assert [e.step for e in resumed] == [6, 8]
    for p1, p2 in zip(full.parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(p1, p2)
    meta = read_meta(path)
    assert meta.train_step == 8 and meta.training_data["clips"] == 3
    assert meta.final_losses["total"] == pytest.approx(resumed[-1].total)


def test_resume_takes_the_weights_of_its_own_step(tmp_path: Path) -> None:
    """The weights file and the optimizer state are renamed one after the other; a crash
    between them must not resume one step's optimizer on another step's weights."""
    path = tmp_path / "run.safetensors"
    full_opts = TrainOptions(steps=8, log_every=2, seed=1)
    full, _ = _run(full_opts)
    _run(replace(full_opts, steps=4, checkpoint_path=str(path)))
    stranger, _ = _run(replace(full_opts, steps=6, seed=7))  # other weights, same shape
    save_checkpoint(path, stranger, read_meta(path))  # the weights file alone replaced
    model, _ = load_checkpoint(path)
    list(train(model, FeatureDataset(_clips()), replace(full_opts, checkpoint_path=str(path)),
               resume_from=path))
    for p1, p2 in zip(full.parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(p1, p2)  # as if never interrupted
    # A state file from before it carried the weights is used only with weights of its step.
    state = torch.load(training_state_path(path), weights_only=True)
    del state["model"]
    state["step"] = 6
    torch.save(state, training_state_path(path))
    with pytest.raises(ModelError, match="weights of step 8 but its optimizer state is from"):
        list(train(RASL(CONFIG), FeatureDataset(_clips()), full_opts, resume_from=path))


def test_a_diverged_run_keeps_its_last_good_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "run.safetensors"
    _run(TrainOptions(steps=2, log_every=1, seed=1, checkpoint_path=str(path)))
    before = path.read_bytes()
    with pytest.raises(ModelError, match=r"diverged at step .*checkpoint at step 2 is kept"):
        model, _ = load_checkpoint(path)
        list(train(model, FeatureDataset(_clips()),
                   TrainOptions(steps=40, log_every=1, seed=1, lr=1e9,
                                checkpoint_path=str(path)), resume_from=path))
    assert path.read_bytes() == before


def test_checkpoints_land_on_their_steps_whatever_the_log_interval(tmp_path: Path) -> None:
    path = tmp_path / "run.safetensors"
    _, events = _run(TrainOptions(steps=12, log_every=4, checkpoint_every=6, seed=1,
                                  checkpoint_path=str(path)))
    assert [e.step for e in events if e.checkpoint] == [6, 12]


@pytest.mark.parametrize(("change", "message"), [
    (dict(log_every=0), "log_every"),
    (dict(checkpoint_every=-1), "checkpoint_every"),
    (dict(grad_clip=-1.0), "grad_clip"),
])
def test_bad_options_are_refused_with_a_message(change: dict, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        TrainOptions(**change)


def test_a_missing_gpu_or_another_optimizer_is_a_message(tmp_path: Path) -> None:
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="No CUDA GPU"):
            _run(TrainOptions(steps=1, device="cuda"))
    with pytest.raises(ModelError, match="not a device"):
        _run(TrainOptions(steps=1, device="gpu0"))
    path = tmp_path / "run.safetensors"
    _run(TrainOptions(steps=2, log_every=1, checkpoint_path=str(path)))
    with pytest.raises(ModelError, match="trained with rmsprop; resume it with the same"):
        list(train(load_checkpoint(path)[0], FeatureDataset(_clips()),
                   TrainOptions(steps=4, optimizer="adam"), resume_from=path))


def test_cancel_stops_between_steps() -> None:
    token = CancelToken()
    model = RASL(CONFIG)
    events = train(model, FeatureDataset(_clips()), TrainOptions(steps=100, log_every=1),
                   cancel=token)
    next(events)
    token.cancel()
    with pytest.raises(Cancelled):
        next(events)


def test_clips_without_audio_train_vision_only() -> None:
    clips = _clips()
    clips["silent"] = (np.random.default_rng(1).random((9, 16)).astype(np.float32), None)
    _, events = _run(TrainOptions(steps=4, log_every=4), clips=clips)
    assert np.isfinite(events[-1].total)
    _, events = _run(TrainOptions(steps=2, log_every=2), clips=_clips(audio=False))
    assert events[-1].scl == 0.0


def test_dataset_refuses_mismatched_clips() -> None:
    with pytest.raises(DatasetError, match="one row per visual step"):
        FeatureDataset({"a": (np.zeros((5, 16)), np.zeros((4, 12)))})
    with pytest.raises(DatasetError, match="disagree on feature sizes"):
        FeatureDataset({"a": (np.zeros((5, 16)), None), "b": (np.zeros((5, 8)), None)})
    with pytest.raises(ModelError, match="16-wide visual"):
        list(train(RASL(CONFIG), FeatureDataset({"a": (np.zeros((5, 8)), None)}),
                   TrainOptions(steps=1)))


def _benchmark_folder(root: Path) -> Path:
    (root / "visual").mkdir(parents=True)
    (root / "audio").mkdir()
    (root / "motion").mkdir()
    for name, (visual, audio) in _clips().items():
        np.save(root / "visual" / f"{name}.npy", visual.astype(np.float16))
        np.save(root / "audio" / f"{name}.npy", audio.astype(np.float16))
        np.save(root / "motion" / f"{name}.npy", (visual[:, ::-1] ** 2).astype(np.float16))
    return root


def test_train_command_on_feature_folder_and_resume(tmp_path: Path, capsys) -> None:
    folder = _benchmark_folder(tmp_path / "bench")
    out = tmp_path / "model.safetensors"
    args = ["train", "--features", str(folder), "--out", str(out), "--steps", "4",
            "--window", "8", "--log-every", "2", "--backbone-id", "tiny", "--step-seconds", "2"]
    # k=10 does not fit an 8-step window: a clear error, not a crash.
    assert main(args) == 1
    assert "k=10" in capsys.readouterr().err
    args[args.index("--window") + 1] = "24"
    assert main(args) == 0
    meta = read_meta(out)
    assert meta.backbone_id == "tiny" and meta.step_seconds == 2.0 and meta.train_step == 4
    assert meta.config.window == 24 and meta.config.audio_dim == 12
    log = [json.loads(line) for line in
           (tmp_path / "model.safetensors.log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4] and "recon" in log[0]
    before = out.read_bytes()
    assert main(args) == 1  # the same --out again: kept, not silently retrained over
    assert "exists already; --resume continues it" in capsys.readouterr().err
    assert out.read_bytes() == before
    args[args.index("--steps") + 1] = "6"
    assert main([*args, "--resume", "--fp16"]) == 0
    assert read_meta(out).train_step == 6
    assert len((tmp_path / "model.safetensors.log.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize("extra", [
    [], ["--axis-weight", "1"],
    ["--axis-weight", "1", "--axis-teacher", "joint_axis", "--visual-inputs", "visual+motion",
     "--axis-head", "linear"],
    ["--axis-teacher", "joint_axis", "--visual-inputs", "visual+motion", "--axis-head", "ridge"],
    ["--axis-teacher", "joint_axis", "--visual-inputs", "visual+motion", "--axis-head", "ridge",
     "--ridge-context", "2"]])
def test_train_command_never_reads_labels(tmp_path: Path, extra: list[str]) -> None:
    """The same folder with its labels, without anno.json, and with every label flipped trains
    bit-identical weights: nothing about the labels reaches training (the main-axis
    self-training targets included)."""
    from safetensors.numpy import load_file

    labelled = _benchmark_folder(tmp_path / "labelled")
    labels = {name: {"domain": "d", "labels": [i % 2 for i in range(len(v))]}
              for name, (v, _) in _clips().items()}
    (labelled / "anno.json").write_text(json.dumps({"protocol": "yth", "videos": labels}))
    unlabelled = _benchmark_folder(tmp_path / "unlabelled")  # no anno.json at all
    flipped = _benchmark_folder(tmp_path / "flipped")
    for entry in labels.values():
        entry["labels"] = [1 - x for x in entry["labels"]]
    (flipped / "anno.json").write_text(json.dumps({"protocol": "yth", "videos": labels}))
    weights = []
    for folder in (labelled, unlabelled, flipped):
        out = tmp_path / f"{folder.name}.safetensors"
        assert main(["train", "--features", str(folder), "--out", str(out), "--steps", "3",
                     "--window", "24", "--seed", "1", *extra]) == 0
        weights.append(load_file(str(out)))
    assert weights[0].keys() == weights[1].keys() == weights[2].keys()
    for name, tensor in weights[0].items():
        assert np.array_equal(tensor, weights[1][name]), name
        assert np.array_equal(tensor, weights[2][name]), name
    # ...while the seed does reach training (initial weights included), so equality means
    # something: another seed gives other weights.
    other = tmp_path / "seed2.safetensors"
    assert main(["train", "--features", str(labelled), "--out", str(other), "--steps", "3",
                 "--window", "24", "--seed", "2", *extra]) == 0
    assert not np.array_equal(load_file(str(other))["visual.w.weight"],
                              weights[0]["visual.w.weight"])
    if "linear" in extra:  # the head that gives the score is trained and kept
        assert not np.array_equal(load_file(str(other))["axis_head.weight"],
                                  weights[0]["axis_head.weight"])
    if "ridge" in extra:  # fitted in closed form at the end: the same whatever the seed
        assert weights[0]["axis_head.weight"].any()
        assert np.array_equal(load_file(str(other))["axis_head.weight"],
                              weights[0]["axis_head.weight"])
    if "--ridge-context" in extra:  # the neighbours' weights are fitted and kept too
        assert weights[0]["axis_head.context_weight"].any()


def test_axis_weight_is_recorded_and_changes_training(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    folder = _benchmark_folder(tmp_path / "bench")
    base = ["train", "--features", str(folder), "--steps", "3", "--window", "24", "--seed", "1"]
    plain, axis = tmp_path / "plain.safetensors", tmp_path / "axis.safetensors"
    assert main([*base, "--out", str(plain)]) == 0
    assert main([*base, "--out", str(axis), "--axis-weight", "1"]) == 0
    assert read_meta(plain).config.axis_weight == 0.0
    assert read_meta(axis).config.axis_weight == 1.0
    assert read_meta(axis).final_losses["axis"] > 0 == read_meta(plain).final_losses["axis"]
    assert not np.array_equal(load_file(str(plain))["visual.w.weight"],
                              load_file(str(axis))["visual.w.weight"])
    assert "main-axis self-training weight 1" in (tmp_path / "axis.card.md").read_text()
    again = tmp_path / "again.safetensors"  # fine-tuning may switch it off
    assert main(["train", "--features", str(folder), "--out", str(again), "--init", str(axis),
                 "--steps", "1", "--window", "24", "--axis-weight", "0"]) == 0
    assert read_meta(again).config.axis_weight == 0.0


def test_clip_readout_is_recorded_and_leaves_training_alone(tmp_path: Path) -> None:
    """--clip-readout only says how the curve is read: same weights, another recorded config,
    and --init keeps (or switches) it without touching the weights."""
    from safetensors.numpy import load_file

    folder = _benchmark_folder(tmp_path / "bench")
    base = ["train", "--features", str(folder), "--steps", "2", "--window", "24", "--seed", "1"]
    plain, axis = tmp_path / "plain.safetensors", tmp_path / "axis.safetensors"
    assert main([*base, "--out", str(plain)]) == 0
    assert main([*base, "--out", str(axis), "--clip-readout", "main_axis"]) == 0
    assert read_meta(plain).config.clip_readout == "activation"
    assert read_meta(axis).config.clip_readout == "main_axis"
    a, b = load_file(str(plain)), load_file(str(axis))
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name]), name
    again = tmp_path / "again.safetensors"
    assert main(["train", "--features", str(folder), "--out", str(again), "--init", str(axis),
                 "--steps", "1", "--window", "24"]) == 0
    assert read_meta(again).config.clip_readout == "main_axis"
    back = tmp_path / "back.safetensors"
    assert main(["train", "--features", str(folder), "--out", str(back), "--init", str(axis),
                 "--steps", "1", "--window", "24", "--clip-readout", "activation"]) == 0
    assert read_meta(back).config.clip_readout == "activation"
    assert "clip readout `activation`" in (tmp_path / "back.card.md").read_text()
    # a resumed run may switch it too (it changes no weights)
    assert main(["train", "--features", str(folder), "--out", str(axis), "--steps", "3",
                 "--window", "24", "--resume", "--clip-readout", "activation"]) == 0
    assert read_meta(axis).config.clip_readout == "activation"
    assert read_meta(axis).train_step == 3


@pytest.mark.slow  # builds a timm backbone and decodes two clips
def test_train_command_on_video_clips(tmp_path: Path, monkeypatch) -> None:
    from clipgen import ClipSpec, write_clip

    monkeypatch.setenv("HIGHLIGHT_STUDIO_CACHE", str(tmp_path / "cache"))
    clips = tmp_path / "clips"
    clips.mkdir()
    write_clip(clips / "a.mp4", ClipSpec(n_frames=24, width=64, height=48))
    write_clip(clips / "b.mp4", ClipSpec(n_frames=36, width=64, height=48, audio_hz=None))
    out = tmp_path / "video_model.safetensors"
    assert main(["train", str(clips), "--out", str(out), "--steps", "1", "--batch-size", "2",
                 "--backbone", "test_tiny", "--step", "0.25", "--window", "24",
                 "--device", "cpu"]) == 0
    meta = read_meta(out)
    assert meta.backbone_id.startswith("test_tiny") and meta.step_seconds == 0.25
    assert meta.training_data["clips"] == 2 and meta.training_data["clips_with_audio"] == 1
    assert meta.training_data["steps"] == 4 + 6  # 1 s and 1.5 s at 0.25 s per step


def test_joint_axis_teacher_and_motion_inputs(tmp_path: Path, capsys) -> None:
    """The joint-axis teacher follows the stream that changes, on its own scale; a model
    trained on visual+motion records it, and a folder without motion/ is refused."""
    from highlight_studio.training.datasets import joint_axis_targets

    t = np.array([0.0, 2.0, 1.0, 4.0, 3.0, 5.0])
    visual = 100 * np.ones((6, 3))  # large but constant: no axis of its own
    motion = np.stack([t, np.ones(6)], axis=1)
    target = joint_axis_targets([visual, motion])
    assert list(np.argsort(target)) == list(np.argsort(t))
    assert abs(target.mean()) < 1e-6 and target.std() == pytest.approx(1.0, rel=1e-4)
    assert not joint_axis_targets([visual, np.ones((6, 2))]).any()  # nothing changes: no target

    folder = _benchmark_folder(tmp_path / "bench")
    out = tmp_path / "vm.safetensors"
    assert main(["train", "--features", str(folder), "--out", str(out), "--steps", "2",
                 "--window", "24", "--visual-inputs", "visual+motion", "--axis-weight", "1",
                 "--axis-teacher", "joint_axis"]) == 0
    config = read_meta(out).config
    assert (config.visual_inputs, config.axis_teacher, config.visual_dim) == (
        "visual+motion", "joint_axis", 32)
    shutil.rmtree(folder / "motion")
    capsys.readouterr()
    assert main(["train", "--features", str(folder), "--out", str(tmp_path / "x"), "--steps",
                 "2", "--init", str(out)]) == 1
    assert "has no motion/ folder" in capsys.readouterr().err
    # the app's clips carry no motion teacher: a joint-axis model says so instead of guessing
    model = RASL(replace(CONFIG, axis_weight=1.0, axis_teacher="joint_axis"))
    with pytest.raises(ModelError, match="joint_axis teacher's targets"):
        next(train(model, FeatureDataset(_clips()), TrainOptions(steps=1)))


def test_linear_axis_head_learns_the_teacher_and_scores() -> None:
    """The linear head is what the term trains and what the model scores with; it needs the
    term (a head nothing trains would score at random)."""
    with pytest.raises(ModelError, match="axis_weight above 0"):
        RASLConfig(axis_head="linear")
    rng = np.random.default_rng(0)
    direction = rng.normal(size=16)
    clips = {}
    for i in range(4):
        x = rng.random((24, 16)).astype(np.float32)
        clips[f"c{i}"] = (x, None)
    targets = {n: (v / np.linalg.norm(v, axis=1, keepdims=True)) @ direction
               for n, (v, _) in clips.items()}
    config = replace(CONFIG, use_audio=False, axis_weight=1.0, axis_head="linear")
    torch.manual_seed(0)
    model = RASL(config)
    dataset = FeatureDataset(clips, targets, "main_axis")
    events = list(train(model, dataset, TrainOptions(steps=150, batch_size=4, log_every=150,
                                                     lr=3e-3)))
    assert events[-1].axis < 0.2  # 1 - correlation with the teacher, within windows
    scores = model.score(torch.from_numpy(clips["c0"][0])[None])[0].numpy()
    assert np.corrcoef(scores, targets["c0"])[0, 1] > 0.8
