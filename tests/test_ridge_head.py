"""The ridge axis head: per-stream unit inputs, a closed-form fit on label-free teacher targets,
kept in the checkpoint and the ONNX graph, and never touched by labels."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from scipy.stats import spearmanr

from highlight_studio.cli import main
from highlight_studio.errors import DatasetError, ModelError
from highlight_studio.model.checkpoint import load_checkpoint, save_checkpoint
from highlight_studio.model.config import RASLConfig
from highlight_studio.model.description import CheckpointMeta, read_meta
from highlight_studio.model.inference import raw_scores
from highlight_studio.model.rasl import RASL, with_config
from highlight_studio.model.ridge_head import RidgeHead
from highlight_studio.training.datasets import (
    FeatureDataset,
    joint_axis_targets,
    joint_norm_targets,
)
from highlight_studio.training.ridge_head import (
    decision_term,
    fit_ridge_head,
    membership,
    neighbour_mean,
    ridge_solve,
    unit_streams,
    with_fit,
)

torch.set_num_threads(1)

V, M = 16, 8  # visual and motion widths of the made features
CONFIG = RASLConfig(visual_dim=V + M, visual_inputs="visual+motion", audio_dim=V + M,
                    window=8, k=2, enc_channels=(4, 4, 4), proj_dim=4, axis_head="ridge",
                    axis_teacher="joint_axis", use_audio=False)
CONTEXT = dataclasses.replace(CONFIG, ridge_context=2, window=32)


def _clip(rng: np.random.Generator, n: int, noise: float = 0.2
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(visual, motion, excitement): both streams grow along fixed directions with the
    clip's excitement curve, on top of a clip-specific background and noise."""
    excitement = np.sin(np.linspace(0, rng.uniform(2, 6), n) + rng.uniform(0, 6))
    d_visual, d_motion = np.linspace(0.2, 1.0, V), np.linspace(1.0, 0.3, M)
    visual = (rng.uniform(1, 2, V) + np.outer(excitement, d_visual)
              + noise * rng.standard_normal((n, V)))
    motion = (rng.uniform(1, 2, M) + np.outer(excitement, d_motion)
              + noise * rng.standard_normal((n, M)))
    return visual.astype(np.float32), motion.astype(np.float32), excitement


def _dataset(seed: int, n_clips: int, noise: float = 0.2
             ) -> tuple[FeatureDataset, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    clips, targets, excitement = {}, {}, {}
    for i in range(n_clips):
        visual, motion, excite = _clip(rng, 20 + 7 * i, noise)
        clips[f"c{i}"] = (np.concatenate([visual, motion], axis=1), None)
        targets[f"c{i}"] = joint_axis_targets([visual, motion])
        excitement[f"c{i}"] = excite
    return FeatureDataset(clips, targets, "joint_axis", (V, M)), excitement


def test_each_stream_is_normalised_on_its_own() -> None:
    head = RidgeHead(V + M, "visual+motion")
    head.streams.copy_(torch.from_numpy(membership((V, M))))
    x = np.abs(np.random.default_rng(0).standard_normal((5, V + M))).astype(np.float32) * 7
    x[2, V:] = 0.0  # a step without motion
    unit = head.unit_streams(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(np.linalg.norm(unit[:, :V], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(unit[[0, 1, 3, 4], V:], axis=1), 1.0, rtol=1e-5)
    assert not unit[2, V:].any()  # zero motion stays zero, not NaN
    np.testing.assert_allclose(unit, unit_streams(x, membership((V, M))), rtol=1e-5)


def test_the_fitted_head_scores_clips_it_never_saw() -> None:
    fit_on, _ = _dataset(0, 8)
    model = RASL(CONFIG).eval()
    unseen, excitement = _dataset(1, 3)
    flat = raw_scores(model, unseen.visual[0])
    assert not flat.any()  # unfitted: a flat curve, never noise
    record = fit_ridge_head(model, fit_on)
    assert record["ridge_head_teacher_corr"] > 0.8
    for i, name in enumerate(unseen.names):
        rho = spearmanr(raw_scores(model, unseen.visual[i]), excitement[name])[0]
        assert rho > 0.8, (name, rho)


def test_the_context_head_is_its_numpy_twin_inside_a_window() -> None:
    """Scores of a clip that fills one window: u.w + the +-K neighbours' mean of
    (u - context_mean).context_weight, truncated at the ends (not wrapped, not zero-padded)."""
    dataset, _ = _dataset(0, 6)
    model = RASL(CONTEXT).eval()
    record = fit_ridge_head(model, dataset)
    assert record["ridge_head_context"] == 2 and record["ridge_head_teacher_corr"] > 0.8
    head = model.axis_head
    assert isinstance(head, RidgeHead) and head.context_weight.any()
    clip = dataset.visual[1][:CONTEXT.window]  # 27 steps: one window, repeat-filled
    unit = unit_streams(clip, membership((V, M)))
    own = (unit - head.mean.numpy()) @ head.weight.numpy()
    near = (unit - head.context_mean.numpy()) @ head.context_weight.numpy()
    window = np.concatenate([near, near])[:CONTEXT.window]  # the repeat-filled window
    expected = own + neighbour_mean(window, 2)[:len(clip)]
    np.testing.assert_allclose(raw_scores(model, clip), expected, atol=1e-4)
    np.testing.assert_allclose(neighbour_mean(np.arange(5.0), 1), [0.5, 1, 2, 3, 3.5])


def test_the_context_head_uses_the_neighbours_where_steps_are_noisy() -> None:
    """With noisy steps and a smooth teacher, the head that also reads its neighbours tracks
    unseen clips' excitement better than the step alone; and it still does with no noise."""
    for noise, margin in ((1.0, 0.05), (0.2, -0.02)):
        fit_on, _ = _dataset(0, 10, noise)
        unseen, excitement = _dataset(1, 4, noise)
        rhos = {}
        for config in (CONFIG, CONTEXT):
            model = RASL(dataclasses.replace(config, window=32)).eval()
            fit_ridge_head(model, fit_on)
            rhos[config.ridge_context] = np.mean([
                spearmanr(raw_scores(model, unseen.visual[i]), excitement[n])[0]
                for i, n in enumerate(unseen.names)])
        assert rhos[2] > rhos[0] + margin, (noise, rhos)
        assert rhos[2] > 0.7, (noise, rhos)


def test_ridge_context_needs_the_ridge_head() -> None:
    with pytest.raises(ModelError, match="ridge_context"):
        dataclasses.replace(CONFIG, axis_head="activation", ridge_context=1)
    with pytest.raises(ModelError, match="ridge_context"):
        dataclasses.replace(CONFIG, ridge_context=-1)
    assert RASLConfig.from_dict({k: v for k, v in CONFIG.to_dict().items()
                                 if k != "ridge_context"}).ridge_context == 0


def test_a_start_model_takes_a_new_ridge_head_and_keeps_its_other_weights() -> None:
    torch.manual_seed(0)
    start = RASL(dataclasses.replace(CONFIG, axis_head="activation", axis_teacher="main_axis"))
    switched = with_config(start, CONTEXT)
    assert isinstance(switched.axis_head, RidgeHead) and switched.axis_head.context == 2
    assert not switched.axis_head.fitted  # a new head, fitted afterwards
    kept = {k: v for k, v in start.state_dict().items() if not k.startswith("axis_head.")}
    for key, value in kept.items():
        assert torch.equal(switched.state_dict()[key], value), key
    with pytest.raises(ModelError, match=r"do not fit the changed settings \(proj_dim"):
        with_config(RASL(CONFIG), dataclasses.replace(CONFIG, proj_dim=8))


def test_another_teacher_gives_a_fresh_head_and_the_same_teacher_keeps_it() -> None:
    dataset, _ = _dataset(0, 3)
    fitted = RASL(CONFIG)
    fit_ridge_head(fitted, dataset)
    same = with_config(fitted, dataclasses.replace(CONFIG, clip_readout="main_axis"))
    assert torch.equal(same.axis_head.weight, fitted.axis_head.weight)
    other = with_config(fitted, dataclasses.replace(CONFIG, axis_teacher="joint_norm"))
    assert not other.axis_head.fitted  # a head fitted on other targets is no start


def test_the_joint_norm_teacher_is_the_streams_summed_z_scored_norms() -> None:
    """Each stream's step norms z-scored over the clip, summed, z-scored: the step where both
    streams are strongest leads, one stream's units do not matter, and a clip with no
    change in either stream has no target (zeros, skipped)."""
    rng = np.random.default_rng(0)
    visual = rng.uniform(0.5, 1.0, (12, V)).astype(np.float32)
    motion = rng.uniform(0.5, 1.0, (12, M)).astype(np.float32)
    visual[7] *= 3.0
    motion[7] *= 3.0
    target = joint_norm_targets([visual, motion])
    assert target.dtype == np.float32 and int(np.argmax(target)) == 7
    assert abs(target.mean()) < 1e-6 and abs(target.std() - 1.0) < 1e-5
    np.testing.assert_allclose(joint_norm_targets([visual, 1000.0 * motion]), target,
                               atol=1e-5)
    still = np.zeros((12, M), np.float32)  # no motion: the visual stream alone decides
    assert int(np.argmax(joint_norm_targets([visual, still]))) == 7
    flat = np.ones((12, V), np.float32)
    assert not joint_norm_targets([flat, still]).any()
    # an almost still shot's motion (rounding-level changes) adds nothing either
    jitter = 0.5 + 1e-6 * rng.standard_normal((12, M)).astype(np.float32)
    np.testing.assert_array_equal(joint_norm_targets([visual, jitter]),
                                  joint_norm_targets([visual, still]))


def test_the_decision_term_is_least_squares_over_every_pair() -> None:
    """``decision_term`` inside ``ridge_solve`` gives the weights of an explicit fit: the
    teacher's rows, plus every (kept - rejected) pair of a clip as a row whose target is the
    margin, the clip's pairs weighted to count as ``weight`` times its steps."""
    rng = np.random.default_rng(4)
    units = [rng.standard_normal((9, 5)), rng.standard_normal((7, 5))]
    targets = [rng.standard_normal(9), rng.standard_normal(7)]
    labels = {0: np.array([1, 1, -1, 0, 0, -1, -1, 0, 1]), 1: np.zeros(7, int)}
    weight, margin, ridge = 3.0, 2.0, 0.1
    _, w = ridge_solve(np.concatenate(units), np.concatenate(targets), ridge,
                       extra=decision_term(units, labels, weight, margin))
    x = np.concatenate(units)
    centred, y = x - x.mean(0), np.concatenate(targets)
    kept, rejected = units[0][labels[0] > 0], units[0][labels[0] < 0]
    pairs = (kept[:, None] - rejected[None]).reshape(-1, 5)
    scale = np.sqrt(weight * len(units[0]) / len(pairs))
    rows = np.concatenate([centred, scale * pairs, np.sqrt(ridge * len(x)) * np.eye(5)])
    wanted = np.concatenate([y - y.mean(), np.full(len(pairs), scale * margin), np.zeros(5)])
    expected = np.linalg.lstsq(rows, wanted, rcond=None)[0]
    np.testing.assert_allclose(w, expected, atol=1e-9)


def test_a_new_fit_replaces_the_record_of_an_earlier_one() -> None:
    earlier = {"visual_s_std": 0.1, "ridge_head_toward_start": 1.0,
               "ridge_head_decision_clips": 2.0, "ridge_head_context": 3.0}
    fit = {"ridge_head_ridge_per_step": 0.1, "ridge_head_teacher_corr": 0.5}
    assert with_fit(earlier, fit) == {"visual_s_std": 0.1, **fit}


def test_a_refit_toward_the_fitted_head_bends_it_instead_of_replacing_it() -> None:
    """``toward_current``: the ridge pulls toward the head's own weights, so a refit on new
    clips lands between the start head and a fresh fit on those clips; an unfitted head
    has nothing to pull toward and gets the fresh fit."""
    first, _ = _dataset(0, 6)
    second, _ = _dataset(1, 2, noise=0.6)
    start = RASL(CONFIG)
    fit_ridge_head(start, first)
    w_start = start.axis_head.weight.clone()
    fresh = RASL(CONFIG)
    fit_ridge_head(fresh, second)
    bent = RASL(CONFIG)
    bent.load_state_dict(start.state_dict())
    record = fit_ridge_head(bent, second, toward_current=True)
    assert record["ridge_head_toward_start"] == 1.0
    to_start = float(torch.linalg.norm(bent.axis_head.weight - w_start))
    assert 0 < to_start < float(torch.linalg.norm(fresh.axis_head.weight - w_start))
    unfitted = RASL(CONFIG)
    assert "ridge_head_toward_start" not in fit_ridge_head(unfitted, second,
                                                           toward_current=True)
    assert torch.equal(unfitted.axis_head.weight, fresh.axis_head.weight)


def test_the_streams_must_make_up_the_rows() -> None:
    rows = np.zeros((5, V + M), np.float32)
    with pytest.raises(DatasetError, match="do not make"):
        FeatureDataset({"c": (rows, None)}, stream_widths=(V, M + 1))
    assert FeatureDataset({"c": (rows, None)}).stream_widths == (V + M,)


def test_the_fit_refuses_another_teacher_or_layout() -> None:
    dataset, _ = _dataset(0, 3)
    main_axis_data = FeatureDataset({n: (v, None) for n, v in zip(dataset.names, dataset.visual,
                                                                   strict=True)})
    with pytest.raises(ModelError, match="joint_axis teacher"):
        fit_ridge_head(RASL(CONFIG), main_axis_data)
    dataset.stream_widths = (V + M,)
    with pytest.raises(ModelError, match="1 stream"):
        fit_ridge_head(RASL(CONFIG), dataset)


@pytest.mark.parametrize("config", [CONFIG, CONTEXT], ids=["step", "context"])
def test_the_head_travels_in_the_checkpoint_and_the_onnx_graph(tmp_path: Path,
                                                               config: RASLConfig) -> None:
    dataset, _ = _dataset(0, 4)
    model = RASL(config).eval()
    fit_ridge_head(model, dataset)
    path = save_checkpoint(tmp_path / "m.safetensors", model,
                           CheckpointMeta(config=config, backbone_id="made", step_seconds=1.0))
    loaded, meta = load_checkpoint(path)
    visual = np.concatenate([dataset.visual[3], dataset.visual[2]])  # 2+ windows, a filled one
    np.testing.assert_array_equal(raw_scores(loaded, visual), raw_scores(model, visual))
    pytest.importorskip("onnxscript")
    from highlight_studio.model.onnx_export import export_scorer
    from highlight_studio.model.onnx_scorer import OnnxScorer, ScorerSpec, graph_path

    export_scorer(loaded, ScorerSpec.of(path, meta.config), graph_path(path))
    onnx_scores = raw_scores(OnnxScorer(path, meta), visual)
    np.testing.assert_allclose(onnx_scores, raw_scores(model, visual), atol=1e-4)


def _folder(root: Path, anno: dict | None) -> Path:
    rng = np.random.default_rng(3)
    for stream in ("visual", "motion"):
        (root / stream).mkdir(parents=True)
    for i in range(4):
        visual, motion, _ = _clip(rng, 15 + 4 * i)
        np.save(root / "visual" / f"v{i}.npy", visual.astype(np.float16))
        np.save(root / "motion" / f"v{i}.npy", motion.astype(np.float16))
    if anno is not None:
        (root / "anno.json").write_text(json.dumps(anno))
    return root


@pytest.mark.parametrize(("context", "teacher"),
                         [(0, "joint_axis"), (2, "joint_axis"), (0, "joint_norm")])
def test_fit_head_never_reads_labels_or_annotators(tmp_path: Path, capsys, context: int,
                                                   teacher: str) -> None:
    """The same features with labels, without anno.json, and with labels flipped and
    annotator scores added give bit-identical heads: the teachers read features only (with
    and without temporal context)."""
    lengths = [15 + 4 * i for i in range(4)]
    labelled = {"protocol": "yth", "videos": {
        f"v{i}": {"domain": "d", "labels": [j % 2 for j in range(n)]}
        for i, n in enumerate(lengths)}}
    poisoned = {"protocol": "yth", "videos": {
        f"v{i}": {"domain": "d", "labels": [1 - j % 2 for j in range(n)],
                  "annotators": np.random.default_rng(i).integers(1, 6, (n, 3)).tolist()}
        for i, n in enumerate(lengths)}}
    start = tmp_path / "start.safetensors"
    base = RASL(CONFIG)
    save_checkpoint(start, base, CheckpointMeta(config=CONFIG, backbone_id="made",
                                                step_seconds=1.0))
    heads = []
    for name, anno in (("labelled", labelled), ("none", None), ("poisoned", poisoned)):
        folder = _folder(tmp_path / name, anno)
        out = tmp_path / f"{name}.safetensors"
        assert main(["fit-head", "--features", str(folder), "--init", str(start),
                     "--out", str(out), "--context", str(context),
                     "--axis-teacher", teacher]) == 0
        heads.append(load_file(str(out)))
    for key in heads[0]:
        assert np.array_equal(heads[0][key], heads[1][key]), key
        assert np.array_equal(heads[0][key], heads[2][key]), key
    assert heads[0]["axis_head.weight"].any()  # fitted, so equality means something
    assert ("axis_head.context_weight" in heads[0]) == bool(context)
    meta = read_meta(tmp_path / "labelled.safetensors")
    assert meta.config.axis_head == "ridge" and meta.diagnostics["ridge_head_teacher_corr"] > 0
    assert meta.config.ridge_context == context and meta.config.axis_teacher == teacher
    # the body's weights are the start model's
    assert np.array_equal(heads[0]["visual.w.weight"], base.visual.w.weight.detach().numpy())
    assert main(["fit-head", "--features", str(tmp_path / "none"), "--init", str(start),
                 "--out", str(tmp_path / "labelled.safetensors")]) == 1
    assert "exists already" in capsys.readouterr().err


def test_fit_head_refuses_a_folder_without_motion(tmp_path: Path, capsys) -> None:
    folder = _folder(tmp_path / "f", None)
    shutil.rmtree(folder / "motion")
    start = tmp_path / "start.safetensors"
    save_checkpoint(start, RASL(CONFIG), CheckpointMeta(config=CONFIG, backbone_id="made",
                                                        step_seconds=1.0))
    assert main(["fit-head", "--features", str(folder), "--init", str(start),
                 "--out", str(tmp_path / "out")]) == 1
    assert "has no motion/ folder" in capsys.readouterr().err


def test_a_clip_without_motion_is_scored_by_its_visual_stream() -> None:
    """Zeros stand in for the motion of a clip that has none (``features.motion.with_motion``):
    the curve is then the visual part's alone, not noise and not flat."""
    dataset, _ = _dataset(0, 6)
    model = RASL(CONFIG).eval()
    fit_ridge_head(model, dataset)
    clip = dataset.visual[5].copy()
    clip[:, V:] = 0.0
    head = model.axis_head
    assert isinstance(head, RidgeHead)
    visual = clip[:, :V] / np.linalg.norm(clip[:, :V], axis=1, keepdims=True)
    expected = (visual - head.mean[:V].numpy()) @ head.weight[:V].numpy()
    scores = raw_scores(model, clip)
    assert np.ptp(scores) > 0
    np.testing.assert_allclose(scores - scores.mean(), expected - expected.mean(), atol=1e-4)


def test_fine_tuning_on_clips_without_its_teacher_keeps_the_fitted_head(tmp_path: Path
                                                                        ) -> None:
    """Video clips carry no joint_axis teacher (no motion): fine-tuning a ridge model on them
    keeps the head it was shipped with; an unfitted ridge model is refused before training."""
    from highlight_studio.training.finetune import FineTuneRequest, train_on
    from highlight_studio.training.options import TrainOptions

    dataset, _ = _dataset(0, 4)
    model = RASL(CONFIG)
    fit_ridge_head(model, dataset)
    start = save_checkpoint(tmp_path / "start.safetensors", model,
                            CheckpointMeta(config=CONFIG, backbone_id="made", step_seconds=1.0))
    videos = FeatureDataset({n: (v, None) for n, v in zip(dataset.names, dataset.visual,
                                                          strict=True)})
    options = TrainOptions(steps=2, log_every=1)
    request = FineTuneRequest(inputs=(), out=str(tmp_path / "tuned.safetensors"),
                              init=str(start), options=options)
    list(train_on(request, videos, "made", 1.0))
    tuned = load_file(str(tmp_path / "tuned.safetensors"))
    np.testing.assert_array_equal(tuned["axis_head.weight"], model.axis_head.weight.numpy())
    scratch = FineTuneRequest(inputs=(), out=str(tmp_path / "new.safetensors"), options=options,
                              window=8,
                              config={"axis_head": "ridge", "axis_teacher": "joint_axis",
                                      "visual_inputs": "visual+motion", "k": 2})
    with pytest.raises(ModelError, match="joint_axis teacher's targets"):
        list(train_on(scratch, videos, "made", 1.0))
