"""MP4 cuts of the selected segments, one file per cut and optionally all of them joined into one.

Two modes, both driven by the frame model of :mod:`.timeline`:

* ``exact``: decode and re-encode (libx264 + AAC through PyAV). A source frame belongs to a cut
  when its presentation time, rounded to the editing-rate grid, falls in the cut's ``[in, out)``
  (the rule of :mod:`.timeline`), so constant-rate clips get exactly those frames and
  variable-rate clips get the frames shown in that time. Output timestamps keep the source's
  spacing, and the audio is cut to the same span sample-accurately.
* ``fast``: stream copy. Picture can only start on a keyframe, so a cut starts at the keyframe
  at or before its in point and ends at the first keyframe at or after its out point (nothing
  the editor picked is lost); the bounds actually written are reported in :class:`CutResult`.

Every file is written beside its target under a temporary name, re-opened and checked (frame
count, duration within one frame, audio length, and in exact mode the first and last pictures
against the source frames that were meant), and only then renamed into place.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import math
import os
import re
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, VideoReformatter

from ..errors import ExportError
from ..events import CancelToken, Progress, check_cancel
from ..fileio import atomic_path, same_file
from ..media import (
    MediaInfo,
    comment_tag,
    create_mp4,
    decoded_frames,
    open_clip,
    video_stream,
)
from .timecode import frames_to_timecode, is_timecode_rate, nominal_rate
from .timeline import Cut, Timeline

MODES = ("fast", "exact")
BIT_DEPTHS = ("source", "8")
_SPC_RGB = 0  # AVCOL_SPC_RGB: the matrix tag of RGB pictures
CUT_MARK = "Highlight Studio cut of"  # the comment every cut carries: what may be replaced
STAGE = "export"
_THUMB = (64, 48)  # size pictures are compared at when checking exact cuts
_THUMB_TOLERANCE = 12.0  # mean absolute difference (0-255) a re-encoded picture may show
_AAC_FRAME = 1024  # samples per AAC packet: the granularity of audio in a stream copy
_NAME_MAX = 255  # bytes in a file name on every common file system (NAME_MAX)
# In a file without an index (MPEG program and transport streams) a seek lands on a byte
# position: the first packets after it are partial, repeat timestamps or carry the wrong ones.
# Reading starts this many seconds early there (more when no keyframe turns up in time).
_RESYNC_SECONDS = (1, 4, 16)
# FFmpeg's field orders (AVFieldOrder) -> x264's: top field first (TT, TB) or bottom (BB, BT)
_FIELD_ORDERS = {2: "tff", 4: "tff", 3: "bff", 5: "bff"}
_BYTE_SEEKING = {"mpeg", "mpegts", "mpegvideo", "mpeg1video", "h264", "hevc", "m4v", "vob",
                 "dvd", "svcd", "vcd"}


@dataclass(frozen=True)
class CutOptions:
    """How the MP4s are made and named."""

    mode: str = "exact"  # "exact" (re-encode, frame-accurate) or "fast" (stream copy, keyframes)
    # file names; fields: clip (source name without extension), index (1-based), tc (source
    # timecode of the segment's in point, "-" for ":"), start and end (seconds)
    template: str = "{clip}_{index:02d}_{tc}.mp4"
    joined: bool = False  # also write all cuts joined into one file (the highlight reel)
    joined_template: str = "{clip}_highlights.mp4"
    crf: int = 18  # libx264 quality: 18 looks like the source
    x264_preset: str = "veryfast"
    audio_bitrate: int = 192_000
    # exact mode: "source" keeps a 10-bit (or deeper) source at 10 bits (H.264 High 10, no
    # banding in HDR skies); "8" always writes 8-bit 4:2:0, which every player and phone plays
    bit_depth: str = "source"
    # exact mode, interlaced sources: False keeps the fields (interlaced H.264 in the source's
    # field order, what broadcast and DV footage needs); True deinterlaces (bwdif) to
    # progressive pictures for the web and phones
    deinterlace: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ExportError(f"Unknown cut mode {self.mode!r}; use 'fast' or 'exact'.")
        if self.bit_depth not in BIT_DEPTHS:
            raise ExportError(f"Unknown bit depth {self.bit_depth!r}; use 'source' or '8'.")


@dataclass(frozen=True)
class CutResult:
    """One MP4 written and verified; times are seconds on the source clip's clock."""

    path: Path
    mode: str
    index: int  # 1-based cut number; 0 for the joined file
    requested_start: float  # where the selection asked the (first) cut to start
    requested_end: float  # where it asked the (last) cut to end, exclusive
    start: float  # time of the first frame actually in the file
    end: float  # time just after the last frame actually in the file
    frames: int  # video frames in the file
    duration: float  # video duration read back from the file
    audio_duration: float | None  # audio duration read back, None without audio

    @property
    def on_request(self) -> bool:
        """Whether the file starts and ends where the selection asked (always so when exact
        on a constant frame rate). Within a millisecond counts: Matroska stores times in
        whole milliseconds, so a 7 fps clip's frames sit up to 0.5 ms off the exact grid."""
        return math.isclose(self.start, self.requested_start, abs_tol=1e-3) and \
            math.isclose(self.end, self.requested_end, abs_tol=1e-3)


@dataclass(frozen=True)
class _Job:
    path: Path
    index: int
    cuts: tuple[Cut, ...]


@dataclass(frozen=True)
class _Span:
    """What one cut put in a file, in source-stream ticks (absolute pts)."""

    first: int  # pts of the first frame written
    end: int  # pts just after the last frame written
    frames: int


# A writer yields 1 per frame written and returns the spans it wrote and, in exact mode, small
# grey pictures of the first and last source frame of each cut.
_Writer = Generator[int, None, tuple[list[_Span], list[np.ndarray]]]


# -- naming and safety ---------------------------------------------------------------------


def output_name(template: str, *, clip: str, index: int, tc: str, start: float, end: float
                ) -> str:
    """A file name from ``template``; refuses names that would leave the output folder.

    A name longer than a file system takes (255 bytes) has its clip name shortened, ending
    in a digest of the whole name, so long names of different clips still differ.
    """
    name = _format_name(template, clip=clip, index=index, tc=tc, start=start, end=end)
    excess = len(os.fsencode(name)) - _NAME_MAX
    if excess > 0:
        digest = hashlib.sha256(os.fsencode(clip)).hexdigest()[:10]
        keep = len(os.fsencode(clip)) - excess - len(digest) - 1
        if keep > 0:
            short = os.fsencode(clip)[:keep].decode("utf-8", "ignore")
            name = _format_name(template, clip=f"{short}~{digest}", index=index, tc=tc,
                                start=start, end=end)
        if len(os.fsencode(name)) > _NAME_MAX:
            raise ExportError(f"The file name template {template!r} gives a name longer than "
                              f"{_NAME_MAX} bytes; use a shorter one.")
    return name


def _format_name(template: str, **fields: Any) -> str:
    try:
        name = template.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise ExportError(
            f"The file name template {template!r} is not valid ({exc}); use the fields "
            "{clip}, {index}, {tc}, {start} and {end}, e.g. '{clip}_{index:02d}_{tc}.mp4'."
        ) from exc
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ExportError(f"The file name template {template!r} gives {name!r}, which is not "
                          "a plain file name.")
    return name if name.lower().endswith(".mp4") else f"{name}.mp4"


def cut_comment(source: Path) -> str:
    """The mark a cut of ``source`` carries: the clip's name, and a short digest of its full
    path, so that a cut of another clip of the same name (another card's ``take.mp4``) is
    never replaced, without writing the user's folders into a file they may share."""
    digest = hashlib.sha256(str(source.resolve()).encode("utf-8", "surrogateescape"))
    return f"{CUT_MARK} {source.name} [{digest.hexdigest()[:12]}]"


def _cut_mark(path: Path) -> str | None:
    """The mark of an MP4 this module wrote (None for any other file)."""
    comment = comment_tag(path)
    return comment if comment is not None and comment.startswith(CUT_MARK) else None


def plan_outputs(timeline: Timeline, out_dir: str | os.PathLike[str], options: CutOptions
                 ) -> list[_Job]:
    """The files :func:`cut_clips` will write, checked before any work starts."""
    folder = Path(out_dir)
    if not folder.is_dir():
        raise ExportError(f"The folder {folder} does not exist; create it or pick another.")
    clip = timeline.source.stem
    jobs = []
    for i, cut in enumerate(timeline.cuts, start=1):
        tc = frames_to_timecode(timeline.source_start + cut.src_in, timeline.rate,
                                timeline.drop_frame)
        name = output_name(options.template, clip=clip, index=i, tc=re.sub(r"[:;]", "-", tc),
                           start=float(timeline.seconds(cut.src_in)),
                           end=float(timeline.seconds(cut.src_out)))
        jobs.append(_Job(folder / name, i, (cut,)))
    if options.joined:
        first, last = timeline.cuts[0], timeline.cuts[-1]
        tc = frames_to_timecode(timeline.source_start + first.src_in, timeline.rate,
                                timeline.drop_frame)
        name = output_name(options.joined_template, clip=clip, index=0,
                           tc=re.sub(r"[:;]", "-", tc),
                           start=float(timeline.seconds(first.src_in)),
                           end=float(timeline.seconds(last.src_out)))
        jobs.append(_Job(folder / name, 0, timeline.cuts))
    seen: set[Path] = set()
    ours = cut_comment(timeline.source)
    legacy = f"{CUT_MARK} {timeline.source.name}"  # cuts marked before the digest was added
    for job in jobs:
        if same_file(job.path, timeline.source):
            raise ExportError(f"{job.path} is the source clip; the export never overwrites it. "
                              "Pick another folder or file name template.")
        mark = _cut_mark(job.path) if job.path.exists() else ours
        if mark is None:
            raise ExportError(f"{job.path.name} already exists in {folder} and is not a cut this "
                              "app made, so it is not replaced. Pick another folder or file "
                              "name template.")
        if mark not in (ours, legacy):
            raise ExportError(f"{job.path.name} in {folder} is a cut of another clip "
                              f"({mark.removeprefix(CUT_MARK).strip()}), so it is not replaced. "
                              "Pick another folder or a file name template that tells the "
                              "clips apart.")
        key = job.path.resolve()
        if key in seen:
            raise ExportError(f"Two cuts would both be written to {job.path.name}; add {{index}}"
                              " to the file name template.")
        seen.add(key)
    return jobs


# -- entry point ---------------------------------------------------------------------------


def cut_clips(timeline: Timeline, info: MediaInfo, out_dir: str | os.PathLike[str],
              options: CutOptions = CutOptions(), cancel: CancelToken | None = None
              ) -> Iterator[Progress | CutResult]:
    """Write one MP4 per cut (and the joined file if asked), yielding Progress and a CutResult each.

    ``timeline`` says which frames (see :func:`.timeline.build_timeline`), ``info`` is the
    source's probe. Raises :class:`ExportError` for a bad folder, a name clash with the source,
    a full disk, or a file that does not verify; a failed or cancelled file leaves nothing.
    """
    jobs = plan_outputs(timeline, out_dir, options)
    total = sum(cut.frames for job in jobs for cut in job.cuts)
    done = 0
    yield Progress(STAGE, 0, total, "frames", f"{len(jobs)} file(s), {options.mode} mode")
    for job in jobs:
        with atomic_path(job.path, error=ExportError, protect=(timeline.source,)) as tmp:
            writer = _write_exact if options.mode == "exact" else _write_fast
            try:  # the read-back check decodes too: its FFmpeg errors are reported the same way
                spans, thumbs = yield from _counted(
                    writer(timeline, info, job, tmp, options, cancel), done, total)
                result = _verify(tmp, job, timeline, info, spans, thumbs, options.mode,
                                 cancel)
            except av.error.FFmpegError as exc:
                raise _ffmpeg_error(info.path, job.path, exc) from exc
            done += sum(cut.frames for cut in job.cuts)
        yield Progress(STAGE, done, total, "frames", f"wrote {job.path.name}")
        yield dataclasses.replace(result, path=job.path)


def _counted(inner: _Writer, done: int, total: int
             ) -> Generator[Progress, None, tuple[list[_Span], list[np.ndarray]]]:
    """Turn a writer's frame ticks into Progress events; pass its return value through.

    If the caller stops iterating, the writer is closed at once so its files are closed
    before the temporary output is removed.
    """
    count = 0
    try:
        while True:
            count += next(inner)
            if count % 8 == 0:
                yield Progress(STAGE, done + count, total, "frames")
    except StopIteration as stop:
        return stop.value
    finally:
        inner.close()


def _ffmpeg_error(source: Path, path: Path, exc: av.error.FFmpegError) -> ExportError:
    if exc.errno == errno.ENOSPC:
        return ExportError(f"Not enough disk space to write {path}.")
    return ExportError(f"Cutting {source.name} into {path.name} failed: {exc.strerror or exc}. "
                       "The source may be damaged; try the other cut mode (fast or exact).")


# -- shared timing -------------------------------------------------------------------------


def _window(cut: Cut, rate: Fraction, tb: Fraction, start_pts: int) -> tuple[int, int]:
    """Absolute pts range ``[lo, hi)`` of the frames whose time rounds into the cut.

    A frame at ``d`` ticks after the first frame is on grid frame ``floor(d*tb*rate + 1/2)``;
    solving for ``d`` gives the bounds without touching floats.
    """
    step = tb * rate
    return (start_pts + math.ceil((cut.src_in - Fraction(1, 2)) / step),
            start_pts + math.ceil((cut.src_out - Fraction(1, 2)) / step))


def _indexed(stream: av.VideoStream | av.AudioStream) -> bool:
    """Whether seeks in ``stream`` land on whole packets with their own timestamps (MP4, MOV,
    Matroska: an index says where each keyframe is), not on a byte position (MPEG program
    and transport streams, raw elementary streams, whose demuxers only guess)."""
    return not set(stream.container.format.name.split(",")) & _BYTE_SEEKING


def _seek_early(src: av.container.InputContainer, stream: av.VideoStream | av.AudioStream,
                target: int, seconds: float) -> None:
    """Seek to the keyframe before ``target`` (stream ticks), ``seconds`` earlier still."""
    tb = stream.time_base
    assert tb is not None
    src.seek(target - math.ceil(Fraction(seconds) / tb), stream=stream, backward=True)


def _start_pts(info: MediaInfo, tb: Fraction) -> int:
    return round(Fraction(info.start_time) / tb)


def _label(out: av.container.OutputContainer, stream: av.VideoStream, timeline: Timeline,
           single_cut: bool, pts: int, start: int, tb: Fraction,
           stream_rate: Fraction | None) -> None:
    """Give the file a start timecode before its header is written: a single cut carries the
    source timecode of its first frame (so editors can relink it to the camera original), a
    joined file the programme's 01:00:00:00 like the timelines. The file is also marked as a
    cut, so a later export may replace it (and nothing else)."""
    out.metadata["comment"] = cut_comment(timeline.source)
    # MP4 keeps a timecode in a track counted at the stream's average rate, rounded: one
    # that rounds elsewhere (a copied variable-rate stream's) would make the muxer refuse
    # the file.
    if not (is_timecode_rate(timeline.rate) and stream_rate
            and round(Fraction(stream_rate)) == nominal_rate(timeline.rate)):
        return
    if single_cut:
        frame = timeline.source_start + math.floor((pts - start) * tb * timeline.rate
                                                   + Fraction(1, 2))
    else:
        frame = timeline.record_start
    label = frames_to_timecode(frame, timeline.rate, timeline.drop_frame)
    out.metadata["timecode"] = label
    stream.metadata["timecode"] = label


def _thumb(frame: av.VideoFrame) -> np.ndarray:
    return frame.reformat(width=_THUMB[0], height=_THUMB[1], format="gray").to_ndarray()


# -- exact: decode and re-encode -----------------------------------------------------------


def _write_exact(timeline: Timeline, info: MediaInfo, job: _Job, tmp: Path,
                 options: CutOptions, cancel: CancelToken | None) -> _Writer:
    spans: list[_Span] = []
    thumbs: list[np.ndarray] = []
    with open_clip(info.path) as src, create_mp4(tmp) as out:
        vin = video_stream(src)
        assert vin is not None  # probe found it
        vin.thread_type = "AUTO"
        tb = vin.time_base
        assert tb is not None  # probe refuses streams without one
        vout = out.add_stream("libx264", rate=timeline.rate)
        source = vin.codec_context
        # 4:2:0 needs even sizes: an odd-sized source loses its last row or column (cropped,
        # so every other pixel stays as it was), instead of the encoder refusing it.
        vout.width, vout.height = source.width & ~1, source.height & ~1
        crop = _even_crop(vin, vout.width, vout.height)
        pix_fmt = _output_pix_fmt(source, options.bit_depth)
        vout.pix_fmt = pix_fmt
        # What the picture means, carried over: anamorphic pixels (DV, HDV; the stream's
        # ratio also reads a MOV's own) and the colour tags (HLG/PQ phone video, BT.601 SD).
        if vin.sample_aspect_ratio:
            vout.codec_context.sample_aspect_ratio = vin.sample_aspect_ratio
        tags, conversion = _output_colour(source, vout.height)
        for tag, value in tags.items():
            setattr(vout.codec_context, tag, value)
        reformatter = VideoReformatter()
        vout.time_base = tb
        vout.codec_context.time_base = tb
        vout.options = {"crf": str(options.crf), "preset": options.x264_preset}
        fields = _FIELD_ORDERS.get(source.field_order)
        if fields is not None and not options.deinterlace:
            vout.options["x264-params"] = f"{fields}=1"  # interlaced coding, field order kept
            vout.codec_context.field_order = source.field_order
        if info.rotation:
            # pictures are re-encoded as stored; players turn them by the display matrix
            # (PyAV's angle is counter-clockwise, MediaInfo's clockwise)
            vout.set_display_rotation(-info.rotation)
        # every audio track is kept, in order (a second language, an isolated microphone)
        tracks = []
        for ain in src.streams.audio:
            aout = out.add_stream("aac", rate=ain.rate)
            aout.layout = ain.layout.name
            aout.bit_rate = options.audio_bitrate
            aout.metadata.update(ain.metadata)
            tracks.append((ain, aout))
        start = _start_pts(info, tb)
        base = 0  # output pts (in tb) where the next cut starts
        audio_bases = [0] * len(tracks)  # output sample where each track's next cut starts
        for cut in job.cuts:
            lo, hi = _window(cut, timeline.rate, tb, start)
            first: int | None = None
            last: av.VideoFrame | None = None
            last_pts = lo - 1
            after: int | None = None
            count = 0
            deinterlace = (_Deinterlacer(vin) if fields is not None and options.deinterlace
                           else None)
            for frame in _decoded_from(src, vin, lo, start):
                if frame.pts is None or frame.pts < lo or frame.pts <= last_pts:
                    continue  # before the cut, or a timestamp repeated by a damaged stream
                if frame.pts >= hi:
                    after = frame.pts
                    break
                check_cancel(cancel)
                if first is None:
                    first = frame.pts
                    thumbs.append(_thumb(frame))
                    if not spans:
                        _label(out, vout, timeline, job.index > 0, first, start, tb,
                               timeline.rate)
                last, last_pts = frame, frame.pts
                for ready in deinterlace.push(frame) if deinterlace else (frame,):
                    _encode(out, vout, reformatter.reformat(
                        crop(ready) if crop else ready, width=vout.width, height=vout.height,
                        format=pix_fmt, **conversion), base + ready.pts - first, tb)
                count += 1
                yield 1
            for ready in deinterlace.flush() if deinterlace else ():
                _encode(out, vout, reformatter.reformat(
                    crop(ready) if crop else ready, width=vout.width, height=vout.height,
                    format=pix_fmt, **conversion), base + ready.pts - first, tb)
            if first is None or last is None:
                raise ExportError(
                    f"No frames of {info.path.name} could be decoded between "
                    f"{float(timeline.seconds(cut.src_in)):.3f} and "
                    f"{float(timeline.seconds(cut.src_out)):.3f} s."
                )
            thumbs.append(_thumb(last))
            nominal = round(1 / (timeline.rate * tb))
            if after is None:  # the cut runs to the end of the clip
                after = last_pts + (last.duration or nominal)
            elif after - last_pts > 2 * nominal:
                # The last frame comes before a long gap (a camera that paused): a file
                # cannot hold its last frame for longer than a frame, so the cut (and its
                # sound) ends one frame after it, and the result says so.
                after = last_pts + nominal
            spans.append(_Span(first, after, count))
            for i, (ain, aout) in enumerate(tracks):
                samples = _cut_audio(src, ain, first * tb, after * tb, cancel)
                audio_bases[i] = _encode_audio(out, aout, samples, audio_bases[i])
            base += after - first
        out.mux(vout.encode(None))
        for _, aout in tracks:
            out.mux(aout.encode(None))
    return spans, thumbs


def _encode(out: av.container.OutputContainer, stream: av.VideoStream,
            picture: av.VideoFrame, pts: int, tb: Fraction) -> None:
    picture.pts = pts
    picture.time_base = tb
    picture.pict_type = av.video.frame.PictureType.NONE
    out.mux(stream.encode(picture))


class _Deinterlacer:
    """bwdif, one progressive picture per frame, each with its source frame's pts. The
    filter looks one frame ahead, so a picture comes out a frame late; :meth:`flush` gives
    the last one at the end of a cut (and a new cut gets a new filter)."""

    def __init__(self, stream: av.VideoStream) -> None:
        assert stream.time_base is not None
        self._tb = stream.time_base
        self._graph = av.filter.Graph()
        source = self._graph.add_buffer(template=stream)
        bwdif = self._graph.add("bwdif", "mode=send_frame:parity=auto:deint=all")
        sink = self._graph.add("buffersink")
        source.link_to(bwdif)
        bwdif.link_to(sink)
        self._graph.configure()

    def push(self, frame: av.VideoFrame | None) -> list[av.VideoFrame]:
        self._graph.push(frame)
        ready = []
        while True:
            try:
                picture = self._graph.pull()
            except (BlockingIOError, av.error.EOFError):
                return ready
            # bwdif counts in fields (half the stream's time base): back to the stream's
            picture.pts = round(picture.pts * picture.time_base / self._tb)
            picture.time_base = self._tb
            ready.append(picture)

    def flush(self) -> list[av.VideoFrame]:
        return self.push(None)


def _even_crop(stream: av.VideoStream, width: int, height: int
               ) -> Callable[[av.VideoFrame], av.VideoFrame] | None:
    """A crop of ``stream``'s frames to ``width`` x ``height`` from the top left (FFmpeg's crop
    filter), or None where the frames already have that size or the filter cannot be set up
    (the reformatter then scales instead). A frame whose size or pixel format differs from
    the stream's (a resolution change mid-stream) passes through untouched for the
    reformatter to scale: a graph set up for one size misreads frames of another."""
    context = stream.codec_context
    if (context.width, context.height) == (width, height) or context.format is None:
        return None
    shape = (context.width, context.height, context.format.name)
    try:
        graph = av.filter.Graph()
        source = graph.add_buffer(template=stream)
        crop = graph.add("crop", f"{width}:{height}:0:0")
        sink = graph.add("buffersink")
        source.link_to(crop)
        crop.link_to(sink)
        graph.configure()
    except (ValueError, av.error.FFmpegError):
        return None

    def apply(frame: av.VideoFrame) -> av.VideoFrame:
        if (frame.width, frame.height, frame.format.name) != shape:
            return frame
        graph.push(frame)
        return graph.pull()

    return apply


def _output_pix_fmt(source: av.VideoCodecContext, bit_depth: str) -> str:
    """4:2:0 at 10 bits for any source deeper than 8 bits (libx264 writes 8 or 10, never 12),
    unless ``bit_depth`` asks for 8. 4:2:2 and 4:4:4 sources lose chroma resolution either
    way: NLEs and players take 4:2:0 H.264 everywhere."""
    fmt = source.format
    deep = fmt is not None and max((c.bits for c in fmt.components), default=8) > 8
    return "yuv420p10le" if deep and bit_depth == "source" else "yuv420p"


def _output_colour(source: av.VideoCodecContext, height: int
                   ) -> tuple[dict[str, int], dict[str, Any]]:
    """The x264 output's colour tags and the conversion that makes its pixels match them.

    A YUV source keeps its tags, and its range as it is (values and tag). An RGB source (PNG,
    QTRLE, FFV1) is converted with the matrix the output's tag then names (BT.709 above SD,
    BT.601 for SD) into limited range. A 4:2:0 stream cannot be tagged "RGB": a YUV source
    that says so keeps its pixels and gets that YUV matrix tag instead.
    """
    tags = {tag: int(getattr(source, tag))
            for tag in ("color_primaries", "color_trc", "colorspace", "color_range")}
    matrix = Colorspace.ITU709 if height > 576 else Colorspace.ITU601
    if not (source.format is not None and source.format.is_rgb):
        if tags["colorspace"] == _SPC_RGB:
            tags["colorspace"] = int(matrix)
        kept = ColorRange(tags["color_range"])
        return tags, {"src_color_range": kept, "dst_color_range": kept}
    tags.update(colorspace=int(matrix), color_range=int(ColorRange.MPEG))
    return tags, {"dst_colorspace": matrix, "src_color_range": ColorRange.JPEG,
                  "dst_color_range": ColorRange.MPEG}


def _cut_audio(src: av.container.InputContainer, stream: av.AudioStream, t0: Fraction,
               t1: Fraction, cancel: CancelToken | None) -> np.ndarray:
    """Planar float samples ``[channels, n]`` of the source between ``t0`` and ``t1`` seconds
    (container clock), silence where the track has none."""
    rate = stream.rate
    first, stop = round(t0 * rate), round(t1 * rate)
    channels = stream.channels
    out = np.zeros((channels, stop - first), np.float32)
    resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=rate)
    atb = stream.time_base
    assert atb is not None
    # Start a little early: an AAC decoder needs a packet of history to produce clean sound.
    _seek_early(src, stream, max(0, round(t0 / atb)),
                Fraction(1, 10) if _indexed(stream) else _RESYNC_SECONDS[0])
    pos: int | None = None
    for frame in decoded_frames(src, stream):
        check_cancel(cancel)
        if frame.pts is not None:
            # a packet the decoder refused (damaged) leaves a hole: the next frame's own
            # time puts the sound after it back in place
            at = round(frame.pts * atb * rate)
            if pos is None or abs(at - pos) > rate // 100:
                pos = at
        if pos is None:
            continue
        for chunk in resampler.resample(frame):
            data = chunk.to_ndarray()
            lo, hi = max(pos, first), min(pos + data.shape[1], stop)
            if hi > lo:
                out[:, lo - first:hi - first] = data[:, lo - pos:hi - pos]
            pos += data.shape[1]
        if pos >= stop:
            break
    return out


def _encode_audio(out: av.container.OutputContainer, stream: av.AudioStream,
                  samples: np.ndarray, base: int) -> int:
    """Encode ``samples`` starting at output sample ``base``; return where the next starts."""
    for offset in range(0, samples.shape[1], _AAC_FRAME):
        piece = np.ascontiguousarray(samples[:, offset:offset + _AAC_FRAME])
        frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout=stream.layout.name)
        frame.sample_rate = stream.rate
        frame.pts = base + offset
        frame.time_base = Fraction(1, stream.rate)
        out.mux(stream.encode(frame))
    return base + samples.shape[1]


# -- fast: stream copy on keyframes --------------------------------------------------------


def _write_fast(timeline: Timeline, info: MediaInfo, job: _Job, tmp: Path,
                options: CutOptions, cancel: CancelToken | None) -> _Writer:
    spans: list[_Span] = []
    with open_clip(info.path) as src, create_mp4(tmp) as out:
        vin = video_stream(src)
        assert vin is not None  # probe found it
        tb = vin.time_base
        assert tb is not None
        vout = out.add_stream_from_template(vin)
        tracks = [(ain, out.add_stream_from_template(ain)) for ain in src.streams.audio]
        start = _start_pts(info, tb)
        base = 0
        for cut in job.cuts:
            lo, hi = _window(cut, timeline.rate, tb, start)
            key: int | None = None
            stop: int | None = None
            end = 0  # pts just after the latest frame copied
            count = 0
            last_dts: int | None = None
            for packet in _from_keyframe(src, vin, lo, start):
                if packet.pts is None:
                    continue  # the demuxer's end-of-stream marker
                if key is None:
                    key = packet.pts
                    if not spans:
                        _label(out, vout, timeline, job.index > 0, key, start, tb,
                               vin.average_rate)
                elif packet.is_keyframe and packet.pts >= hi:
                    stop = packet.pts
                    break
                if packet.pts < key:
                    continue  # open-GOP leading pictures depend on the GOP before
                if packet.dts is not None:
                    if last_dts is not None and packet.dts <= last_dts:
                        continue  # a timestamp repeated after a seek or a damaged packet
                    last_dts = packet.dts
                check_cancel(cancel)
                end = max(end, packet.pts + (packet.duration or 0))
                packet.pts += base - key
                if packet.dts is not None:
                    packet.dts += base - key
                packet.stream = vout
                out.mux(packet)
                count += 1
                yield 1
            if key is None or count == 0:
                raise ExportError(f"No keyframe found in {info.path.name} near "
                                  f"{float(timeline.seconds(cut.src_in)):.3f} s.")
            span = _Span(key, stop if stop is not None else end, count)
            spans.append(span)
            for ain, aout in tracks:
                _copy_audio(src, ain, aout, out, span.first * tb, span.end * tb, base * tb,
                            cancel)
            base += span.end - span.first
    return spans, []


def _decoded_from(src: av.container.InputContainer, vin: av.VideoStream, lo: int,
                  start: int) -> Iterator[av.VideoFrame]:
    """Decoded frames from the keyframe before ``lo`` on.

    In a file without an index the frames up to the second keyframe after a seek can carry
    shifted timestamps (MPEG-2 program streams: half a frame late), so they are dropped, and
    reading starts earlier when that leaves no frame at or before ``lo``. Reading from the
    start of the file is always trusted.
    """
    if _indexed(vin):
        src.seek(lo, stream=vin, backward=True)
        yield from decoded_frames(src, vin)
        return
    tb = vin.time_base
    assert tb is not None
    for margin in (*_RESYNC_SECONDS, None):
        from_start = margin is None or lo - math.ceil(Fraction(margin) / tb) <= start
        if from_start:
            src.seek(0)
        else:
            _seek_early(src, vin, lo, margin)
        frames = decoded_frames(src, vin)
        keys = 0
        for frame in frames:
            keys += bool(frame.key_frame)
            if from_start or keys >= 2:
                break
        else:
            return  # the stream ended: no frame from here on
        if frame.pts is not None and frame.pts > lo and not from_start:
            continue  # the trusted frames begin after the cut's start: read from earlier
        yield frame
        yield from frames
        return


def _from_keyframe(src: av.container.InputContainer, vin: av.VideoStream, lo: int,
                   start: int) -> Iterator[av.Packet]:
    """The video packets from the keyframe at or before ``lo`` on, in file order (from the
    first keyframe after it when there is none before).

    A seek lands on a keyframe before ``lo``, which may be a whole GOP early: only the latest
    GOP is kept until a packet inside the cut shows up. In a file without an index the first
    keyframe after a seek may be partial, so reading starts earlier and passes over it, and
    earlier still when the keyframe found is after ``lo``.
    """
    tb = vin.time_base
    assert tb is not None
    margins: tuple[float | None, ...] = (0,) if _indexed(vin) else (*_RESYNC_SECONDS, None)
    for margin in margins:
        from_start = margin is None or (
            margin > 0 and lo - math.ceil(Fraction(margin) / tb) <= start)
        if from_start:
            src.seek(0)  # the start of the file: its first keyframe is whole
        else:
            _seek_early(src, vin, lo, margin or 0)
        untrusted = 0 if margin == 0 or from_start else 1
        packets = src.demux(vin)
        pending: list[av.Packet] = []
        for packet in packets:
            if packet.pts is None:
                continue  # the demuxer's end-of-stream marker
            if packet.is_keyframe:
                if untrusted:
                    untrusted -= 1
                    continue
                pending = [packet]
            elif pending:
                pending.append(packet)
            if pending and packet.pts >= lo:
                break
        else:
            packets = iter(())
        if not pending or (pending[0].pts > lo > start and margin != 0 and not from_start):
            continue  # no keyframe before the cut in what was read: read from earlier
        yield from pending
        yield from packets
        return


def _copy_audio(src: av.container.InputContainer, ain: av.AudioStream, aout: av.AudioStream,
                out: av.container.OutputContainer, t0: Fraction, t1: Fraction, base: Fraction,
                cancel: CancelToken | None) -> None:
    """Copy the audio packets that start in ``[t0, t1)`` (source clock), placing source time
    ``t0`` at ``base`` seconds of the output so sound keeps its offset to the picture (a track
    that starts late stays late)."""
    atb = ain.time_base
    assert atb is not None
    lo, hi = math.ceil(t0 / atb), math.ceil(t1 / atb)
    shift = round(base / atb) - lo
    _seek_early(src, ain, lo, 0 if _indexed(ain) else _RESYNC_SECONDS[0])
    last: int | None = None
    for packet in src.demux(ain):
        if packet.pts is None or packet.pts < lo or (last is not None and packet.pts <= last):
            continue  # before the cut, or a timestamp repeated after a seek
        if packet.pts >= hi:
            break
        last = packet.pts
        check_cancel(cancel)
        packet.pts += shift
        if packet.dts is not None:
            packet.dts += shift
        packet.stream = aout
        out.mux(packet)


# -- verification --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sound:
    """Where one audio track of a written file starts and ends (seconds, file clock)."""

    rate: int
    start: Fraction
    end: Fraction


@dataclass(frozen=True)
class _Written:
    frames: int
    duration: Fraction  # of the picture
    video_end: Fraction  # seconds on the file's clock where the picture ends
    sound: tuple[_Sound, ...]  # every audio track, in order
    first: np.ndarray | None
    last: np.ndarray | None


def _read_back(path: Path, pictures: bool, cancel: CancelToken | None = None) -> _Written:
    """Re-open a written file in one pass: count its frames, measure every stream and, when
    ``pictures``, decode the picture to grab its first and last frames. A long joined file takes a
    while to decode, so ``cancel`` is checked on every packet."""
    with open_clip(path) as container:
        video = container.streams.video[0]
        audio = list(container.streams.audio)
        tb = video.time_base
        assert tb is not None
        frames = 0
        samples = dict.fromkeys(audio, 0)
        lo: int | None = None
        hi = 0
        first: np.ndarray | None = None
        last: av.VideoFrame | None = None
        for packet in container.demux(video, *audio):
            check_cancel(cancel)
            if packet.stream is not video:
                # a packet copied damaged from the source is skipped, as players do
                with contextlib.suppress(av.error.InvalidDataError):
                    samples[packet.stream] += sum(f.samples for f in packet.decode())
                continue
            if packet.pts is not None:
                frames += 1
                lo = packet.pts if lo is None else min(lo, packet.pts)
                hi = max(hi, packet.pts + (packet.duration or 0))
            if pictures:
                for frame in packet.decode():
                    if first is None:
                        first = _thumb(frame)
                    last = frame
        sound = []
        for stream in audio:
            # The container's track length is what players use; it excludes the encoder's
            # padding to whole AAC packets, which decoding still returns.
            atb = stream.time_base
            assert atb is not None
            declared = stream.duration * atb if stream.duration else None
            decoded = Fraction(samples[stream], stream.rate)
            if declared is not None and abs(declared - decoded) > Fraction(2 * _AAC_FRAME,
                                                                           stream.rate):
                raise ExportError(f"{path.name} declares {float(declared):.3f} s of sound but "
                                  f"holds {float(decoded):.3f} s; it was not saved.")
            begin = (stream.start_time or 0) * atb
            sound.append(_Sound(stream.rate, begin,
                                begin + (declared if declared is not None else decoded)))
    return _Written(
        frames=frames,
        duration=Fraction(hi - (lo or 0)) * tb,
        video_end=hi * tb,
        sound=tuple(sound),
        first=first,
        last=_thumb(last) if last is not None else None,
    )


def _verify(tmp: Path, job: _Job, timeline: Timeline, info: MediaInfo, spans: list[_Span],
            thumbs: list[np.ndarray], mode: str, cancel: CancelToken | None = None
            ) -> CutResult:
    """Check a written file against what was meant; raise ExportError on any mismatch."""
    with open_clip(info.path) as src:
        vin = video_stream(src)
        assert vin is not None  # probe found it
        tb = vin.time_base
        audio_tracks = len(src.streams.audio)
    assert tb is not None
    start = _start_pts(info, tb)
    written = _read_back(tmp, pictures=mode == "exact", cancel=cancel)
    name = job.path.name
    frame = 1 / timeline.rate
    want_frames = sum(s.frames for s in spans)
    want = sum((Fraction(s.end - s.first) * tb for s in spans), Fraction(0))
    if written.frames != want_frames:
        raise ExportError(f"{name} has {written.frames} frames after writing, not "
                          f"{want_frames}; it was not saved.")
    if abs(written.duration - want) > frame:
        raise ExportError(f"{name} lasts {float(written.duration):.3f} s after writing, not "
                          f"{float(want):.3f} s; it was not saved.")
    if len(written.sound) != audio_tracks:
        raise ExportError(f"{name} has {len(written.sound)} audio tracks after writing, not "
                          f"{audio_tracks}; it was not saved.")
    for sound in written.sound:
        # a stream copy can only move sound by whole AAC packets, one at each end; it keeps a
        # late-starting track late, where exact mode fills the gap with silence
        slack = frame if mode == "exact" else frame + 2 * Fraction(_AAC_FRAME, sound.rate)
        if abs(sound.end - written.video_end) > slack or (
                mode == "exact" and abs(sound.start) > slack):
            raise ExportError(
                f"{name}'s sound runs {float(sound.start):.3f}-{float(sound.end):.3f} s but "
                f"its picture ends at {float(written.video_end):.3f} s; it was not saved."
            )
    if mode == "exact":
        for got, meant, where in ((written.first, thumbs[0], "first"),
                                  (written.last, thumbs[-1], "last")):
            diff = np.abs(got.astype(np.float32) - meant.astype(np.float32)).mean() \
                if got is not None else np.inf
            if diff > _THUMB_TOLERANCE:
                raise ExportError(f"The {where} frame of {name} is not the intended source "
                                  "frame; it was not saved.")
    first_cut, last_cut = job.cuts[0], job.cuts[-1]
    return CutResult(
        path=tmp, mode=mode, index=job.index,
        requested_start=float(timeline.seconds(first_cut.src_in)),
        requested_end=float(timeline.seconds(last_cut.src_out)),
        start=float(Fraction(spans[0].first - start) * tb),
        end=float(Fraction(spans[-1].end - start) * tb),
        frames=written.frames,
        duration=float(written.duration),
        audio_duration=float(written.sound[0].end - written.sound[0].start)
        if written.sound else None,
    )
