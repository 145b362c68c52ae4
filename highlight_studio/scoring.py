"""End to end: a clip in, a highlight curve out. The one function both the CLI and GUI call.

The model decides what the analysis needs: its checkpoint names the backbone and step it was
trained on, so features are always extracted to match (and a mismatch is refused, never
silently scored); a model that reads motion gets the motion stream beside the frames'
features. Loading is split from scoring (:func:`load_analyzer`, then :func:`analyze_clip` per
file), so a batch loads the models once.

On the CPU the shipped models run on ONNX Runtime and nothing imports torch, timm or
torchvision (tests/test_torch_free.py); torch loads only for a GPU, a model without a current
graph, or a backbone without one. Either way it loads when an analysis starts, not on import:
the GUI imports this module at start-up and runs analyses in a worker.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import FeatureError, ModelError
from .events import CancelToken, Progress, check_cancel
from .features.backbone_names import FRAME_BACKBONES
from .features.cache import FeatureCache
from .features.onnx_runtime import OnnxFrameBackbone, torch_free_backbone
from .media import MediaInfo
from .model.description import (
    CheckpointMeta,
    check_compatible,
    read_meta,
    resolve_checkpoint,
)
from .model.onnx_scorer import OnnxScorer, graph_path

if TYPE_CHECKING:
    from .features.extract import FrameEmbedder
    from .model.inference import WindowScorer

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # OpenCV loads with the analysis, not with the window
    from .features.extract import ClipFeatures
    from .features.motion import MotionConfig

DEFAULT_MODEL = "default"


@dataclass(frozen=True)
class Analysis:
    """A clip's highlight curve: one score in [0, 1] per step of ``step`` seconds."""

    path: Path
    info: MediaInfo
    model_name: str  # the checkpoint's name (the shipped default or a user's model)
    backbone_id: str
    step: float
    scores: np.ndarray  # float32 [N], min-max normalised over the clip
    device: str  # "cuda", "mps" or "cpu": what the analysis ran on
    notes: tuple[str, ...] = ()  # what the user should know about this curve (no motion, ...)
    visual: np.ndarray | None = None  # float32 [N, D] features scored (None: curve from a cache)

    @property
    def times(self) -> np.ndarray:
        """Start time in seconds of each step (step k covers [k*step, (k+1)*step))."""
        return np.arange(len(self.scores), dtype=np.float64) * self.step


def frame_backbone(meta: CheckpointMeta) -> str | None:
    """The registered backbone a checkpoint's features came from, or None when they were
    precomputed elsewhere (a benchmark's): such a model cannot analyse a clip."""
    name = meta.backbone_id.split(":", 1)[0]
    return name if name in FRAME_BACKBONES else None


def motion_input(meta: CheckpointMeta) -> MotionConfig | None:
    """The motion settings a model reads beside the frames' features; None when it reads the
    frames' features alone."""
    if meta.config.visual_inputs != "visual+motion":
        return None
    from .features.motion import DEFAULT_MOTION, MotionConfig

    return DEFAULT_MOTION if meta.motion is None else MotionConfig.from_dict(meta.motion)


def model_features(features: ClipFeatures, motion: MotionConfig | None) -> np.ndarray:
    """What the model reads per step: the visual features, then the motion descriptor when it
    reads motion (zeros for a clip that has none)."""
    if motion is None:
        return features.visual
    from .features.motion import with_motion

    return with_motion(features.visual, features.motion, motion)


def gpu_possible() -> bool:
    """Whether this machine may have a GPU torch can use, judged without importing torch (an
    NVIDIA or ROCm driver's device files, nvidia-smi on the path, or Apple silicon)."""
    if sys.platform == "darwin":
        return platform.machine() == "arm64"
    driver_files = ("/dev/nvidiactl", "/proc/driver/nvidia", "/dev/kfd")
    return any(os.path.exists(f) for f in driver_files) or shutil.which("nvidia-smi") is not None


def default_device() -> str:
    """CUDA, then MPS, then the CPU, as ``features.visual.best_device``; but torch (seconds to
    import) is asked only where a GPU may be, so a CPU-only machine analyses without it."""
    if "torch" not in sys.modules and not gpu_possible():
        return "cpu"
    from .features.visual import best_device

    return best_device()


@dataclass(frozen=True)
class Analyzer:
    """A model ready to score clips: loaded once, reused for every file of a batch."""

    model_name: str  # the checkpoint's name
    meta: CheckpointMeta
    backbone: FrameEmbedder  # a torch Backbone or a torch-free OnnxFrameBackbone
    scorer: WindowScorer
    device: str  # "cuda", "mps" or "cpu"
    notes: tuple[str, ...] = ()  # why a part runs on PyTorch although ONNX Runtime was possible

    @property
    def runtime(self) -> str:
        """"onnxruntime" when neither part needs torch, else "torch"."""
        torch_free = (isinstance(self.backbone, OnnxFrameBackbone)
                      and isinstance(self.scorer, OnnxScorer))
        return "onnxruntime" if torch_free else "torch"


def load_analyzer(checkpoint: str | Path | None = None, *, device: str | None = None,
                  backbone_weights: str | Path | None = None) -> Analyzer:
    """Load a model and the backbone its features come from.

    On the CPU both run on ONNX Runtime without importing torch where their graphs are shipped
    and current (the default model); a graph that is missing (a model trained in the app) or
    stale falls back to PyTorch, with a warning for a stale one. Raises ModelError for a model
    that cannot analyse a clip, FeatureError for a backbone that cannot run.
    """
    device = device or default_device()
    model_path = resolve_checkpoint(checkpoint or DEFAULT_MODEL)
    meta = read_meta(model_path)
    backbone_name = frame_backbone(meta)
    if backbone_name is None:
        raise ModelError(f"{model_path.name} was trained on precomputed features "
                         f"({meta.backbone_id}), not on frames of a backbone this app runs, so "
                         "it cannot analyse a clip. Pick a model trained on video.")
    notes: list[str] = []
    backbone: FrameEmbedder | None = None
    scorer: WindowScorer | None = None
    if device == "cpu":
        if backbone_weights is None:
            try:
                backbone = torch_free_backbone(meta.backbone_id)
            except FeatureError as exc:
                notes.append(f"backbone on PyTorch: {exc}")
        try:
            scorer = OnnxScorer(model_path, meta)
        except ModelError as exc:
            notes.append(f"model on PyTorch: {exc}")
            if graph_path(model_path).is_file():  # there but unusable (stale): say so
                log.warning("%s The model runs on PyTorch instead.", exc)
    for note in notes:
        log.info("%s", note)
    if backbone is None:
        from .features.visual import create_backbone

        backbone = create_backbone(backbone_name, weights=backbone_weights, device=device)
    motion = motion_input(meta)
    check_compatible(meta, backbone.id, backbone.dim + (motion.dim if motion else 0),
                     meta.step_seconds)
    if scorer is None:
        from .model.checkpoint import load_checkpoint
        from .model.inference import TorchScorer

        model, meta = load_checkpoint(model_path, device=device)
        scorer = TorchScorer(model, device)
    return Analyzer(model_path.stem, meta, backbone, scorer, device,
                    tuple(notes))


def analyze_clip(analyzer: Analyzer, path: str | Path, *, use_cache: bool = True,
                 cancel: CancelToken | None = None) -> Iterator[Progress | Analysis]:
    """One clip with a loaded model: Progress events (stages "features", "scoring"), then
    one Analysis. The unit a batch (or a worker pool) repeats per file.

    Raises MediaError / FeatureError / ModelError with a readable message, or Cancelled.
    """
    from .features.extract import ClipFeatures, extract_features
    from .model.inference import score_sequence

    cache = FeatureCache() if use_cache else None
    features: ClipFeatures | None = None
    motion = motion_input(analyzer.meta)
    # NVDEC beside a CUDA backbone; frames reach the GPU once per batch (Backbone.embed).
    hwaccel = "cuda" if analyzer.device == "cuda" else None
    for event in extract_features(path, analyzer.backbone, analyzer.meta.step_seconds, cache,
                                  with_audio=False, cancel=cancel, motion=motion,
                                  hwaccel=hwaccel):
        if isinstance(event, ClipFeatures):
            features = event
        else:
            yield event
    assert features is not None  # extract_features always ends with its result
    check_cancel(cancel)
    yield Progress("scoring", 0, 1)
    scores = score_sequence(analyzer.scorer, model_features(features, motion))
    yield Progress("scoring", 1, 1)
    notes = (features.motion_note,) if motion is not None and features.motion_note else ()
    yield Analysis(path=features.info.path, info=features.info, model_name=analyzer.model_name,
                   backbone_id=analyzer.backbone.id, step=analyzer.meta.step_seconds,
                   scores=scores, device=analyzer.device,
                   notes=notes,
                   visual=features.visual)


def analyze(
    path: str | Path,
    *,
    checkpoint: str | Path | None = None,
    device: str | None = None,
    use_cache: bool = True,
    backbone_weights: str | Path | None = None,
    cancel: CancelToken | None = None,
) -> Iterator[Progress | Analysis]:
    """Yield Progress events (stages "model", "features", "scoring"), then one Analysis.

    ``checkpoint`` is a path or a model name (``None``: the shipped default). Features come from
    the backbone the model was trained on and are cached per file unless ``use_cache`` is off.
    Raises MediaError / ModelError / FeatureError with a readable message, or Cancelled.
    """
    yield Progress("model", 0, 1, message="loading the model")
    analyzer = load_analyzer(checkpoint, device=device, backbone_weights=backbone_weights)
    yield Progress("model", 1, 1)
    check_cancel(cancel)
    yield from analyze_clip(analyzer, path, use_cache=use_cache, cancel=cancel)
