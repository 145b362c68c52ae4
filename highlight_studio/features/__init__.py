"""Per-step clip features: image backbone embeddings, log-mel audio, and their disk cache."""

from .audio import AudioFeatureConfig, audio_step_features, audio_step_mels
from .cache import FeatureCache, cache_key
from .extract import ClipFeatures, extract_features
from .visual import (
    DEFAULT_BACKBONE,
    Backbone,
    available_backbones,
    best_device,
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
    "audio_step_mels",
    "available_backbones",
    "best_device",
    "cache_key",
    "create_backbone",
    "extract_features",
    "register_backbone",
]
