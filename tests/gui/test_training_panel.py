"""The hidden training panel, offscreen, on tiny clips and a tiny start model: revealed by its
shortcut and remembered; clips listed with duration and audio; a run that shows its losses,
pauses, cancels, resumes, saves a model the picker lists, and compares it on the open clip."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from tinytrain import CONFIG, STEP, tiny_clips, tiny_start_model

from highlight_studio.model.checkpoint import save_checkpoint
from highlight_studio.model.description import CheckpointMeta, read_meta
from highlight_studio.model.rasl import RASL
from highlight_studio.scoring import analyze
from highlight_studio.training import trainer
from highlight_studio.training.card import card_path
from highlight_studio.training.runs import pending_runs, user_data_dir

from .test_window import open_and_wait

SHIFT_CTRL = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
FIRST_FEATURES_MS = 180_000  # the first features of a run: decoding + backbone, slow on a busy box


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)  # tiny tensors; the machine's other cores are someone else's


@pytest.fixture
def footage(tmp_path: Path) -> tuple[Path, Path]:
    return tiny_clips(tmp_path / "footage")


@pytest.fixture
def start_model() -> Path:
    folder = user_data_dir() / "models"  # where the picker finds user models
    folder.mkdir(parents=True)
    return tiny_start_model(folder / "tiny-start")


def _press_shortcut(qtbot, window) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)  # window shortcuts need the active window
    qtbot.keyClick(window, Qt.Key.Key_T, SHIFT_CTRL)


def _list_clips(qtbot, panel, paths) -> None:
    panel.add_inputs(paths)
    qtbot.waitUntil(lambda: not panel.survey_jobs, timeout=10_000)


def _set_up_run(panel, name: str, steps: int) -> None:
    panel.name_edit.setText(name)
    panel.start_box.setCurrentIndex(panel.start_box.findText("tiny-start"))
    panel.steps_box.setValue(steps)
    panel.batch_box.setValue(2)
    assert panel.k_box.value() == 2  # picking the tiny model filled its k (8-step window)
    panel.checkpoint_box.setValue(20)


def _panel_with_clips(qtbot, make_window, footage, start_model, name: str, steps: int):
    """A window with the tiny start model in its picker and the panel set up on the footage."""
    window = make_window()
    window.add_model_choice("tiny-start", str(start_model))
    window.toggle_training_panel()
    _list_clips(qtbot, window.training, footage)
    _set_up_run(window.training, name, steps)
    return window, window.training


def _last_step(panel) -> float:
    steps = panel.plot.data["total"][0]
    return steps[-1] if steps else 0


def test_the_shortcut_reveals_the_panel_and_the_window_remembers(qtbot, make_window) -> None:
    window = make_window()
    assert window.training_dock is None and not window.advanced_menu.menuAction().isVisible()
    _press_shortcut(qtbot, window)
    assert window.training_dock is not None and window.training_dock.isVisible()
    assert window.advanced_menu.menuAction().isVisible()
    window.close()

    again = make_window()  # a restart: revealed and shown as it was left
    assert again.training_dock is not None and not again.training_dock.isHidden()
    assert again.advanced_menu.menuAction().isVisible()
    _press_shortcut(qtbot, again)
    assert again.training_dock.isHidden()
    again.close()

    third = make_window()  # still revealed (the menu), but hidden as it was left
    assert third.advanced_menu.menuAction().isVisible() and third.training_dock.isHidden()


def test_clips_show_duration_audio_and_what_cannot_be_used(qtbot, make_window, footage,
                                                           tmp_path) -> None:
    window = make_window()
    window.toggle_training_panel()
    panel = window.training
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    _list_clips(qtbot, panel, [broken])
    assert "cannot be used" in panel.clip_list.topLevelItem(0).text(2)
    assert not panel.start_button.isEnabled()  # no usable clip yet
    _list_clips(qtbot, panel, [footage[0].parent])  # a folder: both clips
    rows = {panel.clip_list.topLevelItem(i).text(0): panel.clip_list.topLevelItem(i)
            for i in range(panel.clip_list.topLevelItemCount())}
    assert [rows["a.mp4"].text(i) for i in (1, 2)] == ["0:02", "yes"]
    assert rows["b.mp4"].text(2).startswith("no: trains the visual losses")
    assert panel.total_label.text() == "2 clips, 0.1 min (1 without audio)"
    assert panel.start_button.isEnabled()
    _list_clips(qtbot, panel, footage)  # the same clips again: listed once
    assert panel.clip_list.topLevelItemCount() == 3
    rows["b.mp4"].setSelected(True)
    panel.remove_button.click()
    assert panel.total_label.text() == "1 clip, 0.0 min"


def test_train_pause_cancel_resume_save_and_compare(qtbot, make_window, footage, start_model,
                                                    clip, monkeypatch) -> None:
    # A tiny step takes milliseconds: 100 of them could end before the window has even drawn
    # step 40 on a loaded machine, and the pause would come too late. 20 ms per step leaves
    # the GUI seconds of slack without making the run long.
    real_wait = trainer.wait_if_paused

    def slow_step(pause, cancel) -> float:
        time.sleep(0.02)
        return real_wait(pause, cancel)

    monkeypatch.setattr(trainer, "wait_if_paused", slow_step)
    window = make_window(analyze, keep_curves=False)
    window.add_model_choice("tiny-start", str(start_model))  # what the start-up probe does
    window._select_model(str(start_model))
    open_and_wait(qtbot, window, clip)
    before = window.analysis.scores.copy()
    window.toggle_training_panel()
    panel = window.training
    _list_clips(qtbot, panel, footage)
    _set_up_run(panel, "mine", steps=100)  # an event every step

    panel.start_button.click()
    # Features first: decoding and the backbone over every clip, which can take a while on a
    # loaded machine (no JIT compiles any more: audio is plain numpy); then the run is quick.
    qtbot.waitUntil(lambda: _last_step(panel) >= 1, timeout=FIRST_FEATURES_MS)
    qtbot.waitUntil(lambda: _last_step(panel) >= 40, timeout=20_000)  # a checkpoint at 20
    panel.pause_button.click()
    assert panel.pause_button.text() == "Continue"
    qtbot.wait(500)  # events sent before the pause land
    paused_at = panel.plot.points()
    qtbot.wait(500)
    assert panel.plot.points() == paused_at and _last_step(panel) < 100
    panel.pause_button.click()  # continue: the same thread goes on
    qtbot.waitUntil(lambda: panel.plot.points() > paused_at, timeout=10_000)
    panel.pause_button.click()
    with qtbot.waitSignal(panel.runEnded, timeout=10_000):
        panel.cancel_button.click()  # cancelling a paused run
    assert "Cancelled" in panel.status.text() and panel.resume_button.isVisible()
    assert panel.pending.name == "mine" and 20 <= panel.pending.step < 100
    assert panel.pending.step % 20 == 0
    resumed_from = panel.pending.step

    with qtbot.waitSignal(panel.modelSaved, timeout=30_000) as saved:
        panel.resume_button.click()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=10_000)
    name, path = saved.args
    assert name == "mine" and Path(path) == user_data_dir() / "models" / "mine.safetensors"
    assert panel.plot.data["total"][0][0] > resumed_from and _last_step(panel) == 100
    assert card_path(Path(path)).exists() and pending_runs() == []
    assert not panel.resume_button.isVisible()
    assert window.model_box.itemText(window.model_box.findData(path)) == "mine"
    assert panel.start_box.findData(path) >= 0  # and it can start the next run

    with qtbot.waitSignal(window.jobEnded, timeout=20_000):
        panel.compare_button.click()
    assert window.analysis.model_name == "mine" and window.checkpoint() == path
    _, overlay = window.curve.overlay.getOriginalDataset()
    np.testing.assert_array_equal(overlay, before)  # the start model's curve, under the new
    assert window.curve.legend.isVisible()
    assert not np.array_equal(window.analysis.scores, before)
    with qtbot.waitSignal(window.jobEnded, timeout=20_000):
        window.analyze_button.click()  # any later analysis drops the comparison
    assert len(window.curve.overlay.getOriginalDataset()[1] or ()) == 0
    assert not window.curve.legend.isVisible()


def test_closing_during_a_run_asks_and_the_run_can_resume_after_a_restart(
        qtbot, make_window, footage, start_model) -> None:
    window, panel = _panel_with_clips(qtbot, make_window, footage, start_model, "long",
                                      steps=1_000_000)
    panel.start_button.click()  # extracting features counts as running too
    asked: list[bool] = []
    window.confirm_abandon = lambda: asked.append(True) or False  # "keep training"
    window.close()
    assert asked and window.isVisible() and panel.is_running()
    window.confirm_abandon = lambda: True
    window.close()
    assert not window.isVisible() and window.training.job is None

    again = make_window()
    assert again.training.pending.name == "long" and again.training.resume_button.isVisible()


def test_a_failed_run_is_explained_in_a_dialog(qtbot, make_window, footage,
                                               start_model) -> None:
    window, panel = _panel_with_clips(qtbot, make_window, footage, start_model, "too-wide",
                                      steps=10)
    panel.k_box.setValue(10)  # 10 top and 10 bottom steps cannot fit the 8-step window
    with qtbot.waitSignal(panel.runEnded, timeout=FIRST_FEATURES_MS):  # fails after features
        panel.start_button.click()
    assert window.error_box is not None and "k=10" in window.error_box.text()
    assert panel.status.text() == "Training failed." and panel.start_button.isEnabled()


def test_the_self_training_box_reaches_the_request_and_the_plot(qtbot, make_window, footage,
                                                                 start_model) -> None:
    _, panel = _panel_with_clips(qtbot, make_window, footage, start_model, "axis", 4)
    assert panel.request().config["axis_weight"] == 0.0  # off, as in the shipped models
    panel.axis_box.setChecked(True)
    assert panel.request().config["axis_weight"] == 1.0
    from highlight_studio.training.trainer import TrainEvent

    panel.plot.add(TrainEvent(step=1, total_steps=4, recon=1.0, kpoint=0.5, scl=2.0, aux=1.0,
                              spread=0.0, axis=0.75, total=5.25))
    assert panel.plot.data["axis"][1] == [0.75]  # drawn beside the paper's losses
    assert "main-axis self-training" in _legend(panel.plot)


def _legend(plot) -> list[str]:
    return [label.text for _, label in plot.legend.items]


def test_terms_a_run_does_not_train_are_not_drawn(qtbot) -> None:
    from highlight_studio.gui.training_panel import LossPlot
    from highlight_studio.training.trainer import TrainEvent

    plot = LossPlot()
    qtbot.addWidget(plot)
    for step in (1, 2):  # no audio-visual loss, no self-training: both exactly 0
        plot.add(TrainEvent(step=step, total_steps=2, recon=1.0, kpoint=0.5, scl=0.0, aux=0.2,
                            spread=0.0, axis=0.0, total=1.7))
    assert sorted(_legend(plot)) == ["L_au masked", "L_e reconstruction", "L_r k-point", "total"]
    assert set(plot.lines) == {"recon", "kpoint", "aux", "total"}
    assert plot.data["scl"][1] == [0.0, 0.0]  # kept, only not drawn
    plot.clear_points()
    assert _legend(plot) == [] and plot.lines == {} and plot.points() == 0


def test_the_panel_draws_every_loss_term_and_offers_the_switchable_ones(qtbot) -> None:
    from highlight_studio.gui.training_panel import LossPlot, TrainingPanel
    from highlight_studio.model.loss_terms import LOSS_TERMS, SWITCHABLE, TERM_NAMES
    from highlight_studio.training.trainer import TrainEvent

    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.add(TrainEvent(step=1, total_steps=1, total=1.0, **{name: 0.5 for name in TERM_NAMES}))
    assert set(plot.lines) == {*TERM_NAMES, "total"}
    assert sorted(_legend(plot)) == sorted([*(term.label for term in LOSS_TERMS), "total"])
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    assert [box.text() for box in panel.loss_boxes.values()] == [t.choice for t in SWITCHABLE]


def test_picking_a_start_model_fills_its_settings(qtbot, make_window, start_model) -> None:
    """A run keeps the start model's k, mask ratio, losses and self-training weight unless the
    user changes one; picking the default model brings back its own."""
    custom = dataclasses.replace(CONFIG, k=3, mask_ratio=0.375, use_scl=False, axis_weight=5.0)
    path = save_checkpoint(start_model.parent / "custom", RASL(custom),
                           CheckpointMeta(config=custom, backbone_id="test_tiny:seed0",
                                          step_seconds=STEP))
    window = make_window()
    window.add_model_choice("custom", str(path))
    window.toggle_training_panel()
    panel = window.training
    panel.start_box.setCurrentIndex(panel.start_box.findText("custom"))
    assert (panel.k_box.value(), panel.mask_box.value()) == (3, 0.375)  # not 0.38
    assert panel.axis_box.isChecked() and not panel.loss_boxes["scl"].isChecked()
    assert panel.request().config == {  # the start's weight, not the box's plain 1.0
        "k": 3, "mask_ratio": 0.375, "use_kpoint_loss": True, "use_scl": False,
        "use_aux_task": True, "axis_weight": 5.0}
    path.unlink()  # gone since the picker was filled: its settings are not kept
    panel.start_box.setCurrentIndex(panel.start_box.findData("default"))
    panel.start_box.setCurrentIndex(panel.start_box.findText("custom"))
    panel.axis_box.setChecked(True)
    assert "Cannot read" in panel.status.text() and panel.request().config["axis_weight"] == 1.0

    panel.start_box.setCurrentIndex(panel.start_box.findData("default"))
    default = read_meta("default").config
    config = panel.request().config
    assert (config["k"], config["mask_ratio"], config["axis_weight"]) == (
        default.k, default.mask_ratio, default.axis_weight)
    assert config["use_kpoint_loss"] and config["use_scl"] and config["use_aux_task"]
    assert not panel.axis_box.isChecked()


def test_an_unreadable_start_model_is_explained_and_changes_nothing(qtbot, make_window,
                                                                    start_model) -> None:
    broken = start_model.parent / "broken.safetensors"
    broken.write_bytes(b"not a model")
    window = make_window()
    window.add_model_choice("broken", str(broken))
    window.toggle_training_panel()
    panel = window.training
    panel.k_box.setValue(7)
    panel.start_box.setCurrentIndex(panel.start_box.findText("broken"))
    assert "Cannot read the start model's settings" in panel.status.text()
    assert "broken.safetensors" in panel.status.text() and panel.k_box.value() == 7


def test_the_panel_leaves_the_curve_and_the_side_panel_alone(qtbot, make_window, clip) -> None:
    from highlight_studio.gui.curve_view import MIN_HEIGHT

    window = make_window()
    window.resize(1280, 800)
    open_and_wait(qtbot, window, clip)
    options_dock = window.options.parentWidget()
    segments_dock = window.segment_panel.parentWidget()
    before = options_dock.height()
    window.toggle_training_panel()
    qtbot.waitUntil(lambda: window.training_dock.isVisible())
    qtbot.wait(50)
    assert window.height() == 800  # the panel's form does not grow the window...
    assert window.minimumSizeHint().height() < 720  # ...nor keep it above a small screen
    assert window.curve.height() >= MIN_HEIGHT  # and the curve keeps room to be read
    window.toggle_training_panel()
    qtbot.waitUntil(lambda: not window.training_dock.isVisible())
    qtbot.wait(50)
    assert options_dock.height() == before  # the side panel closes up: no empty gap
    gap = segments_dock.geometry().top() - options_dock.geometry().bottom()
    assert 0 < gap <= 8  # a splitter handle
    assert window.curve.height() > MIN_HEIGHT


def test_a_rising_loss_is_flagged_in_the_panel(qtbot) -> None:
    from highlight_studio.gui.training_panel import TrainingPanel, loss_rise
    from highlight_studio.training.trainer import TrainEvent

    steps = list(range(1, 21))
    falling = [2.0 / s for s in steps]
    assert loss_rise(steps, falling) is None
    spike = [*falling[:-1], 5.0]  # one noisy batch at the end: the median ignores it
    assert loss_rise(steps, spike) is None
    rising = [*falling[:10], *(0.2 + 0.1 * k for k in range(10))]
    low_step, low, step, now = loss_rise(steps, rising)
    assert step == 20 and now == pytest.approx(np.median(rising[-5:]))
    assert low == pytest.approx(min(np.median(rising[i:i + 5]) for i in range(11)))
    assert low_step < step

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.show()
    for s, total in zip(steps, rising, strict=True):
        panel._on_train_event(TrainEvent(step=s, total_steps=20, recon=total, kpoint=0.0,
                                         scl=0.0, aux=0.0, spread=0.0, axis=0.0, total=total))
    assert panel.loss_warning.isVisible()
    assert "rising" in panel.loss_warning.text() and f"{now:.3f}" in panel.loss_warning.text()
    for s in range(21, 31):  # it comes back down below its best
        panel._on_train_event(TrainEvent(step=s, total_steps=30, recon=0.05, kpoint=0.0,
                                         scl=0.0, aux=0.0, spread=0.0, axis=0.0, total=0.05))
    assert not panel.loss_warning.isVisible()
