"""Fine-tuning from the editor's decisions (training/from_decisions.py): on a made clip where the
editor's choice is known, the fine-tuned model ranks the chosen steps above the rejected ones,
where the start model ranked them below; and a profile that cannot teach is refused."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from tinytrain import STEP, tiny_clips, tiny_ridge_motion_model, tiny_start_model

from highlight_studio.errors import DatasetError
from highlight_studio.events import Cancelled, CancelToken
from highlight_studio.features.cache import FeatureCache
from highlight_studio.features.extract import ClipFeatures, extract_features
from highlight_studio.features.motion import MotionConfig
from highlight_studio.features.visual import create_backbone
from highlight_studio.feedback.adapt import clip_key
from highlight_studio.feedback.learner import step_features
from highlight_studio.feedback.profiles import new_profile, save_profile
from highlight_studio.feedback.store import ClipFeedback
from highlight_studio.model.checkpoint import load_checkpoint
from highlight_studio.model.description import read_meta
from highlight_studio.model.inference import raw_scores
from highlight_studio.scoring import model_features
from highlight_studio.training.finetune import fine_tune
from highlight_studio.training.from_decisions import READOUT, decisions_request, window_around
from highlight_studio.training.options import TrainOptions
from highlight_studio.training.runs import (
    FineTuneRequest,
    FineTuneResult,
    named_request,
    pending_runs,
)
from highlight_studio.training.trainer import TrainEvent

torch.set_num_threads(1)
BACKBONE = "test_tiny:seed0"


def _visual(path: Path) -> np.ndarray:
    """The clip's features as fine-tuning extracts them (and caches them for it)."""
    backbone = create_backbone("test_tiny", device="cpu")
    out = [item for item in extract_features(path, backbone, STEP, FeatureCache())
           if isinstance(item, ClipFeatures)]
    return out[0].visual


def _profile(name: str, path: Path, visual: np.ndarray, labels: np.ndarray) -> None:
    feedback = ClipFeedback.from_labels(clip_key(path, BACKBONE, STEP), path.name, BACKBONE,
                                        STEP, labels, step_features(visual))
    profile = new_profile(name, BACKBONE, STEP, visual.shape[1])
    save_profile(profile.with_clip(feedback))


def _decided_footage(tmp_path: Path, name: str, n: int) -> tuple[Path, Path]:
    """A made clip, a start model and a profile ``name`` keeping the clip's first ``n`` steps
    and rejecting its last ``n``: (clip, start model)."""
    clip, _ = tiny_clips(tmp_path / "footage")
    start = tiny_start_model(tmp_path / "start")
    visual = _visual(clip)
    labels = np.zeros(len(visual), dtype=np.int8)
    labels[:n], labels[-n:] = 1, -1
    _profile(name, clip, visual, labels)
    return clip, start


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Share of (kept, rejected) pairs the scores order kept first."""
    kept, rejected = scores[labels > 0], scores[labels < 0]
    return float(np.mean(kept[:, None] > rejected[None, :]))


def test_fine_tuning_from_decisions_ranks_the_chosen_steps_higher(tmp_path) -> None:
    clip, _ = tiny_clips(tmp_path / "footage")
    start = tiny_start_model(tmp_path / "start")
    visual = _visual(clip)
    before = raw_scores(load_checkpoint(start)[0], visual)
    # The editor's choice is known and against the start model: its 3 lowest steps kept,
    # its 3 highest rejected.
    order = np.argsort(before, kind="stable")
    labels = np.zeros(len(before), dtype=np.int8)
    labels[order[:3]], labels[order[-3:]] = 1, -1
    assert _auc(before, labels) == 0.0
    _profile("Made clip", clip, visual, labels)

    request = decisions_request(FineTuneRequest(
        inputs=(str(clip),), out=str(tmp_path / "out" / "mine"), init=str(start),
        options=TrainOptions(steps=40, lr=3e-3, batch_size=2, log_every=10)), "Made clip")
    events = list(fine_tune(request))

    result = events[-1]
    assert isinstance(result, FineTuneResult)
    logged = [e for e in events if isinstance(e, TrainEvent)]
    assert logged and all("decisions" in e.diagnostics for e in logged)
    assert logged[-1].diagnostics["decisions"] < logged[0].diagnostics["decisions"]
    tuned = load_checkpoint(result.checkpoint)[0]
    assert tuned.config.clip_readout == READOUT
    after = raw_scores(tuned, visual)
    assert _auc(after, labels) > 0.5, (before, after, labels)
    assert "profile **Made clip**" in result.card.read_text()
    assert read_meta(result.checkpoint).train_step == 40


def test_a_ridge_motion_model_learns_decisions_in_its_head_refit(tmp_path) -> None:
    """The default model's recipe (a ridge head over frames and motion) has no gradient to
    train: the decisions enter its closed-form refit as a ranking term, so the chosen steps
    rise where the start model ranked them last. The profile holds the frames' features
    (as the window makes it), not the model's wider input."""
    motion = MotionConfig(grid=2, bins=4)
    clip, _ = tiny_clips(tmp_path / "footage")
    start, _ = tiny_ridge_motion_model(tmp_path / "start", motion)
    backbone = create_backbone("test_tiny", device="cpu")
    [features] = [item for item in extract_features(clip, backbone, STEP, FeatureCache(),
                                                    motion=motion)
                  if isinstance(item, ClipFeatures)]
    rows = model_features(features, motion)
    before = raw_scores(load_checkpoint(start)[0], rows)
    order = np.argsort(before, kind="stable")
    labels = np.zeros(len(before), dtype=np.int8)
    labels[order[:2]], labels[order[-2:]] = 1, -1
    assert _auc(before, labels) == 0.0
    _profile("Ridge clip", clip, features.visual, labels)
    request = decisions_request(FineTuneRequest(
        inputs=(str(clip),), out=str(tmp_path / "out" / "mine"), init=str(start),
        options=TrainOptions(steps=2, batch_size=2, log_every=1)), "Ridge clip")
    result = list(fine_tune(request))[-1]
    assert isinstance(result, FineTuneResult)
    tuned, meta = load_checkpoint(result.checkpoint)
    assert meta.diagnostics["ridge_head_decision_clips"] == 1.0
    assert _auc(raw_scores(tuned, rows), labels) == 1.0
    plain = FineTuneRequest(inputs=(str(clip),), out=str(tmp_path / "out" / "plain"),
                            init=str(start), options=TrainOptions(steps=2, batch_size=2))
    unmoved = load_checkpoint(list(fine_tune(plain))[-1].checkpoint)[0]
    assert _auc(raw_scores(unmoved, rows), labels) < 1.0  # the decisions did it


def test_train_command_learns_a_profiles_decisions(tmp_path, capsys) -> None:
    """``train --profile`` is the panel's "from my decisions" without the window; a missing
    profile, or one asked of a features folder, is refused before any work."""
    from highlight_studio.cli import main

    clip, start = _decided_footage(tmp_path, "Cli clip", 2)
    out = tmp_path / "out" / "cli.safetensors"
    common = ["train", str(clip), "--init", str(start), "--out", str(out), "--steps", "4",
              "--batch-size", "2", "--log-every", "2"]
    assert main([*common, "--profile", "Nobody"]) != 0
    assert "No profile named 'Nobody'" in capsys.readouterr().err
    assert not out.exists()
    assert main(["train", "--features", str(tmp_path), "--out", str(out),
                 "--profile", "Cli clip"]) != 0
    assert "not --features" in capsys.readouterr().err

    assert main([*common, "--profile", "Cli clip"]) == 0
    assert read_meta(out).config.clip_readout == READOUT
    assert "profile **Cli clip**" in out.with_name("cli.card.md").read_text()


def test_a_profile_without_decisions_on_these_clips_is_refused(tmp_path) -> None:
    clip, other = tiny_clips(tmp_path / "footage")
    visual = _visual(other)
    labels = np.zeros(len(visual), dtype=np.int8)
    labels[:2], labels[-2:] = 1, -1
    _profile("Elsewhere", other, visual, labels)  # decisions on another clip only
    request = decisions_request(FineTuneRequest(
        inputs=(str(clip),), out=str(tmp_path / "out" / "mine"),
        init=str(tiny_start_model(tmp_path / "start")),
        options=TrainOptions(steps=2, batch_size=2)), "Elsewhere")
    with pytest.raises(DatasetError, match="no clip among these"):
        list(fine_tune(request))


@pytest.mark.parametrize(("n", "at"), [(20, 0), (20, 10), (20, 19), (5, 3)])
def test_a_decided_step_sits_inside_its_window(n: int, at: int) -> None:
    idx, position = window_around(n, 8, at)
    assert len(idx) == 8 and idx[position] == at and idx.min() >= 0 and idx.max() < n


def test_a_cancelled_decisions_run_resumes_to_the_unbroken_runs_model(tmp_path) -> None:
    """The decision term draws from the run's seed and the step number, so a run cancelled
    after a checkpoint and resumed (as the panel does after a restart) ends where an unbroken
    one does, and still learns the profile."""
    clip, start = _decided_footage(tmp_path, "Resumed", 3)
    options = TrainOptions(steps=8, batch_size=2, log_every=2, checkpoint_every=4)
    unbroken = decisions_request(FineTuneRequest(
        inputs=(str(clip),), out=str(tmp_path / "unbroken"), init=str(start),
        options=options), "Resumed")
    list(fine_tune(unbroken))

    request = decisions_request(named_request("mine", [clip], options, init=str(start)),
                                "Resumed")
    cancel = CancelToken()
    with pytest.raises(Cancelled):
        for event in fine_tune(request, cancel):
            if isinstance(event, TrainEvent) and event.checkpoint is not None:
                cancel.cancel()
    [pending] = pending_runs()
    assert pending.request.profile == "Resumed"  # run.json keeps the profile
    list(fine_tune(replace(pending.request, resume=True)))
    resumed = load_checkpoint(request.out)[0].state_dict()
    whole = load_checkpoint(tmp_path / "unbroken")[0].state_dict()
    for name, value in resumed.items():
        torch.testing.assert_close(value, whole[name], msg=name)
