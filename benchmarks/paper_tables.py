"""The paper's Tables I and III and Fig. 6, remade on yth-train with fixed seeds.

    python benchmarks/paper_tables.py [--full fix_gate_scale] [--seeds 0 1 2] [--steps 200]
                                      [--device cuda --jobs 8] [--update-benchmarks] [--reuse]

- Table I: per-domain yth mAP of the label-free baselines, the literal reading and the full
  model (``--full`` names a variant of ``rasl_experiments.VARIANTS``), read out both as its
  activation (the paper's) and along each clip's main axis (``clip_readout="main_axis"``).
- Table III: the full model without the k-point loss (the paper's "w/o RASL", k = 0), without
  SA, without the masked auxiliary task, without audio.
- Fig. 6: the full model for each k, with and without the contrast factor of the k-point loss.
- The full model with the main-axis self-training term (``axis_weight`` = 1), as a Table I row.

``--reuse`` keeps every run of the previous ``paper_tables.json`` whose label, seed, steps,
config, training options (all but the logging interval), device and dataset match the plan,
and trains only the rest; the header then says how many runs were reused. It assumes the
training code for those configs has not changed since (say so when it has: rerun without it).

Every model row is the mean and spread (std, min-max) over ``--seeds``, each trained from
scratch on the set's features alone; labels are read only to measure. Each run records its
training time (process CPU seconds and wall seconds) and the device it trained on. Results
go to ``benchmarks/results/paper_tables.{md,json}`` (+ ``paper_fig6.png``); with
``--update-benchmarks`` the tables replace the marked section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from collections import defaultdict
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rasl_experiments import DATA, RESULTS, RunSpec, device_name, run_many, variant

from highlight_studio.evaluation.baselines import BASELINES, baseline_scores
from highlight_studio.evaluation.benchmark import (
    read_benchmark_annotations,
    read_benchmark_features,
    read_motion_features,
)
from highlight_studio.evaluation.protocols import evaluate_scores
from highlight_studio.model.config import RASLConfig
from highlight_studio.training.trainer import TrainOptions

ROOT = Path(__file__).resolve().parents[1]
MARK_START, MARK_END = "<!-- paper_tables:start -->", "<!-- paper_tables:end -->"
ABLATIONS = {  # Table III row -> config fields switched off on top of the full model
    "w/o k-point loss (k = 0)": {"use_kpoint_loss": False},
    "w/o SA": {"use_self_attention": False},
    "w/o auxiliary task": {"use_aux_task": False},
    "w/o audio": {"use_audio": False},
}
PAPER_TABLE_III = {"full": 0.651, "w/o k-point loss (k = 0)": 0.560, "w/o SA": 0.638,
                   "w/o auxiliary task": 0.644, "w/o audio": 0.630}
FULL = "full model"
AXIS = "full model, main-axis readout"  # the same trained models, read out per clip
SELF_TRAINED = "full model + main-axis self-training"  # axis_weight = 1 on top of the full model


def plan(full: str, seeds: list[int], steps: int, ks: list[int]) -> list[RunSpec]:
    """Every run the tables need, each (config, seed) once: shared rows are trained once."""
    specs: dict[tuple[str, int], RunSpec] = {}

    def add(label: str, name: str, **extra: Any) -> None:
        config, opt_fields = variant(name, **extra)
        for seed in seeds:
            specs.setdefault((label, seed), RunSpec(label, config, tuple(opt_fields.items()),
                                                    seed, steps))

    add(FULL, full)
    add(SELF_TRAINED, full, axis_weight=1.0)
    add("literal", "literal")
    for row, fields in ABLATIONS.items():
        add(row, full, **fields)
    default_k = variant(full)[0].k
    for k in ks:
        for contrast in (True, False):
            if k == default_k and contrast:
                continue  # the full model itself
            add(f"k={k} contrast={'on' if contrast else 'off'}", full, k=k,
                kpoint_contrast=contrast)
    return list(specs.values())


def baseline_rows(data: Path, seeds: list[int]) -> dict[str, list[dict[str, Any]]]:
    """Label-free baselines in the same record shape as model runs (random: one per seed)."""
    features = read_benchmark_features(data)
    annotations = read_benchmark_annotations(data)
    motion = read_motion_features(data, list(features))
    rows: dict[str, list[dict[str, Any]]] = {}
    for name in BASELINES:
        rows[name] = []
        for seed in (seeds if name == "random" else [0]):
            result = evaluate_scores(annotations, {
                vid: baseline_scores(name, v, motion=motion[vid], seed=seed, video_id=vid)
                for vid, (v, _) in features.items()})
            rows[name].append({"map": result.headline, "per_domain": result.per_domain,
                               "seed": seed})
    return rows


def spread(values: list[float]) -> str:
    a = np.asarray(values)
    if len(a) == 1:
        return f"{a[0]:.3f}"
    return f"{a.mean():.3f} ± {a.std():.3f} ({a.min():.3f}-{a.max():.3f})"


def mean_std(values: list[float]) -> str:
    a = np.asarray(values)
    return f"{a.mean():.3f}" if len(a) == 1 else f"{a.mean():.3f} ± {a.std():.3f}"


def timing(runs: list[dict[str, Any]]) -> str:
    return (f"{np.mean([r['cpu_s'] for r in runs]):.0f} / "
            f"{np.mean([r['wall_s'] for r in runs]):.0f}")


def table_one(groups: dict[str, list[dict[str, Any]]], domains: list[str]) -> str:
    lines = ["| scorer | runs | " + " | ".join(domains) + " | **Avg.** |",
             "|---|---|" + "---|" * (len(domains) + 1)]
    for label in (*BASELINES, "literal", FULL,
                  AXIS, SELF_TRAINED):
        runs = groups[label]
        cells = [mean_std([r["per_domain"][d] for r in runs]) for d in domains]
        lines.append(f"| {label} | {len(runs)} | " + " | ".join(cells)
                     + f" | **{spread([r['map'] for r in runs])}** |")
    return "\n".join(lines)


def table_three(groups: dict[str, list[dict[str, Any]]]) -> str:
    lines = ["| variant | seeds | yth-train mAP | Δ vs full | main-axis readout | "
             "score~norm ρ | train s (CPU / wall) | paper |", "|---|---|---|---|---|---|---|---|"]
    full = np.mean([r["map"] for r in groups[FULL]])
    for label in (FULL, *ABLATIONS):
        runs = groups[label]
        m = np.mean([r["map"] for r in runs])
        rho = ", ".join(f"{r['norm_spearman_video']:+.2f}" for r in runs)
        paper = PAPER_TABLE_III["full" if label == FULL else label]
        axis = spread([r["main_axis"]["map"] for r in runs])
        lines.append(f"| {label} | {len(runs)} | {spread([r['map'] for r in runs])} | "
                     f"{m - full:+.3f} | {axis} | {rho} | {timing(runs)} | {paper:.3f} |")
    return "\n".join(lines)


def fig_six(groups: dict[str, list[dict[str, Any]]], ks: list[int], default_k: int
            ) -> tuple[str, dict[str, list[tuple[int, float, float]]]]:
    lines = ["| k | with contrast | without contrast |", "|---|---|---|"]
    curves: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    for k in ks:
        cells = []
        for contrast in ("on", "off"):
            label = FULL if (k == default_k and contrast == "on") \
                else f"k={k} contrast={contrast}"
            maps = [r["map"] for r in groups[label]]
            cells.append(spread(maps))
            curves[contrast].append((k, float(np.mean(maps)), float(np.std(maps))))
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines), curves


def plot_fig_six(curves: dict[str, list[tuple[int, float, float]]], norm: float,
                 path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plotting is a dev extra; the table carries the same figures
        return
    fig, ax = plt.subplots(figsize=(5.5, 3.4), dpi=120)
    for contrast, label in (("on", "with k-point contrast"), ("off", "without")):
        k, m, s = (np.array(v) for v in zip(*curves[contrast], strict=True))
        ax.errorbar(k, m, yerr=s, marker="o", capsize=3, label=label)
    ax.axhline(norm, color="grey", linestyle="--", label="feature-norm baseline")
    ax.set_xlabel("k")
    ax.set_ylabel("yth-train mAP")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def reusable(specs: list[RunSpec], previous: Path, device: str, dataset: Path
             ) -> tuple[list[RunSpec], list[dict[str, Any]]]:
    """Split ``specs`` into those still to train and the matching records of ``previous``."""
    if not previous.exists():
        return specs, []
    old = {(r["variant"], r["seed"]): r for label, runs in json.loads(previous.read_text()).items()
           for r in runs if "config" in r and r.get("variant") == label}
    todo, kept = [], []
    for spec in specs:
        record = old.get((spec.label, spec.seed))
        want = asdict(replace(TrainOptions(steps=spec.steps, seed=spec.seed, device=device),
                              **dict(spec.opt_fields)))
        if (record is not None and record["steps"] == spec.steps
                and RASLConfig.from_dict(record["config"]) == spec.config
                and _without_logging(record["options"]) == _without_logging(want)
                and record["device"] == device_name(device)
                # records made before they carried one were all made on the default set
                and record.get("dataset", str(DATA.resolve())) == str(dataset.resolve())):
            kept.append({**record, "dataset": str(dataset.resolve())})
        else:
            todo.append(spec)
    return todo, kept


def _without_logging(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k not in ("log_every", "checkpoint_every")}


def render(groups: dict[str, list[dict[str, Any]]], args: argparse.Namespace,
           domains: list[str], default_k: int, elapsed: float, reused: int = 0
           ) -> tuple[str, Any]:
    devices = sorted({r["device"] for rs in groups.values() for r in rs if "device" in r})
    fig6, curves = fig_six(groups, args.ks, default_k)
    text = "\n\n".join([
        f"Made by `python benchmarks/paper_tables.py --full {args.full} --seeds "
        f"{' '.join(map(str, args.seeds))} --steps {args.steps} --device {args.device} "
        f"--jobs {args.jobs}{' --reuse' if args.reuse else ''}` in {elapsed / 60:.1f} min"
        f"{f' ({reused} runs reused from the previous paper_tables.json)' if reused else ''}"
        f"; models trained on "
        f"{', '.join(devices)} (host {platform.node() or '?'}). Full model = variant "
        f"`{args.full}` of `benchmarks/rasl_experiments.py`, {args.steps} steps, window "
        f"{variant(args.full)[0].window}; mean ± std (min-max) over seeds "
        f"{', '.join(map(str, args.seeds))}.",
        "**Table I layout (yth-train, per-domain mAP)**\n\n" + table_one(groups, domains),
        "**Table III ablations** (training time per run in seconds: process CPU / wall, on "
        "the device above)\n\n" + table_three(groups),
        "**Fig. 6: k sweep** (with contrast: eta uses (1 - cos) of the top/bottom "
        "representations; without: the activation gap alone)\n\n" + fig6,
    ])
    return text, curves


def update_benchmarks(text: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    body = path.read_text()
    block = f"{MARK_START}\n{text}\n{MARK_END}"
    if MARK_START in body:
        body = re.sub(re.escape(MARK_START) + ".*?" + re.escape(MARK_END), lambda _: block,
                      body, flags=re.S)
    else:
        body = body.rstrip() + "\n\n## Paper tables on yth-train\n\n" + block + "\n"
    path.write_text(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DATA)
    parser.add_argument("--full", default="fix_gate_scale",
                        help="variant used as the full model (default: RASLConfig() as shipped)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--ks", nargs="+", type=int, default=[2, 4, 6, 8, 10, 12, 14])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--update-benchmarks", action="store_true")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the matching runs of the previous paper_tables.json")
    args = parser.parse_args()
    default_k = variant(args.full)[0].k
    if default_k not in args.ks:
        parser.error(f"--ks must include the full model's k ({default_k}).")
    start = time.perf_counter()
    specs = plan(args.full, args.seeds, args.steps, args.ks)
    kept: list[dict[str, Any]] = []
    if args.reuse:
        specs, kept = reusable(specs, args.out / "paper_tables.json", args.device,
                               args.dataset)
    print(f"{len(specs)} training runs on {args.device} in {args.jobs} job(s), "
          f"{len(kept)} reused", flush=True)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in kept:
        groups[record["variant"]].append(record)
    for record in run_many(specs, data=args.dataset, device=args.device, jobs=args.jobs,
                           threads=args.threads):
        record.pop("history")
        record["dataset"] = str(args.dataset.resolve())
        groups[record["variant"]].append(record)
        print(f"{record['variant']} seed {record['seed']}: {record['map']:.3f} "
              f"({record['wall_s']:.0f} s)", flush=True)
    for runs in groups.values():
        runs.sort(key=lambda r: r["seed"])
    groups[AXIS] = [{**r["main_axis"], "seed": r["seed"]} for r in groups[FULL]]
    groups.update(baseline_rows(args.dataset, args.seeds))
    domains = list(groups[FULL][0]["per_domain"])
    text, curves = render(groups, args, domains, default_k, time.perf_counter() - start,
                          len(kept))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "paper_tables.md").write_text(text + "\n")
    (args.out / "paper_tables.json").write_text(json.dumps(groups, indent=1) + "\n")
    plot_fig_six(curves, groups["feature-norm"][0]["map"], args.out / "paper_fig6.png")
    if args.update_benchmarks:
        update_benchmarks(text)
    print(text)


if __name__ == "__main__":
    main()
