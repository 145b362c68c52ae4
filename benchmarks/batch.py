"""Batch throughput: ``analyze`` over a folder of clips with one or two files in flight.

    python benchmarks/batch.py [--copies 4] [--rounds 2] [--clip F]

A folder of ``--copies`` links to the clip (default: the sample trailer) is analysed by the CLI
in a fresh process with the feature cache off, alternating ``BATCH_IN_FLIGHT`` 1 and 2; medians
of wall and CPU seconds (whole process, all threads). On a machine other jobs keep busy, two
files in flight also win a larger share of the cores, so compare the CPU seconds too.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import sys
from highlight_studio.commands import analyze
analyze.BATCH_IN_FLIGHT = int(sys.argv[1])
from highlight_studio.cli import main
sys.exit(main(["analyze", sys.argv[2], "--no-cache", "--device", "cpu"]))
"""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=ROOT / "resources" / "samples" /
                        "trailer_bbb.mp4")
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.copies):
            (Path(tmp) / f"clip{i}{args.clip.suffix}").symlink_to(args.clip.resolve())
        for _ in range(args.rounds):
            for n in runs:
                cpu, wall = _cpu(), time.perf_counter()
                subprocess.run([sys.executable, "-c", CHILD, str(n), tmp], check=True, env=env,
                               stdout=subprocess.DEVNULL)
                runs[n].append((time.perf_counter() - wall, _cpu() - cpu))
    print(f"{args.copies} x {args.clip.name}, {args.rounds} rounds, "
          f"{len(os.sched_getaffinity(0))} cores\n")
    print("| files in flight | median wall | median CPU s |\n|---|---|---|")
    for n, results in runs.items():
        print(f"| {n} | {statistics.median(r[0] for r in results):.2f} s | "
              f"{statistics.median(r[1] for r in results):.2f} |")


if __name__ == "__main__":
    main()
