"""What this machine offers: the device analysis will run on and the models to pick from.

Finding out may import torch (seconds on a cold start, and only where a GPU may be: see
``scoring.default_device``), so the window runs :func:`probe_setup` in a worker at start-up and
fills the status bar and model picker when it answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..events import CancelToken


@dataclass(frozen=True)
class LocalSetup:
    device: str  # "cuda", "mps" or "cpu", as analyze() picks it with device=None
    device_label: str  # for the status bar, e.g. "GPU: NVIDIA H100"
    models: tuple[tuple[str, str], ...]  # (name, checkpoint path) besides the default model


def probe_setup(cancel: CancelToken) -> Iterator[object]:
    """A worker job yielding one :class:`LocalSetup`."""
    from ..errors import ModelError
    from ..model.description import SUFFIX, model_dirs, read_meta
    from ..scoring import DEFAULT_MODEL, default_device, frame_backbone

    cancel.raise_if_cancelled()
    device = default_device()  # the same choice analyze() makes
    if device == "cuda":
        import torch

        label = f"GPU: {torch.cuda.get_device_name(0)}"
    else:
        label = {"mps": "GPU: Apple MPS", "cpu": "CPU (no GPU found)"}[device]
    models: dict[str, str] = {}  # the first folder holding a name wins, as in name lookups
    for folder in model_dirs():
        if folder.is_dir():
            for path in sorted(folder.glob(f"*{SUFFIX}")):
                name = path.name.removesuffix(SUFFIX)
                if name == DEFAULT_MODEL or name in models:  # the picker's first entry already
                    continue
                try:  # models trained on benchmark features cannot analyse a clip: not listed
                    if frame_backbone(read_meta(path)) is None:
                        continue
                except ModelError:
                    pass  # listed: picking it explains what is wrong with the file
                models[name] = str(path)
    yield LocalSetup(device, label, tuple(models.items()))
