"""Label-free pseudo-label teachers and cheap students, held out on yth-train (numpy only).

    python benchmarks/label_free_students.py [--dataset DIR] [--seeds 0 1 2 3]

The prototype bench of issue 15's method: each *teacher* makes per-step pseudo-labels for the
videos of one half from features alone (never ``labels``: anno.json is read afterwards, only to
measure); a *student*, ridge regression from each step's unit features (visual, or visual and
motion side by side) to the teacher's per-clip z-scored targets, is fitted on that half and
scores the other half; every video is scored once per seed by the half that did not see it.
Each seed draws its own halves (``split_seed``), so the spread covers the split too. Each
student is read two ways: its own score ("act") and the main axis of the student's input
oriented by it ("axis"). Teachers (named options):

- ``vaxis`` / ``vmaxis`` / ``vmaaxis``: the clip's main axis of the visual stream / of visual
  and motion / of visual, motion and audio (each stream scaled by its mean norm), oriented by
  the streams' summed z-scored norms (``vaxis``: the visual norm);
- ``vm norm+axis``: ``vmaxis`` plus the z-scored visual and motion norms;
- ``ctvsum_v`` / ``ctvsum_vm``: CTVSUM's local dissimilarity x global consistency (Pang et al.,
  WACV 2023), of the visual stream / summed over visual and motion;
- ``chd``: video-discriminative steps (CHD, Badamdorj et al. CVPR 2022): the log softmax
  probability (temperature 0.1) of a step's own video among the half's video centroids;
- ``recur_vma`` / ``recur_vm``: cross-video recurrence over pseudo-categories (Islam et al.
  WACV 2025): videos clustered by k-means (6 clusters) on their mean unit features, each step
  scored per modality by its mean top-5 cosine to the steps of the other videos of its
  cluster, z-scored and summed over the modalities;
- ``recur+axis``: ``recur_vma`` plus ``vmaxis``.

The parameter-free baselines come first (every video, no split). Results:
``benchmarks/results/label_free_students.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rasl_experiments import DATA, RESULTS, device_name

from highlight_studio.evaluation.benchmark import read_benchmark_annotations
from highlight_studio.evaluation.protocols import evaluate_scores
from highlight_studio.fileio import atomic_write_text
from highlight_studio.model.clip_readout import main_axis

Streams = dict[str, np.ndarray]


def norm(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x, axis=1)


def unit(x: np.ndarray) -> np.ndarray:
    return x / (norm(x)[:, None] + 1e-9)


def z(s: np.ndarray) -> np.ndarray:
    s = np.asarray(s, float)
    return (s - s.mean()) / (s.std() + 1e-12)


def z_target(t: np.ndarray) -> np.ndarray:
    """A clip's teacher as a student's target: z-scored, or zeros where it is flat."""
    return z(t) if np.std(t) > 0 else np.zeros(len(t))


def joint(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([x / (norm(x).mean() + 1e-9) for x in parts], axis=1)


def ctvsum(x: np.ndarray) -> np.ndarray:
    """Mean distance to the nearest 10 % of the clip's steps x log-mean exp(-2 distance)."""
    u = unit(x)
    d = np.sqrt(np.maximum(2 - 2 * u @ u.T, 0))
    k = max(1, round(0.1 * len(u)))
    local = np.sort(d, axis=1)[:, 1:k + 1].mean(1) if len(u) > 1 else np.zeros(len(u))
    return local * np.log(np.exp(-2 * d).mean(1))


def kmeans_centres(x: np.ndarray, k: int, seed: int, iterations: int = 30
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means on unit rows; the cluster of each row and the k unit centres."""
    centres = x[np.random.default_rng(seed).choice(len(x), k, replace=False)]
    for _ in range(iterations):
        owner = np.argmax(x @ centres.T, 1)
        centres = np.stack([unit(x[owner == c].mean(0, keepdims=True))[0]
                            if (owner == c).any() else centres[c] for c in range(k)])
    return owner, centres


def kmeans(x: np.ndarray, k: int, seed: int, iterations: int = 30) -> np.ndarray:
    """Spherical k-means on unit rows; the cluster of each row."""
    return kmeans_centres(x, k, seed, iterations)[0]


class Teachers:
    """Pseudo-labels of one half's videos, from their features only."""

    def __init__(self, visual: Streams, motion: Streams, audio: Streams) -> None:
        self.v, self.m, self.a = visual, motion, audio
        self.vu = {n: unit(x) for n, x in visual.items()}
        self.mu = {n: unit(x) for n, x in motion.items()}
        self.au = {n: unit(x) for n, x in audio.items()}

    def vaxis(self, n: str) -> np.ndarray:
        return main_axis(self.v[n], norm(self.v[n]))

    def vmaxis(self, n: str) -> np.ndarray:
        return main_axis(joint([self.v[n], self.m[n]]), z(norm(self.v[n])) + z(norm(self.m[n])))

    def vmaaxis(self, n: str) -> np.ndarray:
        return main_axis(joint([self.v[n], self.m[n], self.a[n]]),
                         z(norm(self.v[n])) + z(norm(self.m[n])))

    def recurrence(self, fit: list[str], seed: int, mods: tuple[Streams, ...], k: int = 6,
                   top: int = 5) -> dict[str, np.ndarray]:
        x = np.stack([np.concatenate([unit(m[n].mean(0, keepdims=True))[0] for m in mods])
                      for n in fit]) / np.sqrt(len(mods))
        cluster = kmeans(x, k, seed)
        out = {}
        for i, n in enumerate(fit):
            others = [fit[j] for j in range(len(fit)) if cluster[j] == cluster[i] and j != i]
            others = others or [f for f in fit if f != n]
            score = np.zeros(len(self.v[n]))
            for m in mods:
                sims = m[n] @ np.concatenate([m[o] for o in others]).T
                score = score + z(np.sort(sims, 1)[:, -top:].mean(1))
            out[n] = score
        return out

    def chd(self, fit: list[str], temperature: float = 0.1) -> dict[str, np.ndarray]:
        centres = np.stack([unit(self.vu[n].mean(0, keepdims=True))[0] for n in fit])
        out = {}
        for i, n in enumerate(fit):
            logits = self.vu[n] @ centres.T / temperature
            logits -= logits.max(1, keepdims=True)
            p = np.exp(logits)
            out[n] = np.log(p[:, i] / p.sum(1) + 1e-12)
        return out

    def all(self, fit: list[str], seed: int) -> dict[str, dict[str, np.ndarray]]:
        t = {
            "vaxis": {n: self.vaxis(n) for n in fit},
            "vmaxis": {n: self.vmaxis(n) for n in fit},
            "vmaaxis": {n: self.vmaaxis(n) for n in fit},
            "vm norm+axis": {n: z(self.vmaxis(n)) + z(norm(self.v[n])) + z(norm(self.m[n]))
                             for n in fit},
            "ctvsum_v": {n: ctvsum(self.v[n]) for n in fit},
            "ctvsum_vm": {n: z(ctvsum(self.v[n])) + z(ctvsum(self.m[n])) for n in fit},
            "chd": self.chd(fit),
            "recur_vma": self.recurrence(fit, seed, (self.vu, self.mu, self.au)),
            "recur_vm": self.recurrence(fit, seed, (self.vu, self.mu)),
        }
        t["recur+axis"] = {n: z(t["recur_vma"][n]) + z(t["vmaxis"][n]) for n in fit}
        return t


def parameter_free(visual: Streams, motion: Streams, audio: Streams, teachers: Teachers
                   ) -> dict[str, dict[str, np.ndarray]]:
    """The parameter-free baselines' scores of every video (no split, nothing fitted)."""
    names = list(visual)
    return {
        "visual norm": {n: norm(visual[n]) for n in names},
        "visual main axis": {n: teachers.vaxis(n) for n in names},
        "motion norm": {n: norm(motion[n]) for n in names},
        "motion main axis": {n: main_axis(motion[n], norm(motion[n])) for n in names},
        "audio norm": {n: norm(audio[n]) for n in names},
        "visual+motion norms (z-scored sum)": {n: z(norm(visual[n])) + z(norm(motion[n]))
                                               for n in names},
        "visual+motion main axes (z-scored sum)": {
            n: z(teachers.vaxis(n)) + z(main_axis(motion[n], norm(motion[n]))) for n in names},
        "visual+motion joint main axis": {n: teachers.vmaxis(n) for n in names},
        "visual+motion+audio joint main axis": {n: teachers.vmaaxis(n) for n in names},
    }


def split_halves(names: list[str], seed: int) -> tuple[list[str], list[str]]:
    order = np.random.default_rng(seed).permutation(len(names))
    cut = len(names) // 2
    return [names[i] for i in order[:cut]], [names[i] for i in order[cut:]]


def load_set(dataset: Path) -> tuple[list[str], Streams, Streams, Streams]:
    """The set's video names and its visual, motion and audio features (float64), no labels."""
    names = sorted(p.stem for p in (dataset / "visual").glob("*.npy")
                   if not p.name.startswith("."))

    def load(stream: str) -> Streams:
        return {n: np.load(dataset / stream / f"{n}.npy").astype(np.float64) for n in names}

    return names, load("visual"), load("motion"), load("audio")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DATA)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    parser.add_argument("--ridge", type=float, default=0.1, help="ridge per step (default 0.1)")
    args = parser.parse_args()
    names, visual, motion, audio = load_set(args.dataset)
    teachers = Teachers(visual, motion, audio)
    inputs = {"v": lambda n: teachers.vu[n],
              "vm": lambda n: np.concatenate([teachers.vu[n], teachers.mu[n]], 1)}
    axis_space = {"v": lambda n: visual[n], "vm": lambda n: joint([visual[n], motion[n]])}
    scores: dict[tuple[str, str, str, int], dict[str, np.ndarray]] = {}
    for seed in args.seeds:
        first, second = split_halves(names, seed)
        for fit, apply in ((first, second), (second, first)):
            targets = teachers.all(fit, seed)
            for inp, features in inputs.items():
                x = np.concatenate([features(n) for n in fit])
                x_mean = x.mean(0)
                xc = x - x_mean
                gram = xc.T @ xc + args.ridge * len(x) * np.eye(x.shape[1])
                y = np.stack([np.concatenate([z_target(t[n]) for n in fit])
                              for t in targets.values()], 1)
                weights = np.linalg.solve(gram, xc.T @ (y - y.mean(0)))
                for j, teacher in enumerate(targets):
                    student = {n: (features(n) - x_mean) @ weights[:, j] for n in apply}
                    scores.setdefault((teacher, inp, "act", seed), {}).update(student)
                    scores.setdefault((teacher, inp, "axis", seed), {}).update(
                        {n: main_axis(axis_space[inp](n), student[n]) for n in apply})
        print(f"seed {seed} done", flush=True)
    # labels are read only from here on, to measure
    annotations = read_benchmark_annotations(args.dataset)

    def measure(s: dict[str, np.ndarray]) -> float:
        return evaluate_scores(annotations, {n: np.asarray(v, np.float32)
                                            for n, v in s.items()}).headline

    baselines = parameter_free(visual, motion, audio, teachers)
    lines = ["| scorer | student input | readout | held-out mAP (mean ± std over seeds) | "
             "per seed |", "|---|---|---|---|---|"]
    for label, s in baselines.items():
        lines.append(f"| baseline: {label} | - | - | {measure(s):.4f} | (no parameter) |")
    results: dict[tuple[str, str, str], list[float]] = {}
    for (teacher, inp, readout, _), s in scores.items():
        results.setdefault((teacher, inp, readout), []).append(measure(s))
    for (teacher, inp, readout), maps in sorted(results.items(), key=lambda kv: -np.mean(kv[1])):
        lines.append(f"| teacher `{teacher}` -> ridge | {inp} | {readout} | "
                     f"{np.mean(maps):.4f} ± {np.std(maps):.4f} | "
                     f"{', '.join(f'{m:.3f}' for m in maps)} |")
    table = "\n".join(lines)
    atomic_write_text(RESULTS / "label_free_students.md", (
        "# Label-free teachers and ridge students, held out on yth-train\n\n"
        f"Made by `python benchmarks/label_free_students.py --seeds "
        f"{' '.join(map(str, args.seeds))} --ridge {args.ridge}` on {device_name('cpu')}. "
        "Each seed: its own random halves; every video scored by the student fitted on the "
        "other half. Inputs: v = unit visual features, vm = unit visual and unit motion "
        "features side by side. Readout act = the student's score, axis = the main axis of "
        "its input oriented by that score.\n\n" + table + "\n"))
    print(table)


if __name__ == "__main__":
    main()
