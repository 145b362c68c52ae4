"""One rational-time model of the selected segments, from which every export is written.

Segments arrive as float seconds on the clip's own clock (0 = first frame, end exclusive). They
are put on the frame grid once, here, with one rule, so the EDL, FCPXML, OTIO and the MP4 cuts
all agree to the frame:

    in  = floor(start * rate + 1/2)      out = floor(end * rate + 1/2)      [in, out)

i.e. each boundary goes to the nearest frame boundary (halves up). A frame is inside the cut when
its own start time rounds into ``[in, out)``, which for constant-rate clips is exactly what the
editor saw on the curve. Seconds are read through their shortest decimal (``12.1`` is 121/10, not
the binary float just below it) so typed times never lose a frame to float noise.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from ..errors import ExportError
from ..media import MediaInfo
from ..segments import Segment
from .timecode import (
    TIMECODE_RATES,
    is_drop_frame,
    is_timecode_rate,
    label_is_drop_frame,
    timecode_to_frames,
)

log = logging.getLogger(__name__)

DEFAULT_RECORD_START = "01:00:00:00"  # where editors start a programme's record timecode


@dataclass(frozen=True)
class Cut:
    """One segment on the frame grid: source frames ``[src_in, src_out)`` at record ``rec_in``.

    Source frames count from the clip's first frame (0), not from its start timecode.
    """

    src_in: int
    src_out: int
    rec_in: int  # frames from the start of the programme (before ``record_start``)

    @property
    def frames(self) -> int:
        return self.src_out - self.src_in


@dataclass(frozen=True)
class Timeline:
    """The selected segments of one clip laid end to end, in frames at ``rate``."""

    name: str
    source: Path
    rate: Fraction  # the editing rate every frame count is at
    source_start: int  # frame number of the clip's embedded start timecode (0 without one)
    source_frames: int  # length of the clip in frames at ``rate``
    record_start: int  # frame number of the programme's first frame (01:00:00:00)
    cuts: tuple[Cut, ...]
    audio_channels: int  # 0 when the clip has no audio
    width: int
    height: int
    pixel_aspect: Fraction  # 1 for square pixels
    # How every label of this timeline is written: the rate's convention (drop-frame at 29.97
    # and 59.94) unless the source's own timecode says otherwise. A camera set to non-drop at
    # 29.97 labels its frames 108 an hour apart from drop-frame, and an EDL must match the
    # camera's labels or the conform finds the wrong frames.
    drop_frame: bool
    tape: str | None = None  # the tape (reel) name the camera stored with the clip, if any

    @property
    def frames(self) -> int:
        return sum(cut.frames for cut in self.cuts)

    def seconds(self, frames: int) -> Fraction:
        """Exact duration of ``frames`` frames at this timeline's rate."""
        return Fraction(frames) / self.rate


def exact_seconds(seconds: float) -> Fraction:
    """A float of seconds as the decimal it prints as (``12.1`` -> 121/10)."""
    if not math.isfinite(seconds):
        raise ExportError(f"{seconds} is not a time in seconds.")
    return Fraction(repr(float(seconds)))


def seconds_to_frame(seconds: float, rate: Fraction) -> int:
    """The frame boundary nearest ``seconds`` at ``rate`` (halves round up)."""
    return math.floor(exact_seconds(seconds) * rate + Fraction(1, 2))


def editing_rate(info: MediaInfo) -> Fraction:
    """The rate frames are counted at: the stream's real rate, or for variable-rate footage
    the standard rate nearest its average, which is what editors conform such footage to.

    A VFR stream's base rate is only a time grid: phones report 90000/1 or 600/1, and a 30 fps
    clip with a few frames 1/60 s apart reports 60/1, a standard rate it does not have. So for
    VFR footage the base rate counts only when it is a standard rate and not a multiple of the
    average (at least 1.5 times it); a 30 fps base with dropped frames stays 30.
    """
    rate = Fraction(info.real_fps)
    average = Fraction(info.avg_fps)
    if info.is_vfr and not (is_timecode_rate(rate) and rate < average * Fraction(3, 2)):
        nearest = min(TIMECODE_RATES, key=lambda r: abs(r - average))
        if abs(nearest - average) <= nearest * Fraction(3, 100):
            return nearest
    if rate <= 0:
        raise ExportError(f"{info.path.name} has no usable frame rate.")
    return rate


def frame_ranges(segments: Sequence[Segment], rate: Fraction, n_frames: int
                 ) -> list[tuple[int, int]]:
    """Segments as sorted ``[in, out)`` frame ranges, clamped to the clip.

    Segments that round to nothing are dropped; overlapping segments are an error because an
    editor would see the same frames twice.
    """
    ranges = []
    outside = []  # segments reaching past the clip: said, not silently trimmed or dropped
    too_short = []  # segments that round to no frame
    for seg in sorted(segments, key=lambda s: s.start):
        if seg.end <= seg.start:
            raise ExportError(f"Segment {seg.start:g}-{seg.end:g} s ends before it starts.")
        start, end = seconds_to_frame(seg.start, rate), seconds_to_frame(seg.end, rate)
        first, last = max(0, start), min(n_frames, end)
        if (first, last) != (start, end):
            outside.append(f"{seg.start:g}-{seg.end:g} s"
                           + (" (dropped)" if last <= first else " (trimmed)"))
        if last <= first:
            if (first, last) == (start, end):
                too_short.append(f"{seg.start:g}-{seg.end:g} s")
            continue
        if ranges and first < ranges[-1][1]:
            raise ExportError(
                f"Segment {seg.start:g}-{seg.end:g} s overlaps the one before it; "
                "merge or separate them."
            )
        ranges.append((first, last))
    if not ranges:
        if too_short and not outside:
            raise ExportError("Every segment is shorter than one frame at "
                              f"{float(rate):.3f} fps; nothing to export.")
        raise ExportError("No segment lies inside the clip; nothing to export.")
    if too_short:
        log.warning("%d segment(s) shorter than one frame left out: %s", len(too_short),
                    ", ".join(too_short))
    if outside:
        log.warning("%d segment(s) reach past the clip's %.3f s: %s", len(outside),
                    float(n_frames / rate), ", ".join(outside))
    return ranges


def build_timeline(info: MediaInfo, segments: Sequence[Segment], *, name: str | None = None,
                   record_start: str = DEFAULT_RECORD_START, tape: str | None = None
                   ) -> Timeline:
    """Put ``segments`` of the clip described by ``info`` on the frame grid, end to end."""
    rate = editing_rate(info)
    n_frames = seconds_to_frame(info.duration, rate)
    source_start = 0
    drop = is_drop_frame(rate)
    if info.start_timecode:
        try:
            source_start = timecode_to_frames(info.start_timecode, rate)
            drop = label_is_drop_frame(info.start_timecode, rate)
        except ExportError as exc:
            # a camera's odd label must not block the export; times then count from zero
            log.warning("%s: ignoring its start timecode: %s", Path(info.path).name, exc)
    cuts = []
    rec = 0
    for first, last in frame_ranges(segments, rate, n_frames):
        cuts.append(Cut(first, last, rec))
        rec += last - first
    return Timeline(
        name=name or Path(info.path).stem,
        source=Path(info.path).resolve(),
        rate=rate,
        source_start=source_start,
        source_frames=n_frames,
        # the label in the timeline's convention: 01:00:00;00 at 29.97 is frame 107892
        record_start=timecode_to_frames(record_start, rate, drop_frame=drop),
        cuts=tuple(cuts),
        audio_channels=(info.audio_channels or 2) if info.has_audio else 0,
        width=info.width,
        height=info.height,
        pixel_aspect=info.pixel_aspect,
        tape=tape,
        drop_frame=drop,
    )


def _rt(frames: int, rate: float) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(frames, rate)


def _range(start: int, frames: int, rate: float) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(_rt(start, rate), _rt(frames, rate))


def to_otio(timeline: Timeline, *, otio_rate: float | None = None) -> otio.schema.Timeline:
    """The timeline as OpenTimelineIO objects: one video track, one audio track with audio.

    Source ranges are in the media's own time (start timecode included), record time starts at
    ``global_start_time`` (01:00:00:00), as editors expect. ``otio_rate`` overrides the float
    stored as every time's rate (frame counts are unchanged) for adapters that only recognise
    their own spelling of a rate.
    """
    rate = otio_rate or float(timeline.rate)
    result = otio.schema.Timeline(name=timeline.name)
    result.global_start_time = _rt(timeline.record_start, rate)
    kinds = [otio.schema.TrackKind.Video]
    if timeline.audio_channels:
        kinds.append(otio.schema.TrackKind.Audio)
    for kind in kinds:
        track = otio.schema.Track(name="V1" if kind == otio.schema.TrackKind.Video else "A1",
                                  kind=kind)
        for cut in timeline.cuts:
            reference = otio.schema.ExternalReference(
                target_url=timeline.source.as_uri(),
                available_range=_range(timeline.source_start, timeline.source_frames, rate),
            )
            clip = otio.schema.Clip(
                name=timeline.source.name,
                media_reference=reference,
                source_range=_range(timeline.source_start + cut.src_in, cut.frames, rate),
            )
            track.append(clip)
        result.tracks.append(track)
    return result
