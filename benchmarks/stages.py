"""Where a cold CPU analysis spends its time, stage by stage, in one process.

    python benchmarks/stages.py CLIP [--rounds 3] [--json F]

Each round times, in this order: loading the model and backbone (ONNX Runtime, no torch), decoding
the frames alone (at the backbone's input size, as analysis decodes them; FFmpeg's own thread
choice, as decode-only in cold_start.py, and on one thread, as the analysis decodes on 2 cores),
the backbone alone on those frames (already in memory, one thread), scoring the features, and
then the whole pipelined analysis (no cache) twice, in alternating order: as shipped (the decode
thread shares the backbone's work and decodes on one FFmpeg thread on <= 2 cores, see
features/extract.py) and as before (the decode thread only decodes, with FFmpeg's frame
threads, beside the one-thread backbone). The imports are timed in a fresh interpreter each
round. Wall and CPU seconds (user + sys of this process, all threads) per stage: on a machine
others keep busy, wall time follows the share of the cores a stage wins, so CPU seconds are the
steadier figure. Medians over the rounds; the machine and its load average are in the output.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cold_start import ROOT, machine

sys.path.insert(0, str(ROOT))  # this checkout's package, whatever the environment installed

IMPORTS = ("import time; t = time.perf_counter(); import highlight_studio.scoring, "
           "highlight_studio.commands.analyze, onnxruntime, av; "
           "print(time.perf_counter() - t)")
PIPELINED = "pipelined analysis (in process)"
BEFORE = "pipelined as before (decoder only decodes, frame threads)"


def import_seconds() -> tuple[float, float]:
    """Wall seconds of the imports (the child's own timing) and the whole child's CPU."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-c", IMPORTS], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return float(out.stdout.strip()), cpu


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(times: dict[str, tuple[float, float]], stage: str, work: Callable[[], object]
           ) -> object:
    cpu, wall = _cpu(), time.perf_counter()
    result = work()
    times[stage] = (time.perf_counter() - wall, _cpu() - cpu)
    return result


def one_round(clip: Path, index: int) -> dict[str, tuple[float, float]]:
    import numpy as np

    from highlight_studio.features import extract
    from highlight_studio.features.extract import ClipFeatures, extract_features
    from highlight_studio.media import iter_frames
    from highlight_studio.model.inference import score_sequence
    from highlight_studio.scoring import Analysis, analyze_clip, load_analyzer

    times: dict[str, tuple[float, float]] = {"imports (fresh interpreter)": import_seconds()}
    analyzer = _timed(times, "load models", lambda: load_analyzer(device="cpu"))
    frames = _timed(times, "decode + scale only", lambda: np.stack(
        [f.image for f in iter_frames(clip, analyzer.meta.step_seconds,
                                      analyzer.backbone.input_size)]))
    _timed(times, "decode + scale only, one FFmpeg thread", lambda: sum(
        1 for _ in iter_frames(clip, analyzer.meta.step_seconds, analyzer.backbone.input_size,
                               threads=1)))

    def backbone() -> None:
        for start in range(0, len(frames), 8):
            analyzer.backbone.embed(frames[start:start + 8])

    _timed(times, "backbone only", backbone)
    *_, features = extract_features(clip, analyzer.backbone, analyzer.meta.step_seconds, None,
                                    with_audio=False)
    assert isinstance(features, ClipFeatures)
    _timed(times, "RASL scoring", lambda: score_sequence(analyzer.scorer, features.visual))

    def pipelined(shared: bool) -> None:
        real = extract._embeds_concurrently
        if not shared:  # the decode thread keeps to decoding, with FFmpeg's frame threads
            extract._embeds_concurrently = lambda backbone: False  # type: ignore[assignment]
        try:
            results = [e for e in analyze_clip(analyzer, clip, use_cache=False)
                       if isinstance(e, Analysis)]
        finally:
            extract._embeds_concurrently = real  # type: ignore[assignment]
        assert len(results) == 1 and analyzer.runtime == "onnxruntime"

    order = [(PIPELINED, True), (BEFORE, False)]
    for stage, shared in order if index % 2 == 0 else order[::-1]:
        _timed(times, stage, lambda shared=shared: pipelined(shared))
    times["frames"] = (len(frames), len(frames))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from highlight_studio.media import probe

    duration = probe(args.clip).duration
    loads, rounds = [], []
    for i in range(args.rounds):
        loads.append(os.getloadavg()[0])
        rounds.append(one_round(args.clip, i))
    wall = {k: statistics.median(r[k][0] for r in rounds) for k in rounds[0]}
    cpu = {k: statistics.median(r[k][1] for r in rounds) for k in rounds[0]}
    report = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"),
              "load average (1 min) at each round": [round(x, 1) for x in loads],
              "clip": args.clip.name, "duration_s": duration, "rounds": args.rounds,
              "median wall s": {k: round(v, 3) for k, v in wall.items()},
              "median CPU s": {k: round(v, 3) for k, v in cpu.items()}}
    print(json.dumps(report, indent=1))
    print("\n| stage | median wall s | x real time | median CPU s |\n|---|---|---|---|")
    for stage, seconds in wall.items():
        if stage != "frames":
            print(f"| {stage} | {seconds:.2f} | {duration / seconds:.0f}x | {cpu[stage]:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
