"""``highlight-studio analyze ... --ray ADDRESS``: the batch fanned out over a Ray cluster.

One task per clip on :func:`cluster.map_files`: each Ray worker loads the model once
(:class:`AnalyzeJob`), analyses a clip with the same :func:`analyze.analyse_file` a local batch
runs, and sends back only what gets written (the JSON document, the CSV text, the summary
line), never the clip's features. This process writes each file's outputs atomically as they
arrive, so the machines need no shared folder for results; a clip that fails is tried once more
on a fresh worker, then named (exit 1); ``--skip-done`` leaves out clips whose outputs exist.
Every machine must see the clips and the model at the paths given.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from ..cluster import BatchSummary, FileDone, FileFailed, map_files
from ..errors import HighlightStudioError
from ..events import Progress
from ..segments import SegmentOptions
from .analyze import (
    analyse_file,
    batch_outputs,
    outputs_done,
    summary_line,
    to_csv,
)
from .common import read_profile_arg, segment_options_from_args, write_outputs

if TYPE_CHECKING:
    from ..feedback.profiles import Profile


@dataclass(frozen=True)
class AnalyzedFile:
    """What a worker sends back for one clip: the outputs' texts, nothing heavy."""

    document: dict[str, Any]
    csv: str
    summary: str


class AnalyzeJob:
    """The per-clip job: :meth:`setup` loads the model once per worker process."""

    def __init__(self, checkpoint: str | None, device: str | None,
                 backbone_weights: str | None, options: SegmentOptions, use_cache: bool,
                 profile: Profile | None) -> None:
        self.checkpoint, self.device = checkpoint, device
        self.backbone_weights, self.options = backbone_weights, options
        self.use_cache, self.profile = use_cache, profile
        self._analyzer: Any = None

    def __getstate__(self) -> dict[str, Any]:  # a worker gets the settings, not a model
        return {**self.__dict__, "_analyzer": None}

    def setup(self) -> None:
        from ..scoring import load_analyzer

        self._analyzer = load_analyzer(self.checkpoint, device=self.device,
                                       backbone_weights=self.backbone_weights)

    def __call__(self, path: str) -> AnalyzedFile:
        if self._analyzer is None:
            self.setup()
        result = analyse_file(self._analyzer, Path(path), self.options,
                              use_cache=self.use_cache, profile=self.profile)
        return AnalyzedFile(result.document(), to_csv(result.analysis, result.segments),
                            summary_line(result))


def write_analyzed(done: AnalyzedFile, json_path: Path | None, csv_path: Path | None,
                   clip: Path) -> None:
    """A worker's result to the clip's outputs, atomically (the local batch's writer shape)."""
    write_outputs([(json_path, lambda: json.dumps(done.document, indent=1)),
                   (csv_path, lambda: done.csv)], protect=(clip,))


def run_cluster(args: argparse.Namespace, clips: list[Path]) -> int:
    if args.json_dir is None and args.csv_dir is None:
        raise HighlightStudioError("With --ray, name --json-dir and/or --csv-dir: the "
                                   "results are written there, one file per clip.")
    outputs = batch_outputs(clips, args.json_dir, args.csv_dir)
    by_name = {str(clip): clip for clip in clips}
    job = AnalyzeJob(args.checkpoint, args.device,
                     str(args.backbone_weights.resolve()) if args.backbone_weights else None,
                     segment_options_from_args(args), not args.no_cache,
                     read_profile_arg(args.profile))
    skip = (lambda path: outputs_done(outputs[by_name[path]])) if args.skip_done else None
    gpus = 1.0 if args.device == "cuda" else 0.0
    summary: BatchSummary | None = None
    with tqdm(total=len(clips), desc="analyze", unit="clip",
              disable=not sys.stderr.isatty()) as bar:
        for event in map_files(job, [str(c) for c in clips], skip=skip, ray_address=args.ray,
                               workers=args.workers, worker_gpus=gpus):
            if isinstance(event, Progress):
                bar.n = int(event.done)
                bar.refresh()
            elif isinstance(event, FileDone) and not event.skipped:
                clip = by_name[event.path]
                write_analyzed(event.result, *outputs[clip], clip)
                bar.write(f"{event.result.summary} [{event.worker}, {event.seconds:.1f} s]",
                          file=sys.stdout)
            elif isinstance(event, FileFailed):
                bar.write(f"{Path(event.path).name}: FAILED after {event.attempts} tries: "
                          f"{event.error}", file=sys.stdout)
            elif isinstance(event, BatchSummary):
                summary = event
    assert summary is not None  # map_files always ends with its summary
    print(f"{summary.done} of {len(clips)} clips analysed, {summary.skipped} skipped "
          f"(outputs exist), on {summary.workers} Ray workers at {summary.where} in "
          f"{summary.seconds:.1f} s")
    if summary.failed:
        names = ", ".join(f.path for f in summary.failed)
        print(f"error: {len(summary.failed)} of {len(clips)} clips failed: {names}",
              file=sys.stderr)
        return 1
    return 0
