"""What a checkpoint says about itself, read without torch.

A model file's safetensors header carries a JSON :class:`CheckpointMeta` (format version,
:class:`RASLConfig`, backbone, feature sizes, step seconds, training data and options). This
module finds model files by name and reads that description from the header alone, without
importing torch, so the GUI can show a model's settings at once and the core can refuse
features a model was not made for before loading any weights. :mod:`.checkpoint` writes the
files and loads the weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
from safetensors import SafetensorError, safe_open

from ..errors import ModelError
from ..locations import data_roots
from .config import RASLConfig

FORMAT_VERSION = 1
META_KEY = "highlight_studio"
SUFFIX = ".safetensors"


@dataclass(frozen=True)
class CheckpointMeta:
    """Everything needed to rebuild a model and to refuse features it was not made for."""

    config: RASLConfig
    backbone_id: str  # the feature extractor the model was trained on, e.g. "i3d-rgb-kinetics"
    step_seconds: float  # seconds per feature step the model was trained at
    audio_dim: int | None = None  # width of the audio features used in training
    training_data: dict[str, Any] = field(default_factory=dict)
    training_options: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    train_step: int = 0  # optimizer steps taken when this was written
    final_losses: dict[str, float] = field(default_factory=dict)
    diagnostics: dict[str, float] = field(default_factory=dict)
    # The motion settings (features.motion.MotionConfig.as_dict) of a model that reads motion
    # from clips; None: the defaults, or a model that reads none (or benchmark motion features)
    motion: dict[str, Any] | None = None
    format_version: int = FORMAT_VERSION

    @property
    def visual_dim(self) -> int:
        return self.config.visual_dim

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version, "config": self.config.to_dict(),
            "backbone_id": self.backbone_id, "visual_dim": self.visual_dim,
            "audio_dim": self.audio_dim, "step_seconds": self.step_seconds,
            "training_data": self.training_data, "training_options": self.training_options,
            "seed": self.seed, "train_step": self.train_step,
            "final_losses": self.final_losses, "diagnostics": self.diagnostics,
            "motion": self.motion,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckpointMeta:
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ModelError(f"Checkpoint format version {version} is not supported by this "
                             f"version of Highlight Studio (it reads version {FORMAT_VERSION}).")
        try:
            return cls(
                config=RASLConfig.from_dict(data["config"]),
                backbone_id=str(data["backbone_id"]), step_seconds=float(data["step_seconds"]),
                audio_dim=data.get("audio_dim"), training_data=data.get("training_data", {}),
                training_options=data.get("training_options", {}), seed=data.get("seed"),
                train_step=int(data.get("train_step", 0)),
                final_losses=data.get("final_losses", {}),
                diagnostics=data.get("diagnostics", {}), motion=data.get("motion"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"The checkpoint's description is incomplete ({exc}).") from exc


def model_dirs() -> list[Path]:
    """Where bare model names are looked up, in order: the checkout's ``models/``, a wheel
    install's (see :mod:`..locations`), then the user data folder."""
    return [*(root / "models" for root in data_roots()),
            Path(platformdirs.user_data_dir("highlight-studio")) / "models"]


def training_state_path(path: str | Path) -> Path:
    """Where a checkpoint's resumable training state (optimizer, RNG, step) is kept."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(SUFFIX) + ".train.pt")


def resolve_checkpoint(path_or_name: str | Path) -> Path:
    """A path as given, or a bare name looked up as ``models/<name>.safetensors``."""
    path = Path(path_or_name)
    if path.is_file():  # not a folder that happens to share a model's name
        return path
    if path.suffix != SUFFIX and path.with_name(path.name + SUFFIX).is_file():
        return path.with_name(path.name + SUFFIX)
    if len(path.parts) == 1:
        for folder in model_dirs():
            candidate = folder / (path.name.removesuffix(SUFFIX) + SUFFIX)
            if candidate.is_file():
                return candidate
        searched = ", ".join(str(d) for d in model_dirs())
        raise ModelError(f"No model named {path.name!r}: looked for {path.name}{SUFFIX} in "
                         f"{searched}. Train one with `highlight-studio train` or give a path.")
    raise ModelError(f"Checkpoint {path} does not exist.")


def read_meta(path: str | Path) -> CheckpointMeta:
    """Only the description (cheap: reads the header, not the weights)."""
    path = resolve_checkpoint(path)
    try:
        with safe_open(str(path), framework="numpy") as handle:
            header = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path} is not a readable checkpoint (corrupt or not safetensors): "
                         f"{exc}") from exc
    if META_KEY not in header:
        raise ModelError(f"{path} is a safetensors file but not a Highlight Studio model "
                         "(no description in its header).")
    try:
        return CheckpointMeta.from_dict(json.loads(header[META_KEY]))
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: the model description is corrupt ({exc}).") from exc


def check_compatible(meta: CheckpointMeta, backbone_id: str, visual_dim: int,
                     step: float) -> None:
    """Refuse features the model was not trained on, with a message that says what differs."""
    if backbone_id != meta.backbone_id:
        raise ModelError(f"This model was trained on {meta.backbone_id} features, but these "
                         f"are {backbone_id} features. Use a model trained on {backbone_id} or "
                         f"extract features with {meta.backbone_id}.")
    if visual_dim != meta.visual_dim:
        raise ModelError(f"This model expects {meta.visual_dim}-wide visual features, got "
                         f"{visual_dim}.")
    if abs(step - meta.step_seconds) > 1e-6 * max(1.0, step):
        raise ModelError(f"This model was trained at {meta.step_seconds:g} s per step, but the "
                         f"features are {step:g} s apart; re-extract at {meta.step_seconds:g} s.")
