"""The GPU path on a borrowed machine: NVDEC decoding, float32 and float16 backbones, x real time.

    python benchmarks/gpu_check.py [--minutes 4] [--clip F] [--json F]

Makes (once) a 1080p H.264 clip of ``--minutes`` from the sample trailer (scaled to 1920x1080,
looped, libx264 veryfast with its B-frames, as a camera or an NLE export would have), then
times on it, each after a short warm-up:

- decode-only on the CPU, and with ``hwaccel="cuda"`` (NVDEC; where it cannot run the log says
  so and the CPU decodes: the ``hw_decode`` field records which happened);
- feature extraction with the backbone in float32 and in float16 autocast on the GPU, and how
  far the float16 features and curve are from the float32 ones;
- the whole analysis (model loaded once, no cache), with float16 where it stays within
  ``FP16_COSINE`` / ``FP16_CURVE`` of float32, else float32.

Without a GPU it runs the same steps on the CPU (ONNX Runtime, no float16) so the script is
known to work before a GPU is lent: ``--minutes 0.5`` keeps that short. Prints one JSON report
(machine, device, clip, seconds and x real time per step) and writes it to ``--json`` or, on
the device machine, to ``$OUT/gpu_check.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "samples" / "trailer_bbb.mp4"
FP16_COSINE = 0.999  # min per-frame cosine of float16 features to float32 ones
FP16_CURVE = 0.02  # max abs difference of the [0, 1] curves


def make_1080p(source: Path, out: Path, minutes: float) -> Path:
    """``source`` scaled to 1920x1080 and looped to ``minutes``, H.264 veryfast, no audio."""
    import av

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    with av.open(str(source)) as src:
        vin = src.streams.video[0]
        rate = vin.average_rate or Fraction(24)
        frames = [f.reformat(1920, 1080, "yuv420p") for f in src.decode(vin)]
    total = round(minutes * 60 * rate)
    with av.open(str(partial), "w", format="mp4") as dst:
        vout = dst.add_stream("libx264", rate=rate)
        vout.width, vout.height, vout.pix_fmt = 1920, 1080, "yuv420p"
        vout.options = {"preset": "veryfast", "crf": "20"}
        for i in range(total):
            frame = frames[i % len(frames)]
            frame.pts, frame.time_base = i, Fraction(1) / rate
            dst.mux(vout.encode(frame))
        dst.mux(vout.encode())
    partial.replace(out)
    return out


class _Notes(logging.Handler):
    """Keeps the warnings the run logs (a fallback to CPU decoding, say)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _decode(clip: Path, size: tuple[int, int], hwaccel: str | None) -> float:
    from highlight_studio.media import iter_frames

    started = time.perf_counter()
    for _ in iter_frames(clip, 0.2, size, hwaccel=hwaccel):
        pass
    return time.perf_counter() - started


def _features(clip: Path, backbone: object, hwaccel: str | None) -> tuple[np.ndarray, float]:
    from highlight_studio.features.extract import ClipFeatures, extract_features

    started = time.perf_counter()
    *_, result = extract_features(clip, backbone, 0.2, None, with_audio=False,  # type: ignore[arg-type]
                                  hwaccel=hwaccel)
    assert isinstance(result, ClipFeatures)
    return result.visual, time.perf_counter() - started


def run(clip: Path) -> dict:
    from highlight_studio.media import probe
    from highlight_studio.model.inference import score_sequence
    from highlight_studio.scoring import Analysis, Analyzer, analyze_clip, load_analyzer

    notes = _Notes()
    logging.getLogger("highlight_studio").addHandler(notes)
    info = probe(clip)
    analyzer = load_analyzer()  # the default device: CUDA when present
    device = analyzer.device
    hwaccel = "cuda" if device == "cuda" else None
    size = analyzer.backbone.input_size
    warm = clip.with_name(clip.stem + "_warm.mp4")
    if not warm.exists():
        make_1080p(SAMPLE, warm, 0.1)
    _decode(warm, size, "cuda")  # device and decoder set-up out of the timings
    _features(warm, analyzer.backbone, hwaccel)
    seconds = {"decode-only, CPU": _decode(clip, size, None),
               "decode-only, hwaccel cuda": _decode(clip, size, "cuda")}
    report: dict = {"device": device, "runtime": analyzer.runtime,
                    "hw_decode": not any("decoded on the CPU" in m for m in notes.messages)}
    visual32, seconds["features, float32"] = _features(clip, analyzer.backbone, hwaccel)
    chosen = analyzer
    if device == "cuda":
        from highlight_studio.features.visual import create_backbone

        half = create_backbone(analyzer.backbone.name, device="cuda", half=True)  # type: ignore[attr-defined]
        _features(warm, half, hwaccel)
        visual16, seconds["features, float16"] = _features(clip, half, hwaccel)
        cosine = (visual16 * visual32).sum(1) / (np.linalg.norm(visual16, axis=1)
                                                 * np.linalg.norm(visual32, axis=1))
        curve_gap = np.abs(score_sequence(analyzer.scorer, visual16)
                           - score_sequence(analyzer.scorer, visual32)).max()
        within = bool(cosine.min() >= FP16_COSINE and curve_gap <= FP16_CURVE)
        report["float16"] = {"max_abs_feature_diff": float(np.abs(visual16 - visual32).max()),
                             "min_cosine": float(cosine.min()),
                             "max_curve_diff": float(curve_gap), "within_tolerance": within}
        if within:
            chosen = Analyzer(analyzer.model_name, analyzer.meta, half, analyzer.scorer,
                              device, analyzer.notes)
    started = time.perf_counter()
    [result] = [e for e in analyze_clip(chosen, clip, use_cache=False)
                if isinstance(e, Analysis)]
    seconds["whole analysis"] = time.perf_counter() - started
    assert len(result.scores) == len(visual32)
    report.update({
        "clip": f"{clip.name} ({info.width}x{info.height} {info.video_codec}, "
                f"{float(info.avg_fps):g} fps, {info.duration:.1f} s)",
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "x_real_time": {k: round(info.duration / v, 1) for k, v in seconds.items()},
        "notes": sorted(set(notes.messages)),
    })
    return report


def machine() -> str:
    text = f"{platform.machine()}, {os.cpu_count()} logical CPUs"
    try:
        import torch

        if torch.cuda.is_available():
            text += f", {torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    except ImportError:
        pass
    import av

    return f"{text}, PyAV {av.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--clip", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    clip = args.clip or ROOT / "data" / "bench" / f"trailer_bbb_1080p_{args.minutes:g}min.mp4"
    if not clip.exists():
        started = time.perf_counter()
        make_1080p(SAMPLE, clip, args.minutes)
        print(f"made {clip} in {time.perf_counter() - started:.0f} s", flush=True)
    report = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"), **run(clip)}
    text = json.dumps(report, indent=1)
    print(text)
    out = args.json or (Path(os.environ["OUT"]) / "gpu_check.json" if os.environ.get("OUT")
                        else None)
    if out is not None:
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()
