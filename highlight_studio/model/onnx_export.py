"""Exporting a checkpoint's visual branch to the graph :mod:`.onnx_scorer` runs (needs torch,
``onnx`` and ``onnxscript``: developer tools, used by scripts/export_scorer_onnx.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import ModelError
from ..features.onnx_runtime import provenance
from ..fileio import atomic_path
from .onnx_scorer import INPUT_NAME, OUTPUT_NAME, ScorerSpec
from .rasl import RASL


class _Score(torch.nn.Module):
    """``RASL.score`` as a module's forward, so only the visual branch is traced."""

    def __init__(self, model: RASL) -> None:
        super().__init__()
        self.model = model

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.model.score(windows)


def _store_half(graph: object) -> int:
    """Store float32 weights that are exactly float16 values (a checkpoint saved with fp16) as
    float16 behind a Cast: half the file, identical numbers (ONNX Runtime folds the casts when
    the session loads). Returns how many tensors were stored so."""
    import onnx
    from onnx import helper, numpy_helper

    stored = 0
    for init in list(graph.initializer):  # type: ignore[attr-defined]
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(init)
        half = values.astype(np.float16)
        if values.size < 1024 or not np.array_equal(half.astype(np.float32), values):
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(half, f"{name}.fp16"))
        graph.node.insert(0, helper.make_node(  # type: ignore[attr-defined]
            "Cast", [f"{name}.fp16"], [name], to=onnx.TensorProto.FLOAT))
        stored += 1
    return stored


def export_scorer(model: RASL, spec: ScorerSpec, path: Path) -> None:
    """Export ``model``'s ``score`` with ``spec`` and the library versions as metadata, a
    dynamic batch axis and opset 18; written atomically, as one self-contained file."""
    import onnx

    config = model.config
    if (config.window, config.visual_dim) != (spec.window, spec.visual_dim):
        raise ModelError("The scorer spec does not describe this model.")
    example = torch.zeros(2, config.window, config.visual_dim)
    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(_Score(model).eval(), (example,), input_names=[INPUT_NAME],
                                output_names=[OUTPUT_NAME],
                                dynamic_shapes={"windows": {0: batch}}, opset_version=18,
                                dynamo=True, verbose=False)
    if program is None:  # only the legacy exporter returns nothing
        raise RuntimeError("torch.onnx.export returned no program")
    proto = program.model_proto
    _store_half(proto.graph)
    for key, value in {**spec.as_metadata(), **provenance()}.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    with atomic_path(path, error=ModelError) as tmp:
        onnx.save(proto, str(tmp))
