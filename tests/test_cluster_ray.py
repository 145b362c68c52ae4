"""The fan-out on a real Ray cluster this test starts on this machine (`ray start --head`,
two CPUs, so two worker processes) and stops again: no mocks.

Feature extraction on Ray writes byte for byte the files the local pool writes, and killing
one Ray worker while it holds a clip still finishes the batch (the clip is tried again).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import ray  # noqa: F401  (in the dev extra: these tests run wherever `make test` does)
from clusterjobs import PidReportingExtract
from raycluster import local_ray_cluster
from test_cluster import make_clips

from highlight_studio.cluster import BatchSummary, FileDone, FileFailed, map_files
from highlight_studio.features.corpus import ExtractSettings, extract_corpus

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ExtractSettings(backbone="test_tiny", step=0.25, device="cpu")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """Two CPUs, so two worker processes; they import this checkout and tests/ (the jobs)."""
    with local_ray_cluster(2, [ROOT, ROOT / "tests"]) as address:
        yield address


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for sub in ("visual", "audio") for p in sorted((folder / sub).iterdir())}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_clips(tmp_path_factory.mktemp("ray") / "clips")


@pytest.fixture(scope="module")
def local_features(clips: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local") / "feats"
    events = list(extract_corpus(clips, out, SETTINGS, workers=2))
    assert events[-1].summary.done == len(clips)
    return out


def test_ray_extraction_is_bit_identical_to_local(cluster: str, clips: list[Path],
                                                  local_features: Path,
                                                  tmp_path: Path) -> None:
    out = tmp_path / "feats"
    events = list(extract_corpus(clips, out, SETTINGS, ray_address=cluster))
    report = events[-1]
    assert (report.summary.done, report.summary.failed) == (len(clips), [])
    assert report.summary.where == cluster and report.summary.workers == 2
    workers = {e.worker for e in events if isinstance(e, FileDone)}
    assert workers and all(not w.endswith(f":{os.getpid()}") for w in workers)
    ray_files, local_files = _folder_bytes(out), _folder_bytes(local_features)
    assert ray_files.keys() == local_files.keys()
    assert "audio/no_audio.txt" in ray_files and ray_files["audio/no_audio.txt"] == b"c2\n"
    for name, data in local_files.items():
        assert ray_files[name] == data, name
    # a rerun on the cluster finds everything done
    again = list(extract_corpus(clips, out, SETTINGS, ray_address=cluster))
    assert (again[-1].summary.done, again[-1].summary.skipped) == (0, len(clips))


def test_killing_a_ray_worker_still_finishes(cluster: str, clips: list[Path],
                                             local_features: Path, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    killed: list[str] = []

    def kill_first_worker() -> None:
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            for mark in pids.iterdir():
                pid, clip = mark.name.split("-", 1)
                os.kill(int(pid), signal.SIGKILL)  # a Ray worker this test's cluster started
                killed.append(clip)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_first_worker, daemon=True)
    killer.start()
    events = list(map_files(PidReportingExtract(SETTINGS, pids), clips, ray_address=cluster))
    killer.join(timeout=5)
    assert killed, "no worker was killed"
    done = {Path(e.path).stem: e for e in events if isinstance(e, FileDone)}
    assert not [e for e in events if isinstance(e, FileFailed)]
    assert sorted(done) == ["c0", "c1", "c2", "c3"]
    assert done[killed[0]].attempts == 2  # the killed worker's clip ran again elsewhere
    summary = events[-1]
    assert isinstance(summary, BatchSummary) and summary.done == len(clips)
    for stem, event in done.items():  # and its result is still the local run's
        expected = np.load(local_features / "visual" / f"{stem}.npy")
        assert event.result.visual.tobytes() == expected.tobytes()


def test_ray_analysis_equals_local_and_a_rerun_skips_it(cluster: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    """`analyze --ray` on the cluster writes the documents a local batch writes, byte for
    byte, from worker processes; a rerun with --skip-done analyses nothing."""
    import torch

    from highlight_studio.cli import main
    from highlight_studio.model.checkpoint import save_checkpoint
    from highlight_studio.model.config import RASLConfig
    from highlight_studio.model.description import CheckpointMeta
    from highlight_studio.model.rasl import RASL

    torch.manual_seed(0)
    config = RASLConfig(visual_dim=256, audio_dim=64, window=8, k=2)
    model = save_checkpoint(tmp_path / "tiny", RASL(config),
                            CheckpointMeta(config=config, backbone_id="test_tiny:seed0",
                                           step_seconds=0.25))
    clips = make_clips(tmp_path / "clips")
    (tmp_path / "clips" / "broken.mp4").write_bytes(b"not a video" * 100)
    options = ["--checkpoint", str(model), "--device", "cpu", "--no-cache", "--threshold", "0.5"]
    common = [*map(str, clips), *options]
    local, remote = tmp_path / "local", tmp_path / "remote"
    local.mkdir()
    remote.mkdir()
    assert main(["analyze", *common, "--json-dir", str(local), "--csv-dir", str(local)]) == 0
    code = main(["analyze", *map(str, clips), str(tmp_path / "clips" / "broken.mp4"), *options,
                 "--json-dir", str(remote), "--csv-dir", str(remote), "--ray", cluster])
    out, err = capsys.readouterr()
    assert code == 1 and "broken.mp4" in err  # tried twice, then named; the others finished
    assert "FAILED after 2 tries" in out
    workers = {line.rsplit("[", 1)[1].split(",")[0] for line in out.splitlines()
               if line.startswith("c") and "[" in line}
    assert len(workers) >= 1 and not any(w.endswith(f":{os.getpid()}") for w in workers)
    names = sorted(p.name for p in local.iterdir())
    assert names == sorted(p.name for p in remote.iterdir()) and len(names) == 8
    for name in names:
        assert (remote / name).read_bytes() == (local / name).read_bytes(), name
    again = main(["analyze", *common, "--json-dir", str(remote), "--csv-dir", str(remote),
                  "--ray", cluster, "--skip-done"])
    assert again == 0 and "0 of 4 clips analysed, 4 skipped" in capsys.readouterr().out
