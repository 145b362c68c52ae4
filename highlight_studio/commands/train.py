"""``highlight-studio train``: unsupervised RASL training on videos or a benchmark folder.

    highlight-studio train --features DIR --out my.safetensors [--steps N] [--seed S]
    highlight-studio train CLIP_OR_FOLDER ... --out my.safetensors
    highlight-studio train CLIP_OR_FOLDER ... --init MODEL --profile NAME --out my.safetensors

Every logged step (each loss term, collapse diagnostics) goes to ``<out>.log.jsonl`` beside
the checkpoint, and a model card to ``<out stem>.card.md``; the bar shows the loss terms as it runs.
Videos go through :func:`~highlight_studio.training.finetune.fine_tune`, the code path of the
GUI's training panel.

The same command runs under ``torchrun --nproc-per-node N`` (data-parallel, see
:mod:`highlight_studio.training.distributed`): ``--batch-size`` is then the global batch, every
process trains on its share, and rank 0 alone writes the checkpoint, log, card and summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from ..errors import DatasetError, ModelError
from ..events import Progress
from ..features.corpus import read_description
from ..model.config import AXIS_HEADS, AXIS_TEACHERS, BENCHMARK_WINDOW, CLIP_READOUT, VISUAL_INPUTS
from ..model.loss_terms import TERM_NAMES
from ..training.from_decisions import decisions_request
from ..training.inputs import ClipInfo
from ..training.options import TrainOptions
from ..training.runs import DEFAULT_STEP, FineTuneRequest, FineTuneResult, start_inputs
from .common import read_profile_arg

if TYPE_CHECKING:  # torch loads only when training runs, so `--help` stays instant
    from ..training.trainer import TrainEvent

log = logging.getLogger(__name__)
# The options named after the RASLConfig field they set (unset: the start model's value).
CONFIG_OPTIONS = ("clip_readout", "axis_weight", "visual_inputs", "axis_teacher", "axis_head",
                  "ridge_context")


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
    p.add_argument("--batch-size", type=int, default=d.batch_size,
                   help="windows per step, over all processes under torchrun (default "
                        f"{d.batch_size})")
    p.add_argument("--warmup", type=int, default=d.warmup_steps, help="lr warm-up steps")
    p.add_argument("--device", default="cpu")
    p.add_argument("--window", type=int, default=None,
                   help=f"steps per window (default 150 for videos, {BENCHMARK_WINDOW} for "
                        "--features)")
    p.add_argument("--literal", action="store_true",
                   help="the paper read literally, without the anti-collapse options")
    p.add_argument("--clip-readout", choices=CLIP_READOUT, default=None,
                   help="how the model's curves are read at inference (default: activation, "
                        "or the --init model's); recorded in the model, not used in training")
    p.add_argument("--axis-weight", type=float, default=None, metavar="W",
                   help="weight of the main-axis self-training term (0 off, the default for a "
                        "new model; 1 is the measured setting): the activation learns each "
                        "clip's main axis of change from the steps' content; no labels")
    p.add_argument("--visual-inputs", choices=VISUAL_INPUTS, default=None,
                   help="the streams the visual branch reads, side by side (default: the "
                        "--init model's, else visual); a visual+motion model needs the motion "
                        "stream wherever it scores (videos: computed from their frames)")
    p.add_argument("--axis-teacher", choices=AXIS_TEACHERS, default=None,
                   help="what the self-training term and a ridge head learn (default: the "
                        "--init model's, else main_axis of the visual input); joint_axis = "
                        "the main axis of the visual and motion streams together, joint_norm "
                        "= their summed z-scored norms (both need the motion stream)")
    p.add_argument("--axis-head", choices=AXIS_HEADS, default=None,
                   help="what the self-training term trains (default: the --init model's, else "
                        "activation); linear = a linear scorer of each step's unit input that "
                        "then gives the score (the best held out)")
    p.add_argument("--ridge-context", type=int, default=None, metavar="K",
                   help="with --axis-head ridge: the head also reads the mean input of each "
                        "step's +-K neighbours (default: the --init model's, else 0; 3 held "
                        "out best on yth-train)")
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--profile", default=None, metavar="NAME",
                   help="also learn the decisions this profile holds on the given clips "
                        "(made in the window): kept steps ranked above rejected ones")
    p.add_argument("--fp16", action="store_true", help="write the final weights in float16")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out model (without it, an existing one is kept: "
                        "continue it with --resume or pick another --out)")
    p.add_argument("--backbone-id", default=None,
                   help="with --features: the extractor that made them (recorded, checked later)")
    p.add_argument("--step-seconds", type=float, default=0.0,
                   help="with --features: seconds per step (recorded, checked later; a "
                        "folder made by `extract` says it itself, and its backbone)")
    p.add_argument("--backbone", default=None,
                   help="for videos: feature backbone name (default: the --init model's)")
    p.add_argument("--backbone-weights", type=Path, default=None)
    p.add_argument("--step", type=float, default=None,
                   help=f"for videos: seconds per step (default: the --init model's, else "
                        f"{DEFAULT_STEP:g})")
    p.set_defaults(func=run)


def _request(args: argparse.Namespace) -> FineTuneRequest:
    """The run the arguments ask for; ``--features`` runs get their window here."""
    window = args.window or (BENCHMARK_WINDOW if args.features else None)
    options = TrainOptions(
        steps=args.steps, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
        device=args.device, warmup_steps=args.warmup, log_every=args.log_every,
        checkpoint_every=args.checkpoint_every,
    )
    request = FineTuneRequest(
        inputs=tuple(str(p) for p in args.inputs), out=str(args.out), init=args.init,
        resume=args.resume, options=options, backbone=args.backbone,
        backbone_weights=str(args.backbone_weights) if args.backbone_weights else None,
        step=args.step, window=window, literal=args.literal, fp16=args.fp16,
        config={name: getattr(args, name) for name in CONFIG_OPTIONS
                if getattr(args, name) is not None},
    )
    return decisions_request(request, args.profile) if args.profile else request


def _events(args: argparse.Namespace, request: FineTuneRequest) -> Iterator[object]:
    """Videos go through fine_tune (as the GUI's panel does); a feature folder skips to its
    training half."""
    from ..training.finetune import fine_tune, train_on  # imports torch

    if not args.features:
        return fine_tune(request)
    from ..model.description import read_meta
    from ..training.datasets import FeatureDataset

    start = request.start
    inputs = start_inputs(start, args.visual_inputs) if start else (args.visual_inputs
                                                                    or "visual")
    teacher = args.axis_teacher or (read_meta(start).config.axis_teacher if start
                                    else "main_axis")
    dataset = FeatureDataset.from_benchmark(args.features, inputs, teacher)
    # A folder made by `extract` says which backbone and step made it: the model records
    # them, so it can analyse clips afterwards.
    made_by = read_description(args.features) or {}
    backbone_id = (args.backbone_id or made_by.get("backbone_id")
                   or f"features:{args.features.resolve().name}")
    step_seconds = args.step_seconds or made_by.get("step_seconds") or 0.0
    return train_on(request, dataset, backbone_id, step_seconds)


def _postfix(event: TrainEvent) -> dict[str, str]:
    """Every loss term and the total, for the bar and the summary."""
    return {name: f"{getattr(event, name):.3f}" for name in (*TERM_NAMES, "total")}


def run(args: argparse.Namespace) -> int:
    from ..training import distributed

    if bool(args.features) == bool(args.inputs):
        raise DatasetError("Give either video files/folders or --features DIR (not both).")
    if args.profile:
        if args.features:
            raise DatasetError("--profile learns decisions made on video clips in the window; "
                               "give those videos, not --features.")
        read_profile_arg(args.profile)  # a missing profile is said before any work
    with distributed.process_group(args.device) as ranks:
        return _train(args, quiet=not ranks.is_main)


def _train(args: argparse.Namespace, quiet: bool) -> int:
    """The run; ``quiet`` ranks of a torchrun run train without a bar or a summary."""
    from ..training.trainer import TrainEvent

    request = _request(args)
    if not (args.resume or args.overwrite) and request.checkpoint.exists():
        raise ModelError(f"{request.checkpoint} exists already; --resume continues it, "
                         "--overwrite replaces it, or give another --out.")
    result: FineTuneResult | None = None
    last: TrainEvent | None = None
    with tqdm(total=args.steps, desc="training", unit="step",
              disable=quiet or not sys.stderr.isatty()) as bar:
        for event in _events(args, request):
            if isinstance(event, ClipInfo) and not event.usable:
                log.warning("skipped %s: %s", event.path, event.problem)
            elif isinstance(event, Progress):
                bar.set_description(f"{event.stage} {event.message}".strip())
            elif isinstance(event, TrainEvent):
                bar.set_description("training")
                bar.n = event.step
                bar.set_postfix(_postfix(event), refresh=True)
                log.info("step %d: %s", event.step, _postfix(event))
                last = event
            elif isinstance(event, FineTuneResult):
                result = event
    if quiet:
        return 0
    assert result is not None  # fine_tune and train_on always end with their result
    if last is None:
        print(f"{result.checkpoint} already holds {result.step} steps; nothing to do.")
        return 0
    print(json.dumps({"checkpoint": str(result.checkpoint), "card": str(result.card),
                      "step": last.step, **_postfix(last), "diagnostics": last.diagnostics},
                     indent=2))
    return 0
