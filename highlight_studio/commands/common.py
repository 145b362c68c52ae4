"""Pieces every subcommand shares: segment options, draining a core generator with a bar."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from tqdm import tqdm

from ..events import Progress
from ..segments import SegmentOptions

T = TypeVar("T")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """How a clip is analysed: the model, the device, backbone weights, the feature cache."""
    g = parser.add_argument_group("model")
    g.add_argument("--checkpoint", "-m", default=None,
                   help="model name or checkpoint path (default: the shipped model)")
    g.add_argument("--device", choices=["cpu", "cuda", "mps"], default=None,
                   help="where to run (default: the GPU when present)")
    g.add_argument("--backbone-weights", type=Path, default=None,
                   help="weights file for a backbone that ships without them (e.g. Swin-B)")
    g.add_argument("--no-cache", action="store_true", help="recompute features")


def add_segment_arguments(parser: argparse.ArgumentParser) -> None:
    """The segment options of ``analyze`` and ``export`` (same names, same defaults)."""
    d = SegmentOptions()
    g = parser.add_argument_group("segments")
    g.add_argument("--threshold", type=float, default=d.threshold,
                   help=f"score in [0, 1] a step must reach to count (default {d.threshold})")
    g.add_argument("--min-length", type=float, default=d.min_length,
                   help=f"drop segments shorter than this, seconds (default {d.min_length})")
    g.add_argument("--merge-gap", type=float, default=d.merge_gap,
                   help=f"join segments closer than this, seconds (default {d.merge_gap})")
    g.add_argument("--pre-roll", type=float, default=d.pre_roll,
                   help=f"seconds added before each segment (default {d.pre_roll})")
    g.add_argument("--post-roll", type=float, default=d.post_roll,
                   help=f"seconds added after each segment (default {d.post_roll})")
    g.add_argument("--best", type=float, default=None, metavar="SECONDS",
                   help="pick the best SECONDS of the clip in total instead of a threshold")


def segment_options_from_args(args: argparse.Namespace) -> SegmentOptions:
    return SegmentOptions(
        threshold=args.threshold,
        min_length=args.min_length,
        merge_gap=args.merge_gap,
        pre_roll=args.pre_roll,
        post_roll=args.post_roll,
        best_total_seconds=args.best,
    )


def drain(events: Iterator[Progress | T], result_type: type[T]) -> T:
    """Run a core generator to its end, drawing its Progress on a bar when on a terminal."""
    bar: tqdm | None = None
    stage = None
    result: T | None = None
    show = sys.stderr.isatty()
    try:
        for event in events:
            if isinstance(event, result_type):
                result = event
                continue
            if not isinstance(event, Progress) or not show:
                continue
            if event.stage != stage:
                if bar is not None:
                    bar.close()
                stage = event.stage
                bar = tqdm(total=event.total, desc=event.stage, unit=event.unit or "it",
                           leave=False, dynamic_ncols=True)
            if bar is not None:
                if event.total is not None and bar.total != event.total:
                    bar.total = event.total
                bar.n = event.done
                bar.refresh()
    finally:
        if bar is not None:
            bar.close()
    if result is None:
        raise RuntimeError(f"the job ended without a {result_type.__name__}")
    return result
