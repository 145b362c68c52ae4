"""The benchmark reader: label-free features, checked annotations, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from benchgen import write_benchmark

from highlight_studio.errors import DatasetError
from highlight_studio.evaluation import read_benchmark_annotations, read_benchmark_features

VISUAL_A = [[3.0, 4.0], [0.0, 1.0], [1.0, 1.0]]
VISUAL_B = [[1.0, 0.0], [2.0, 2.0]]


@pytest.fixture
def yth_dir(tmp_path: Path) -> Path:
    return write_benchmark(tmp_path / "set", "yth", {
        "vidB": {"domain": "surf", "visual": VISUAL_B, "labels": [0, 1]},
        "vidA": {"domain": "dog", "visual": VISUAL_A, "labels": [1, -1, 0]},
    })


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        np.array_equal(a[k][0], b[k][0])
        and (a[k][1] is None if b[k][1] is None else np.array_equal(a[k][1], b[k][1]))
        for k in a
    )


def test_features_are_float32_sorted_by_id_with_audio(yth_dir: Path) -> None:
    feats = read_benchmark_features(yth_dir)
    assert list(feats) == ["vidA", "vidB"]
    visual, audio = feats["vidA"]
    assert visual.dtype == np.float32 and audio is not None and audio.dtype == np.float32
    np.testing.assert_array_equal(visual, np.array(VISUAL_A, dtype=np.float32))
    np.testing.assert_array_equal(audio, np.arange(9, dtype=np.float32).reshape(3, 3))


def test_features_never_read_labels(yth_dir: Path, tmp_path: Path) -> None:
    reference = read_benchmark_features(yth_dir)
    no_anno = tmp_path / "no_anno"
    shutil.copytree(yth_dir, no_anno)
    (no_anno / "anno.json").unlink()
    garbage = tmp_path / "garbage_anno"
    shutil.copytree(yth_dir, garbage)
    (garbage / "anno.json").write_text("not json at all", encoding="utf-8")
    assert _same(read_benchmark_features(no_anno), reference)
    assert _same(read_benchmark_features(garbage), reference)


def test_features_without_audio_folder(tmp_path: Path) -> None:
    root = write_benchmark(tmp_path / "s", "yth", {"v": {"domain": "d", "visual": VISUAL_B,
                                                         "labels": [0, 1]}}, audio_dim=0)
    assert read_benchmark_features(root)["v"][1] is None


def test_features_errors(yth_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no visual/ folder"):
        read_benchmark_features(tmp_path)
    (yth_dir / "audio" / "vidA.npy").unlink()
    with pytest.raises(DatasetError, match=r"Missing feature file .*vidA\.npy"):
        read_benchmark_features(yth_dir)
    np.save(yth_dir / "audio" / "vidA.npy", np.zeros((2, 3), np.float16))
    with pytest.raises(DatasetError, match="3 visual steps but 2 audio steps"):
        read_benchmark_features(yth_dir)


def test_annotations_yth(yth_dir: Path) -> None:
    anno = read_benchmark_annotations(yth_dir)
    assert anno.protocol == "yth" and anno.name == "set"
    assert anno.domains == ["dog", "surf"]
    np.testing.assert_array_equal(anno.videos["vidA"].labels, [1, -1, 0])
    assert anno.videos["vidA"].n_steps == 3 and anno.videos["vidB"].domain == "surf"


def test_annotations_tvsum(tmp_path: Path) -> None:
    scores = [[1, 5], [3, 2], [4, 4]]
    root = write_benchmark(tmp_path / "tv", "tvsum", {
        "v1": {"domain": "BK", "visual": VISUAL_A, "annotators": scores}})
    truth = read_benchmark_annotations(root).videos["v1"]
    assert truth.labels is None
    np.testing.assert_array_equal(truth.annotator_scores, scores)


def _edit_anno(root: Path, edit) -> None:
    anno = json.loads((root / "anno.json").read_text())
    edit(anno)
    (root / "anno.json").write_text(json.dumps(anno))


def test_annotation_errors(yth_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"anno\.json is missing"):
        read_benchmark_annotations(tmp_path)

    _edit_anno(yth_dir, lambda a: a.update(protocol="summe"))
    with pytest.raises(DatasetError, match="unknown protocol 'summe'"):
        read_benchmark_annotations(yth_dir)

    def too_short(a: dict) -> None:
        a.update(protocol="yth")
        a["videos"]["vidA"]["labels"] = [1, 0]
        del a["videos"]["vidA"]["n_steps"]

    _edit_anno(yth_dir, too_short)
    with pytest.raises(DatasetError, match="vidA: 3 feature steps but 2 labelled steps"):
        read_benchmark_annotations(yth_dir)

    _edit_anno(yth_dir, lambda a: a["videos"]["vidA"].update(labels=[1, 0, 0]))
    (yth_dir / "visual" / "vidB.npy").unlink()
    with pytest.raises(DatasetError, match=r"Missing feature file .*vidB\.npy"):
        read_benchmark_annotations(yth_dir)


def test_annotation_needs_truth_for_its_protocol(yth_dir: Path) -> None:
    _edit_anno(yth_dir, lambda a: a.update(protocol="tvsum"))
    with pytest.raises(DatasetError, match="missing annotators"):
        read_benchmark_annotations(yth_dir)


def test_malformed_labels_are_reported(yth_dir: Path) -> None:
    _edit_anno(yth_dir, lambda a: a["videos"]["vidA"].update(labels=[1, "x", 0]))
    with pytest.raises(DatasetError, match="vidA: labels must be a list of -1, 0 or 1"):
        read_benchmark_annotations(yth_dir)
    _edit_anno(yth_dir, lambda a: a["videos"]["vidA"].update(labels=[1, 2, 0]))
    with pytest.raises(DatasetError, match="vidA: labels must be"):
        read_benchmark_annotations(yth_dir)
    _edit_anno(yth_dir, lambda a: a["videos"]["vidA"].update(labels=[1, 0.5, 0]))
    with pytest.raises(DatasetError, match="vidA: labels must be"):  # not truncated to 0
        read_benchmark_annotations(yth_dir)


def test_segments_and_video_ids_are_checked(yth_dir: Path) -> None:
    _edit_anno(yth_dir, lambda a: a["videos"]["vidA"].update(segments=[[0, 100]] * 2))
    with pytest.raises(DatasetError, match="vidA: 2 segments but 3 labels"):
        read_benchmark_annotations(yth_dir)
    _edit_anno(yth_dir, lambda a: a["videos"]["vidA"].update(segments=[[0, 100]] * 3))
    assert read_benchmark_annotations(yth_dir).videos["vidA"].n_steps == 3
    text = (yth_dir / "anno.json").read_text()
    entry = json.dumps(json.loads(text)["videos"]["vidB"])
    (yth_dir / "anno.json").write_text(text.replace('"vidB": ', f'"vidB": {entry}, "vidB": ', 1))
    with pytest.raises(DatasetError, match="the key 'vidB' appears twice"):
        read_benchmark_annotations(yth_dir)


def test_evaluation_reads_only_the_annotated_videos(yth_dir: Path) -> None:
    """A stray feature file (another set's, or macOS's ._ copy) without audio or annotation
    neither stops an evaluation nor is scored in it."""
    from highlight_studio.evaluation import read_visual_features, unannotated_feature_files

    np.save(yth_dir / "visual" / "stray.npy", np.ones((2, 2), np.float16))
    (yth_dir / "visual" / "._vidA.npy").write_bytes(b"\x00\x05\x16\x07 resource fork")
    ids = list(read_benchmark_annotations(yth_dir).videos)
    visual = read_visual_features(yth_dir, ids)
    assert sorted(visual) == ["vidA", "vidB"] and visual["vidA"].dtype == np.float32
    assert unannotated_feature_files(yth_dir, ids) == ["stray"]
    (yth_dir / "visual" / "stray.npy").unlink()
    assert sorted(read_benchmark_features(yth_dir)) == ["vidA", "vidB"]  # ._ copy skipped


def test_visual_and_motion_inputs_side_by_side(tmp_path: Path) -> None:
    from highlight_studio.evaluation import read_model_inputs

    motion_a = [[5.0], [6.0], [7.0]]
    root = write_benchmark(tmp_path / "s", "yth", {
        "vidA": {"domain": "dog", "visual": VISUAL_A, "motion": motion_a, "labels": [1, 0, 0]}})
    both = read_model_inputs(root, ["vidA"], "visual+motion")["vidA"]
    np.testing.assert_array_equal(both, np.concatenate([VISUAL_A, motion_a], axis=1))
    assert both.dtype == np.float32
    assert read_benchmark_features(root, "visual+motion")["vidA"][0].shape == (3, 3)
    np.save(root / "motion" / "vidA.npy", np.zeros((2, 1), np.float16))
    with pytest.raises(DatasetError, match="3 visual steps but 2 motion steps"):
        read_model_inputs(root, ["vidA"], "visual+motion")
    with pytest.raises(DatasetError, match="Unknown visual inputs 'visual\\+audio'"):
        read_model_inputs(root, ["vidA"], "visual+audio")


def test_motion_inputs_refused_without_a_motion_folder(yth_dir: Path) -> None:
    from highlight_studio.evaluation import read_model_inputs

    for read in (lambda: read_model_inputs(yth_dir, ["vidA"], "visual+motion"),
                 lambda: read_benchmark_features(yth_dir, "visual+motion")):
        with pytest.raises(DatasetError, match="has no motion/ folder, but 'visual\\+motion' "
                                               "inputs need one"):
            read()
    assert read_model_inputs(yth_dir, ["vidA"])["vidA"].shape == (3, 2)  # visual alone: fine
