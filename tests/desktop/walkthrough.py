"""An editor's walkthrough of the real window, run inside the app's own process.

    python walkthrough.py edit|relaunch CLIP OUT_DIR

The window is the one ``highlight_studio.gui.run`` builds and shows (real analysis, start-up
probe, settings and sessions, on whatever Qt platform the environment names: the tests use xcb
on Xvfb). This script only starts acting once that window exists, through the window's own
widgets, signals and actions, and writes what it saw to OUT_DIR/<phase>.json before closing
the window the normal way. ``test_walkthrough.py`` runs both phases and checks the reports.

edit:      analyse, drag the threshold line, untick a segment, change another, undo that,
           export an EDL and MP4 cuts, reveal the training panel and train two steps.
relaunch:  the same clip again: its curve from the cache, its session's edits, no torch;
           then Analyse again, which loads torch into a process already drawing with GL.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

STEP_TIMEOUT_S = 240.0  # a first analysis on a busy 2-core machine (torch import included)
Wait = tuple[str, Callable[[], bool]]


def segments_of(window: Any) -> list[list[Any]]:
    return [[round(s.start, 3), round(s.end, 3), s.included]
            for s in window.history.state.segments]


def drag(view: Any, start: Any, end: Any) -> None:
    """A left-button drag between two points of a QGraphicsView, as the mouse sends it."""
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    viewport = view.viewport()
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    steps = [start + (end - start) * (i / 8) for i in range(9)]

    def send(kind: Any, pos: Any, button: Any, buttons: Any) -> None:
        local = QPointF(pos)
        event = QMouseEvent(kind, local, viewport.mapToGlobal(local), button, buttons,
                            Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewport, event)

    send(QMouseEvent.Type.MouseButtonPress, steps[0], left, left)
    for pos in steps[1:]:
        send(QMouseEvent.Type.MouseMove, pos, none, left)
    send(QMouseEvent.Type.MouseButtonRelease, steps[-1], left, none)


def threshold_point(window: Any, value: float) -> Any:
    """Where the threshold line at ``value`` is drawn, in the curve view's viewport."""
    from PySide6.QtCore import QPointF

    plot = window.curve.plot
    (x0, x1), _ = plot.vb.viewRange()
    scene = plot.vb.mapViewToScene(QPointF((x0 + x1) / 2, value))
    return QPointF(window.curve.mapFromScene(scene))


def pick_threshold(window: Any) -> float:
    """The highest threshold whose segments (under the window's own options) number two or
    more, so one can be unticked and another edited; also a little above and below it, since
    a drag lands within a pixel of the value, and the editor's merge gap can join the two."""
    import dataclasses

    from highlight_studio.gui import document as doc

    options = window.history.state.options

    def count(value: float) -> int:
        state = doc.auto_state(window.analysis, dataclasses.replace(options, threshold=value))
        return len(state.segments)

    for value in [round(0.9 - 0.01 * i, 2) for i in range(81)]:
        if all(count(value + d) >= 2 for d in (-0.03, 0.0, 0.03)):
            return value
    raise AssertionError("no threshold gives two segments on this clip's curve")


def mesa_llvm_loaded() -> bool:
    """Whether Mesa's LLVM is mapped into this process (llvmpipe draws the preview): the
    library triton's own LLVM crashed against."""
    with open("/proc/self/maps", encoding="utf-8") as maps:
        return any("libLLVM" in line for line in maps)


def edit_phase(window: Any, clip: Path, out: Path, report: dict[str, Any]) -> Iterator[Wait]:
    from PySide6.QtCore import Qt

    from highlight_studio.gui.export_dialog import ExportRequest

    yield "the first analysis", lambda: window.analysis is not None
    report["analysed_on"] = window.analysis.device
    report["steps"] = len(window.analysis.scores)
    yield "the probe listing the user model", lambda: window.model_box.findText("tiny-start") >= 0
    report["device_label"] = window.device_label.text()

    # A 10 s clip: the editor turns the rolls, merge gap and minimum length off, as for short
    # footage, so the threshold can make two separate segments.
    for box in (window.options.min_length, window.options.merge_gap, window.options.pre_roll,
                window.options.post_roll):
        box.setValue(0.0)
    target = pick_threshold(window)
    start = threshold_point(window, window.curve.threshold_line.value())
    drag(window.curve, start, threshold_point(window, target))
    report["threshold_wanted"] = target
    report["threshold"] = window.history.state.options.threshold
    report["auto_segments"] = segments_of(window)

    model = window.table.segment_model  # what a click in the "Use" check box does
    model.setData(model.index(0, 0), Qt.CheckState.Unchecked, Qt.ItemDataRole.CheckStateRole)
    report["after_untick"] = segments_of(window)
    last = window.history.state.segments[-1]
    window.curve.segmentEdited.emit(len(window.history.state.segments) - 1, last.start,
                                    last.start + window.analysis.step * 2)  # an edge dragged
    report["after_change"] = segments_of(window)
    window.actions_by_name["undo"].trigger()
    report["after_undo"] = segments_of(window)

    edl, cuts = out / "walkthrough.edl", out / "cuts"
    cuts.mkdir(exist_ok=True)
    for request in (ExportRequest("EDL (CMX 3600)", edl), ExportRequest("MP4 cuts", cuts)):
        window.start_export(request)
        yield f"the {request.format} export", lambda: window.export_job is None
        report.setdefault("export_status", []).append(window.stage_label.text())
    report["edl"] = edl.read_text(encoding="utf-8") if edl.exists() else None
    report["mp4"] = sorted(p.name for p in cuts.glob("*.mp4"))

    report["mesa_llvm_before_training"] = mesa_llvm_loaded()  # torch loads after it
    window.toggle_training_panel()
    panel = window.training
    report["panel_visible"] = window.training_dock.isVisible()
    panel.add_inputs([clip])
    yield "the training clip's survey", lambda: not panel.survey_jobs
    panel.name_edit.setText("walkthrough")
    panel.start_box.setCurrentIndex(panel.start_box.findText("tiny-start"))
    panel.steps_box.setValue(2)
    panel.batch_box.setValue(2)
    panel.start_button.click()
    yield "the training run", lambda: not panel.is_running()
    report["training_status"] = panel.status.text()
    report["trained"] = str(panel.saved.checkpoint) if panel.saved is not None else None
    report["picker"] = [window.model_box.itemText(i) for i in range(window.model_box.count())]
    report["final"] = segments_of(window)
    report["final_threshold"] = window.history.state.options.threshold


def relaunch_phase(window: Any, clip: Path, out: Path, report: dict[str, Any]
                   ) -> Iterator[Wait]:
    yield "the cached curve", lambda: window.analysis is not None
    report["torch_at_curve"] = "torch" in sys.modules
    yield "the probe", lambda: window.model_box.findText("walkthrough") >= 0
    report["torch_after_probe"] = "torch" in sys.modules
    report["triton_loaded"] = sys.modules.get("triton") is not None
    report["device_label"] = window.device_label.text()
    report["curve_points"] = len(window.curve.curve.getData()[1])
    report["final"] = segments_of(window)
    report["final_threshold"] = window.history.state.options.threshold
    report["training_revealed"] = window.training is not None

    cached = window.analysis  # Analyse again: torch loads now, with Mesa's LLVM already in
    report["mesa_llvm_before_torch"] = mesa_llvm_loaded()
    window.analyze_button.click()
    yield "the new analysis", lambda: window.job is None and window.analysis is not cached
    report["reanalysed_steps"] = len(window.analysis.scores)
    report["torch_after_analysis"] = "torch" in sys.modules
    report["after_analysis"] = segments_of(window)


class Runner:
    """Steps a phase from a timer on the GUI thread: each yielded wait is polled until it holds
    (or the step times out); then the report is written and the window closed."""

    def __init__(self, window: Any, phase: Iterator[Wait], report: dict[str, Any],
                 report_path: Path) -> None:
        from PySide6.QtCore import QTimer

        self.window, self.phase, self.report, self.path = window, phase, report, report_path
        self.wait: Wait | None = None
        self.deadline = 0.0
        self.timer = QTimer()
        self.timer.setInterval(50)
        self.timer.timeout.connect(self.tick)
        self.timer.start()

    def tick(self) -> None:
        try:
            if self.wait is not None and not self.wait[1]():
                if time.monotonic() > self.deadline:
                    raise TimeoutError(f"waited {STEP_TIMEOUT_S:.0f} s for {self.wait[0]}")
                return
            self.wait = next(self.phase)
            self.deadline = time.monotonic() + STEP_TIMEOUT_S
        except StopIteration:
            self.finish()
        except Exception:  # any failure goes into the report the test reads
            self.report["failed"] = traceback.format_exc()
            self.finish()

    def finish(self) -> None:
        self.timer.stop()
        self.report["error_box"] = (self.window.error_box.text()
                                    if self.window.error_box is not None
                                    and self.window.error_box.isVisible() else None)
        self.path.write_text(json.dumps(self.report, indent=1), encoding="utf-8")
        self.window.confirm_abandon = lambda: True  # a failed run must not wait on a question
        self.window.close()


def main() -> int:
    phase_name, clip, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    import highlight_studio.gui as gui
    from highlight_studio.gui import main_window

    phases = {"edit": edit_phase, "relaunch": relaunch_phase}
    runners = []
    report: dict[str, Any] = {"phase": phase_name}

    class DrivenWindow(main_window.MainWindow):
        """The app's window, unchanged, that starts the phase once it exists."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            phase = phases[phase_name](self, clip, out, report)
            runners.append(Runner(self, phase, report, out / f"{phase_name}.json"))

    main_window.MainWindow = DrivenWindow  # gui.run imports the name when it runs
    return gui.run(clip)


if __name__ == "__main__":
    sys.exit(main())
