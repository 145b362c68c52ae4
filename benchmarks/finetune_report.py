"""What `train --init` does to the dev figures: fine-tune the benchmark model on one kind of
footage at a time and measure every domain before and after.

    python benchmarks/finetune_report.py [--model rasl-yth-i3d] [--steps 50] [--seeds 0 1]

For each yth-train domain (the query a video was collected for: surfing, dog, ...) the videos
of that domain play "an editor's own footage": their features go to a temporary folder in the
benchmark layout (visual/ and audio/ only, no anno.json, so no labels), and the CLI's own
``highlight-studio train --init MODEL --features FOLDER`` fine-tunes on them. Labels are read
afterwards, only to measure mAP on that domain and on the other five. Curves are read as the
model's activation (``readout="activation"``) whatever the checkpoint's clip readout: what is
measured is what training changes, and the main-axis readout takes only its sign from the
model. Results go to ``benchmarks/results/finetune_report.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from highlight_studio.evaluation.benchmark import (
    read_benchmark_annotations,
    read_benchmark_features,
)
from highlight_studio.evaluation.protocols import evaluate_scores
from highlight_studio.model.checkpoint import load_checkpoint
from highlight_studio.model.inference import score_sequence

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "yth-train"


def per_domain(model_path: str | Path, features: dict, annotations) -> dict[str, float]:
    model, _ = load_checkpoint(model_path, device="cpu")
    scores = {vid: score_sequence(model, v, readout="activation")
              for vid, (v, _) in features.items()}
    return evaluate_scores(annotations, scores).per_domain


def footage_folder(root: Path, data: Path, videos: list[str]) -> Path:
    """The domain's feature files linked into a label-free benchmark-layout folder."""
    for kind in ("visual", "audio"):
        (root / kind).mkdir(parents=True)
        for vid in videos:
            (root / kind / f"{vid}.npy").symlink_to((data / kind / f"{vid}.npy").resolve())
    return root


def fine_tune(start: str, footage: Path, out: Path, steps: int, seed: int) -> float:
    """Run the CLI exactly as a user would; return its wall time in seconds."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "highlight_studio", "train", "--init", start,
                    "--features", str(footage), "--out", str(out), "--steps", str(steps),
                    "--seed", str(seed), "--checkpoint-every", "0"],
                   check=True, capture_output=True, text=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="rasl-yth-i3d")
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    args = parser.parse_args()
    features = read_benchmark_features(args.dataset)
    annotations = read_benchmark_annotations(args.dataset)
    before = per_domain(args.model, features, annotations)
    rows = []
    for domain in annotations.domains:
        videos = [vid for vid, truth in annotations.videos.items() if truth.domain == domain]
        own, other = [], []
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as tmp:
                footage = footage_folder(Path(tmp) / "footage", args.dataset, videos)
                out = Path(tmp) / "tuned.safetensors"
                wall = fine_tune(args.model, footage, out, args.steps, seed)
                after = per_domain(out, features, annotations)
            own.append(after[domain] - before[domain])
            other.append(np.mean([after[d] - before[d] for d in after if d != domain]))
            print(f"{domain} seed {seed}: own {own[-1]:+.3f}, others {other[-1]:+.3f} "
                  f"({wall:.0f} s)", flush=True)
        rows.append({"domain": domain, "videos": len(videos), "before": before[domain],
                     "own_delta": own, "other_delta": other})
    lines = [f"`python benchmarks/finetune_report.py --model {args.model} --steps {args.steps} "
             f"--seeds {' '.join(map(str, args.seeds))}`: fine-tune on one domain's features "
             "(no labels), measure mAP change on that domain and the mean change on the other "
             "five; mean ± std over seeds.", "",
             "| fine-tuned on | videos | mAP before (activation) | Δ own domain "
             "| Δ other domains |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['domain']} | {r['videos']} | {r['before']:.3f} | "
                     f"{np.mean(r['own_delta']):+.3f} ± {np.std(r['own_delta']):.3f} | "
                     f"{np.mean(r['other_delta']):+.3f} ± {np.std(r['other_delta']):.3f} |")
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "finetune_report.md").write_text(text)
    (RESULTS / "finetune_report.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
