"""End to end: a clip in, a highlight curve out. The one function both the CLI and GUI call.

The model decides what the analysis needs: its checkpoint names the backbone and step it was
trained on, so features are always extracted to match (and a mismatch is refused, never
silently scored); a model that reads motion gets the motion stream beside the frames'
features. Torch, timm and the backbones load when an analysis starts, not on import:
the GUI imports this module at start-up and runs analyses in a worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import ModelError
from .events import CancelToken, Progress, check_cancel
from .features.backbone_names import FRAME_BACKBONES
from .features.cache import FeatureCache
from .media import MediaInfo
from .model.description import CheckpointMeta, check_compatible, resolve_checkpoint

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
    precomputed elsewhere (a benchmark's): such a model cannot analyse a clip. Torch-free, so
    the window can sort its model list at start-up."""
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
    from .features.extract import ClipFeatures, extract_features
    from .features.visual import best_device, create_backbone
    from .model.checkpoint import load_checkpoint
    from .model.inference import score_sequence

    device = device or best_device()
    yield Progress("model", 0, 1, message="loading the model")
    model_path = resolve_checkpoint(checkpoint or DEFAULT_MODEL)
    model, meta = load_checkpoint(model_path, device=device)
    backbone_name = frame_backbone(meta)
    if backbone_name is None:
        raise ModelError(f"{model_path.name} was trained on precomputed features "
                         f"({meta.backbone_id}), not on frames of a backbone this app runs, so "
                         "it cannot analyse a clip. Pick a model trained on video.")
    backbone = create_backbone(backbone_name, weights=backbone_weights, device=device)
    motion = motion_input(meta)
    check_compatible(meta, backbone.id, backbone.dim + (motion.dim if motion else 0),
                     meta.step_seconds)
    yield Progress("model", 1, 1)
    check_cancel(cancel)
    cache = FeatureCache() if use_cache else None
    features: ClipFeatures | None = None
    for event in extract_features(path, backbone, meta.step_seconds, cache, with_audio=False,
                                  cancel=cancel, motion=motion):
        if isinstance(event, ClipFeatures):
            features = event
        else:
            yield event
    assert features is not None  # extract_features always ends with its result
    check_cancel(cancel)
    yield Progress("scoring", 0, 1)
    scores = score_sequence(model, model_features(features, motion), device=device)
    yield Progress("scoring", 1, 1)
    notes = (features.motion_note,) if motion is not None and features.motion_note else ()
    yield Analysis(path=features.info.path, info=features.info, model_name=model_path.stem,
                   backbone_id=backbone.id, step=meta.step_seconds, scores=scores,
                   device=device, notes=notes,
                   visual=features.visual)
