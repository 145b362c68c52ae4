"""``highlight-studio export``: explicit segments, the model path (stand-in model), errors."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest
from clipgen import ClipSpec, write_clip

from highlight_studio import cli, scoring
from highlight_studio.events import Progress
from highlight_studio.media import probe


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("src") / "game day.mp4",
                      ClipSpec(n_frames=75, fps=Fraction(25), width=160, height=120, gop=10))


def edl_events(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line[:3].isdigit()]


def test_explicit_segments_write_every_format(clip: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cuts"
    out.mkdir()
    code = cli.main(["export", str(clip), "--segments", "0.4-1.0,2.0-2.8",
                     "--edl", str(tmp_path / "a.edl"), "--fcpxml", str(tmp_path / "a.fcpxml"),
                     "--otio", str(tmp_path / "a.otio"), "--mp4-dir", str(out), "--mode", "fast",
                     "--edl-preset", "avid"])
    assert code == 0, capsys.readouterr().err
    events = edl_events(tmp_path / "a.edl")
    # 0.4 s = frame 10, 1.0 s = 25, 2.0 s = 50, 2.8 s = 70 at 25 fps
    assert [(e[4], e[5]) for e in events] == [("00:00:00:10", "00:00:01:00"),
                                              ("00:00:02:00", "00:00:02:20")]
    timeline = otio.adapters.read_from_file(str(tmp_path / "a.otio"))
    assert [c.source_range.duration.value for c in timeline.tracks[0].find_clips()] == [15, 20]
    assert (tmp_path / "a.fcpxml").read_text().count("<clip ") == 2
    assert sorted(p.name for p in out.iterdir()) == [
        "game day_01_00-00-00-10.mp4", "game day_02_00-00-02-00.mp4"]
    printed = capsys.readouterr().out
    assert "asked 0.400-1.000 s" in printed  # fast mode tells where it really cut


def test_threshold_runs_the_model_path(clip: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    info = probe(clip)
    scores = np.zeros(15, np.float32)
    scores[5:10] = 0.9  # steps of 0.2 s: 1.0-2.0 s scores high

    def fake_analyze(path: Path, **kwargs: object) -> Iterator[Progress | scoring.Analysis]:
        yield Progress("scoring", 1, 1)
        yield scoring.Analysis(path=Path(path), info=info, model_name="stand-in",
                               backbone_id="none", step=0.2, scores=scores, device="cpu")

    monkeypatch.setattr(scoring, "analyze", fake_analyze)
    edl = tmp_path / "t.edl"
    assert cli.main(["export", str(clip), "--threshold", "0.5", "--edl", str(edl)]) == 0
    # the editor defaults' 0.5 s rolls: 0.5-2.5 s, frame 12.5 rounding up to 13 at 25 fps
    assert [(e[4], e[5]) for e in edl_events(edl)] == [("00:00:00:13", "00:00:02:13")]
    assert cli.main(["export", str(clip), "--threshold", "0.95", "--edl", str(edl)]) == 3


@pytest.mark.parametrize("argv", [
    ["--segments", "1-x", "--edl", "{tmp}/a.edl"],
    ["--segments", "2-1", "--edl", "{tmp}/a.edl"],
    ["--segments", "10-12", "--edl", "{tmp}/a.edl"],  # past the end of a 3 s clip
    ["--segments", "0-1", "--edl", "{clip}"],
    ["--segments", "0-1", "--mp4-dir", "{clip}/sub"],  # a parent that cannot be made
    ["--segments", "0-1", "--otio", "{tmp}/missing/a.otio"],
    ["--segments", "0-1"],
    ["--segments", "0-1", "--edl", "{tmp}/a.x", "--otio", "{tmp}/a.x"],  # one file, two flags
])
def test_user_errors_are_reported(clip: Path, tmp_path: Path, argv: list[str],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    before = clip.read_bytes()
    args = [a.format(tmp=tmp_path, clip=clip) for a in argv]
    assert cli.main(["export", str(clip), *args]) == 1
    assert capsys.readouterr().err.startswith("error: ")
    assert clip.read_bytes() == before
    assert list(tmp_path.iterdir()) == []


def test_an_mp4_name_clash_stops_the_export_before_any_file_is_written(
        clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A foreign file where a cut would go: refused before the EDL is written too, so a
    retrying script never finds half an export."""
    out = tmp_path / "cuts"
    out.mkdir()
    (out / "game day_01_00-00-00-10.mp4").write_text("precious")
    assert cli.main(["export", str(clip), "--segments", "0.4-1.0", "--edl",
                     str(tmp_path / "a.edl"), "--mp4-dir", str(out)]) == 1
    assert "not a cut this app made" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cuts"]
    assert (out / "game day_01_00-00-00-10.mp4").read_text() == "precious"


def test_an_empty_segment_list_is_an_error_not_the_model(
        clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    def no_analysis(*args: object, **kwargs: object) -> None:
        raise AssertionError("an empty --segments ran the model")

    monkeypatch.setattr(scoring, "analyze", no_analysis)
    assert cli.main(["export", str(clip), "--segments", "", "--edl",
                     str(tmp_path / "a.edl")]) == 1
    assert "not a segment" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_bad_template_is_refused_before_the_model_runs(clip: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    def no_analysis(*args: object, **kwargs: object) -> None:
        raise AssertionError("the clip was analysed before the template was checked")

    monkeypatch.setattr(scoring, "analyze", no_analysis)
    code = cli.main(["export", str(clip), "--threshold", "0.5", "--edl", str(tmp_path / "a.edl"),
                     "--mp4-dir", str(tmp_path), "--template", "{clip}_{take}"])
    assert code == 1
    assert "template" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nor was the EDL written first


def test_a_rate_editors_do_not_take_is_refused_before_the_model_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    src = write_clip(tmp_path / "webcam.mp4", ClipSpec(n_frames=15, fps=Fraction(15),
                                                       width=64, height=48, audio_hz=None))

    def no_analysis(*args: object, **kwargs: object) -> None:
        raise AssertionError("the clip was analysed before the rate was checked")

    monkeypatch.setattr(scoring, "analyze", no_analysis)
    assert cli.main(["export", str(src), "--threshold", "0.5",
                     "--edl", str(tmp_path / "a.edl")]) == 1
    assert "15.000 fps" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["webcam.mp4"]


def test_segments_past_the_end_are_reported_not_silently_cut(
        clip: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    edl = tmp_path / "a.edl"
    assert cli.main(["export", str(clip), "--segments", "0.4-1.0,2.0-5.0,8-9",
                     "--edl", str(edl)]) == 0
    assert [(e[4], e[5]) for e in edl_events(edl)] == [("00:00:00:10", "00:00:01:00"),
                                                      ("00:00:02:00", "00:00:03:00")]
    assert "2-5 s (trimmed), 8-9 s (dropped)" in caplog.text


def test_drop_frame_clip_with_embedded_timecode(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "cam.mp4", ClipSpec(
        n_frames=45, fps=Fraction(30000, 1001), width=160, height=120, timecode="01:00:00;00"))
    edl = tmp_path / "cam.edl"
    assert cli.main(["export", str(src), "--segments", "0.5-1.0", "--edl", str(edl),
                     "--reel-preset", "resolve"]) == 0  # the old spelling of --edl-preset
    lines = edl.read_text().splitlines()
    assert lines[1] == "FCM: DROP FRAME"
    # 0.5 s * 29.97 = 14.985 -> frame 15; 1.0 s -> 29.97 -> frame 30 (exclusive)
    (event,) = edl_events(edl)
    assert event[4:] == ["01:00:00;15", "01:00:01;00", "01:00:00;00", "01:00:00;15"]


@pytest.mark.parametrize(("preset", "reel"), [("avid", "A001C003"), ("resolve", "A001C003"),
                                              ("premiere", "AX")])
def test_reel_name_from_the_camera_file(tmp_path: Path, preset: str, reel: str) -> None:
    src = write_clip(tmp_path / "A001C003_220101.mov", ClipSpec(
        n_frames=25, fps=Fraction(25), width=160, height=120, timecode="14:30:00:00",
        reel="A001C003", container="mov"))
    edl = tmp_path / f"{preset}.edl"
    assert cli.main(["export", str(src), "--segments", "0.2-0.6", "--edl", str(edl),
                     "--edl-preset", preset]) == 0
    (event,) = edl_events(edl)
    assert event[1] == reel and event[4:6] == ["14:30:00:05", "14:30:00:15"]


def test_bit_depth_reaches_the_cuts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_clip(tmp_path / "hdr.mp4", ClipSpec(n_frames=24, fps=Fraction(24), width=96,
                                                    height=64, pix_fmt="yuv420p10le",
                                                    audio_hz=None))
    for depth, want in (("source", "yuv420p10le"), ("8", "yuv420p")):
        out = tmp_path / depth
        out.mkdir()
        code = cli.main(["export", str(src), "--segments", "0.25-0.75", "--mp4-dir", str(out),
                         "--bit-depth", depth])
        assert code == 0, capsys.readouterr().err
        (cut,) = out.iterdir()
        with av.open(str(cut)) as container:
            assert container.streams.video[0].codec_context.pix_fmt == want


def test_a_missing_mp4_folder_is_created(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "new" / "cuts"
    assert cli.main(["export", str(clip), "--segments", "0.4-1.0", "--mp4-dir", str(out),
                     "--mode", "fast"]) == 0
    assert [p.name for p in out.iterdir()] == ["game day_01_00-00-00-10.mp4"]


def test_a_failed_export_leaves_nothing_of_this_run(clip: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The second cut fails: the first cut, the timelines and the folder made for the cuts
    all go, and the exit code says so; an earlier file of another name stays."""
    from highlight_studio.errors import ExportError
    from highlight_studio.export import cuts

    verify = cuts._verify
    calls = []

    def second_fails(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise ExportError("the disk said no")
        return verify(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cuts, "_verify", second_fails)
    (tmp_path / "keep.edl").write_text("earlier")
    out = tmp_path / "new" / "cuts"
    assert cli.main(["export", str(clip), "--segments", "0.4-1.0,2.0-2.8", "--edl",
                     str(tmp_path / "a.edl"), "--otio", str(tmp_path / "a.otio"),
                     "--mp4-dir", str(out), "--mode", "fast"]) == 1
    assert "the disk said no" in capsys.readouterr().err
    assert len(calls) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.edl"]


def test_deinterlace_reaches_the_cuts(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    src = tmp_path / "tape.mp4"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.options = {"x264-params": "tff=1", "preset": "ultrafast"}
        for i in range(25):
            frame = av.VideoFrame.from_ndarray(np.full((64, 96, 3), i * 9, np.uint8), "rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    for flag, want in (([], 2), (["--deinterlace"], 1)):  # AV_FIELD_TT, AV_FIELD_PROGRESSIVE
        out_dir = tmp_path / f"out{len(flag)}"
        code = cli.main(["export", str(src), "--segments", "0.2-0.6", "--mp4-dir",
                         str(out_dir), *flag])
        assert code == 0, capsys.readouterr().err
        (cut,) = out_dir.iterdir()
        with av.open(str(cut)) as container:
            assert container.streams.video[0].codec_context.field_order == want


def test_segment_lists_are_formats_of_the_command(clip: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The command writes the window's JSON and CSV lists; typed segments have no score."""
    import csv
    import json

    listed, table = tmp_path / "s.json", tmp_path / "s.csv"
    assert cli.main(["export", str(clip), "--segments", "0.4-1.0,2.0-2.8", "--json",
                     str(listed), "--csv", str(table)]) == 0
    document = json.loads(listed.read_text())
    assert document["clip"] == str(clip) and document["model"] == ""
    assert document["segments"] == [
        {"start": 0.4, "end": 1.0, "duration": pytest.approx(0.6), "score": None},
        {"start": 2.0, "end": 2.8, "duration": pytest.approx(0.8), "score": None}]
    rows = list(csv.DictReader(table.open()))
    assert [(r["start"], r["end"], r["score"]) for r in rows] == [("0.400", "1.000", ""),
                                                                 ("2.000", "2.800", "")]
    assert "JSON" in capsys.readouterr().out


def test_the_joined_file_keeps_its_old_flag(clip: Path, tmp_path: Path) -> None:
    """--joined writes every segment into one more MP4; --reel, its first spelling, still
    does (hidden from --help, where "reel" now means only the EDL's reel field)."""
    for flag in ("--joined", "--reel"):
        out = tmp_path / flag.strip("-")
        assert cli.main(["export", str(clip), "--segments", "0.4-1.0,2.0-2.8", "--mp4-dir",
                         str(out), "--mode", "fast", flag]) == 0
        assert sorted(p.name for p in out.iterdir()) == [
            "game day_01_00-00-00-10.mp4", "game day_02_00-00-02-00.mp4",
            "game day_highlights.mp4"]


def test_help_names_each_reel_once(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["export", "--help"])
    text = capsys.readouterr().out
    assert "--edl-preset" in text and "--joined" in text
    assert "--reel-preset" not in text and "--reel " not in text
