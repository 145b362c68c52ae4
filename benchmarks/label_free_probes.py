"""Label-free scorers on a benchmark features folder: what simple signals are worth (yth mAP).

    python benchmarks/label_free_probes.py [--dataset ../shared/benchmarks/yth-train]

Each probe scores a video's steps from its own features only (no labels, nothing fitted across
videos); labels are read afterwards to measure. They bound what an unsupervised model should
at least reach, and hint at what RASL's k-point contrast could learn: the dominant direction of
change within a clip (its first principal component), oriented so that it agrees with the
feature norm (the sign is otherwise arbitrary, which is the sign problem METHOD.md describes).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from highlight_studio.evaluation.benchmark import (
    read_benchmark_annotations,
    read_benchmark_features,
)
from highlight_studio.evaluation.protocols import evaluate_scores

Scorer = Callable[[np.ndarray, np.ndarray | None], np.ndarray]
DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "yth-train"


def norm(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x, axis=1)


def oriented(p: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``p`` with the sign that makes it correlate positively with ``reference``."""
    if p.std() == 0 or reference.std() == 0:
        return p
    return p if np.corrcoef(p, reference)[0, 1] >= 0 else -p


def first_component(x: np.ndarray) -> np.ndarray:
    """Projection of each step on the clip's first principal direction."""
    centred = x - x.mean(axis=0)
    if len(x) < 3:
        return np.zeros(len(x))
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[0]


def pc1_by_norm(visual: np.ndarray, audio: np.ndarray | None) -> np.ndarray:
    return oriented(first_component(visual), norm(visual))


def joint_pc1_by_norm(visual: np.ndarray, audio: np.ndarray | None) -> np.ndarray:
    if audio is None:
        return pc1_by_norm(visual, audio)
    joint = np.concatenate([visual / (norm(visual).mean() + 1e-9),
                            audio / (norm(audio).mean() + 1e-9)], axis=1)
    return oriented(first_component(joint), norm(visual))


def temporal_change(visual: np.ndarray, audio: np.ndarray | None) -> np.ndarray:
    change = np.zeros(len(visual))
    change[1:] = norm(np.diff(visual, axis=0))
    return change


PROBES: dict[str, Scorer] = {
    "visual L2 norm": lambda v, a: norm(v),
    "audio L2 norm": lambda v, a: norm(a) if a is not None else norm(v),
    "temporal change of visual features": temporal_change,
    "distance to the clip's mean feature": lambda v, a: norm(v - v.mean(axis=0)),
    "first principal component, oriented by norm": pc1_by_norm,
    "joint audio-visual first component, oriented by norm": joint_pc1_by_norm,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    args = parser.parse_args()
    features = read_benchmark_features(args.dataset)  # labels are not read here
    annotations = read_benchmark_annotations(args.dataset)
    print(f"| probe ({args.dataset.name}) | mAP |\n|---|---|")
    for name, scorer in PROBES.items():
        scores = {vid: scorer(v, a) for vid, (v, a) in features.items()}
        print(f"| {name} | {evaluate_scores(annotations, scores).headline:.3f} |")


if __name__ == "__main__":
    main()
