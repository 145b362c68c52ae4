"""`analyze` over many files: one model load, per-file outputs and summaries, and a failed file
reported while the others finish."""

from __future__ import annotations

import json
import threading
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from clipgen import ClipSpec, write_clip

from highlight_studio import scoring
from highlight_studio.cli import main
from highlight_studio.media import probe, step_count
from highlight_studio.model.checkpoint import save_checkpoint
from highlight_studio.model.config import RASLConfig
from highlight_studio.model.description import CheckpointMeta
from highlight_studio.model.rasl import RASL


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    config = RASLConfig(visual_dim=256, audio_dim=64, window=8, k=2)
    meta = CheckpointMeta(config=config, backbone_id="test_tiny:seed0", step_seconds=0.25)
    return save_checkpoint(tmp_path_factory.mktemp("model") / "tiny", RASL(config), meta)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder: a.mp4 (3 s), b.mkv (2 s), broken.mp4 (not a video), notes.txt."""
    folder = tmp_path_factory.mktemp("clips")
    write_clip(folder / "a.mp4", ClipSpec(n_frames=72, fps=Fraction(24), width=160,
                                          height=120))
    write_clip(folder / "b.mkv", ClipSpec(n_frames=48, fps=Fraction(24), width=160, height=120,
                                          container="matroska"))
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"garbage" * 500)
    (folder / "notes.txt").write_text("not a clip")
    return folder


def _steps(path: Path) -> int:
    return len(json.loads(path.read_text())["scores"])


def test_a_corrupt_file_is_named_and_the_others_finish(
        clips: Path, tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    loads = []
    real = scoring.load_analyzer
    monkeypatch.setattr(scoring, "load_analyzer",
                        lambda *a, **k: loads.append(a) or real(*a, **k))
    out = tmp_path / "json"
    out.mkdir()
    code = main(["analyze", str(clips / "a.mp4"), str(clips / "broken.mp4"),
                 str(clips / "b.mkv"), "--checkpoint", str(tiny), "--device", "cpu",
                 "--json-dir", str(out), "--csv-dir", str(tmp_path)])
    stdout, stderr = capsys.readouterr()
    assert code == 1
    assert len(loads) == 1  # the model is loaded once for the batch
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "b.json"]
    b_steps = step_count(probe(clips / "b.mkv").duration, 0.25)  # Matroska rounds to ms
    assert (_steps(out / "a.json"), _steps(out / "b.json")) == (12, b_steps)
    assert (tmp_path / "a.csv").read_text().count("\n") == 13
    assert "broken.mp4: FAILED" in stdout and "a.mp4: 12 steps" in stdout
    assert f"b.mkv: {b_steps} steps" in stdout and "2 of 3 clips analysed" in stdout
    assert "1 of 3 clips failed" in stderr and str(clips / "broken.mp4") in stderr


def test_a_folder_and_a_list(clips: Path, tiny: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two clips\n{clips / 'a.mp4'}\n\n")
    good = tmp_path / "good"
    good.mkdir()
    (good / "b.mkv").write_bytes((clips / "b.mkv").read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    code = main(["analyze", f"@{listing}", str(good), "--checkpoint", str(tiny),
                 "--device", "cpu", "--json-dir", str(out)])
    assert code == 0, capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "b.json"]
    # --list is the same as @LIST; a folder's non-video files are not clips.
    code = main(["analyze", "--list", str(listing), "--checkpoint", str(tiny), "--device", "cpu",
                 "--json-dir", str(out)])
    assert code == 0
    code = main(["analyze", str(clips), "--checkpoint", str(tiny), "--device", "cpu"])
    stdout = capsys.readouterr().out
    assert code == 1 and "3 clips" in stdout and "notes.txt" not in stdout


@pytest.mark.parametrize(("extra", "message"), [
    (["--json", "{tmp}/a.json"], "--json and --csv name one file"),
    (["--json-dir", "{tmp}/missing"], "does not exist"),
])
def test_batch_output_mistakes_stop_before_the_model_loads(
        clips: Path, tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch, extra: list[str], message: str) -> None:
    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the outputs were checked")

    monkeypatch.setattr(scoring, "load_analyzer", no_model)
    args = [a.format(tmp=tmp_path) for a in extra]
    code = main(["analyze", str(clips / "a.mp4"), str(clips / "b.mkv"), *args])
    assert code == 1 and message in capsys.readouterr().err


def test_two_clips_of_one_name_are_refused(clips: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    other = tmp_path / "a.mp4"
    other.write_bytes((clips / "a.mp4").read_bytes())
    code = main(["analyze", str(clips / "a.mp4"), str(other), "--json-dir", str(tmp_path)])
    assert code == 1 and "outputs of the same name" in capsys.readouterr().err


def test_one_clip_can_write_into_a_folder(clips: Path, tiny: Path, tmp_path: Path) -> None:
    assert main(["analyze", str(clips / "a.mp4"), "--checkpoint", str(tiny), "--device", "cpu",
                 "--json-dir", str(tmp_path)]) == 0
    assert _steps(tmp_path / "a.json") == 12


def test_on_onnxruntime_two_files_in_flight_keep_the_order(clips: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """The shipped model on the CPU: files overlap, summaries and outputs stay per clip."""
    from highlight_studio.commands import analyze as command

    assert command.BATCH_IN_FLIGHT == 2
    seen = []
    real = command.analyse_file
    both_started = threading.Barrier(2, timeout=60)  # broken unless two files overlap

    def recording(analyzer, clip, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(analyzer.runtime)
        both_started.wait()
        return real(analyzer, clip, *args, **kwargs)

    monkeypatch.setattr(command, "analyse_file", recording)
    out = tmp_path / "json"
    out.mkdir()
    code = main(["analyze", str(clips / "b.mkv"), str(clips / "broken.mp4"),
                 str(clips / "a.mp4"), "--device", "cpu", "--no-cache", "--json-dir", str(out)])
    stdout = capsys.readouterr().out
    assert code == 1 and seen == ["onnxruntime", "onnxruntime"]
    lines = [line for line in stdout.splitlines() if ": " in line]
    assert [line.split(":")[0] for line in lines[:3]] == ["b.mkv", "broken.mp4", "a.mp4"]
    assert json.loads((out / "a.json").read_text())["model"] == "default"
    assert _steps(out / "a.json") == 15  # 3 s at the default model's 0.2 s steps


def test_skip_done_leaves_out_clips_whose_outputs_exist(clips: Path, tiny: Path,
                                                        tmp_path: Path,
                                                        capsys: pytest.CaptureFixture,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    from highlight_studio.commands import analyze as command

    out = tmp_path / "json"
    out.mkdir()
    (out / "a.json").write_text('{"done": "earlier"}\n')  # a.mp4 finished in an earlier run
    analysed: list[str] = []
    real = command.analyse_file
    monkeypatch.setattr(command, "analyse_file", lambda analyzer, clip, *a, **k:
                        analysed.append(clip.name) or real(analyzer, clip, *a, **k))
    args = ["analyze", str(clips / "a.mp4"), str(clips / "b.mkv"), "--checkpoint", str(tiny),
            "--device", "cpu", "--json-dir", str(out), "--skip-done"]
    assert main(args) == 0
    assert analysed == ["b.mkv"]
    assert json.loads((out / "a.json").read_text()) == {"done": "earlier"}
    assert _steps(out / "b.json") > 0
    assert "1 of 2 clips skipped" in capsys.readouterr().out
    assert main(args) == 0 and analysed == ["b.mkv"]  # a rerun finds both done
    # without an output folder there is nothing to look for
    assert main(["analyze", str(clips / "a.mp4"), "--skip-done"]) == 1
    assert "--skip-done looks for the outputs" in capsys.readouterr().err


def test_ray_without_ray_installed_or_outputs_is_a_clear_message(
        clips: Path, tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["analyze", str(clips / "a.mp4"), "--checkpoint", str(tiny), "--ray", "auto"])
    assert code == 1 and "name --json-dir and/or --csv-dir" in capsys.readouterr().err
    code = main(["analyze", str(clips / "a.mp4"), "--json", str(tmp_path / "a.json"),
                 "--ray", "auto"])
    assert code == 1 and "With --ray" in capsys.readouterr().err
