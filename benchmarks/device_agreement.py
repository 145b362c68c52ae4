"""Does the analysis give the same curve on a GPU as on the CPU? (Run where CUDA is present.)

    python benchmarks/device_agreement.py CLIP [--model default] [--json out.json]

Analyses ``CLIP`` cold (no feature cache) with the PyTorch backbone on the CPU and on CUDA,
and compares the two curves: largest absolute difference, Spearman rank correlation, and
whether the default threshold picks the same segments. CUDA kernels (cuDNN convolutions, TF32
matmuls) round differently from the CPU's, so exact equality is not expected; the ranking and
the segments should agree.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ["HIGHLIGHT_STUDIO_BACKBONE_RUNTIME"] = "torch"  # the same backbone code on both

import numpy as np

from highlight_studio.scoring import Analysis, analyze
from highlight_studio.segments import SegmentOptions, select_segments


def analysis(path: Path, model: str, device: str) -> tuple[Analysis, float]:
    start = time.perf_counter()
    result = [e for e in analyze(path, checkpoint=model, device=device, use_cache=False)
              if isinstance(e, Analysis)]
    return result[0], time.perf_counter() - start


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--model", default="default")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("No CUDA device here; nothing to compare.", file=sys.stderr)
        return 2
    on_cpu, cpu_s = analysis(args.clip, args.model, "cpu")
    on_gpu, gpu_s = analysis(args.clip, args.model, "cuda")
    cpu, gpu = on_cpu.scores, on_gpu.scores

    def segments(a: Analysis) -> list:
        return select_segments(a.scores, a.step, a.info.duration, SegmentOptions())

    same_segments = segments(on_cpu) == segments(on_gpu)
    report = {"clip": args.clip.name, "gpu": torch.cuda.get_device_name(),
              "torch": torch.__version__, "steps": len(cpu),
              "max_abs_diff": float(np.abs(cpu - gpu).max()),
              "spearman": spearman(cpu, gpu), "same_default_segments": bool(same_segments),
              "cpu_s": round(cpu_s, 2), "cuda_s": round(gpu_s, 2)}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
