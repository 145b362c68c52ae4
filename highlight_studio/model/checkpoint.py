"""Self-describing checkpoints: one ``.safetensors`` file whose header carries the metadata.

The weights and a JSON description (format version, :class:`RASLConfig`, backbone id, feature
sizes, step seconds, training data and options, seed, final losses and diagnostics) travel in
one file, written atomically, so a model can never be separated from what it expects. A
resumable run also writes ``<stem>.train.pt`` beside it (optimizer, RNG states, step).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from ..errors import ModelError
from ..fileio import atomic_path
from ..locations import data_roots
from .config import RASLConfig
from .rasl import RASL

FORMAT_VERSION = 1
_META_KEY = "highlight_studio"
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
                diagnostics=data.get("diagnostics", {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"The checkpoint's description is incomplete ({exc}).") from exc


def training_state_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name.removesuffix(SUFFIX) + ".train.pt")


def save_checkpoint(path: str | Path, model: RASL, meta: CheckpointMeta, *, fp16: bool = False,
                    training_state: dict[str, Any] | None = None) -> Path:
    """Write ``model`` and ``meta`` to ``path`` (``.safetensors`` added if missing).

    ``fp16`` halves the file for shipped models (loading casts back to float32).
    ``training_state`` (optimizer, RNG, step) goes to ``<stem>.train.pt`` for resuming.
    """
    path = Path(path)
    if path.suffix != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    if meta.config != model.config:
        raise ModelError("The checkpoint description's config does not match the model's.")
    dtype = torch.float16 if fp16 else torch.float32
    # Shared modules (a shared k-point projection) appear once; safetensors refuses aliases.
    seen: set[int] = set()
    tensors = {}
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        tensors[name] = tensor.detach().to("cpu", dtype).contiguous()
    header = {_META_KEY: json.dumps(meta.to_dict()), "dtype": str(dtype).removeprefix("torch.")}
    with atomic_path(path, error=ModelError) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    if training_state is not None:
        with atomic_path(training_state_path(path), error=ModelError) as tmp:
            torch.save(training_state, tmp)
    return path


def model_dirs() -> list[Path]:
    """Where bare model names are looked up, in order: the checkout's ``models/``, a wheel
    install's (see :mod:`..locations`), then the user data folder."""
    return [*(root / "models" for root in data_roots()),
            Path(platformdirs.user_data_dir("highlight-studio")) / "models"]


def resolve_checkpoint(path_or_name: str | Path) -> Path:
    """A path as given, or a bare name looked up as ``models/<name>.safetensors``."""
    path = Path(path_or_name)
    if path.exists():
        return path
    if path.suffix != SUFFIX and path.with_name(path.name + SUFFIX).exists():
        return path.with_name(path.name + SUFFIX)
    if len(path.parts) == 1:
        for folder in model_dirs():
            candidate = folder / (path.name.removesuffix(SUFFIX) + SUFFIX)
            if candidate.exists():
                return candidate
        searched = ", ".join(str(d) for d in model_dirs())
        raise ModelError(f"No model named {path.name!r}: looked for {path.name}{SUFFIX} in "
                         f"{searched}. Train one with `highlight-studio train` or give a path.")
    raise ModelError(f"Checkpoint {path} does not exist.")


def read_meta(path: str | Path) -> CheckpointMeta:
    """Only the description (cheap: reads the header, not the weights)."""
    path = resolve_checkpoint(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path} is not a readable checkpoint (corrupt or not safetensors): "
                         f"{exc}") from exc
    if _META_KEY not in header:
        raise ModelError(f"{path} is a safetensors file but not a Highlight Studio model "
                         "(no description in its header).")
    try:
        return CheckpointMeta.from_dict(json.loads(header[_META_KEY]))
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: the model description is corrupt ({exc}).") from exc


def load_checkpoint(path_or_name: str | Path, device: str | torch.device | None = None
                    ) -> tuple[RASL, CheckpointMeta]:
    """Rebuild the model from its own description and load its weights (float32, eval mode)."""
    path = resolve_checkpoint(path_or_name)
    meta = read_meta(path)
    model = RASL(meta.config)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read the weights ({exc}).") from exc
    state = {k: v.float() for k, v in tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    # A shared projection is stored once; its alias is the only key allowed to be missing.
    missing = [k for k in missing if not k.endswith("proj_bottom.weight")
               or meta.config.kpoint_projection != "shared"]
    if missing or unexpected:
        raise ModelError(f"{path}: the weights do not fit the described model (missing "
                         f"{missing[:3]}, unexpected {unexpected[:3]}); the file is corrupt.")
    if device is not None:
        model.to(device)
    model.eval()
    return model, meta


def load_training_state(path: str | Path) -> dict[str, Any]:
    """The optimizer/RNG/step state saved beside a checkpoint, for resuming."""
    state_path = training_state_path(resolve_checkpoint(path))
    if not state_path.exists():
        raise ModelError(f"Cannot resume from {path}: {state_path.name} (the optimizer state) "
                         "is missing; start a new run with --init instead.")
    try:
        return torch.load(state_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad pickle
        raise ModelError(f"{state_path} is corrupt: {exc}") from exc


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
