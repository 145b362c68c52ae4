"""The RASL visual branch on ONNX Runtime: a clip's windows scored without torch.

``RASL.score`` (prepare -> SA -> encoder -> psi -> w) is exported once per checkpoint to
``<stem>.visual.onnx`` beside its ``.safetensors`` (``scripts/export_scorer_onnx.py``; the
shipped models have theirs). Input ``windows`` float32 ``[B, window, visual_dim]``, output
``scores`` ``[B, window]``: the same activations as PyTorch to about 1e-5 (``TOLERANCE``). The
graph's metadata holds the SHA-256 of the checkpoint file it came from, its window and feature
size; loading checks them, so a graph left beside a retrained or replaced checkpoint is refused
(the caller then runs PyTorch and says so).

Models trained in the app have no graph: exporting needs ``onnxscript``, a developer tool, and
training already loaded torch, so they score on PyTorch (same figures, about a second more to
import it). Windowing, stitching and the clip readout stay in :mod:`.inference`, shared by both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..features.onnx_runtime import check_metadata, cpu_session
from ..fileio import file_sha256
from .config import RASLConfig
from .description import SUFFIX, CheckpointMeta

GRAPH_SUFFIX = ".visual.onnx"
INPUT_NAME, OUTPUT_NAME = "windows", "scores"
TOLERANCE = 1e-4  # max abs activation difference a graph may have from PyTorch
_META_PREFIX = "highlight_studio."
_HINT = "python scripts/export_scorer_onnx.py CHECKPOINT"


def graph_path(checkpoint: Path) -> Path:
    """Where the scorer graph of ``checkpoint`` lives (beside it; it may not exist)."""
    return checkpoint.with_name(checkpoint.name.removesuffix(SUFFIX) + GRAPH_SUFFIX)


@dataclass(frozen=True)
class ScorerSpec:
    """What a scorer graph must have come from: written into its metadata, checked on load."""

    checkpoint_sha256: str  # the .safetensors file, whole
    window: int
    visual_dim: int

    @classmethod
    def of(cls, checkpoint: Path, config: RASLConfig) -> ScorerSpec:
        return cls(file_sha256(checkpoint), config.window, config.visual_dim)

    def as_metadata(self) -> dict[str, str]:
        return {f"{_META_PREFIX}checkpoint_sha256": self.checkpoint_sha256,
                f"{_META_PREFIX}window": str(self.window),
                f"{_META_PREFIX}visual_dim": str(self.visual_dim)}


class OnnxScorer:
    """Scores windows like ``RASL.score`` from a checkpoint's graph; ``config`` is the
    checkpoint's, so :func:`~.inference.score_sequence` takes it in place of the model.

    Raises :class:`ModelError` when onnxruntime or the graph is missing, or the graph is not
    readable or was exported from another checkpoint.
    """

    def __init__(self, checkpoint: Path, meta: CheckpointMeta, threads: int | None = None
                 ) -> None:
        path = graph_path(checkpoint)
        if not path.is_file():  # before hashing the checkpoint: the common case for user models
            raise ModelError(f"{checkpoint.name} has no ONNX graph ({path.name}).")
        self.config = meta.config
        self.path = path
        # Scoring runs after extraction, alone: every core this process may use.
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else os.cpu_count()
        session = cpu_session(path, threads or cores or 1, ModelError, _HINT)
        check_metadata(session, path, ScorerSpec.of(checkpoint, meta.config).as_metadata(),
                       ModelError, _HINT)
        names = ([i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()])
        if names != ([INPUT_NAME], [OUTPUT_NAME]):
            raise ModelError(f"{path} does not have the input '{INPUT_NAME}' and output "
                             f"'{OUTPUT_NAME}' a scorer graph needs. Regenerate it: {_HINT}")
        self._session = session

    def score_windows(self, windows: np.ndarray) -> np.ndarray:
        """float32 ``[B, window, visual_dim]`` -> activations ``[B, window]``."""
        return self._session.run([OUTPUT_NAME], {INPUT_NAME: windows})[0]
