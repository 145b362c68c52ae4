"""Make small test clips with PyAV whose every expected value is known.

Each frame carries its own index as a 16-bit barcode of large black/white blocks drawn across
the top of the picture, which survives H.264 compression, so a decoded frame can be mapped back
to the frame that was written (:func:`read_frame_index`). The rest of the picture is a smooth
colour ramp that changes with the index, so consecutive frames differ. Audio is a sine tone.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BITS = 16
BAR_ROWS = 0.25  # fraction of the height used by the barcode


@dataclass(frozen=True)
class ClipSpec:
    """What to write. ``pts_seconds`` (one per frame) makes the clip variable frame rate."""

    n_frames: int = 48
    fps: Fraction = Fraction(24)
    width: int = 320
    height: int = 240
    audio_hz: float | None = 440.0
    audio_rate: int = 48_000
    audio_delay: float = 0.0  # the audio track starts this many seconds after the first frame
    pts_seconds: tuple[float, ...] | None = None
    # Degrees clockwise a player must turn the stored picture (display matrix side data, as
    # phones write it). ``width``/``height`` are the upright size and the barcode reads upright
    # only after that turn, so a decoder that ignores rotation fails :func:`read_frame_index`.
    rotation: int = 0
    codec: str = "libx264"
    pix_fmt: str = "yuv420p"  # what the codec stores: "rgb24" for png, "yuvj420p" for mjpeg
    gop: int = 12
    b_frames: int = 0  # as cameras write: decode order differs from presentation order
    timecode: str | None = None
    reel: str | None = None  # tape/reel name; kept by MOV's timecode track (needs ``timecode``)
    container: str = "mp4"
    faststart: bool = False  # mp4 index (moov) before the data, so a cut-off file still opens
    muxer_options: tuple[tuple[str, str], ...] = ()  # e.g. (("live", "1"),): no Duration
    cover_art: bool = False  # a 16x16 attached picture (cover art), as music files carry
    video: bool = True  # False: audio only (n_frames / fps long), e.g. a song with cover art
    sar: Fraction | None = None  # pixel aspect ratio (anamorphic DV/HDV: 4/3)
    # (primaries, transfer, matrix) colour tags as FFmpeg numbers, e.g. (9, 18, 9): BT.2020 HLG
    color_tags: tuple[int, int, int] | None = None


def draw_frame(index: int, width: int, height: int) -> np.ndarray:
    """RGB uint8 image whose barcode encodes ``index``."""
    img = np.empty((height, width, 3), np.uint8)
    ramp = np.linspace(0, 255, width, dtype=np.float32)
    img[..., 0] = ((ramp + index * 7) % 256).astype(np.uint8)
    img[..., 1] = ((ramp[::-1] + index * 13) % 256).astype(np.uint8)
    img[..., 2] = (index * 31) % 256
    bar_h = max(8, int(height * BAR_ROWS))
    cell = width // BITS
    for bit in range(BITS):
        on = (index >> (BITS - 1 - bit)) & 1
        img[:bar_h, bit * cell:(bit + 1) * cell] = 255 if on else 0
    return img


def read_frame_index(img: np.ndarray) -> int:
    """Inverse of :func:`draw_frame` on a decoded (possibly scaled, compressed) RGB frame."""
    height, width = img.shape[:2]
    bar_h = max(2, int(height * BAR_ROWS))
    cell = width / BITS
    gray = img[: bar_h, :, :3].astype(np.float32).mean(axis=2)
    value = 0
    for bit in range(BITS):
        lo, hi = int(bit * cell + cell * 0.25), int((bit + 1) * cell - cell * 0.25)
        band = gray[bar_h // 4: bar_h * 3 // 4, lo:max(hi, lo + 1)]
        value = (value << 1) | int(band.mean() > 127)
    return value


def write_clip(path: str | Path, spec: ClipSpec = ClipSpec()) -> Path:
    """Write a clip following ``spec`` and return its path."""
    path = Path(path)
    options = {"movflags": "faststart"} if spec.faststart else {}
    options.update(spec.muxer_options)
    stored_w, stored_h = (
        (spec.height, spec.width) if spec.rotation % 180 else (spec.width, spec.height)
    )
    with av.open(str(path), "w", format=spec.container, options=options) as out:
        if spec.timecode:
            out.metadata["timecode"] = spec.timecode
        cover = None
        if spec.cover_art:
            cover = out.add_stream("mjpeg", rate=1)
            cover.width = cover.height = 16
            cover.pix_fmt = "yuvj420p"
            cover.disposition = av.stream.Disposition.attached_pic
        vfr = spec.pts_seconds is not None
        time_base = Fraction(1, 90_000) if vfr else Fraction(1) / spec.fps
        rate = None if vfr else spec.fps
        video = None
        if spec.video:
            video = out.add_stream(spec.codec, rate=rate or spec.fps)
            video.width, video.height = stored_w, stored_h
            video.pix_fmt = spec.pix_fmt
            video.time_base = time_base
            video.codec_context.time_base = time_base
            video.codec_context.gop_size = spec.gop
            if spec.codec == "libx264":
                video.options = {"preset": "ultrafast", "crf": "12", "bf": str(spec.b_frames)}
            if spec.sar is not None:
                video.codec_context.sample_aspect_ratio = spec.sar
            if spec.color_tags is not None:
                ctx = video.codec_context
                ctx.color_primaries, ctx.color_trc, ctx.colorspace = spec.color_tags
            if spec.rotation:
                # PyAV's angle is counter-clockwise (as FFmpeg's display matrix reads back).
                video.set_display_rotation(-spec.rotation)
            if spec.timecode:
                video.metadata["timecode"] = spec.timecode
            if spec.reel:
                video.metadata["reel_name"] = spec.reel
        audio = None
        if spec.audio_hz is not None:
            audio = out.add_stream("aac", rate=spec.audio_rate)
            audio.layout = "mono"
        if cover is not None:
            art = av.VideoFrame.from_ndarray(np.full((16, 16, 3), 200, np.uint8), "rgb24")
            for packet in (*cover.encode(art), *cover.encode()):
                out.mux(packet)
        if video is not None:
            for i in range(spec.n_frames):
                upright = draw_frame(i, spec.width, spec.height)
                stored = np.ascontiguousarray(np.rot90(upright, k=spec.rotation // 90))
                frame = av.VideoFrame.from_ndarray(stored, "rgb24")
                if vfr:
                    frame.pts = round(spec.pts_seconds[i] / time_base)
                else:
                    frame.pts = i
                frame.time_base = time_base
                for packet in video.encode(frame):
                    out.mux(packet)
            for packet in video.encode():
                out.mux(packet)
        if audio is not None:
            duration = (
                spec.pts_seconds[-1] + float(1 / spec.fps) if vfr else spec.n_frames / spec.fps
            )
            _write_tone(out, audio, spec.audio_hz, spec.audio_rate, float(duration),
                        spec.audio_delay)
    return path


def _write_tone(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream,
                hz: float, rate: int, seconds: float, delay: float = 0.0) -> None:
    offset = round(delay * rate)
    total = round(seconds * rate) - offset
    t = np.arange(total, dtype=np.float64) / rate
    tone = (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    chunk = 1024
    for start in range(0, total, chunk):
        piece = tone[start:start + chunk][None, :]
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(piece), format="flt",
                                           layout="mono")
        frame.sample_rate = rate
        frame.pts = offset + start
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
