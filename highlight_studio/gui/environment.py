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
    models: tuple[tuple[str, str], ...]  # (name, checkpoint path), shipped models first


def probe_setup(cancel: CancelToken) -> Iterator[object]:
    """A worker job yielding one :class:`LocalSetup`."""
    import torch

    from ..model.checkpoint import SUFFIX, model_dirs

    cancel.raise_if_cancelled()
    if torch.cuda.is_available():
        device, label = "cuda", f"GPU: {torch.cuda.get_device_name(0)}"
    elif torch.backends.mps.is_available():
        device, label = "mps", "GPU: Apple MPS"
    else:
        device, label = "cpu", "CPU (no GPU found)"
    models: dict[str, str] = {}
    for folder in model_dirs():
        if folder.is_dir():
            for path in sorted(folder.glob(f"*{SUFFIX}")):
                models.setdefault(path.name.removesuffix(SUFFIX), str(path))
    yield LocalSetup(device, label, tuple(models.items()))
