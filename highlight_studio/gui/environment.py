"""What this machine offers: the device analysis will run on and the models to pick from.

Finding out imports torch (seconds on a cold start), so the window runs :func:`probe_setup` in
a worker at start-up and fills the status bar and model picker when it answers.
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
    import torch

    from ..errors import ModelError
    from ..features.visual import best_device
    from ..model.description import SUFFIX, model_dirs, read_meta
    from ..scoring import DEFAULT_MODEL, frame_backbone

    cancel.raise_if_cancelled()
    device = best_device()  # the same choice analyze() makes
    label = {"cuda": f"GPU: {torch.cuda.get_device_name(0)}" if device == "cuda" else "",
             "mps": "GPU: Apple MPS", "cpu": "CPU (no GPU found)"}[device]
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
