"""``highlight-studio extract``: a corpus of videos to a features folder for ``train --features``.

    highlight-studio extract CORPUS_LIST_OR_FOLDER_OR_CLIPS... --out FEATURES_DIR
        [--ray ADDRESS|auto] [--workers N] [--backbone NAME] [--step SECONDS]

One job per clip, on a local process pool or (``--ray``) on a Ray cluster's workers, each of
which loads the backbone once. Clips already in FEATURES_DIR are skipped, so a rerun continues
an interrupted one; a clip that fails is tried once more, then listed in the summary (exit 1).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from ..cluster import FileDone, FileFailed
from ..errors import DatasetError
from ..events import Progress
from ..features.corpus import CorpusReport, ExtractSettings, extract_corpus
from ..media import VIDEO_SUFFIXES
from ..training.inputs import find_videos
from ..training.runs import DEFAULT_STEP

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "extract", help="extract features of many videos into a folder for train --features",
        description="Extract the features training uses from many videos, into a folder in "
                    "the benchmark layout (visual/, audio/, anno.json without labels), on a "
                    "local process pool or a Ray cluster (--ray).")
    p.add_argument("inputs", nargs="+", type=Path,
                   help="video files, folders of videos, or list files (one path per line)")
    p.add_argument("--out", "-o", type=Path, required=True, help="the features folder")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="run on the Ray cluster at ADDRESS (host:port of its head, or auto); "
                        "needs pip install 'highlight-studio[cluster]'")
    p.add_argument("--workers", type=int, default=None,
                   help="processes at a time (default: the cores here, or the cluster's CPUs)")
    p.add_argument("--backbone", default=None, help="feature backbone (default: the app's)")
    p.add_argument("--backbone-weights", type=Path, default=None,
                   help="weights file of a backbone that ships without them (every worker "
                        "must see it at this path)")
    p.add_argument("--step", type=float, default=DEFAULT_STEP,
                   help=f"seconds per step (default {DEFAULT_STEP:g})")
    p.add_argument("--device", choices=["cpu", "cuda", "mps"], default=None,
                   help="where workers run the backbone (default: each local worker's GPU "
                        "if any; on Ray, cuda gives each worker a GPU of its own)")
    p.set_defaults(func=run)


def corpus_paths(inputs: list[Path]) -> list[Path]:
    """Videos named, found in folders, or listed one per line in list files (blank lines and
    ``#`` comments skipped; relative paths are read from the list's folder)."""
    found: list[Path] = []
    for item in inputs:
        if item.is_file() and item.suffix.lower() not in VIDEO_SUFFIXES:
            try:
                lines = item.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise DatasetError(f"{item} is neither a video nor a readable list of "
                                   f"videos: {exc}") from exc
            listed = [line.strip() for line in lines if line.strip()
                      and not line.lstrip().startswith("#")]
            found.extend(find_videos([item.parent / entry for entry in listed]))
        else:
            found.extend(find_videos([item]))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise DatasetError("No video files found in the given inputs.")
    return unique


def run(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        raise DatasetError("--workers must be 1 or more.")
    if args.step <= 0:
        raise DatasetError("--step must be above 0 seconds.")
    paths = corpus_paths(args.inputs)
    settings = ExtractSettings(
        backbone=args.backbone, step=args.step, device=args.device,
        backbone_weights=str(args.backbone_weights.resolve()) if args.backbone_weights else None)
    report: CorpusReport | None = None
    with tqdm(total=len(paths), desc="extract", unit="clip",
              disable=not sys.stderr.isatty()) as bar:
        for event in extract_corpus(paths, args.out, settings, ray_address=args.ray,
                                    workers=args.workers):
            if isinstance(event, Progress):
                bar.n = int(event.done)
                bar.set_postfix_str(event.message, refresh=True)
            elif isinstance(event, FileFailed):
                log.warning("failed after %d tries: %s: %s", event.attempts, event.path,
                            event.error)
            elif isinstance(event, FileDone) and event.attempts > 1:
                log.info("%s done on try %d", event.path, event.attempts)
            elif isinstance(event, CorpusReport):
                report = event
    assert report is not None  # extract_corpus always ends with its report
    s = report.summary
    print(json.dumps({"out": str(report.out), "done": s.done, "skipped": s.skipped,
                      "failed": [{"path": f.path, "error": f.error} for f in s.failed],
                      "workers": s.workers, "where": s.where, "seconds": round(s.seconds, 2)},
                     indent=2))
    for failure in s.failed:
        print(f"error: {failure.path}: {failure.error}", file=sys.stderr)
    return 1 if s.failed else 0
