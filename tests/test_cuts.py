"""MP4 cuts on clips whose frames carry their own index: exact frames, truthful fast bounds."""

from __future__ import annotations

import dataclasses
import errno
import itertools
import math
import os
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from clipgen import ClipSpec, read_frame_index, write_clip

from highlight_studio.errors import ExportError
from highlight_studio.events import Cancelled, CancelToken, Progress
from highlight_studio.export import cuts
from highlight_studio.export.cuts import (
    CutOptions,
    CutResult,
    cut_clips,
    cut_comment,
    output_name,
)
from highlight_studio.export.timecode import frames_to_timecode
from highlight_studio.export.timeline import Timeline, build_timeline
from highlight_studio.media import MediaInfo, probe
from highlight_studio.segments import Segment

GOP = 12
SEGMENTS = [Segment(0.3, 0.9), Segment(1.5, 2.2)]
# 25 fps with every third interval doubled, as a phone drops frames under load
VFR_PTS = tuple(sum(0.08 if i % 3 == 2 else 0.04 for i in range(n)) for n in range(60))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("src")
    made = {}
    for name, fps in (("r23976", Fraction(24000, 1001)), ("r25", Fraction(25)),
                      ("r2997", Fraction(30000, 1001))):
        made[name] = write_clip(folder / f"{name}.mp4", ClipSpec(
            n_frames=72, fps=fps, width=160, height=120, gop=GOP))
    made["bframes"] = write_clip(folder / "bframes.mp4", ClipSpec(  # decode order != display
        n_frames=72, fps=Fraction(25), width=160, height=120, gop=GOP, b_frames=2))
    made["vfr"] = write_clip(folder / "vfr.mp4", ClipSpec(
        n_frames=60, fps=Fraction(25), width=160, height=120, gop=GOP, pts_seconds=VFR_PTS))
    return made


def frame_indices(path: Path) -> list[int]:
    with av.open(str(path)) as container:
        return [read_frame_index(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


def run(timeline: Timeline, info: MediaInfo, out: Path, **options: object) -> list[CutResult]:
    events = list(cut_clips(timeline, info, out, CutOptions(**options)))  # type: ignore[arg-type]
    assert any(isinstance(e, Progress) for e in events)
    return [e for e in events if isinstance(e, CutResult)]


def grid_frame(seconds: float, rate: Fraction) -> int:
    """The documented rounding rule, computed here independently of the exporter."""
    return math.floor(Fraction(str(seconds)) * rate + Fraction(1, 2))


@pytest.mark.parametrize("name", ["r23976", "r25", "r2997", "bframes"])
def test_exact_mode_cuts_the_intended_frames(clips: dict[str, Path], tmp_path: Path,
                                             name: str) -> None:
    info = probe(clips[name])
    rate = info.real_fps
    timeline = build_timeline(info, SEGMENTS)
    results = run(timeline, info, tmp_path, mode="exact", joined=True)
    assert [r.index for r in results] == [1, 2, 0]
    wanted = [list(range(grid_frame(s.start, rate), grid_frame(s.end, rate))) for s in SEGMENTS]
    for result, frames in zip(results[:2], wanted, strict=True):
        assert frame_indices(result.path) == frames
        assert result.on_request and result.frames == len(frames)
        assert result.duration == pytest.approx(len(frames) / rate, abs=1e-6)
        assert result.audio_duration is not None
        assert abs(result.audio_duration - result.duration) <= 1 / rate
    reel = results[2]
    assert frame_indices(reel.path) == wanted[0] + wanted[1]
    assert reel.audio_duration == pytest.approx(reel.duration, abs=float(1 / rate))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(r.path.name for r in results)


@pytest.mark.parametrize("name", ["r23976", "r2997", "bframes"])
def test_fast_mode_reports_its_keyframe_bounds(clips: dict[str, Path], tmp_path: Path,
                                               name: str) -> None:
    info = probe(clips[name])
    rate = info.real_fps
    timeline = build_timeline(info, SEGMENTS)
    *results, reel = run(timeline, info, tmp_path, mode="fast", joined=True)
    assert frame_indices(reel.path) == [i for r in results for i in frame_indices(r.path)]
    assert reel.audio_duration == pytest.approx(reel.duration, abs=float(1 / rate) + 0.05)
    for result, seg in zip(results, SEGMENTS, strict=True):
        frames = frame_indices(result.path)
        first, end = round(result.start * rate), round(result.end * rate)
        assert frames == list(range(first, end))  # what is reported is what is in the file
        assert first % GOP == 0 and (end % GOP == 0 or end == 72)  # cut on keyframes
        assert first <= grid_frame(seg.start, rate) and end >= grid_frame(seg.end, rate)
        assert result.start <= result.requested_start and result.end >= result.requested_end
        assert result.audio_duration is not None
        assert abs(result.audio_duration - result.duration) <= 1 / rate + 2 * 1024 / 48_000


def test_variable_frame_rate_picks_frames_by_presentation_time(clips: dict[str, Path],
                                                               tmp_path: Path) -> None:
    info = probe(clips["vfr"])
    assert info.is_vfr
    timeline = build_timeline(info, [Segment(0.5, 1.3)])
    rate = timeline.rate
    cut = timeline.cuts[0]
    wanted = [i for i, t in enumerate(VFR_PTS)
              if cut.src_in <= grid_frame(round(t, 6), rate) < cut.src_out]
    assert len(wanted) < cut.frames  # frames are missing in this stretch: truly variable
    (result,) = run(timeline, info, tmp_path, mode="exact")
    assert frame_indices(result.path) == wanted
    with av.open(str(result.path)) as container:  # the output keeps the uneven spacing
        stream = container.streams.video[0]
        assert stream.time_base is not None
        times = [float(p.pts * stream.time_base) for p in container.demux(stream)
                 if p.pts is not None]
    ordered = sorted(times)
    gaps = sorted({round(b - a, 3) for a, b in itertools.pairwise(ordered)})
    assert gaps == [0.04, 0.08]


def test_template_names_and_bad_templates(clips: dict[str, Path], tmp_path: Path) -> None:
    assert output_name("{clip}_{index:02d}_{tc}", clip="a", index=3, tc="00-00-01-00",
                       start=1.0, end=2.0) == "a_03_00-00-01-00.mp4"
    for bad in ("{nope}.mp4", "../{clip}.mp4", "{index:q}"):
        with pytest.raises(ExportError, match="template"):
            output_name(bad, clip="a", index=1, tc="x", start=0.0, end=1.0)
    info = probe(clips["r25"])
    timeline = build_timeline(info, SEGMENTS)
    names = [r.path.name for r in run(timeline, info, tmp_path, mode="fast")]
    assert names == ["r25_01_00-00-00-08.mp4", "r25_02_00-00-01-13.mp4"]  # 0.3 s, 1.5 s @ 25
    with pytest.raises(ExportError, match="both"):
        list(cut_clips(timeline, info, tmp_path, CutOptions(template="{clip}.mp4")))
    with pytest.raises(ExportError, match="Unknown cut mode"):
        CutOptions(mode="slow")


def test_refuses_to_overwrite_the_source(clips: dict[str, Path]) -> None:
    info = probe(clips["r25"])
    timeline = build_timeline(info, SEGMENTS[:1])
    before = clips["r25"].stat().st_mtime_ns
    with pytest.raises(ExportError, match="source"):
        list(cut_clips(timeline, info, clips["r25"].parent, CutOptions(template="{clip}.mp4")))
    assert clips["r25"].stat().st_mtime_ns == before


def test_missing_folder(clips: dict[str, Path], tmp_path: Path) -> None:
    info = probe(clips["r25"])
    with pytest.raises(ExportError, match="does not exist"):
        list(cut_clips(build_timeline(info, SEGMENTS), info, tmp_path / "nope"))


@pytest.mark.parametrize(("where", "code", "message"), [
    ("replace", errno.ENOSPC, "disk space"),
    ("mkstemp", errno.EROFS, "read-only"),
])
def test_full_disk_or_read_only_folder_leaves_nothing(
        clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        where: str, code: int, message: str) -> None:
    info = probe(clips["r25"])
    timeline = build_timeline(info, SEGMENTS[:1])

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os if where == "replace" else tempfile, where, fail)
    with pytest.raises(ExportError, match=message):
        list(cut_clips(timeline, info, tmp_path, CutOptions(mode="exact")))
    assert list(tmp_path.iterdir()) == []


def test_cancel_leaves_nothing(clips: dict[str, Path], tmp_path: Path) -> None:
    info = probe(clips["r25"])
    token = CancelToken()
    events = cut_clips(build_timeline(info, SEGMENTS), info, tmp_path, CutOptions(), token)
    with pytest.raises(Cancelled):
        for event in events:
            if isinstance(event, Progress) and event.done > 0:
                token.cancel()
    assert list(tmp_path.iterdir()) == []


def test_cancel_during_the_read_back_check_leaves_nothing(
        clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check decodes the whole output (minutes for a long reel): it stops when asked."""
    info = probe(clips["r25"])
    token = CancelToken()
    real = cuts._read_back

    def cancelled_while_checking(path: Path, pictures: bool,
                                 cancel: CancelToken | None = None) -> cuts._Written:
        assert cancel is token
        token.cancel()  # the file is fully written; only the check itself can stop now
        return real(path, pictures, cancel)

    monkeypatch.setattr(cuts, "_read_back", cancelled_while_checking)
    with pytest.raises(Cancelled):
        list(cut_clips(build_timeline(info, SEGMENTS[:1]), info, tmp_path, CutOptions(),
                       token))
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_does_not_verify_is_not_kept(clips: dict[str, Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    info = probe(clips["r25"])
    real = cuts._read_back

    def one_frame_short(path: Path, pictures: bool, cancel: object = None) -> cuts._Written:
        written = real(path, pictures)
        return dataclasses.replace(written, frames=written.frames - 1)

    monkeypatch.setattr(cuts, "_read_back", one_frame_short)
    with pytest.raises(ExportError, match="not saved"):
        list(cut_clips(build_timeline(info, SEGMENTS[:1]), info, tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_a_read_back_that_cannot_decode_is_an_export_error(
        clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check after writing decodes the output; its FFmpeg errors are not tracebacks."""
    info = probe(clips["r25"])

    def undecodable(path: Path, pictures: bool, cancel: object = None) -> cuts._Written:
        raise av.error.InvalidDataError(errno.EINVAL, "Invalid data found when processing input")

    monkeypatch.setattr(cuts, "_read_back", undecodable)
    with pytest.raises(ExportError, match="Invalid data"):
        list(cut_clips(build_timeline(info, SEGMENTS[:1]), info, tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_cuts_keep_rotation_and_carry_source_timecode(tmp_path: Path) -> None:
    rate = Fraction(30000, 1001)
    src = write_clip(tmp_path / "phone.mp4", ClipSpec(
        n_frames=48, fps=rate, width=160, height=120, gop=GOP, rotation=90,
        timecode="01:00:00;00"))
    info = probe(src)
    out = tmp_path / "out"
    out.mkdir()
    timeline = build_timeline(info, [Segment(0.5, 1.0)])
    for mode in ("exact", "fast"):
        results = run(timeline, info, out, mode=mode, joined=True,
                      template=f"{{clip}}_{mode}_{{index}}",
                      joined_template=f"reel_{mode}")
        cut, reel = results
        written = probe(cut.path)
        assert written.rotation == 90
        first = round(cut.start * rate)  # 15 in exact mode, the keyframe 12 in fast mode
        assert first == (grid_frame(0.5, rate) if mode == "exact" else 12)
        assert written.start_timecode == frames_to_timecode(107892 + first, rate)
        assert probe(reel.path).start_timecode == "01:00:00;00"  # the programme's start


def test_abandoned_export_leaves_nothing(clips: dict[str, Path], tmp_path: Path) -> None:
    info = probe(clips["r25"])
    events = cut_clips(build_timeline(info, SEGMENTS), info, tmp_path, CutOptions())
    for event in events:
        if isinstance(event, Progress) and event.done > 0:
            break
    events.close()  # the GUI drops the job: the half-written file must go
    assert list(tmp_path.iterdir()) == []


def test_exact_mode_audio_is_in_sync(clips: dict[str, Path], tmp_path: Path) -> None:
    """The clip's tone is sin(2*pi*440*t) from t = 0, so the cut's sound must continue it from
    the time of the cut's first frame; a shift of even a millisecond breaks the match."""
    info = probe(clips["r2997"])
    timeline = build_timeline(info, SEGMENTS[1:])
    (result,) = run(timeline, info, tmp_path, mode="exact")
    with av.open(str(result.path)) as container:
        sound = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
    n = np.arange(2048, 8192)  # away from the codec's ramp at the edges
    t = result.start + n / 48_000
    expected = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    got = sound[n]
    assert np.corrcoef(got, expected)[0, 1] > 0.99
    late = 0.5 * np.sin(2 * np.pi * 440.0 * (t + 0.001))
    assert np.corrcoef(got, late)[0, 1] < 0.9  # the check can tell 1 ms apart


def test_sound_that_starts_late_stays_late(tmp_path: Path) -> None:
    """Fast mode copies sound where it was; exact mode fills the silence before it."""
    src = write_clip(tmp_path / "late.mp4", ClipSpec(
        n_frames=50, fps=Fraction(25), width=160, height=120, gop=GOP, audio_delay=0.3))
    info = probe(src)
    out = tmp_path / "out"
    out.mkdir()
    timeline = build_timeline(info, [Segment(0.0, 0.8)])
    (exact,) = run(timeline, info, out, mode="exact", template="exact")
    assert exact.audio_duration == pytest.approx(exact.duration, abs=0.04)
    (fast,) = run(timeline, info, out, mode="fast", template="fast")
    assert fast.audio_duration is not None
    assert fast.duration - fast.audio_duration == pytest.approx(0.3, abs=0.03)
    with av.open(str(fast.path)) as container:
        audio = container.streams.audio[0]
        assert audio.start_time is not None and audio.time_base is not None
        assert float(audio.start_time * audio.time_base) == pytest.approx(0.3, abs=0.03)


def test_exact_cuts_keep_pixel_shape_and_colour_and_take_odd_sizes(tmp_path: Path) -> None:
    """Anamorphic HDV-like pixels and BT.2020 HLG tags survive the re-encode; an odd-sized
    source (x264's 4:2:0 needs even sizes) is cut instead of failing as "damaged"."""
    hdr = write_clip(tmp_path / "hlg.mp4", ClipSpec(
        n_frames=24, fps=Fraction(24), width=96, height=64, sar=Fraction(4, 3),
        color_tags=(9, 18, 9), audio_hz=None))
    odd = write_clip(tmp_path / "odd.mp4", ClipSpec(
        n_frames=24, fps=Fraction(24), width=161, height=121, codec="mpeg4", audio_hz=None))
    out = tmp_path / "out"
    out.mkdir()
    for src in (hdr, odd):
        info = probe(src)
        (result,) = run(build_timeline(info, [Segment(0.25, 0.75)]), info, out,
                        template=f"{src.stem}_{{index}}")
        assert frame_indices(result.path) == list(range(6, 18))
        with av.open(str(result.path)) as cut, av.open(str(src)) as original:
            got, want = cut.streams.video[0].codec_context, original.streams.video[0].codec_context
            assert (got.width, got.height) == (want.width & ~1, want.height & ~1)
            assert got.sample_aspect_ratio == want.sample_aspect_ratio
            for tag in ("color_primaries", "color_trc", "colorspace", "color_range"):
                assert getattr(got, tag) == getattr(want, tag), tag
    with av.open(str(hdr)) as original:  # the premise: the source carries what is checked
        ctx = original.streams.video[0].codec_context
        assert ctx.sample_aspect_ratio == Fraction(4, 3) and ctx.color_trc == 18


def test_cuts_of_a_non_drop_29_97_camera_carry_its_labels(tmp_path: Path) -> None:
    rate = Fraction(30000, 1001)
    src = write_clip(tmp_path / "cam.mp4", ClipSpec(n_frames=48, fps=rate, width=160,
                                                    height=120, gop=GOP, audio_hz=None,
                                                    timecode="01:00:00:00"))
    info = probe(src)
    out = tmp_path / "out"
    out.mkdir()
    (cut,) = run(build_timeline(info, [Segment(0.5, 1.0)]), info, out)
    label = frames_to_timecode(108_000 + grid_frame(0.5, rate), rate, drop_frame=False)
    assert label == "01:00:00:15"
    assert probe(cut.path).start_timecode == label
    assert cut.path.name == "cam_01_01-00-00-15.mp4"


def test_only_earlier_cuts_are_replaced_never_other_files(clips: dict[str, Path],
                                                          tmp_path: Path) -> None:
    """Exporting again replaces the cuts made before; a custom template that lands on
    another file (say a second camera's clip) is refused before any work."""
    info = probe(clips["r25"])
    timeline = build_timeline(info, SEGMENTS[:1])
    (first,) = run(timeline, info, tmp_path, template="take")
    assert first.path.name == "take.mp4"
    (again,) = run(timeline, info, tmp_path, template="take")  # a re-export: allowed
    assert again.path == first.path
    other = write_clip(tmp_path / "cam_b.mp4", ClipSpec(n_frames=12, width=64, height=48))
    original = other.read_bytes()
    with pytest.raises(ExportError, match="not a cut this app made"):
        run(timeline, info, tmp_path, template="cam_b")
    assert other.read_bytes() == original
    (tmp_path / "notes.mp4").write_text("my notes")  # not even a video
    with pytest.raises(ExportError, match="not replaced"):
        run(timeline, info, tmp_path, template="notes")
    assert (tmp_path / "notes.mp4").read_text() == "my notes"


def test_a_cut_of_another_clip_of_the_same_name_is_never_replaced(tmp_path: Path) -> None:
    """Two cards each hold a take.mp4: the default names of their cuts coincide, and the
    second export must not silently replace the first one's cuts."""
    takes = []
    for card in ("card_a", "card_b"):
        (tmp_path / card).mkdir()
        takes.append(write_clip(tmp_path / card / "take.mp4",
                                ClipSpec(n_frames=24, width=64, height=48, audio_hz=None)))
    out = tmp_path / "cuts"
    out.mkdir()
    info_a, info_b = probe(takes[0]), probe(takes[1])
    (cut_a,) = run(build_timeline(info_a, [Segment(0.2, 0.6)]), info_a, out)
    made = cut_a.path.read_bytes()
    with pytest.raises(ExportError, match=r"is a cut of another clip \(take\.mp4 \["):
        run(build_timeline(info_b, [Segment(0.2, 0.6)]), info_b, out)
    assert cut_a.path.read_bytes() == made
    with av.open(str(cut_a.path)) as container:  # the mark names the clip, not its folders
        comment = container.metadata["comment"]
    assert comment == cut_comment(takes[0]) and "card_a" not in comment
    (again,) = run(build_timeline(info_a, [Segment(0.2, 0.6)]), info_a, out)  # same clip: ok
    assert again.path == cut_a.path


@pytest.mark.parametrize(("name", "source", "range_tag"), [
    # RGB pixels: converted to limited-range YUV with a YUV matrix tag
    ("png.mov", dict(codec="png", pix_fmt="rgb24", container="mov"), 1),
    # full-range YUV: values and tag kept as they are
    ("mjpeg.mov", dict(codec="mjpeg", pix_fmt="yuvj420p", container="mov"), 2),
    # limited-range YUV whose matrix tag says RGB: only the tag changes
    ("mistagged.mp4", dict(color_tags=(2, 2, 0)), 1),
])
def test_exact_cuts_of_rgb_and_full_range_sources_are_tagged_as_they_are(
        tmp_path: Path, name: str, source: dict[str, object], range_tag: int) -> None:
    """range_tag: 0 unspecified, 1 limited (MPEG), 2 full (JPEG)."""
    src = write_clip(tmp_path / name, ClipSpec(n_frames=24, fps=Fraction(24), width=96,
                                               height=64, audio_hz=None, **source))
    if "color_tags" in source:  # the premise: the source really says RGB
        with av.open(str(src)) as original:
            assert original.streams.video[0].codec_context.colorspace == 0
    info = probe(src)
    out = tmp_path / "out"
    out.mkdir()
    (result,) = run(build_timeline(info, [Segment(0.25, 0.75)]), info, out)
    assert frame_indices(result.path) == list(range(6, 18))
    with av.open(str(result.path)) as cut:
        ctx = cut.streams.video[0].codec_context
        assert ctx.colorspace not in (0, 2)  # never "RGB" on a 4:2:0 stream, nor unspecified
        assert ctx.color_range == range_tag
        frame = next(cut.decode(video=0))  # frame 6: black and white barcode cells
        luma = frame.to_ndarray()[: frame.height]  # yuv420p: the Y plane comes first
    bar = luma[4:12, :]  # the barcode band (rows 0-15 at this height)
    black, white = int(bar.min()), int(bar.max())
    if range_tag == 2:
        assert black <= 8 and white >= 247
    else:
        assert 8 < black <= 24 and 227 <= white < 247  # 16-235


@pytest.mark.parametrize(("bit_depth", "want"), [("source", "yuv420p10le"), ("8", "yuv420p")])
def test_exact_cuts_of_a_10_bit_source_keep_10_bits_unless_asked(
        tmp_path: Path, bit_depth: str, want: str) -> None:
    """HDR phone video is 10-bit: cutting it to 8 bits bands its skies. 8-bit stays an option
    for players without H.264 High 10."""
    src = write_clip(tmp_path / "hlg10.mp4", ClipSpec(
        n_frames=24, fps=Fraction(24), width=96, height=64, pix_fmt="yuv420p10le",
        color_tags=(9, 18, 9), audio_hz=None))
    with av.open(str(src)) as original:  # the premise: a 10-bit source
        assert original.streams.video[0].codec_context.pix_fmt == "yuv420p10le"
    info = probe(src)
    out = tmp_path / "out"
    out.mkdir()
    (result,) = run(build_timeline(info, [Segment(0.25, 0.75)]), info, out,
                    bit_depth=bit_depth)
    assert frame_indices(result.path) == list(range(6, 18))
    with av.open(str(result.path)) as cut:
        ctx = cut.streams.video[0].codec_context
        assert ctx.pix_fmt == want
        assert (ctx.color_primaries, ctx.color_trc, ctx.colorspace) == (9, 18, 9)


def test_an_unknown_bit_depth_is_refused() -> None:
    with pytest.raises(ExportError, match="bit depth"):
        CutOptions(bit_depth="12")


def test_an_odd_sized_source_is_cropped_not_rescaled(tmp_path: Path) -> None:
    """The last column and row go; every other pixel stays where it was (lossless x264 shows
    it exactly; a 161 -> 160 px rescale moved them all)."""
    src = write_clip(tmp_path / "odd.mp4", ClipSpec(n_frames=24, fps=Fraction(24), width=161,
                                                    height=121, codec="mpeg4", audio_hz=None))
    info = probe(src)
    out = tmp_path / "out"
    out.mkdir()
    (result,) = run(build_timeline(info, [Segment(0.25, 0.75)]), info, out, crf=0)
    with av.open(str(src)) as original, av.open(str(result.path)) as cut:
        source_luma = [f.to_ndarray(format="gray")[:120, :160] for f in original.decode(video=0)]
        cut_luma = [f.to_ndarray(format="gray") for f in cut.decode(video=0)]
    assert len(cut_luma) == 12
    for want, got in zip(source_luma[6:18], cut_luma, strict=True):
        np.testing.assert_array_equal(got, want)


def test_the_crop_passes_frames_of_another_size_to_the_scaler(tmp_path: Path) -> None:
    """A stream that changes resolution mid-way: the crop graph, set up for the first size,
    must not misread a frame of another size (the reformatter scales that one)."""
    src = write_clip(tmp_path / "odd.mp4", ClipSpec(n_frames=4, fps=Fraction(24), width=161,
                                                    height=121, codec="mpeg4", audio_hz=None))
    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        crop = cuts._even_crop(stream, 160, 120)
        assert crop is not None
        first = next(container.decode(stream))
        assert (crop(first).width, crop(first).height) == (160, 120)
    smaller = av.VideoFrame(64, 48, "yuv420p")
    assert crop(smaller) is smaller
    other_format = av.VideoFrame(161, 121, "rgb24")
    assert crop(other_format) is other_format
    with av.open(str(src)) as container:  # an even-sized target needs no crop at all
        assert cuts._even_crop(container.streams.video[0], 161, 121) is None


def test_a_crop_that_cannot_be_set_up_falls_back_to_scaling(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_clip(tmp_path / "odd.mp4", ClipSpec(n_frames=24, fps=Fraction(24), width=161,
                                                    height=121, codec="mpeg4", audio_hz=None))

    def no_graph() -> None:
        raise ValueError("no filter graph here")

    monkeypatch.setattr(av.filter, "Graph", no_graph)
    info = probe(src)
    out = tmp_path / "out"
    out.mkdir()
    (result,) = run(build_timeline(info, [Segment(0.25, 0.75)]), info, out)
    assert frame_indices(result.path) == list(range(6, 18))  # scaled, still the right frames
    with av.open(str(result.path)) as cut:
        assert (cut.streams.video[0].width, cut.streams.video[0].height) == (160, 120)
