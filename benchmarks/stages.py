"""Where a cold CPU analysis spends its time, stage by stage, in one process.

    python benchmarks/stages.py CLIP [--rounds 3] [--json F]

Each round times, in this order: loading the model and backbone (ONNX Runtime, no torch), decoding
the frames alone (at the backbone's input size, as analysis decodes them), the backbone alone on
those frames (already in memory, same thread count as in the pipeline), scoring the features, and
then the whole pipelined analysis (decode thread beside the backbone, no cache). The imports are
timed once, in a fresh interpreter. Medians over the rounds; the machine is named in the output.
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

IMPORTS = ("import time; t = time.perf_counter(); import highlight_studio.scoring, "
           "highlight_studio.commands.analyze, onnxruntime, av; "
           "print(time.perf_counter() - t)")


def import_seconds() -> float:
    out = subprocess.run([sys.executable, "-c", IMPORTS], capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip())


def one_round(clip: Path) -> dict[str, float]:
    import numpy as np

    from highlight_studio.features.extract import ClipFeatures, extract_features
    from highlight_studio.media import iter_frames
    from highlight_studio.model.inference import score_sequence
    from highlight_studio.scoring import Analysis, analyze_clip, load_analyzer

    times: dict[str, float] = {}
    t = time.perf_counter()
    analyzer = load_analyzer(device="cpu")
    times["load models"] = time.perf_counter() - t
    t = time.perf_counter()
    frames = np.stack([f.image for f in iter_frames(clip, analyzer.meta.step_seconds,
                                                    analyzer.backbone.input_size)])
    times["decode + scale only"] = time.perf_counter() - t
    t = time.perf_counter()
    for start in range(0, len(frames), 32):
        analyzer.backbone.embed(frames[start:start + 32])
    times["backbone only"] = time.perf_counter() - t
    *_, features = extract_features(clip, analyzer.backbone, analyzer.meta.step_seconds, None,
                                    with_audio=False)
    assert isinstance(features, ClipFeatures)
    t = time.perf_counter()
    score_sequence(analyzer.scorer, features.visual)
    times["RASL scoring"] = time.perf_counter() - t
    t = time.perf_counter()
    results = [e for e in analyze_clip(analyzer, clip, use_cache=False)
               if isinstance(e, Analysis)]
    times["pipelined analysis (in process)"] = time.perf_counter() - t
    assert len(results) == 1 and analyzer.runtime == "onnxruntime"
    times["frames"] = len(frames)
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
    imports = statistics.median(import_seconds() for _ in range(args.rounds))
    rounds = [one_round(args.clip) for _ in range(args.rounds)]
    table = {"imports (fresh interpreter)": imports}
    table.update({k: statistics.median(r[k] for r in rounds) for k in rounds[0]})
    report = {"machine": f"{platform.machine()} {platform.processor()}, {os.cpu_count()} cores, "
                         f"python {platform.python_version()}",
              "clip": args.clip.name, "duration_s": duration, "rounds": args.rounds,
              "seconds": {k: round(v, 3) for k, v in table.items()}}
    print(json.dumps(report, indent=1))
    print("\n| stage | median s | x real time |\n|---|---|---|")
    for stage, seconds in table.items():
        if stage != "frames":
            print(f"| {stage} | {seconds:.2f} | {duration / seconds:.0f}x |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
