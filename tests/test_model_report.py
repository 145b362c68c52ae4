"""scripts/model_report.py: rank statistics and baselines on hand-made arrays, and the report
end to end on a tiny clip with a tiny checkpoint."""

from __future__ import annotations

import importlib.util
import json
import sys
from fractions import Fraction
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from clipgen import ClipSpec, write_clip

from highlight_studio.model.checkpoint import save_checkpoint
from highlight_studio.model.config import RASLConfig
from highlight_studio.model.description import CheckpointMeta
from highlight_studio.model.rasl import RASL

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "model_report.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("model_report", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


report = _load()


def test_average_ranks_share_ties() -> None:
    np.testing.assert_array_equal(report.average_ranks(np.array([10.0, 30.0, 20.0, 30.0])),
                                  [0.0, 2.5, 1.0, 2.5])


def test_spearman_known_values() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert report.spearman(a, a ** 3) == pytest.approx(1.0)  # any increasing map
    assert report.spearman(a, -a) == pytest.approx(-1.0)
    # rank differences d = (0, 0, 1, -1, 0): rho = 1 - 6 * 2 / (5 * 24) = 0.9
    assert report.spearman(a, np.array([1.0, 2.0, 4.0, 3.0, 5.0])) == pytest.approx(0.9)
    assert report.spearman(a, np.full(5, 7.0)) is None  # a constant curve ranks nothing
    with pytest.raises(ValueError, match="length"):
        report.spearman(a, a[:4])


def test_top_overlap_and_chance() -> None:
    a = np.arange(20.0)  # top 10 % = steps 19, 18
    assert report.top_overlap(a, a) == 1.0
    assert report.top_overlap(a, -a) == 0.0
    b = a.copy()
    b[18] = -1.0  # keeps 19, swaps 18 for 17
    assert report.top_overlap(a, b) == 0.5
    assert report.top_count(21, 0.1) == 3 and report.top_count(3, 0.1) == 1
    stats = report.compare_rankings(a, b, 0.1)
    assert stats["top_overlap"] == 0.5 and stats["chance_overlap"] == 0.1


def test_feature_norm_curve() -> None:
    feats = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]], np.float32)
    np.testing.assert_allclose(report.feature_norm_curve(feats), [5.0, 0.0, 1.0])


def test_frame_difference_curve_first_step_copies_its_neighbour() -> None:
    frames = [np.full((2, 2, 3), v, np.uint8) for v in (0, 10, 250, 250)]
    # uint8 must not wrap: 10 -> 250 is 240, 250 -> 10 would be too
    np.testing.assert_array_equal(report.frame_difference_curve(iter(frames)),
                                  [10.0, 10.0, 240.0, 0.0])
    np.testing.assert_array_equal(report.frame_difference_curve(frames[:1]), [0.0])
    assert report.frame_difference_curve([]).shape == (0,)


def test_pick_extremes_keeps_apart_and_in_time_order() -> None:
    scores = np.array([0.0, 0.9, 1.0, 0.8, 0.1, 0.7, 0.2, 0.0])
    np.testing.assert_array_equal(report.pick_extremes(scores, 2, min_gap=2), [2, 5])
    np.testing.assert_array_equal(report.pick_extremes(scores, 3, min_gap=1), [1, 2, 3])
    np.testing.assert_array_equal(report.pick_extremes(-scores, 3, min_gap=3), [0, 4, 7])


def test_format_clock() -> None:
    assert report.format_clock(0) == "00:00"
    assert report.format_clock(59.9) == "00:59"
    assert report.format_clock(754.2) == "12:34"
    assert report.format_clock(3725) == "1:02:05"
    assert report.format_clock(7.75, tenths=True) == "00:07.7"
    assert report.format_clock(0.6, tenths=True) == "00:00.6"  # not 0.59999 -> .5


def test_report_writes_png_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = write_clip(tmp_path / "clip.mp4",
                      ClipSpec(n_frames=72, fps=Fraction(24), width=160, height=120))
    torch.manual_seed(0)
    config = RASLConfig(visual_dim=256, audio_dim=64, window=8, k=2)
    ckpt = save_checkpoint(tmp_path / "tiny", RASL(config), CheckpointMeta(
        config=config, backbone_id="test_tiny:seed0", step_seconds=0.25))
    png, out = tmp_path / "card.png", tmp_path / "card.json"
    code = report.main([str(clip), "--model", str(ckpt), "--png", str(png), "--json", str(out),
                        "--device", "cpu"])
    assert code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads(out.read_text())
    assert summary == json.loads(capsys.readouterr().out)
    assert summary["steps"] == 12 and summary["model"] == "tiny"
    assert summary["determinism"] == {"identical": True, "max_abs_difference": 0.0}
    assert len(summary["peaks"]) == len(summary["troughs"]) == 5
    for stats in summary["baselines"].values():
        assert stats["chance_overlap"] == pytest.approx(2 / 12)
        assert stats["spearman"] is None or -1.0 <= stats["spearman"] <= 1.0


def test_missing_model_is_a_clear_error(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    clip = write_clip(tmp_path / "clip.mp4", ClipSpec(n_frames=24, width=160, height=120))
    assert report.main([str(clip), "--model", "nope", "--png", str(tmp_path / "x.png")]) == 2
    assert "No model named 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
