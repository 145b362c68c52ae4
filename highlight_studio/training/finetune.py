"""Training on a user's own footage: the one code path behind ``highlight-studio train`` and the
GUI's training panel.

    videos -> features (through the feature cache) -> FeatureDataset -> train() -> model + card

:func:`fine_tune` is a generator like every long job in the core: it yields Progress while
features are extracted, every :class:`TrainEvent`, then one :class:`FineTuneResult`. A run's
resumable checkpoint and its log live at ``work`` (the CLI: the output itself); the finished
model is written to ``out`` with a Markdown model card beside it (``<stem>.card.md``). Named
runs (the GUI's) keep ``work`` under the user data folder, so an interrupted run can be resumed
after a restart.

Torch loads only when a run starts, so the GUI can import this module at start-up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import platform
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from ..errors import DatasetError, HighlightStudioError, MediaError, ModelError
from ..events import CancelToken, PauseToken, Progress, check_cancel
from ..fileio import atomic_write_text, describe_os_error
from ..locations import data_roots
from ..media import probe
from ..model.description import check_compatible, read_meta
from .options import TrainOptions

if TYPE_CHECKING:
    from ..model.config import RASLConfig
    from ..model.description import CheckpointMeta
    from ..model.rasl import RASL
    from .datasets import FeatureDataset
    from .trainer import TrainEvent

log = logging.getLogger(__name__)
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".m4v", ".webm", ".mxf", ".mts", ".m2ts", ".ts",
                  ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"}
LOSS_FLAGS = {"kpoint": "use_kpoint_loss", "scl": "use_scl", "aux": "use_aux_task"}
VIDEO_WINDOW = 150  # steps per window for a new model on video (the paper's 30 s at 0.2 s)
DEFAULT_STEP = 0.2  # seconds per step for a new model (the paper's)
RUN_FILE = "run.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class ClipInfo:
    """What the panel lists and the card records about one input clip."""

    path: Path
    duration: float  # seconds
    has_audio: bool
    problem: str = ""  # why the clip cannot be used; empty when it can

    @property
    def usable(self) -> bool:
        return not self.problem


@dataclass(frozen=True)
class FineTuneRequest:
    """One training run, everything needed to start or resume it (kept as JSON for resuming)."""

    inputs: tuple[str, ...]  # video files or folders of videos
    out: str  # the finished model (.safetensors); its card goes beside it (card_path)
    init: str | None = None  # start from this model (path or name); None: a new model
    resume: bool = False  # continue the run saved at ``work`` (optimizer, RNG and step)
    work: str | None = None  # the run's resumable checkpoint and log; None: at ``out``
    options: TrainOptions = field(default_factory=TrainOptions)
    backbone: str | None = None  # None: the start model's backbone (or the default one)
    backbone_weights: str | None = None
    step: float | None = None  # seconds per step; None: the start model's (or 0.2 s)
    window: int | None = None  # steps per window of a new model; None: 150
    literal: bool = False  # a new model reads the paper literally (no anti-collapse options)
    k: int | None = None  # None keeps the start model's
    mask_ratio: float | None = None  # None keeps the start model's
    losses: tuple[str, ...] | None = None  # of LOSS_FLAGS; None keeps the start model's
    clip_readout: str | None = None  # how the model's curves are read; None keeps the start's
    axis_weight: float | None = None  # main-axis self-training term; None keeps the start's
    visual_inputs: str | None = None  # a new model's VISUAL_INPUTS; None: "visual"
    axis_teacher: str | None = None  # AXIS_TEACHERS; None keeps the start's
    axis_head: str | None = None  # AXIS_HEADS; None keeps the start's
    fp16: bool = False  # write the finished weights in float16
    profile: str | None = None  # also learn this profile's decisions (from_decisions.py)

    @property
    def checkpoint(self) -> Path:
        """Where the run's resumable checkpoints are written."""
        return _with_suffix(Path(self.work or self.out))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FineTuneRequest:
        """The inverse of ``dataclasses.asdict`` (as kept in a named run's run.json)."""
        data = dict(data)
        data["inputs"] = tuple(data["inputs"])
        data["options"] = TrainOptions(**data["options"])
        if data.get("losses") is not None:
            data["losses"] = tuple(data["losses"])
        return cls(**data)


@dataclass(frozen=True)
class FineTuneResult:
    """The finished model: where it is, its card, and the last step's losses."""

    checkpoint: Path
    card: Path
    step: int
    final_losses: dict[str, float]


@dataclass(frozen=True)
class StartSettings:
    """The training settings a start model was made with. The panel shows them when the model
    is picked, so fine-tuning keeps them unless the user changes one."""

    k: int
    mask_ratio: float
    losses: tuple[str, ...]  # of LOSS_FLAGS
    axis_weight: float  # 0: no main-axis self-training


def start_settings(init: str | Path) -> StartSettings:
    """A start model's settings, from its file's header (no torch; raises ModelError)."""
    config = read_meta(init).config
    return StartSettings(k=config.k, mask_ratio=config.mask_ratio,
                         losses=tuple(name for name, flag in LOSS_FLAGS.items()
                                      if getattr(config, flag)),
                         axis_weight=config.axis_weight)


# --- inputs ----------------------------------------------------------------------------------
def find_videos(inputs: Iterable[str | Path]) -> list[Path]:
    """Video files given or found (recursively) in the given folders, in a stable order."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES))
        elif item.exists():
            paths.append(item)
        else:
            raise DatasetError(f"{item} does not exist.")
    if not paths:
        raise DatasetError("No video files found in the given inputs.")
    return paths


def survey(paths: Iterable[str | Path], cancel: CancelToken | None = None
           ) -> Iterator[Progress | ClipInfo]:
    """Probe each clip (a worker job): duration and audio, or why it cannot be used."""
    paths = [Path(p) for p in paths]
    for done, path in enumerate(paths):
        check_cancel(cancel)
        yield Progress("probe", done, len(paths), "clips", path.name)
        try:
            info = probe(path)
        except MediaError as exc:
            yield ClipInfo(path, 0.0, False, problem=str(exc))
            continue
        yield ClipInfo(path, info.duration, info.has_audio)
    yield Progress("probe", len(paths), len(paths), "clips")


def total_minutes(clips: Iterable[ClipInfo]) -> float:
    return sum(c.duration for c in clips if c.usable) / 60.0


# --- named runs in the user data folder ------------------------------------------------------
def user_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("highlight-studio"))


def named_request(name: str, inputs: Iterable[str | Path], options: TrainOptions,
                  **fields: Any) -> FineTuneRequest:
    """A run whose model becomes ``<user data>/models/<name>`` (listed in the model picker)
    and whose checkpoints stay in ``<user data>/training/<name>/`` until it is resumed."""
    if not _NAME.match(name) or name == "default":
        raise DatasetError(f"{name!r} cannot name a model: use letters, digits, '-', '_' or "
                           "'.', at most 64, and not 'default'.")
    out = user_data_dir() / "models" / f"{name}.safetensors"
    if out.exists():
        raise DatasetError(f"A model named {name!r} exists already ({out}); pick another name.")
    shipped = [root / "models" / f"{name}.safetensors" for root in data_roots()]
    if any(path.is_file() for path in shipped):  # the name would find the shipped model first
        raise DatasetError(f"{name!r} names a model that ships with the app; pick another name.")
    work = user_data_dir() / "training" / name / "run.safetensors"
    if any(run.name == name for run in pending_runs()):
        raise DatasetError(f"An unfinished run named {name!r} is waiting to be resumed; resume "
                           "it, or pick another name.")
    return FineTuneRequest(inputs=tuple(str(p) for p in inputs), out=str(out), work=str(work),
                           options=options, **fields)


@dataclass(frozen=True)
class PendingRun:
    """A named run that stopped before its last step, and how far it got."""

    name: str
    request: FineTuneRequest
    step: int  # steps in its last checkpoint (0: none written yet)


def pending_runs() -> list[PendingRun]:
    """Named runs that were cancelled or failed, newest first: what the panel offers to resume."""
    root = user_data_dir() / "training"
    runs = []
    for run_file in sorted(root.glob(f"*/{RUN_FILE}"), key=lambda p: p.stat().st_mtime,
                           reverse=True):
        try:
            state = json.loads(run_file.read_text(encoding="utf-8"))
            request = FineTuneRequest.from_dict(state["request"])
        except (OSError, ValueError, TypeError, KeyError):
            log.warning("ignoring unreadable run description %s", run_file)
            continue
        if not state.get("finished"):
            runs.append(PendingRun(run_file.parent.name, request, _saved_step(request)))
    return runs


def _write_run_state(request: FineTuneRequest, finished: bool) -> None:
    if request.work is None:
        return
    if not (request.resume or finished):  # a fresh run: no earlier run's checkpoint may stay
        from ..model.checkpoint import training_state_path

        for stale in (request.checkpoint, training_state_path(request.checkpoint)):
            stale.unlink(missing_ok=True)
    state = {"request": asdict(request), "finished": finished}
    atomic_write_text(Path(request.work).parent / RUN_FILE, json.dumps(state, indent=2),
                      error=ModelError)


def _saved_step(request: FineTuneRequest) -> int:
    """Steps in the run's resumable checkpoint; 0 when there is none."""
    from ..model.checkpoint import training_state_path

    checkpoint = request.checkpoint
    if not (checkpoint.exists() and training_state_path(checkpoint).exists()):
        return 0
    try:
        return read_meta(checkpoint).train_step
    except ModelError:
        return 0


# --- the run ---------------------------------------------------------------------------------
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
    _write_run_state(request, finished=False)
    dataset, backbone_id, step = yield from _video_dataset(request, cancel)
    yield from train_on(request, dataset, backbone_id, step, cancel, pause)


def train_on(request: FineTuneRequest, dataset: FeatureDataset, backbone_id: str,
             step_seconds: float, cancel: CancelToken | None = None,
             pause: PauseToken | None = None) -> Iterator[TrainEvent | FineTuneResult]:
    """The training half of :func:`fine_tune`, for features already in memory (the CLI's
    ``--features`` folders): model, loop, log, finished model and card. In a torchrun run
    every rank trains, rank 0 alone writes the log, the model and the card and yields the
    result (the other ranks end after their last TrainEvent)."""
    from . import distributed
    from .trainer import train

    _make_folders(request)
    checkpoint = request.checkpoint
    start = checkpoint if request.resume else request.init
    if start is not None:  # a model works at the features and step it was trained on
        meta = read_meta(start)
        try:
            check_compatible(meta, backbone_id, dataset.visual_dim, step_seconds)
        except ModelError as exc:
            what = "resumed" if request.resume else "fine-tuned"
            raise ModelError(f"{start} cannot be {what} on these features: {exc}") from exc
        if request.resume:
            _check_same_data(meta.training_data, dataset.summary(), start)
    model = _start_model(request, dataset)
    options = dataclasses.replace(request.options, checkpoint_path=str(checkpoint),
                                  backbone_id=backbone_id, step_seconds=step_seconds)
    extra = None
    if request.profile:  # "fine-tune from my decisions"
        from .from_decisions import decision_loss

        extra = decision_loss(request.profile, dataset, backbone_id, step_seconds,
                              model.config.window, request.options.seed)
    run_log = _RunLog(checkpoint, request.resume)
    is_main = distributed.current().is_main
    started = time.perf_counter()
    with _explained_errors(request, options):
        for event in train(model, dataset, options, cancel=cancel,
                           resume_from=checkpoint if request.resume else None, pause=pause,
                           extra_term=extra):
            paused = pause.paused_seconds if pause is not None else 0.0
            if is_main:
                run_log.add(event, time.perf_counter() - started - paused)
            yield event
        if not is_main:
            return
        result = _finish(request, options, run_log)
    _write_run_state(request, finished=True)
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


def _with_suffix(path: Path) -> Path:
    return path if path.suffix == ".safetensors" else path.with_name(path.name + ".safetensors")


def _backbone_choice(request: FineTuneRequest) -> tuple[str | None, float]:
    """The backbone name and step: asked for, else the start model's, else the defaults."""
    start = request.checkpoint if request.resume else request.init
    if start is None:
        return request.backbone, request.step or DEFAULT_STEP
    meta = read_meta(start)
    return (request.backbone or meta.backbone_id.split(":", 1)[0],
            request.step or meta.step_seconds)


def _video_dataset(request: FineTuneRequest, cancel: CancelToken | None
                   ) -> Iterator[Progress | ClipInfo]:
    """Features of every usable clip, from the cache when extracted before; returns
    (dataset, backbone id, step). Clips without audio train the visual losses only."""
    from ..features.cache import FeatureCache
    from ..features.extract import ClipFeatures, extract_features
    from ..features.visual import available_backbones, create_backbone
    from .datasets import FeatureDataset

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
    clips: dict[str, tuple[Any, Any]] = {}
    problems: list[str] = []
    for done, path in enumerate(paths):
        yield Progress("features", done, len(paths), "clips", path.name)
        try:
            features = None
            for item in extract_features(path, backbone, step, cache, with_audio=True,
                                         cancel=cancel):
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
        clips[str(path)] = (features.visual, features.audio)
        yield ClipInfo(path, features.info.duration, features.audio is not None)
    yield Progress("features", len(paths), len(paths), "clips")
    if not clips:
        raise DatasetError("None of the clips can be used for training:\n"
                           + "\n".join(problems))
    return FeatureDataset(clips), backbone.id, step


def _start_model(request: FineTuneRequest, dataset: FeatureDataset) -> RASL:
    """The resumed run's model, the start model (with the asked-for changes), or a new one."""
    import torch

    from ..model.checkpoint import load_checkpoint
    from ..model.config import RASLConfig
    from ..model.rasl import RASL

    if request.resume:
        model = load_checkpoint(request.checkpoint)[0]
        # The readout changes no weights, so a resumed run may still switch it.
        readout = request.clip_readout or model.config.clip_readout
        return _with_config(model, dataclasses.replace(model.config, clip_readout=readout))
    changes = _config_changes(request)
    if request.init:
        model = load_checkpoint(request.init)[0]
        return _with_config(model, dataclasses.replace(model.config, **changes))
    torch.manual_seed(request.options.seed)  # --seed decides the initial weights too
    audio_dim = dataset.audio_dim or dataset.visual_dim
    fields = dict(visual_dim=dataset.visual_dim, audio_dim=audio_dim,
                  window=request.window or VIDEO_WINDOW, use_audio=dataset.audio_dim is not None,
                  **changes)
    return RASL(RASLConfig.literal(**fields) if request.literal else RASLConfig(**fields))


def _with_config(model: RASL, config: RASLConfig) -> RASL:
    """``model``'s weights under ``config`` (the options switched here add or remove none)."""
    from ..model.rasl import RASL

    if config == model.config:
        return model
    changed = RASL(config)
    changed.load_state_dict(model.state_dict())
    return changed


def _config_changes(request: FineTuneRequest) -> dict[str, Any]:
    """The RASLConfig fields the request sets (k, mask ratio, which losses, clip readout,
    main-axis self-training)."""
    changes: dict[str, Any] = {}
    if request.clip_readout is not None:
        changes["clip_readout"] = request.clip_readout
    if request.axis_weight is not None:
        changes["axis_weight"] = request.axis_weight
    if request.visual_inputs is not None:
        changes["visual_inputs"] = request.visual_inputs
    if request.axis_teacher is not None:
        changes["axis_teacher"] = request.axis_teacher
    if request.axis_head is not None:
        changes["axis_head"] = request.axis_head
    if request.k is not None:
        changes["k"] = request.k
    if request.mask_ratio is not None:
        changes["mask_ratio"] = request.mask_ratio
    if request.losses is not None:
        unknown = set(request.losses) - set(LOSS_FLAGS)
        if unknown:
            raise ModelError(f"Unknown losses {sorted(unknown)}; choose from "
                             f"{', '.join(LOSS_FLAGS)}.")
        changes.update({flag: name in request.losses for name, flag in LOSS_FLAGS.items()})
    return changes


class _RunLog:
    """Every event as one JSON line in ``<checkpoint>.log.jsonl``; a resumed run appends, and
    its training time carries on from the last line it keeps: steps logged after the
    checkpoint it resumes from were lost with the cancel or crash, so they are dropped."""

    def __init__(self, checkpoint: Path, resume: bool) -> None:
        self.path = checkpoint.with_name(checkpoint.name + ".log.jsonl")
        self.lines = (self.path.read_text().splitlines()
                      if resume and self.path.exists() else [])
        self.earlier_seconds = 0.0
        self.seconds = 0.0
        self.last: TrainEvent | None = None

    def add(self, event: TrainEvent, seconds: float) -> None:
        if self.last is None:  # the first event of this session: the steps before it stay
            self.lines = [line for line in self.lines if json.loads(line)["step"] < event.step]
            last = json.loads(self.lines[-1]) if self.lines else {}
            self.earlier_seconds = float(last.get("train_seconds", 0.0))
        self.seconds = self.earlier_seconds + seconds
        record = asdict(event)
        record["checkpoint"] = str(event.checkpoint) if event.checkpoint else None
        record["train_seconds"] = round(self.seconds, 3)
        self.lines.append(json.dumps(record))
        atomic_write_text(self.path, "\n".join(self.lines) + "\n", error=ModelError)
        self.last = event


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
        if not _is_out_of_gpu_memory(exc):
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
    step = _saved_step(request)
    if not step:
        return "No checkpoint had been written yet."
    return (f"The checkpoint at step {step} is kept in {request.checkpoint}; resume to "
            "continue from it.")


def _is_out_of_gpu_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError)


def _finish(request: FineTuneRequest, options: TrainOptions, run_log: _RunLog
            ) -> FineTuneResult:
    """Write the finished model (float16 if asked) and its card; the run's checkpoint stays."""
    from ..model.checkpoint import load_checkpoint, save_checkpoint

    trained, meta = load_checkpoint(request.checkpoint)
    if meta.train_step < options.steps:
        raise ModelError(f"{request.checkpoint} holds {meta.train_step} of {options.steps} "
                         "steps; the run did not finish.")
    out = request.checkpoint
    if request.fp16 or _with_suffix(Path(request.out)) != out:
        out = save_checkpoint(request.out, trained, meta, fp16=request.fp16)
    card = card_path(out)
    atomic_write_text(card, model_card(out.stem, meta, request, run_log.seconds),
                      error=ModelError)
    return FineTuneResult(out, card, meta.train_step, dict(meta.final_losses))


def card_path(checkpoint: Path) -> Path:
    """``<stem>.card.md``: generated, so it never overwrites a hand-written ``<stem>.md``."""
    return checkpoint.with_name(checkpoint.name.removesuffix(".safetensors") + ".card.md")


def model_card(name: str, meta: CheckpointMeta, request: FineTuneRequest,
               train_seconds: float) -> str:
    """The Markdown card of a trained model: data, options, final losses, time, machine."""
    data = meta.training_data
    step = meta.step_seconds
    rows = [f"| {n} | {_length(s, step)} | {'yes' if a else 'no (visual losses only)'} |"
            for n, s, a in zip(data["names"], data["lengths"], data["audio"], strict=True)]
    start = (f"Unsupervised RASL pretraining continued from **{request.init}**" if request.init
             else "A RASL model trained from scratch without labels")
    total = _length(data["steps"], step)
    opts = meta.training_options
    config = meta.config
    lines = [
        f"# Model card: `{name}`", "",
        f"{start}, on {data['clips']} clips ({data['clips_with_audio']} with audio) of "
        f"{total}. " + (f"Also trained to rank the steps kept above those rejected in profile "
                        f"**{request.profile}** (the editor's decisions)." if request.profile
                        else "No labels exist or were used."), "",
        "## Data", "", "| clip | length | audio |", "|---|---|---|", *rows, "",
        f"Total: {total}, {data['steps']} steps of {step:g} s. Clips without audio train the "
        "visual losses only.", "",
        "## Options", "",
        f"- steps {meta.train_step} of {opts.get('steps')}, lr {opts.get('lr')}, batch "
        f"{opts.get('batch_size')}{_spread(opts)}, optimizer {opts.get('optimizer')}, seed "
        f"{opts.get('seed')}",
        f"- k {config.k}, mask ratio {config.mask_ratio}, window {config.window} steps, losses: "
        + ", ".join(n for n, flag in LOSS_FLAGS.items() if getattr(config, flag))
        + ("" if config.use_recon_loss else " (no reconstruction)"),
        f"- clip readout `{config.clip_readout}` (how a clip's curve is read at inference)",
        f"- main-axis self-training weight {config.axis_weight:g}"
        + (" (off)" if config.axis_weight == 0 else
           f" (teacher `{config.axis_teacher}`, learnt by the `{config.axis_head}` head: "
           "targets from each clip's own features)"),
        f"- features: `{meta.backbone_id}`, one every {step:g} s; the visual branch reads "
        f"`{config.visual_inputs}`",
        f"- device {opts.get('device')} ({platform.machine()}, {platform.system()}); training "
        f"time {_minutes(train_seconds)} (m:ss, pauses not counted)", "",
        "## Final losses", "", _table(meta.final_losses), "",
        "## Diagnostics at the last step", "", _table(meta.diagnostics), "",
        f"Inputs given: {', '.join(request.inputs) or '(features in memory)'}", "",
    ]
    return "\n".join(lines)


def _spread(options: dict[str, Any]) -> str:
    """How many processes shared each batch (torchrun), when more than one did."""
    world = int(options.get("world_size", 1))
    if world == 1:
        return " in one process"
    return (f" (the global batch) over {world} processes, {options['batch_size'] // world} "
            "windows each")


def _minutes(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"


def _length(steps: int, step_seconds: float) -> str:
    """m:ss, or a step count for features whose step in seconds was not recorded."""
    return f"{_minutes(steps * step_seconds)} min" if step_seconds > 0 else f"{steps} steps"


def _table(values: dict[str, float]) -> str:
    return "\n".join(["| name | value |", "|---|---|",
                      *(f"| {k} | {v:.4f} |" for k, v in values.items())])
