"""``highlight-studio analyze CLIP [CLIP|FOLDER|@LIST ...]``: highlight curves and segments, as
JSON and/or CSV.

One clip keeps the single-file flags (``--json F``, ``--csv F``, ``-`` for stdout). Several clips,
a folder or a list make a batch: the model is loaded once, one bar shows the whole batch, each
file gets a summary line and its outputs in ``--json-dir`` / ``--csv-dir``, and a file that fails
is reported while the others go on (exit 1, naming it). :func:`analyse_file` is the per-file unit
(loaded model in, curve and segments out), for anything that fans files out.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import HighlightStudioError
from ..events import CancelToken, Progress
from ..export.segment_list import segment_rows
from ..media import VIDEO_SUFFIXES, truncation_note
from ..segments import Segment, SegmentOptions, select_segments
from .common import (
    add_model_arguments,
    add_segment_arguments,
    apply_profile,
    check_outputs,
    drain,
    read_profile_arg,
    report_stream,
    segment_options_from_args,
    write_outputs,
)

if TYPE_CHECKING:  # the model loads only when a command runs, so `--help` stays instant
    from collections.abc import Callable, Iterator

    from ..feedback.profiles import Profile
    from ..scoring import Analysis, Analyzer

BATCH_IN_FLIGHT = 2  # files analysed at once on ONNX Runtime (see run_batch)

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "analyze", help="score clips and select their highlights",
        description="Score clips and select their highlight segments. Several clips, a folder "
                    "(its video files, recursively) or @LIST (a text file, one path a line) "
                    "make a batch that loads the model once; a file that fails is reported, "
                    "the others go on, and the exit code is 1.")
    p.add_argument("clips", type=str, nargs="*", metavar="CLIP",
                   help="clips, folders of clips, or @LIST files")
    p.add_argument("--list", type=Path, action="append", default=[], metavar="F",
                   help="a text file naming one clip per line (blank lines and # comments "
                        "skipped); may be repeated")
    p.add_argument("--json", type=Path, metavar="F",
                   help="one clip: write the curve and segments as JSON ('-': to stdout)")
    p.add_argument("--csv", type=Path, metavar="F",
                   help="one clip: write one row per step: time, score, segment ('-': stdout)")
    p.add_argument("--json-dir", type=Path, metavar="DIR",
                   help="write CLIP_NAME.json per clip into DIR (a batch or one clip)")
    p.add_argument("--csv-dir", type=Path, metavar="DIR",
                   help="write CLIP_NAME.csv per clip into DIR (a batch or one clip)")
    p.add_argument("--skip-done", action="store_true",
                   help="leave out clips whose --json-dir/--csv-dir outputs exist already "
                        "(a rerun continues an interrupted batch)")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="fan the clips out over the Ray cluster at ADDRESS (host:port of its "
                        "head, or auto), one task per clip; needs pip install "
                        "'highlight-studio[cluster]' and the model on every machine")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="clips in flight at once (default: 2 here; with --ray, one per CPU "
                        "of the cluster)")
    add_model_arguments(p)
    add_segment_arguments(p)
    p.set_defaults(func=run)


def to_json(result: Analysis, segments: list[Segment]) -> dict:
    """The document ``--json`` writes: top-level model, step, times, scores, segments."""
    info = result.info
    return {
        "clip": str(result.path.resolve()),
        "duration": info.duration,
        "model": result.model_name,
        "backbone": result.backbone_id,
        "device": result.device,
        "step": result.step,
        "notes": list(result.notes),
        "times": [round(float(t), 6) for t in result.times],
        "scores": [round(float(s), 6) for s in result.scores],
        "segments": segment_rows(segments, digits=6),  # the rows of the export's list
    }


def to_csv(result: Analysis, segments: list[Segment]) -> str:
    """One row per step; ``segment`` is the 1-based segment holding the step's start, or empty.
    A curve, not a segment list, so it is not the export's CSV (``export --csv`` writes that)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["time", "score", "segment"])
    starts = np.array([seg.start for seg in segments])
    ends = np.array([seg.end for seg in segments])
    for t, s in zip(result.times, result.scores, strict=True):
        i = int(np.searchsorted(starts, t, side="right"))  # segments are sorted, disjoint
        inside = i if i > 0 and t < ends[i - 1] else ""
        writer.writerow([f"{t:.3f}", f"{s:.6f}", inside])
    return buf.getvalue()


@dataclass(frozen=True)
class FileResult:
    """One analysed file: its curve and the segments the options select."""

    analysis: Analysis
    segments: list[Segment]

    def document(self) -> dict:
        return to_json(self.analysis, self.segments)


def file_events(analyzer: Analyzer, clip: Path, options: SegmentOptions, *,
                use_cache: bool = True, cancel: CancelToken | None = None,
                profile: Profile | None = None) -> Iterator[Progress | FileResult]:
    """One clip with a loaded model: Progress events, then its FileResult (its curve bent
    by the editor's ``profile`` when given)."""
    from ..scoring import Analysis, analyze_clip

    for event in analyze_clip(analyzer, clip, use_cache=use_cache, cancel=cancel):
        if isinstance(event, Analysis):
            event = apply_profile(event, profile)
            yield FileResult(event, select_segments(event.scores, event.step,
                                                    event.info.duration, options))
        else:
            yield event


def analyse_file(analyzer: Analyzer, clip: Path, options: SegmentOptions, *,
                 use_cache: bool = True, cancel: CancelToken | None = None,
                 profile: Profile | None = None,
                 on_progress: Callable[[Progress], None] | None = None) -> FileResult:
    """One clip with a loaded model: the unit a batch repeats (and a worker pool could fan
    out). Raises HighlightStudioError subclasses for a clip that cannot be analysed."""
    result: FileResult | None = None
    for event in file_events(analyzer, clip, options, use_cache=use_cache, cancel=cancel,
                             profile=profile):
        if isinstance(event, FileResult):
            result = event
        elif on_progress is not None:
            on_progress(event)
    assert result is not None  # analyze_clip always ends with its result
    return result


def expand_clips(items: list[str], lists: list[Path]) -> list[Path]:
    """The clips named: paths as given, a folder's video files (recursively, sorted), and the
    lines of @LIST / --list files. A missing path stays in (it fails as that file)."""
    listed: list[str] = []
    for item in items:
        if item.startswith("@"):
            lists = [*lists, Path(item[1:])]
        else:
            listed.append(item)
    for list_file in lists:
        try:
            lines = list_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise HighlightStudioError(f"Cannot read the list {list_file}: {exc}") from exc
        base = list_file.parent
        listed.extend(str(base / line.strip()) for line in lines
                      if line.strip() and not line.lstrip().startswith("#"))
    clips: list[Path] = []
    for item in map(Path, listed):
        if item.is_dir():
            clips.extend(sorted(p for p in item.rglob("*")
                                if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES))
        else:
            clips.append(item)
    return clips


def batch_outputs(clips: list[Path], json_dir: Path | None, csv_dir: Path | None
                  ) -> dict[Path, tuple[Path | None, Path | None]]:
    """Each clip's (json, csv) output path in the folders, checked before any work: no two
    clips may share a name, and no output may be a clip."""
    outputs: dict[Path, tuple[Path | None, Path | None]] = {}
    seen: dict[str, Path] = {}
    resolved = {c.resolve() for c in clips}
    for clip in clips:
        if clip.stem in seen and seen[clip.stem] != clip:
            raise HighlightStudioError(
                f"{seen[clip.stem]} and {clip} would write outputs of the same name; analyse "
                "them in separate runs or rename one.")
        seen[clip.stem] = clip
        outputs[clip] = (None if json_dir is None else json_dir / f"{clip.stem}.json",
                         None if csv_dir is None else csv_dir / f"{clip.stem}.csv")
        json_path, csv_path = outputs[clip]
        check_outputs({"--json-dir": json_path, "--csv-dir": csv_path}, sources=(clip,))
        for path in (json_path, csv_path):
            if path is not None and path.resolve() in resolved:  # a clip named like an output
                raise HighlightStudioError(f"Refusing to write {path} over a clip of the "
                                           "batch.")
    return outputs


def outputs_done(paths: tuple[Path | None, Path | None]) -> bool:
    """Whether every output a clip was asked for exists (what ``--skip-done`` leaves out;
    outputs are written atomically, so one that exists is whole)."""
    wanted = [path for path in paths if path is not None]
    return bool(wanted) and all(path.is_file() for path in wanted)


def write_file_outputs(result: FileResult, json_path: Path | None, csv_path: Path | None,
                       clip: Path) -> None:
    write_outputs([(json_path, lambda: json.dumps(result.document(), indent=1)),
                   (csv_path, lambda: to_csv(result.analysis, result.segments))],
                  protect=(clip,))


def summary_line(result: FileResult) -> str:
    analysis, segments = result.analysis, result.segments
    total = sum(s.duration for s in segments)
    return (f"{analysis.path.name}: {len(analysis.scores)} steps of {analysis.step:g} s, model "
            f"{analysis.model_name} on {analysis.device}; {len(segments)} segments, "
            f"{total:.1f} s" + "".join(f"\n  note: {n}" for n in analysis.notes))


def run(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        raise HighlightStudioError("--workers must be 1 or more.")
    clips = expand_clips(args.clips, args.list)
    if not clips:
        raise HighlightStudioError("No clips to analyse: name clips, folders or @LIST files "
                                   "(a folder held no video files, or a list was empty).")
    batch = len(clips) > 1 or len(args.clips) != 1 or bool(args.list) \
        or Path(args.clips[0]).is_dir()
    if batch and (args.json is not None or args.csv is not None):
        raise HighlightStudioError("--json and --csv name one file; for a batch use "
                                   "--json-dir / --csv-dir.")
    if args.skip_done and args.json_dir is None and args.csv_dir is None:
        raise HighlightStudioError("--skip-done looks for the outputs of --json-dir / "
                                   "--csv-dir; name at least one.")
    if args.ray is not None:
        if args.json is not None or args.csv is not None:
            raise HighlightStudioError("With --ray, write the outputs with --json-dir / "
                                       "--csv-dir.")
        from .analyze_cluster import run_cluster

        return run_cluster(args, clips)
    outputs = batch_outputs(clips, args.json_dir, args.csv_dir)
    if args.skip_done:
        todo = [clip for clip in clips if not outputs_done(outputs[clip])]
        if len(todo) < len(clips):
            print(f"{len(clips) - len(todo)} of {len(clips)} clips skipped: their outputs "
                  "exist (--skip-done)")
        if not todo:
            return 0
        clips = todo
    if batch:
        return run_batch(args, clips, outputs)
    return run_one(args, clips[0], outputs[clips[0]])


def run_one(args: argparse.Namespace, clip: Path, dirs: tuple[Path | None, Path | None]
            ) -> int:
    """One clip; ``dirs``: its outputs in --json-dir / --csv-dir (see :func:`batch_outputs`)."""
    from ..scoring import load_analyzer

    options = segment_options_from_args(args)
    # Catch path mistakes before the model runs, not after minutes of analysis.
    check_outputs({"--json": args.json, "--csv": args.csv}, sources=(clip,))
    profile = read_profile_arg(args.profile)
    analyzer = load_analyzer(args.checkpoint, device=args.device,
                             backbone_weights=args.backbone_weights)
    result = drain(file_events(analyzer, clip, options, use_cache=not args.no_cache,
                               profile=profile), FileResult)
    write_file_outputs(result, args.json, args.csv, clip)
    write_file_outputs(result, *dirs, clip)
    report = report_stream(args.json, args.csv)
    print(summary_line(result), file=report)
    for i, s in enumerate(result.segments, 1):
        print(f"  {i:3d}  {s.start:9.2f} - {s.end:9.2f}  ({s.duration:6.2f} s)  "
              f"score {s.score:.3f}", file=report)
    note = truncation_note(result.analysis.info)
    if note is not None:
        log.warning("%s", note)
    return 0


class _BatchBar:
    """One bar over the batch's seconds of video, fed from every file in flight."""

    def __init__(self, total: float) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=round(total, 1), unit="s", desc="analyze",
                         disable=not sys.stderr.isatty(), leave=False, dynamic_ncols=True)
        self._lock = threading.Lock()
        self._done: dict[Path, float] = {}

    def update(self, clip: Path, seconds: float) -> None:
        with self._lock:
            self._done[clip] = seconds
            self._bar.n = round(sum(self._done.values()), 1)
            self._bar.refresh()

    def write(self, line: str) -> None:
        with self._lock:
            self._bar.write(line, file=sys.stdout)

    def close(self) -> None:
        self._bar.close()


def run_batch(args: argparse.Namespace, clips: list[Path],
              outputs: dict[Path, tuple[Path | None, Path | None]]) -> int:
    """Every clip with one loaded model; failures are reported and the batch goes on.

    On ONNX Runtime two files are in flight (the session is shared; each file has its decode
    thread), so the cores stay busy where one file's decoding ends and the next one's starts.
    Summaries and outputs follow the clips' order.
    """
    from ..media import probe
    from ..scoring import load_analyzer

    options = segment_options_from_args(args)
    profile = read_profile_arg(args.profile)
    started = time.perf_counter()
    analyzer = load_analyzer(args.checkpoint, device=args.device,
                             backbone_weights=args.backbone_weights)
    durations: dict[Path, float] = {}
    failed: dict[Path, str] = {}
    for clip in clips:  # probing is cheap; it sizes the bar and catches unreadable files early
        try:
            durations[clip] = probe(clip).duration
        except HighlightStudioError as exc:
            failed[clip] = str(exc)
    bar = _BatchBar(sum(durations.values()))
    cancel = CancelToken()

    def one(clip: Path) -> FileResult:
        def progress(event: Progress) -> None:
            if event.stage == "features" and event.total:
                bar.update(clip, durations[clip] * event.done / event.total)

        return analyse_file(analyzer, clip, options, use_cache=not args.no_cache,
                            cancel=cancel, on_progress=progress, profile=profile)

    # torch's thread setting is process-wide (extract._torch_threads): one file at a time there
    in_flight = (args.workers or BATCH_IN_FLIGHT) if analyzer.runtime == "onnxruntime" else 1
    done = 0
    pool = ThreadPoolExecutor(in_flight, thread_name_prefix="highlight-batch")
    try:
        futures = {clip: pool.submit(one, clip) for clip in clips if clip not in failed}
        for clip in clips:
            if clip in failed:
                bar.write(f"{clip.name}: FAILED: {failed[clip]}")
                continue
            try:
                result = futures[clip].result()
                write_file_outputs(result, *outputs[clip], clip)
            except HighlightStudioError as exc:
                failed[clip] = str(exc)
                bar.write(f"{clip.name}: FAILED: {exc}")
            else:
                done += 1
                bar.write(summary_line(result))
            bar.update(clip, durations[clip])
    finally:
        cancel.cancel()  # on an interrupt: the files in flight stop at their next check
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    wall = time.perf_counter() - started
    analysed = sum(d for c, d in durations.items() if c not in failed)
    speed = f", {analysed / wall:.1f}x real time" if wall > 0 and analysed else ""
    print(f"{done} of {len(clips)} clips analysed in {wall:.1f} s ({analysed:.1f} s of "
          f"video{speed}, {analyzer.runtime})")
    if failed:
        names = ", ".join(str(c) for c in clips if c in failed)
        print(f"error: {len(failed)} of {len(clips)} clips failed: {names}", file=sys.stderr)
        return 1
    return 0
