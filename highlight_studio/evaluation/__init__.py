"""Benchmark reading, the yth and tvsum protocols, and label-free baseline scorers."""

from .baselines import BASELINES, baseline_scores
from .benchmark import (
    BenchmarkAnnotations,
    VideoAnnotation,
    read_benchmark_annotations,
    read_benchmark_features,
    read_model_inputs,
    read_motion_features,
    read_visual_features,
    unannotated_feature_files,
)
from .protocols import EvaluationResult, average_precision, evaluate_scores

__all__ = [
    "BASELINES",
    "BenchmarkAnnotations",
    "EvaluationResult",
    "VideoAnnotation",
    "average_precision",
    "baseline_scores",
    "evaluate_scores",
    "read_benchmark_annotations",
    "read_benchmark_features",
    "read_model_inputs",
    "read_motion_features",
    "read_visual_features",
    "unannotated_feature_files",
]
