"""Probing and decoding clips with PyAV.

Everything here speaks one clock: seconds from the first video frame's presentation time
(``MediaInfo.start_time`` on the container clock). Analysis samples that clock on a grid of
``step`` seconds; :mod:`.timegrid` holds the single rule for how many steps a clip has, and step
``k`` shows the frame on screen at ``k * step`` (the last frame whose pts is <= ``k * step``), so
variable-frame-rate footage lands on the right moments.

Decoding is threaded (FFmpeg frame/slice threads) and always drained at the end of the stream,
so the last frames are never lost; frames are scaled by libswscale while converting to RGB and
only the frames a step needs are converted at all. Asked for, each step also carries a small
grey pair (its frame and the next decoded one) for optical flow: the next frame is the one the
decoder has just delivered anyway, so motion costs no extra decoding.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.container
import av.error
import numpy as np
from av.video.reformatter import VideoReformatter

from .errors import MediaError
from .events import CancelToken, check_cancel
from .timegrid import first_step_from, step_count

log = logging.getLogger(__name__)

# The one list of video file suffixes (lower case): what the Open dialog shows, a folder gives
# to a batch analysis, training and feature extraction. Anything else PyAV opens can still be
# named directly (the dialog's "All files").
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".avi", ".m4v", ".webm", ".mxf", ".mts",
                            ".m2ts", ".ts", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".dv"})

# Which step a frame is shown at is the time grid's rule (timegrid.first_step_from). The
# tolerance for a time given in seconds (frames_at): a microsecond.
_TIME_EPS = Fraction(1, 1_000_000)
# Frame timestamps looked at to tell constant from variable frame rate (about ten seconds): the
# start of the MP4 sample table, or else the first packets, demuxed without decoding (Matroska,
# MPEG-TS). Footage whose rate only starts to vary later is reported as constant.
_VFR_PROBE_PACKETS = 300
# Frame intervals may differ by rounding to the stream's time base (1 tick, e.g. 33/34 ms in
# Matroska) or by this fraction of the typical interval before a clip counts as VFR.
_VFR_TOLERANCE = 0.01
# A clip whose packets end this much (or two frames) before its header's duration is cut off.
_TRUNCATION_SLACK = Fraction(1, 2)
_TAIL_SECONDS = 3  # how far before the declared end the check for a cut-off file starts
# libswscale filter for the downscale to analysis size: smooth enough for a backbone, fast.
_INTERPOLATION = "BILINEAR"
# The grey pairs for optical flow shrink a frame 4-12x: an area filter does not alias there,
# and costs two thirds of the bilinear one (0.28 against 0.43 ms a 720p frame).
_PAIR_INTERPOLATION = "AREA"


@dataclass(frozen=True)
class MediaInfo:
    """What a clip is, read once from its container and streams."""

    path: Path
    duration: float  # seconds of video, from the first frame's presentation time
    avg_fps: Fraction  # average frame rate (frames / duration); what VFR footage averages to
    real_fps: Fraction  # the stream's real base rate (r_frame_rate): the editing rate for timecode
    frame_count: int  # exact when the container says so, else estimated from duration * avg_fps
    width: int  # display width after rotation
    height: int  # display height after rotation
    rotation: int  # degrees clockwise the picture must be turned for display (0, 90, 180, 270)
    has_audio: bool
    audio_rate: int | None  # sample rate of the first audio stream
    audio_channels: int | None
    start_timecode: str | None  # embedded SMPTE start timecode ("01:00:00:00"), if any
    start_time: float  # presentation time of the first video frame (seconds, container clock)
    video_codec: str
    is_vfr: bool  # frame intervals vary by more than a small tolerance
    truncated: bool = False  # the file ends before its index says; duration is what is there
    pixel_aspect: Fraction = Fraction(1)  # width / height of one pixel as shown (HDV: 4/3)
    tape_name: str | None = None  # the tape (reel) a camera named (MOV); an EDL conforms by it

    @property
    def display_width(self) -> int:
        """The width the picture is shown at: ``width`` stretched by non-square pixels."""
        return max(1, round(self.width * self.pixel_aspect))


@dataclass(frozen=True)
class FramePair:
    """Two consecutive decoded frames, small, grey and upright: what optical flow compares."""

    first: np.ndarray  # uint8 [h, w]
    second: np.ndarray  # uint8 [h, w], the frame decoded after ``first``
    interval: float  # seconds between their presentation times (> 0)


@dataclass(frozen=True)
class SampledFrame:
    """One frame picked for a step of the analysis grid."""

    index: int  # step index k: the frame shown at time k * step
    time: float  # k * step, seconds from the first frame
    pts_time: float  # the presentation time of the decoded frame actually used
    image: np.ndarray  # RGB uint8 [H, W, 3], upright (rotation applied)
    # With iter_frames(pair_size=...): this frame and the next decoded one (the previous one
    # for the clip's last frame); None for a clip of a single frame. Steps that show the same
    # frame share one pair object.
    pair: FramePair | None = None


def truncation_note(info: MediaInfo) -> str | None:
    """What to tell the user about a clip that is cut off (a download or recording that
    stopped): only what is there was analysed. None for a whole clip."""
    if not info.truncated:
        return None
    return (f"{info.path.name} is cut off: only its first {info.duration:.2f} s can be read "
            "(less than its header declares); only that part was analysed.")


def probe(path: str | Path) -> MediaInfo:
    """Read what a clip is: timing, size, rotation, audio, timecode.

    Decodes only the first video frame (FFmpeg puts the display-matrix rotation on decoded
    frames; PyAV exposes no stream-level reader for it). Raises :class:`MediaError` for a file
    that is missing, unreadable, has no video stream, or has no frames.

    Results are kept per file version (path, size, times, inode): thumbnails, features
    and exports all probe the same clip, and a clip that declares no duration is read to its
    end to find one.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        return _probe_file(path)  # _open explains what is wrong
    if not stat.S_ISREG(st.st_mode):
        return _probe_file(path)
    return _probe_version(path, (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
                                 st.st_dev))


@functools.lru_cache(maxsize=64)
def _probe_version(path: Path, version: tuple[int, ...]) -> MediaInfo:
    """:func:`_probe_file`, once per version of a file (size, times, inode, device): a
    rewrite in place changes the change time even where it keeps the size and mtime."""
    return _probe_file(path)


def _probe_file(path: Path) -> MediaInfo:
    with _open(path) as container:
        return _probe_open(container, path)


def iter_frames(
    path: str | Path,
    step: float = 0.2,
    size: tuple[int, int] | None = None,
    cancel: CancelToken | None = None,
    pair_size: tuple[int, int] | None = None,
    hwaccel: str | None = None,
    threads: int | None = None,
) -> Iterator[SampledFrame]:
    """Yield one upright RGB frame per step, ``step_count(duration, step)`` of them in order.

    ``hwaccel`` (a PyAV device type, e.g. "cuda") decodes on that device where PyAV, FFmpeg and
    the driver offer it (NVDEC); each decoded picture then comes back to memory and the sampled
    ones are scaled on the CPU as usual. Where it is not offered (no driver, a codec the device
    cannot decode) the CPU decodes and a warning says so.

    ``threads`` is how many threads FFmpeg decodes with; None lets it choose (frame threads,
    one more than the cores). The frames are the same either way; one thread costs the least
    CPU where something else keeps the other cores busy (see ``extract.decoder_threads``).

    ``size`` is the (width, height) of the images, the display size when None. With
    ``pair_size`` each frame also carries a grey :class:`FramePair` of that size. The file is
    probed now, so a bad file raises :class:`MediaError` here rather than on first iteration.
    A file that stops decoding early (truncated, damaged tail) repeats its last good frame for
    the remaining steps. Memory stays bounded: frames are streamed, never collected. Raises
    :class:`~highlight_studio.events.Cancelled` between frames once ``cancel`` is set.
    """
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    info = probe(path)
    pairs = None if pair_size is None else _output_size(info, pair_size)
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    return _sample_frames(info, step, _output_size(info, size), cancel, pairs, hwaccel,
                          threads)


def frames_at(
    path: str | Path, times: Sequence[float], size: tuple[int, int] | None = None
) -> list[np.ndarray]:
    """Upright RGB images of the frames on screen at ``times`` (seconds from the first frame).

    For thumbnails: each time seeks to the keyframe before it and decodes forward, but times
    that share a keyframe interval reuse the running decoder instead of seeking again, so a few
    dozen times on a long clip cost a few dozen short decodes. Times outside the clip are
    clamped to it. Results come back in the order of ``times``.
    """
    info = probe(path)
    width, height = _output_size(info, size)
    results: dict[int, np.ndarray] = {}
    reformatter = VideoReformatter()
    with _open(info.path) as container:
        stream = video_stream(container)
        assert stream is not None  # probe checked
        stream.thread_type = "AUTO"
        tb = stream.time_base
        assert tb is not None  # every demuxed video stream has one
        first_pts = round(Fraction(info.start_time) / tb)
        last_target = first_pts + math.floor(Fraction(info.duration) / tb)
        has_index = len(stream.index_entries) > 0
        frames: Iterator[av.VideoFrame] | None = None
        current: av.VideoFrame | None = None  # newest frame at or before the last target
        ahead: av.VideoFrame | None = None  # first frame after it, kept for the next target
        for i in sorted(range(len(times)), key=lambda j: times[j]):
            # A time equal to a frame's pts up to float error (3.96 s = frame 99 at 25 fps) is
            # that frame: round up by a microsecond, far less than any frame interval.
            ticks = math.floor((Fraction(times[i]) + _TIME_EPS) / tb)
            target = min(last_target, first_pts + max(0, ticks))
            newest = ahead or current
            if frames is None or newest is None or (
                _keyframe_before(stream, target) > newest.pts if has_index else
                target > newest.pts
            ):
                container.seek(target, stream=stream, backward=True)
                frames = decoded_frames(container, stream)
                current = ahead = None
            if ahead is not None and ahead.pts <= target:
                current, ahead = ahead, None
            while ahead is None:
                frame = next(frames, None)
                if frame is None:
                    break
                if frame.pts is None or frame.pts <= target:
                    current = frame
                else:
                    ahead = frame
            chosen = current or ahead
            if chosen is None:
                raise MediaError(f"Could not decode a frame of {path} at {times[i]:.3f} s.")
            results[i] = _to_rgb(chosen, width, height, info.rotation, reformatter)
    return [results[i] for i in range(len(times))]


def read_audio(path: str | Path, sample_rate: int, cancel: CancelToken | None = None
               ) -> np.ndarray | None:
    """The first audio stream as float32 mono at ``sample_rate``, on the video clock.

    Sample 0 is the time of the first video frame and the length is
    ``round(duration * sample_rate)``: audio that starts late is preceded by silence, audio
    before the first frame or after the last is cut, a short track is padded with zeros. The
    track is assumed continuous from its first packet. Returns None when the clip has no audio.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    info = probe(path)
    if not info.has_audio:
        return None
    out = np.zeros(round(info.duration * sample_rate), np.float32)
    with _open(info.path) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        pos: int | None = None
        for frame in decoded_frames(container, stream):
            check_cancel(cancel)
            if pos is None:
                start = frame.time if frame.time is not None else info.start_time
                pos = round((start - info.start_time) * sample_rate)
            for chunk in resampler.resample(frame):
                pos = _place(out, chunk.to_ndarray()[0], pos)
            if pos >= len(out):
                return out
        if pos is not None:
            for chunk in resampler.resample(None):
                pos = _place(out, chunk.to_ndarray()[0], pos)
    return out


# --- internals -------------------------------------------------------------------------------


def video_stream(container: av.container.InputContainer) -> av.VideoStream | None:
    """The clip's picture: the first video stream that is not cover art (an attached picture,
    as music files and some phone videos carry), or None."""
    return next((s for s in container.streams.video
                 if not s.disposition & av.stream.Disposition.attached_pic), None)


def _open(path: Path) -> av.container.InputContainer:
    """Open ``path`` for reading, turning every way that can fail into a :class:`MediaError`."""
    if not path.exists():
        raise MediaError(f"{path} does not exist.")
    if path.is_dir():
        raise MediaError(f"{path} is a folder, not a video file.")
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise MediaError(f"Cannot open {path}: {exc.strerror or exc}.") from exc
    if not stat.S_ISREG(mode):  # a FIFO or device would block the open, or never end
        raise MediaError(f"{path} is not a regular file (a pipe, socket or device); save the "
                         "video to a file first.")
    try:
        return av.open(str(path), metadata_errors="replace")
    except OSError as exc:  # first: PyAV's permission and I/O errors are FFmpegErrors too
        raise MediaError(f"Cannot open {path}: {exc.strerror or exc}.") from exc
    except av.error.FFmpegError as exc:
        reason = exc.strerror or str(exc)
        raise MediaError(
            f"Cannot read {path}: it is damaged, incomplete or not a video file ({reason})."
        ) from exc


def _probe_open(container: av.container.InputContainer, path: Path) -> MediaInfo:
    """:func:`probe` on an open container, which it leaves positioned somewhere past the start."""
    stream = video_stream(container)
    if stream is None:
        raise MediaError(f"{path} has no video stream (is it an audio file?).")
    tb = stream.time_base
    if tb is None:
        raise MediaError(f"{path} has a video stream without timestamps.")
    stream.thread_type = "AUTO"
    full_index = 0 < len(stream.index_entries) == stream.frames  # MP4/MOV sample table
    first, stamps, complete = _read_head(container, stream, 0 if full_index else
                                         _VFR_PROBE_PACKETS)
    if first is None:
        raise MediaError(f"{path} contains no video frames that can be decoded.")
    first_pts = first.pts if first.pts is not None else (stream.start_time or 0)
    if not (full_index or complete or stream.duration or container.duration):
        # Nothing declares the length (live Matroska/WebM, a recording that crashed): read the
        # rest of the timestamps (demuxing only, no decoding) instead of guessing from the head.
        stamps += [p.pts for p in _packets(container, stream) if p.pts is not None]
        complete = True
    if full_index:
        timing = _indexed_timing(stream, path)
    else:
        timing = _sampled_timing(container, stream, first_pts, stamps, complete)
    if timing.duration <= 0:
        raise MediaError(
            f"{path} has zero duration: its video is a single still picture or has no frames."
        )
    # FFmpeg's display matrix angle is counter-clockwise; phones only write right angles.
    rotation = 90 * round(-first.rotation / 90) % 360
    width, height = stream.codec_context.width, stream.codec_context.height
    sar = stream.codec_context.sample_aspect_ratio
    pixel_aspect = Fraction(sar) if sar and sar > 0 else Fraction(1)
    if rotation % 180:
        width, height = height, width
        pixel_aspect = 1 / pixel_aspect  # a turned pixel's width is its stored height
    audio = container.streams.audio[0] if container.streams.audio else None
    return MediaInfo(
        path=path,
        duration=float(timing.duration),
        avg_fps=timing.avg_fps,
        real_fps=Fraction(stream.base_rate or stream.guessed_rate or timing.avg_fps),
        frame_count=timing.frame_count,
        width=width,
        height=height,
        rotation=rotation,
        has_audio=audio is not None,
        audio_rate=audio.rate if audio is not None else None,
        audio_channels=audio.channels if audio is not None else None,
        start_timecode=_timecode(container),
        tape_name=_tape_name(container),
        start_time=float(first_pts * tb),
        video_codec=stream.codec_context.name,
        is_vfr=timing.is_vfr,
        truncated=timing.truncated,
        pixel_aspect=pixel_aspect,
    )


@dataclass(frozen=True)
class _Timing:
    """The clip's extent, worked out one of two ways (sample table or sampled packets)."""

    duration: Fraction  # seconds
    frame_count: int
    avg_fps: Fraction
    is_vfr: bool
    truncated: bool


def _read_head(container: av.container.InputContainer, stream: av.VideoStream, n_stamps: int
               ) -> tuple[av.VideoFrame | None, list[int], bool]:
    """One pass over the start of the stream, decoding only up to the first frame.

    Returns the first frame, the pts of the first ``n_stamps`` packets, and whether the stream
    ended within them.
    """
    first: av.VideoFrame | None = None
    stamps: list[int] = []
    for packet in _packets(container, stream):
        if packet.pts is not None:
            stamps.append(packet.pts)
        if first is None:
            frames = _decode_packet(stream, packet)
            first = frames[0] if frames else None
        if first is not None and len(stamps) >= n_stamps:
            return first, stamps, False
    return first, stamps, True


def _indexed_timing(stream: av.VideoStream, path: Path) -> _Timing:
    """Timing from an MP4/MOV sample table, which lists every frame: no reading needed.

    If the file ends before the data the table points to, the clip was cut off (a download or
    recording that stopped); its real extent is the last sample still inside the file.
    """
    tb = stream.time_base
    assert tb is not None
    entries = stream.index_entries
    count = len(entries)
    size = os.path.getsize(path)
    truncated = entries[count - 1].pos + entries[count - 1].size > size
    if truncated:
        lo, hi = 0, count  # binary search: samples are stored in timestamp order
        while lo < hi:
            mid = (lo + hi) // 2
            if entries[mid].pos + entries[mid].size <= size:
                lo = mid + 1
            else:
                hi = mid
        count = lo
    if count < 2 and truncated:
        raise MediaError(f"{path} is cut off before its first frames.")
    if truncated or not stream.duration:
        last = entries[count - 1].timestamp
        interval = last - entries[count - 2].timestamp if count > 1 else 1
        duration = (last + interval - entries[0].timestamp) * tb
    else:
        duration = stream.duration * tb
    stamps = [e.timestamp for e in entries[:min(count, _VFR_PROBE_PACKETS)]]
    avg_fps = Fraction(count) / duration if duration > 0 else Fraction(0)
    return _Timing(duration, count, avg_fps, _varies(stamps), truncated)


def _sampled_timing(container: av.container.InputContainer, stream: av.VideoStream,
                    first_pts: int, stamps: list[int], complete: bool) -> _Timing:
    """Timing from the declared duration and the first packets' timestamps (Matroska, TS).

    When the whole stream fit in the sample, its frame count is exact; otherwise it is the
    duration times the average rate of the sampled packets.
    """
    tb = stream.time_base
    assert tb is not None
    ordered = sorted(stamps)
    if stream.duration:
        duration = stream.duration * tb
    elif container.duration:
        start = Fraction(container.start_time or 0, av.time_base)
        duration = start + Fraction(container.duration, av.time_base) - first_pts * tb
    elif len(ordered) > 1:
        duration = (2 * ordered[-1] - ordered[-2] - ordered[0]) * tb
    else:
        duration = Fraction(0)
    is_vfr = _varies(ordered)
    truncated = False
    if (stream.duration or container.duration) and duration > 0 and ordered:
        # The length comes from the header (Matroska, AVI): a file cut off keeps declaring
        # the whole. Where the packets really end is read near the declared end.
        interval = Fraction(1) / Fraction(stream.average_rate or stream.base_rate or 25)
        end = (ordered[-1] + math.ceil(interval / tb) if complete else
               _packets_end(container, stream, first_pts + math.floor(duration / tb)))
        if end is not None and duration - (end - first_pts) * tb > max(
                _TRUNCATION_SLACK, 2 * interval):
            duration, truncated = (end - first_pts) * tb, True
    if len(ordered) > 1 and (is_vfr or complete):
        sampled_rate = (len(ordered) - 1) / ((ordered[-1] - ordered[0]) * tb)
    else:
        sampled_rate = Fraction(stream.average_rate or stream.base_rate or 0)
    if complete and ordered:
        count = len(ordered)
        avg_fps = Fraction(count) / duration if duration > 0 else sampled_rate
    else:
        avg_fps = sampled_rate
        count = max(1, round(duration * avg_fps))
    return _Timing(duration, count, avg_fps.limit_denominator(1_000_000), is_vfr, truncated)


def _packets_end(container: av.container.InputContainer, stream: av.VideoStream,
                 declared_end: int) -> int | None:
    """The pts just after the last video packet in the file, read from a seek a few seconds
    before ``declared_end`` (demuxing only); None if nothing can be read there."""
    tb = stream.time_base
    assert tb is not None
    try:
        container.seek(max(0, declared_end - math.ceil(_TAIL_SECONDS / tb)), stream=stream,
                       backward=True)
    except av.error.FFmpegError:
        return None
    end: int | None = None
    for packet in _packets(container, stream):
        if packet.pts is not None:
            end = max(end or 0, packet.pts + (packet.duration or 0))
    return end


def _varies(stamps: Sequence[int]) -> bool:
    """Whether frame intervals differ beyond timestamp rounding (variable frame rate)."""
    if len(stamps) < 3:
        return False
    intervals = np.diff(np.sort(np.asarray(stamps, np.int64)))
    typical = float(np.median(intervals))
    spread = float(np.max(np.abs(intervals - typical)))
    return spread > max(1.0, _VFR_TOLERANCE * typical)


def _tape_name(container: av.container.InputContainer) -> str | None:
    """The tape (reel) name a camera stored with the clip (a MOV timecode track), if any."""
    for stream in (*container.streams.data, *container.streams.video):
        if stream.metadata.get("reel_name"):
            return stream.metadata["reel_name"].strip() or None
    return container.metadata.get("reel_name") or None


def _timecode(container: av.container.InputContainer) -> str | None:
    """Embedded start timecode: on the video stream, a tmcd data stream, or the container."""
    for stream in (*container.streams.video, *container.streams.data):
        if stream.metadata.get("timecode"):
            return stream.metadata["timecode"]
    return container.metadata.get("timecode") or None


def _packets(container: av.container.InputContainer, stream: av.VideoStream | av.AudioStream
             ) -> Iterator[av.Packet]:
    """Packets of ``stream`` from the current position, ending with an empty packet.

    Decoding the empty packet drains the frames a threaded decoder still holds (PyAV's demuxer
    ends with one itself). A file that stops being readable midway (cut off, damaged) ends the
    stream there, with the same drain, instead of raising: the frames before it are good.
    """
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError:
            yield av.Packet()
            return
        yield packet


def _decode_packet(stream: av.VideoStream | av.AudioStream, packet: av.Packet) -> list[Any]:
    """Frames from one packet; a packet the decoder rejects is skipped, as players do."""
    try:
        return stream.decode(packet)
    except av.error.InvalidDataError:
        return []


def decoded_frames(container: av.container.InputContainer,
                   stream: av.VideoStream | av.AudioStream) -> Iterator[Any]:
    """Every frame of ``stream`` from the current position, the decoder drained at the end.
    A packet the decoder rejects (damaged, or cut by a seek) is skipped, as players do, and
    a file that stops being readable ends the stream there."""
    for packet in _packets(container, stream):
        yield from _decode_packet(stream, packet)


def _keyframe_before(stream: av.VideoStream, target: int) -> int:
    """Timestamp of the indexed keyframe a seek to ``target`` would restart decoding from."""
    entries = stream.index_entries
    i = entries.search_timestamp(target, backward=True)
    return entries[i].timestamp if i >= 0 else entries[0].timestamp


def _output_size(info: MediaInfo, size: tuple[int, int] | None) -> tuple[int, int]:
    if size is None:
        return info.width, info.height
    width, height = size
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be two positive integers, got {size}")
    return int(width), int(height)


def _to_rgb(frame: av.VideoFrame, width: int, height: int, rotation: int,
            reformatter: VideoReformatter, pixel_format: str = "rgb24",
            interpolation: str = _INTERPOLATION) -> np.ndarray:
    """Scale (libswscale, during the RGB conversion) and turn upright: RGB uint8 [H, W, 3]
    (``pixel_format="gray"``: [H, W]).

    One ``reformatter`` per decode keeps its scaler context; a fresh one per frame (what
    ``VideoFrame.to_ndarray(width=...)`` does) rebuilds it every time and costs more than
    the scaling itself.
    """
    if rotation % 180:
        width, height = height, width
    image = reformatter.reformat(frame, width, height, pixel_format,
                                 interpolation=interpolation).to_ndarray()
    if rotation:
        image = np.ascontiguousarray(np.rot90(image, k=-(rotation // 90)))
    return image


class _Pairs:
    """Grey pairs of consecutive frames at one size, each frame converted at most once."""

    def __init__(self, size: tuple[int, int], rotation: int) -> None:
        self._size = size
        self._rotation = rotation
        self._reformatter = VideoReformatter()  # its own: a shared one would rebuild its scaler
        self._last: tuple[av.VideoFrame, np.ndarray] | None = None

    def _grey(self, frame: av.VideoFrame) -> np.ndarray:
        if self._last is not None and self._last[0] is frame:
            return self._last[1]
        grey = _to_rgb(frame, *self._size, self._rotation, self._reformatter, "gray",
                       _PAIR_INTERPOLATION)
        self._last = (frame, grey)
        return grey

    def of(self, first: av.VideoFrame, first_time: float, second: av.VideoFrame,
           second_time: float) -> FramePair:
        grey = self._grey(first)  # before the second: the previous pair's second is this first
        return FramePair(grey, self._grey(second), second_time - first_time)


# Sampling leaves undecoded the H.264 pictures no other picture references (nal_ref_idc 0, most
# B-frames) when no step falls within their display interval: a third less decoding for
# typical camera and encoder output, the same frames at every step (tests/test_media.py).
SKIP_UNSEEN = True
_H264_SLICE_TYPES = (1, 5)  # non-IDR and IDR coded slices: the NAL that says a picture's ref


def _unseen_filter(info: MediaInfo, stream: av.VideoStream
                   ) -> Callable[[av.Packet, int, float, int], bool] | None:
    """A test ``unseen(packet, first_pts, step, n_steps)`` saying a packet need not be decoded,
    or None where it cannot be told safely: only H.264 in length-prefixed (MP4/MOV/Matroska)
    form at a constant frame rate, where a packet's duration is the gap to the next frame."""
    extradata = stream.codec_context.extradata
    if (info.video_codec != "h264" or info.is_vfr or not extradata or extradata[0] != 1
            or len(extradata) < 5):
        return None
    length_size = (extradata[4] & 3) + 1
    tick = float(stream.time_base) if stream.time_base is not None else 0.0

    def unseen(packet: av.Packet, first_pts: int, step: float, n_steps: int) -> bool:
        if packet.pts is None or not packet.duration or packet.is_keyframe or tick <= 0:
            return False
        start = (packet.pts - first_pts) * tick
        end = start + packet.duration * tick
        first_step = first_step_from(start, step)
        # Shown at a step (or the last steps, which hold the final frame): decode it.
        if start < 0 or first_step != first_step_from(end, step) or \
                first_step >= n_steps:
            return False
        return _h264_unreferenced(memoryview(packet), length_size)

    return unseen


def _h264_unreferenced(data: memoryview, length_size: int) -> bool:
    """Whether the picture in a length-prefixed H.264 packet is not a reference (its first
    coded slice has nal_ref_idc 0; the standard makes every slice of a picture agree)."""
    pos = 0
    while pos + length_size < len(data):
        size = int.from_bytes(data[pos:pos + length_size], "big")
        header = data[pos + length_size]
        if (header & 0x1F) in _H264_SLICE_TYPES:
            return (header >> 5) & 3 == 0
        pos += length_size + size
    return False  # no slice found: decode it and let the decoder decide


def _open_hw(path: Path, device_type: str) -> av.container.InputContainer:
    """``path`` opened to decode on ``device_type``, or on the CPU (with a warning) where the
    device cannot be had."""
    try:
        from av.codec.hwaccel import HWAccel

        container = av.open(str(path), metadata_errors="replace",
                            hwaccel=HWAccel(device_type, allow_software_fallback=True))
    except (ImportError, ValueError, OSError, av.error.FFmpegError) as exc:
        log.warning("Hardware decoding on %s is not available (%s); %s is decoded on the CPU.",
                    device_type, exc, path.name)
        return _open(path)
    stream = video_stream(container)
    if stream is not None and not stream.codec_context.is_hwaccel:
        log.warning("The %s decoder of %s does not run on %s; it is decoded on the CPU.",
                    stream.codec_context.name, path.name, device_type)
    return container


def _sample_frames(info: MediaInfo, step: float, size: tuple[int, int],
                   cancel: CancelToken | None, pair_size: tuple[int, int] | None = None,
                   hwaccel: str | None = None, threads: int | None = None
                   ) -> Iterator[SampledFrame]:
    n_steps = step_count(info.duration, step)
    pairs = None if pair_size is None else _Pairs(pair_size, info.rotation)
    with _open_hw(info.path, hwaccel) if hwaccel else _open(info.path) as container:
        stream = video_stream(container)
        assert stream is not None and stream.time_base is not None  # probe checked both
        stream.thread_type = "AUTO"
        if threads is not None:
            stream.thread_count = threads
        seconds_per_tick = float(stream.time_base)  # float, not Fraction: this runs per frame
        reformatter = VideoReformatter()
        k = 0  # next step to fill
        held: av.VideoFrame | None = None  # newest frame seen; on screen until the next one
        held_time = 0.0
        before: av.VideoFrame | None = None  # the frame decoded before ``held`` (for pairs)
        before_time = 0.0
        first_pts: int | None = None
        unseen = _unseen_filter(info, stream) if SKIP_UNSEEN else None
        for packet in _packets(container, stream):
            if unseen is not None and first_pts is not None and unseen(packet, first_pts, step,
                                                                       n_steps):
                continue  # shown at no step and referenced by no frame: left undecoded
            for frame in _decode_packet(stream, packet):
                check_cancel(cancel)
                if frame.pts is None:
                    continue
                if first_pts is None:
                    first_pts = frame.pts
                t = (frame.pts - first_pts) * seconds_per_tick
                if held is not None:
                    if t < held_time:
                        continue  # out-of-order timestamp in a damaged file: keep the clock
                    # Steps strictly before this frame's time still show the held frame.
                    until = min(n_steps, first_step_from(t, step))
                    pair = None
                    if pairs is not None and until > k and t > held_time:
                        pair = pairs.of(held, held_time, frame, t)
                    yield from _emit(held, held_time, k, until, step, size, info.rotation,
                                     reformatter, pair)
                    k = max(k, until)
                    if k >= n_steps:
                        return
                    before, before_time = held, held_time
                held, held_time = frame, t
        if held is not None:
            pair = None  # the last frame: paired with the one before it, if there is one
            if pairs is not None and k < n_steps and before is not None and held_time > before_time:
                pair = pairs.of(before, before_time, held, held_time)
            yield from _emit(held, held_time, k, n_steps, step, size, info.rotation,
                             reformatter, pair)


def _emit(frame: av.VideoFrame, pts_time: float, start: int, stop: int, step: float,
          size: tuple[int, int], rotation: int, reformatter: VideoReformatter,
          pair: FramePair | None = None) -> Iterator[SampledFrame]:
    """SampledFrames for steps ``start..stop-1``, all showing ``frame`` (converted once)."""
    if start >= stop:
        return
    image = _to_rgb(frame, *size, rotation, reformatter)
    for k in range(start, stop):
        yield SampledFrame(k, k * step, pts_time, image if k == start else image.copy(), pair)


def _place(out: np.ndarray, samples: np.ndarray, pos: int) -> int:
    """Copy ``samples`` into ``out`` starting at ``pos`` (may be negative), clipped; new pos."""
    lo, hi = max(pos, 0), min(pos + len(samples), len(out))
    if hi > lo:
        out[lo:hi] = samples[lo - pos:hi - pos]
    return pos + len(samples)


# --- containers for export: the cuts re-read the clip, write MP4s and check them --------------


def open_clip(path: str | Path) -> av.container.InputContainer:
    """Open a clip (already probed) or a written cut to read its packets again. PyAV's own
    errors pass through: the exporter words them for the file it was writing."""
    return av.open(str(path), metadata_errors="replace")


def create_mp4(path: str | Path) -> av.container.OutputContainer:
    """A new MP4 container to mux a cut into (``path`` is the exporter's temporary file)."""
    return av.open(str(path), "w", format="mp4")


def comment_tag(path: str | Path) -> str | None:
    """A media file's ``comment`` tag (the mark the exporter leaves on its cuts), or None when
    it has none or is not a media file at all."""
    try:
        with open_clip(path) as container:
            return container.metadata.get("comment") or None
    except (av.error.FFmpegError, OSError, ValueError):
        return None
