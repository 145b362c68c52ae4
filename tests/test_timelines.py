"""The frame model and the EDL / FCPXML / OTIO writers, read back through OTIO's readers."""

from __future__ import annotations

import dataclasses
import errno
import os
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from clipgen import ClipSpec, write_clip

from highlight_studio.errors import ExportError
from highlight_studio.export.timecode import frames_to_timecode
from highlight_studio.export.timeline import (
    build_timeline,
    frame_ranges,
    seconds_to_frame,
    to_otio,
)
from highlight_studio.export.timelines import (
    EDL_PRESETS,
    edl_reel,
    edl_text,
    verify_edl,
    verify_fcpxml,
    write_edl,
    write_fcpxml,
    write_otio,
)
from highlight_studio.media import MediaInfo, probe
from highlight_studio.segments import Segment

NTSC = Fraction(30000, 1001)
SEGMENTS = [Segment(40.0, 48.2), Segment(12.0, 15.5)]  # unsorted on purpose


def make_info(rate: Fraction, *, timecode: str | None = None, channels: int = 2,
              name: str = "my clip.mp4", vfr: bool = False, avg: Fraction | None = None
              ) -> MediaInfo:
    return MediaInfo(
        path=Path("/footage") / name, duration=60.0, avg_fps=avg or rate, real_fps=rate,
        frame_count=round(60 * rate), width=320, height=240, rotation=0,
        has_audio=channels > 0, audio_rate=48_000 if channels else None,
        audio_channels=channels or None, start_timecode=timecode, start_time=0.0,
        video_codec="h264", is_vfr=vfr,
    )


def expected_frames(rate: Fraction) -> list[tuple[int, int]]:
    """The documented rule, computed independently: nearest frame boundary, halves up."""
    out = []
    for seg in sorted(SEGMENTS, key=lambda s: s.start):
        start, end = Fraction(str(seg.start)), Fraction(str(seg.end))
        out.append((int(start * rate + Fraction(1, 2)), int(end * rate + Fraction(1, 2))))
    return out


def test_rounding_rule() -> None:
    assert seconds_to_frame(12.0, Fraction(25)) == 300
    assert seconds_to_frame(0.02, Fraction(25)) == 1  # exactly half a frame rounds up
    assert seconds_to_frame(0.0199, Fraction(25)) == 0
    assert seconds_to_frame(48.2, NTSC) == 1445  # 1444.55 -> 1445
    assert seconds_to_frame(0.1, Fraction(10)) == 1  # 0.1 is one frame, not 0.999...


def test_frame_ranges_clamp_and_reject() -> None:
    assert frame_ranges([Segment(-1.0, 0.5), Segment(59.5, 70.0)], Fraction(24), 1440) == [
        (0, 12), (1428, 1440)]
    with pytest.raises(ExportError, match="overlaps"):
        frame_ranges([Segment(1.0, 3.0), Segment(2.0, 4.0)], Fraction(24), 1440)
    with pytest.raises(ExportError, match="No segment"):
        frame_ranges([Segment(100.0, 110.0)], Fraction(24), 1440)
    with pytest.raises(ExportError, match="ends before"):
        frame_ranges([Segment(3.0, 2.0)], Fraction(24), 1440)


def test_a_segment_shorter_than_a_frame_is_said(caplog: pytest.LogCaptureFixture) -> None:
    short = Segment(1.0, 1.015)  # rounds to frame 25 both ends at 25 fps
    assert frame_ranges([short, Segment(2.0, 3.0)], Fraction(25), 1500) == [(50, 75)]
    assert "1 segment(s) shorter than one frame left out: 1-1.015 s" in caplog.text
    with pytest.raises(ExportError, match=r"shorter than one frame at 25\.000 fps"):
        frame_ranges([short], Fraction(25), 1500)


def test_timeline_model_is_rational_and_contiguous() -> None:
    tl = build_timeline(make_info(NTSC, timecode="01:00:00;00"), SEGMENTS)
    assert tl.rate == NTSC and tl.source_start == 107892  # 01:00:00;00 in DF
    assert tl.record_start == 107892
    assert [(c.src_in, c.src_out) for c in tl.cuts] == expected_frames(NTSC)
    assert tl.cuts[0].rec_in == 0 and tl.cuts[1].rec_in == tl.cuts[0].frames


def test_unusable_start_timecode_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    tl = build_timeline(make_info(Fraction(25), timecode="01:00:00:29"), SEGMENTS)
    assert tl.source_start == 0 and "ignoring its start timecode" in caplog.text


def test_vfr_phone_rate_conforms_to_nearest_standard() -> None:
    info = make_info(Fraction(90000), vfr=True, avg=Fraction(2997, 100))
    assert build_timeline(info, SEGMENTS).rate == NTSC


def test_a_vfr_base_rate_that_is_a_standard_rate_but_not_the_clips_is_not_used(
        tmp_path: Path) -> None:
    """A 30 fps phone clip with a few frames 1/60 s apart has base rate 60: frames counted at
    60 would not exist, so it is conformed to 30 like any VFR clip."""
    pts, t = [], 0.0
    for i in range(300):
        pts.append(round(t, 6))
        t += 1 / 60 if i % 50 == 25 else 1 / 30
    clip = write_clip(tmp_path / "phone.mp4", ClipSpec(n_frames=300, fps=Fraction(30),
                                                       pts_seconds=tuple(pts), audio_hz=None))
    info = probe(clip)
    assert info.is_vfr and info.real_fps == 60  # what FFmpeg reports for such a clip
    assert build_timeline(info, [Segment(1.0, 2.5), Segment(5.0, 8.75)]).rate == 30
    steady = make_info(Fraction(30), vfr=True, avg=Fraction(2995, 100))  # a standard base
    assert build_timeline(steady, SEGMENTS).rate == 30  # a standard base rate stays
    dropped = make_info(Fraction(30), vfr=True, avg=Fraction(296, 10))  # a few frames lost
    assert build_timeline(dropped, SEGMENTS).rate == 30  # not 29.97 drop-frame


def edl_events(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line[:3].isdigit()]


@pytest.mark.parametrize(("rate", "fcm", "sep"), [
    (Fraction(24000, 1001), "FCM: NON-DROP FRAME", ":"),
    (Fraction(24), "FCM: NON-DROP FRAME", ":"),
    (Fraction(25), "FCM: NON-DROP FRAME", ":"),
    (NTSC, "FCM: DROP FRAME", ";"),
    (Fraction(30), "FCM: NON-DROP FRAME", ":"),
    (Fraction(50), "FCM: NON-DROP FRAME", ":"),
    (Fraction(60000, 1001), "FCM: DROP FRAME", ";"),
    (Fraction(60), "FCM: NON-DROP FRAME", ":"),
])
def test_edl_timecode_and_round_trip(tmp_path: Path, rate: Fraction, fcm: str, sep: str
                                     ) -> None:
    tl = build_timeline(make_info(rate), SEGMENTS, name="Highlights")
    path = write_edl(tl, tmp_path / "cut.edl", "premiere")
    text = path.read_text()
    lines = text.splitlines()
    assert lines[0] == "TITLE: Highlights" and lines[1] == fcm
    events = edl_events(text)
    assert len(events) == 2
    rec = 0
    for (src_in, src_out), event in zip(expected_frames(rate), events, strict=True):
        _num, reel, channel, kind, s_in, s_out, r_in, r_out = event
        assert (reel, channel, kind) == ("AX", "AA/V", "C")
        assert s_in == frames_to_timecode(src_in, rate) and sep in s_in
        assert s_out == frames_to_timecode(src_out, rate)  # exclusive out point
        # 01:00:00:00 counts nominal frames; in drop-frame 108 labels an hour are skipped
        start = {NTSC: 107892, Fraction(60000, 1001): 215784}.get(rate, round(rate) * 3600)
        assert r_in == frames_to_timecode(start + rec, rate)
        rec += src_out - src_in
        assert r_out == frames_to_timecode(start + rec, rate)
    assert events[0][6] == f"01:00:00{sep}00"
    assert "* FROM CLIP NAME:  my clip.mp4" in lines
    # OTIO's own reader sees picture and both sound channels at the same frames
    read = otio.adapters.read_from_string(text, "cmx_3600", rate=float(rate))
    assert sorted(t.name for t in read.tracks) == ["A1", "A2", "V"]
    for track in read.tracks:
        got = [(round(c.source_range.start_time.value), round(c.source_range.duration.value))
               for c in track.find_clips()]
        assert got == [(a, b - a) for a, b in expected_frames(rate)]


def test_edl_source_timecode_offset_and_reels(tmp_path: Path) -> None:
    tl = build_timeline(make_info(Fraction(25), timecode="10:00:00:00", channels=1), SEGMENTS)
    tl = dataclasses.replace(tl, tape="tape-42 extra")
    avid = write_edl(tl, tmp_path / "avid.edl", "avid").read_text()
    first = edl_events(avid)[0]
    assert first[1] == "TAPE42EX" and first[2] == "B"  # mono: picture + A1
    assert first[4] == "10:00:12:00" and first[6] == "01:00:00:00"
    resolve = edl_text(tl, EDL_PRESETS["resolve"])
    assert edl_events(resolve)[0][1] == "tape42ex"
    premiere = edl_text(tl, EDL_PRESETS["premiere"])
    assert edl_events(premiere)[0][1] == "AX"
    assert edl_reel(None, EDL_PRESETS["avid"]) == "AX"
    assert edl_reel("--", EDL_PRESETS["avid"]) == "AX"


def test_a_reel_the_edl_cannot_hold_whole_is_said(caplog: pytest.LogCaptureFixture) -> None:
    """A camera reel longer than CMX 3600's 8 characters is cut, and a conform by reel name
    may then miss it: the user is told, and how to match instead."""
    assert edl_reel("A001_C003_0101AB", EDL_PRESETS["resolve"]) == "A001_C00"
    assert "'A001_C003_0101AB' is written as 'A001_C00'" in caplog.text
    assert "Assist using reel names" in caplog.text
    caplog.clear()
    assert edl_reel("撮影一", EDL_PRESETS["resolve"]) == "AX"  # nothing left of it: said too
    assert "'撮影一' is written as 'AX'" in caplog.text
    caplog.clear()
    assert edl_reel("a001", EDL_PRESETS["avid"]) == "A001"  # capitals alone: still matches
    assert edl_reel("A001", EDL_PRESETS["resolve"]) == "A001"
    assert caplog.text == ""


def test_an_edl_past_midnight_wraps_its_labels_and_still_verifies(tmp_path: Path) -> None:
    """Time-of-day timecode that starts 10 s before midnight: the events roll over."""
    tl = build_timeline(make_info(Fraction(25), timecode="23:59:50:00"), SEGMENTS)
    events = edl_events(write_edl(tl, tmp_path / "late.edl").read_text())
    assert [e[4] for e in events] == ["00:00:02:00", "00:00:30:00"]  # 12 s and 40 s in


def test_an_edl_event_across_midnight_is_refused_clearly(tmp_path: Path) -> None:
    tl = build_timeline(make_info(Fraction(25), timecode="23:59:50:00"), [Segment(5.0, 15.0)])
    with pytest.raises(ExportError, match="past midnight in the clip's timecode"):
        write_edl(tl, tmp_path / "x.edl")
    assert list(tmp_path.iterdir()) == []
    assert write_fcpxml(tl, tmp_path / "x.fcpxml").exists()  # rational times: no midnight


def test_an_event_ending_at_midnight_is_refused_clearly_too(tmp_path: Path) -> None:
    tl = build_timeline(make_info(Fraction(25), timecode="23:59:50:00"), [Segment(5.0, 10.0)])
    with pytest.raises(ExportError, match="past midnight"):
        write_edl(tl, tmp_path / "x.edl")


def test_a_non_drop_clip_just_before_midnight_exports(tmp_path: Path) -> None:
    """Its labels lie past the drop-frame day (2,589,408 frames) but within the non-drop one."""
    tl = build_timeline(make_info(NTSC, timecode="23:59:00:00"), [Segment(1.0, 2.0)])
    (event,) = edl_events(write_edl(tl, tmp_path / "late.edl").read_text())
    assert event[4:6] == ["23:59:01:00", "23:59:02:00"]


def test_non_drop_rewrite_touches_only_the_event_times(tmp_path: Path) -> None:
    """A non-drop 29.97 source whose file and folder names look like drop-frame labels."""
    info = dataclasses.replace(make_info(NTSC, timecode="10:00:00:00"),
                               path=Path("/footage/shoot 10:00:00;12/game 10:01:00;00.mp4"))
    tl = build_timeline(info, SEGMENTS)
    text = write_edl(tl, tmp_path / "ndf.edl").read_text()
    assert "game 10:01:00;00.mp4" in text and "shoot 10:00:00;12" in text
    assert all(";" not in line for line in text.splitlines() if line[:3].isdigit())


def test_edl_without_audio_has_video_events_only(tmp_path: Path) -> None:
    tl = build_timeline(make_info(Fraction(24), channels=0), SEGMENTS)
    text = write_edl(tl, tmp_path / "v.edl").read_text()
    assert {e[2] for e in edl_events(text)} == {"V"}


def test_tampered_edl_is_rejected(tmp_path: Path) -> None:
    tl = build_timeline(make_info(Fraction(25)), SEGMENTS)
    path = write_edl(tl, tmp_path / "cut.edl")
    text = path.read_text()
    bad_in = frames_to_timecode(tl.cuts[0].src_in, Fraction(25))
    bad = frames_to_timecode(tl.cuts[0].src_in + 1, Fraction(25))
    bad_out = frames_to_timecode(tl.cuts[0].src_out + 1, Fraction(25))
    path.write_text(text.replace(f"{bad_in} {frames_to_timecode(tl.cuts[0].src_out, 25)}",
                                 f"{bad} {bad_out}", 1))
    with pytest.raises(ExportError, match="does not match"):
        verify_edl(path, tl)


def test_unknown_preset_and_odd_rate(tmp_path: Path) -> None:
    tl = build_timeline(make_info(Fraction(24)), SEGMENTS)
    with pytest.raises(ExportError, match="preset"):
        write_edl(tl, tmp_path / "x.edl", "vegas")
    odd = build_timeline(make_info(Fraction(15)), SEGMENTS)
    with pytest.raises(ExportError, match="standard editing rate"):
        write_edl(odd, tmp_path / "x.edl")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("rate", [Fraction(24000, 1001), Fraction(25), NTSC, Fraction(48)])
def test_fcpxml_is_on_the_frame_grid(tmp_path: Path, rate: Fraction) -> None:
    label = "01:00:00;00" if rate == NTSC else "01:00:00:00"  # each rate's own convention
    tl = build_timeline(make_info(rate, timecode=label), SEGMENTS)
    path = write_fcpxml(tl, tmp_path / "cut.fcpxml")
    root = ET.parse(path).getroot()
    fmt = root.find("./resources/format")
    assert fmt is not None and Fraction(fmt.get("frameDuration", "").rstrip("s")) == 1 / rate
    clips = root.findall("./project/sequence/spine/clip")
    assert len(clips) == 2
    sequence = root.find("./project/sequence")
    assert sequence is not None
    record = Fraction(sequence.get("tcStart", "").rstrip("s")) * rate
    assert record == {NTSC: 107892}.get(rate, round(rate) * 3600)  # 01:00:00:00
    for clip, (a, b) in zip(clips, expected_frames(rate), strict=True):
        start = Fraction(clip.get("start", "").rstrip("s")) * rate
        duration = Fraction(clip.get("duration", "").rstrip("s")) * rate
        offset = Fraction(clip.get("offset", "").rstrip("s")) * rate
        assert (start, duration, offset) == (tl.source_start + a, b - a, record)
        record += b - a
        assert clip.find("./video/audio") is not None
    browser = root.findall("./asset-clip")  # the event's clip of the whole media
    assert len(browser) == 1 and Fraction(browser[0].get("start", "0s").rstrip("s")) * rate == (
        tl.source_start)  # starts with the media (01:00:00:00), not at 0s before it
    assert isinstance(otio.adapters.read_from_file(str(path), "fcpx_xml"), otio.schema.Timeline)


def test_non_drop_camera_timecode_at_29_97_is_kept_non_drop(tmp_path: Path) -> None:
    """A camera set to non-drop at 29.97: every label the EDL, FCPXML and cut names carry
    must be the camera's own, or a conform lands 108 frames an hour off."""
    tl = build_timeline(make_info(NTSC, timecode="01:00:00:00"), SEGMENTS)
    assert tl.source_start == 108_000 and not tl.drop_frame
    text = write_edl(tl, tmp_path / "ndf.edl").read_text()
    assert "FCM: NON-DROP FRAME" in text.splitlines() and ";" not in text
    (a, b), _ = expected_frames(NTSC)
    first = edl_events(text)[0]
    assert first[4:8] == [frames_to_timecode(108_000 + a, NTSC, False),
                          frames_to_timecode(108_000 + b, NTSC, False),
                          "01:00:00:00", frames_to_timecode(108_000 + b - a, NTSC, False)]
    assert first[4] == "01:00:12:00"  # 12 s in: frame 360 of 30-frame labels
    root = ET.parse(write_fcpxml(tl, tmp_path / "ndf.fcpxml")).getroot()
    sequence = root.find("./project/sequence")
    assert sequence is not None and sequence.get("tcFormat") == "NDF"
    assert Fraction(sequence.get("tcStart", "").rstrip("s")) * NTSC == 108_000
    dropped = build_timeline(make_info(NTSC, timecode="01:00:00;00"), SEGMENTS)
    assert dropped.drop_frame and "FCM: DROP FRAME" in write_edl(
        dropped, tmp_path / "df.edl").read_text()


def test_tampered_fcpxml_is_rejected(tmp_path: Path) -> None:
    tl = build_timeline(make_info(NTSC), SEGMENTS)
    path = write_fcpxml(tl, tmp_path / "cut.fcpxml")
    root = ET.parse(path)
    clip = root.getroot().find("./project/sequence/spine/clip")
    assert clip is not None
    clip.set("duration", "1/10s")  # three frames would be 1001/10000s: off the grid
    root.write(path)
    with pytest.raises(ExportError, match="frame boundary"):
        verify_fcpxml(path, tl)


def test_fcpxml_format_keeps_anamorphic_pixels(tmp_path: Path) -> None:
    hdv = dataclasses.replace(make_info(Fraction(25)), width=1440, height=1080,
                              pixel_aspect=Fraction(4, 3))
    root = ET.parse(write_fcpxml(build_timeline(hdv, SEGMENTS), tmp_path / "hdv.fcpxml"))
    fmt = root.getroot().find("./resources/format")
    assert fmt is not None and (fmt.get("paspH"), fmt.get("paspV")) == ("4", "3")
    square = ET.parse(write_fcpxml(build_timeline(make_info(Fraction(25)), SEGMENTS),
                                   tmp_path / "sq.fcpxml")).getroot().find("./resources/format")
    assert square is not None and "paspH" not in square.attrib


def test_a_browser_clip_outside_its_media_is_rejected(tmp_path: Path) -> None:
    tl = build_timeline(make_info(Fraction(25), timecode="01:00:00:00"), SEGMENTS)
    path = write_fcpxml(tl, tmp_path / "cut.fcpxml")
    tree = ET.parse(path)
    browser = tree.getroot().find("./asset-clip")
    assert browser is not None
    del browser.attrib["start"]  # what the adapter wrote: media time 0s
    tree.write(path)
    with pytest.raises(ExportError, match="outside its media"):
        verify_fcpxml(path, tl)


def test_otio_round_trip(tmp_path: Path) -> None:
    tl = build_timeline(make_info(Fraction(24000, 1001), timecode="00:59:00:00"), SEGMENTS)
    path = write_otio(tl, tmp_path / "cut.otio")
    read = otio.adapters.read_from_file(str(path))
    assert read.global_start_time.value == 86400  # 01:00:00:00 at 23.976 NDF
    assert [t.kind for t in read.tracks] == ["Video", "Audio"]
    for track in read.tracks:
        got = [(c.source_range.start_time.value - 84960, c.source_range.duration.value)
               for c in track.find_clips()]
        assert got == [(a, b - a) for a, b in expected_frames(Fraction(24000, 1001))]
    assert read.tracks[0][0].media_reference.target_url == Path("/footage/my clip.mp4").as_uri()


def test_otio_matches_the_in_memory_model() -> None:
    tl = build_timeline(make_info(Fraction(25)), SEGMENTS)
    assert to_otio(tl).tracks[0].duration().value == tl.frames


def test_never_writes_over_the_source(tmp_path: Path) -> None:
    source = tmp_path / "my clip.mp4"
    source.write_bytes(b"original")
    tl = build_timeline(make_info(Fraction(25)), SEGMENTS)
    tl = dataclasses.replace(tl, source=source)
    for write in (write_edl, write_fcpxml, write_otio):
        with pytest.raises(ExportError, match="source"):
            write(tl, source)
    assert source.read_bytes() == b"original"


def test_missing_folder_and_read_only_folder(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    tl = build_timeline(make_info(Fraction(25)), SEGMENTS)
    with pytest.raises(ExportError, match="does not exist"):
        write_edl(tl, tmp_path / "nowhere" / "cut.edl")

    def refuse(src: str, dst: str) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ExportError, match="read-only"):
        write_otio(tl, tmp_path / "cut.otio")
    assert list(tmp_path.iterdir()) == []  # no partial file left behind
