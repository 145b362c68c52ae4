"""Pieces every subcommand shares: segment options, output checks, data on stdout, draining a
core generator with a bar."""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeVar

from ..errors import HighlightStudioError
from ..events import Progress
from ..fileio import atomic_write_text, same_file
from ..segments import SegmentOptions

if TYPE_CHECKING:
    from tqdm import tqdm

    from ..feedback.profiles import Profile
    from ..scoring import Analysis

T = TypeVar("T")
STDOUT = Path("-")  # an output given as "-": the data goes to stdout, the summary to stderr


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
    g.add_argument("--profile", default=None, metavar="NAME",
                   help="bend the curve by a profile of the editor's decisions (made in the "
                        "window) and the clip's own saved decisions")


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
                from tqdm import tqdm  # only on a terminal: a script's run never imports it

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


def check_outputs(outputs: dict[str, Path | None], *, sources: Iterable[Path] = (),
                  source_dirs: Iterable[Path] = ()) -> None:
    """Refuse, before any work, outputs (``{"--json": path}``) that would lose something or
    fail at the end: a source file, an existing file inside a source folder (a dataset's
    annotations), two outputs naming one file, a missing or read-only folder."""
    named = {flag: path for flag, path in outputs.items() if path is not None}
    for (flag_a, a), (flag_b, b) in itertools.combinations(named.items(), 2):
        if a == b or (STDOUT not in (a, b) and same_file(a, b)):
            raise HighlightStudioError(f"{flag_a} and {flag_b} name the same file; give each "
                                       "its own.")
    for flag, given in named.items():
        if given == STDOUT:
            continue
        path = Path(os.path.realpath(given))  # a link is written through to its target
        if path.is_dir():
            raise HighlightStudioError(f"{flag} {given} is a folder; give a file name.")
        for source in sources:
            if same_file(path, source):
                raise HighlightStudioError(f"Refusing to write {flag} over the source clip "
                                           f"{source}.")
        for folder in source_dirs:
            if path.exists() and path.is_relative_to(folder.resolve()):
                raise HighlightStudioError(f"{flag} {path} is a file of {folder}, which this "
                                           "command reads; write it somewhere else.")
        if not path.parent.is_dir():
            raise HighlightStudioError(f"The folder {path.parent} does not exist; create it or "
                                       "pick another.")
        if not os.access(path.parent, os.W_OK):
            raise HighlightStudioError(f"Cannot write to {path.parent}: the folder is "
                                       "read-only or not yours.")


def write_outputs(outputs: Iterable[tuple[Path | None, Callable[[], str]]],
                  protect: Iterable[Path] = ()) -> None:
    """Each ``(path, render)`` to its file atomically, then the one for ``-`` to stdout, so a
    reader that closes the pipe early cannot keep the files from being written. Only asked-for
    outputs are rendered (a None path is skipped); texts end with a newline."""
    protect = tuple(protect)
    given = [(path, text if text.endswith("\n") else text + "\n")
             for path, text in ((p, render()) for p, render in outputs if p is not None)]
    for path, text in given:
        if path != STDOUT:
            atomic_write_text(path, text, protect=protect)
    for path, text in given:
        if path == STDOUT:
            sys.stdout.write(text)
            sys.stdout.flush()


def report_stream(*outputs: Path | None) -> TextIO:
    """Where the human summary goes: stderr when an output's data is on stdout."""
    return sys.stderr if STDOUT in outputs else sys.stdout


def read_profile_arg(name: str | None) -> Profile | None:
    """The ``--profile`` named, read before any work so a missing one is said at once."""
    from ..feedback.profiles import load_profile

    return load_profile(name) if name else None


def apply_profile(result: Analysis, profile: Profile | None) -> Analysis:
    """The analysis with its curve bent by the profile and by the clip's own saved decisions
    (the window's); unchanged without a profile. Other features are refused."""
    if profile is None:
        return result
    from ..feedback.adapt import ClipContext, clip_key
    from ..feedback.store import load_feedback

    if result.visual is None:
        raise HighlightStudioError("This analysis kept no features to apply a profile to.")
    key = clip_key(result.path, result.backbone_id, result.step)
    context = ClipContext.of(key, result.path.name, result.backbone_id, result.step,
                             result.scores, result.visual)
    saved = load_feedback(key)
    labels = (saved.dense_labels() if saved is not None and saved.n_steps == len(result.scores)
              else context.saved_labels(profile))
    return dataclasses.replace(result, scores=context.curve(labels, profile),
                               model_name=f"{result.model_name} + profile {profile.name}")
