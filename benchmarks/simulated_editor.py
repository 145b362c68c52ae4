"""The simulated editor on a benchmark folder: what N decisions per video are worth.

    python benchmarks/simulated_editor.py [--dataset ../shared/benchmarks/yth-train]
        [--prior rasl-yth-i3d | --prior feature-norm] [--seeds 0 1 2 3 4] [--n 10]
        [--out benchmarks/results/simulated_editor]

Per video the editor reviews, in turn, the highest-scored step not reviewed yet (keeps it when
labelled a highlight: label > 0 for yth, mean annotation above the video's median for tvsum),
and the curve is refitted after each decision. Two figures, each on the unreviewed steps only
and each beside the prior scored on the very same steps:

- within a clip: the same video after N decisions on it (the learner, and a naive baseline
  where every step takes the decision of its most similar reviewed step);
- across clips: per domain, the videos in a random order (one per seed), a profile growing
  video by video from N decisions on each; every video from the 11th on is scored before any
  decision of its own, as the editor sees it when opening the next clip;
- the across-clips ceiling: the same profile head fitted on every label of the first 10 videos
  of each domain (labels no editor showed: a measurement of what the head could reach).

The prior is the named checkpoint's curve (its own readout) or a label-free baseline. Writes
``<out>.json`` (every row, per seed) and ``<out>.png`` (the curves), and prints the table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from highlight_studio.evaluation import (
    BASELINES,
    VideoAnnotation,
    baseline_scores,
    read_benchmark_annotations,
    read_visual_features,
)
from highlight_studio.evaluation.benchmark import read_model_inputs
from highlight_studio.feedback.learner import (
    DEFAULT,
    fit_profile_head,
    standardise,
    step_features,
)
from highlight_studio.feedback.simulate import (
    BENCHMARK_STEP,
    CHECKPOINTS,
    SimulationRow,
    _domain_mean,
    across_clips,
    editor_choice,
    format_rows,
    methods,
    unreviewed_ap,
    within_clip,
)

ROOT = Path(__file__).resolve().parent.parent


def priors_of(name: str, dataset: Path, ids: list[str]
              ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The prior curves and the features the learner reads: the model's own inputs (what
    ``evaluate --simulate-editor`` passes), the visual stream for a baseline."""
    if name in BASELINES:
        visual = read_visual_features(dataset, ids)
        return {vid: baseline_scores(name, v, video_id=vid) for vid, v in visual.items()}, visual
    from highlight_studio.model.checkpoint import load_checkpoint
    from highlight_studio.model.inference import score_sequence

    model, _ = load_checkpoint(name, device="cpu")
    inputs = read_model_inputs(dataset, ids, model.config.visual_inputs)
    return {vid: score_sequence(model, v, device="cpu") for vid, v in inputs.items()}, inputs


def ceiling(truths: dict[str, VideoAnnotation], priors: dict[str, np.ndarray],
            features: dict[str, np.ndarray], seed: int, after: int = 10) -> SimulationRow:
    """What the profile head could reach at most: fitted on EVERY label of a domain's first
    ``after`` videos (as if the editor had reviewed each of their steps), scored on the rest.
    It reads labels no simulated editor showed, on purpose: a measurement, not a method."""
    prior_ap: dict[str, float] = {}
    adapted_ap: dict[str, float] = {}
    for domain in sorted({t.domain for t in truths.values()}):
        ids = sorted(v for v, t in truths.items() if t.domain == domain)
        order = np.random.default_rng([seed, len(ids)]).permutation(ids)
        head = fit_profile_head([(features[v], np.where(editor_choice(truths[v]), 1, -1))
                                 for v in order[:after]], DEFAULT)
        for vid in order[after:]:
            untouched = np.zeros(len(priors[vid]), dtype=np.int8)
            lean = standardise(priors[vid]) + DEFAULT.profile_weight * head.score(features[vid])
            prior_ap[vid] = unreviewed_ap(truths[vid], priors[vid], untouched)
            adapted_ap[vid] = unreviewed_ap(truths[vid], lean, untouched)
    return SimulationRow("ceiling", "all-labels", -1, _domain_mean(prior_ap, truths),
                         _domain_mean(adapted_ap, truths), len(prior_ap))


def plot(rows: list[dict], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=False)
    for ax, setting in zip(axes, ("within", "across"), strict=True):
        for method, style in (("learner", "-o"), ("nearest", "-s")):
            mine = [r for r in rows if r["setting"] == setting and r["method"] == method]
            if not mine:
                continue
            ns = sorted({r["n"] for r in mine})
            gains = [[r["adapted"] - r["prior"] for r in mine if r["n"] == n] for n in ns]
            mean, std = np.array([np.mean(g) for g in gains]), np.array([np.std(g) for g in gains])
            ax.errorbar(ns, mean, yerr=std, fmt=style, capsize=3, label=method)
        ax.axhline(0.0, color="grey", lw=0.8, ls="--")
        top = [r["adapted"] - r["prior"] for r in rows if r["setting"] == "ceiling"]
        if setting == "across" and top:
            ax.axhline(float(np.mean(top)), color="tab:red", lw=0.8, ls=":",
                       label="ceiling: every label of 10 videos")
        ax.set_xlabel("decisions per video (N)")
        ax.set_ylabel("mAP gain over the prior, same unreviewed steps")
        ax.set_title("within a clip" if setting == "within"
                     else "across clips (videos 11+ of each domain)")
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path,
                        default=ROOT.parent / "shared" / "benchmarks" / "yth-train")
    parser.add_argument("--prior", default="rasl-yth-i3d",
                        help="checkpoint name/path or a baseline (default rasl-yth-i3d)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--n", type=int, default=10, help="most decisions per video")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or ROOT / "benchmarks" / "results" / f"simulated_editor_{Path(args.prior).stem}"

    annotations = read_benchmark_annotations(args.dataset)
    priors, visual = priors_of(args.prior, args.dataset, list(annotations.videos))
    features = {vid: step_features(v) for vid, v in visual.items()}
    checkpoints = tuple(c for c in CHECKPOINTS if c <= args.n)
    step = BENCHMARK_STEP[annotations.protocol]
    rows: list[dict] = []
    started = time.perf_counter()
    for name, method in methods(step).items():
        for row in within_clip(annotations.videos, priors, features, method, name, checkpoints):
            rows.append({**row.__dict__, "seed": None})
        if name != "learner":
            continue
        for seed in args.seeds:
            for row in across_clips(annotations.videos, priors, features, method, name,
                                    checkpoints, lambda seen: fit_profile_head(seen, DEFAULT),
                                    seed):
                rows.append({**row.__dict__, "seed": seed})
    for seed in args.seeds:
        rows.append({**ceiling(annotations.videos, priors, features, seed).__dict__,
                     "seed": seed})
    seconds = time.perf_counter() - started

    mean_rows = []
    for key in sorted({(r["setting"], r["method"], r["n"]) for r in rows},
                      key=lambda k: (("within", "across", "ceiling").index(k[0]), k[1], k[2])):
        same = [r for r in rows if (r["setting"], r["method"], r["n"]) == key]
        mean_rows.append(SimulationRow(*key, float(np.mean([r["prior"] for r in same])),
                                       float(np.mean([r["adapted"] for r in same])),
                                       same[0]["videos"]))
    metric = "mAP" if annotations.protocol == "yth" else "top-5 mAP"
    table = format_rows(mean_rows, metric)
    across_std = {n: float(np.std([r["adapted"] - r["prior"] for r in rows
                                   if r["setting"] == "across" and r["n"] == n]))
                  for n in checkpoints}
    ceiling_std = float(np.std([r["adapted"] - r["prior"] for r in rows
                                if r["setting"] == "ceiling"]))
    print(table.replace("  -1 ", " all "))
    print("across-clips gain, std over seeds:",
          " ".join(f"N={n}: {s:.3f}" for n, s in across_std.items()),
          f"ceiling: {ceiling_std:.3f}")
    machine = platform.processor() or platform.machine()
    print(f"{seconds:.1f} s for every refit of the run ({machine})")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(
        {"dataset": str(args.dataset), "prior": args.prior, "seeds": args.seeds,
         "config": DEFAULT.__dict__, "rows": rows, "seconds": seconds}, indent=1) + "\n")
    plot(rows, f"{annotations.name}: simulated editor, prior {Path(args.prior).stem}",
         out.with_suffix(".png"))


if __name__ == "__main__":
    main()
