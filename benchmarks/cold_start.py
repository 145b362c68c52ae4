"""Cold analysis against PySceneDetect and decode-only, on one 720p H.264 clip, in one run.

    python benchmarks/cold_start.py [--clip F] [--rounds 5] [--json F] [--baseline DIR]

What a new user compares: seconds from typing the command to its answer.

- ``highlight-studio analyze`` cold: a fresh process, the feature cache in an empty folder and
  ``--no-cache``; the CLI exactly as installed (``python -m highlight_studio.cli``);
- ``scenedetect detect-content``: PySceneDetect from PyPI in its own environment
  (``/tmp/scenedetect-venv``, made by this script with ``opencv-python-headless``), defaults;
- in-process analysis: a fresh process that times loading the models and analysing the clip
  after its imports (what ``analyze`` does once it has started);
- decode-only: a fresh process that times decoding the frames the analysis decodes (one per
  0.2 s step, scaled to the backbone's 224x224) and nothing else.

Each is also measured in CPU seconds (user + sys of the whole process, every thread): on a
machine other jobs keep busy, wall time follows the CPU share a process wins, so the CPU
seconds are the steadier comparison.

With ``--baseline DIR`` (a checkout of an earlier commit, e.g. ``git worktree add DIR COMMIT``
or ``git archive COMMIT | tar -x -C DIR``), its cold ``analyze`` and in-process analysis are
measured in the same rounds, so a change is compared at the same load.

Rounds alternate the four (or six), in reversed order every other round, so the load other
users put on a shared machine hits each alike; medians are reported, with the 1-minute load
average at the start of each round. Without ``--clip`` the 720p clip is made once from the
sample trailer (640x360, 55 s), scaled to 1280x720 with libx264 (crf 18, the trailer's 24 fps
and its audio), into ``data/bench/trailer_bbb_720p.mp4``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "samples" / "trailer_bbb.mp4"
CLIP_720P = ROOT / "data" / "bench" / "trailer_bbb_720p.mp4"
SCENEDETECT_VENV = Path("/tmp/scenedetect-venv")

IN_PROCESS = r"""
import json, sys, time
mode, path = sys.argv[1], sys.argv[2]
from highlight_studio import media
from highlight_studio.features.onnx_runtime import FRAME_SPECS
from highlight_studio.scoring import Analysis, analyze_clip, load_analyzer
t = time.perf_counter()
if mode == "decode":
    size = FRAME_SPECS["tf_efficientnet_lite0"].input_size
    n = sum(1 for _ in media.iter_frames(path, step=0.2, size=size))
else:
    analyzer = load_analyzer(device="cpu")
    [result] = [e for e in analyze_clip(analyzer, path, use_cache=False)
                if isinstance(e, Analysis)]
    n = len(result.scores)
    assert analyzer.runtime == "onnxruntime", analyzer.notes
print(json.dumps({"wall": time.perf_counter() - t, "steps": n,
                  "torch": "torch" in sys.modules}))
"""


def make_720p(source: Path, out: Path) -> Path:
    """``source`` scaled to 1280x720 H.264 (crf 18), same frame rate, its audio copied."""
    import av

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    with av.open(str(source)) as src, av.open(str(partial), "w", format="mp4") as dst:
        vin = src.streams.video[0]
        ain = src.streams.audio[0] if src.streams.audio else None
        rate = vin.average_rate or Fraction(24)
        vout = dst.add_stream("libx264", rate=rate)
        vout.width, vout.height, vout.pix_fmt = 1280, 720, "yuv420p"
        vout.options = {"crf": "18", "preset": "veryfast"}
        aout = dst.add_stream_from_template(ain) if ain is not None else None
        streams = [vin] if ain is None else [vin, ain]
        for packet in src.demux(*streams):
            if packet.stream is ain:
                if packet.dts is not None:
                    packet.stream = aout
                    dst.mux(packet)
                continue
            for frame in packet.decode():
                scaled = frame.reformat(1280, 720, "yuv420p")
                scaled.pts, scaled.time_base = frame.pts, frame.time_base
                dst.mux(vout.encode(scaled))
        dst.mux(vout.encode())
    partial.replace(out)
    return out


def ensure_scenedetect() -> Path:
    exe = SCENEDETECT_VENV / "bin" / "scenedetect"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(SCENEDETECT_VENV)], check=True)
        subprocess.run([str(SCENEDETECT_VENV / "bin" / "pip"), "install", "-q", "scenedetect",
                        "opencv-python-headless"], check=True)
    return exe


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds (user + sys, all threads) of a whole process."""
    cpu, started = _children_cpu(), time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)
    return time.perf_counter() - started, _children_cpu() - cpu


def _in_process(mode: str, clip: Path, env: dict[str, str], cwd: Path) -> tuple[dict, float]:
    """The child's own timing, and its whole process's CPU seconds."""
    cpu = _children_cpu()
    out = subprocess.run([sys.executable, "-c", IN_PROCESS, mode, str(clip)], check=True,
                         env=env, cwd=cwd, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1]), _children_cpu() - cpu


ANALYZE = "highlight-studio analyze (cold, whole process)"
SCENEDETECT = "scenedetect detect-content"
IN_PROC = "in-process analysis"
DECODE = "decode-only (in process)"
BASE_ANALYZE = "baseline: highlight-studio analyze (cold, whole process)"
BASE_IN_PROC = "baseline: in-process analysis"


def measure(clip: Path, rounds: int, baseline: Path | None = None) -> dict:
    from highlight_studio.media import probe

    scenedetect = ensure_scenedetect()
    info = probe(clip)
    keys = [ANALYZE, SCENEDETECT, IN_PROC, DECODE]
    if baseline is not None:
        keys += [BASE_ANALYZE, BASE_IN_PROC]
    runs: dict[str, list[float]] = {k: [] for k in keys}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(rounds):
            cache = Path(tmp) / f"cache{i}"  # an empty feature cache every time
            env = {**os.environ, "PYTHONPATH": str(ROOT), "HIGHLIGHT_STUDIO_CACHE": str(cache),
                   "XDG_CACHE_HOME": str(cache)}
            # Each child runs in its checkout: ``-c`` and ``-m`` put the working folder first.
            where = {k: (ROOT, env) for k in keys}
            if baseline is not None:
                base_env = {**env, "PYTHONPATH": str(baseline)}
                where[BASE_ANALYZE] = where[BASE_IN_PROC] = (baseline, base_env)
            analyze = [sys.executable, "-m", "highlight_studio.cli", "analyze", str(clip),
                       "--no-cache", "--json", str(Path(tmp) / "out.json")]
            commands = {ANALYZE: analyze, BASE_ANALYZE: analyze,
                        SCENEDETECT: [str(scenedetect), "-i", str(clip), "detect-content"]}
            modes = {IN_PROC: "analyze", BASE_IN_PROC: "analyze", DECODE: "decode"}
            loads.append(os.getloadavg()[0])
            for key in keys if i % 2 == 0 else keys[::-1]:
                cwd, child_env = where[key]
                if key in commands:
                    wall, seconds = _timed(commands[key], child_env, cwd)
                else:
                    result, seconds = _in_process(modes[key], clip, child_env, cwd)
                    assert not result["torch"], "the CPU analysis imported torch"
                    wall = result["wall"]
                runs[key].append(wall)
                cpu[key].append(seconds)
    medians = {k: statistics.median(v) for k, v in runs.items()}
    cpu_medians = {k: statistics.median(v) for k, v in cpu.items()}
    report = {
        "clip": f"{clip.name} ({info.width}x{info.height} {info.video_codec}, "
                f"{float(info.avg_fps):g} fps, {info.duration:.1f} s)",
        "rounds": rounds,
        "baseline": None if baseline is None else str(baseline),
        "load average (1 min) at each round": [round(x, 1) for x in loads],
        "seconds": {k: [round(x, 2) for x in v] for k, v in runs.items()},
        "median_s": {k: round(v, 2) for k, v in medians.items()},
        "x_real_time": {k: round(info.duration / v, 1) for k, v in medians.items()},
        "cpu_s (whole process, all threads)": {
            k: [round(x, 2) for x in v] for k, v in cpu.items()},
        "median_cpu_s (whole process, all threads)": {
            k: round(v, 2) for k, v in cpu_medians.items()},
        "analyze_over_scenedetect": round(medians[ANALYZE] / medians[SCENEDETECT], 2),
        "analyze_over_scenedetect (cpu)": round(cpu_medians[ANALYZE] / cpu_medians[SCENEDETECT],
                                                2),
        "in_process_over_decode": round(medians[IN_PROC] / medians[DECODE], 2),
    }
    if baseline is not None:
        report["baseline: analyze_over_scenedetect"] = round(
            medians[BASE_ANALYZE] / medians[SCENEDETECT], 2)
        report["baseline: in_process_over_decode"] = round(
            medians[BASE_IN_PROC] / medians[DECODE], 2)
    return report


def machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {cores} cores usable, python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--baseline", type=Path,
                        help="a checkout of an earlier commit, measured in the same rounds")
    args = parser.parse_args()
    clip = args.clip or (CLIP_720P if CLIP_720P.exists() else make_720p(SAMPLE, CLIP_720P))
    baseline = None if args.baseline is None else args.baseline.resolve()
    report = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"),
              **measure(clip.resolve(), args.rounds, baseline)}
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
