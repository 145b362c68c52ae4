"""Self-describing checkpoints: one ``.safetensors`` file whose header carries the metadata.

The weights and a JSON description (:class:`~.description.CheckpointMeta`: format version,
:class:`RASLConfig`, backbone id, feature sizes, step seconds, training data and options, seed,
final losses and diagnostics) travel in one file, written atomically, so a model can never be
separated from what it expects. A resumable run also writes ``<stem>.train.pt`` beside it
(optimizer, RNG states, step).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import ModelError
from ..fileio import atomic_path
from .description import (
    META_KEY,
    SUFFIX,
    CheckpointMeta,
    read_meta,
    resolve_checkpoint,
    training_state_path,
)
from .rasl import RASL


def save_checkpoint(path: str | Path, model: RASL, meta: CheckpointMeta, *, fp16: bool = False,
                    training_state: dict[str, Any] | None = None) -> Path:
    """Write ``model`` and ``meta`` to ``path`` (``.safetensors`` added if missing).

    ``fp16`` halves the file for shipped models (loading casts back to float32).
    ``training_state`` (optimizer, RNG, step) goes to ``<stem>.train.pt`` for resuming, with
    the float32 weights of the same step: the two files are renamed one after the other, so
    only the state file is a consistent snapshot to resume from. It is written first, so a
    failed write leaves both files at the previous step (or the state a step ahead).
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
    header = {META_KEY: json.dumps(meta.to_dict()), "dtype": str(dtype).removeprefix("torch.")}
    if training_state is not None:
        weights = {name: t.detach().to("cpu", torch.float32).clone()
                   for name, t in model.state_dict().items()}
        with atomic_path(training_state_path(path), error=ModelError) as tmp:
            torch.save({**training_state, "model": weights}, tmp)
    with atomic_path(path, error=ModelError) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return path


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
    expected = model.state_dict()
    for name, tensor in state.items():
        if name in expected and tensor.shape != expected[name].shape:
            raise ModelError(
                f"{path}: the tensor {name} has shape {tuple(tensor.shape)} but the described "
                f"model needs {tuple(expected[name].shape)}; the file is corrupt or was "
                "edited.")
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
