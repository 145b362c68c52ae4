"""analyze(): a clip in, one score per step out, with the model choosing backbone and step."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from clipgen import ClipSpec, write_clip

from highlight_studio.cli import main
from highlight_studio.errors import ModelError
from highlight_studio.events import Cancelled, CancelToken, Progress
from highlight_studio.model.checkpoint import save_checkpoint
from highlight_studio.model.config import RASLConfig
from highlight_studio.model.description import CheckpointMeta
from highlight_studio.model.rasl import RASL
from highlight_studio.scoring import Analysis, analyze


def tiny_checkpoint(path: Path, backbone_id: str = "test_tiny:seed0", step: float = 0.25) -> Path:
    torch.manual_seed(0)
    config = RASLConfig(visual_dim=256, audio_dim=64, window=8, k=2)
    meta = CheckpointMeta(config=config, backbone_id=backbone_id, step_seconds=step)
    return save_checkpoint(path, RASL(config), meta)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 3 s at 24 fps -> 12 steps of 0.25 s
    path = tmp_path_factory.mktemp("clips") / "clip.mp4"
    return write_clip(path, ClipSpec(n_frames=72, fps=Fraction(24), width=160, height=120))


def run(path: Path, **kwargs) -> tuple[list[Progress], Analysis]:
    events = list(analyze(path, device="cpu", **kwargs))
    results = [e for e in events if isinstance(e, Analysis)]
    assert len(results) == 1 and events[-1] is results[0]
    return [e for e in events if isinstance(e, Progress)], results[0]


def test_one_score_per_step_normalised(clip: Path, tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(tmp_path / "m")
    progress, result = run(clip, checkpoint=ckpt)
    assert result.step == 0.25
    assert result.scores.shape == (12,)
    assert result.scores.min() == 0.0 and result.scores.max() == 1.0
    np.testing.assert_allclose(result.times, np.arange(12) * 0.25)
    assert result.backbone_id == "test_tiny:seed0" and result.model_name == "m"
    assert {"model", "features", "scoring"} <= {p.stage for p in progress}


def test_second_run_is_served_from_cache_with_same_curve(clip: Path, tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(tmp_path / "m")
    first_progress, first = run(clip, checkpoint=ckpt)
    second_progress, second = run(clip, checkpoint=ckpt)
    assert not any(p.message == "from cache" for p in first_progress)
    assert any(p.message == "from cache" for p in second_progress)
    np.testing.assert_array_equal(first.scores, second.scores)


def test_model_for_another_backbone_is_refused(clip: Path, tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(tmp_path / "m", backbone_id="test_tiny:other-weights")
    with pytest.raises(ModelError, match="trained on test_tiny:other-weights"):
        run(clip, checkpoint=ckpt)


def test_benchmark_feature_model_cannot_analyse_video(clip: Path, tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(tmp_path / "bench", backbone_id="features:yth-train")
    with pytest.raises(ModelError, match="precomputed features"):
        run(clip, checkpoint=ckpt)


def test_missing_model_names_where_it_looked(clip: Path) -> None:
    with pytest.raises(ModelError, match="No model named 'nope'"):
        run(clip, checkpoint="nope")


def test_cancel_before_features(clip: Path, tmp_path: Path) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run(clip, checkpoint=tiny_checkpoint(tmp_path / "m"), cancel=token)


def test_cli_writes_json_and_csv(clip: Path, tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(tmp_path / "m")
    out_json, out_csv = tmp_path / "a.json", tmp_path / "a.csv"
    code = main(["analyze", str(clip), "--checkpoint", str(ckpt), "--device", "cpu",
                 "--json", str(out_json), "--csv", str(out_csv), "--threshold", "0.5",
                 "--min-length", "0", "--merge-gap", "0", "--pre-roll", "0", "--post-roll", "0"])
    assert code == 0
    doc = json.loads(out_json.read_text())
    assert {"model", "step", "times", "scores", "segments"} <= set(doc)
    assert len(doc["times"]) == len(doc["scores"]) == 12
    for seg in doc["segments"]:
        pairs = zip(doc["times"], doc["scores"], strict=True)
        inside = [s for t, s in pairs if seg["start"] <= t < seg["end"]]
        assert inside and min(inside) >= 0.5 - 1e-6  # no rolls or merges: picked steps only
    rows = out_csv.read_text().splitlines()
    assert rows[0] == "time,score,segment" and len(rows) == 13


def test_cli_json_to_stdout(clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    """``--json -`` puts the document alone on stdout (for a pipe), the summary on stderr, and
    the document names the clip by its absolute path whatever folder the batch ran from."""
    monkeypatch.chdir(tmp_path)
    code = main(["analyze", str(clip), "--checkpoint", str(tiny_checkpoint(tmp_path / "m")),
                 "--device", "cpu", "--json", "-"])
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)["clip"] == str(clip.resolve())
    assert f"{clip.name}: 12 steps" in err and not (tmp_path / "-").exists()


def test_cli_reports_a_bad_clip_clearly(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    code = main(["analyze", str(bad), "--checkpoint", str(tiny_checkpoint(tmp_path / "m")),
                 "--device", "cpu"])
    assert code == 1
    assert "bad.mp4" in capsys.readouterr().err


@pytest.mark.parametrize(("outputs", "message"), [
    (["--json", "{tmp}/missing/a.json"], "does not exist"),
    (["--json", "{tmp}/same", "--csv", "{tmp}/same"], "same file"),
    (["--csv", "{clip}"], "source clip"),
    (["--json", "-", "--csv", "-"], "same file"),
    (["--json", "{tmp}/link.json"], "does not exist"),  # a link into a missing folder
    (["--json", "{tmp}"], "is a folder"),
])
def test_cli_output_mistakes_are_caught_before_the_analysis(
        clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
        outputs: list[str], message: str) -> None:
    from highlight_studio import scoring

    def no_analysis(*args: object, **kwargs: object) -> None:
        raise AssertionError("the clip was analysed before its outputs were checked")

    monkeypatch.setattr(scoring, "analyze", no_analysis)
    monkeypatch.setattr(scoring, "load_analyzer", no_analysis)
    before = clip.read_bytes()
    (tmp_path / "link.json").symlink_to(tmp_path / "gone" / "x.json")
    args = [a.format(tmp=tmp_path, clip=clip) for a in outputs]
    assert main(["analyze", str(clip), *args]) == 1
    assert message in capsys.readouterr().err
    assert clip.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["link.json"]


@pytest.mark.parametrize("container", ["matroska", "mp4"])
def test_a_cut_off_clip_is_analysed_with_a_warning(tmp_path: Path, container: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """A download that stopped halfway: the header still declares 6 s; the analysis covers
    the 3 s that are there and says so."""
    whole = write_clip(tmp_path / "whole", ClipSpec(
        n_frames=150, fps=Fraction(25), width=160, height=120, container=container,
        faststart=True))
    data = whole.read_bytes()
    cut = tmp_path / ("cut.mkv" if container == "matroska" else "cut.mp4")
    cut.write_bytes(data[:len(data) // 2])
    ckpt = tiny_checkpoint(tmp_path / "m")
    out = tmp_path / "a.json"
    with caplog.at_level("WARNING"):
        assert main(["analyze", str(cut), "--checkpoint", str(ckpt), "--device", "cpu",
                     "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert 1.5 < doc["duration"] < 4.5
    assert len(doc["scores"]) == math.ceil(doc["duration"] / 0.25 - 1e-6)
    assert any("cut off" in r.getMessage() and "cut." in r.getMessage()
               for r in caplog.records)
    caplog.clear()
    with caplog.at_level("WARNING"):  # the whole clip: no warning
        assert main(["analyze", str(whole), "--checkpoint", str(ckpt), "--device", "cpu",
                     "--json", str(out)]) == 0
    assert not any("cut off" in r.getMessage() for r in caplog.records)


def test_a_checkpoint_with_a_wrong_shaped_tensor_is_a_clear_cli_error(
        clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = tiny_checkpoint(tmp_path / "m")
    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    name = sorted(k for k, v in tensors.items() if v.ndim == 2)[0]
    tensors[name] = torch.zeros(3, 3)
    save_file(tensors, str(path), metadata=header)
    assert main(["analyze", str(clip), "--checkpoint", str(path), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and name in err and "Traceback" not in err
