"""A decision's cost in the window on a 2-hour curve: refit, segments, repaint.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/feedback_redraw.py [--dim 1280]

The window of ``gui_redraw.py`` (a 2-hour curve at 0.2 s steps, 36,000 points) with features
of the default backbone's size (1280 values per step, seeded noise with a few recurring
directions), so the learner works on the real sizes. Timed from the decision to the repaint
being done, as Qt does it (dirty widgets only): "more like this" on a selected segment and on
the step under the playhead (the unedited segment list is then reselected from the adapted
curve), unticking a segment (its steps rejected), and undo. The baseline, measured in the same
run and window: a threshold change (the segment list reselected and redrawn), gui_redraw.py's
figure. Aim: under 100 ms per decision.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from gui_redraw import SAMPLE, long_curve_analysis, wait_for
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication


def with_features(clip: Path, dim: int):
    for event in long_curve_analysis(clip):
        if hasattr(event, "scores"):
            n = len(event.scores)
            rng = np.random.default_rng(0)
            kinds = rng.normal(size=(8, dim)).astype(np.float32)
            which = np.repeat(rng.integers(0, 8, n // 50 + 1), 50)[:n]
            visual = kinds[which] + rng.normal(0.0, 1.0, (n, dim)).astype(np.float32)
            event = dataclasses.replace(event, visual=visual, backbone_id="bench")
        yield event


def timed(app: QApplication, action) -> tuple[float, float]:
    """Wall and CPU milliseconds (the CPU time of this process, all threads: on a shared,
    loaded machine the wall time mostly measures the wait for a core)."""
    start, cpu = time.perf_counter(), time.process_time()
    action()
    app.processEvents()
    return ((time.perf_counter() - start) * 1000.0, (time.process_time() - cpu) * 1000.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HIGHLIGHT_STUDIO_CONFIG"] = str(Path(tmp) / "config")
        os.environ["HIGHLIGHT_STUDIO_CACHE"] = str(Path(tmp) / "cache")
        os.environ["XDG_DATA_HOME"] = str(Path(tmp) / "data")
        app = QApplication.instance() or QApplication(sys.argv[:1])
        import pyqtgraph as pg

        pg.setConfigOptions(antialias=True)  # as the app draws (gui/__init__.py)
        from highlight_studio.gui.main_window import MainWindow

        window = MainWindow(analyze=lambda path, checkpoint=None, cancel=None:
                            with_features(Path(path), args.dim), probe_local_setup=False,
                            keep_curves=False)
        window.resize(1600, 900)
        window.show()
        window.open_clip(SAMPLE)
        wait_for(app, lambda: window.analysis is not None and window.job is None, 120)
        wait_for(app, lambda: window.thumbnails.job is None, 120)
        learning = window.learning
        assert learning.context is not None
        results: dict[str, list[tuple[float, float]]] = {k: [] for k in (
            "threshold change (baseline)", "more like this, segment", "less like this, step",
            "untick a segment", "undo")}
        line = window.curve.threshold_line
        for i in range(args.repeats):
            results["threshold change (baseline)"].append(
                timed(app, lambda v=0.5 + 0.01 * (i % 10): line.setValue(v)))
        line.setValue(0.3)  # a few hundred segments on this curve, as in gui_redraw.py
        app.processEvents()
        window.history.end_merge()
        for i in range(args.repeats):
            segments = window.history.state.segments
            window.table.select_row((7 * i) % len(segments))
            results["more like this, segment"].append(timed(app, learning.more_like_this))
            window.table.clearSelection()
            window.preview.seek((97.0 * i) % 7000.0)
            settle = time.perf_counter() + 0.5  # the seek's frame is decoded and shown first
            wait_for(app, lambda t=settle: time.perf_counter() > t, 5)
            results["less like this, step"].append(timed(app, learning.less_like_this))
        model = window.table.segment_model
        for i in range(args.repeats):
            row = (5 * i) % len(window.history.state.segments)
            results["untick a segment"].append(timed(app, lambda r=row: model.setData(
                model.index(r, 0), Qt.CheckState.Unchecked.value,
                Qt.ItemDataRole.CheckStateRole)))
        for _ in range(args.repeats):
            results["undo"].append(timed(app, window.undo))
        decided = len(window.history.state.decisions)
        segments = len(window.history.state.segments)
        n = len(learning.context.prior)
        window.close()
    print(f"a decision on a {n}-step curve (2 h at 0.2 s), {args.dim} features per step, "
          f"{segments} segments and {decided} decided steps at the end:")
    print(f"  {'':30s} {'wall median':>12s} {'wall max':>9s} {'CPU median':>11s} {'CPU max':>8s}")
    for name, pairs in results.items():
        wall, cpu = sorted(p[0] for p in pairs), sorted(p[1] for p in pairs)
        print(f"  {name:30s} {statistics.median(wall):9.1f} ms {wall[-1]:6.1f} ms "
              f"{statistics.median(cpu):8.1f} ms {cpu[-1]:5.1f} ms  ({len(pairs)} times)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
