"""Decoding with and without leaving unseen, unreferenced H.264 pictures undecoded; and what
skipping the deblocking filter would save and change.

    python benchmarks/decode_skip.py CLIP [--rounds 3] [--loop-filter]

Samples CLIP at 0.2 s steps to 224x224 as analysis does, alternating ``media.SKIP_UNSEEN`` on
and off, and reports the median wall and CPU seconds (this process, all threads) of each and
whether the frames at every step are identical.

``--loop-filter`` also alternates decoding as shipped with FFmpeg's ``skip_loop_filter=all``
(no deblocking: the H.264 decoder's cheapest lossy saving, which the app does not use), and
then analyses the clip both ways with the default model to show how far the features and the
curve move: the option is set on the stream the decoder opens by patching
``media.video_stream`` here, for the measurement only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from highlight_studio import media


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _sample(clip: Path) -> np.ndarray:
    return np.stack([f.image for f in media.iter_frames(clip, 0.2, (224, 224))])


def _timed(work: Callable[[], np.ndarray]) -> tuple[np.ndarray, float, float]:
    cpu, wall = _cpu(), time.perf_counter()
    result = work()
    return result, time.perf_counter() - wall, _cpu() - cpu


def _row(label: str, runs: list[tuple[float, float]]) -> str:
    wall = statistics.median(t[0] for t in runs)
    cpu = statistics.median(t[1] for t in runs)
    return f"| {label} | {wall:.2f} s | {cpu:.2f} s |"


def skip_unseen(clip: Path, rounds: int) -> None:
    times: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    frames: dict[bool, np.ndarray] = {}
    for _ in range(rounds):
        for skip in (True, False):
            media.SKIP_UNSEEN = skip
            frames[skip], wall, cpu = _timed(lambda: _sample(clip))
            times[skip].append((wall, cpu))
    media.SKIP_UNSEEN = True
    print("| decoding | median wall | median CPU |\n|---|---|---|")
    for skip, label in ((False, "every picture decoded"), (True, "unseen pictures skipped")):
        print(_row(label, times[skip]))
    print(f"identical frames at all {len(frames[True])} steps:",
          bool(np.array_equal(frames[True], frames[False])))


@contextlib.contextmanager
def _deblocking(on: bool) -> Iterator[None]:
    """Within the block, streams the decoder opens skip the loop filter unless ``on``."""
    plain = media.video_stream

    def without(container):  # type: ignore[no-untyped-def]
        stream = plain(container)
        if stream is not None:
            stream.codec_context.options = {"skip_loop_filter": "all"}
        return stream

    if not on:
        media.video_stream = without
    try:
        yield
    finally:
        media.video_stream = plain


def _analysed(clip: Path) -> tuple[np.ndarray, np.ndarray]:
    from highlight_studio.scoring import Analysis, analyze_clip, load_analyzer

    analyzer = load_analyzer(device="cpu")
    [result] = [e for e in analyze_clip(analyzer, clip, use_cache=False)
                if isinstance(e, Analysis)]
    assert result.visual is not None
    return result.visual, result.scores


def loop_filter(clip: Path, rounds: int) -> None:
    times: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    frames: dict[bool, np.ndarray] = {}
    for i in range(rounds):
        for skip_filter in (False, True) if i % 2 == 0 else (True, False):
            with _deblocking(not skip_filter):
                frames[skip_filter], wall, cpu = _timed(lambda: _sample(clip))
            times[skip_filter].append((wall, cpu))
    print("\n| decoding | median wall | median CPU |\n|---|---|---|")
    print(_row("as shipped (deblocked)", times[False]))
    print(_row("skip_loop_filter=all", times[True]))
    diff = np.abs(frames[True].astype(np.int16) - frames[False])
    print(f"pixels at 224x224: mean |difference| {diff.mean():.3f}, largest {diff.max()}")
    analysed = {}
    for skip_filter in (False, True):
        with _deblocking(not skip_filter):
            analysed[skip_filter] = _analysed(clip)
    (visual, curve), (visual_nf, curve_nf) = analysed[False], analysed[True]
    cosine = (visual * visual_nf).sum(1) / (np.linalg.norm(visual, axis=1)
                                            * np.linalg.norm(visual_nf, axis=1))
    top = max(1, len(curve) // 10)
    shared = len(set(np.argsort(-curve)[:top]) & set(np.argsort(-curve_nf)[:top])) / top
    moved = np.abs(curve - curve_nf)
    print(f"features: cosine min {cosine.min():.4f}, median {np.median(cosine):.4f}; "
          f"curve: largest |difference| {moved.max():.3f}, mean {moved.mean():.4f}, "
          f"Pearson {np.corrcoef(curve, curve_nf)[0, 1]:.4f}, top-10% steps shared {shared:.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop-filter", action="store_true")
    args = parser.parse_args()
    print(f"load average (1 min) {os.getloadavg()[0]:.1f} at the start")
    skip_unseen(args.clip, args.rounds)
    if args.loop_filter:
        loop_filter(args.clip, args.rounds)
    print(f"load average (1 min) {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
