"""Training on a user's own footage: the one code path behind ``highlight-studio train`` and the
GUI's training panel.

    videos -> features (through the feature cache) -> FeatureDataset -> train() -> model + card

:func:`fine_tune` is a generator like every long job in the core: it yields Progress while
features are extracted, every :class:`TrainEvent`, then one :class:`FineTuneResult`. What a run
is and where it is kept is :mod:`.runs`, the clips it reads :mod:`.inputs`, its log
:mod:`.run_log` and the card beside the model :mod:`.card`; those are torch-free, and this
module (which imports torch) is imported only when a run starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DatasetError, HighlightStudioError, MediaError, ModelError
from ..events import CancelToken, PauseToken, Progress
from ..features.cache import FeatureCache
from ..features.extract import ClipFeatures, extract_features
from ..features.motion import DEFAULT_MOTION, MotionConfig
from ..features.visual import available_backbones, create_backbone
from ..fileio import atomic_write_text, describe_os_error
from ..model.checkpoint import load_checkpoint, save_checkpoint
from ..model.config import RASLConfig
from ..model.description import check_compatible, read_meta
from ..model.rasl import RASL, with_config
from ..model.ridge_head import RidgeHead
from ..scoring import model_features, motion_input
from . import distributed
from .card import card_path, model_card
from .datasets import STREAM_TEACHERS, FeatureDataset
from .inputs import ClipInfo, find_videos
from .options import TrainOptions
from .ridge_head import fit_ridge_head, with_fit
from .run_log import RunLog
from .runs import (
    DEFAULT_STEP,
    VIDEO_WINDOW,
    FineTuneRequest,
    FineTuneResult,
    saved_step,
    start_inputs,
    with_suffix,
    write_run_state,
)
from .trainer import TrainEvent, train


def fine_tune(request: FineTuneRequest, cancel: CancelToken | None = None,
              pause: PauseToken | None = None
              ) -> Iterator[Progress | ClipInfo | TrainEvent | FineTuneResult]:
    """Extract features of ``request.inputs`` (cached), train, write the model and its card.

    Yields Progress (stage "features") and a ClipInfo per clip, then TrainEvents, then one
    FineTuneResult. Unreadable clips are skipped (their ClipInfo says why); none usable raises
    DatasetError. Cancelling raises Cancelled between steps; the last checkpoint stays and
    ``resume=True`` continues from it. Errors say whether a checkpoint was kept.
    """
    _make_folders(request)
    write_run_state(request, finished=False)
    motion = _motion(request)
    teacher = _teacher(request)
    _check_teacher(request, motion, teacher)  # before minutes of feature extraction
    dataset, backbone_id, step = yield from _video_dataset(request, motion, teacher, cancel)
    yield from train_on(request, dataset, backbone_id, step, cancel, pause, motion,
                        refit_toward_start=True)


def train_on(request: FineTuneRequest, dataset: FeatureDataset, backbone_id: str,
             step_seconds: float, cancel: CancelToken | None = None,
             pause: PauseToken | None = None, motion: MotionConfig | None = None,
             refit_toward_start: bool = False) -> Iterator[TrainEvent | FineTuneResult]:
    """The training half of :func:`fine_tune`, for features already in memory (the CLI's
    ``--features`` folders): model, loop, log, finished model and card. ``motion``: the
    settings of the motion stream the features carry (recorded in the model).
    ``refit_toward_start``: a ridge head fitted already is refitted toward its own weights
    (fine-tuning on one's own clips); otherwise it is refitted from zero, as the feature-folder
    runs of the benchmarks are. In a torchrun run every rank trains, rank 0 alone writes the
    log, the model and the card and yields the result (the other ranks end after their last
    TrainEvent)."""
    _make_folders(request)
    checkpoint = request.checkpoint
    start = request.start
    if start is not None:  # a model works at the features and step it was trained on
        meta = read_meta(start)
        try:
            check_compatible(meta, backbone_id, dataset.visual_dim, step_seconds)
        except ModelError as exc:
            what = "resumed" if request.resume else "fine-tuned"
            raise ModelError(f"{start} cannot be {what} on these features: {exc}") from exc
        if request.resume:
            _check_same_data(meta.training_data, dataset.summary(), start)
            if meta.train_step >= request.options.steps:  # finishing again would refit twice
                raise ModelError(f"{start} has all {request.options.steps} steps already: "
                                 "the run is finished. Ask for more --steps to go on.")
    model = _start_model(request, dataset)
    options = dataclasses.replace(request.options, checkpoint_path=str(checkpoint),
                                  backbone_id=backbone_id, step_seconds=step_seconds,
                                  motion=motion.as_dict() if motion else None)
    extra = None
    if request.profile:  # "fine-tune from my decisions"
        from .from_decisions import decision_loss

        extra = decision_loss(request.profile, dataset, backbone_id, step_seconds,
                              model.config.window, request.options.seed)
    # A ridge head's score has no gradient: it learns the decisions in its refit (_finish).
    ridge = isinstance(model.axis_head, RidgeHead)
    if extra is not None and ridge and model.config.axis_teacher != dataset.axis_teacher:
        raise ModelError(_NO_DECISIONS.format(teacher=model.config.axis_teacher))
    run_log = RunLog(checkpoint, request.resume)
    is_main = distributed.current().is_main
    started = time.perf_counter()
    with _explained_errors(request, options):
        for event in train(model, dataset, options, cancel=cancel,
                           resume_from=checkpoint if request.resume else None, pause=pause,
                           extra_term=None if ridge else extra):
            paused = pause.paused_seconds if pause is not None else 0.0
            if is_main:
                run_log.add(event, time.perf_counter() - started - paused)
            yield event
        if not is_main:
            return
        result = _finish(request, options, run_log, dataset,
                         extra.labels if extra is not None else None, refit_toward_start)
    write_run_state(request, finished=True)
    yield result


def _check_same_data(trained: dict[str, Any], given: dict[str, Any], start: str | Path) -> None:
    """A resumed run continues on the clips it started with: other clips would make a model
    of two datasets that neither its card nor its log describes."""
    keys = ("names", "lengths")
    if all(k in trained for k in keys) and any(trained[k] != given[k] for k in keys):
        raise ModelError(f"{start} was trained on {trained.get('clips')} other clips "
                         f"({', '.join(trained['names'][:3])}…); a resumed run continues on "
                         "the same clips. Start a new run from it with --init instead.")


def _make_folders(request: FineTuneRequest) -> None:
    """Before minutes of feature extraction, not after."""
    for path in {Path(request.out), request.checkpoint}:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelError(f"Cannot create the folder for {path}: {exc.strerror}.") from exc


# --- features --------------------------------------------------------------------------------
def _backbone_choice(request: FineTuneRequest) -> tuple[str | None, float]:
    """The backbone name and step: asked for, else the start model's, else the defaults."""
    if request.start is None:
        return request.backbone, request.step or DEFAULT_STEP
    meta = read_meta(request.start)
    return (request.backbone or meta.backbone_id.split(":", 1)[0],
            request.step or meta.step_seconds)


def _motion(request: FineTuneRequest) -> MotionConfig | None:
    """The motion stream the model reads beside the frames' features (as analysis gives it):
    the start model's settings, the defaults for a new visual+motion model, else None. A
    start model keeps the streams it reads: its weights are as wide as they are."""
    if request.start is not None:
        start_inputs(request.start, request.config.get("visual_inputs"))
        return motion_input(read_meta(request.start))
    reads_motion = request.config.get("visual_inputs") == "visual+motion"
    return DEFAULT_MOTION if reads_motion else None


def _video_dataset(request: FineTuneRequest, motion: MotionConfig | None, teacher: str,
                   cancel: CancelToken | None) -> Iterator[Progress | ClipInfo]:
    """Features of every usable clip, from the cache when extracted before, with the motion
    stream beside them when the model reads it; returns (dataset, backbone id, step). Clips
    without audio train the visual losses only."""
    paths = find_videos(request.inputs)
    name, step = _backbone_choice(request)
    if name is not None and name not in available_backbones():
        if request.backbone:
            raise ModelError(f"Unknown backbone {name!r}; choose from "
                             f"{', '.join(available_backbones())}.")
        raise ModelError(f"The start model was trained on precomputed features ({name}), not on "
                         "frames of a backbone this app runs; pick a model trained on video.")
    device = request.options.device
    weights = request.backbone_weights
    backbone = (create_backbone(name, weights, device) if name
                else create_backbone(weights=weights, device=device))
    cache = FeatureCache()
    clips: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    problems: list[str] = []
    for done, path in enumerate(paths):
        yield Progress("features", done, len(paths), "clips", path.name)
        try:
            features = None
            for item in extract_features(path, backbone, step, cache, with_audio=True,
                                         cancel=cancel, motion=motion):
                if isinstance(item, ClipFeatures):
                    features = item
                elif item.fraction is not None:
                    yield Progress("features", done + item.fraction, len(paths), "clips",
                                   path.name)
        except MediaError as exc:
            problems.append(str(exc))
            yield ClipInfo(path, 0.0, False, problem=str(exc))
            continue
        assert features is not None  # extract_features always ends with its result
        if not len(features.visual):
            problems.append(f"{path}: shorter than one step of {step:g} s")
            yield ClipInfo(path, features.info.duration, features.info.has_audio,
                           problem=f"shorter than one step of {step:g} s")
            continue
        clips[str(path)] = (model_features(features, motion), features.audio)
        yield ClipInfo(path, features.info.duration, features.audio is not None)
    yield Progress("features", len(paths), len(paths), "clips")
    if not clips:
        raise DatasetError("None of the clips can be used for training:\n"
                           + "\n".join(problems))
    # A model reading motion gets [visual, motion] rows: two streams for its ridge head.
    if motion is None:
        return FeatureDataset(clips), backbone.id, step
    widths = (backbone.dim, motion.dim)
    if teacher not in STREAM_TEACHERS:
        return FeatureDataset(clips, stream_widths=widths), backbone.id, step
    # The rows carry both streams, so a teacher that reads them is made here, and the ridge
    # head is refitted on these clips at the end (_finish).
    make = STREAM_TEACHERS[teacher]
    targets = {name: make([rows[:, :backbone.dim], rows[:, backbone.dim:]])
               for name, (rows, _) in clips.items()}
    return FeatureDataset(clips, targets, teacher, widths), backbone.id, step


_NO_DECISIONS = ("The model's head learns the {teacher} teacher, which reads the motion stream; "
                 "this model reads the frames only, so it cannot learn your decisions on these "
                 "clips. Fine-tune without the profile, or start from a model that reads "
                 "visual+motion (the default does).")


def _check_teacher(request: FineTuneRequest, motion: MotionConfig | None, teacher: str
                   ) -> None:
    """Refuse, before any clip is read, a run whose teacher needs the motion stream while its
    model reads the frames only: asked for outright (nothing would learn it), or a profile's
    decisions for a ridge head (they enter the refit that teacher cannot make)."""
    if motion is not None or teacher not in STREAM_TEACHERS:
        return
    if "axis_teacher" in request.config:
        raise DatasetError(f"The {teacher} teacher reads the motion stream: add --visual-inputs "
                           "visual+motion, or start from a model that reads it.")
    start = request.start
    if request.profile and start and read_meta(start).config.axis_head == "ridge":
        raise ModelError(_NO_DECISIONS.format(teacher=teacher))


def _teacher(request: FineTuneRequest) -> str:
    """The self-training teacher the run's model learns: asked for, else the start model's."""
    if "axis_teacher" in request.config:
        return str(request.config["axis_teacher"])
    start = request.start
    return read_meta(start).config.axis_teacher if start else RASLConfig.axis_teacher


# --- the model -------------------------------------------------------------------------------
def _start_model(request: FineTuneRequest, dataset: FeatureDataset) -> RASL:
    """The resumed run's model, the start model (with the asked-for changes), or a new one."""
    if request.resume:
        model = load_checkpoint(request.checkpoint)[0]
        # The readout changes no weights, so a resumed run may still switch it.
        readout = request.config.get("clip_readout", model.config.clip_readout)
        return with_config(model, dataclasses.replace(model.config, clip_readout=readout))
    if request.init:
        model = load_checkpoint(request.init)[0]
        return with_config(model, dataclasses.replace(model.config, **request.config))
    torch.manual_seed(request.options.seed)  # --seed decides the initial weights too
    audio_dim = dataset.audio_dim or dataset.visual_dim
    fields = dict(visual_dim=dataset.visual_dim, audio_dim=audio_dim,
                  window=request.window or VIDEO_WINDOW, use_audio=dataset.audio_dim is not None,
                  **request.config)
    return RASL(RASLConfig.literal(**fields) if request.literal else RASLConfig(**fields))


# --- errors ----------------------------------------------------------------------------------
@contextlib.contextmanager
def _explained_errors(request: FineTuneRequest, options: TrainOptions) -> Iterator[None]:
    """Turn a full GPU and a full disk into messages that say what to do and what was kept
    (checkpoints are written atomically, so a failed write leaves the previous one whole)."""
    try:
        yield
    except HighlightStudioError as exc:
        if not _is_write_failure(exc.__cause__):
            raise
        raise ModelError(f"{exc} {_kept(request)}") from exc
    except OSError as exc:
        if not _is_write_failure(exc):
            raise
        raise ModelError(f"{describe_os_error(Path(request.checkpoint), exc)} "
                         f"{_kept(request)}") from exc
    except RuntimeError as exc:
        if not isinstance(exc, torch.cuda.OutOfMemoryError):
            raise
        raise ModelError(f"Out of GPU memory at batch size {options.batch_size}: lower the "
                         "batch size, close other GPU programs, or train on the CPU. "
                         f"{_kept(request)}") from exc


def _is_write_failure(exc: BaseException | None) -> bool:
    """A full disk, or a folder that turned read-only mid-run: either way a checkpoint could
    not be written and the user needs to know which one was kept."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES,
                                                      errno.EPERM)


def _kept(request: FineTuneRequest) -> str:
    step = saved_step(request)
    if not step:
        return "No checkpoint had been written yet."
    return (f"The checkpoint at step {step} is kept in {request.checkpoint}; resume to "
            "continue from it.")


# --- the finished model ----------------------------------------------------------------------
def _finish(request: FineTuneRequest, options: TrainOptions, run_log: RunLog,
            dataset: FeatureDataset, decisions: dict[int, np.ndarray] | None = None,
            toward_start: bool = False) -> FineTuneResult:
    """Write the finished model (float16 if asked; a ridge axis head fitted on ``dataset``
    first, where the clips carry its teacher: video clips without the motion stream cannot
    make ``joint_axis`` or ``joint_norm``, and then the start model's head stays) and its
    card; the run's checkpoint stays. With ``toward_start``, a head that was fitted already
    (the start model's) is refitted toward its own weights rather than toward zero, so a few
    clips of one's own footage bend what the start model learnt from its corpus instead of
    replacing it; an editor's ``decisions`` (clip index -> labels) are fitted beside the
    teacher."""
    trained, meta = load_checkpoint(request.checkpoint)
    if meta.train_step < options.steps:
        raise ModelError(f"{request.checkpoint} holds {meta.train_step} of {options.steps} "
                         "steps; the run did not finish.")
    out = request.checkpoint
    fitted = (trained.config.axis_head == "ridge"
              and trained.config.axis_teacher == dataset.axis_teacher)
    if fitted:
        fit = fit_ridge_head(trained, dataset, toward_current=toward_start, decisions=decisions)
        meta = dataclasses.replace(meta, diagnostics=with_fit(meta.diagnostics, fit))
    if fitted or request.fp16 or with_suffix(Path(request.out)) != out:
        out = save_checkpoint(request.out, trained, meta, fp16=request.fp16)
    card = card_path(out)
    atomic_write_text(card, model_card(out.stem, meta, request, run_log.seconds),
                      error=ModelError)
    return FineTuneResult(out, card, meta.train_step, dict(meta.final_losses))
