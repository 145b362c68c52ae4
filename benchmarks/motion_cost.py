"""What the motion stream costs: feature extraction with and without it, in the same run.

Four measurements on the same clip, each in its own subprocess (its own peak memory, no warm
caches from the previous one), alternating round by round so that noise from other work on a
shared machine hits them alike; medians of wall time and of CPU time (all the process's threads,
FFmpeg's included: steadier than wall time when other work shares the cores) are reported:

* ``decode``: the frames at the backbone's size, one per 0.2 s step (what extraction decodes);
* ``decode+motion``: the same, plus each step's grey pair and its motion descriptor (the work
  the motion stream adds to the decode thread);
* ``features``: ``extract_features`` with the default backbone, no cache, no audio (what an
  analysis spends on its clip), motion off;
* ``features+motion``: the same with the default motion stream.

    python benchmarks/motion_cost.py CLIP [--rounds 3] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODES = ("decode", "decode+motion", "features", "features+motion")

CHILD = r"""
import json, resource, sys, time
mode, path = sys.argv[1], sys.argv[2]
from highlight_studio import media
from highlight_studio.features.motion import DEFAULT_MOTION, MotionStream, frame_size
from highlight_studio.features.visual import create_backbone
backbone = create_backbone(device="cpu")
info = media.probe(path)
motion = DEFAULT_MOTION if mode.endswith("+motion") else None
t0, c0 = time.perf_counter(), time.process_time()
if mode.startswith("decode"):
    stream = MotionStream(media.step_count(info.duration, 0.2)) if motion else None
    pair_size = frame_size(info, motion) if motion else None
    n = 0
    for frame in media.iter_frames(path, 0.2, backbone.input_size, pair_size=pair_size):
        if stream is not None:
            stream.add(frame)
        n += 1
else:
    from highlight_studio.features.extract import ClipFeatures, extract_features
    *_, result = extract_features(path, backbone, 0.2, None, with_audio=False, motion=motion)
    assert isinstance(result, ClipFeatures) and (result.motion is not None) == bool(motion)
    n = len(result.visual)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall": wall, "cpu": cpu, "steps": n, "peak_mib": peak}))
"""


def _run(mode: str, clip: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(clip)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(clip: Path, rounds: int) -> dict:
    from highlight_studio.media import probe

    info = probe(clip)
    runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for _ in range(rounds):
        for mode in MODES:
            runs[mode].append(_run(mode, clip))
    row: dict = {"clip": clip.name, "size": f"{info.width}x{info.height}",
                 "fps": round(float(info.avg_fps), 3), "duration_s": round(info.duration, 2),
                 "steps": runs["features"][0]["steps"]}
    for mode, results in runs.items():
        wall = statistics.median(r["wall"] for r in results)
        row[mode] = {"wall_s": round(wall, 2), "x_realtime": round(info.duration / wall, 1),
                     "cpu_s": round(statistics.median(r["cpu"] for r in results), 2),
                     "walls_s": [round(r["wall"], 2) for r in results],
                     "cpus_s": [round(r["cpu"], 2) for r in results],
                     "peak_mib": round(max(r["peak_mib"] for r in results))}
    for clock in ("wall_s", "cpu_s"):
        extra = row["decode+motion"][clock] - row["decode"][clock]
        row[f"motion_ms_per_step_{clock[:-2]}"] = round(1000 * extra / row["steps"], 2)
        row[f"features_motion_over_plain_{clock[:-2]}"] = round(
            row["features+motion"][clock] / row["features"][clock], 3)
    return row


def machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.system()} {platform.processor() or platform.machine()}, {cores} cores "
            f"(load average {load:.1f} at the start), python {platform.python_version()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"),
              "rounds": args.rounds, "rows": [measure(c, args.rounds) for c in args.clips]}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
