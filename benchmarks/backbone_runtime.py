"""Is a dedicated CPU runtime markedly faster than PyTorch for the default backbone?

The shipped-model issue says: integrate ONNX Runtime (or OpenVINO) if it is markedly faster on a
CPU *with the same features*. This measures exactly that, on real frames:

1. decode ``--frames`` frames of a clip with :func:`highlight_studio.media.iter_frames` at the
   backbone's input size (what analysis feeds it);
2. feed every runtime the same uint8 frames through ``Backbone.preprocess`` (the folded
   mean/std multiply-add, channels_last); ONNX Runtime and OpenVINO run the shipped graph
   ``models/backbones/NAME.onnx`` (checked against the backbone as analysis checks it), so all
   return the pooled 1280-d features;
3. time PyTorch (``Backbone.embed`` itself, float32 and its opt-in bfloat16 autocast),
   ONNX Runtime and OpenVINO (f32, and bf16 for reference) at 1 and 2 threads and batches of
   32 frames (``--batch``), rounds alternating between runtimes so that noise from other work
   on a shared machine hits all alike; the median over rounds is reported, with CPU time per
   frame beside the wall-clock rate since on a busy machine it is the steadier of the two;
4. compare every runtime's features with PyTorch float32's (max abs difference, cosine):
   only float32 runtimes can give the same features.

Decoding the same frames is timed in every round too (analysis decodes in a thread beside the
backbone, so the slower of the two sets the pace), and so is the ONNX export (what a first run
would cost had the graph not been shipped). Last, the whole clip goes through
``extract_features`` with ``create_backbone(runtime="torch")`` and ``runtime="onnxruntime"``
(what analysis runs) and with OpenVINO standing in: the speed a user would see.

    python benchmarks/backbone_runtime.py [CLIP] [--frames 96] [--rounds 5] [--batch 32 8]
        [--threads 1 2] [--json OUT]

Runtimes that are not installed are skipped (``pip install onnxruntime openvino``; the export
needs ``onnx`` and ``onnxscript``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import cast

import numpy as np
import torch

from highlight_studio.features.extract import ClipFeatures, extract_features, model_threads
from highlight_studio.features.onnx_export import export_onnx
from highlight_studio.features.onnx_runtime import OnnxBackbone, OnnxSpec, onnx_path
from highlight_studio.features.visual import Backbone, create_backbone
from highlight_studio.media import iter_frames, probe

DEFAULT_CLIP = Path(__file__).resolve().parent.parent / "data" / "bench" / "bbb_60s_720p.mp4"

Embed = Callable[[np.ndarray], np.ndarray]


def decode(clip: Path, size: tuple[int, int], n: int) -> np.ndarray:
    """The first ``n`` analysis frames (0.2 s steps) of ``clip`` as uint8 ``[n, H, W, 3]``."""
    frames = []
    for frame in iter_frames(clip, step=0.2, size=size):
        frames.append(frame.image)
        if len(frames) == n:
            break
    return np.stack(frames)


def spec_of(backbone: Backbone) -> OnnxSpec:
    """What the shipped graph must match (the backbone is built from a weights file)."""
    spec = backbone.onnx_spec()
    assert spec is not None, f"{backbone.id} has seeded weights: no graph to compare"
    return spec


def graph_input(backbone: Backbone, frames: np.ndarray, threads: int) -> np.ndarray:
    """What the ONNX graph takes: the backbone's preprocessing (torch at ``threads``, as in
    analysis), viewed NHWC (no copy)."""
    torch.set_num_threads(threads)  # global: set on every call since runtimes alternate
    return backbone.preprocess(frames).permute(0, 2, 3, 1).numpy()


def batched(run: Callable[[np.ndarray], np.ndarray], batch: int) -> Embed:
    """Feed ``run`` batches of ``batch`` frames, as extract_features does (32 frames)."""
    def embed(frames: np.ndarray) -> np.ndarray:
        return np.concatenate([run(frames[i:i + batch]) for i in range(0, len(frames), batch)])
    return embed


def torch_runtime(backbone: Backbone, threads: int, batch: int) -> Embed:
    """``Backbone.embed`` itself: what analysis runs today (it may split a batch further)."""
    def run(batch: np.ndarray) -> np.ndarray:
        torch.set_num_threads(threads)  # global: set on every call since runtimes alternate
        return backbone.embed(batch)
    return batched(run, batch)


def onnxruntime_runtime(backbone: Backbone, threads: int, batch: int) -> Embed:
    """The session analysis uses (same options and checks), at ``threads`` threads."""
    session = OnnxBackbone(onnx_path(backbone.name), spec_of(backbone), threads)
    return batched(lambda frames: session.run(graph_input(backbone, frames, threads)), batch)


def openvino_runtime(backbone: Backbone, threads: int, batch: int, precision: str
                     ) -> Embed | None:
    """OpenVINO on the CPU; ``precision`` is its inference precision hint ("f32" or "bf16").

    On CPUs with AMX or AVX-512 BF16 OpenVINO silently defaults to bf16, so f32 is asked for
    explicitly: only f32 can give the same features.
    """
    try:
        import openvino as ov
    except ImportError:
        return None
    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(onnx_path(backbone.name))), "CPU", {
        "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": precision,
        "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1,
    })
    request = compiled.create_infer_request()
    return batched(lambda frames: np.array(request.infer(
        {0: graph_input(backbone, frames, threads)})[0]), batch)


class RuntimeBackbone:
    """Stands in for a :class:`Backbone` in ``extract_features``: the same id, size and dim,
    another runtime's ``embed`` (OpenVINO, which analysis does not integrate)."""

    def __init__(self, backbone: Backbone, embed: Embed) -> None:
        self.id, self.dim, self.input_size = backbone.id, backbone.dim, backbone.input_size
        self.device = "cpu"
        self.embed = embed


def compare(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """How far ``other``'s features are from PyTorch's: absolute and per-frame direction."""
    cos = (reference * other).sum(1) / (np.linalg.norm(reference, axis=1)
                                        * np.linalg.norm(other, axis=1))
    return {"max_abs_diff": float(np.abs(reference - other).max()),
            "max_abs_feature": float(np.abs(reference).max()),
            "min_cosine": float(cos.min()), "mean_cosine": float(cos.mean())}


def machine() -> str:
    """CPU model, the vector extensions that decide f32/bf16 speed, and library versions."""
    cpu, flags = platform.processor() or platform.machine(), set()
    with contextlib.suppress(OSError):
        info = Path("/proc/cpuinfo").read_text()
        cpu = info.split("model name", 1)[1].split(":", 1)[1].splitlines()[0].strip()
        flags = set(info.split("flags", 1)[1].split(":", 1)[1].splitlines()[0].split())
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16") if f in flags]
    versions = []
    for name in ("torch", "onnxruntime", "openvino"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{name} {metadata.version(name)}")
    return (f"{platform.system()} {cpu} ({' '.join(isa)}), {os.cpu_count()} cores visible "
            f"(shared with other work), python {platform.python_version()}, "
            f"{', '.join(versions)}")


def measure(clip: Path, n_frames: int, rounds: int, thread_counts: list[int],
            batches: list[int]) -> dict:
    """Every runtime at every (threads, batch) setting; rows of medians over ``rounds``."""
    backbone = create_backbone(device="cpu", bfloat16=False, runtime="torch")
    backbone_bf16 = create_backbone(device="cpu", bfloat16=True)  # the opt-in fast path
    frames = decode(clip, backbone.input_size, n_frames)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        export_onnx(backbone.module, spec_of(backbone), Path(tmp) / "backbone.onnx")
        export = {"export_s": round(time.perf_counter() - start, 1),
                  "onnx_mib": round(onnx_path(backbone.name).stat().st_size / 2**20, 1)}
    settings = [(threads, batch) for threads in thread_counts for batch in batches]
    runtimes: dict[tuple[int, int], dict[str, Embed]] = {}
    for threads, batch in settings:
        candidates = {
            "torch": torch_runtime(backbone, threads, batch),
            "torch_bf16": torch_runtime(backbone_bf16, threads, batch),
            "onnxruntime": onnxruntime_runtime(backbone, threads, batch),
            "openvino_f32": openvino_runtime(backbone, threads, batch, "f32"),
            "openvino_bf16": openvino_runtime(backbone, threads, batch, "bf16"),
        }
        runtimes[(threads, batch)] = {k: v for k, v in candidates.items() if v is not None}
    features = {name: embed(frames)  # also the warm-up of the first setting
                for name, embed in runtimes[settings[0]].items()}
    walls: dict[tuple[str, int, int], list[float]] = {}
    cpus: dict[tuple[str, int, int], list[float]] = {}
    decode_walls = []
    for _ in range(rounds):
        start = time.perf_counter()
        decode(clip, backbone.input_size, n_frames)
        decode_walls.append(time.perf_counter() - start)
        for setting in settings:
            for name, embed in runtimes[setting].items():
                start, start_cpu = time.perf_counter(), time.process_time()
                embed(frames)
                walls.setdefault((name, *setting), []).append(time.perf_counter() - start)
                cpus.setdefault((name, *setting), []).append(time.process_time() - start_cpu)
    rows = []
    for (name, threads, batch), times in walls.items():
        torch_wall = statistics.median(walls[("torch", threads, batch)])
        wall = statistics.median(times)
        cpu = statistics.median(cpus[(name, threads, batch)])
        rows.append({"runtime": name, "threads": threads, "batch": batch,
                     "frames_per_s": round(n_frames / wall, 1),
                     "frames_per_s_all_rounds": [round(n_frames / t, 1) for t in times],
                     "speedup_vs_torch": round(torch_wall / wall, 2),
                     # CPU time of all the process's threads: less swayed by other work on the
                     # machine than wall time, but counts the spin-waiting of idle pool threads
                     "cpu_ms_per_frame": round(1000 * cpu / n_frames, 2),
                     **({} if name == "torch" else compare(features["torch"], features[name]))})
    return {"clip": clip.name, "backbone": backbone.id, "input_size": list(backbone.input_size),
            "frames": n_frames, "rounds": rounds,
            # analysis overlaps decoding with the backbone, so decoding bounds the end-to-end gain
            "decode_frames_per_s": round(n_frames / statistics.median(decode_walls), 1),
            **export, "rows": rows}


def measure_pipeline(clip: Path, rounds: int) -> dict:
    """Whole-clip ``extract_features`` (decode thread beside the model, no cache) with the
    backbone on PyTorch, on ONNX Runtime (both as analysis builds them) and with OpenVINO in
    its place, at the thread count analysis gives the model.

    This is what a user waits for, so it shows how much of the backbone's gain survives
    decoding competing for the same cores.
    """
    backbone = create_backbone(device="cpu", bfloat16=False, runtime="torch")
    threads = model_threads("cpu") or 1
    openvino = openvino_runtime(backbone, threads, 8, "f32")
    backbones = {"torch": backbone,
                 "onnxruntime": create_backbone(device="cpu", runtime="onnxruntime"),
                 **({} if openvino is None
                    else {"openvino_f32": RuntimeBackbone(backbone, openvino)})}
    walls: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    steps = 0
    for _ in range(rounds):
        for name, runner in backbones.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            *_, result = extract_features(clip, cast(Backbone, runner), 0.2, None,
                                          with_audio=False)
            assert isinstance(result, ClipFeatures)  # the generator ends with its result
            steps = len(result.visual)
            walls.setdefault(name, []).append(time.perf_counter() - start)
            cpus.setdefault(name, []).append(time.process_time() - start_cpu)
    duration = probe(clip).duration
    torch_wall = statistics.median(walls["torch"])
    return {"clip_s": round(duration, 1), "steps": steps, "model_threads": threads,
            "rounds": rounds,
            "rows": [{"runtime": name, "wall_s": round(statistics.median(times), 2),
                      "wall_s_all_rounds": [round(t, 2) for t in times],
                      "cpu_s": round(statistics.median(cpus[name]), 2),
                      "x_realtime": round(duration / statistics.median(times), 2),
                      "speedup_vs_torch": round(torch_wall / statistics.median(times), 2)}
                     for name, times in walls.items()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", nargs="?", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--frames", type=int, default=96, help="frames to embed per timing")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, nargs="+", default=[32],
                        help="frames per call (analysis passes 32; the PyTorch path may split "
                        "them further itself)")
    parser.add_argument("--pipeline-rounds", type=int, default=3,
                        help="rounds of whole-clip feature extraction per runtime (0: skip)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    report = {"machine": machine(), "date": started,
              **measure(args.clip, args.frames, args.rounds, args.threads, args.batch)}
    if args.pipeline_rounds > 0:
        report["pipeline"] = measure_pipeline(args.clip, args.pipeline_rounds)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
