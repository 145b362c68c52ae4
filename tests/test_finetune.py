"""fine_tune(): own footage in, a named model with its card out; cancel, resume, pause and the
errors a user can meet (nothing usable, full disk, full GPU) on tiny clips and a tiny model."""

from __future__ import annotations

import dataclasses
import errno
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from tinytrain import CONFIG, STEP, tiny_clips, tiny_ridge_motion_model, tiny_start_model

from highlight_studio.cli import main
from highlight_studio.errors import DatasetError, ModelError
from highlight_studio.events import Cancelled, CancelToken, PauseToken, Progress
from highlight_studio.features.cache import FeatureCache
from highlight_studio.features.motion import MotionConfig
from highlight_studio.model.checkpoint import load_checkpoint, save_checkpoint
from highlight_studio.model.description import CheckpointMeta, read_meta
from highlight_studio.model.rasl import RASL
from highlight_studio.scoring import Analysis, analyze
from highlight_studio.training.datasets import FeatureDataset
from highlight_studio.training.finetune import fine_tune, train_on
from highlight_studio.training.inputs import ClipInfo, survey, total_minutes
from highlight_studio.training.options import TrainOptions
from highlight_studio.training.runs import (
    FineTuneRequest,
    FineTuneResult,
    named_request,
    pending_runs,
)
from highlight_studio.training.trainer import TrainEvent

torch.set_num_threads(1)  # tiny tensors: extra threads only add contention on shared cores
OPTIONS = TrainOptions(steps=6, batch_size=2, log_every=2, checkpoint_every=2)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tiny_clips(tmp_path_factory.mktemp("footage"))


@pytest.fixture
def start(tmp_path: Path) -> Path:
    return tiny_start_model(tmp_path / "start")


def _drain(events) -> list[object]:
    return list(events)


def test_fine_tune_writes_the_model_and_its_card(clips, start, tmp_path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    request = FineTuneRequest(
        inputs=(*map(str, clips), str(broken)), out=str(tmp_path / "out" / "mine"),
        work=str(tmp_path / "run" / "run"), init=str(start), options=OPTIONS,
        config={"k": 1, "mask_ratio": 0.25, "use_scl": False})
    events = _drain(fine_tune(request))

    fractions = [e.done / e.total for e in events if isinstance(e, Progress)]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    infos = {e.path.name: e for e in events if isinstance(e, ClipInfo)}
    assert infos["a.mp4"].has_audio and not infos["b.mp4"].has_audio
    assert not infos["broken.mp4"].usable and infos["a.mp4"].usable
    assert [e.step for e in events if isinstance(e, TrainEvent)] == [2, 4, 6]
    result = events[-1]
    assert isinstance(result, FineTuneResult)
    assert result.checkpoint == tmp_path / "out" / "mine.safetensors"

    meta = read_meta(result.checkpoint)  # the start model's features, the asked-for changes
    assert meta.backbone_id == "test_tiny:seed0" and meta.step_seconds == STEP
    assert (meta.config.k, meta.config.mask_ratio) == (1, 0.25)
    assert not meta.config.use_scl and meta.config.use_kpoint_loss and meta.train_step == 6
    assert meta.training_data["clips"] == 2 and meta.training_data["clips_with_audio"] == 1
    assert len(list(FeatureCache().root.rglob("*.npz"))) == 2  # extracted once, kept

    card = result.card.read_text()
    assert result.card == tmp_path / "out" / "mine.card.md"
    for text in ("| a.mp4 | 0:02 min | yes |", "| b.mp4 | 0:02 min | no (visual losses only) |",
                 "Total: 0:04 min", "k 1, mask ratio 0.25", "losses: kpoint, aux",
                 f"continued from **{start}**", "device cpu", "training time", "| total |",
                 "## Diagnostics"):
        assert text in card, text
    assert f"| total | {meta.final_losses['total']:.4f} |" in card


def test_survey_lists_duration_audio_and_problems(clips, tmp_path) -> None:
    broken = tmp_path / "broken.mov"
    broken.write_bytes(b"\x00" * 64)
    infos = [e for e in survey([*clips, broken]) if isinstance(e, ClipInfo)]
    assert [round(i.duration, 2) for i in infos[:2]] == [2.0, 2.0]
    assert [i.has_audio for i in infos] == [True, False, False]
    assert infos[2].problem and total_minutes(infos) == pytest.approx(4 / 60)


def test_no_usable_clips_is_explained(tmp_path) -> None:
    broken = tmp_path / "only.mp4"
    broken.write_bytes(b"not a video")
    request = FineTuneRequest(inputs=(str(tmp_path),), out=str(tmp_path / "m"), options=OPTIONS,
                              backbone="test_tiny")
    with pytest.raises(DatasetError, match=r"(?s)None of the clips can be used.*only\.mp4: it is"):
        _drain(fine_tune(request))


def test_cancel_keeps_the_checkpoint_and_resume_matches_an_unbroken_run(clips, start,
                                                                       tmp_path) -> None:
    options = dataclasses.replace(OPTIONS, steps=8, checkpoint_every=4)
    unbroken = FineTuneRequest(inputs=tuple(map(str, clips)), out=str(tmp_path / "unbroken"),
                               init=str(start), options=options)
    _drain(fine_tune(unbroken))

    request = named_request("mine", clips, options, init=str(start))
    cancel = CancelToken()
    with pytest.raises(Cancelled):
        for event in fine_tune(request, cancel):
            if isinstance(event, TrainEvent) and event.checkpoint is not None:
                cancel.cancel()  # right after the step-4 checkpoint
    assert not Path(request.out).exists()
    [pending] = pending_runs()  # what the panel offers after a restart
    assert (pending.name, pending.step, pending.request) == ("mine", 4, request)
    with pytest.raises(DatasetError, match="unfinished run named 'mine'"):
        named_request("mine", clips, options)  # a new run would throw its progress away

    events = _drain(fine_tune(dataclasses.replace(pending.request, resume=True)))
    assert [e.step for e in events if isinstance(e, TrainEvent)] == [6, 8]
    assert pending_runs() == []
    resumed, _ = load_checkpoint(request.out)
    whole, _ = load_checkpoint(tmp_path / "unbroken")
    for (name, a), b in zip(resumed.state_dict().items(), whole.state_dict().values(),
                            strict=True):
        torch.testing.assert_close(a, b, msg=name)
    log = (Path(request.work).parent / "run.safetensors.log.jsonl").read_text().splitlines()
    assert len(log) == 4  # steps 2, 4 before the cancel, 6, 8 after
    with pytest.raises(ModelError, match="has all 8 steps already: the run is finished"):
        _drain(fine_tune(dataclasses.replace(pending.request, resume=True)))  # nothing to do


def _features(n_clips: int = 2) -> FeatureDataset:
    rng = np.random.default_rng(0)
    return FeatureDataset({f"c{i}": (rng.random((12, 16), np.float32),
                                     rng.random((12, 16), np.float32)) for i in range(n_clips)})


def _in_memory(tmp_path: Path, **options) -> FineTuneRequest:
    return FineTuneRequest(inputs=(), out=str(tmp_path / "m"), window=8, config={"k": 2},
                           options=dataclasses.replace(OPTIONS, **options))


def test_pause_holds_the_loop_between_steps(tmp_path) -> None:
    pause, cancel = PauseToken(), CancelToken()
    pause.pause()
    events = train_on(_in_memory(tmp_path), _features(), "tiny", 1.0, cancel, pause)
    got: list[object] = []
    thread = threading.Thread(target=lambda: got.append(next(events)))
    thread.start()
    thread.join(0.5)
    assert thread.is_alive() and got == []  # blocked before its first step
    pause.resume()
    thread.join(10)
    assert isinstance(got[0], TrainEvent) and got[0].step == 2
    assert pause.paused_seconds >= 0.3  # the model is built before the first wait
    pause.pause()
    cancel.cancel()  # a paused run still cancels
    with pytest.raises(Cancelled):
        next(events)


@pytest.mark.parametrize(("code", "message"), [(errno.ENOSPC, "disk space"),
                                               (errno.EROFS, "read-only")])
def test_full_disk_is_explained_and_the_last_checkpoint_kept(tmp_path, monkeypatch, code: int,
                                                             message: str) -> None:
    from highlight_studio.model import checkpoint

    real_save, saves = checkpoint.save_file, []

    def save_file(*args, **kwargs) -> None:
        saves.append(1)
        if len(saves) == 2:
            raise OSError(code, "cannot write")
        real_save(*args, **kwargs)

    monkeypatch.setattr(checkpoint, "save_file", save_file)
    request = _in_memory(tmp_path)
    with pytest.raises(ModelError, match=rf"{message}.*step 2 is kept"):
        _drain(train_on(request, _features(), "tiny", 1.0))
    assert read_meta(request.checkpoint).train_step == 2  # the earlier file is whole


def test_a_resumed_log_drops_the_steps_the_cancel_lost(tmp_path) -> None:
    request = _in_memory(tmp_path, steps=8, checkpoint_every=4)
    cancel = CancelToken()
    with pytest.raises(Cancelled):
        for event in train_on(request, _features(), "tiny", 1.0, cancel):
            if event.step == 6:  # logged, but after the step-4 checkpoint: lost
                cancel.cancel()
    _drain(train_on(dataclasses.replace(request, resume=True), _features(), "tiny", 1.0))
    log = request.checkpoint.with_name(request.checkpoint.name + ".log.jsonl")
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [2, 4, 6, 8]


def test_a_start_model_for_other_features_is_refused(start, tmp_path) -> None:
    """The tiny start model works on 256-wide test_tiny features at 0.25 s steps."""
    request = dataclasses.replace(_in_memory(tmp_path), init=str(start), window=None, config={})
    with pytest.raises(ModelError, match="cannot be fine-tuned on these features"):
        _drain(train_on(request, _features(), "tiny", 1.0))


def test_out_of_gpu_memory_is_explained(tmp_path, monkeypatch) -> None:
    from highlight_studio.training import trainer

    real_loss, calls = trainer.total_loss, []

    def total_loss(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(trainer, "total_loss", total_loss)
    with pytest.raises(ModelError, match=r"Out of GPU memory at batch size 2.*step 2 is kept"):
        _drain(train_on(_in_memory(tmp_path), _features(), "tiny", 1.0))


def test_cli_init_runs_the_same_path_and_takes_the_start_models_features(clips, start,
                                                                          tmp_path) -> None:
    out = tmp_path / "cli.safetensors"
    (tmp_path / "cli.md").write_text("a card written by hand")
    assert main(["train", *map(str, clips), "--init", str(start), "--out", str(out),
                 "--steps", "2", "--batch-size", "2"]) == 0
    meta = read_meta(out)
    assert meta.backbone_id == "test_tiny:seed0" and meta.step_seconds == STEP
    card = (tmp_path / "cli.card.md").read_text()
    assert "| b.mp4 | 0:02 min | no (visual losses only) |" in card
    assert (tmp_path / "cli.md").read_text() == "a card written by hand"


def test_names_that_cannot_be_files_are_refused(tmp_path) -> None:
    for name in ("../escape", "default", "", "a/b"):
        with pytest.raises(DatasetError):
            named_request(name, [tmp_path], OPTIONS)
    with pytest.raises(DatasetError, match="ships with the app"):  # would be found first
        named_request("rasl-yth-i3d", [tmp_path], OPTIONS)


def test_a_request_survives_its_run_json_with_every_field() -> None:
    """run.json keeps a named run's request: every field, the model settings included, comes
    back; a run.json written before the settings were one dict (each its own field, the
    switchable losses as a list of names) still loads."""
    import json

    request = FineTuneRequest(inputs=("a.mp4", "folder"), out="m.safetensors", init="default",
                              options=OPTIONS, fp16=True,
                              config={"k": 4, "use_aux_task": False, "clip_readout": "main_axis"})
    data = json.loads(json.dumps(dataclasses.asdict(request)))
    assert FineTuneRequest.from_dict(data) == request
    del data["config"]
    earlier = {**data, "k": 4, "mask_ratio": None, "losses": ["kpoint", "scl"],
               "clip_readout": "main_axis"}
    assert FineTuneRequest.from_dict(earlier).config == {
        "k": 4, "clip_readout": "main_axis", "use_kpoint_loss": True, "use_scl": True,
        "use_aux_task": False}


def test_a_setting_that_is_not_a_model_setting_is_refused_at_once() -> None:
    with pytest.raises(ModelError, match=r"'mask_ration' is not a model setting \(did you mean "
                                         r"'mask_ratio'\?\)"):
        FineTuneRequest(inputs=(), out="m", config={"mask_ration": 0.3})
    with pytest.raises(ModelError, match="'zzz' is not a model setting; "):
        FineTuneRequest(inputs=(), out="m", config={"zzz": 1})


def test_a_setting_that_reshapes_the_start_model_is_explained(start, tmp_path) -> None:
    request = FineTuneRequest(inputs=(), out=str(tmp_path / "m"), init=str(start),
                              options=OPTIONS, config={"proj_dim": 8})
    dataset = FeatureDataset({f"c{i}": (np.ones((12, 256), np.float32), None) for i in range(2)})
    with pytest.raises(ModelError, match=r"weights do not fit the changed settings \(proj_dim\)"):
        _drain(train_on(request, dataset, "test_tiny:seed0", STEP))


def test_a_run_resumes_only_on_the_clips_it_started_with(tmp_path) -> None:
    request = _in_memory(tmp_path, steps=8, checkpoint_every=4)
    cancel = CancelToken()
    with pytest.raises(Cancelled):
        for event in train_on(request, _features(), "tiny", 1.0, cancel):
            if event.checkpoint is not None:
                cancel.cancel()
    with pytest.raises(ModelError, match="a resumed run continues on the same clips"):
        _drain(train_on(dataclasses.replace(request, resume=True), _features(3), "tiny", 1.0))
    events = _drain(train_on(dataclasses.replace(request, resume=True), _features(), "tiny",
                             1.0))
    assert events[-1].step == 8  # the same clips: it goes on


def test_a_model_that_reads_motion_fine_tunes_on_the_clips_motion_stream(clips, tmp_path) -> None:
    """A visual+motion start model gets each clip's motion stream beside its frames' features,
    made with the model's own motion settings (not the defaults), and keeps those settings, so
    analysis with the fine-tuned model makes the same stream."""
    motion = MotionConfig(grid=2, bins=4)  # 24 floats a step; the defaults make 136
    config = dataclasses.replace(CONFIG, visual_dim=256 + motion.dim,
                                 visual_inputs="visual+motion")
    torch.manual_seed(0)
    start = save_checkpoint(tmp_path / "moving", RASL(config),
                            CheckpointMeta(config=config, backbone_id="test_tiny:seed0",
                                           step_seconds=STEP, motion=motion.as_dict()))
    request = FineTuneRequest(inputs=tuple(map(str, clips)), out=str(tmp_path / "tuned"),
                              init=str(start), options=OPTIONS)
    result = _drain(fine_tune(request))[-1]
    assert isinstance(result, FineTuneResult)
    meta = read_meta(result.checkpoint)
    assert meta.config.visual_inputs == "visual+motion" and meta.motion == motion.as_dict()
    [analysis] = [e for e in analyze(clips[0], checkpoint=result.checkpoint, device="cpu")
                  if isinstance(e, Analysis)]
    assert analysis.scores.shape == (8,)  # scored on frames and motion, 280 wide


def test_a_stream_teacher_refits_the_ridge_head_on_the_clips_own_streams(clips,
                                                                        tmp_path) -> None:
    """A visual+motion model whose ridge head learns ``joint_norm`` (the default model's
    recipe): fine-tuning on videos makes that teacher from each clip's frames and motion and
    refits the head toward the start model's, so one's own footage changes the curve; the
    same through the CLI for a new model."""
    start, model = tiny_ridge_motion_model(tmp_path / "start", MotionConfig(grid=2, bins=4))
    request = FineTuneRequest(inputs=tuple(map(str, clips)), out=str(tmp_path / "tuned"),
                              init=str(start), options=OPTIONS)
    result = _drain(fine_tune(request))[-1]
    assert isinstance(result, FineTuneResult)
    tuned, meta = load_checkpoint(result.checkpoint)
    assert meta.diagnostics["ridge_head_toward_start"] == 1.0
    assert meta.diagnostics["ridge_head_steps"] == 16.0  # both clips' 8 steps
    assert not torch.equal(tuned.axis_head.weight, model.axis_head.weight)
    out = tmp_path / "new.safetensors"
    assert main(["train", *map(str, clips), "--out", str(out), "--steps", "2",
                 "--batch-size", "2", "--backbone", "test_tiny", "--step", str(STEP),
                 "--window", "24", "--visual-inputs", "visual+motion", "--axis-head", "ridge",
                 "--axis-teacher", "joint_norm"]) == 0
    new, new_meta = load_checkpoint(out)
    assert new_meta.config.axis_teacher == "joint_norm" and new.axis_head.fitted
    assert "ridge_head_toward_start" not in new_meta.diagnostics  # nothing to pull toward


def test_a_motion_teacher_for_a_frames_only_model_is_refused_before_any_clip_is_read(
        clips, start, tmp_path, monkeypatch) -> None:
    """Asking a frames-only run for a teacher that reads motion, or a frames-only ridge
    model for decisions its refit cannot make, is said at once, not after extraction."""
    from highlight_studio.training import finetune

    monkeypatch.setattr(finetune, "extract_features", None)  # any extraction would fail
    new = FineTuneRequest(inputs=tuple(map(str, clips)), out=str(tmp_path / "new"),
                          config={"axis_teacher": "joint_norm", "axis_head": "ridge"})
    with pytest.raises(DatasetError, match="joint_norm teacher reads the motion stream"):
        _drain(fine_tune(new))
    config = dataclasses.replace(CONFIG, axis_head="ridge", axis_teacher="joint_axis")
    ridge_start = save_checkpoint(tmp_path / "ridge", RASL(config),
                                  CheckpointMeta(config=config, backbone_id="test_tiny:seed0",
                                                 step_seconds=STEP))
    decided = FineTuneRequest(inputs=tuple(map(str, clips)), out=str(tmp_path / "d"),
                              init=str(ridge_start), profile="Anyone")
    with pytest.raises(ModelError, match="reads the frames only, so it cannot learn your "
                                         "decisions"):
        _drain(fine_tune(decided))


def test_a_start_model_keeps_the_streams_it_reads(clips, start, tmp_path) -> None:
    request = FineTuneRequest(inputs=tuple(map(str, clips)), out=str(tmp_path / "m"),
                              init=str(start), config={"visual_inputs": "visual+motion"})
    with pytest.raises(ModelError, match="reads 'visual' inputs; it cannot continue on "
                                         "'visual\\+motion'"):
        _drain(fine_tune(request))
