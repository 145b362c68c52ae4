"""Decoding with and without leaving unseen, unreferenced H.264 pictures undecoded.

    python benchmarks/decode_skip.py CLIP [--rounds 3]

Samples CLIP at 0.2 s steps to 224x224 as analysis does, alternating ``media.SKIP_UNSEEN`` on
and off, and reports the median wall and CPU seconds (this process, all threads) of each and
whether the frames at every step are identical.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

import numpy as np

from highlight_studio import media


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    times: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    frames: dict[bool, np.ndarray] = {}
    for _ in range(args.rounds):
        for skip in (True, False):
            media.SKIP_UNSEEN = skip
            cpu, wall = _cpu(), time.perf_counter()
            frames[skip] = np.stack([f.image for f in media.iter_frames(args.clip, 0.2,
                                                                        (224, 224))])
            times[skip].append((time.perf_counter() - wall, _cpu() - cpu))
    for skip, label in ((False, "every picture decoded"), (True, "unseen pictures skipped")):
        wall = statistics.median(t[0] for t in times[skip])
        cpu = statistics.median(t[1] for t in times[skip])
        print(f"| {label} | {wall:.2f} s | {cpu:.2f} s |")
    print(f"identical frames at all {len(frames[True])} steps:",
          bool(np.array_equal(frames[True], frames[False])))


if __name__ == "__main__":
    main()
