"""Probing and decoding on clips whose every frame carries its index (tests/clipgen.py).

Expected frame indices are worked out here with exact fractions from how each clip was written,
independently of the float arithmetic in the module under test.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from clipgen import ClipSpec, read_frame_index, write_clip

from highlight_studio.errors import MediaError
from highlight_studio.events import Cancelled, CancelToken
from highlight_studio.media import frames_at, iter_frames, probe, read_audio, step_count

NTSC = Fraction(30000, 1001)
# 10 frames at 30 fps, then 10 frames 0.1 s apart: the second half is a third of the rate.
VFR_PTS = tuple([i / 30 for i in range(10)] + [10 / 30 + i / 10 for i in range(1, 11)])
VFR_TICKS = 90_000  # clipgen's time base for VFR clips


def frame_times(spec: ClipSpec) -> list[Fraction]:
    """Exact presentation time of every frame written for ``spec``, as the container stores it.

    Matroska keeps whole milliseconds, so an NTSC frame at 200.2 ms is stored at 200 ms.
    """
    if spec.pts_seconds is not None:
        times = [Fraction(round(p * VFR_TICKS), VFR_TICKS) for p in spec.pts_seconds]
    else:
        times = [Fraction(i) / spec.fps for i in range(spec.n_frames)]
    if spec.container == "matroska":
        times = [Fraction(round(t * 1000), 1000) for t in times]
    return times


def clip_duration(spec: ClipSpec) -> Fraction:
    """Duration as written: the last frame lasts one nominal frame interval."""
    if spec.pts_seconds is not None:
        return Fraction(spec.pts_seconds[-1]) + 1 / spec.fps
    return spec.n_frames / spec.fps


def expected_indices(spec: ClipSpec, step: str, n_frames: int | None = None) -> list[int]:
    """Index of the last frame with pts <= k * step, for every step of the clip."""
    times = frame_times(spec)[:n_frames]
    exact_step = Fraction(step)
    duration = times[-1] + 1 / spec.fps
    n_steps = math.ceil(duration / exact_step)
    return [max(i for i, t in enumerate(times) if t <= k * exact_step) for k in range(n_steps)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, ClipSpec]]:
    root = tmp_path_factory.mktemp("media")
    specs = {
        "24": ClipSpec(n_frames=48, timecode="01:00:00:00"),
        "ntsc": ClipSpec(n_frames=30, fps=NTSC, audio_hz=None, width=256, height=144),
        "ntsc_mkv": ClipSpec(n_frames=30, fps=NTSC, audio_hz=None, width=256, height=144,
                             container="matroska"),
        "vfr": ClipSpec(n_frames=len(VFR_PTS), fps=Fraction(30), pts_seconds=VFR_PTS),
        "mkv_vfr": ClipSpec(n_frames=len(VFR_PTS), fps=Fraction(30), pts_seconds=VFR_PTS,
                            container="matroska", audio_hz=None),
        "long": ClipSpec(n_frames=96, gop=12, audio_hz=1000.0, audio_rate=44_100,
                         faststart=True),
    }
    suffix = {"matroska": ".mkv", "mp4": ".mp4"}
    return {name: (write_clip(root / f"{name}{suffix[spec.container]}", spec), spec)
            for name, spec in specs.items()}


@pytest.mark.parametrize(
    ("duration", "step", "expected"),
    [(2.0, 0.2, 10), (2.01, 0.2, 11), (0.6, 0.2, 3), (0.7, 0.1, 7), (1 / 24, 0.2, 1),
     (1.001, 0.2, 6)],
)
def test_step_count_is_ceiling_of_duration_over_step(duration: float, step: float,
                                                     expected: int) -> None:
    assert step_count(duration, step) == expected


def test_step_count_rejects_non_positive_step() -> None:
    with pytest.raises(ValueError, match="step"):
        step_count(1.0, 0.0)


def test_probe_constant_rate_clip(clips: dict) -> None:
    path, spec = clips["24"]
    info = probe(path)
    assert info.path == path
    assert info.duration == pytest.approx(2.0)
    assert info.frame_count == spec.n_frames
    assert info.avg_fps == info.real_fps == Fraction(24)
    assert (info.width, info.height) == (spec.width, spec.height)
    assert info.rotation == 0
    assert info.has_audio and info.audio_rate == spec.audio_rate and info.audio_channels == 1
    assert info.start_timecode == "01:00:00:00"
    assert info.start_time == 0.0
    assert info.video_codec == "h264"
    assert not info.is_vfr and not info.truncated


@pytest.mark.parametrize("name", ["ntsc", "ntsc_mkv"])
def test_probe_ntsc_rate_without_audio(clips: dict, name: str) -> None:
    # Matroska rounds timestamps to whole milliseconds (33/34 ms): still constant rate.
    path, spec = clips[name]
    info = probe(path)
    assert info.real_fps == NTSC
    assert info.avg_fps == NTSC
    assert info.frame_count == spec.n_frames
    assert info.duration == pytest.approx(float(clip_duration(spec)), abs=1e-6)
    assert not info.has_audio and info.audio_rate is None and info.audio_channels is None
    assert info.start_timecode is None
    assert not info.is_vfr
    assert read_audio(path, 16_000) is None


@pytest.mark.parametrize("name", ["vfr", "mkv_vfr"])
def test_probe_variable_frame_rate(clips: dict, name: str) -> None:
    # MP4 is read from its sample table, Matroska from the first packets' timestamps.
    path, spec = clips[name]
    info = probe(path)
    assert info.is_vfr
    assert info.frame_count == spec.n_frames
    assert info.duration == pytest.approx(float(clip_duration(spec)), abs=1e-3)
    assert float(info.avg_fps) == pytest.approx(spec.n_frames / info.duration, rel=1e-3)
    assert info.real_fps == spec.fps


@pytest.mark.parametrize(("name", "step"), [
    ("24", "0.2"), ("24", "0.25"), ("ntsc", "0.2"), ("ntsc", "0.5"), ("ntsc_mkv", "0.2"),
    ("vfr", "0.2"),
    ("vfr", "0.05"), ("mkv_vfr", "0.2"),
])
def test_iter_frames_picks_the_frame_on_screen_at_each_step(clips: dict, name: str,
                                                            step: str) -> None:
    path, spec = clips[name]
    frames = list(iter_frames(path, step=float(step), size=(128, 96)))
    expected = expected_indices(spec, step)
    assert [read_frame_index(f.image) for f in frames] == expected
    assert len(frames) == step_count(probe(path).duration, float(step))
    times = frame_times(spec)
    for k, frame in enumerate(frames):
        assert frame.index == k
        assert frame.time == pytest.approx(k * float(step))
        assert frame.pts_time == pytest.approx(float(times[expected[k]]), abs=1e-6)
        assert frame.image.shape == (96, 128, 3) and frame.image.dtype == np.uint8


def test_b_frames_are_sampled_in_presentation_order(tmp_path: Path) -> None:
    spec = ClipSpec(n_frames=50, fps=Fraction(25), gop=25, b_frames=3, audio_hz=None)
    path = write_clip(tmp_path / "bframes.mp4", spec)
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.has_b_frames
    info = probe(path)
    assert (info.frame_count, info.duration, info.start_time) == (50, pytest.approx(2.0), 0.0)
    frames = list(iter_frames(path, step=0.12, size=(128, 96)))
    assert [read_frame_index(f.image) for f in frames] == expected_indices(spec, "0.12")
    exact = [Fraction(49, 25), Fraction(1, 2), Fraction(26, 25)]
    thumbs = frames_at(path, [float(t) for t in exact], size=(128, 96))
    assert [read_frame_index(img) for img in thumbs] == [49, 12, 26]


def test_iter_frames_keeps_the_last_frames(clips: dict) -> None:
    # A step of half a frame shows every frame; a decoder that is not drained at the end of
    # the stream (threaded decoding holds frames back) would lose the last ones.
    path, spec = clips["long"]
    frames = list(iter_frames(path, step=1 / 48))
    indices = [read_frame_index(f.image) for f in frames]
    assert sorted(set(indices)) == list(range(spec.n_frames))
    assert indices == expected_indices(spec, "1/48")
    assert frames[0].image.shape == (spec.height, spec.width, 3)


def test_iter_frames_repeated_images_are_independent(clips: dict) -> None:
    path, _ = clips["24"]
    a, b = list(iter_frames(path, step=1 / 96))[:2]  # both steps show frame 0
    assert read_frame_index(a.image) == read_frame_index(b.image) == 0
    b.image[:] = 0
    assert read_frame_index(a.image) == 0 and a.image.any()


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_clip_is_probed_and_decoded_upright(tmp_path: Path, rotation: int) -> None:
    spec = ClipSpec(n_frames=24, width=192, height=112, audio_hz=None, rotation=rotation)
    path = write_clip(tmp_path / "rot.mp4", spec)
    info = probe(path)
    assert info.rotation == rotation
    assert (info.width, info.height) == (192, 112)
    # The stored pictures are not upright: reading them without rotation gives other indices.
    with av.open(str(path)) as container:
        raw = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert [read_frame_index(img) for img in raw] != list(range(spec.n_frames))
    frames = list(iter_frames(path, step=0.25, size=(96, 56)))
    assert [read_frame_index(f.image) for f in frames] == expected_indices(spec, "0.25")
    assert all(f.image.shape == (56, 96, 3) for f in frames)
    thumbs = frames_at(path, [0.5], size=(96, 56))
    assert thumbs[0].shape == (56, 96, 3) and read_frame_index(thumbs[0]) == 12


@pytest.mark.parametrize(("rotation", "aspect", "shown"), [
    (0, Fraction(4, 3), 256), (90, Fraction(3, 4), 144), (0, Fraction(1), 192)])
def test_pixel_aspect_is_read_and_turns_with_the_picture(tmp_path: Path, rotation: int,
                                                         aspect: Fraction, shown: int) -> None:
    """Anamorphic pixels (HDV stores 16:9 in 1440x1080): what thumbnails and FCPXML need to
    show the picture unsqueezed. Turned a quarter, a pixel's width is its stored height."""
    sar = None if aspect == 1 else Fraction(4, 3)
    path = write_clip(tmp_path / "hdv.mov", ClipSpec(
        n_frames=12, width=192, height=112, sar=sar, container="mov", rotation=rotation,
        audio_hz=None))
    info = probe(path)
    assert info.pixel_aspect == aspect and info.display_width == shown


def test_frames_at_returns_frames_on_screen_in_request_order(clips: dict) -> None:
    path, spec = clips["long"]
    # Exact times, passed as floats: 11/24 and 94/24 are frame times whose floats fall a hair
    # short of the frame's pts and must still land on that frame, not the one before.
    exact = [Fraction(3), Fraction(0), Fraction(1), Fraction(101, 100), Fraction(399, 100),
             Fraction(10), Fraction(-1), Fraction(5, 2), Fraction(1), Fraction(49, 100),
             Fraction(11, 24), Fraction(94, 24)]
    images = frames_at(path, [float(t) for t in exact], size=(128, 96))
    last = spec.n_frames - 1
    expected = [min(last, max(0, math.floor(t * spec.fps))) for t in exact]
    assert [read_frame_index(img) for img in images] == expected
    assert all(img.shape == (96, 128, 3) for img in images)
    assert frames_at(path, []) == []


def test_read_audio_length_and_tone(clips: dict) -> None:
    path, spec = clips["long"]
    info = probe(path)
    rate = 16_000
    audio = read_audio(path, rate)
    assert audio is not None and audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == round(info.duration * rate)
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    peak_hz = np.argmax(spectrum) * rate / len(audio)
    assert peak_hz == pytest.approx(spec.audio_hz, abs=2 * rate / len(audio))
    rms = float(np.sqrt(np.mean(audio[rate // 10: -rate // 10] ** 2)))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.2)


def test_read_audio_is_aligned_to_the_first_video_frame(tmp_path: Path) -> None:
    # The audio track starts 0.5 s after the first frame: sample 0 is still the first frame.
    spec = ClipSpec(n_frames=48, audio_delay=0.5)
    path = write_clip(tmp_path / "late.mp4", spec)
    rate = 16_000
    audio = read_audio(path, rate)
    assert audio is not None and len(audio) == 2 * rate
    onset = int(np.argmax(np.abs(audio) > 0.05)) / rate
    assert onset == pytest.approx(spec.audio_delay, abs=0.005)
    assert np.abs(audio[rate // 2 + 100:]).max() > 0.4


def test_read_audio_of_vfr_clip_follows_the_video_duration(clips: dict) -> None:
    path, spec = clips["vfr"]
    audio = read_audio(path, 8_000)
    assert audio is not None
    assert len(audio) == round(float(clip_duration(spec)) * 8_000)
    assert np.abs(audio[100:-100]).min() < 0.05 < np.abs(audio[100:-100]).max()


def test_cancel_stops_decoding(clips: dict) -> None:
    path, _ = clips["long"]
    token = CancelToken()
    frames = iter_frames(path, step=0.2, cancel=token)
    next(frames)
    token.cancel()
    with pytest.raises(Cancelled):
        next(frames)
    with pytest.raises(Cancelled):
        read_audio(path, 16_000, cancel=token)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"nope\.mp4 does not exist"):
        probe(tmp_path / "nope.mp4")


def test_folder_is_not_a_video(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="folder"):
        iter_frames(tmp_path)


def test_random_bytes_are_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, np.uint8).tobytes())
    with pytest.raises(MediaError, match=r"Cannot read .*noise\.mp4"):
        probe(path)


def test_a_clip_we_may_not_read_is_not_called_damaged(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """PyAV's PermissionError is an FFmpegError too; the message must name the real cause.
    (Simulated: the tests may run as root, which no file mode keeps out.)"""
    import errno

    path = write_clip(tmp_path / "locked.mp4", ClipSpec(n_frames=4))

    def refuse(*args: object, **kwargs: object) -> None:
        raise av.error.PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(av, "open", refuse)
    with pytest.raises(MediaError, match="Permission denied") as info:
        probe(path)
    assert "damaged" not in str(info.value)


def test_cut_off_file_without_its_header_is_an_error(tmp_path: Path) -> None:
    # A plain MP4 keeps its index (moov) at the end, so the first half alone cannot be read.
    data = write_clip(tmp_path / "full.mp4", ClipSpec(n_frames=48)).read_bytes()
    path = tmp_path / "half.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match=r"half\.mp4.*damaged, incomplete"):
        probe(path)


def test_cut_off_file_decodes_what_is_there(tmp_path: Path) -> None:
    spec = ClipSpec(n_frames=96, gop=12, faststart=True)
    data = write_clip(tmp_path / "full.mp4", spec).read_bytes()
    path = tmp_path / "half.mp4"
    path.write_bytes(data[: len(data) // 2])
    decodable = 0
    with av.open(str(path)) as container:
        for packet in container.demux(video=0):
            try:
                decodable += len(packet.decode())
            except av.error.InvalidDataError:  # the packet the cut went through
                break
    assert 10 < decodable < spec.n_frames
    info = probe(path)
    assert info.truncated
    assert info.frame_count == decodable
    assert info.duration == pytest.approx(decodable / 24)
    frames = list(iter_frames(path, step=0.1, size=(64, 48)))
    assert [read_frame_index(f.image) for f in frames] == expected_indices(spec, "0.1",
                                                                           decodable)
    audio = read_audio(path, 8_000)
    assert audio is not None and len(audio) == round(info.duration * 8_000)


def test_audio_only_file_has_no_video(tmp_path: Path) -> None:
    path = tmp_path / "voice.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48_000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt",
                                           layout="mono")
        frame.sample_rate, frame.pts = 48_000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode())
    assert os.path.getsize(path) > 0
    with pytest.raises(MediaError, match=r"voice\.m4a has no video stream"):
        probe(path)


def test_still_picture_has_zero_duration(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), "rgb24").save(str(path))
    with pytest.raises(MediaError, match=r"photo\.png has zero duration"):
        probe(path)


def test_bad_arguments_are_rejected_before_decoding(clips: dict) -> None:
    path, _ = clips["24"]
    with pytest.raises(ValueError, match="step"):
        iter_frames(path, step=0)
    with pytest.raises(ValueError, match="size"):
        iter_frames(path, size=(0, 10))
    with pytest.raises(ValueError, match="sample_rate"):
        read_audio(path, 0)


def test_a_stream_that_declares_no_duration_is_measured_to_its_end(tmp_path: Path) -> None:
    """Live Matroska (browser and OBS recordings) writes no Duration: reading only the first
    packets would make a 17 s clip look like the first few hundred frames."""
    spec = ClipSpec(n_frames=400, width=64, height=48, audio_hz=None, container="matroska",
                    muxer_options=(("live", "1"),))
    path = write_clip(tmp_path / "live.mkv", spec)
    with av.open(str(path)) as container:  # the premise: nothing in the file says how long
        assert not container.duration and not container.streams.video[0].duration
    info = probe(path)
    assert info.duration == pytest.approx(400 / 24, abs=1 / 24)
    assert info.frame_count == 400
    steps = step_count(info.duration, 0.5)
    frames = list(iter_frames(path, 0.5, (64, 48)))
    assert len(frames) == steps == 34
    assert read_frame_index(frames[-1].image) == 396  # step 33 starts at 16.5 s = frame 396


def test_cover_art_is_not_taken_for_the_video(tmp_path: Path) -> None:
    """A song with cover art has a 'video' stream: the attached picture. It is not a clip,
    and a clip that also carries cover art is read from its real video."""
    song = write_clip(tmp_path / "song.m4a", ClipSpec(n_frames=24, video=False,
                                                      cover_art=True, container="mp4"))
    with av.open(str(song)) as container:  # the premise: one video stream, the picture
        (art,) = container.streams.video
        assert art.disposition & av.stream.Disposition.attached_pic
    with pytest.raises(MediaError, match="no video stream"):
        probe(song)
    clip = write_clip(tmp_path / "art.mp4", ClipSpec(n_frames=24, width=96, height=64,
                                                     audio_hz=None, cover_art=True))
    info = probe(clip)
    assert (info.width, info.height, info.frame_count) == (96, 64, 24)
    frames = list(iter_frames(clip, 0.25, (96, 64)))
    assert [read_frame_index(f.image) for f in frames] == [0, 6, 12, 18]


def test_probe_reads_each_version_of_a_file_once(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from highlight_studio import media

    opened: list[Path] = []
    real_open = media._open

    def counting_open(path: Path) -> av.container.InputContainer:
        opened.append(path)
        return real_open(path)

    monkeypatch.setattr(media, "_open", counting_open)
    path = write_clip(tmp_path / "c.mp4", ClipSpec(n_frames=12, width=64, height=48))
    first = probe(path)
    assert probe(path) == first and len(opened) == 1
    write_clip(path, ClipSpec(n_frames=36, width=64, height=48))  # replaced: probed again
    assert probe(path).frame_count == 36 and len(opened) == 2
