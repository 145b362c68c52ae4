"""Corpus feature extraction: the local process pool against a Ray cluster on the same files
in the same run, and what N machines would take, from the measured per-file costs.

    python benchmarks/cluster_throughput.py [--copies 6] [--workers 2] [--json F]

The corpus is ``--copies`` copies of the sample clip (Big Buck Bunny trailer, 55 s, 640x360,
H.264 + AAC), extracted with the default backbone at 0.2 s steps, as `highlight-studio
extract` does. Runs alternate local / Ray so that noise from other work on a shared machine
hits both alike. The Ray run uses a one-node cluster started here with ``--workers`` CPUs
(tests/raycluster.py), so both runs have the same number of worker processes; its wall time
includes joining the cluster and each actor loading the backbone, as a real batch pays them.

The scaling estimate takes, from the Ray run, the mean worker seconds per media second (the
job's own time, measured in the worker) and the driver's seconds per clip (writing the arrays
and the index, measured here by rewriting the run's results), and assumes machines like this
one: wall(M machines of c workers) = fixed start + max(work / (M c), driver per clip x clips).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from raycluster import local_ray_cluster  # noqa: E402

from highlight_studio.cluster import FileDone  # noqa: E402
from highlight_studio.features.corpus import (  # noqa: E402
    CorpusFolder,
    CorpusReport,
    ExtractSettings,
    extract_corpus,
)
from highlight_studio.media import probe  # noqa: E402

SAMPLE = ROOT / "resources" / "samples" / "trailer_bbb.mp4"
SETTINGS = ExtractSettings(step=0.2, device="cpu")
CORPORA = {  # clip counts and mean clip seconds the estimate is made for
    "1,000 clips of 3 min (50 h)": (1000, 180.0),
    "ActivityNet-sized: 20,000 clips, 800 h": (20000, 144.0),
}


def _run(clips: list[Path], out: Path, ray_address: str | None, workers: int) -> dict:
    started = time.perf_counter()
    done: list[FileDone] = []
    report = None
    for event in extract_corpus(clips, out, SETTINGS, ray_address=ray_address,
                                workers=workers):
        if isinstance(event, FileDone) and not event.skipped:
            done.append(event)
        elif isinstance(event, CorpusReport):
            report = event
    wall = time.perf_counter() - started
    assert report is not None and not report.summary.failed, report
    return {"wall": wall, "worker_seconds": [e.seconds for e in done], "done": done}


def _driver_seconds_per_clip(done: list[FileDone], scratch: Path) -> float:
    """What the driving process spends per clip: the atomic writes of arrays and index."""
    folder = CorpusFolder(scratch, SETTINGS)
    started = time.perf_counter()
    for i, event in enumerate(done):
        folder.write(f"clip{i}", event.path, event.result)
    return (time.perf_counter() - started) / len(done)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="local/Ray pairs to run")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    try:
        clips = []
        for i in range(args.copies):
            clips.append(work / "clips" / f"bbb{i:02d}.mp4")
            clips[-1].parent.mkdir(exist_ok=True)
            shutil.copyfile(SAMPLE, clips[-1])
        media_seconds = probe(SAMPLE).duration * len(clips)
        local, on_ray = [], []
        with local_ray_cluster(args.workers, [ROOT]) as address:
            for r in range(args.rounds):
                local.append(_run(clips, work / f"local{r}", None, args.workers))
                on_ray.append(_run(clips, work / f"ray{r}", address, args.workers))
        same = all((work / "local0" / sub / f.name).read_bytes() == f.read_bytes()
                   for sub in ("visual", "audio")
                   for f in sorted((work / "ray0" / sub).iterdir()))
        driver = _driver_seconds_per_clip(on_ray[0]["done"], work / "driver")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def summary(runs: list[dict]) -> dict:
        wall = statistics.median(r["wall"] for r in runs)
        return {"wall_s": round(wall, 2), "clips_per_min": round(60 * len(clips) / wall, 2),
                "x_real_time": round(media_seconds / wall, 2),
                "worker_s_per_clip": round(statistics.mean(
                    s for r in runs for s in r["worker_seconds"]), 2)}

    results = {"machine": f"{platform.node()} ({os.cpu_count()} cores, shared), "
                          f"{platform.processor() or platform.machine()}",
               "python": sys.version.split()[0], "clips": len(clips),
               "media_s": round(media_seconds, 1), "workers": args.workers,
               "local_pool": summary(local), "ray": summary(on_ray),
               "ray_files_identical_to_local": same,
               "driver_s_per_clip": round(driver, 4)}
    ray_runs = on_ray
    worker_s_per_media_s = (sum(s for r in ray_runs for s in r["worker_seconds"])
                            / (media_seconds * len(ray_runs)))
    steady = sum(ray_runs[0]["worker_seconds"]) / args.workers
    fixed = max(0.0, statistics.median(r["wall"] for r in ray_runs) - steady)
    results["worker_s_per_media_s"] = round(worker_s_per_media_s, 4)
    results["ray_fixed_start_s"] = round(fixed, 1)
    estimate = {}
    for name, corpus in CORPORA.items():
        n_clips, clip_s = corpus
        work_s = n_clips * clip_s * worker_s_per_media_s
        row = {}
        for machines in (1, 2, 4, 8, 16, 64):
            wall = fixed + max(work_s / (machines * args.workers), driver * n_clips)
            row[machines] = round(wall / 3600, 2)
        estimate[name] = row
    results["estimate_hours_by_machines"] = estimate
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
