"""Write the timeline as CMX 3600 EDL, FCPXML and native OTIO, and prove each file by reading it.

Every format is produced by OpenTimelineIO and its adapters from the one model in
:mod:`.timeline`. Where an adapter leaves out something an editing application needs, a thin,
commented post-processing step adds it. After writing, each file is parsed back (with OTIO's
readers, plus a frame-grid check of FCPXML's rational times) and compared frame by frame with
the cuts it came from; any difference is an :class:`ExportError` and no file is left behind.
"""

from __future__ import annotations

import logging
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from ..errors import ExportError
from ..fileio import atomic_path
from .timecode import (
    frames_per_day,
    frames_to_timecode,
    is_drop_frame,
    is_timecode_rate,
)
from .timeline import Timeline, to_otio

_TC_LABEL = re.compile(r"\b\d{2}:\d{2}:\d{2};\d{2}\b")  # a drop-frame label in an event
_EVENT = re.compile(r"^\d{3,}  .*$", re.MULTILINE)  # an event line: number, reel, ..., times
UNKNOWN_REEL = "AX"  # CMX 3600's name for an auxiliary source with no reel
REEL_LENGTH = 8  # the CMX 3600 reel field
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EdlPreset:
    """How one editing application wants its EDL."""

    name: str
    style: str  # the CMX adapter's comment style ("premiere": clip name only; "avid": + path)
    use_reel: bool  # fill the reel field with the clip's tape name when it has one (else AX)
    uppercase_reel: bool  # Avid matches tape names in capitals


EDL_PRESETS = {
    # Premiere relinks EDL events by the clip-name comment and ignores reels: always AX.
    "premiere": EdlPreset("premiere", style="premiere", use_reel=False, uppercase_reel=False),
    # Resolve conforms by reel name when one exists, else by the clip name comment.
    "resolve": EdlPreset("resolve", style="avid", use_reel=True, uppercase_reel=False),
    # Media Composer matches tape names; 8 capitals and digits are safe.
    "avid": EdlPreset("avid", style="avid", use_reel=True, uppercase_reel=True),
}


def edl_reel(tape: str | None, preset: EdlPreset) -> str:
    """The CMX 3600 reel field for a clip's tape name, as the target accepts it: at most 8
    letters/digits/underscores, AX when the clip has no tape name or the target ignores it."""
    if not tape or not preset.use_reel:
        return UNKNOWN_REEL
    cleaned = re.sub(r"[^A-Za-z0-9_]", "", tape)[:REEL_LENGTH]
    altered = cleaned != tape.strip()  # capitals alone change no match
    if preset.uppercase_reel:
        cleaned = cleaned.upper()
    if altered:
        log.warning("The clip's tape name %r is written as %r (a CMX 3600 reel field holds 8 "
                    "letters and digits). A conform by reel name may not find it: match by "
                    "timecode and clip name (in Resolve, untick \"Assist using reel names\"), "
                    "or export FCPXML, which keeps the media path.", tape,
                    cleaned or UNKNOWN_REEL)
    return cleaned or UNKNOWN_REEL


def require_timecode_rate(rate: Fraction, clip_name: str, what: str) -> None:
    """Refuse a rate editors do not take for ``what`` (an EDL, FCPXML), naming the way out."""
    if not is_timecode_rate(rate):
        raise ExportError(
            f"{what} needs a standard editing rate (23.976, 24, 25, 29.97, 30, 50, 59.94 or "
            f"60 fps); {clip_name} runs at {float(rate):.3f} fps. "
            "Export an .otio timeline or MP4 cuts instead."
        )


# -- verification -------------------------------------------------------------------------

# (source frame in media time, frames, record frame in programme time) per clip
Ranges = list[tuple[int, int, int]]


def expected_ranges(timeline: Timeline) -> Ranges:
    return [(timeline.source_start + c.src_in, c.frames, timeline.record_start + c.rec_in)
            for c in timeline.cuts]


def _frames(t: otio.opentime.RationalTime, rate: Fraction) -> int:
    value = t.value_rescaled_to(float(rate))
    frames = round(value)
    if abs(value - frames) > 1e-6:
        raise ExportError(f"A time in the written file ({value} frames) is not on a frame.")
    return frames


def _track_ranges(track: otio.schema.Track, rate: Fraction, record_offset: int) -> Ranges:
    ranges = []
    for clip in track.find_clips():
        source = clip.source_range
        record = track.range_of_child(clip).start_time
        ranges.append((_frames(source.start_time, rate), _frames(source.duration, rate),
                       _frames(record, rate) + record_offset))
    return ranges


def _check(read_back: otio.schema.Timeline, timeline: Timeline, what: str,
           record_offset: Callable[[otio.schema.Track], int], wrap: int | None = None,
           source_name: str | None = None) -> None:
    """Compare every track read back with the cuts; raise on the first difference.

    ``record_offset`` gives, per track, the programme frame its first item starts at;
    ``wrap`` (frames in 24 h) compares positions as timecode labels, which wrap at midnight;
    ``source_name`` is the clip name the format holds (the file's own name by default).
    """
    source_name = timeline.source.name if source_name is None else source_name
    def labelled(ranges: Ranges) -> Ranges:
        return ranges if wrap is None else [(s % wrap, n, r % wrap) for s, n, r in ranges]

    want = labelled(expected_ranges(timeline))
    video = list(read_back.video_tracks())
    audio = list(read_back.audio_tracks())
    if len(video) != 1:
        raise ExportError(f"The written {what} has {len(video)} video tracks instead of 1.")
    if bool(audio) != bool(timeline.audio_channels):
        raise ExportError(f"The written {what} {'lacks' if not audio else 'has'} audio tracks"
                          f" but the clip {'has' if timeline.audio_channels else 'has no'} audio.")
    for track in video + audio:
        got = labelled(_track_ranges(track, timeline.rate, record_offset(track)))
        if got != want:
            raise ExportError(
                f"The written {what} does not match the selection on track {track.name}: "
                f"expected {want}, read back {got}. Nothing was saved; please report this."
            )
        names = {clip.name for clip in track.find_clips()}
        if names != {source_name}:
            raise ExportError(f"The written {what} names its source {names}, "
                              f"not {source_name!r}.")


def _write_verified(path: str | os.PathLike[str], text: str, timeline: Timeline,
                    verify: Callable[[Path, Timeline], None]) -> Path:
    """Write ``text`` beside ``path``, verify the temporary file, then rename it into place."""
    target = Path(path)
    with atomic_path(target, error=ExportError, protect=(timeline.source,)) as tmp:
        tmp.write_text(text, encoding="utf-8")
        verify(tmp, timeline)
    return target


# -- CMX 3600 EDL -------------------------------------------------------------------------


def _edl_title(name: str) -> str:
    """EDL titles are one line of printable ASCII; long ones are cut by some readers."""
    ascii_name = name.encode("ascii", "replace").decode("ascii")
    return re.sub(r"[^\x20-\x7e]", "_", ascii_name).strip()[:70] or "HIGHLIGHTS"


def edl_line_text(text: str) -> str:
    """``text`` as an EDL comment can hold it: one line, control characters (a newline in a
    file name) written as "_". EDLs are read line by line, so a newline would end the comment
    and abort the read; the other formats keep the name as it is."""
    return re.sub(r"[\x00-\x1f\x7f]", "_", text)


def _channel_code(audio_channels: int) -> str:
    """CMX channel field for a cut that takes picture and sound together."""
    if audio_channels >= 2:
        return "AA/V"  # video + A1 + A2
    if audio_channels == 1:
        return "B"  # video + A1
    return "V"


def edl_text(timeline: Timeline, preset: EdlPreset) -> str:
    """The EDL as text: written by OTIO's CMX 3600 adapter, then completed (see comments)."""
    require_timecode_rate(timeline.rate, timeline.source.name, "An EDL")
    _refuse_events_across_midnight(timeline)
    rate = float(timeline.rate)
    edl = to_otio(timeline)
    edl.name = _edl_title(timeline.name)
    reel = edl_reel(timeline.tape, preset)
    for track in edl.tracks:
        # The adapter counts record timecode from zero and ignores global_start_time; a
        # leading gap puts the first event at 01:00:00:00 without changing any other time.
        track.insert(0, otio.schema.Gap(duration=otio.opentime.RationalTime(
            timeline.record_start, rate)))
        for clip in track.find_clips():
            clip.metadata["cmx_3600"] = {"reel": reel}
            # Comments carry the file's real name and path; a file:// URL would percent-encode
            # them and Premiere would look for "my%20clip.mp4".
            clip.name = edl_line_text(clip.name)
            clip.media_reference.target_url = edl_line_text(str(timeline.source))
    text = otio.adapters.write_to_string(edl, "cmx_3600", style=preset.style, rate=rate)
    # The adapter writes only the video track. Every audio clip here lies under its video
    # clip, so the channel field of each event is widened to take sound with picture.
    code = _channel_code(timeline.audio_channels)
    text = re.sub(r"^(\d{3,}  .{8} )V    ", lambda m: m.group(1) + f"{code:<5}", text,
                  flags=re.MULTILINE)
    if is_drop_frame(timeline.rate) and not timeline.drop_frame:
        text = _relabel_non_drop(text, timeline)
    # The adapter writes no FCM line; without it editors guess drop-frame from the separators.
    return text.replace("\n\n", f"\n{_fcm(timeline)}\n\n", 1)


def _relabel_non_drop(text: str, timeline: Timeline) -> str:
    """The adapter labels 29.97 and 59.94 drop-frame; this source counts non-drop. Each event's
    four times are written again from the cuts themselves (re-reading the adapter's labels
    would inherit their drop-frame day), and nothing else changes: not a title, clip name or
    path that looks like a label."""
    cuts = iter(expected_ranges(timeline))

    def relabel(event: re.Match[str]) -> str:
        cut = next(cuts, None)
        if cut is None:
            raise ExportError("The EDL writer wrote more events than there are cuts. Nothing "
                              "was saved; please report this.")
        src, frames, rec = cut
        labels = [frames_to_timecode(v, timeline.rate, False)
                  for v in (src, src + frames, rec, rec + frames)]
        line, found = _TC_LABEL.subn(lambda _: labels.pop(0) if labels else "", event.group(0))
        if found != 4:
            raise ExportError(f"The EDL writer wrote an event with {found} times, not 4: "
                              f"{event.group(0)!r}. Nothing was saved; please report this.")
        return line

    return _EVENT.sub(relabel, text)


def _refuse_events_across_midnight(timeline: Timeline) -> None:
    """An event whose labels roll over 24 h (out before in) is one CMX 3600 cannot hold."""
    day = frames_per_day(timeline.rate, timeline.drop_frame)
    for src, frames, rec in expected_ranges(timeline):
        for start, what in ((src, "the clip's"), (rec, "the programme's")):
            if start % day + frames >= day:  # even an out point of 24:00:00:00 wraps
                at = float(timeline.seconds(src - timeline.source_start))
                raise ExportError(
                    f"The segment at {at:.2f} s runs past midnight in {what} timecode, which "
                    "an EDL cannot hold. Split the segment at midnight, or export FCPXML or "
                    "OTIO instead.")


def _fcm(timeline: Timeline) -> str:
    return "FCM: DROP FRAME" if timeline.drop_frame else "FCM: NON-DROP FRAME"


def verify_edl(path: str | os.PathLike[str], timeline: Timeline) -> None:
    """Read an EDL with OTIO's CMX reader and check its events against ``timeline``."""
    text = Path(path).read_text(encoding="utf-8")
    want_fcm = _fcm(timeline)
    if want_fcm not in text.splitlines():
        raise ExportError(f"The written EDL lacks the line {want_fcm!r}.")
    try:
        read_back = otio.adapters.read_from_string(text, "cmx_3600", rate=float(timeline.rate))
    except otio.exceptions.OTIOError as exc:
        raise ExportError(f"The written EDL does not parse: {exc}") from exc
    # The reader gives each track a source range starting at minus its first record time.
    def offset(track: otio.schema.Track) -> int:
        start = track.source_range.start_time if track.source_range else None
        return -_frames(start, timeline.rate) if start is not None else 0

    _check(read_back, timeline, "EDL", offset,
           wrap=frames_per_day(timeline.rate, timeline.drop_frame),
           source_name=edl_line_text(timeline.source.name))


def write_edl(timeline: Timeline, path: str | os.PathLike[str],
              preset: str | EdlPreset = "premiere") -> Path:
    """Write and verify a CMX 3600 EDL for ``preset`` ("premiere", "resolve" or "avid")."""
    if isinstance(preset, str):
        if preset not in EDL_PRESETS:
            raise ExportError(f"Unknown EDL preset {preset!r}; choose from "
                              f"{', '.join(EDL_PRESETS)}.")
        preset = EDL_PRESETS[preset]
    text = edl_text(timeline, preset)
    return _write_verified(path, text, timeline, verify_edl)


# -- FCPXML -------------------------------------------------------------------------------

# The FCPXML adapter recognises a rate only by its own float spelling of it.
_FCPX_RATE_LABELS = {Fraction(24000, 1001): 23.98, Fraction(30000, 1001): 29.97,
                     Fraction(60000, 1001): 59.94}
_TIME_ATTRS = ("offset", "duration", "start")


def _fcpx_time(frames: int, rate: Fraction) -> str:
    """FCPXML rational seconds for a frame count: a whole multiple of the frame duration."""
    seconds = Fraction(frames) / rate
    if seconds.denominator == 1:
        return f"{seconds.numerator}s"
    return f"{seconds.numerator}/{seconds.denominator}s"


def _parse_fcpx_time(value: str | None) -> Fraction:
    if not value:
        return Fraction(0)
    return Fraction(value.removesuffix("s"))


def fcpxml_text(timeline: Timeline) -> str:
    """FCPXML written by OTIO's adapter from the video track, completed (see comments)."""
    require_timecode_rate(timeline.rate, timeline.source.name, "FCPXML")
    rate = timeline.rate
    label = _FCPX_RATE_LABELS.get(rate, float(rate))
    picture = to_otio(timeline, otio_rate=label)
    # Sound is written below as FCP itself writes it (anchored in each clip's video); the
    # adapter's separate audio lane gets its offsets wrong.
    for track in list(picture.audio_tracks()):
        picture.tracks.remove(track)
    root = ET.fromstring(otio.adapters.write_to_string(picture, "fcpx_xml").split("\n", 2)[2])

    # The adapter computes every time as frames / float rate (1000/999s at 29.97), which is
    # not a whole number of frames; put each back on the exact frame grid.
    for element in root.iter():
        for attr in _TIME_ATTRS:
            value = element.get(attr)
            if value and value != "0s":
                frames = round(_parse_fcpx_time(value) * Fraction(label))
                element.set(attr, _fcpx_time(frames, rate))

    fmt = root.find("./resources/format")
    asset = root.find("./resources/asset")
    if fmt is None or asset is None:
        raise ExportError("The FCPXML adapter wrote no format or asset; cannot export FCPXML.")
    # The adapter's table lacks some rates (48) and its format name comes from ffprobe, which
    # is valid for FCP only for a few rasters: describe the format by its numbers instead,
    # without which the importer falls back to a default format and rescales.
    fmt.attrib.pop("name", None)
    fmt.set("frameDuration", _fcpx_time(1, rate))
    fmt.set("width", str(timeline.width))
    fmt.set("height", str(timeline.height))
    if timeline.pixel_aspect != 1:  # anamorphic (HDV, DVCPRO HD): FCP would show it squeezed
        fmt.set("paspH", str(timeline.pixel_aspect.numerator))
        fmt.set("paspV", str(timeline.pixel_aspect.denominator))
    drop = "DF" if timeline.drop_frame else "NDF"
    asset.set("hasAudio", "1" if timeline.audio_channels else "0")
    if timeline.audio_channels:
        asset.set("audioSources", "1")
        asset.set("audioChannels", str(timeline.audio_channels))
    # The browser clip is repeated once per cut; one is enough. It spans the whole asset, so
    # it starts where the media does (the adapter leaves it at 0s, outside a clip whose
    # timecode starts at 01:00:00:00).
    browser_clips = root.findall("./asset-clip")
    for extra in browser_clips[1:]:
        root.remove(extra)
    for browser in browser_clips[:1]:
        browser.set("start", _fcpx_time(timeline.source_start, rate))
        browser.set("tcFormat", drop)

    project = root.find("./project")
    sequence = root.find("./project/sequence")
    if project is None or sequence is None:
        raise ExportError("The FCPXML adapter wrote no sequence; cannot export FCPXML.")
    if not project.get("uid"):
        project.attrib.pop("uid", None)  # an empty uid is not a uid; FCP makes one on import
    # Record time starts at 01:00:00:00 like the EDL; the adapter writes no start timecode.
    sequence.set("tcStart", _fcpx_time(timeline.record_start, rate))
    sequence.set("tcFormat", drop)
    media_start = _fcpx_time(timeline.source_start, rate)
    media_length = _fcpx_time(timeline.source_frames, rate)
    for clip in sequence.iter("clip"):
        # the spine's clock starts at tcStart, so its clips' offsets do too
        offset = round(_parse_fcpx_time(clip.get("offset")) * rate)
        clip.set("offset", _fcpx_time(timeline.record_start + offset, rate))
        clip.set("tcFormat", drop)
        video = clip.find("video")
        if video is None:
            raise ExportError("The FCPXML adapter wrote a clip without video.")
        # A clip's `start` is in media time (start timecode included); the video inside it
        # must sit at that same time, not at 0s as the adapter puts it.
        video.set("offset", media_start)
        video.set("start", media_start)
        video.set("duration", media_length)
        if timeline.audio_channels:
            ET.SubElement(video, "audio", {
                "lane": "-1", "ref": asset.get("id", ""), "offset": media_start,
                "start": media_start, "duration": media_length, "role": "dialogue",
            })
    ET.indent(root, space="    ")
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n{body}\n'


def _fcpx_frames(element: ET.Element, attr: str, rate: Fraction) -> int:
    frames = _parse_fcpx_time(element.get(attr)) * rate
    if frames.denominator != 1:
        raise ExportError(f"The written FCPXML has {attr}={element.get(attr)} on <{element.tag}>,"
                          " which is not on a frame boundary.")
    return int(frames)


def verify_fcpxml(path: str | os.PathLike[str], timeline: Timeline) -> None:
    """Check an FCPXML: OTIO's reader must open it, and every clip must sit exactly on the
    frames of ``timeline``. Frames are read from the XML itself because the adapter's reader
    truncates rates to integers (29.97 becomes 29) and cannot tell frames apart."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        read_back = otio.adapters.read_from_string(text, "fcpx_xml")
    except Exception as exc:  # the reader raises bare Python errors on malformed input
        raise ExportError(f"The written FCPXML does not parse: {exc}") from exc
    if not isinstance(read_back, otio.schema.Timeline) or not read_back.video_tracks():
        raise ExportError("The written FCPXML holds no timeline with video.")
    root = ET.fromstring(text.encode("utf-8"))
    sequence = root.find("./project/sequence")
    if sequence is None:
        raise ExportError("The written FCPXML has no sequence.")
    rate = timeline.rate
    if _fcpx_frames(sequence, "tcStart", rate) != timeline.record_start:
        raise ExportError("The written FCPXML's sequence does not start at the record start.")
    got: Ranges = []
    for clip in sequence.iterfind("./spine/clip"):
        got.append((_fcpx_frames(clip, "start", rate), _fcpx_frames(clip, "duration", rate),
                    _fcpx_frames(clip, "offset", rate)))
        video = clip.find("video")
        if video is None or _fcpx_frames(video, "offset", rate) != timeline.source_start:
            raise ExportError("The written FCPXML places a clip's media at the wrong time.")
        if bool(timeline.audio_channels) != (video.find("audio") is not None):
            raise ExportError("The written FCPXML's clips do not carry the clip's sound.")
    for browser in root.iterfind("./asset-clip"):
        if _fcpx_frames(browser, "start", rate) != timeline.source_start:
            raise ExportError("The written FCPXML's browser clip lies outside its media.")
    want = expected_ranges(timeline)
    if got != want:
        raise ExportError(f"The written FCPXML does not match the selection: expected {want}, "
                          f"read back {got}. Nothing was saved; please report this.")


def write_fcpxml(timeline: Timeline, path: str | os.PathLike[str]) -> Path:
    """Write and verify an FCPXML (1.8) of ``timeline``."""
    text = fcpxml_text(timeline)
    return _write_verified(path, text, timeline, verify_fcpxml)


# -- native OTIO --------------------------------------------------------------------------


def verify_otio(path: str | os.PathLike[str], timeline: Timeline) -> None:
    """Read an .otio file back and check every track against ``timeline``."""
    try:
        read_back = otio.adapters.read_from_file(str(path), adapter_name="otio_json")
    except Exception as exc:  # OTIO raises its own and plain Python errors on bad JSON
        raise ExportError(f"The written OTIO file does not parse: {exc}") from exc
    start = read_back.global_start_time
    offset = _frames(start, timeline.rate) if start is not None else 0
    _check(read_back, timeline, "OTIO file", lambda track: offset)


def write_otio(timeline: Timeline, path: str | os.PathLike[str]) -> Path:
    """Write and verify a native OpenTimelineIO (.otio JSON) file of ``timeline``."""
    text = otio.adapters.write_to_string(to_otio(timeline), "otio_json")
    return _write_verified(path, text, timeline, verify_otio)
