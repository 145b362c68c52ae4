"""Per-step clip features: image backbone embeddings, log-mel audio, and their disk cache."""

from .audio import AudioFeatureConfig, audio_step_features
from .cache import FeatureCache, cache_key
from .extract import ClipFeatures, extract_features
from .visual import (
    DEFAULT_BACKBONE,
    Backbone,
    available_backbones,
    create_backbone,
    register_backbone,
)

__all__ = [
    "DEFAULT_BACKBONE",
    "AudioFeatureConfig",
    "Backbone",
    "ClipFeatures",
    "FeatureCache",
    "audio_step_features",
    "available_backbones",
    "cache_key",
    "create_backbone",
    "extract_features",
    "register_backbone",
]
