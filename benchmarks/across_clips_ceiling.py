"""How much can a linear profile learnt from earlier clips lift the next clip, at the very most?

    python benchmarks/across_clips_ceiling.py [--dataset ../shared/benchmarks/yth-train]
        [--prior rasl-yth-i3d] [--seeds 0 1 2 3 4] [--after 10] [--json OUT]

Issue 16's across-clips figure asks a profile built from an editor's decisions on a domain's
earlier videos to lift the next video by +0.05 mAP. ``simulated_editor.py``'s ceiling row fits
the shipped profile head on every label of 10 videos and blends it at the shipped weight. This
script loosens every limit of that ceiling, so that a small figure here says the gap is in the
features, not in the head or its settings:

- every label of a domain's first ``--after`` videos (in a random order per seed), not the few
  steps an editor reviews;
- two supervised linear scorers on the learner's clip-centred unit features
  (``feedback.learner.step_features``) and on the raw inputs: ridge on the ±1 labels and ridge
  on every within-clip highlight-minus-other difference, each over a grid of ridges;
- the blend weight with the prior (standardised per clip) chosen **on the scored videos
  themselves**, per domain: an oracle, so the figure is an upper bound for any such blend.

Scored as the simulated editor scores a clip it opens: the protocol's mAP (mean over domains)
on every step of each later video. Labels are read here on purpose: a measurement, not a
method.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from simulated_editor import priors_of

from highlight_studio.evaluation import read_benchmark_annotations
from highlight_studio.feedback.learner import standardise, step_features
from highlight_studio.feedback.simulate import _domain_mean, editor_choice, unreviewed_ap

ROOT = Path(__file__).resolve().parent.parent
RIDGES = (1e-4, 1e-2, 1.0, 1e3)  # per step (pointwise) or per clip (pairwise)
WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 1e6)  # 1e6: the head alone

Fit = Callable[[list[tuple[np.ndarray, np.ndarray]], float], np.ndarray]


def _solve(x: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
    gram = x.T @ x
    gram[np.diag_indices_from(gram)] += penalty
    return np.linalg.solve(gram, x.T @ y)


def pointwise(clips: list[tuple[np.ndarray, np.ndarray]], ridge: float) -> np.ndarray:
    """Ridge on the ±1 labels of every step, pooled over clips (centred)."""
    x = np.concatenate([f for f, _ in clips])
    y = np.concatenate([np.where(k, 1.0, -1.0) for _, k in clips])
    return _solve(x - x.mean(0), y - y.mean(), ridge * len(x))


def pairwise(clips: list[tuple[np.ndarray, np.ndarray]], ridge: float) -> np.ndarray:
    """Ridge of +1 on highlight-minus-other differences within each clip (each clip's pairs
    weighted as one clip): a linear ranking of steps of the same footage."""
    parts = []
    for f, keep in clips:
        pos, neg = f[keep], f[~keep]
        if len(pos) and len(neg):
            diff = (pos[:, None, :] - neg[None, :, :]).reshape(-1, f.shape[1])
            parts.append(diff / np.sqrt(len(diff)))
    x = np.concatenate(parts)
    # Each clip's pairs sum to its mean outer product: the penalty counts clips, not pairs.
    return _solve(x, np.concatenate([np.full(len(p), 1.0 / np.sqrt(len(p))) for p in parts]),
                  ridge * len(parts))


def ceiling(truths: dict, priors: dict[str, np.ndarray], inputs: dict[str, np.ndarray],
            fit: Fit, ridge: float, seed: int, after: int) -> tuple[float, float, dict]:
    """(prior mAP, best blend's mAP, the blend weight chosen per domain) over the videos
    after the first ``after`` of each domain."""
    prior_ap: dict[str, float] = {}
    best_ap: dict[str, float] = {}
    chosen = {}
    for domain in sorted({t.domain for t in truths.values()}):
        ids = sorted(v for v, t in truths.items() if t.domain == domain)
        order = list(np.random.default_rng([seed, len(ids)]).permutation(ids))
        weight = fit([(inputs[v], editor_choice(truths[v])) for v in order[:after]], ridge)
        later = order[after:]
        flat = {v: np.zeros(len(priors[v]), dtype=np.int8) for v in later}
        per_weight = {}
        for w in WEIGHTS:
            per_weight[w] = {v: unreviewed_ap(truths[v], standardise(priors[v]) + w *
                                              standardise(inputs[v] @ weight), flat[v])
                             for v in later}
        best = max(WEIGHTS, key=lambda w: np.mean(list(per_weight[w].values())))
        chosen[domain] = best
        best_ap.update(per_weight[best])
        prior_ap.update({v: unreviewed_ap(truths[v], priors[v], flat[v]) for v in later})
    return _domain_mean(prior_ap, truths), _domain_mean(best_ap, truths), chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path,
                        default=ROOT.parent / "shared" / "benchmarks" / "yth-train")
    parser.add_argument("--prior", default="rasl-yth-i3d")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--after", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    truths = read_benchmark_annotations(args.dataset).videos
    priors, raw = priors_of(args.prior, args.dataset, sorted(truths))
    centred = {v: step_features(x) for v, x in raw.items()}
    rows = []
    for features_name, inputs in (("clip-centred unit (the learner's)", centred),
                                  ("raw model inputs", raw)):
        inputs = {v: np.asarray(x, dtype=np.float64) for v, x in inputs.items()}
        for fit_name, fit in (("pointwise", pointwise), ("pairwise", pairwise)):
            for ridge in RIDGES:
                runs = [ceiling(truths, priors, inputs, fit, ridge, s, args.after)
                        for s in args.seeds]
                gains = [b - p for p, b, _ in runs]
                rows.append({"features": features_name, "fit": fit_name, "ridge": ridge,
                             "prior": float(np.mean([p for p, _, _ in runs])),
                             "best_blend": float(np.mean([b for _, b, _ in runs])),
                             "gain": float(np.mean(gains)), "gain_std": float(np.std(gains)),
                             "weights": [c for _, _, c in runs]})
                r = rows[-1]
                print(f"{features_name:34s} {fit_name:9s} ridge {ridge:<5g} prior "
                      f"{r['prior']:.3f} -> {r['best_blend']:.3f} (gain {r['gain']:+.3f} "
                      f"± {r['gain_std']:.3f})", flush=True)
    report = {"dataset": str(args.dataset), "prior": args.prior, "seeds": args.seeds,
              "after": args.after, "machine": f"{platform.processor() or platform.machine()}, "
              f"python {platform.python_version()}", "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                          time.gmtime()),
              "seconds": round(time.perf_counter() - started, 1), "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
