"""Export edge cases found by an adversarial run: odd names, odd files, odd streams."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from clipgen import ClipSpec, draw_frame, read_frame_index, write_clip

from highlight_studio.errors import MediaError
from highlight_studio.export.cuts import CutOptions, CutResult, cut_clips
from highlight_studio.export.timeline import build_timeline
from highlight_studio.export.timelines import write_edl, write_fcpxml, write_otio
from highlight_studio.media import decoded_frames, probe
from highlight_studio.segments import Segment

SMALL = ClipSpec(n_frames=48, width=160, height=120)
RATE = 48_000


def make_clip(path: Path, *, container: str = "mp4", video: str = "libx264",
              audio: str = "aac", tones: tuple[float, ...] = (440.0,), n_frames: int = 75,
              fps: int = 25, pts_seconds: list[float] | None = None,
              x264: dict[str, str] | None = None, gop: int = 10) -> Path:
    """A clip whose frames carry their index (clipgen's barcode) with one audio track per
    tone; what clipgen cannot make: several audio tracks, MPEG-2 program streams, interlaced
    H.264, long gaps between frames (``pts_seconds``)."""
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(video, rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        tb = Fraction(1, 90_000) if pts_seconds else Fraction(1, fps)
        stream.time_base = stream.codec_context.time_base = tb
        stream.codec_context.gop_size = gop
        if video == "libx264":
            stream.options = {"preset": "ultrafast", "crf": "12", **(x264 or {})}
        tracks = []
        for hz in tones:
            track = out.add_stream(audio, rate=RATE)
            track.layout = "mono" if audio == "aac" else "stereo"
            tracks.append((track, hz))
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(draw_frame(i, 160, 120), "rgb24")
            frame.pts = round(pts_seconds[i] / tb) if pts_seconds else i
            frame.time_base = tb
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
        seconds = pts_seconds[-1] + 1 / fps if pts_seconds else n_frames / fps
        for track, hz in tracks:
            total = round(seconds * RATE)
            tone = (0.5 * np.sin(2 * np.pi * hz * np.arange(total) / RATE)).astype(np.float32)
            size = track.codec_context.frame_size or 1024
            for at in range(0, total, size):
                piece = np.stack([tone[at:at + size]] * track.layout.nb_channels)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(piece), format="fltp",
                                                   layout=track.layout.name)
                frame.sample_rate, frame.pts, frame.time_base = RATE, at, Fraction(1, RATE)
                out.mux(track.encode(frame))
            out.mux(track.encode())
    return path


def tones_of(path: Path) -> list[float]:
    """The loudest frequency of each audio track (Hz)."""
    found = []
    with av.open(str(path)) as container:
        for stream in container.streams.audio:
            samples = np.concatenate([f.to_ndarray()[0] for f in container.decode(stream)])
            container.seek(0)
            spectrum = np.abs(np.fft.rfft(samples))
            found.append(float(np.argmax(spectrum)) * stream.rate / len(samples))
    return found


def indices(path: Path) -> list[int]:
    """The frame numbers in a file; a damaged packet a stream copy kept is skipped."""
    with av.open(str(path)) as container:
        return [read_frame_index(f.to_ndarray(format="rgb24"))
                for f in decoded_frames(container, container.streams.video[0])]


def cut(path: Path, out: Path, segments: list[Segment], **options: object) -> list[CutResult]:
    info = probe(path)
    timeline = build_timeline(info, segments)
    events = cut_clips(timeline, info, out, CutOptions(**options))  # type: ignore[arg-type]
    return [e for e in events if isinstance(e, CutResult)]


def test_a_newline_in_the_clip_name_is_sanitised_in_the_edl_only(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "take\none.mp4", SMALL)
    timeline = build_timeline(probe(clip), [Segment(0.5, 1.0)])
    edl = write_edl(timeline, tmp_path / "cuts.edl").read_text(encoding="utf-8")
    assert "take_one.mp4" in edl and "take\none" not in edl
    assert "take\\none.mp4" in write_otio(timeline, tmp_path / "cuts.otio").read_text()
    assert "one.mp4" in write_fcpxml(timeline, tmp_path / "cuts.fcpxml").read_text()


def test_a_clip_name_too_long_for_its_cuts_is_shortened_with_a_digest(tmp_path: Path) -> None:
    stems = ["é" * 118 + "a", "é" * 118 + "b"]  # 237 bytes each, alike for 236
    for stem in stems:
        write_clip(tmp_path / f"{stem}.mp4", SMALL)
    out = tmp_path / "out"
    out.mkdir()
    names = []
    for stem in stems:
        results = cut(tmp_path / f"{stem}.mp4", out, [Segment(0.5, 1.0), Segment(1.2, 1.6)],
                      mode="fast")
        names += [r.path.name for r in results]
    assert all(len(os.fsencode(n)) <= 255 and n.endswith(".mp4") for n in names)
    assert all(n.startswith("é" * 50) for n in names)
    assert len(set(names)) == 4  # the digest tells the clips apart, the index the cuts
    assert sorted(p.name for p in out.iterdir()) == sorted(names)


def test_a_fifo_is_refused_instead_of_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    with pytest.raises(MediaError, match="not a regular file"):
        probe(fifo)


@pytest.mark.parametrize("mode", ["fast", "exact"])
def test_every_audio_track_is_kept(tmp_path: Path, mode: str) -> None:
    clip = make_clip(tmp_path / "two.mp4", tones=(440.0, 880.0))
    out = tmp_path / "out"
    out.mkdir()
    results = cut(clip, out, [Segment(0.4, 1.6), Segment(2.0, 2.8)], mode=mode, joined=True)
    assert len(results) == 3
    for result in results:
        found = tones_of(result.path)
        assert len(found) == 2, result.path.name
        assert abs(found[0] - 440) < 10 and abs(found[1] - 880) < 10, found


def grid(seconds: float, fps: int = 25) -> int:
    return int(seconds * fps + 0.5)


@pytest.mark.parametrize("mode", ["fast", "exact"])
@pytest.mark.parametrize(("name", "container", "video", "audio"), [
    ("tape.mpg", "mpeg", "mpeg2video", "mp2"), ("broadcast.ts", "mpegts", "libx264", "aac")])
def test_an_mpeg_program_or_transport_stream_is_cut(tmp_path: Path, mode: str, name: str,
                                                   container: str, video: str, audio: str
                                                   ) -> None:
    """A .mpg: seeks land on byte positions, so the first packets after one repeat or shift
    their timestamps and the MP2 decoder refuses the first, partial, packet."""
    clip = make_clip(tmp_path / name, container=container, video=video, audio=audio,
                     n_frames=100, gop=12)
    out = tmp_path / "out"
    out.mkdir()
    segments = [Segment(0.0, 0.5), Segment(0.5, 1.5), Segment(2.0, 3.6)]
    results = cut(clip, out, segments, mode=mode)
    for result, segment in zip(results, segments, strict=True):
        got = indices(result.path)
        assert got == list(range(got[0], got[0] + len(got)))  # whole, in order
        want = list(range(grid(segment.start), grid(segment.end)))
        if mode == "exact":
            assert got == want
        else:  # from the keyframe before the in point (every 12th frame) to one after
            assert got[0] == want[0] // 12 * 12 and got[-1] >= want[-1]
        assert len(tones_of(result.path)) == 1


def corrupt(path: Path, stream: str, nth: int) -> None:
    """Overwrite all but the first bytes of the ``nth`` packet of a stream with junk."""
    with av.open(str(path)) as container:
        packets = [p for p in container.demux(**{stream: 0}) if p.size]
        pos, size = packets[nth].pos, packets[nth].size
    data = bytearray(path.read_bytes())
    data[pos + 2:pos + size] = bytes([0x5A]) * (size - 2)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("mode", ["fast", "exact"])
def test_a_damaged_packet_does_not_fail_the_cut(tmp_path: Path, mode: str) -> None:
    clip = make_clip(tmp_path / "damaged.mp4", n_frames=100)
    corrupt(clip, "video", 55)
    corrupt(clip, "audio", 110)  # 2.35 s at 1024 samples a packet
    out = tmp_path / "out"
    out.mkdir()
    results = cut(clip, out, [Segment(2.0, 3.6)], mode=mode)
    got = indices(results[0].path)
    assert got[0] <= 50 and got[-1] >= 89
    assert len(got) >= 38  # at most the damaged picture is missing
    assert abs(results[0].audio_duration - (results[0].end - results[0].start)) < 0.1


@pytest.mark.parametrize("mode", ["fast", "exact"])
def test_a_cut_ending_in_a_long_gap_between_frames_passes_its_check(tmp_path: Path,
                                                                    mode: str) -> None:
    """A camera that paused for 2 s: the frame before the gap is on screen until 3.2 s."""
    seconds = [i * 0.04 for i in range(30)] + [3.2 + i * 0.04 for i in range(30)]
    clip = make_clip(tmp_path / "gap.mp4", n_frames=60, pts_seconds=seconds)
    out = tmp_path / "out"
    out.mkdir()
    results = cut(clip, out, [Segment(0.5, 1.5), Segment(2.0, 3.6)], mode=mode, joined=True)
    first, second, reel = (indices(r.path) for r in results)
    assert first[-1] == 29 and second == list(range(30, 40))
    assert reel == first + second
    if mode == "exact":
        assert first == list(range(13, 30))
        assert results[0].end == pytest.approx(1.2)  # one frame after the last, as written


@pytest.mark.parametrize("fields", ["tff", "bff"])
def test_exact_cuts_keep_the_field_order_or_deinterlace_on_request(tmp_path: Path,
                                                                  fields: str) -> None:
    clip = make_clip(tmp_path / "tape.mp4", x264={"x264-params": f"{fields}=1"})
    with av.open(str(clip)) as container:
        source_order = container.streams.video[0].codec_context.field_order
    assert source_order == {"tff": 2, "bff": 3}[fields]  # FFmpeg's AV_FIELD_TT / BB
    for deinterlace, want in ((False, source_order), (True, 1)):  # 1: progressive
        out = tmp_path / f"out{deinterlace}"
        out.mkdir()
        results = cut(clip, out, [Segment(0.4, 1.2), Segment(1.6, 2.4)], mode="exact",
                      deinterlace=deinterlace, joined=True)
        for result in results:
            with av.open(str(result.path)) as container:
                stream = container.streams.video[0]
                assert stream.codec_context.field_order == want, (deinterlace, result.path)
                assert next(container.decode(stream)).interlaced_frame == (not deinterlace)
        assert indices(results[0].path) == list(range(10, 30))
        assert indices(results[2].path) == list(range(10, 30)) + list(range(40, 60))
