"""The window end to end, offscreen: open, analyse, threshold, cancel, errors."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
import threading
import time
from fractions import Fraction

import numpy as np
import pytest
from PySide6.QtCore import Qt

from highlight_studio.segments import SegmentOptions, select_segments

from .conftest import BARE, STEP, CurveAnalyzer


def open_and_wait(qtbot, window, clip) -> None:
    with qtbot.waitSignal(window.jobEnded, timeout=10_000):
        window.open_clip(clip)
    assert window.job is None


def test_open_fills_the_curve_with_one_point_per_step(qtbot, make_window, clip) -> None:
    window = make_window()
    with qtbot.waitSignal(window.analysisFinished, timeout=10_000) as finished:
        open_and_wait(qtbot, window, clip)
    analysis = finished.args[0]
    assert analysis is window.analysis
    n = math.ceil(analysis.info.duration / STEP)
    x, y = window.curve.curve.getOriginalDataset()
    assert len(x) == len(y) == n
    np.testing.assert_allclose(x, np.arange(n) * STEP)
    assert window.table.segment_model.rowCount() == len(window.history.state.segments) > 0
    assert not window.progress.isVisible()


def test_moving_the_threshold_changes_the_segment_count(qtbot, make_window, clip) -> None:
    window = make_window()
    open_and_wait(qtbot, window, clip)
    analysis = window.analysis
    counts = {}
    for value in (0.9, 0.55, 0.25):
        window.options.threshold.setValue(value)
        expected = select_segments(analysis.scores, analysis.step, analysis.info.duration,
                                   dataclasses.replace(BARE, threshold=value))
        state = window.history.state
        assert len(state.segments) == len(expected)
        assert window.curve.shaded_count() == len(expected)
        assert window.table.segment_model.rowCount() == len(expected)
        counts[value] = len(expected)
    assert counts[0.9] < counts[0.55] < counts[0.25]  # the three bumps of the test curve


def test_threshold_line_slider_and_spin_box_stay_in_sync(qtbot, make_window, clip) -> None:
    window = make_window()
    open_and_wait(qtbot, window, clip)
    window.curve.threshold_line.setValue(0.3)  # what a drag of the line does
    assert window.options.threshold.value() == 0.3
    assert window.options.slider.value() == 300
    assert window.history.state.options.threshold == 0.3
    window.options.slider.setValue(800)
    assert window.curve.threshold_line.value() == 0.8
    assert window.options.threshold.value() == 0.8


def test_cancel_mid_analysis_leaves_no_thread_running(qtbot, make_window, clip) -> None:
    gate = threading.Event()  # never set: the job waits in "features" until cancelled
    window = make_window(CurveAnalyzer(gate))
    window.open_clip(clip)
    job = window.job
    qtbot.waitUntil(lambda: "Features" in window.stage_label.text(), timeout=5000)
    assert window.cancel_button.isVisible()
    with qtbot.waitSignal(job.thread.finished, timeout=1000):  # "stops within a second"
        qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.job is None, timeout=1000)
    assert not job.thread.isRunning()
    assert window.analysis is None
    assert "cancelled" in window.stage_label.text()
    assert window.analyze_button.isEnabled()  # the user can start again


def test_closing_during_analysis_cancels_and_waits(qtbot, make_window, clip) -> None:
    window = make_window(CurveAnalyzer(threading.Event()))
    window.open_clip(clip)
    job = window.job
    qtbot.waitUntil(lambda: "Features" in window.stage_label.text(), timeout=5000)
    window.close()
    assert not job.thread.isRunning()
    assert window.job is None


def test_opening_another_clip_does_not_wait_for_the_old_analysis(qtbot, make_window, clip,
                                                                 tmp_path) -> None:
    gate = threading.Event()
    window = make_window(CurveAnalyzer(gate, batch_seconds=1.0))  # slow to notice a cancel
    window.open_clip(clip)
    qtbot.waitUntil(lambda: "Features" in window.stage_label.text(), timeout=5000)
    other = tmp_path / "other.mp4"
    other.write_bytes(clip.read_bytes())
    start = time.monotonic()
    window.open_clip(other)
    assert time.monotonic() - start < 0.5  # the GUI moved on at once
    assert len(window.retired) == 1  # the old job winds down in the background
    with qtbot.waitSignal(window.jobEnded, timeout=10_000):
        gate.set()
    qtbot.waitUntil(lambda: len(window.retired) == 0, timeout=5000)
    assert window.analysis.path == other  # nothing of the old job reached the views


def test_bad_file_shows_the_error_dialog_and_the_app_stays_usable(qtbot, make_window, clip,
                                                                  tmp_path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    window = make_window()
    with qtbot.waitSignal(window.jobEnded, timeout=10_000):
        window.open_clip(bad)
    qtbot.waitUntil(lambda: window.error_box is not None and window.error_box.isVisible(),
                    timeout=2000)
    assert "broken.mp4" in window.error_box.text()
    assert window.error_box.detailedText()  # the traceback is one click away
    assert window.analysis is None
    window.error_box.accept()
    open_and_wait(qtbot, window, clip)
    assert window.analysis is not None and window.analysis.path == clip


def test_best_seconds_mode_replaces_the_threshold(qtbot, make_window, clip) -> None:
    window = make_window()
    open_and_wait(qtbot, window, clip)
    box = window.options.best_seconds
    assert box.maximum() == 3.0  # never more than the 3 s clip...
    assert box.value() == 1.0  # ...and a quarter of it at first
    window.options.best_mode.setChecked(True)
    state = window.history.state
    assert state.options.best_total_seconds == 1.0
    total = sum(s.duration for s in state.segments)
    assert 1.0 - STEP < total <= 1.0 + 1e-9  # at most N, and within a step of it
    assert not window.curve.threshold_line.isVisible()
    assert not window.options.threshold.isEnabled()
    window.options.best_mode.setChecked(False)
    assert window.history.state.options.best_total_seconds is None
    assert window.curve.threshold_line.isVisible()


def test_best_seconds_keeps_its_total_with_the_editor_defaults(qtbot, make_window,
                                                                tmp_path) -> None:
    from clipgen import ClipSpec, write_clip

    long_clip = write_clip(tmp_path / "long.mp4", ClipSpec(n_frames=24 * 60, width=64,
                                                           height=48, audio_hz=None))
    window = make_window(options=None)
    open_and_wait(qtbot, window, long_clip)
    assert window.options.best_seconds.value() == 15.0  # a quarter of the minute
    window.options.best_mode.setChecked(True)
    segments = window.history.state.segments
    assert segments and sum(s.duration for s in segments) <= 15.0 + 1e-9
    assert all(s.duration >= SegmentOptions().min_length - 1e-9 for s in segments)


def test_the_window_and_the_cli_start_from_the_same_editor_defaults(make_window) -> None:
    from highlight_studio import cli
    from highlight_studio.commands.common import segment_options_from_args

    window = make_window(options=None)
    args = cli.build_parser().parse_args(["analyze", "clip.mp4"])
    assert window.options.options() == segment_options_from_args(args) == SegmentOptions()
    panel = window.options
    assert (panel.min_length.value(), panel.merge_gap.value(), panel.pre_roll.value(),
            panel.post_roll.value()) == (2.0, 1.0, 0.5, 0.5)


def test_options_saved_under_the_old_all_zero_defaults_become_the_editor_defaults(
        make_window, config_dir) -> None:
    import json

    config_dir.mkdir(parents=True, exist_ok=True)
    old = {"threshold": 0.6, "merge_gap": 0.0, "pre_roll": 0.0, "post_roll": 0.0,
           "min_length": 0.0, "best_total_seconds": None}
    (config_dir / "settings.json").write_text(json.dumps({"options": old}))
    window = make_window(options=None)
    assert window.options.options() == SegmentOptions(threshold=0.6)
    window.close()
    chosen = {**old, "merge_gap": 0.0, "pre_roll": 0.2}  # chosen by hand: kept
    saved = json.loads((config_dir / "settings.json").read_text())
    assert saved["segment_defaults"] == 2
    (config_dir / "settings.json").write_text(json.dumps({"options": chosen}))
    assert make_window(options=None).options.options().pre_roll == 0.2


def test_the_window_works_without_qtmultimedia(qtbot, make_window, clip, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "PySide6.QtMultimedia", None)  # import now fails
    window = make_window()
    assert window.preview.player is None and "unavailable" in window.preview.video.text()
    open_and_wait(qtbot, window, clip)
    window.options.threshold.setValue(0.9)
    (only,) = window.history.state.segments
    window.preview.seek(only.end + 0.2)
    window.mark_in()
    window.preview.seek(only.end + 0.6)
    window.mark_out()
    assert [(s.start, s.end) for s in window.history.state.segments][1] == pytest.approx(
        (only.end + 0.2, only.end + 0.6))
    assert window.curve.playhead.value() == pytest.approx(only.end + 0.6)


def test_picking_another_model_analyses_with_it(qtbot, make_window, clip) -> None:
    analyzer = CurveAnalyzer()
    window = make_window(analyzer)
    open_and_wait(qtbot, window, clip)
    window.model_box.addItem("mine", "/models/mine.safetensors")
    with qtbot.waitSignal(window.jobEnded, timeout=10_000):
        window.model_box.setCurrentIndex(1)  # what a pick in the combo box does:
        window.model_box.activated.emit(1)  # select, then say the user did it
    assert [c for _, c in analyzer.calls] == [None, window.model_box.itemData(1)]
    assert window.analysis.model_name == "/models/mine.safetensors"


def test_the_window_and_the_panel_start_without_torch() -> None:
    """Torch and timm take seconds to import: the window, the training panel and a start
    model's settings come up without them (the device probe does not load them either)."""
    code = ("import sys\n"
            "from PySide6.QtWidgets import QApplication\n"
            "import highlight_studio.cli as cli\n"
            "from highlight_studio.gui.main_window import MainWindow\n"
            "from highlight_studio.gui.training_panel import TrainingPanel\n"
            "cli.build_parser()\n"
            "app = QApplication([])\n"
            "panel = TrainingPanel()  # reads the default model's settings\n"
            "assert panel.k_box.value() > 0 and 'Cannot' not in panel.status.text()\n"
            "window = MainWindow(lambda *a, **k: iter(()), probe_local_setup=False)\n"
            "window.show()\n"
            "app.processEvents()\n"
            "loaded = sorted(m for m in ('timm', 'torch', 'torchvision') if m in sys.modules)\n"
            "window.close()\n"
            "print(loaded)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_thumbnails_of_anamorphic_footage_are_not_squeezed(qtbot, make_window,
                                                           tmp_path) -> None:
    from clipgen import ClipSpec, write_clip

    hdv = write_clip(tmp_path / "hdv.mov", ClipSpec(n_frames=24, width=144, height=108,
                                                    sar=Fraction(4, 3), container="mov",
                                                    audio_hz=None))  # 4:3 pixels: 16:9 shown
    window = make_window()
    open_and_wait(qtbot, window, hdv)
    width, height = window.thumbnails._size
    assert width / height == pytest.approx(16 / 9, rel=0.03)


def test_sigterm_closes_the_window_the_normal_way(tmp_path) -> None:
    """At log-out or from a task manager: the window saves its settings and exits 0 instead
    of dying mid-write."""
    import signal

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           **{var: str(tmp_path / var) for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME",
                                                    "XDG_CACHE_HOME")}}
    env.pop("HIGHLIGHT_STUDIO_CONFIG", None)
    app = subprocess.Popen([sys.executable, "-m", "highlight_studio", "gui"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(6)  # the window is up (1.5 s here): its handler saves and closes
        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=120) == 0
    finally:
        app.kill()
    assert list(tmp_path.rglob("settings.json"))  # saved on the way out
