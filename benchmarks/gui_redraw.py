"""GUI figures: threshold redraw time on a 2-hour curve, open-to-curve time on the sample clip.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/gui_redraw.py [--clip CLIP]
        [--checkpoint MODEL] [--skip-open] [--bare-options]

1. Redraw: a 2-hour score curve (0.2 s steps, 36,000 points, a seeded random walk) is shown in
   the real window; the threshold line is set to 120 values as a drag would, and each change is
   timed from the line moving to the repaint being done (segment selection, shading, table,
   preview spans, paint): once as Qt does it (dirty widgets only), once repainting the whole
   window. Aim: under 16 ms (one frame at 60 Hz). The segment options are the app's defaults,
   or with ``--bare-options`` no rolls, merging or minimum length (many more segments; the
   options of releases before the editor defaults, so old and new code compare like for like).
2. Open-to-curve: the real ``scoring.analyze`` on the clip through the window's worker thread,
   from ``open_clip`` to the curve on screen: with empty caches (cold), reopened (the curve the
   window kept), and the Analyse button (model loaded again, features from the cache).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from highlight_studio import media
from highlight_studio.events import Progress
from highlight_studio.scoring import Analysis

STEP = 0.2
HOURS = 2.0
SAMPLE = Path(__file__).resolve().parent.parent / "resources" / "samples" / "trailer_bbb.mp4"


def random_walk_curve(n: int, seed: int = 0) -> np.ndarray:
    """A curve with the texture of real scores: smooth drift plus step noise, in [0, 1]."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0.0, 1.0, n))
    walk -= np.convolve(walk, np.ones(301) / 301, mode="same")  # remove the long drift
    walk += 0.5 * rng.normal(0.0, 1.0, n)
    return ((walk - walk.min()) / (walk.max() - walk.min())).astype(np.float32)


def long_curve_analysis(clip: Path) -> Iterator[Progress | Analysis]:
    """The window's analysis input: a real clip's probe, stretched to two hours of curve."""
    info = dataclasses.replace(media.probe(clip), duration=HOURS * 3600.0)
    n = math.ceil(info.duration / STEP)
    yield Analysis(clip, info, "random-walk", "none", STEP, random_walk_curve(n), "cpu")


def wait_for(app: QApplication, condition, timeout: float) -> float:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("the window did not answer in time")
        loop = QEventLoop()
        QTimer.singleShot(5, loop.quit)
        loop.exec()
    return time.perf_counter() - start


def bench_redraw(app: QApplication, clip: Path, bare: bool) -> None:
    from highlight_studio.gui.main_window import MainWindow
    from highlight_studio.gui.settings import Settings, save_settings
    from highlight_studio.segments import SegmentOptions

    if bare:
        save_settings(Settings(options=SegmentOptions(
            merge_gap=0.0, pre_roll=0.0, post_roll=0.0, min_length=0.0)))

    window = MainWindow(analyze=lambda path, checkpoint=None, cancel=None:
                        long_curve_analysis(Path(path)), probe_local_setup=False,
                        keep_curves=False)
    window.resize(1600, 900)
    window.show()
    window.open_clip(clip)
    wait_for(app, lambda: window.analysis is not None and window.job is None, 30)
    wait_for(app, lambda: window.thumbnails.job is None, 60)
    line = window.curve.threshold_line
    values = np.concatenate([np.linspace(0.9, 0.3, 60), np.linspace(0.3, 0.9, 60)])
    counts = []
    results = {}
    # "dirty": what a drag costs: the change, then Qt repaints only the widgets it touched
    # (curve, table, options) when the event loop runs. "full": the whole window repainted
    # synchronously (video picture included), an upper bound.
    for mode in ("full", "dirty"):
        times = []
        for v in values:
            start = time.perf_counter()
            line.setValue(float(v))  # what each mouse move of a drag does
            if mode == "dirty":
                app.processEvents()
            else:
                window.repaint()
            times.append((time.perf_counter() - start) * 1000.0)
            counts.append(len(window.history.state.segments))
        results[mode] = sorted(times)
    window.close()
    n_points = len(window.analysis.scores)
    print(f"threshold redraw, {n_points} points ({HOURS:g} h at {STEP} s), "
          f"{min(counts)}-{max(counts)} segments, {window.width()}x{window.height()} window:")
    for mode, times in results.items():
        print(f"  {mode:5s} median {statistics.median(times):.1f} ms, p95 "
              f"{times[int(0.95 * len(times))]:.1f} ms, max {times[-1]:.1f} ms "
              f"over {len(times)} changes")


def bench_open(app: QApplication, clip: Path, checkpoint: str | None) -> None:
    """Three opens of the clip: nothing cached; reopened (the window's kept curve); and the
    Analyse button on the reopened clip (the model runs again on cached features)."""
    from highlight_studio.gui.main_window import MainWindow

    for label in ("cold", "reopened", "features cached"):
        window = MainWindow(probe_local_setup=False)
        window.show()
        if label == "features cached":
            window.open_clip(clip, checkpoint=checkpoint)
            wait_for(app, lambda w=window: w.job is None, 1800)
        start = time.perf_counter()
        if label == "features cached":
            window.reanalyze()
        else:
            window.open_clip(clip, checkpoint=checkpoint)
        wait_for(app, lambda w=window: w.job is None, 1800)
        elapsed = time.perf_counter() - start
        if window.analysis is None:
            box = window.error_box
            window.close()
            raise SystemExit(f"analysis failed: {box.text() if box else 'cancelled'}")
        steps = len(window.analysis.scores)
        device = window.analysis.device
        window.close()
        print(f"open-to-curve ({label}) {clip.name}: {elapsed:.2f} s, {steps} steps, {device}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=SAMPLE)
    parser.add_argument("--checkpoint", default=None,
                        help="model for open-to-curve (default: the shipped one)")
    parser.add_argument("--skip-open", action="store_true", help="only the redraw figure")
    parser.add_argument("--bare-options", action="store_true",
                        help="no rolls, merging or minimum length (see the docstring)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HIGHLIGHT_STUDIO_CONFIG"] = str(Path(tmp) / "config")  # no saved sessions
        os.environ["HIGHLIGHT_STUDIO_CACHE"] = str(Path(tmp) / "cache")  # cold first open
        app = QApplication.instance() or QApplication(sys.argv[:1])
        bench_redraw(app, args.clip, args.bare_options)
        if not args.skip_open:
            bench_open(app, args.clip, args.checkpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main())
