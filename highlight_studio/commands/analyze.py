"""``highlight-studio analyze CLIP``: the highlight curve and segments, as JSON and/or CSV."""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..media import truncation_note
from ..segments import Segment, select_segments
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

if TYPE_CHECKING:  # torch loads only when a command runs, so `--help` stays instant
    from ..scoring import Analysis

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("analyze", help="score a clip and select its highlights",
                              description="Score a clip and select its highlight segments.")
    p.add_argument("clip", type=Path)
    p.add_argument("--json", type=Path, metavar="F",
                   help="write the curve and segments as JSON ('-': to stdout)")
    p.add_argument("--csv", type=Path, metavar="F",
                   help="write one row per step: time, score, segment ('-': to stdout)")
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
        "segments": [{"start": round(s.start, 6), "end": round(s.end, 6),
                      "duration": round(s.duration, 6), "score": round(s.score, 6)}
                     for s in segments],
    }


def to_csv(result: Analysis, segments: list[Segment]) -> str:
    """One row per step; ``segment`` is the 1-based segment holding the step's start, or empty."""
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


def run(args: argparse.Namespace) -> int:
    from ..scoring import Analysis, analyze

    options = segment_options_from_args(args)
    # Catch path mistakes before the model runs, not after minutes of analysis.
    check_outputs({"--json": args.json, "--csv": args.csv}, sources=(args.clip,))
    profile = read_profile_arg(args.profile)
    result = drain(analyze(args.clip, checkpoint=args.checkpoint, device=args.device,
                           use_cache=not args.no_cache, backbone_weights=args.backbone_weights),
                   Analysis)
    result = apply_profile(result, profile)
    segments = select_segments(result.scores, result.step, result.info.duration, options)
    write_outputs([(args.json, lambda: json.dumps(to_json(result, segments), indent=1)),
                   (args.csv, lambda: to_csv(result, segments))], protect=(args.clip,))
    report = report_stream(args.json, args.csv)
    total = sum(s.duration for s in segments)
    print(f"{result.path.name}: {len(result.scores)} steps of {result.step:g} s, model "
          f"{result.model_name} on {result.device}; {len(segments)} segments, {total:.1f} s",
          file=report)
    for note in result.notes:
        print(f"  note: {note}", file=report)
    for i, s in enumerate(segments, 1):
        print(f"  {i:3d}  {s.start:9.2f} - {s.end:9.2f}  ({s.duration:6.2f} s)  "
              f"score {s.score:.3f}", file=report)
    note = truncation_note(result.info)
    if note is not None:
        log.warning("%s", note)
    return 0
