"""`highlight-studio train` under torchrun: real processes on the CPU (gloo), no mocks.

Two processes sharing a global batch must take the steps one process takes on that batch:
same windows, same masks, averaged gradients, same start. So their weights match one
process's within float tolerance (only the order of some sums differs), and a checkpoint of
either resumes on the other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from benchgen import write_benchmark

from highlight_studio.evaluation.benchmark import NO_AUDIO_LIST
from highlight_studio.model.checkpoint import load_checkpoint, training_state_path
from highlight_studio.model.description import read_meta

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--steps", "4", "--batch-size", "4", "--seed", "3", "--lr", "3e-3",
        "--checkpoint-every", "2", "--log-every", "1"]


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five clips of 16-wide visual and 3-wide audio features; one has no audio, so the audio
    windows of a batch fall unevenly over the two processes on some steps."""
    rng = np.random.default_rng(7)
    videos = {f"v{i}": {"domain": "d", "visual": rng.normal(size=(20 + 9 * i, 16)),
                        "labels": [0] * (20 + 9 * i)} for i in range(5)}
    root = write_benchmark(tmp_path_factory.mktemp("bench") / "set", "yth", videos)
    (root / "audio" / "v2.npy").unlink()
    (root / "audio" / NO_AUDIO_LIST).write_text("v2\n")
    return root


def _train(features: Path, out: Path, processes: int, *extra: str) -> subprocess.CompletedProcess:
    """One `train` run, in one process or under torchrun with ``processes`` ranks."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = ["-m", "highlight_studio", "train", "--features", str(features), "--out",
               str(out), "--window", "24", *ARGS, *extra]
    if processes > 1:
        command = ["-m", "torch.distributed.run", "--standalone",
                   f"--nproc-per-node={processes}", *command]
    done = subprocess.run([sys.executable, *command], capture_output=True, text=True,
                          timeout=300, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)[0].state_dict()


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        # RMSprop divides each gradient by its running size, so a last-bit difference in a sum
        # of a near-zero gradient grows to ~1e-5 in the weights (seen: 1.7e-5 on psi after 4
        # steps); a wrong shard or an unaveraged gradient moves weights by ~lr (3e-3).
        torch.testing.assert_close(wa[name], wb[name], rtol=1e-4, atol=1e-4, msg=name)


@pytest.mark.slow
def test_two_processes_train_like_one(features: Path, tmp_path: Path) -> None:
    one = tmp_path / "one.safetensors"
    two = tmp_path / "two.safetensors"
    _train(features, one, 1)
    done = _train(features, two, 2)
    _assert_same_weights(one, two)
    # the weights did move: equal because both trained alike, not because neither trained
    start = tmp_path / "zero.safetensors"
    _train(features, start, 1, "--steps", "1", "--lr", "1e-9")
    assert any(not torch.allclose(a, b, atol=1e-4) for a, b in
               zip(_weights(one).values(), _weights(start).values(), strict=True))

    meta = read_meta(two)
    assert meta.training_options["world_size"] == 2
    assert meta.training_options["global_batch"] == 4
    assert read_meta(one).training_options["world_size"] == 1
    card = (tmp_path / "two.card.md").read_text()
    assert "over 2 processes, 2 windows each" in card
    # rank 0 alone printed the summary and wrote the log, one line per logged step
    assert done.stdout.count('"checkpoint"') == 1
    log = [json.loads(line) for line in
           (tmp_path / "two.safetensors.log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2, 3, 4]
    log_one = [json.loads(line) for line in
               (tmp_path / "one.safetensors.log.jsonl").read_text().splitlines()]
    for a, b in zip(log, log_one, strict=True):  # the logged losses are the global batch's
        assert a["total"] == pytest.approx(b["total"], rel=1e-4, abs=1e-6)


@pytest.mark.slow
def test_resume_across_world_sizes(features: Path, tmp_path: Path) -> None:
    reference = tmp_path / "ref.safetensors"
    _train(features, reference, 1)
    # two processes for 2 steps, then one process to the end
    a = tmp_path / "a.safetensors"
    _train(features, a, 2, "--steps", "2")
    assert read_meta(a).train_step == 2 and training_state_path(a).exists()
    _train(features, a, 1, "--resume")
    _assert_same_weights(reference, a)
    # one process for 2 steps, then two to the end
    b = tmp_path / "b.safetensors"
    _train(features, b, 1, "--steps", "2")
    _train(features, b, 2, "--resume")
    _assert_same_weights(reference, b)
    assert read_meta(b).training_options["world_size"] == 2


@pytest.mark.slow
def test_batch_must_split_evenly(features: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
         "-m", "highlight_studio", "train", "--features", str(features), "--out",
         str(tmp_path / "odd"), "--window", "24", "--steps", "1", "--batch-size", "3"],
        capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert done.returncode != 0
    assert "make --batch-size a multiple of 2" in done.stderr
    # said in words: the only traceback is torchrun's own report that a child failed
    assert "highlight_studio/training" not in done.stderr


def test_shards_are_rows_of_the_global_batch() -> None:
    """The sampler's promise: every rank draws the whole batch and keeps its rows, so the
    shards stacked are one process's batch and every generator ends where that one does."""
    from highlight_studio.training.datasets import FeatureDataset
    from highlight_studio.training.distributed import Ranks, shard_rows

    rng = np.random.default_rng(0)
    clips = {f"c{i}": (rng.random((5 + 7 * i, 4)), rng.random((5 + 7 * i, 3)) if i != 1
                       else None) for i in range(4)}
    data = FeatureDataset(clips)
    whole_rng = np.random.default_rng(5)
    whole = data.sample(whole_rng, 6, 8)
    shards, states = [], []
    for rank in range(3):
        shard_rng = np.random.default_rng(5)
        shards.append(data.sample(shard_rng, 6, 8, rows=shard_rows(6, Ranks(rank, 3))))
        states.append(shard_rng.bit_generator.state)
    assert all(state == whole_rng.bit_generator.state for state in states)
    np.testing.assert_array_equal(torch.cat([s.visual for s in shards]), whole.visual)
    np.testing.assert_array_equal(torch.cat([s.source for s in shards]), whole.source)
    assert torch.cat([s.audio_rows for s in shards]).tolist() == whole.audio_rows.tolist()
    # audio weights: each shard's share of the batch's audio windows, relative to its size
    n_audio = int(whole.audio_rows.sum())
    for shard in shards:
        assert shard.audio_weight == pytest.approx(
            (int(shard.audio_rows.sum()) / 2) / (n_audio / 6))
    assert n_audio and np.mean([s.audio_weight for s in shards]) == pytest.approx(1.0)
