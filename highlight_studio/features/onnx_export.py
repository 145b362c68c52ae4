"""Exporting a backbone's network to the ONNX graph :mod:`.onnx_runtime` runs (needs torch,
``onnx`` and ``onnxscript``: developer tools, used by scripts/export_backbone_onnx.py)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import FeatureError
from ..fileio import atomic_path
from .onnx_runtime import INPUT_NAME, OUTPUT_NAME, OnnxSpec, provenance


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
