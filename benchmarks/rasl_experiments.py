"""Does RASL learn? Train variants on yth-train features, measure yth mAP, log diagnostics.

Labels are read only to measure (never to train or select): training sees
``read_benchmark_features`` only. Every variant runs over several fixed seeds and reports mean
and spread, the collapse diagnostics at the end of training, and CPU time. Rerun:

    .venv/bin/python benchmarks/rasl_experiments.py --variants literal default --seeds 0 1 2

Each run appends one JSON line to ``benchmarks/results/runs.jsonl``; ``--summary`` rewrites
``benchmarks/results/summary.md`` from all recorded runs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from label_free_probes import kpoint_direction

from highlight_studio.evaluation.baselines import baseline_scores
from highlight_studio.evaluation.benchmark import (
    read_benchmark_annotations,
    read_benchmark_features,
)
from highlight_studio.evaluation.protocols import evaluate_scores
from highlight_studio.model.clip_readout import main_axis
from highlight_studio.model.config import BENCHMARK_WINDOW, RASLConfig
from highlight_studio.model.inference import score_sequence
from highlight_studio.model.loss_terms import TERM_NAMES
from highlight_studio.model.rasl import RASL
from highlight_studio.training.datasets import FeatureDataset
from highlight_studio.training.trainer import TrainOptions, train

DATA = Path(os.environ.get("HIGHLIGHT_STUDIO_YTH",
                         Path(__file__).resolve().parents[2] / "shared/benchmarks/yth-train"))
RESULTS = Path(__file__).resolve().parent / "results"

BASE = dict(visual_dim=1024, audio_dim=2048, window=BENCHMARK_WINDOW)

# name -> (RASLConfig fields, TrainOptions fields). "literal" is the paper read literally
# (RASLConfig.literal()); "fix" is the first anti-collapse set (RASLConfig() defaults with
# recon_scale="free"); "fix_gate_scale" is today's RASLConfig() defaults. The other names
# change one thing on top of one of those.
LITERAL = {"literal": True}
FIX = {"recon_scale": "free"}
HEAD_ONLY = {"use_audio": False, "use_self_attention": False, "use_recon_loss": False,
             "use_kpoint_loss": False, "use_aux_task": False}
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "literal": (LITERAL, {}),
    "fix": (FIX, {}),
    # one anti-collapse option added to the literal reading
    "zero_wo": ({**LITERAL, "zero_init_attn_out": True}, {}),
    "zero_wo_warmup": ({**LITERAL, "zero_init_attn_out": True}, {"warmup_steps": 50}),
    "rezero": ({**LITERAL, "sa_output": "rezero_ln"}, {}),
    "nonneg": ({**LITERAL, "readout": "nonneg"}, {}),
    "rnorm_nobias": ({**LITERAL, "r_norm": "layernorm", "decoder_bias": False}, {}),
    "shared_proj": ({**LITERAL, "kpoint_projection": "shared"}, {}),
    "push_bottom": ({**LITERAL, "kpoint_eta": "top_minus_bottom"}, {}),
    "logit_rank": ({**LITERAL, "rank_by_logit": True}, {}),
    # one option of the anti-collapse set taken away or changed
    "fix_signed": ({**FIX, "readout": "signed"}, {}),
    "fix_plain_sa": ({**FIX, "sa_output": "plain", "zero_init_attn_out": True}, {}),
    "fix_l2in": ({**FIX, "input_norm": "l2"}, {}),
    "fix_l2in_raw": ({**FIX, "input_norm": "l2", "recon_target": "raw"}, {}),
    "fix_spread": ({**FIX, "spread_weight": 1.0}, {}),
    "fix_batch_negatives": ({**FIX, "scl_negatives": "batch"}, {}),
    "fix_scl_center": ({**FIX, "scl_center": True}, {}),
    "fix_gate_scale": ({"recon_scale": "gate"}, {}),
    "fix_nosa_gate": ({"use_self_attention": False, "recon_scale": "gate"}, {}),
    # differentiable top/bottom choice (kpoint_selection="soft") and the contrast factor
    "soft": ({"kpoint_selection": "soft"}, {}),
    "soft_free": ({"kpoint_selection": "soft", "recon_scale": "free"}, {}),
    "soft_nocontrast": ({"kpoint_selection": "soft", "kpoint_contrast": False}, {}),
    "soft_top": ({"kpoint_selection": "soft", "kpoint_eta": "top"}, {}),
    "soft_scl_center": ({"kpoint_selection": "soft", "scl_center": True}, {}),
    "soft_batch_negatives": ({"kpoint_selection": "soft", "scl_negatives": "batch"}, {}),
    "soft_nosa": ({"kpoint_selection": "soft", "use_self_attention": False}, {}),
    "soft_noaudio": ({"kpoint_selection": "soft", "use_audio": False}, {}),
    "gate_nocontrast": ({"kpoint_contrast": False}, {}),
    # the step's size hidden from the branch, kept in the target: s must predict it from content
    "gate_l2in_raw": ({"input_norm": "l2", "recon_target": "raw"}, {}),
    "gate_lnin_raw": ({"input_norm": "layernorm", "recon_target": "raw"}, {}),
    "gate_scl_center": ({"scl_center": True}, {}),
    # the k-point contrast measured on the inputs, which only re-ranking can separate
    "soft_input": ({"kpoint_selection": "soft", "kpoint_space": "input"}, {}),
    "input_contrast": ({"kpoint_space": "input"}, {}),
    "soft_input_spread": ({"kpoint_selection": "soft", "kpoint_space": "input_spread"}, {}),
    "soft_input_spread_late": ({"kpoint_selection": "soft", "kpoint_space": "input_spread"},
                               {"kpoint_after": 100}),
    "soft_input_spread_late_w5": ({"kpoint_selection": "soft", "kpoint_space": "input_spread",
                                   "kpoint_weight": 5.0}, {"kpoint_after": 100}),
    "gate_lnin_raw_soft": ({"input_norm": "layernorm", "recon_target": "raw",
                            "kpoint_selection": "soft"}, {}),
    "gate_lnin_raw_scl_center": ({"input_norm": "layernorm", "recon_target": "raw",
                                  "scl_center": True}, {}),
    # self-training on the clip's main axis of change (axis_weight; label-free targets)
    "gate_axis": ({"axis_weight": 1.0}, {}),
    "free_axis": ({"recon_scale": "free", "axis_weight": 1.0}, {}),
    "gate_axis_w5": ({"axis_weight": 5.0}, {}),
    "gate_axis_nokpoint": ({"axis_weight": 1.0, "use_kpoint_loss": False}, {}),
    # the motion stream beside the RGB one (visual_inputs), and the joint-axis teacher
    "gate_vm": ({"visual_inputs": "visual+motion", "visual_dim": 2048}, {}),
    "gate_axis_vm": ({"axis_weight": 1.0, "visual_inputs": "visual+motion", "visual_dim": 2048},
                     {}),
    "gate_joint": ({"axis_weight": 1.0, "axis_teacher": "joint_axis"}, {}),
    "gate_joint_vm": ({"axis_weight": 1.0, "axis_teacher": "joint_axis",
                       "visual_inputs": "visual+motion", "visual_dim": 2048}, {}),
    "linear_joint_vm": ({"axis_weight": 1.0, "axis_teacher": "joint_axis", "axis_head": "linear",
                         "visual_inputs": "visual+motion", "visual_dim": 2048}, {}),
    "linear_joint_vm_noaudio": ({"axis_weight": 1.0, "axis_teacher": "joint_axis",
                                 "axis_head": "linear", "visual_inputs": "visual+motion",
                                 "visual_dim": 2048, "use_audio": False}, {}),
    # the same head trained alone: with axis_head="linear" nothing else reaches the score, so
    # this is that score's cost-free reading (no SA, no audio, no other loss)
    "linear_joint_vm_headonly": ({"axis_weight": 1.0, "axis_teacher": "joint_axis",
                                  "axis_head": "linear", "visual_inputs": "visual+motion",
                                  "visual_dim": 2048, "use_audio": False,
                                  "use_self_attention": False, "use_recon_loss": False,
                                  "use_kpoint_loss": False, "use_aux_task": False}, {}),
    # The ridge axis head (closed form, training.ridge_head) gives the score alone, so the body
    # takes one step with every loss off (it does not enter the score; any body gives the same
    # figures). Teacher: the joint visual+motion axis, or the input's own main axis.
    "ridge_joint_vm": ({**HEAD_ONLY, "axis_head": "ridge", "axis_weight": 0.0,
                        "axis_teacher": "joint_axis", "visual_inputs": "visual+motion",
                        "visual_dim": 2048}, {"steps": 1}),
    # the same head also reading its +-3 neighbours' mean (benchmarks/student_variants.py)
    "ridge_joint_vm_ctx3": ({**HEAD_ONLY, "axis_head": "ridge", "axis_weight": 0.0,
                             "axis_teacher": "joint_axis", "visual_inputs": "visual+motion",
                             "visual_dim": 2048, "ridge_context": 3}, {"steps": 1}),
    "ridge_joint_v": ({**HEAD_ONLY, "axis_head": "ridge", "axis_weight": 0.0,
                       "axis_teacher": "joint_axis"}, {"steps": 1}),
    "ridge_main_v": ({**HEAD_ONLY, "axis_head": "ridge", "axis_weight": 0.0}, {"steps": 1}),
    "gate_joint_vm_noaudio": ({"axis_weight": 1.0, "axis_teacher": "joint_axis",
                               "visual_inputs": "visual+motion", "visual_dim": 2048,
                               "use_audio": False}, {}),
    # a longer window: more context for SA and more steps to pick the k top and bottom from
    "gate_window64": ({"window": 64}, {}),
    # Table III ablations of the anti-collapse set
    "fix_nokpoint": ({**FIX, "use_kpoint_loss": False}, {}),
    "fix_nosa": ({**FIX, "use_self_attention": False}, {}),
    "fix_noaux": ({**FIX, "use_aux_task": False}, {}),
    "fix_noaudio": ({**FIX, "use_audio": False}, {}),
}


def build_config(fields: dict[str, Any]) -> RASLConfig:
    fields = dict(fields)
    if fields.pop("literal", False):
        return RASLConfig.literal(**BASE, **fields)
    return RASLConfig(**{**BASE, **fields})


def variant(name: str, **extra: Any) -> tuple[RASLConfig, dict[str, Any]]:
    """The config and TrainOptions fields of a named variant, ``extra`` config fields on top."""
    cfg_fields, opt_fields = VARIANTS[name]
    return build_config({**cfg_fields, **extra}), dict(opt_fields)


def device_name(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"{platform.processor() or platform.machine()} CPU ({os.cpu_count()} logical cores)"


def run(name: str, seed: int, steps: int, dataset: FeatureDataset, annotations,
        log_every: int, device: str = "cpu") -> dict[str, Any]:
    config, opt_fields = variant(name)
    return run_config(name, config, opt_fields, seed, steps, dataset, annotations, log_every,
                      device)


def run_config(label: str, config: RASLConfig, opt_fields: dict[str, Any], seed: int,
               steps: int, dataset: FeatureDataset, annotations, log_every: int,
               device: str = "cpu") -> dict[str, Any]:
    """Train one model from scratch, score every video, measure; labels only in the last step."""
    options = replace(TrainOptions(steps=steps, seed=seed, log_every=log_every, device=device),
                      **opt_fields)
    torch.manual_seed(seed)
    model = RASL(config)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    history = []
    for event in train(model, dataset, options):
        history.append({"step": event.step, "total": event.total,
                        **{name: getattr(event, name) for name in TERM_NAMES},
                        **event.diagnostics})
    train_cpu, train_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    scores = {vid: score_sequence(model, dataset.visual[i], readout="activation")
              for i, vid in enumerate(dataset.names)}
    result = evaluate_scores(annotations, scores)
    # Sign of the learned score against feature norm, over whole videos (what METHOD.md saw
    # flip between seeds).
    rho = [float(np.corrcoef(np.argsort(np.argsort(s)),
                             np.argsort(np.argsort(np.linalg.norm(dataset.visual[i], axis=1))))
                 [0, 1]) if np.ptp(s) > 0 else 0.0
           for i, s in enumerate(scores[v] for v in dataset.names)]
    # The same model through the main-axis clip readout (config.clip_readout), and a k-point
    # direction readout: each clip's main contrast, oriented by the model's score.
    axis = evaluate_scores(annotations, {vid: main_axis(dataset.visual[i], scores[vid])
                                         for i, vid in enumerate(dataset.names)})
    share = config.k / config.window
    kpoint = evaluate_scores(annotations, {
        vid: kpoint_direction(dataset.visual[i], share, scores[vid])
        for i, vid in enumerate(dataset.names)})
    return {"variant": label, "seed": seed, "steps": steps, "map": result.headline,
            # the keys session 3's records use (pc1_by_score is main_axis's headline)
            "readout_map": {"pc1_by_score": axis.headline,
                            "kpoint_direction_by_score": kpoint.headline},
            "main_axis": {"map": axis.headline, "per_domain": axis.per_domain},
            "per_domain": result.per_domain, "norm_spearman_video": float(np.mean(rho)),
            "final": history[-1], "history": history, "cpu_s": train_cpu,
            "wall_s": train_wall, "device": device_name(device),
            "config": config.to_dict(), "options": asdict(options)}


@dataclass(frozen=True)
class RunSpec:
    """One training run to make: a labelled config, its TrainOptions fields, seed and length."""

    label: str
    config: RASLConfig
    opt_fields: tuple[tuple[str, Any], ...] = ()
    seed: int = 0
    steps: int = 200


_WORKER: dict[str, Any] = {}


def _init_worker(data: str, device: str, threads: int, log_every: int) -> None:
    torch.set_num_threads(threads)
    _WORKER.update(dataset=FeatureDataset.from_benchmark(data),
                   annotations=read_benchmark_annotations(data), device=device,
                   log_every=log_every)


def _run_spec(spec: RunSpec) -> dict[str, Any]:
    w = _WORKER
    return run_config(spec.label, spec.config, dict(spec.opt_fields), spec.seed, spec.steps,
                      w["dataset"], w["annotations"], w["log_every"], w["device"])


def run_many(specs: list[RunSpec], *, data: Path = DATA, device: str = "cpu", jobs: int = 1,
             threads: int = 1, log_every: int = 25) -> Iterator[dict[str, Any]]:
    """Run ``specs`` in ``jobs`` worker processes (each with its own copy of the dataset),
    yielding records as they finish. Runs are independent, so they share a GPU well."""
    args = (str(data), device, threads, log_every)
    if jobs <= 1:
        _init_worker(*args)
        yield from map(_run_spec, specs)
        return
    context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                             initargs=args) as pool:
        futures = [pool.submit(_run_spec, spec) for spec in specs]
        for future in as_completed(futures):
            yield future.result()


def append_line(path: Path, line: str) -> None:
    """One O_APPEND write per record, so parallel runs never interleave their lines."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def summarize(runs: list[dict[str, Any]]) -> str:
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = defaultdict(list)
    for r in runs:  # records from before devices were logged ran on this repo's 2-core CPU
        groups[(r["variant"], r["steps"], r.get("device", "2-core CPU"))].append(r)
    lines = ["| variant | steps | trained on | seeds | mAP mean | mAP std | min | max | "
             "score~norm rho | s_std | s_ties | r_cos | sa_ratio | top/bot cos | scl | "
             "cpu s/run |", "|" + "---|" * 16]
    for (name, steps, device), rs in sorted(groups.items(), key=lambda kv: -np.mean(
            [r["map"] for r in kv[1]])):
        maps = np.array([r["map"] for r in rs])
        signs = ", ".join(f"{r['norm_spearman_video']:+.2f}" for r in rs)

        def fin(key: str, rs: list[dict[str, Any]] = rs) -> str:
            vals = [r["final"].get(key) for r in rs if r["final"].get(key) is not None]
            return f"{np.mean(vals):.3f}" if vals else "-"

        lines.append(
            f"| {name} | {steps} | {device} | {len(rs)} | {maps.mean():.3f} | "
            f"{maps.std():.3f} | "
            f"{maps.min():.3f} | {maps.max():.3f} | "
            f"{signs} | "
            f"{fin('visual_s_std')} | {fin('visual_s_ties')} | {fin('visual_r_cos')} | "
            f"{fin('visual_sa_ratio')} | {fin('visual_top_bottom_cos')} | {fin('scl')} | "
            f"{np.mean([r['cpu_s'] for r in rs]):.0f} |")
    return "\n".join(lines) + "\n"


def baselines_table() -> str:
    """Label-free reference scorers on the same set (random: mean over 10 seeds)."""
    features = read_benchmark_features(DATA)
    annotations = read_benchmark_annotations(DATA)
    rows = []
    for name, seeds in (("random", range(10)), ("feature-norm", [0]),
                        ("distinctiveness", [0])):
        maps = [evaluate_scores(annotations, {
            vid: baseline_scores(name, v, seed=seed, video_id=vid)
            for vid, (v, _) in features.items()}).headline for seed in seeds]
        rows.append(f"| {name} | {np.mean(maps):.3f} |")
    return "| baseline | mAP |\n|---|---|\n" + "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="*", default=["literal", "default"],
                        choices=sorted(VARIANTS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per job")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel processes")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--out", default=str(RESULTS / "runs.jsonl"))
    parser.add_argument("--summary", action="store_true", help="only rewrite summary.md")
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.summary:
        specs = []
        for name in args.variants:
            config, opt_fields = variant(name)
            specs += [RunSpec(name, config, tuple(opt_fields.items()), seed, args.steps)
                      for seed in args.seeds]
        for record in run_many(specs, device=args.device, jobs=args.jobs,
                               threads=args.threads, log_every=args.log_every):
            append_line(out, json.dumps(record))
            f = record["final"]
            print(f"{record['variant']} seed={record['seed']} mAP={record['map']:.3f} "
                  f"readouts={ {k: round(v, 3) for k, v in record['readout_map'].items()} } "
                  f"rho_norm={record['norm_spearman_video']:+.2f} "
                  f"s_std={f.get('visual_s_std', 0):.3f} ties={f.get('visual_s_ties', 0):.2f} "
                  f"r_cos={f.get('visual_r_cos', 0):.3f} sa={f.get('visual_sa_ratio', 0):.2f} "
                  f"tb_cos={f.get('visual_top_bottom_cos', 0):.2f} scl={f['scl']:.2f} "
                  f"cpu={record['cpu_s']:.0f}s wall={record['wall_s']:.0f}s", flush=True)
    runs = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    (out.parent / "summary.md").write_text(
        f"# RASL on yth-train (yth mAP, labels used only to measure)\n\n{baselines_table()}\n"
        f"{summarize(runs)}")


if __name__ == "__main__":
    main()
