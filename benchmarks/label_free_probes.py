"""Label-free scorers on a benchmark features folder: what simple signals are worth (yth mAP).

    python benchmarks/label_free_probes.py [--dataset ../shared/benchmarks/yth-train]
                                           [--orient-by rasl-yth-i3d] [--by-length]

Each probe scores a video's steps from its own features only (no labels, nothing fitted across
videos); labels are read afterwards to measure. They bound what an unsupervised model should
at least reach, and hint at what RASL's k-point contrast could learn: the dominant direction of
change within a clip (its first principal component), oriented so that it agrees with the
feature norm (the sign is otherwise arbitrary, which is the sign problem METHOD.md describes).
A windowed main axis (the model's benchmark window, half-overlapping, z-scored and averaged)
asks whether a local axis serves long videos better than the clip's global one.
Corpus probes fit one thing across all videos' features (still no labels): how typical a step
is among other videos' steps (over all videos, and only among videos of the same domain, which
is dataset metadata, not a label), the video-duration cue of Xiong et al. (CVPR 2019), and a
consensus "highlight direction": the mean of the other clips' norm-oriented main axes
(leave-one-out), used to orient each clip's own axis or as a fixed linear scorer; and the main
axis distilled into one linear scorer of a step's unit feature (ridge regression on every
clip's z-scored main axis, cross-fitted: each half of the videos is scored by the fit on the
other half), the linear counterpart of ``RASLConfig.axis_weight``.
``--by-length`` splits the videos into length quartiles and compares the norm with the
main-axis baseline in each: held-out sets with longer videos (TVSum) may not behave like the
median 35-step clip here.
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
from highlight_studio.model.checkpoint import load_checkpoint
from highlight_studio.model.clip_readout import main_axis, orientation
from highlight_studio.model.config import BENCHMARK_WINDOW
from highlight_studio.model.inference import score_sequence

Scorer = Callable[[np.ndarray, np.ndarray | None], np.ndarray]
Features = dict[str, tuple[np.ndarray, np.ndarray | None]]
DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "yth-train"


def norm(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x, axis=1)


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / (norm(x)[:, None] + 1e-9)


def pc1_by_norm(visual: np.ndarray, audio: np.ndarray | None) -> np.ndarray:
    return main_axis(visual, norm(visual))


def joint_pc1_by_norm(visual: np.ndarray, audio: np.ndarray | None) -> np.ndarray:
    if audio is None:
        return pc1_by_norm(visual, audio)
    joint = np.concatenate([visual / (norm(visual).mean() + 1e-9),
                            audio / (norm(audio).mean() + 1e-9)], axis=1)
    return main_axis(joint, norm(visual))


def zscore(s: np.ndarray) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64)
    return (s - s.mean()) / (s.std() + 1e-12)


def windowed_main_axis(visual: np.ndarray, window: int = BENCHMARK_WINDOW) -> np.ndarray:
    """The norm-oriented main axis of each half-overlapping window, z-scored and averaged."""
    n, hop = len(visual), max(1, window // 2)
    if n <= window:
        return pc1_by_norm(visual, None)
    total, count = np.zeros(n), np.zeros(n)
    starts = list(range(0, n - window + 1, hop))
    if starts[-1] != n - window:
        starts.append(n - window)
    for start in starts:
        part = visual[start:start + window]
        total[start:start + window] += zscore(pc1_by_norm(part, None))
        count[start:start + window] += 1
    return total / count


def temporal_change(visual: np.ndarray, audio: np.ndarray | None) -> np.ndarray:
    change = np.zeros(len(visual))
    change[1:] = norm(np.diff(visual, axis=0))
    return change


def kpoint_direction(x: np.ndarray, share: float, reference: np.ndarray | None = None
                     ) -> np.ndarray:
    """Projection on mean(top) - mean(bottom), the ``share`` of steps highest and lowest by
    ``reference`` (default the norm): the split a k-point contrast on the inputs separates."""
    reference = norm(x) if reference is None else reference
    k = min(max(1, round(share * len(x))), len(x) // 2)
    if k < 1:
        return reference
    order = np.argsort(reference)
    return x @ (x[order[-k:]].mean(axis=0) - x[order[:k]].mean(axis=0))


def cross_video_typicality(features: Features, k: int = 10) -> dict[str, np.ndarray]:
    """Mean cosine of each step to its k nearest steps in *other* videos: content that many
    videos share (the query's typical action) scores high."""
    names = list(features)
    unit = [unit_rows(features[n][0]) for n in names]
    bank = np.concatenate(unit)
    owner = np.concatenate([np.full(len(u), i) for i, u in enumerate(unit)])
    out = {}
    for i, (name, u) in enumerate(zip(names, unit, strict=True)):
        sims = u @ bank.T
        sims[:, owner == i] = -np.inf
        out[name] = np.sort(sims, axis=1)[:, -k:].mean(axis=1)
    return out


def typicality_within_domain(features: Features, domains: dict[str, str], k: int = 10
                             ) -> dict[str, np.ndarray]:
    """As ``cross_video_typicality``, among videos of the same domain only (recurrence of the
    domain's typical action; the domain is dataset metadata, not a highlight label)."""
    out = {}
    for domain in set(domains.values()):
        names = [n for n in features if domains[n] == domain]
        if len(names) == 1:  # no other video to compare with: fall back to the norm
            out[names[0]] = norm(features[names[0]][0])
            continue
        out.update(cross_video_typicality({n: features[n] for n in names}, k))
    return out


def main_axis_direction(visual: np.ndarray) -> np.ndarray | None:
    """The clip's unit first principal direction, signed to agree with the norm (or None)."""
    x = visual.astype(np.float64)
    if len(x) < 3:
        return None
    centred = x - x.mean(axis=0)
    direction = np.linalg.svd(centred, full_matrices=False)[2][0]
    sign = orientation(centred @ direction, norm(x))
    return sign * direction if sign else None  # a flat or orthogonal norm: no sign to take


def consensus_directions(features: Features) -> dict[str, np.ndarray]:
    """For each clip, the mean of the *other* clips' norm-oriented main-axis directions."""
    directions = {n: main_axis_direction(v) for n, (v, _) in features.items()}
    total = np.sum([d for d in directions.values() if d is not None], axis=0)
    count = sum(d is not None for d in directions.values())
    if count == 0:  # no clip has a direction: nothing to agree on
        return {n: np.zeros(features[n][0].shape[1]) for n in directions}
    return {n: total / count if d is None else (total - d) / max(count - 1, 1)
            for n, d in directions.items()}


def consensus_oriented_axis(features: Features) -> dict[str, np.ndarray]:
    """Each clip's main axis, signed to agree with the other clips' consensus direction."""
    out = {}
    for name, u in consensus_directions(features).items():
        x = features[name][0].astype(np.float64)
        direction = main_axis_direction(x)
        if direction is None:
            out[name] = norm(x)
            continue
        out[name] = (x - x.mean(axis=0)) @ (direction if direction @ u >= 0 else -direction)
    return out


def consensus_projection(features: Features) -> dict[str, np.ndarray]:
    """Every step's projection on the other clips' consensus direction: one fixed scorer."""
    return {name: features[name][0].astype(np.float64) @ u
            for name, u in consensus_directions(features).items()}


def halves(names: list[str]) -> tuple[list[str], list[str]]:
    """A fixed seeded split of the sorted video ids into two halves (also cross_fit.py's)."""
    names = sorted(names)
    order = np.random.default_rng(0).permutation(len(names))
    cut = len(names) // 2
    return [names[i] for i in order[:cut]], [names[i] for i in order[cut:]]


def distilled_axis(features: Features, ridge: float = 0.1) -> dict[str, np.ndarray]:
    """Ridge from unit features to each clip's z-scored norm-oriented main axis, fitted on one
    half of the videos (``halves``) and applied to the other. ``ridge`` is per step."""
    split = halves(list(features))
    unit = {n: unit_rows(v.astype(np.float64)) for n, (v, _) in features.items()}
    out = {}
    for fit, apply in (split, split[::-1]):
        x = np.concatenate([unit[n] for n in fit])
        y = np.concatenate([zscore(pc1_by_norm(features[n][0], None)) if len(unit[n]) > 2
                            else np.zeros(len(unit[n])) for n in fit])
        x_mean, y_mean = x.mean(axis=0), y.mean()
        xc = x - x_mean
        w = np.linalg.solve(xc.T @ xc + ridge * len(x) * np.eye(x.shape[1]),
                            xc.T @ (y - y_mean))
        out.update({n: (unit[n] - x_mean) @ w for n in apply})
    return out


def duration_cue(features: Features, ridge: float = 1.0) -> dict[str, np.ndarray]:
    """Ridge regression from unit features to "this clip is no longer than the median clip"
    (short clips hold a larger share of highlights; Xiong et al., CVPR 2019)."""
    lengths = {n: len(v) for n, (v, _) in features.items()}
    median = np.median(list(lengths.values()))
    unit = {n: unit_rows(v) for n, (v, _) in features.items()}
    x = np.concatenate(list(unit.values()))
    y = np.concatenate([np.full(lengths[n], float(lengths[n] <= median)) for n in unit])
    x_mean, y_mean = x.mean(axis=0), y.mean()
    xc = x - x_mean
    w = np.linalg.solve(xc.T @ xc + ridge * np.eye(x.shape[1]), xc.T @ (y - y_mean))
    return {n: (u - x_mean) @ w for n, u in unit.items()}


PROBES: dict[str, Scorer] = {
    "visual L2 norm": lambda v, a: norm(v),
    "audio L2 norm": lambda v, a: norm(a) if a is not None else norm(v),
    "temporal change of visual features": temporal_change,
    "distance to the clip's mean feature": lambda v, a: norm(v - v.mean(axis=0)),
    "first principal component, oriented by norm": pc1_by_norm,
    "joint audio-visual first component, oriented by norm": joint_pc1_by_norm,
    "k-point direction, top/bottom 10 % by norm": lambda v, a: kpoint_direction(v, 0.1),
    "k-point direction, top/bottom 30 % by norm": lambda v, a: kpoint_direction(v, 0.3),
    f"main axis per {BENCHMARK_WINDOW}-step window (half overlap), oriented by norm":
        lambda v, a: windowed_main_axis(v),
}
CORPUS_PROBES: dict[str, Callable[[Features], dict[str, np.ndarray]]] = {
    "typicality among other videos' steps (10-NN cosine)": cross_video_typicality,
    "duration cue (ridge: clip no longer than the median)": duration_cue,
    "main axis oriented by the other clips' consensus direction": consensus_oriented_axis,
    "projection on the other clips' consensus direction": consensus_projection,
    "main axis distilled into a linear scorer (ridge, cross-fitted halves)": distilled_axis,
}


def model_readouts(checkpoint: str, features: Features, annotations) -> None:
    """The model's own mAP, then the same clip-level directions oriented by its scores instead
    of the norm: what a readout along the clip's main contrast would add to the model."""
    model, _ = load_checkpoint(checkpoint)
    share = model.config.k / model.config.window
    model_scores = {vid: score_sequence(model, v.astype(np.float32), readout="activation")
                    for vid, (v, _) in features.items()}
    readouts: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
        f"{checkpoint}: its score": lambda v, m: m,
        f"{checkpoint}: first principal component, oriented by the score":
            main_axis,
        f"{checkpoint}: k-point direction, top/bottom 10 % by the score":
            lambda v, m: kpoint_direction(v, 0.1, m),
        f"{checkpoint}: k-point direction, top/bottom k/window = {share:.0%} by the score":
            lambda v, m: kpoint_direction(v, share, m),
    }
    for name, readout in readouts.items():
        scores = {vid: readout(v.astype(np.float32), model_scores[vid])
                  for vid, (v, _) in features.items()}
        print(f"| {name} | {evaluate_scores(annotations, scores).headline:.3f} |")


def by_length(features: Features, annotations) -> None:
    """Mean per-video AP of the norm, the main axis and the windowed main axis, by quartile of
    video length (the windowed axis asks whether long videos want a local axis)."""
    names = list(features)
    lengths = np.array([len(features[n][0]) for n in names])
    edges = np.quantile(lengths, [0.25, 0.5, 0.75])
    band = np.searchsorted(edges, lengths, side="right")
    ap = {}
    for label, scorer in (("norm", lambda v: norm(v)),
                          ("main axis", lambda v: main_axis(v, norm(v))),
                          ("windowed", windowed_main_axis)):
        scores = {n: scorer(features[n][0].astype(np.float32)) for n in names}
        per_video = evaluate_scores(annotations, scores).per_video
        ap[label] = np.array([per_video[n] for n in names])
    print(f"\n| video length (steps) | videos | norm AP | main-axis AP | gain | videos up | "
          f"{BENCHMARK_WINDOW}-step windowed main-axis AP |\n|---|---|---|---|---|---|---|")
    for b in range(4):
        sel = band == b
        if not sel.any():  # many equal lengths can leave a quartile empty
            continue
        gain = ap["main axis"][sel] - ap["norm"][sel]
        print(f"| {lengths[sel].min()}-{lengths[sel].max()} | {sel.sum()} | "
              f"{ap['norm'][sel].mean():.3f} | {ap['main axis'][sel].mean():.3f} | "
              f"{gain.mean():+.3f} | {(gain > 0).sum()} | {ap['windowed'][sel].mean():.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--orient-by", metavar="CHECKPOINT",
                        help="also orient the clip directions by this model's scores")
    parser.add_argument("--by-length", action="store_true",
                        help="only compare the norm and the main axis by video length")
    args = parser.parse_args()
    features = read_benchmark_features(args.dataset)  # labels are not read here
    annotations = read_benchmark_annotations(args.dataset)
    if args.by_length:
        by_length(features, annotations)
        return
    print(f"| probe ({args.dataset.name}) | mAP |\n|---|---|")
    for name, scorer in PROBES.items():
        scores = {vid: scorer(v, a) for vid, (v, a) in features.items()}
        print(f"| {name} | {evaluate_scores(annotations, scores).headline:.3f} |")
    features32 = {vid: (v.astype(np.float32), a) for vid, (v, a) in features.items()}
    for name, corpus_scorer in CORPUS_PROBES.items():
        scores = corpus_scorer(features32)
        print(f"| {name} | {evaluate_scores(annotations, scores).headline:.3f} |")
    domains = {vid: video.domain for vid, video in annotations.videos.items()}
    scores = typicality_within_domain(features32, domains)
    print(f"| typicality among same-domain videos' steps (10-NN cosine) | "
          f"{evaluate_scores(annotations, scores).headline:.3f} |")
    if args.orient_by:
        model_readouts(args.orient_by, features, annotations)


if __name__ == "__main__":
    main()
