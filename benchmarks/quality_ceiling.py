"""How far could a scorer of the benchmark features go held out, with the labels' help?

    python benchmarks/quality_ceiling.py [--dataset ../shared/benchmarks/yth-train]
        [--seeds 0 1 2 3] [--out quality_ceiling]

Issue 15 asks the shipped benchmark model for 0.683 mAP (the best published unsupervised
figure). The label-free students of ``student_variants.py`` saturate near 0.625 held out,
whatever their teacher. This script measures what the same students would reach if the
teacher were the truth: the same ridge (0.1 per step), the same input (unit RGB and flow, with
and without their mean over +-3 steps), the same halves per seed, fitted on the **labels** of
one half (z-scored per clip, as a teacher's targets are) and scored on the other:

- ``pooled``: one scorer for all six domains, as the shipped model is;
- ``per domain``: one scorer per domain, fitted on that domain's videos of the other half (the
  usual supervised set-up on YouTube Highlights; a label-free model may not know the domain);
- ``random Fourier features``: a nonlinear scorer of the same input (ridge on 4,096 random
  Fourier features of a Gaussian kernel, ``student_variants.py``'s ``rff`` row), taught the
  labels and, for comparison, the label-free teacher;
- ``temporal conv net``: a small network over time (dropout, a 1x1 convolution to 128
  channels, GELU, a width-7 convolution, GELU, a 1x1 convolution to the score; AdamW 1e-3,
  weight decay 1e-2, 15 passes over the half, one clip per step, squared error on the
  z-scored labels), the kind of model supervised highlight detectors use, at this set's size.

Next to them, in the same run, the label-free student (joint visual+motion main-axis teacher)
and the best parameter-free baseline. Labels are read here on purpose: a measurement of the
features and the student's form, never a method; nothing here ships.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from label_free_students import split_halves, z_target
from rasl_experiments import RESULTS
from student_variants import Bench, Scores, held_out_args, mean_ap

from highlight_studio.evaluation.benchmark import read_benchmark_annotations
from highlight_studio.fileio import atomic_write_text


def temporal_net(inputs: dict[str, np.ndarray], targets: dict[str, np.ndarray],
                 fit: list[str], apply: list[str], seed: int, epochs: int = 15) -> Scores:
    """The temporal conv net of the module text, fitted on ``fit`` and scoring ``apply``."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    width = next(iter(inputs.values())).shape[1]
    net = nn.Sequential(nn.Dropout(0.5), nn.Conv1d(width, 128, 1), nn.GELU(), nn.Dropout(0.2),
                        nn.Conv1d(128, 128, 7, padding=3), nn.GELU(), nn.Conv1d(128, 1, 1))
    optimiser = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=1e-2)

    def run(name: str) -> torch.Tensor:
        return net(torch.from_numpy(inputs[name].T[None].astype(np.float32)))[0, 0]

    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        net.train()
        for name in rng.permutation(fit):
            target = torch.from_numpy(z_target(targets[name]).astype(np.float32))
            loss = ((run(name) - target) ** 2).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    net.eval()
    with torch.no_grad():
        return {name: run(name).numpy() for name in apply}


def main() -> None:
    args = held_out_args(__doc__.splitlines()[0], "quality_ceiling")
    start = time.perf_counter()
    bench = Bench(args.dataset)
    annotations = read_benchmark_annotations(args.dataset)
    truth = {n: np.asarray(annotations.videos[n].labels, dtype=np.float64)
             for n in bench.names}
    domain = {n: annotations.videos[n].domain for n in bench.names}

    rows: dict[str, list[float]] = {}
    for seed in args.seeds:
        first, second = split_halves(bench.names, seed)
        scores: dict[str, Scores] = {}
        for fit, apply in ((first, second), (second, first)):
            for k in (0, 3):
                features = bench.u if k == 0 else bench.context(k)
                tag = f", context {k}" if k else ""
                scores.setdefault(f"label-free student{tag}", {}).update(
                    bench.linear(features, bench.vmaxis, fit, apply))
                scores.setdefault(f"labels, pooled{tag}", {}).update(
                    bench.linear(features, truth, fit, apply))
                if k == 0:  # nonlinear scorers of the same input: a kernel, a network
                    scores.setdefault("labels, pooled, temporal conv net", {}).update(
                        temporal_net(bench.u, truth, fit, apply, seed))
                    scores.setdefault("labels, pooled, random Fourier features 4096", {}).update(
                        bench.rff(truth, fit, apply, 4096, 0.1, seed))
                    scores.setdefault("label-free student, random Fourier features 4096",
                                      {}).update(bench.rff(bench.vmaxis, fit, apply, 4096, 0.1,
                                                           seed))
                per_domain = scores.setdefault(f"labels, per domain{tag}", {})
                for d in sorted(set(domain.values())):
                    mine = [n for n in fit if domain[n] == d]
                    theirs = [n for n in apply if domain[n] == d]
                    if mine and theirs:  # a small set may leave a domain out of a half
                        per_domain.update(bench.linear(features, truth, mine, theirs))
        for row, s in scores.items():
            rows.setdefault(row, []).append(mean_ap(annotations, s))
        print(f"seed {seed} done ({time.perf_counter() - start:.0f} s)", flush=True)
    baseline = mean_ap(annotations, {n: bench.vmaxis[n] for n in bench.names})
    lines = ["| scorer (ridge 0.1 per step, unit RGB+flow input) | held-out mAP | per seed |",
             "|---|---|---|",
             f"| baseline: visual+motion joint main axis (no parameter) | {baseline:.4f} | |"]
    for row, maps in rows.items():
        lines.append(f"| {row} | {np.mean(maps):.4f} ± {np.std(maps):.4f} | "
                     f"{', '.join(f'{m:.3f}' for m in maps)} |")
    minutes = (time.perf_counter() - start) / 60
    atomic_write_text(RESULTS / f"{args.out}.md", (
        "# What a linear scorer on these features reaches held out with labels\n\n"
        f"Made by `python benchmarks/quality_ceiling.py --seeds "
        f"{' '.join(map(str, args.seeds))} --out {args.out}` in {minutes:.1f} min. Same halves "
        "as `student_variants.md`; the `labels` rows are fitted on the other half's labels "
        "(a measurement, nothing ships).\n\n" + "\n".join(lines) + "\n"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
