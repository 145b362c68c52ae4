"""Variants of issue 15's ridge student, held out on yth-train next to today's recipe (numpy).

    python benchmarks/student_variants.py [--dataset DIR] [--seeds 0 1 2 3] [--out NAME]

Reuses ``label_free_students.py``'s teachers, halves and baselines. Today's recipe (``base``)
is its best plain row: a ridge regression (0.1 per step) from each step's unit RGB and unit
flow features side by side to the clip's z-scored joint visual+motion main axis (``vmaxis``),
fitted on one half, scoring the other; each seed draws its own halves. Every variant below
changes one thing and is fitted and read the same way; no variant reads a label (anno.json is
read after all scores are made, only to measure). Named options (rows):

- ``base``: today's recipe; ``base ridge R``: the same with another ridge (a development
  figure: R is chosen on yth-train);
- ``teacher vmaaxis``: audio in the teacher only (the joint visual+motion+audio main axis);
  the student still reads RGB and flow;
- ``teacher vmnorm``: the RGB and flow norms, z-scored per clip and summed, as the teacher
  (the ``joint_norm`` teacher of the app's default model: no axis, so no sign to take);
- ``clip-centred``: the student fitted on each clip's features minus the clip's mean, so it
  learns only within-clip contrasts, as its targets (z-scored per clip) are; at inference the
  clip's mean shifts every step's score by one constant, so the ranking needs no change;
- ``clusters K`` / ``clusters K shrunk``: pseudo-categories without labels: spherical k-means
  (K clusters, the split seed) on each fitted video's mean unit RGB and flow, one ridge student
  per cluster, a held-out video scored by its nearest centre's student; ``shrunk``: each
  cluster's ridge pulls toward the global student instead of toward zero;
- ``context K``: each step's unit features next to their mean over its +-K neighbours
  (``context 1+3``: next to both means); ``context 3, ...``: combined with another row's
  change; ``context 3, in 32-step windows``: fitted on whole clips, scored the way the model's
  windowed inference would (the neighbours' mean inside each repeat-filled 32-step window);
- ``smooth K``: today's student's score averaged over +-K steps;
- ``rounds R``: teacher-student rounds: the student's held-in scores, z-scored per clip, plus
  the z-scored joint axis become the next teacher (R = 1, 2, 3);
- ``rff D ridge R``: a nonlinear student: ridge on D random Fourier features of the unit
  RGB+flow input (Gaussian kernel, bandwidth the median step distance in the fitted half).

Results: ``benchmarks/results/<out>.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from label_free_students import (
    Teachers,
    kmeans_centres,
    load_set,
    norm,
    parameter_free,
    split_halves,
    unit,
    z,
    z_target,
)
from rasl_experiments import DATA, RESULTS, device_name

from highlight_studio.evaluation.benchmark import BenchmarkAnnotations, read_benchmark_annotations
from highlight_studio.evaluation.protocols import evaluate_scores
from highlight_studio.fileio import atomic_write_text
from highlight_studio.model.config import BENCHMARK_WINDOW
from highlight_studio.model.windows import inference_windows
from highlight_studio.training.ridge_head import neighbour_mean, ridge_solve

Scores = dict[str, np.ndarray]
RIDGE = 0.1


def ridge_fit(xs: list[np.ndarray], ys: list[np.ndarray], ridge: float,
              prior: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`ridge_solve` of the clips' rows ``xs`` on their targets ``ys``."""
    return ridge_solve(np.concatenate(xs), np.concatenate(ys), ridge, prior)


class Bench:
    """The students of one variant family on one seed's half: fit on ``fit``, score ``apply``."""

    def __init__(self, dataset: Path) -> None:
        self.names, self.visual, self.motion, self.audio = load_set(dataset)
        self.teachers = Teachers(self.visual, self.motion, self.audio)
        t = self.teachers
        self.u = {n: np.concatenate([t.vu[n], t.mu[n]], 1) for n in self.names}
        self.vmaxis = {n: t.vmaxis(n) for n in self.names}
        self.vmaaxis = {n: t.vmaaxis(n) for n in self.names}
        self.vmnorm = {n: z(norm(self.visual[n])) + z(norm(self.motion[n])) for n in self.names}
        # one video's descriptor for the pseudo-categories: its mean unit RGB and flow
        self.describe = {n: np.concatenate([unit(t.vu[n].mean(0, keepdims=True))[0],
                                            unit(t.mu[n].mean(0, keepdims=True))[0]])
                         / np.sqrt(2) for n in self.names}
        self._context: dict[int, dict[str, np.ndarray]] = {}

    def context(self, k: int) -> dict[str, np.ndarray]:
        if k not in self._context:
            self._context[k] = {n: np.concatenate([self.u[n], neighbour_mean(self.u[n], k)], 1)
                                for n in self.names}
        return self._context[k]

    def linear(self, features: dict[str, np.ndarray] | Callable[[str], np.ndarray],
               teacher: dict[str, np.ndarray], fit: list[str], apply: list[str],
               ridge: float = RIDGE, centred: bool = False) -> Scores:
        f = features if callable(features) else features.__getitem__
        xs = [f(n) for n in fit]
        if centred:
            xs = [x - x.mean(0) for x in xs]
        mean, w = ridge_fit(xs, [z_target(teacher[n]) for n in fit], ridge)
        return {n: (f(n) - mean) @ w for n in apply}

    def context_windowed(self, teacher: dict[str, np.ndarray], fit: list[str],
                         apply: list[str], k: int, window: int) -> Scores:
        """``context k`` fitted the same (whole clips), scored as the model scores: in the
        repeat-filled ``window``-step pieces of ``inference_windows``, the neighbours' mean
        taken inside each window. By linearity the score is u.w1 + box_k(u.w2)."""
        mean, w = ridge_fit([self.context(k)[n] for n in fit], [z_target(teacher[n]) for n in fit],
                            RIDGE)
        half = len(w) // 2
        out = {}
        for n in apply:
            own = (self.u[n] - mean[:half]) @ w[:half]
            near = (self.u[n] - mean[half:]) @ w[half:]
            score = np.zeros(len(own))
            for piece, idx in inference_windows(len(own), window):
                filled = own[idx] + neighbour_mean(near[idx], k)
                score[piece] = filled[: piece.stop - piece.start]
            out[n] = score
        return out

    def clusters(self, teacher: dict[str, np.ndarray], fit: list[str], apply: list[str],
                 k: int, seed: int, shrunk: bool) -> Scores:
        owner, centres = kmeans_centres(np.stack([self.describe[n] for n in fit]), k, seed)
        ys = {n: z_target(teacher[n]) for n in fit}
        g_mean, g_w = ridge_fit([self.u[n] for n in fit], [ys[n] for n in fit], RIDGE)
        out = {}
        for c in range(k):
            members = [n for n, o in zip(fit, owner, strict=True) if o == c]
            targets = [n for n in apply
                       if int(np.argmax(centres @ self.describe[n])) == c]
            if len(members) < 2:  # a cluster of one video: the global student
                mean, w = g_mean, g_w
            else:
                mean, w = ridge_fit([self.u[n] for n in members], [ys[n] for n in members],
                                    RIDGE, prior=g_w if shrunk else None)
            out.update({n: (self.u[n] - mean) @ w for n in targets})
        return out

    def rff(self, teacher: dict[str, np.ndarray], fit: list[str], apply: list[str], dim: int,
            ridge: float, seed: int) -> Scores:
        rng = np.random.default_rng(seed)
        x = np.concatenate([self.u[n] for n in fit])
        sample = x[rng.choice(len(x), min(2000, len(x)), replace=False)]
        sq = (sample * sample).sum(1)
        dist = np.sqrt(np.maximum(sq[:, None] + sq[None] - 2 * sample @ sample.T, 0))
        sigma = float(np.median(dist[np.triu_indices(len(sample), 1)]))
        w = rng.normal(0.0, 1.0 / sigma, (x.shape[1], dim))
        b = rng.uniform(0, 2 * np.pi, dim)

        def features(n: str) -> np.ndarray:
            return np.sqrt(2.0 / dim) * np.cos(self.u[n] @ w + b)

        return self.linear(features, teacher, fit, apply, ridge)

    def variants(self, fit: list[str], apply: list[str], seed: int) -> dict[str, Scores]:
        """Every named row's scores of the ``apply`` videos, fitted on the ``fit`` videos."""
        rows: dict[str, Scores] = {}
        base = self.linear(self.u, self.vmaxis, fit, apply)
        rows["base"] = base
        for k in (1, 2, 3):
            rows[f"smooth {k}"] = {n: neighbour_mean(s, k) for n, s in base.items()}
        for r in (0.01, 0.03, 0.3):
            rows[f"base ridge {r}"] = self.linear(self.u, self.vmaxis, fit, apply, r)
        rows["teacher vmaaxis"] = self.linear(self.u, self.vmaaxis, fit, apply)
        rows["teacher vmnorm"] = self.linear(self.u, self.vmnorm, fit, apply)
        rows["clip-centred"] = self.linear(self.u, self.vmaxis, fit, apply, centred=True)
        for k in (3, 6):
            for shrunk in (False, True):
                rows[f"clusters {k}{' shrunk' if shrunk else ''}"] = self.clusters(
                    self.vmaxis, fit, apply, k, seed, shrunk)
        for k in (1, 2, 3, 5, 8):
            rows[f"context {k}"] = self.linear(self.context(k), self.vmaxis, fit, apply)
        for r in (0.01, 0.03):
            rows[f"context 3 ridge {r}"] = self.linear(self.context(3), self.vmaxis, fit, apply,
                                                       r)
        rows["context 3, teacher vmaaxis"] = self.linear(self.context(3), self.vmaaxis, fit,
                                                         apply)
        rows["context 3, teacher vmnorm"] = self.linear(self.context(3), self.vmnorm, fit, apply)
        rows[f"context 3, in {BENCHMARK_WINDOW}-step windows"] = self.context_windowed(
            self.vmaxis, fit, apply, 3, BENCHMARK_WINDOW)
        rows["context 3, smooth 1"] = {n: neighbour_mean(s, 1)
                                       for n, s in rows["context 3"].items()}
        rows["context 1+3"] = self.linear(
            lambda n: np.concatenate([self.context(1)[n], neighbour_mean(self.u[n], 3)], 1),
            self.vmaxis, fit, apply)
        teacher = self.vmaxis
        for r in (1, 2, 3):
            both = self.linear(self.u, teacher, fit, fit + apply)
            teacher = {n: z(both[n]) + z(self.vmaxis[n]) for n in fit}
            rows[f"rounds {r}"] = self.linear(self.u, teacher, fit, apply)
        for dim, ridge in ((4096, 0.1),):
            rows[f"rff {dim} ridge {ridge}"] = self.rff(self.vmaxis, fit, apply, dim, ridge,
                                                        seed)
        return rows


def held_out_args(description: str, out: str) -> argparse.Namespace:
    """The options every held-out script of this family takes: the set, the seeds (one pair
    of halves each) and the results' name."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dataset", type=Path, default=DATA)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    parser.add_argument("--out", default=out)
    return parser.parse_args()


def mean_ap(annotations: BenchmarkAnnotations, scores: Scores) -> float:
    """The protocol's headline figure of ``scores`` (float32, as the model gives them)."""
    return evaluate_scores(annotations, {n: np.asarray(v, np.float32)
                                         for n, v in scores.items()}).headline


def main() -> None:
    args = held_out_args(__doc__.splitlines()[0], "student_variants")
    start = time.perf_counter()
    bench = Bench(args.dataset)
    scores: dict[str, dict[int, Scores]] = {}
    for seed in args.seeds:
        first, second = split_halves(bench.names, seed)
        for fit, apply in ((first, second), (second, first)):
            for row, s in bench.variants(fit, apply, seed).items():
                scores.setdefault(row, {}).setdefault(seed, {}).update(s)
        print(f"seed {seed} done ({time.perf_counter() - start:.0f} s)", flush=True)
    # labels are read only from here on, to measure
    annotations = read_benchmark_annotations(args.dataset)

    lines = ["| scorer | held-out mAP (mean ± std over seeds) | per seed | minus `base`, "
             "per seed |", "|---|---|---|---|"]
    for label, s in parameter_free(bench.visual, bench.motion, bench.audio,
                                   bench.teachers).items():
        lines.append(f"| baseline: {label} | {mean_ap(annotations, s):.4f} | (no parameter) | |")
    results = {row: [mean_ap(annotations, per_seed[seed]) for seed in args.seeds]
               for row, per_seed in scores.items()}
    base = np.array(results["base"])
    for row, maps in results.items():
        gain = np.array(maps) - base
        lines.append(f"| `{row}` | {np.mean(maps):.4f} ± {np.std(maps):.4f} | "
                     f"{', '.join(f'{m:.3f}' for m in maps)} | "
                     f"{', '.join(f'{g:+.3f}' for g in gain)} |")
    table = "\n".join(lines)
    minutes = (time.perf_counter() - start) / 60
    atomic_write_text(RESULTS / f"{args.out}.md", (
        "# Ridge-student variants, held out on yth-train\n\n"
        f"Made by `python benchmarks/student_variants.py --seeds "
        f"{' '.join(map(str, args.seeds))} --out {args.out}` in {minutes:.1f} min on "
        f"{device_name('cpu')}. Each seed: its own random halves (`label_free_students."
        "split_halves`); every video scored by the student fitted on the other half, without "
        "labels. `base` is today's recipe (ridge 0.1 per step, unit RGB+flow input, joint "
        "visual+motion main-axis teacher); each other row changes one thing (see the script's "
        "docstring). Baselines have no parameter and score every video.\n\n" + table + "\n"))
    print(table)
    print(f"{minutes:.1f} min")


if __name__ == "__main__":
    main()
