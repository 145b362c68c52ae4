"""``highlight-studio evaluate``: score a benchmark folder with a checkpoint or a baseline.

Prints the per-domain table and the headline figure of the folder's protocol (yth or tvsum);
``--json`` keeps the full result, ``--dump-scores`` the scores themselves for later analysis.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..evaluation import (
    BASELINES,
    baseline_scores,
    evaluate_scores,
    read_benchmark_annotations,
    read_model_inputs,
    read_motion_features,
    read_visual_features,
    unannotated_feature_files,
)
from ..evaluation.baselines import needs_motion
from ..events import Progress
from ..model.config import CLIP_READOUT
from .common import check_outputs, drain, report_stream, write_outputs

Scorer = Callable[[str, np.ndarray], np.ndarray]  # (video id, visual [N, D]) -> scores [N]
log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="measure a model or a baseline on a benchmark folder",
        description="Score every video of a benchmark folder (see shared/benchmarks/FORMAT.md) "
                    "and print the per-domain figures of its protocol and their average.",
    )
    p.add_argument("--dataset", required=True, type=Path, metavar="DIR",
                   help="benchmark folder with anno.json, visual/ and audio/")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", metavar="C", help="model file or installed model name")
    source.add_argument("--baseline", choices=BASELINES, help="a label-free scorer instead")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the random baseline (default 0)")
    p.add_argument("--device", default=None,
                   help="torch device for --checkpoint (default: cuda if available, else cpu)")
    p.add_argument("--readout", choices=CLIP_READOUT, default=None,
                   help="with --checkpoint: how each clip's curve is read from the model "
                        "(default: the checkpoint's own; activation = the paper's, main_axis "
                        "= the clip's main direction of change, oriented by the activation)")
    p.add_argument("--split", choices=("all", "train", "val"), default="all",
                   help="score only the videos of this split (tvsum sets give one per video; "
                        "default all, as FORMAT.md's protocols read; UMT reports TVSum's val)")
    p.add_argument("--simulate-editor", type=int, default=0, metavar="N",
                   help="also simulate an editor who reviews the N highest-scored steps of "
                        "each video, the curve refitted after each decision (see "
                        "benchmarks/simulated_editor.py); prints mAP on the unreviewed steps")
    p.add_argument("--json", type=Path, metavar="F",
                   help="write the full result as JSON ('-': to stdout)")
    p.add_argument("--dump-scores", type=Path, metavar="F",
                   help="write {video_id: [score per step]} as JSON ('-': to stdout)")
    p.set_defaults(func=run)


def _checkpoint_scorer(name: str, device: str | None, readout: str | None
                       ) -> tuple[Scorer, str, str]:
    """Load the model once (torch is imported only when a checkpoint is evaluated); also
    return the readout that will be used and the streams its visual branch reads."""
    import torch

    from ..model.checkpoint import load_checkpoint
    from ..model.inference import score_sequence

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, _ = load_checkpoint(name, device=device)
    readout = readout or model.config.clip_readout

    def scorer(video_id: str, visual: np.ndarray) -> np.ndarray:
        return score_sequence(model, visual, readout=readout)

    return scorer, readout, model.config.visual_inputs


def score_videos(visual: dict[str, np.ndarray], scorer: Scorer
                 ) -> Iterator[Progress | dict[str, np.ndarray]]:
    """Score each video in turn, reporting progress; the last item is the scores by id."""
    scores: dict[str, np.ndarray] = {}
    for done, (video_id, feats) in enumerate(visual.items()):
        yield Progress("scoring", done, len(visual), unit="video")
        scores[video_id] = np.asarray(scorer(video_id, feats), dtype=np.float32)
    yield scores


def run(args: argparse.Namespace) -> int:
    if args.simulate_editor < 0:
        raise ModelError("--simulate-editor takes a number of decisions, 0 or more.")
    if args.baseline and args.readout:
        raise ModelError("--readout reads a model's curve; a baseline scores steps directly.")
    every = read_benchmark_annotations(args.dataset)  # checks the folder before any work
    annotations = every.only_split(args.split)
    check_outputs({"--json": args.json, "--dump-scores": args.dump_scores},
                  source_dirs=(args.dataset,))
    ids = list(annotations.videos)
    extra = unannotated_feature_files(args.dataset, list(every.videos))
    if extra:
        log.warning("%d feature file(s) in %s/visual have no annotation and are left out "
                    "(e.g. %s)", len(extra), args.dataset, extra[0])
    if args.baseline:
        label = args.baseline + (f" (seed {args.seed})" if args.baseline == "random" else "")
        seed = args.seed
        visual = read_visual_features(args.dataset, ids)  # the annotated videos, nothing else
        motion = read_motion_features(args.dataset, ids) if needs_motion(args.baseline) else {}

        def scorer(video_id: str, feats: np.ndarray) -> np.ndarray:
            return baseline_scores(args.baseline, feats, motion=motion.get(video_id),
                                   seed=seed, video_id=video_id)
    else:
        scorer, readout, inputs = _checkpoint_scorer(args.checkpoint, args.device,
                                                     args.readout)
        visual = read_model_inputs(args.dataset, ids, inputs)  # what the model was trained on
        label = f"{Path(args.checkpoint).stem} ({readout} readout)"
    scores = drain(score_videos(visual, scorer), dict)
    result = evaluate_scores(annotations, scores)
    source = ({"baseline": args.baseline, "seed": args.seed} if args.baseline
              else {"checkpoint": str(args.checkpoint), "readout": readout})
    data = {"dataset": str(args.dataset), "split": args.split, **source, **result.to_dict()}
    if args.simulate_editor:  # the scorer's curves are the prior the editor's decisions bend
        from ..feedback.simulate import simulate_editor

        rows = simulate_editor(annotations.videos, scores, visual, annotations.protocol,
                               args.simulate_editor)
        data["simulated_editor"] = [dataclasses.asdict(row) for row in rows]
    write_outputs([  # the scores as float32 values, exactly
        (args.json, lambda: json.dumps(data, indent=1)),
        (args.dump_scores, lambda: json.dumps({vid: s.tolist() for vid, s in scores.items()}))])
    print(result.format_table(label), file=report_stream(args.json, args.dump_scores))
    if args.simulate_editor:
        from ..feedback.simulate import format_rows

        print(format_rows(rows, result.metric), file=report_stream(args.json, args.dump_scores))
    return 0
