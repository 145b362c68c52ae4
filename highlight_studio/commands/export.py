"""``highlight-studio export CLIP``: timelines (EDL, FCPXML, OTIO) and MP4 cuts of the highlights.

Segments come from the model (the segment options of ``analyze``) or, with ``--segments``, are
given in seconds and the model is skipped. Every file is verified after writing.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import ExportError, NothingSelected
from ..events import Progress
from ..export.cuts import (
    BIT_DEPTHS,
    MODES,
    CutOptions,
    CutResult,
    cut_clips,
    output_name,
    plan_outputs,
)
from ..export.timeline import build_timeline, editing_rate, read_reel_name
from ..export.timelines import (
    EDL_PRESETS,
    require_timecode_rate,
    write_edl,
    write_fcpxml,
    write_otio,
)
from ..fileio import make_folder, remove_folders
from ..media import MediaInfo, probe, truncation_note
from ..segments import Segment
from .common import (
    add_model_arguments,
    add_segment_arguments,
    apply_profile,
    check_outputs,
    drain,
    read_profile_arg,
    segment_options_from_args,
)

log = logging.getLogger(__name__)
_RANGE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*-\s*(\d+(?:\.\d*)?|\.\d+)\s*$")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export", help="write EDL / FCPXML / OTIO timelines and MP4 cuts of the highlights",
        description="Export the highlights of a clip as editing timelines and/or MP4 files. "
                    "Each file is read back and checked against the selection before it is "
                    "kept.")
    p.add_argument("clip", type=Path)
    p.add_argument("--edl", type=Path, metavar="F", help="write a CMX 3600 EDL")
    p.add_argument("--fcpxml", type=Path, metavar="F", help="write an FCPXML timeline")
    p.add_argument("--otio", type=Path, metavar="F", help="write an OpenTimelineIO timeline")
    p.add_argument("--mp4-dir", type=Path, metavar="D", help="write one MP4 per segment here")
    p.add_argument("--mode", choices=MODES, default="exact",
                   help="exact: re-encode, frame-accurate (default); fast: stream copy, cuts "
                        "widen to keyframes and the real bounds are printed")
    p.add_argument("--bit-depth", choices=BIT_DEPTHS, default="source",
                   help="exact mode: 'source' keeps 10-bit sources at 10 bits (default); '8' "
                        "writes 8-bit video every player takes")
    p.add_argument("--deinterlace", action="store_true",
                   help="exact mode: turn an interlaced source into progressive video (for the "
                        "web and phones); by default its fields and field order are kept")
    p.add_argument("--reel", action="store_true",
                   help="also write all segments joined into one highlight reel MP4")
    p.add_argument("--template", default=CutOptions.template,
                   help="MP4 file names; fields {clip} {index} {tc} {start} {end} "
                        f"(default {CutOptions.template})")
    p.add_argument("--reel-preset", choices=sorted(EDL_PRESETS), default="premiere",
                   help="EDL flavour for the editing application (default premiere)")
    p.add_argument("--segments", metavar="LIST",
                   help="segments in seconds, e.g. 12.0-15.5,40-48.2; skips the model and the "
                        "segment options")
    add_model_arguments(p)
    add_segment_arguments(p)
    p.set_defaults(func=run)


def parse_segments(text: str) -> list[Segment]:
    """``"12.0-15.5,40-48.2"`` -> segments in seconds."""
    segments = []
    for part in text.split(","):
        match = _RANGE.match(part)
        if not match:
            raise ExportError(f"{part.strip()!r} is not a segment; write START-END in seconds, "
                              "e.g. --segments 12.0-15.5,40-48.2")
        start, end = float(match.group(1)), float(match.group(2))
        if end <= start:
            raise ExportError(f"Segment {part.strip()} ends before it starts.")
        segments.append(Segment(start, end))
    return segments


def _selection(args: argparse.Namespace) -> tuple[MediaInfo, list[Segment]]:
    """The clip's probe and its segments, from ``--segments`` or from the model."""
    if args.segments is not None:  # an empty list is a mistake, not "use the model"
        return probe(args.clip), parse_segments(args.segments)
    from ..scoring import Analysis, analyze  # torch loads only when the model is needed
    from ..segments import select_segments

    options = segment_options_from_args(args)
    profile = read_profile_arg(args.profile)
    result = drain(analyze(args.clip, checkpoint=args.checkpoint, device=args.device,
                           use_cache=not args.no_cache, backbone_weights=args.backbone_weights),
                   Analysis)
    result = apply_profile(result, profile)
    segments = select_segments(result.scores, result.step, result.info.duration, options)
    if not segments:
        raise NothingSelected(f"No part of {args.clip.name} scores {options.threshold} or "
                              "more; lower --threshold or use --best SECONDS.")
    return result.info, segments


def _collect(events: Iterator[Progress | CutResult], written: list[Path]
             ) -> Iterator[Progress | list[CutResult]]:
    """Pass Progress on and gather every CutResult, so ``drain`` can draw one bar; each file
    goes into ``written`` as soon as it is in place."""
    results = []
    for event in events:
        if isinstance(event, CutResult):
            results.append(event)
            written.append(event.path)
        else:
            yield event
    yield results


def run(args: argparse.Namespace) -> int:
    outputs = {"--edl": args.edl, "--fcpxml": args.fcpxml, "--otio": args.otio}
    if not any(outputs.values()) and args.mp4_dir is None:
        raise ExportError("Nothing to export: give --edl, --fcpxml, --otio and/or --mp4-dir.")
    # Catch path mistakes before the model runs, not after minutes of analysis.
    check_outputs(outputs, sources=(args.clip,))
    options = CutOptions(mode=args.mode, template=args.template, reel=args.reel,
                         bit_depth=args.bit_depth, deinterlace=args.deinterlace)
    if args.mp4_dir is not None:  # a template mistake, too, before minutes of analysis
        output_name(args.template, clip=args.clip.stem, index=1, tc="00-00-00-00", start=0.0,
                    end=1.0)
    if args.edl or args.fcpxml:  # the rate is known from the probe, before any analysis
        require_timecode_rate(editing_rate(probe(args.clip)), args.clip.name,
                              "An EDL or FCPXML")
    # A missing --mp4-dir is made (as PySceneDetect and auto-editor do), and removed again,
    # with every file this run wrote, if the export does not complete: all or nothing.
    made = make_folder(args.mp4_dir, error=ExportError) if args.mp4_dir is not None else []
    written: list[Path] = []
    try:
        _export(args, options, written)
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        remove_folders(made)
        raise
    return 0


def _export(args: argparse.Namespace, options: CutOptions, written: list[Path]) -> None:
    """Analyse (or read ``--segments``), then write the cuts and the timelines, adding each
    finished file to ``written``. The cuts go first: they take long and fail more often
    (damaged sources, a full disk), and timelines are only worth having beside them."""
    info, segments = _selection(args)
    timeline = build_timeline(info, segments, reel=read_reel_name(args.clip))
    if args.mp4_dir is not None:  # name clashes refuse the export before any file is written
        plan_outputs(timeline, args.mp4_dir, options)
    seconds = float(timeline.seconds(timeline.frames))
    count = len(timeline.cuts)
    print(f"{args.clip.name}: {count} segment{'s' if count != 1 else ''}, {timeline.frames} frames "
          f"({seconds:.2f} s) at {float(timeline.rate):.3f} fps")
    note = truncation_note(info)
    if note is not None:
        log.warning("%s", note)
    lines = []
    if args.mp4_dir is not None:
        for r in drain(_collect(cut_clips(timeline, info, args.mp4_dir, options), written),
                       list):
            label = "reel" if r.index == 0 else f"{r.index:4d}"
            line = f"  {label}  {r.path}  {r.start:.3f}-{r.end:.3f} s, {r.frames} frames"
            if not r.on_request:
                why = ("fast mode cuts on keyframes" if r.mode == "fast" else
                       "variable frame rate: frames are kept whole" if info.is_vfr else
                       "the source's timestamps are off the frame grid")
                line += f" (asked {r.requested_start:.3f}-{r.requested_end:.3f} s; {why})"
            lines.append(line)
    if args.edl:
        written.append(write_edl(timeline, args.edl, args.reel_preset))
        print(f"  EDL ({args.reel_preset})  {args.edl}")
    if args.fcpxml:
        written.append(write_fcpxml(timeline, args.fcpxml))
        print(f"  FCPXML           {args.fcpxml}")
    if args.otio:
        written.append(write_otio(timeline, args.otio))
        print(f"  OTIO             {args.otio}")
    for line in lines:
        print(line)
