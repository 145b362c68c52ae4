"""Model-card material for a highlight model on one clip: a figure, determinism, baselines.

    python scripts/model_report.py CLIP [--model default] [--png OUT.png] [--json OUT.json]

1. A PNG of the score curve over time (mm:ss) with thumbnails of the frames at the five
   highest peaks above it and the five lowest troughs below it, so a reader sees at a glance
   what the model calls a highlight and what it calls dull.
2. Determinism: the clip is analysed twice with the feature cache off; the scores must be
   bit-identical (exit status 1 otherwise), since a shipped model must give every user the
   same curve for the same file.
3. How the model's ranking differs from two model-free baselines on the same steps: the L2
   norm of the same backbone features, and the frame difference (mean absolute pixel change
   from the previous step's frame, at the backbone's input size). A model that only tracks
   motion or feature energy would correlate strongly with one of them; Spearman correlation
   and the overlap of the top 10 % of steps (beside its chance level) say how much.

The summary is printed as JSON and written with ``--json``. The reusable pieces (rank
statistics, baseline curves, peak picking) are plain functions on numpy arrays.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from matplotlib.figure import Figure  # no pyplot: a Figure renders with Agg, no display needed
from matplotlib.patches import ConnectionPatch
from matplotlib.ticker import FuncFormatter, MultipleLocator

from highlight_studio.errors import HighlightStudioError
from highlight_studio.features.extract import ClipFeatures, extract_features
from highlight_studio.features.visual import create_backbone
from highlight_studio.fileio import atomic_path
from highlight_studio.media import frames_at, iter_frames
from highlight_studio.scoring import DEFAULT_MODEL, Analysis, analyze

T = TypeVar("T")

N_EXTREMES = 5  # thumbnails above (peaks) and below (troughs) the curve
THUMB_WIDTH = 192  # pixels; height follows the clip's aspect ratio
TICK_SECONDS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


# --- rank statistics --------------------------------------------------------------------------

def average_ranks(values: np.ndarray) -> np.ndarray:
    """0-based ranks of a 1-D array, ties sharing their mean rank (as Spearman's rho needs)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or not np.isfinite(values).all():
        raise ValueError("expected a 1-D array of finite values")
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values))
    ranks[order] = np.repeat((starts + ends - 1) / 2.0, ends - starts)
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman rank correlation; None where it is undefined (a constant curve, < 2 steps)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"curves differ in length: {a.shape} vs {b.shape}")
    if len(a) < 2:
        return None
    ra, rb = average_ranks(a), average_ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def top_count(n: int, fraction: float) -> int:
    """How many steps "the top ``fraction``" of ``n`` is: rounded up, at least one."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return max(1, math.ceil(fraction * n - 1e-9))


def top_overlap(a: np.ndarray, b: np.ndarray, fraction: float = 0.1) -> float:
    """Share of ``a``'s top-``fraction`` steps that are also among ``b``'s (1.0: the same set).

    Ties are broken towards the earlier step, the same way for both curves. Two unrelated
    curves overlap by about ``fraction`` by chance (:func:`compare_rankings` reports it).
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"expected two non-empty 1-D curves of one length: {a.shape}, {b.shape}")
    k = top_count(len(a), fraction)
    top_a = set(np.argsort(-a, kind="stable")[:k].tolist())
    top_b = set(np.argsort(-b, kind="stable")[:k].tolist())
    return len(top_a & top_b) / k


def compare_rankings(scores: np.ndarray, baseline: np.ndarray, fraction: float = 0.1
                     ) -> dict[str, float | None]:
    """Spearman and top-``fraction`` overlap of a baseline with the model, and the overlap
    two random rankings would have on average (``k / n``), to read the overlap against."""
    k = top_count(len(scores), fraction)
    return {"spearman": spearman(scores, baseline),
            "top_overlap": top_overlap(scores, baseline, fraction),
            "chance_overlap": k / len(scores)}


# --- baselines --------------------------------------------------------------------------------

def feature_norm_curve(visual: np.ndarray) -> np.ndarray:
    """L2 norm of each step's feature vector ``[N, D] -> [N]``: "feature energy"."""
    visual = np.asarray(visual, dtype=np.float64)
    if visual.ndim != 2:
        raise ValueError(f"expected features [N, D], got shape {visual.shape}")
    return np.linalg.norm(visual, axis=1)


def frame_difference_curve(frames: Iterable[np.ndarray]) -> np.ndarray:
    """Mean absolute pixel difference of each frame to the one before it ``-> [N]``.

    The first step has no predecessor and takes its neighbour's value, so it neither tops nor
    bottoms the ranking by construction. Frames are streamed, so a long clip is never held in
    memory; they must share one shape (decode them at one size).
    """
    diffs: list[float] = []
    previous: np.ndarray | None = None
    for frame in frames:
        current = np.asarray(frame, dtype=np.int16)
        if previous is not None:
            if current.shape != previous.shape:
                raise ValueError(f"frame shapes differ: {previous.shape} vs {current.shape}")
            diffs.append(float(np.abs(current - previous).mean()))
        previous = current
    if previous is None:
        return np.zeros(0)
    return np.array(diffs[:1] + diffs if diffs else [0.0])


# --- the figure ---------------------------------------------------------------------------------

def pick_extremes(scores: np.ndarray, count: int, min_gap: int) -> np.ndarray:
    """Indices of up to ``count`` highest steps, each at least ``min_gap`` steps from the others.

    Greedy from the top, so a broad peak gives one thumbnail, not five neighbouring frames.
    Returned in time order. For troughs pass ``-scores``.
    """
    chosen: list[int] = []
    for i in np.argsort(-np.asarray(scores), kind="stable"):
        if all(abs(int(i) - j) >= min_gap for j in chosen):
            chosen.append(int(i))
            if len(chosen) == count:
                break
    return np.array(sorted(chosen), dtype=np.int64)


def format_clock(seconds: float, _pos: object = None, *, tenths: bool = False) -> str:
    """``mm:ss`` (``h:mm:ss`` from an hour on), truncated like a player's clock; ``tenths``
    adds ``.d`` where whole seconds are too coarse (labels of 0.2 s steps)."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
    return f"{text}.{int(max(0.0, seconds) * 10 + 1e-6) % 10}" if tenths else text


def _tick_seconds(duration: float) -> int:
    """A whole-second tick spacing giving at most about ten labels."""
    return next((t for t in TICK_SECONDS if duration / t <= 10), TICK_SECONDS[-1])


def plot_report(png: Path, analysis: Analysis, peaks: np.ndarray, troughs: np.ndarray,
                thumbs_peaks: list[np.ndarray], thumbs_troughs: list[np.ndarray]) -> Path:
    """Draw the curve with its peak thumbnails above and trough thumbnails below; write ``png``.

    Each thumbnail is joined to its point on the curve by a thin line; both rows are in time
    order so the lines do not cross.
    """
    times, scores = analysis.times, analysis.scores
    columns = max(len(peaks), len(troughs), 1)
    fig = Figure(figsize=(2.6 * max(columns, 5), 8.0), dpi=110)
    grid = fig.add_gridspec(3, columns, height_ratios=[1.0, 1.7, 1.0], hspace=0.35)
    curve = fig.add_subplot(grid[1, :])
    curve.plot(times, scores, color="0.2", linewidth=1.2)
    curve.fill_between(times, scores, color="0.85")
    curve.plot(times[peaks], scores[peaks], "v", color="tab:red")
    curve.plot(times[troughs], scores[troughs], "^", color="tab:blue")
    curve.set_xlim(0, max(analysis.info.duration, float(times[-1]) if len(times) else 0.0))
    curve.set_ylim(-0.05, 1.05)
    curve.xaxis.set_major_locator(MultipleLocator(_tick_seconds(analysis.info.duration)))
    curve.xaxis.set_major_formatter(FuncFormatter(format_clock))
    curve.set_xlabel("time (mm:ss)")
    curve.set_ylabel("highlight score")
    fig.suptitle(f"{analysis.path.name} - model '{analysis.model_name}' "
                 f"({analysis.backbone_id}, {analysis.step:g} s steps): top peaks above, "
                 "lowest troughs below", fontsize="medium")
    for row, indices, images, colour in ((0, peaks, thumbs_peaks, "tab:red"),
                                         (2, troughs, thumbs_troughs, "tab:blue")):
        for column, (index, image) in enumerate(zip(indices, images, strict=True)):
            ax = fig.add_subplot(grid[row, column])
            ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
            ax.set_title(f"{format_clock(times[index], tenths=True)}  score {scores[index]:.2f}",
                         fontsize="small")
            height, width = image.shape[:2]
            anchor = (width / 2, height if row == 0 else 0)  # image y grows downwards
            fig.add_artist(ConnectionPatch(
                xyA=anchor, coordsA=ax.transData, xyB=(times[index], scores[index]),
                coordsB=curve.transData, color=colour, linewidth=0.6, alpha=0.7))
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    return png


# --- the report ---------------------------------------------------------------------------------

def _result(events: Iterable[object], kind: type[T]) -> T:
    """Drain a pipeline generator to its end (so it cleans up) and return its one result."""
    results = [e for e in events if isinstance(e, kind)]
    assert len(results) == 1  # analyze and extract_features end with exactly one result
    return results[0]


def _analysis(clip: Path, model: str | Path, device: str | None,
              backbone_weights: Path | None) -> Analysis:
    return _result(analyze(clip, checkpoint=model, device=device, use_cache=False,
                           backbone_weights=backbone_weights), Analysis)


def baseline_curves(analysis: Analysis, backbone_weights: Path | None = None
                    ) -> dict[str, np.ndarray]:
    """Both baselines on the analysis's own step grid: the norm of the model's backbone
    features (extracted again, uncached) and the frame difference at the backbone's size."""
    backbone = create_backbone(analysis.backbone_id.split(":", 1)[0], weights=backbone_weights,
                               device=analysis.device)
    visual = _result(extract_features(analysis.path, backbone, analysis.step, None,
                                      with_audio=False), ClipFeatures).visual
    frames = iter_frames(analysis.path, analysis.step, backbone.input_size)
    return {"feature_norm": feature_norm_curve(visual),
            "frame_difference": frame_difference_curve(f.image for f in frames)}


def _moment(seconds: float, score: float) -> dict[str, Any]:
    return {"time": format_clock(seconds, tenths=True), "seconds": round(float(seconds), 3),
            "score": round(float(score), 4)}


def model_report(clip: str | Path, model: str | Path = DEFAULT_MODEL, *, png: str | Path,
                 device: str | None = None, backbone_weights: str | Path | None = None,
                 top_fraction: float = 0.1) -> dict[str, Any]:
    """Analyse ``clip`` twice, draw the figure to ``png`` and return the summary as a dict.

    ``determinism.identical`` in the result is False if the two uncached analyses differ in
    any bit.
    """
    clip, png = Path(clip), Path(png)
    weights = Path(backbone_weights) if backbone_weights is not None else None
    first = _analysis(clip, model, device, weights)
    second = _analysis(clip, model, device, weights)
    scores = first.scores
    identical = bool(np.array_equal(scores, second.scores))
    run_difference = float(np.abs(scores - second.scores).max()) if len(scores) else 0.0

    min_gap = max(1, round(len(scores) / 20))  # thumbnails at least 5 % of the clip apart
    peaks = pick_extremes(scores, N_EXTREMES, min_gap)
    troughs = pick_extremes(-scores, N_EXTREMES, min_gap)
    info = first.info
    thumb_size = (THUMB_WIDTH, max(2, round(THUMB_WIDTH * info.height / info.width / 2) * 2))
    times = first.times
    thumbs = frames_at(clip, [float(times[i]) for i in np.r_[peaks, troughs]], size=thumb_size)
    plot_report(png, first, peaks, troughs, thumbs[:len(peaks)], thumbs[len(peaks):])

    baselines = baseline_curves(first, weights)
    return {
        "clip": str(clip), "model": first.model_name, "backbone": first.backbone_id,
        "step_seconds": first.step, "steps": len(scores), "duration_s": info.duration,
        "device": first.device,
        "determinism": {"identical": identical, "max_abs_difference": run_difference},
        "peaks": [_moment(times[i], scores[i]) for i in peaks],
        "troughs": [_moment(times[i], scores[i]) for i in troughs],
        "top_fraction": top_fraction,
        "baselines": {name: compare_rankings(scores, curve, top_fraction)
                      for name, curve in baselines.items()},
        "png": str(png),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", type=Path)
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="checkpoint path or model name (default: the shipped model)")
    parser.add_argument("--png", type=Path, help="figure path (default: CLIP_STEM.report.png "
                        "in the current folder)")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    parser.add_argument("--device", help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--backbone-weights", type=Path,
                        help="weights file, for a model on a backbone that ships without them")
    parser.add_argument("--top-fraction", type=float, default=0.1)
    args = parser.parse_args(argv)
    png = args.png or Path(f"{args.clip.stem}.report.png")
    try:
        report = model_report(args.clip, args.model, png=png, device=args.device,
                              backbone_weights=args.backbone_weights,
                              top_fraction=args.top_fraction)
    except HighlightStudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(text + "\n")
    if not report["determinism"]["identical"]:
        print("error: two analyses of the same clip gave different scores (max difference "
              f"{report['determinism']['max_abs_difference']:.3g})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
