"""Analysis speed and memory against decode-only on the same file, in the same run.

Each measurement runs in its own subprocess so its peak resident memory (ru_maxrss) is its own
and one run's warm caches do not flatter the next. Rounds alternate decode / analysis so that
noise from other work on a shared machine hits both alike; the median is reported.

    python benchmarks/speed.py CLIP [CLIP ...] [--rounds 3] [--device cpu cuda] [--json F]

Analysis is cold (feature cache disabled), with the default backbone and the default model;
"decode-only" decodes the same frames at the same step and size and does nothing with them.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
mode, path, device = sys.argv[1], sys.argv[2], sys.argv[3]
from highlight_studio import media
if mode == "decode":
    from highlight_studio.features.visual import create_backbone
    size = create_backbone(device="cpu").input_size
    t0 = time.perf_counter()
    n = sum(1 for _ in media.iter_frames(path, step=0.2, size=size))
    if media.probe(path).has_audio:
        media.read_audio(path, 16000)
    wall = time.perf_counter() - t0
else:
    from highlight_studio.scoring import analyze, Analysis
    t0 = time.perf_counter()
    result = [e for e in analyze(path, use_cache=False, device=device)
              if isinstance(e, Analysis)]
    wall = time.perf_counter() - t0
    n = len(result[0].scores)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall": wall, "steps": n, "peak_mib": peak}))
"""


def _run(mode: str, clip: Path, device: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(clip), device],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(clip: Path, rounds: int, device: str = "cpu") -> dict:
    from highlight_studio.media import probe

    duration = probe(clip).duration
    runs: dict[str, list[dict]] = {"decode": [], "analyze": []}
    for _ in range(rounds):
        for mode in runs:
            runs[mode].append(_run(mode, clip, device))
    row: dict = {"clip": clip.name, "device": device, "duration_s": round(duration, 2)}
    for mode, results in runs.items():
        wall = statistics.median(r["wall"] for r in results)
        row[f"{mode}_wall_s"] = round(wall, 2)
        row[f"{mode}_x_realtime"] = round(duration / wall, 2)
        row[f"{mode}_peak_mib"] = round(max(r["peak_mib"] for r in results))
    row["analyze_over_decode"] = round(row["analyze_wall_s"] / row["decode_wall_s"], 2)
    return row


def machine() -> str:
    import os

    import torch

    cpu = platform.processor() or platform.machine()
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return (f"{platform.system()} {cpu}, {os.cpu_count()} cores{gpu}, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), python {platform.python_version()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("clips", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--device", nargs="+", default=["cpu"],
                        help="analysis device(s); decode-only is measured beside each")
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M")
    rows = [measure(c, args.rounds, d) for c in args.clips for d in args.device]
    report = {"machine": machine(), "date": started, "rounds": args.rounds, "rows": rows}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
