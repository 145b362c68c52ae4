"""``highlight-studio train``: unsupervised RASL training on videos or a benchmark folder.

    highlight-studio train --features DIR --out my.safetensors [--steps N] [--seed S]
    highlight-studio train CLIP_OR_FOLDER ... --out my.safetensors

Every logged step (each loss term, collapse diagnostics) goes to ``<out>.log.jsonl`` beside
the checkpoint; the bar shows the loss terms as it runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from ..errors import DatasetError, ModelError
from ..fileio import atomic_write_text
from ..model.config import BENCHMARK_WINDOW, RASLConfig
from ..training.options import TrainOptions

if TYPE_CHECKING:  # torch loads only when training runs, so `--help` stays instant
    from ..model.rasl import RASL
    from ..training.datasets import FeatureDataset
    from ..training.trainer import TrainEvent

log = logging.getLogger(__name__)
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".m4v", ".webm", ".mxf", ".mts", ".m2ts", ".ts",
                  ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train", help="train a RASL model without labels",
        description="Train a RASL model on clips (features extracted and cached) or on a "
                    "benchmark-format feature folder (--features). Labels are never read.")
    p.add_argument("inputs", nargs="*", type=Path, help="video files or folders of videos")
    p.add_argument("--features", type=Path, help="benchmark-format folder (visual/, audio/)")
    p.add_argument("--out", "-o", type=Path, required=True, help="checkpoint to write")
    p.add_argument("--init", help="start from this checkpoint's weights and config")
    p.add_argument("--resume", action="store_true",
                   help="continue the run saved at --out (optimizer, RNG and step)")
    d = TrainOptions()
    p.add_argument("--steps", type=int, default=d.steps, help=f"default {d.steps}")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--warmup", type=int, default=d.warmup_steps, help="lr warm-up steps")
    p.add_argument("--device", default="cpu")
    p.add_argument("--window", type=int, default=None,
                   help=f"steps per window (default 150 for videos, {BENCHMARK_WINDOW} for "
                        "--features)")
    p.add_argument("--literal", action="store_true",
                   help="the paper read literally, without the anti-collapse options")
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--fp16", action="store_true", help="write the final weights in float16")
    p.add_argument("--backbone-id", default=None,
                   help="with --features: the extractor that made them (recorded, checked later)")
    p.add_argument("--step-seconds", type=float, default=0.0,
                   help="with --features: seconds per step (recorded, checked later)")
    p.add_argument("--backbone", default=None, help="for videos: feature backbone name")
    p.add_argument("--backbone-weights", type=Path, default=None)
    p.add_argument("--step", type=float, default=0.2, help="for videos: seconds per step")
    p.set_defaults(func=run)


def _video_paths(inputs: list[Path]) -> list[Path]:
    paths: list[Path] = []
    for item in inputs:
        if item.is_dir():
            paths.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES))
        elif item.exists():
            paths.append(item)
        else:
            raise DatasetError(f"{item} does not exist.")
    if not paths:
        raise DatasetError("No video files found in the given inputs.")
    return paths


def _video_dataset(args: argparse.Namespace) -> tuple[FeatureDataset, str, float]:
    """Extract (or read cached) features of every clip; clips without audio train vision only."""
    from ..features.cache import FeatureCache
    from ..features.extract import ClipFeatures, extract_features
    from ..features.visual import create_backbone
    from ..training.datasets import FeatureDataset

    backbone = (create_backbone(args.backbone, args.backbone_weights, args.device)
                if args.backbone else create_backbone(weights=args.backbone_weights,
                                                      device=args.device))
    cache = FeatureCache()
    clips: dict[str, tuple] = {}
    paths = _video_paths(args.inputs)
    for path in tqdm(paths, desc="features", unit="clip", disable=not sys.stderr.isatty()):
        for item in extract_features(path, backbone, args.step, cache, with_audio=True):
            if isinstance(item, ClipFeatures) and len(item.visual):
                clips[str(path)] = (item.visual, item.audio)
    return FeatureDataset(clips), backbone.id, args.step


def _model(args: argparse.Namespace, dataset: FeatureDataset) -> RASL:
    from ..model.checkpoint import load_checkpoint
    from ..model.rasl import RASL

    if args.resume:
        return load_checkpoint(args.out)[0]
    if args.init:
        return load_checkpoint(args.init)[0]
    window = args.window or (BENCHMARK_WINDOW if args.features else 150)
    audio_dim = dataset.audio_dim or dataset.visual_dim
    fields = dict(visual_dim=dataset.visual_dim, audio_dim=audio_dim, window=window,
                  use_audio=dataset.audio_dim is not None)
    return RASL(RASLConfig.literal(**fields) if args.literal else RASLConfig(**fields))


def _postfix(event: TrainEvent) -> dict[str, str]:
    return {name: f"{getattr(event, name):.3f}" for name in
            ("recon", "kpoint", "scl", "aux", "total")}


def run(args: argparse.Namespace) -> int:
    from ..model.checkpoint import load_checkpoint, read_meta, save_checkpoint
    from ..training.datasets import FeatureDataset
    from ..training.trainer import train

    if bool(args.features) == bool(args.inputs):
        raise DatasetError("Give either video files/folders or --features DIR (not both).")
    try:  # before minutes of feature extraction, not after
        args.out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"Cannot create the folder for {args.out}: {exc.strerror}.") from exc
    if args.features:
        dataset = FeatureDataset.from_benchmark(args.features)
        backbone_id = args.backbone_id or f"features:{args.features.resolve().name}"
        step_seconds = args.step_seconds
    else:
        dataset, backbone_id, step_seconds = _video_dataset(args)
    if args.resume:
        meta = read_meta(args.out)
        if meta.backbone_id != backbone_id:
            raise ModelError(f"{args.out} was trained on {meta.backbone_id} features, not "
                             f"{backbone_id}; it cannot be resumed on these.")
    model = _model(args, dataset)
    options = TrainOptions(
        steps=args.steps, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
        device=args.device, warmup_steps=args.warmup, log_every=args.log_every,
        checkpoint_every=args.checkpoint_every, checkpoint_path=str(args.out),
        backbone_id=backbone_id, step_seconds=step_seconds,
    )
    log_path = args.out.with_name(args.out.name + ".log.jsonl")
    lines = log_path.read_text().splitlines() if args.resume and log_path.exists() else []
    last: TrainEvent | None = None
    with tqdm(total=options.steps, desc="training", unit="step",
              disable=not sys.stderr.isatty()) as bar:
        events = train(model, dataset, options, resume_from=args.out if args.resume else None)
        for event in events:
            bar.n = event.step
            bar.set_postfix(_postfix(event), refresh=True)
            record = asdict(event)
            record["checkpoint"] = str(event.checkpoint) if event.checkpoint else None
            lines.append(json.dumps(record))
            atomic_write_text(log_path, "\n".join(lines) + "\n", error=ModelError)
            log.info("step %d: %s", event.step, _postfix(event))
            last = event
    if last is None:
        print(f"{args.out} already holds {options.steps} steps; nothing to do.")
        return 0
    if args.fp16 and last.checkpoint is not None:
        trained, meta = load_checkpoint(last.checkpoint)
        save_checkpoint(last.checkpoint, trained, meta, fp16=True)
    print(json.dumps({"checkpoint": str(last.checkpoint), "step": last.step,
                      **_postfix(last), "diagnostics": last.diagnostics}, indent=2))
    return 0
