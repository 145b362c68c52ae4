"""What a training run is and where it is kept: the request, its paths, the named runs in the
user data folder and the ones waiting to be resumed.

A run's resumable checkpoint and its log live at ``work`` (the CLI: the output itself); the
finished model is written to ``out``. Named runs (the GUI's) keep ``work`` under the user data
folder with a ``run.json`` beside it, so an interrupted run can be resumed after a restart.

No torch here (nor in anything imported): the window lists pending runs at start-up.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from ..errors import DatasetError, ModelError
from ..fileio import atomic_write_text
from ..locations import data_roots
from ..model.config import RASLConfig
from ..model.description import SUFFIX, read_meta, training_state_path
from ..model.loss_terms import SWITCHABLE
from .options import TrainOptions

log = logging.getLogger(__name__)
VIDEO_WINDOW = 150  # steps per window for a new model on video (the paper's 30 s at 0.2 s)
DEFAULT_STEP = 0.2  # seconds per step for a new model (the paper's)
RUN_FILE = "run.json"
CONFIG_FIELDS = frozenset(f.name for f in dataclasses.fields(RASLConfig))
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_overrides(config: Mapping[str, Any]) -> None:
    """Refuse a key that names no :class:`RASLConfig` field: a typo would otherwise surface
    minutes later, after feature extraction, or not at all."""
    for key in config:
        if key not in CONFIG_FIELDS:
            near = difflib.get_close_matches(key, CONFIG_FIELDS, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ModelError(f"{key!r} is not a model setting{hint}; the settings a run may "
                             "change are RASLConfig's fields (model/config.py).")


def start_inputs(start: str, asked: str | None) -> str:
    """The streams the start model ``start`` reads; ``asked`` other ones is refused: a start
    model keeps the streams it reads, since its weights are as wide as they are."""
    reads = read_meta(start).config.visual_inputs
    if asked is not None and asked != reads:
        raise ModelError(f"{start} reads {reads!r} inputs; it cannot continue on {asked!r} "
                         "(train a new model instead).")
    return reads


@dataclass(frozen=True)
class FineTuneRequest:
    """One training run, everything needed to start or resume it (kept as JSON for resuming)."""

    inputs: tuple[str, ...]  # video files or folders of videos
    out: str  # the finished model (.safetensors); its card goes beside it (card.card_path)
    init: str | None = None  # start from this model (path or name); None: a new model
    resume: bool = False  # continue the run saved at ``work`` (optimizer, RNG and step)
    work: str | None = None  # the run's resumable checkpoint and log; None: at ``out``
    options: TrainOptions = field(default_factory=TrainOptions)
    backbone: str | None = None  # None: the start model's backbone (or the default one)
    backbone_weights: str | None = None
    step: float | None = None  # seconds per step; None: the start model's (or 0.2 s)
    window: int | None = None  # steps per window of a new model; None: VIDEO_WINDOW
    literal: bool = False  # a new model reads the paper literally (no anti-collapse options)
    # RASLConfig fields set for this run (k, mask_ratio, use_scl, axis_weight, ...); the others
    # keep the start model's values (a new model's: the defaults). A resumed run takes only
    # clip_readout from here: the other fields were fixed when it started.
    config: dict[str, Any] = field(default_factory=dict)
    fp16: bool = False  # write the finished weights in float16
    profile: str | None = None  # also learn this profile's decisions (from_decisions.py)

    def __post_init__(self) -> None:
        check_overrides(self.config)

    @property
    def checkpoint(self) -> Path:
        """Where the run's resumable checkpoints are written."""
        return with_suffix(Path(self.work or self.out))

    @property
    def start(self) -> str | Path | None:
        """The model the run's weights start from: its own checkpoint when resuming."""
        return self.checkpoint if self.resume else self.init

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FineTuneRequest:
        """The inverse of ``dataclasses.asdict`` (as kept in a named run's run.json)."""
        data = dict(data)
        data["inputs"] = tuple(data["inputs"])
        data["options"] = TrainOptions(**data["options"])
        data["config"] = {**_earlier_overrides(data), **data.get("config", {})}
        return cls(**data)


def _earlier_overrides(data: dict[str, Any]) -> dict[str, Any]:
    """Take from ``data`` the overrides a run.json written before ``config`` existed kept as
    fields of their own: those named after RASLConfig fields (None: the start model's) and
    ``losses`` (the switchable terms that were on)."""
    own = {f.name for f in dataclasses.fields(FineTuneRequest)}
    config = {key: data.pop(key) for key in list(data) if key in CONFIG_FIELDS - own}
    losses = data.pop("losses", None)
    if losses is not None:
        config.update({term.switch: term.name in losses for term in SWITCHABLE})
    return {key: value for key, value in config.items() if value is not None}


@dataclass(frozen=True)
class FineTuneResult:
    """The finished model: where it is, its card, and the last step's losses."""

    checkpoint: Path
    card: Path
    step: int
    final_losses: dict[str, float]


def with_suffix(path: Path) -> Path:
    return path if path.suffix == SUFFIX else path.with_name(path.name + SUFFIX)


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
        except (OSError, ValueError, TypeError, KeyError, ModelError):
            log.warning("ignoring unreadable run description %s", run_file)
            continue
        if not state.get("finished"):
            runs.append(PendingRun(run_file.parent.name, request, saved_step(request)))
    return runs


def write_run_state(request: FineTuneRequest, finished: bool) -> None:
    """Keep a named run's request and whether it finished beside its checkpoint (run.json)."""
    if request.work is None:
        return
    if not (request.resume or finished):  # a fresh run: no earlier run's checkpoint may stay
        for stale in (request.checkpoint, training_state_path(request.checkpoint)):
            stale.unlink(missing_ok=True)
    state = {"request": asdict(request), "finished": finished}
    atomic_write_text(Path(request.work).parent / RUN_FILE, json.dumps(state, indent=2),
                      error=ModelError)


def saved_step(request: FineTuneRequest) -> int:
    """Steps in the run's resumable checkpoint; 0 when there is none."""
    checkpoint = request.checkpoint
    if not (checkpoint.exists() and training_state_path(checkpoint).exists()):
        return 0
    try:
        return read_meta(checkpoint).train_step
    except ModelError:
        return 0
