"""Held-out figures from yth-train alone: train on one half of the videos, score the other.

    python benchmarks/cross_fit.py [--variants fix_gate_scale gate_axis gate_axis_w5]
                                   [--seeds 0 1] [--steps 200] [--jobs 2] [--split per-seed]

The videos are split into two halves by ``label_free_probes.halves`` (a fixed seeded
permutation of the sorted ids, the split ``distilled_axis`` uses too), or with ``--split
per-seed`` by each seed's own permutation (seed 0's is the fixed one), so that the spread also
covers the split: a closed-form ridge head has no other randomness. For each variant and
seed a model is trained from scratch on each half's features (no labels), a ridge axis head
is then fitted on that half's teacher targets, and every video is scored by the model that
did not see it; mAP is then taken over all 234 videos as usual. This
is what the held-out sets ask of a model, and it matters most for ``axis_weight``, whose
targets come from the training clips themselves: in-sample, a network can partly memorise
them. Each video is scored by the activation and by the main-axis readout (along the clip's
main axis of the model's own inputs: visual, or visual and motion side by side). Every
parameter-free baseline (``evaluation.baselines``: visual and motion norms, main axes and their
combinations) is measured in the same run and put in the same table, so each variant is read
against the best of them. Results go to ``benchmarks/results/cross_fit.{jsonl,md}``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from label_free_probes import halves
from rasl_experiments import DATA, RESULTS, device_name, variant

from highlight_studio.evaluation.baselines import BASELINES, baseline_scores, needs_motion
from highlight_studio.evaluation.benchmark import (
    read_benchmark_annotations,
    read_model_inputs,
    read_motion_features,
)
from highlight_studio.evaluation.protocols import evaluate_scores
from highlight_studio.fileio import atomic_write_text
from highlight_studio.model.clip_readout import main_axis
from highlight_studio.model.inference import score_sequence
from highlight_studio.model.rasl import RASL
from highlight_studio.training.datasets import FeatureDataset
from highlight_studio.training.ridge_head import fit_ridge_head
from highlight_studio.training.trainer import TrainOptions, train


@functools.lru_cache(maxsize=4)
def _dataset(data: str, visual_inputs: str, axis_teacher: str) -> FeatureDataset:
    """The set's features (and teacher targets), read once per worker process and kind."""
    return FeatureDataset.from_benchmark(data, visual_inputs, axis_teacher)


def train_and_score(name: str, seed: int, steps: int, fit: list[str], apply: list[str],
                    data: str) -> dict[str, Any]:
    """Train variant ``name`` on the ``fit`` videos' features; score the ``apply`` videos."""
    torch.set_num_threads(1)
    config, opt_fields = variant(name)
    full = _dataset(data, config.visual_inputs, config.axis_teacher)
    index = {n: i for i, n in enumerate(full.names)}
    half = FeatureDataset({n: (full.visual[index[n]], full.audio[index[n]]) for n in fit},
                          {n: full.axis_target(index[n]) for n in fit}, full.axis_teacher)
    half.stream_widths = full.stream_widths
    options = replace(TrainOptions(steps=steps, seed=seed, log_every=steps), **opt_fields)
    torch.manual_seed(seed)
    model = RASL(config)
    cpu0 = time.process_time()
    for _ in train(model, half, options):
        pass
    if config.axis_head == "ridge":
        fit_ridge_head(model, half)
    cpu = time.process_time() - cpu0
    inputs = {n: full.visual[index[n]] for n in apply}
    activation = {n: score_sequence(model, inputs[n], readout="activation") for n in apply}
    return {"activation": {n: s.tolist() for n, s in activation.items()},
            "main_axis": {n: main_axis(inputs[n], s).tolist() for n, s in activation.items()},
            "cpu_s": cpu, "steps": options.steps}


def split_halves(names: list[str], seed: int, how: str) -> tuple[list[str], list[str]]:
    """The two halves of ``names``: the fixed split, or seed ``seed``'s own (see --split)."""
    if how == "fixed":
        return halves(names)
    names = sorted(names)
    order = np.random.default_rng(seed).permutation(len(names))
    cut = len(names) // 2
    return [names[i] for i in order[:cut]], [names[i] for i in order[cut:]]


def baseline_table(data: Path, annotations: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Every parameter-free baseline on every video (random over 4 seeds): records and rows."""
    ids = list(annotations.videos)
    visual = read_model_inputs(data, ids, "visual")
    motion = read_motion_features(data, ids)
    records, rows = [], []
    for name in BASELINES:
        maps = []
        for seed in (range(4) if name == "random" else [0]):
            scores = {v: baseline_scores(name, visual[v], motion=motion[v] if needs_motion(name)
                                         else None, seed=seed, video_id=v) for v in ids}
            result = evaluate_scores(annotations, scores)
            maps.append(result.headline)
            records.append({"baseline": name, "seed": seed, "map": result.headline,
                            "per_domain": result.per_domain})
        spread = f" ± {np.std(maps):.3f} ({len(maps)} seeds)" if len(maps) > 1 else ""
        rows.append(f"| baseline `{name}` (no parameter) | - | {np.mean(maps):.3f}{spread} | |")
    return records, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DATA)
    parser.add_argument("--variants", nargs="+",
                        default=["fix_gate_scale", "gate_axis", "gate_axis_w5"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--split", choices=("fixed", "per-seed"), default="fixed",
                        help="the same halves for every seed (default), or each seed's own")
    parser.add_argument("--out", default="cross_fit",
                        help="results file stem in benchmarks/results (default cross_fit)")
    args = parser.parse_args()
    annotations = read_benchmark_annotations(args.dataset)
    jobs = []
    for seed in args.seeds:
        first, second = split_halves(list(annotations.videos), seed, args.split)
        jobs += [(name, seed, fit, apply) for name in args.variants
                 for fit, apply in ((first, second), (second, first))]
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(train_and_score, name, seed, args.steps, fit, apply,
                               str(args.dataset)) for name, seed, fit, apply in jobs]
        parts = [f.result() for f in futures]
    merged: dict[tuple[str, int], dict[str, Any]] = defaultdict(
        lambda: {"activation": {}, "main_axis": {}, "cpu_s": [], "steps": 0})
    for (name, seed, _, _), part in zip(jobs, parts, strict=True):
        entry = merged[(name, seed)]
        entry["activation"].update(part["activation"])
        entry["main_axis"].update(part["main_axis"])
        entry["cpu_s"].append(part["cpu_s"])
        entry["steps"] = part["steps"]
    records = []
    for (name, seed), entry in merged.items():
        record = {"variant": name, "seed": seed, "steps": entry["steps"], "split": args.split,
                  "device": device_name("cpu"), "cpu_s": entry["cpu_s"]}
        for readout in ("activation", "main_axis"):
            result = evaluate_scores(annotations, entry[readout])
            record[readout] = {"map": result.headline, "per_domain": result.per_domain}
        records.append(record)
        print(f"{name} seed {seed}: activation {record['activation']['map']:.3f}, main axis "
              f"{record['main_axis']['map']:.3f}", flush=True)
    base_records, base_rows = baseline_table(args.dataset, annotations)
    records = base_records + records
    lines = ["| variant | seeds | activation (held-out half) | main-axis readout |",
             "|---|---|---|---|", *base_rows]
    for name in args.variants:
        rs = [r for r in records if r.get("variant") == name]
        cells = []
        for readout in ("activation", "main_axis"):
            maps = np.array([r[readout]["map"] for r in rs])
            cells.append(f"{maps.mean():.3f} ± {maps.std():.3f} "
                         f"({', '.join(f'{m:.3f}' for m in maps)})")
        lines.append(f"| {name} | {len(rs)} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS / f"{args.out}.jsonl",
                      "".join(json.dumps(r) + "\n" for r in records))
    atomic_write_text(RESULTS / f"{args.out}.md", (
        "# Cross-fitted yth-train (each video scored by a model trained on the other half)\n\n"
        f"Made by `python benchmarks/cross_fit.py --variants {' '.join(args.variants)} "
        f"--seeds {' '.join(map(str, args.seeds))} --steps {args.steps} --jobs {args.jobs} "
        f"--split {args.split} --out {args.out}` "
        f"on {device_name('cpu')}.\n\n{table}\n"))
    print(table)


if __name__ == "__main__":
    main()
