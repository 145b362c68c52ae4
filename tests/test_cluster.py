"""The fan-out on a local process pool, and `highlight-studio extract` on it: real spawned
worker processes, real clips, no mocks."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from clipgen import ClipSpec, write_clip
from clusterjobs import FlakyJob

from highlight_studio.cli import main
from highlight_studio.cluster import (
    BatchSummary,
    ClusterError,
    FileDone,
    FileFailed,
    map_files,
)
from highlight_studio.evaluation.benchmark import read_benchmark_features
from highlight_studio.events import Cancelled, CancelToken, Progress
from highlight_studio.features.corpus import clip_ids
from highlight_studio.model.description import read_meta

EXTRACT = ["--backbone", "test_tiny", "--step", "0.25", "--workers", "2"]


def make_clips(folder: Path) -> list[Path]:
    """Four short clips of different lengths; the third has no audio track."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write_clip(folder / f"c{i}.mp4",
                       ClipSpec(n_frames=36 + 12 * i, width=64, height=48,
                                audio_hz=None if i == 2 else 330.0 + 110 * i))
            for i in range(4)]


def _outcomes(events: list) -> tuple[dict[str, FileDone], dict[str, FileFailed], BatchSummary]:
    done = {Path(e.path).name: e for e in events if isinstance(e, FileDone)}
    failed = {Path(e.path).name: e for e in events if isinstance(e, FileFailed)}
    summary = events[-1]
    assert isinstance(summary, BatchSummary)
    return done, failed, summary


def _files(folder: Path, *names: str) -> list[Path]:
    for name in names:
        (folder / name).write_bytes(b"x" * len(name))
    (folder / "marks").mkdir()
    return [folder / name for name in names]


def test_pool_retries_once_then_reports(tmp_path: Path) -> None:
    files = _files(tmp_path, "a.bin", "flaky.bin", "broken.bin", "b.bin")
    events = list(map_files(FlakyJob(tmp_path / "marks"), files, workers=2))
    done, failed, summary = _outcomes(events)
    assert set(done) == {"a.bin", "flaky.bin", "b.bin"}
    assert done["a.bin"].result[0] == 5 and done["flaky.bin"].result[0] == 9
    assert done["a.bin"].attempts == 1
    assert done["flaky.bin"].attempts == 2  # failed once, then done on its second try
    assert failed["broken.bin"].attempts == 2
    assert failed["broken.bin"].error == "broken.bin cannot be read"
    assert (summary.done, summary.skipped, len(summary.failed)) == (3, 0, 1)
    # the jobs ran in worker processes (set up there), not in this one
    assert all(e.result[1] not in (0, os.getpid()) for e in done.values())
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].done == progress[-1].total == 4


def test_pool_survives_a_worker_that_dies(tmp_path: Path) -> None:
    files = _files(tmp_path, "crash.bin", "c.bin")
    done, failed, _summary = _outcomes(list(map_files(FlakyJob(tmp_path / "marks"), files,
                                                     workers=1)))
    assert not failed and set(done) == {"crash.bin", "c.bin"}
    assert done["crash.bin"].attempts == 2  # its worker died under it; a new one took it


def test_cancelling_stops_the_workers(tmp_path: Path) -> None:
    files = _files(tmp_path, "slow.bin")
    marks = tmp_path / "marks"
    cancel = CancelToken()

    def cancel_once_started() -> None:
        while not (marks / "slow.bin.tried").exists():
            time.sleep(0.05)
        cancel.cancel()

    threading.Thread(target=cancel_once_started, daemon=True).start()
    with pytest.raises(Cancelled):
        list(map_files(FlakyJob(marks), files, workers=1, cancel=cancel))
    # the worker was stopped holding the file, not waited for until it finished it
    assert not (marks / "slow.bin.finished").exists()


def test_pool_skips_what_is_done(tmp_path: Path) -> None:
    files = _files(tmp_path, "0.bin", "1.bin", "2.bin")
    marks = tmp_path / "marks"
    events = list(map_files(FlakyJob(marks), files, workers=1,
                            skip=lambda p: p.endswith("1.bin")))
    done, _, summary = _outcomes(events)
    assert done["1.bin"].skipped and done["1.bin"].result is None
    assert not (marks / "1.bin.tried").exists()  # never handed to a worker
    assert (summary.done, summary.skipped) == (2, 1)


def test_without_ray_installed_the_message_says_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what Python does for a missing package
    (tmp_path / "a.bin").write_bytes(b"a")
    with pytest.raises(ClusterError, match=r"pip install 'highlight-studio\[cluster\]'"):
        list(map_files(FlakyJob(tmp_path), [tmp_path / "a.bin"], ray_address="auto"))


def test_clip_ids_are_unique_and_stable(tmp_path: Path) -> None:
    paths = [tmp_path / "a" / "x.mp4", tmp_path / "b" / "x.mp4", tmp_path / "y.mp4"]
    ids = clip_ids(paths)
    assert ids[str(paths[2])] == "y"
    assert len(set(ids.values())) == 3 and ids == clip_ids(paths)


@pytest.mark.slow
def test_extract_command_makes_a_training_folder(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    clips = make_clips(tmp_path / "clips")
    bad = tmp_path / "clips" / "bad.mp4"
    bad.write_bytes(b"not a video")
    listing = tmp_path / "corpus.txt"  # a list file: relative paths, a comment, a blank line
    listing.write_text("# corpus\nclips/c0.mp4\n\nclips/c1.mp4\n")
    out = tmp_path / "feats"
    # a list file and a folder (which holds c0 and c1 again: each clip is extracted once)
    assert main(["extract", str(listing), str(tmp_path / "clips"), "--out", str(out),
                 *EXTRACT]) == 1  # bad.mp4 failed: exit 1, the others are done
    report = json.loads(capsys.readouterr().out)
    assert (report["done"], report["skipped"]) == (4, 0)
    assert [Path(f["path"]).name for f in report["failed"]] == ["bad.mp4"]

    features = read_benchmark_features(out)
    assert sorted(features) == ["c0", "c1", "c2", "c3"]
    for i, clip in enumerate(clips):
        visual, audio = features[clip.stem]
        assert visual.shape[0] == (36 + 12 * i) // 6  # 24 fps, 0.25 s steps
        assert (audio is None) == (i == 2)
    described = json.loads((out / "features.json").read_text())
    assert described["backbone_id"] == "test_tiny:seed0"
    anno = json.loads((out / "anno.json").read_text())
    assert sorted(anno["videos"]) == ["c0", "c1", "c2", "c3"]
    assert "labels" not in anno["videos"]["c0"] and "protocol" not in anno

    # a rerun skips the finished clips and tries the broken one again
    first = (out / "visual" / "c1.npy").stat().st_mtime_ns
    assert main(["extract", str(tmp_path / "clips"), "--out", str(out), *EXTRACT]) == 1
    again = json.loads(capsys.readouterr().out)
    assert (again["done"], again["skipped"]) == (0, 4)
    assert (out / "visual" / "c1.npy").stat().st_mtime_ns == first

    # the folder trains, and the model records the backbone and step that made it
    assert main(["train", "--features", str(out), "--out", str(tmp_path / "m"), "--steps", "2",
                 "--window", "24", "--batch-size", "2"]) == 0
    meta = read_meta(tmp_path / "m.safetensors")
    assert (meta.backbone_id, meta.step_seconds) == ("test_tiny:seed0", 0.25)
    assert meta.training_data["audio"] == [True, True, False, True]


@pytest.mark.slow
def test_extracted_features_are_training_features(tmp_path: Path) -> None:
    """What extract stores is what training on the clip itself uses, to float16 rounding."""
    from highlight_studio.features.extract import ClipFeatures, extract_features
    from highlight_studio.features.visual import create_backbone

    clips = make_clips(tmp_path / "clips")[:2]
    out = tmp_path / "feats"
    assert main(["extract", *map(str, clips), "--out", str(out), *EXTRACT]) == 0
    backbone = create_backbone("test_tiny", device="cpu")
    for clip in clips:
        direct = next(e for e in extract_features(clip, backbone, 0.25, with_audio=True)
                  if isinstance(e, ClipFeatures))
        stored = np.load(out / "visual" / f"{clip.stem}.npy")
        assert stored.dtype == np.float16
        np.testing.assert_array_equal(stored, direct.visual.astype(np.float16))
        np.testing.assert_array_equal(np.load(out / "audio" / f"{clip.stem}.npy"),
                                      direct.audio.astype(np.float16))
