"""``highlight-studio export CLIP``: the highlights in any format of the export table
(``export.formats``: EDL, FCPXML, OTIO, MP4 cuts, segment lists), one flag per format.

Segments come from the model (the segment options of ``analyze``) or, with ``--segments``, are
given in seconds and the model is skipped. Every file is verified after writing.
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

from ..errors import ExportError, NothingSelected
from ..export.cuts import BIT_DEPTHS, MODES, CutOptions, CutResult
from ..export.formats import (
    FORMATS,
    ExportDone,
    Exporter,
    ExportOptions,
    Selection,
    Target,
    check_targets,
    export,
)
from ..export.timelines import EDL_PRESETS
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
        "export", help="write the highlights as timelines, MP4 cuts or segment lists",
        description="Export the highlights of a clip as editing timelines, MP4 files and/or "
                    "segment lists. Each file is read back and checked against the selection "
                    "before it is kept.")
    p.add_argument("clip", type=Path)
    for exporter in FORMATS.values():  # one flag per row of the format table
        p.add_argument(exporter.flag, type=Path, metavar="D" if exporter.folder else "F",
                       dest=_dest(exporter), help=exporter.help)
    p.add_argument("--mode", choices=MODES, default="exact",
                   help="exact: re-encode, frame-accurate (default); fast: stream copy, cuts "
                        "widen to keyframes and the real bounds are printed")
    p.add_argument("--bit-depth", choices=BIT_DEPTHS, default="source",
                   help="exact mode: 'source' keeps 10-bit sources at 10 bits (default); '8' "
                        "writes 8-bit video every player takes")
    p.add_argument("--deinterlace", action="store_true",
                   help="exact mode: turn an interlaced source into progressive video (for the "
                        "web and phones); by default its fields and field order are kept")
    p.add_argument("--joined", action="store_true",
                   help="also write all segments joined into one MP4 (the highlight reel)")
    p.add_argument("--reel", action="store_true", dest="joined", help=argparse.SUPPRESS)
    p.add_argument("--template", default=CutOptions.template,
                   help="MP4 file names; fields {clip} {index} {tc} {start} {end} "
                        f"(default {CutOptions.template})")
    p.add_argument("--edl-preset", choices=sorted(EDL_PRESETS), default="premiere",
                   help="EDL flavour for the editing application (default premiere)")
    # the flag's first spelling, kept so that scripts written for it still run
    p.add_argument("--reel-preset", choices=sorted(EDL_PRESETS), dest="edl_preset",
                   default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument("--segments", metavar="LIST",
                   help="segments in seconds, e.g. 12.0-15.5,40-48.2; skips the model and the "
                        "segment options")
    add_model_arguments(p)
    add_segment_arguments(p)
    p.set_defaults(func=run)


def _dest(exporter: Exporter) -> str:
    return exporter.flag.removeprefix("--").replace("-", "_")


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


def _selection(args: argparse.Namespace) -> Selection:
    """The clip's probe and its segments, from ``--segments`` or from the model."""
    if args.segments is not None:  # an empty list is a mistake, not "use the model"
        return Selection(probe(args.clip), tuple(parse_segments(args.segments)))
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
    return Selection(result.info, tuple(segments), result.model_name)


def _targets(args: argparse.Namespace) -> list[Target]:
    """One target per format flag given, all with the options the other flags set."""
    options = ExportOptions(args.edl_preset, CutOptions(
        mode=args.mode, template=args.template, joined=args.joined, bit_depth=args.bit_depth,
        deinterlace=args.deinterlace))
    return [Target(exporter.key, path, options) for exporter in FORMATS.values()
            if (path := getattr(args, _dest(exporter))) is not None]


def run(args: argparse.Namespace) -> int:
    targets = _targets(args)
    if not targets:
        flags = [exporter.flag for exporter in FORMATS.values()]
        raise ExportError(f"Nothing to export: give {', '.join(flags[:-1])} and/or "
                          f"{flags[-1]}.")
    # Catch path, rate and template mistakes before the model runs, not after minutes of
    # analysis; a missing folder is made (as PySceneDetect and auto-editor do) by the export,
    # which removes it again, with every file it wrote, if it does not complete.
    check_outputs({t.exporter.flag: t.path for t in targets if not t.exporter.folder},
                  sources=(args.clip,))
    check_targets(probe(args.clip), targets)
    selection = _selection(args)
    _print_selection(args.clip, selection, targets)
    done = drain(export(selection, targets), ExportDone)
    for target in targets:
        if not target.exporter.folder:
            print(f"  {_title(target):<16} {target.path}")
    for cut in done.cuts:
        print(_cut_line(cut, selection.info))
    return 0


def _title(target: Target) -> str:
    """How a written file is introduced: its flag's name, the EDL with its flavour."""
    title = target.exporter.key.upper()
    return f"{title} ({target.options.edl_preset})" if target.exporter.reads & {"edl_preset"} \
        else title


def _print_selection(clip: Path, selection: Selection, targets: list[Target]) -> None:
    """What is about to be written: on the frame grid when a format is written from it."""
    if any(t.exporter.on_frames for t in targets):
        timeline = selection.timeline
        count = len(timeline.cuts)
        grid = (f", {timeline.frames} frames ({float(timeline.seconds(timeline.frames)):.2f} s)"
                f" at {float(timeline.rate):.3f} fps")
    else:
        count, grid = len(selection.segments), ""
    print(f"{clip.name}: {count} segment{'s' if count != 1 else ''}{grid}")
    note = truncation_note(selection.info)
    if note is not None:
        log.warning("%s", note)


def _cut_line(cut: CutResult, info: MediaInfo) -> str:
    """One MP4 written, and why its bounds differ from the request when they do."""
    label = "joined" if cut.index == 0 else f"{cut.index:4d}"
    line = f"  {label}  {cut.path}  {cut.start:.3f}-{cut.end:.3f} s, {cut.frames} frames"
    if not cut.on_request:
        why = ("fast mode cuts on keyframes" if cut.mode == "fast" else
               "variable frame rate: frames are kept whole" if info.is_vfr else
               "the source's timestamps are off the frame grid")
        line += f" (asked {cut.requested_start:.3f}-{cut.requested_end:.3f} s; {why})"
    return line
