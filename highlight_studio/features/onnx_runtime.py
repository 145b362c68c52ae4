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
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from ..errors import FeatureError
from ..fileio import atomic_path
from ..locations import shipped_dir

RUNTIME_ENV = "HIGHLIGHT_STUDIO_BACKBONE_RUNTIME"
RUNTIMES = ("auto", "onnxruntime", "torch")  # auto: ONNX Runtime where it can run, else torch
INPUT_NAME, OUTPUT_NAME = "images", "features"
ONNX_DIR = shipped_dir("models", "backbones")
_META_PREFIX = "highlight_studio."


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


class OnnxBackbone:
    """An ONNX Runtime CPU session over a shipped backbone graph checked against ``expect``.

    Raises :class:`FeatureError` when onnxruntime is missing, the file is missing or not a
    readable ONNX model, or it was exported from other weights, sizes or another backbone.
    """

    def __init__(self, path: Path, expect: OnnxSpec, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise FeatureError("ONNX Runtime is not installed: pip install onnxruntime") from exc
        if not path.is_file():
            raise FeatureError(f"No ONNX graph for this backbone at {path}.")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or _intra_op_threads()
        options.inter_op_num_threads = 1
        # The decoder thread needs the cores the pool would otherwise spin on between batches.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: its warnings mean nothing to a user
        try:
            session = ort.InferenceSession(str(path), options,
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped Fail/InvalidProtobuf
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise FeatureError(f"{path} is not a readable ONNX model ({detail}). Regenerate "
                               "it: python scripts/export_backbone_onnx.py") from exc
        found = session.get_modelmeta().custom_metadata_map
        for key, want in expect.as_metadata().items():
            if found.get(key) != want:
                raise FeatureError(
                    f"{path} was exported for {key.removeprefix(_META_PREFIX)} "
                    f"{found.get(key)!r}, this backbone has {want!r}: the file is stale. "
                    "Regenerate it: python scripts/export_backbone_onnx.py")
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if [i.name for i in inputs] != [INPUT_NAME] or [o.name for o in outputs] != [OUTPUT_NAME]:
            raise FeatureError(f"{path} does not have the input '{INPUT_NAME}' and output "
                               f"'{OUTPUT_NAME}' a backbone graph needs. Regenerate it: "
                               "python scripts/export_backbone_onnx.py")
        self.path = path
        self.threads = options.intra_op_num_threads
        self._session = session

    def run(self, images: np.ndarray) -> np.ndarray:
        """Normalised float32 ``[B, H, W, 3]`` -> float32 features ``[B, dim]``."""
        return self._session.run([OUTPUT_NAME], {INPUT_NAME: images})[0]


class _NhwcModule(torch.nn.Module):
    """The backbone network behind a transpose: the graph takes what Backbone preprocessing
    hands over as NHWC memory (its channels_last tensor), so feeding it costs no copy."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.module(images.permute(0, 3, 1, 2))


def export_onnx(module: torch.nn.Module, spec: OnnxSpec, path: Path) -> None:
    """Export ``module`` (a backbone network) with ``spec`` and the library versions as
    metadata, a dynamic batch axis and opset 18; needs ``onnx`` and ``onnxscript``.

    Written atomically, as one self-contained file.
    """
    width, height = spec.input_size
    example = torch.zeros(2, height, width, 3)
    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(_NhwcModule(module).eval(), (example,), input_names=[INPUT_NAME],
                                output_names=[OUTPUT_NAME],
                                dynamic_shapes={"images": {0: batch}}, opset_version=18,
                                dynamo=True, verbose=False)
    if program is None:  # only the legacy exporter returns nothing
        raise RuntimeError("torch.onnx.export returned no program")
    program.model.metadata_props.update({**spec.as_metadata(), **provenance()})
    with atomic_path(path, error=FeatureError) as tmp:
        program.save(str(tmp), external_data=False)
