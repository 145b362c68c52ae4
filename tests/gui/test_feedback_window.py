"""Learning from the editor in the window: decisions from edits and +/-, the adapted curve
drawn over the model's, undo/redo of decisions, profiles that survive a restart and are
refused for other features."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from highlight_studio.feedback import profiles
from highlight_studio.feedback.adapt import ClipContext
from highlight_studio.feedback.store import load_feedback
from highlight_studio.gui.main_window import MainWindow
from highlight_studio.scoring import Analysis

from .conftest import CurveAnalyzer
from .test_window import open_and_wait


class FeatureAnalyzer(CurveAnalyzer):
    """The test curve, with features: the steps of the third (lowest) peak share a "goal"
    direction, as do a few steps between the peaks; the rest is noise."""

    def __init__(self, backbone: str = "test-backbone") -> None:
        super().__init__()
        self.backbone = backbone

    def __call__(self, path, **kwargs):
        for event in super().__call__(path, **kwargs):
            if isinstance(event, Analysis):
                n = len(event.scores)
                rng = np.random.default_rng(0)
                visual = rng.normal(0.0, 0.3, (n, 8)).astype(np.float32)
                x = np.linspace(0.0, 1.0, n)
                goal = (np.abs(x - 0.8) < 0.06) | (np.abs(x - 0.35) < 0.04)
                visual[goal, 0] += 3.0
                event = dataclasses.replace(event, visual=visual, backbone_id=self.backbone)
            yield event


@pytest.fixture
def window(qtbot, make_window, clip) -> MainWindow:
    w = make_window(FeatureAnalyzer())
    open_and_wait(qtbot, w, clip)
    w.options.threshold.setValue(0.25)  # three segments on the test curve
    assert len(w.history.state.segments) == 3
    return w


def uncheck(window: MainWindow, row: int) -> None:
    model = window.table.segment_model
    model.setData(model.index(row, 0), Qt.CheckState.Unchecked.value,
                  Qt.ItemDataRole.CheckStateRole)


def test_untick_rejects_its_steps_and_undo_takes_the_decision_back(qtbot, window) -> None:
    prior = window.learning.prior.scores.copy()
    uncheck(window, 0)
    decisions = window.history.state.decisions
    seg = window.history.state.segments[0]
    assert decisions and all(label == -1 for _, label in decisions)
    assert all(seg.start - 1e-9 <= i * window.analysis.step < seg.end for i, _ in decisions)
    assert window.analysis.scores[[i for i, _ in decisions]].mean() < prior[
        [i for i, _ in decisions]].mean()
    assert window.curve.legend.isVisible()  # the model's curve dashed under the adapted one
    np.testing.assert_array_equal(window.curve.overlay.yData, prior)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.history.state.decisions == ()
    np.testing.assert_array_equal(window.analysis.scores, prior)
    qtbot.keyClick(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert window.history.state.decisions == decisions


def test_more_like_this_lifts_similar_steps_and_the_segments_follow(qtbot, window) -> None:
    third = window.history.state.segments[2]
    window.table.select_row(2)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Plus)
    kept = [i for i, label in window.history.state.decisions if label == 1]
    assert kept and all(third.start - 1e-9 <= i * 0.1 < third.end for i in kept)
    scores, prior = window.analysis.scores, window.learning.prior.scores
    n = len(scores)
    between = int(0.35 * (n - 1))  # a step like the goal, far from it in time
    assert scores[between] - np.median(scores) > prior[between] - np.median(prior)
    # the unedited segment list is the adapted curve's
    assert window.history.state.segments[-1].score > third.score
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.history.state.decisions == ()
    assert window.history.state.segments[2] == third


def test_decisions_and_profile_survive_a_restart(qtbot, make_window, clip, window) -> None:
    window.learning.create_profile("Surf trip")
    assert window.learning.profile_box.currentText() == "Surf trip"
    uncheck(window, 1)
    decisions = window.history.state.decisions
    window.close()  # saves the session, the clip's decisions and the profile
    profile = profiles.load_profile("Surf trip")
    assert profile.decisions == len(decisions)
    saved = load_feedback(window.learning.context.key)
    assert saved is not None and saved.decisions == len(decisions)

    again = make_window(FeatureAnalyzer())
    assert again.learning.profile_box.currentText() == "Surf trip"
    assert again.learning.profile is not None and again.learning.profile.decisions > 0
    open_and_wait(qtbot, again, clip)
    assert again.history.state.decisions == decisions


def test_a_profile_for_other_features_is_refused(qtbot, make_window, clip, window,
                                                 tmp_path: Path) -> None:
    window.learning.create_profile("Wedding")
    window.close()
    other = make_window(FeatureAnalyzer(backbone="another-backbone"))
    open_and_wait(qtbot, other, clip)
    assert other.learning.profile is None
    assert "Wedding" in other.statusBar().currentMessage()
    assert "another-backbone" in other.statusBar().currentMessage()


def test_without_features_no_decision_is_recorded(qtbot, make_window, clip) -> None:
    w = make_window()  # the plain test analysis keeps no features, and none are cached
    open_and_wait(qtbot, w, clip)
    w.learning.decide(1)
    assert w.history.state.decisions == ()
    assert "features" in w.statusBar().currentMessage()


def test_profile_reset_export_and_import_from_the_window(qtbot, window, tmp_path: Path,
                                                         monkeypatch) -> None:
    window.learning.create_profile("Dogs")
    uncheck(window, 0)
    window.learning.save()
    assert profiles.load_profile("Dogs").decisions > 0
    out = tmp_path / "dogs.hsprofile"
    monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getSaveFileName",
                        lambda *a, **k: (str(out), ""))
    window.learning.ask_export()
    assert profiles.read_profile(out).decisions > 0
    window.learning.reset_profile()
    assert profiles.load_profile("Dogs").decisions == 0  # the open clip joins again later
    monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getOpenFileName",
                        lambda *a, **k: (str(out), ""))
    window.learning.ask_import()  # same name: refused with a message, nothing replaced
    assert window.error_box is not None and "exists already" in window.error_box.text()
    assert profiles.load_profile("Dogs").decisions == 0


def test_more_and_less_keys_are_bound_and_in_the_shortcut_list(qtbot, make_window) -> None:
    from PySide6.QtGui import QKeySequence
    from PySide6.QtWidgets import QLabel

    from highlight_studio.gui.shortcuts import FEEDBACK_SHORTCUTS, ShortcutHelp

    w = make_window()
    actions = {"more_like_this": w.learning.more, "less_like_this": w.learning.less}
    assert set(actions) == {s.name for s in FEEDBACK_SHORTCUTS}
    for shortcut in FEEDBACK_SHORTCUTS:
        bound = [k.toString() for k in actions[shortcut.name].shortcuts()]
        assert bound == [QKeySequence(k).toString() for k in shortcut.keys]
    text = ShortcutHelp(w).findChild(QLabel).text()
    for shortcut in FEEDBACK_SHORTCUTS:
        assert shortcut.text in text and " / ".join(shortcut.keys) in text
    assert "or a decision" in text  # undo covers decisions, and says so


def test_the_training_panel_offers_fine_tuning_from_a_profile(qtbot, tmp_path: Path) -> None:
    from highlight_studio.gui.training_panel import TrainingPanel
    from highlight_studio.training.from_decisions import READOUT

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    assert panel.decisions_box.count() == 1  # no profile yet: unsupervised only
    profiles.save_profile(profiles.new_profile("Surf trip", "test_tiny:seed0", 0.25, 256))
    panel.show()  # profiles made since the panel was last shown are offered
    assert panel.decisions_box.findData("Surf trip") > 0
    panel.name_edit.setText("surf-tuned")
    assert panel.request().profile is None
    panel.decisions_box.setCurrentIndex(panel.decisions_box.findData("Surf trip"))
    request = panel.request()
    assert request.profile == "Surf trip" and request.config["clip_readout"] == READOUT


def test_a_decision_redraws_the_adapted_curve_once_and_leaves_the_prior(qtbot, window) -> None:
    """After the first decision the model's curve is drawn (dashed) once; later decisions and
    undo set only the adapted curve, once each."""
    curve, overlay = window.curve.curve, window.curve.overlay
    drawn = {"curve": 0, "overlay": 0}
    curve.sigPlotChanged.connect(lambda *_: drawn.__setitem__("curve", drawn["curve"] + 1))
    overlay.sigPlotChanged.connect(lambda *_: drawn.__setitem__("overlay", drawn["overlay"] + 1))
    uncheck(window, 0)
    assert drawn == {"curve": 1, "overlay": 1}
    window.table.select_row(2)
    window.learning.more_like_this()
    assert drawn == {"curve": 2, "overlay": 1}
    window.undo()
    assert drawn == {"curve": 3, "overlay": 1}
    np.testing.assert_array_equal(curve.yData, window.analysis.scores)


def test_the_curves_are_thinned_to_the_pixels_without_losing_a_peak(qtbot) -> None:
    from highlight_studio.gui.curve_view import CurveView

    view = CurveView()
    qtbot.addWidget(view)
    view.resize(600, 300)
    view.show()
    n = 36_000
    times = np.arange(n) * 0.2
    scores = np.full(n, 0.2, dtype=np.float32)
    scores[12_345], scores[30_001] = 0.97, 0.01  # one step each, far below a pixel
    view.set_curve(times, scores, n * 0.2)
    view.set_overlay(times, scores[::-1].copy(), "model", "adapted")
    qtbot.waitUntil(lambda: view.curve.curve.xData is not None
                    and len(view.curve.curve.xData) < n // 10)
    for item in (view.curve, view.overlay):
        shown = item.curve.yData
        assert len(shown) < n // 10 and shown.max() == np.float32(0.97)
        assert shown.min() == np.float32(0.01)


def test_a_refit_holds_blas_to_one_thread(qtbot, window, monkeypatch) -> None:
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before, seen = blas_threads(), []
    real = ClipContext.curve_with

    def spy(self, *args, **kwargs):
        seen.append(blas_threads())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ClipContext, "curve_with", spy)
    uncheck(window, 0)
    assert seen and all(n == 1 for n in seen[0])
    assert blas_threads() == before  # given back after the refit


def test_undo_and_redo_redraw_a_recent_curve_without_a_refit(qtbot, window, monkeypatch) -> None:
    refits = []
    real = ClipContext.curve_with

    def counted(self, *args, **kwargs):
        refits.append(True)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ClipContext, "curve_with", counted)
    uncheck(window, 0)
    first = window.analysis.scores.copy()
    uncheck(window, 1)
    second = window.analysis.scores.copy()
    assert len(refits) == 2 and not np.array_equal(first, second)
    window.undo()
    np.testing.assert_array_equal(window.analysis.scores, first)
    np.testing.assert_array_equal(window.curve.curve.yData, first)
    window.redo()
    np.testing.assert_array_equal(window.curve.curve.yData, second)
    assert len(refits) == 2
    window.learning.select_profile(None)  # another lean: nothing fitted before is reused
    assert len(refits) == 3
