"""``highlight-studio evaluate`` on tiny benchmark folders of both protocols made here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from benchgen import write_benchmark

from highlight_studio.cli import main
from highlight_studio.evaluation import (
    evaluate_scores,
    read_benchmark_annotations,
    read_benchmark_features,
)
from highlight_studio.model.checkpoint import load_checkpoint, save_checkpoint
from highlight_studio.model.config import RASLConfig
from highlight_studio.model.description import CheckpointMeta
from highlight_studio.model.inference import score_sequence
from highlight_studio.model.rasl import RASL

# annotator A positives (> median 3): steps 3, 4, 5; annotator B (> median 2): steps 0, 1
TV_TRUTH = [[1, 5], [2, 5], [3, 1], [4, 1], [5, 1], [5, 2], [1, 2]]
TV_NORMS = [0.7, 0.1, 0.6, 0.9, 0.2, 0.05, 0.8]  # ranking 3, 6, 0, 2, 4 | 1, 5


def test_yth_feature_norm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_benchmark(tmp_path / "yth", "yth", {
        # norms 5, 1, 1.41 -> ranked labels 1, 0, -1 -> AP 1
        "vidA": {"domain": "dog", "visual": [[3, 4], [0, 1], [1, 1]], "labels": [1, -1, 0]},
        # norms 1, 2, 3 -> ranked labels 1, 0, 1 -> AP 1/2 + 0.5*(1/2+2/3)/2 = 19/24
        "vidC": {"domain": "dog", "visual": [[1, 0], [0, 2], [0, 3]], "labels": [1, 0, 1]},
        # norms 1, 2.83 -> ranked labels 0, 1 -> AP 1/4
        "vidB": {"domain": "surf", "visual": [[1, 0], [2, 2]], "labels": [1, 0]},
    })
    out_json, dump = tmp_path / "result.json", tmp_path / "scores.json"
    code = main(["evaluate", "--dataset", str(root), "--baseline", "feature-norm",
                 "--json", str(out_json), "--dump-scores", str(dump)])
    assert code == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].split() == ["dog", "surf", "Avg."]
    dog = (1 + 19 / 24) / 2
    assert table[2].split() == ["feature-norm", f"{dog:.3f}", "0.250", f"{(dog + 0.25) / 2:.3f}"]
    result = json.loads(out_json.read_text())
    assert result["baseline"] == "feature-norm" and result["protocol"] == "yth"
    assert result["per_video"] == pytest.approx({"vidA": 1.0, "vidB": 0.25, "vidC": 19 / 24})
    assert result["headline"] == pytest.approx((dog + 0.25) / 2)
    scores = json.loads(dump.read_text())
    assert scores["vidC"] == pytest.approx([1, 2, 3])
    assert scores["vidB"] == pytest.approx([1, np.sqrt(8)], rel=1e-3)


def test_outputs_never_replace_the_benchmark_nor_each_other(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_benchmark(tmp_path / "yth", "yth", {
        "vidA": {"domain": "dog", "visual": [[3, 4], [0, 1]], "labels": [1, 0]}})
    anno = (root / "anno.json").read_bytes()
    base = ["evaluate", "--dataset", str(root), "--baseline", "feature-norm"]
    assert main([*base, "--json", str(root / "anno.json")]) == 1
    assert "which this command reads" in capsys.readouterr().err
    assert (root / "anno.json").read_bytes() == anno
    same = str(tmp_path / "out.json")
    assert main([*base, "--json", same, "--dump-scores", same]) == 1
    assert "name the same file" in capsys.readouterr().err and not Path(same).exists()


def test_json_to_stdout_keeps_the_table_on_stderr(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    root = write_benchmark(tmp_path / "yth", "yth", {
        "vidA": {"domain": "dog", "visual": [[3, 4], [0, 1]], "labels": [1, 0]}})
    assert main(["evaluate", "--dataset", str(root), "--baseline", "feature-norm",
                 "--json", "-"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["headline"] == pytest.approx(1.0)  # stdout is the data alone
    assert "feature-norm" in err and not (Path.cwd() / "-").exists()


def test_tvsum_protocol(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_benchmark(tmp_path / "tv", "tvsum", {
        "t1": {"domain": "BK", "visual": [[x, 0] for x in TV_NORMS], "annotators": TV_TRUTH},
        # both annotators: positives (> median 3) are steps 0-4, the top 5 by norm -> AP 1
        "t2": {"domain": "VT", "visual": [[10 - k, 0] for k in range(10)],
               "annotators": [[5, 4]] * 5 + [[1, 2]] * 5},
    })
    out_json = tmp_path / "r.json"
    assert main(["evaluate", "--dataset", str(root), "--baseline", "feature-norm",
                 "--json", str(out_json)]) == 0
    assert "top-5 mAP" in capsys.readouterr().out
    # t1: A ranked top 5 -> [1,0,0,0,1] (n = 2), B -> [0,0,1,0,0] (worked out in
    # test_protocols.test_tvsum_median_rule_and_top5_cut)
    t1 = ((0.5 + 0.5 * (0.25 + 0.4) / 2) + 1 / 6) / 2
    result = json.loads(out_json.read_text())
    assert result["per_domain"] == pytest.approx({"BK": t1, "VT": 1.0})
    assert result["headline"] == pytest.approx((t1 + 1) / 2)


def test_a_tvsum_split_can_be_scored_alone(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """FORMAT.md's protocol averages every video of a domain (the default); UMT reports
    TVSum's val videos, which --split val scores alone."""
    root = write_benchmark(tmp_path / "tv", "tvsum", {
        "good": {"domain": "VT", "visual": [[10 - k, 0] for k in range(10)],
                 "annotators": [[5, 4]] * 5 + [[1, 2]] * 5},
        "bad": {"domain": "VT", "visual": [[k, 0] for k in range(10)],
                "annotators": [[5, 4]] * 5 + [[1, 2]] * 5},
    })
    anno = json.loads((root / "anno.json").read_text())
    anno["videos"]["good"]["split"], anno["videos"]["bad"]["split"] = "val", "train"
    (root / "anno.json").write_text(json.dumps(anno))
    base = ["evaluate", "--dataset", str(root), "--baseline", "feature-norm", "--json", "-"]
    assert main(base) == 0
    assert json.loads(capsys.readouterr().out)["headline"] == pytest.approx(0.5)  # 1 and 0
    assert main([*base, "--split", "val"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["headline"] == pytest.approx(1.0) and result["split"] == "val"
    yth = write_benchmark(tmp_path / "yth", "yth", {
        "vidA": {"domain": "dog", "visual": [[3, 4], [0, 1]], "labels": [1, 0]}})
    assert main(["evaluate", "--dataset", str(yth), "--baseline", "random", "--split",
                 "val"]) == 1
    assert "No video of yth is in split 'val'" in capsys.readouterr().err


def test_random_baseline_is_seeded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_benchmark(tmp_path / "s", "yth", {
        "v": {"domain": "d", "visual": np.eye(6), "labels": [1, 0, 0, 1, 0, 0]}})

    def dump(seed: int, name: str) -> list[float]:
        path = tmp_path / name
        assert main(["evaluate", "--dataset", str(root), "--baseline", "random",
                     "--seed", str(seed), "--dump-scores", str(path)]) == 0
        return json.loads(path.read_text())["v"]

    assert dump(1, "a.json") == dump(1, "b.json")
    assert dump(1, "a.json") != dump(2, "c.json")
    assert "random (seed 2)" in capsys.readouterr().out


def test_errors_are_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    assert main(["evaluate", "--dataset", str(tmp_path), "--baseline", "random"]) == 1
    assert "anno.json is missing" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a checkpoint and a baseline at once
        main(["evaluate", "--dataset", str(tmp_path), "--baseline", "random",
              "--checkpoint", "x"])


def test_checkpoint_scores_every_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    torch.manual_seed(0)
    config = RASLConfig(visual_dim=8, window=8, k=2)
    ckpt = save_checkpoint(tmp_path / "tiny", RASL(config),
                           CheckpointMeta(config=config, backbone_id="test", step_seconds=1.0))
    rng = np.random.default_rng(0)
    root = write_benchmark(tmp_path / "set", "yth", {
        "a": {"domain": "d1", "visual": rng.random((12, 8)), "labels": [1, 0, 0] * 4},
        "b": {"domain": "d2", "visual": rng.random((5, 8)), "labels": [0, 1, 1, 0, -1]},
    })
    out_json, dump = tmp_path / "r.json", tmp_path / "s.json"
    assert main(["evaluate", "--dataset", str(root), "--checkpoint", str(ckpt), "--device",
                 "cpu", "--json", str(out_json), "--dump-scores", str(dump)]) == 0
    assert "tiny" in capsys.readouterr().out
    model, _ = load_checkpoint(ckpt)
    expected = {vid: score_sequence(model, v) for vid, (v, _) in
                read_benchmark_features(root).items()}
    scores = json.loads(dump.read_text())
    for vid, curve in expected.items():
        np.testing.assert_allclose(scores[vid], curve, atol=1e-6)
    result = json.loads(out_json.read_text())
    assert result["checkpoint"] == str(ckpt)
    assert result["headline"] == pytest.approx(
        evaluate_scores(read_benchmark_annotations(root), expected).headline)

    assert main(["evaluate", "--dataset", str(root), "--checkpoint",
                 str(tmp_path / "missing.safetensors")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_readout_flag_overrides_the_checkpoint(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(1)
    config = RASLConfig(visual_dim=8, window=8, k=2)  # saved with the activation readout
    ckpt = save_checkpoint(tmp_path / "tiny", RASL(config),
                           CheckpointMeta(config=config, backbone_id="test", step_seconds=1.0))
    rng = np.random.default_rng(3)
    root = write_benchmark(tmp_path / "set", "yth", {
        "a": {"domain": "d1", "visual": rng.random((12, 8)), "labels": [1, 0, 0] * 4}})
    visual = read_benchmark_features(root)["a"][0]
    model, _ = load_checkpoint(ckpt)
    dumps = {}
    for readout in ("activation", "main_axis"):
        dumps[readout] = tmp_path / f"{readout}.json"
        assert main(["evaluate", "--dataset", str(root), "--checkpoint", str(ckpt),
                     "--readout", readout, "--dump-scores", str(dumps[readout])]) == 0
        assert f"({readout} readout)" in capsys.readouterr().out
        np.testing.assert_allclose(json.loads(dumps[readout].read_text())["a"],
                                   score_sequence(model, visual, readout=readout), atol=1e-6)
    assert (json.loads(dumps["activation"].read_text())
            != json.loads(dumps["main_axis"].read_text()))
    # without --readout, the checkpoint's own readout is used
    axis_config = RASLConfig(visual_dim=8, window=8, k=2, clip_readout="main_axis")
    axis_ckpt = save_checkpoint(tmp_path / "axis", model_with_config(model, axis_config),
                                CheckpointMeta(config=axis_config, backbone_id="test",
                                               step_seconds=1.0))
    own = tmp_path / "own.json"
    assert main(["evaluate", "--dataset", str(root), "--checkpoint", str(axis_ckpt),
                 "--dump-scores", str(own)]) == 0
    assert "(main_axis readout)" in capsys.readouterr().out
    assert json.loads(own.read_text()) == json.loads(dumps["main_axis"].read_text())
    assert main(["evaluate", "--dataset", str(root), "--baseline", "feature-norm",
                 "--readout", "main_axis"]) == 1
    assert "baseline" in capsys.readouterr().err


def model_with_config(model: RASL, config: RASLConfig) -> RASL:
    """The same weights under another config (one that adds or removes none)."""
    other = RASL(config)
    other.load_state_dict(model.state_dict())
    return other


def test_motion_model_reads_motion_and_refuses_a_set_without(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A model trained on visual+motion inputs is scored on both streams side by side; on a
    set without motion/ it stops with a message, not a shape error or a traceback."""
    torch.manual_seed(2)
    config = RASLConfig(visual_dim=16, window=8, k=2, visual_inputs="visual+motion")
    ckpt = save_checkpoint(tmp_path / "vm", RASL(config),
                           CheckpointMeta(config=config, backbone_id="test", step_seconds=1.0))
    rng = np.random.default_rng(5)
    videos = {"a": {"domain": "d", "visual": rng.random((10, 8)), "motion": rng.random((10, 8)),
                    "labels": [1, 0] * 5}}
    root = write_benchmark(tmp_path / "set", "yth", videos)
    dump = tmp_path / "s.json"
    assert main(["evaluate", "--dataset", str(root), "--checkpoint", str(ckpt),
                 "--dump-scores", str(dump)]) == 0
    model, _ = load_checkpoint(ckpt)
    both = read_benchmark_features(root, "visual+motion")["a"][0]
    np.testing.assert_allclose(json.loads(dump.read_text())["a"], score_sequence(model, both),
                               atol=1e-6)
    del videos["a"]["motion"]
    bare = write_benchmark(tmp_path / "bare", "yth", videos)
    capsys.readouterr()
    assert main(["evaluate", "--dataset", str(bare), "--checkpoint", str(ckpt)]) == 1
    assert "has no motion/ folder, but 'visual+motion' inputs need one" in capsys.readouterr().err
    assert main(["evaluate", "--dataset", str(bare), "--baseline", "motion-norm"]) == 1
    assert "has no motion/ folder" in capsys.readouterr().err
    assert main(["evaluate", "--dataset", str(root), "--baseline",
                 "visual+motion-main-axis"]) == 0
