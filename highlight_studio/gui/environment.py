"""What this machine offers: the device analysis will run on and the models to pick from,
found without importing torch.

A window with a video preview has Mesa's OpenGL loaded, and with software rendering (llvmpipe)
or AMD's driver that brings Mesa's LLVM. Triton bundles another LLVM, and loading it into such a
process crashes it (a segfault, seen on every relaunch on a clip with a cached curve under
Xvfb). Torch imports triton as soon as timm pulls in torchvision, so the window keeps triton
out of its process (:func:`keep_triton_out`; nothing here uses ``torch.compile``), and the
start-up probe asks the GPU driver itself instead of importing torch (which also made the
window wait seconds for its status bar).
"""

from __future__ import annotations

import ast
import ctypes
import importlib.util
import os
import platform
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..events import CancelToken


@dataclass(frozen=True)
class LocalSetup:
    device: str  # "cuda", "mps" or "cpu", as analyze() picks it with device=None
    device_label: str  # for the status bar, e.g. "GPU: NVIDIA H100"
    models: tuple[tuple[str, str], ...]  # (name, checkpoint path) besides the default model


def keep_triton_out() -> None:
    """Make ``import triton`` fail in this process, before Qt loads Mesa: torch then finds no
    triton (``torch.utils._triton.has_triton_package``) and never loads its LLVM."""
    sys.modules.setdefault("triton", None)  # type: ignore[arg-type]


def torch_build() -> dict[str, str]:
    """The GPU toolkits the installed torch was built for, e.g. {"cuda": "12.8"}, read from
    ``torch/version.py`` without importing torch; empty for a CPU build or no torch."""
    spec = importlib.util.find_spec("torch")  # a top-level name: nothing is imported
    if spec is None or not spec.submodule_search_locations:
        return {}
    source = Path(next(iter(spec.submodule_search_locations)), "version.py")
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return {}
    build = {}
    for node in tree.body:  # "cuda: Optional[str] = '12.8'" and "hip = None"
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if (isinstance(target, ast.Name) and target.id in ("cuda", "hip")
                and isinstance(value, ast.Constant) and isinstance(value.value, str)):
            build[target.id] = value.value
    return build


def nvidia_gpu(cuda_version: str) -> tuple[str | None, str]:
    """(name of CUDA device 0, "") when the driver can run torch's ``cuda_version`` build,
    else (None, why not). Asks the driver library, as torch does, through ctypes."""
    try:
        cuda = ctypes.CDLL("nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1")
    except OSError:
        return None, "no GPU found"
    count, version, device = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
    if (cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0
            or count.value < 1):
        return None, "no GPU found"
    if cuda.cuDriverGetVersion(ctypes.byref(version)) == 0:
        supported = version.value // 1000  # 12080 is CUDA 12.8
        if supported < int(cuda_version.split(".")[0]):
            return None, (f"the NVIDIA driver supports CUDA {supported}, this PyTorch "
                          f"needs {cuda_version}")
    name = ctypes.create_string_buffer(256)
    if (cuda.cuDeviceGet(ctypes.byref(device), 0) != 0
            or cuda.cuDeviceGetName(name, len(name), device) != 0 or not name.value):
        return "NVIDIA GPU", ""
    return name.value.decode("utf-8", "replace"), ""


def find_device() -> tuple[str, str]:
    """(device, status bar label): CUDA, then Apple's MPS, then the CPU, as
    ``features.visual.best_device`` picks, told by the driver and torch's build files."""
    build = torch_build()
    if "cuda" in build:
        gpu, why = nvidia_gpu(build["cuda"])
        return ("cuda", f"GPU: {gpu}") if gpu is not None else ("cpu", f"CPU ({why})")
    if "hip" in build and os.path.exists("/dev/kfd"):  # ROCm builds answer to "cuda" too
        return "cuda", "GPU: AMD (ROCm)"
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "mps", "GPU: Apple MPS"
    return "cpu", "CPU (no GPU found)"


def probe_setup(cancel: CancelToken) -> Iterator[object]:
    """A worker job yielding one :class:`LocalSetup`; reads the driver and model headers,
    imports no torch."""
    from ..errors import ModelError
    from ..model.description import SUFFIX, model_dirs, read_meta
    from ..scoring import DEFAULT_MODEL, frame_backbone

    cancel.raise_if_cancelled()
    device, label = find_device()
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
