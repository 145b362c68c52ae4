"""The hidden training panel: continue the unsupervised pretraining on a user's own footage.

Everything it runs is :func:`~highlight_studio.training.finetune.fine_tune` (the code path of
``highlight-studio train --init``) in a :class:`~.workers.JobSlot`; the panel only collects clips
and options, draws the loss curves and reports. It never imports torch: the window tells it the
devices and models it found. The window owns the dock, asks before closing during a run, and
shows the saved model in its picker.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..errors import HighlightStudioError
from ..events import CancelToken, PauseToken, Progress
from ..model.config import RASLConfig
from ..model.description import read_meta
from ..model.loss_terms import LOSS_TERMS, SWITCHABLE
from ..training.from_decisions import decisions_request
from ..training.inputs import ClipInfo, find_videos, survey, total_minutes
from ..training.options import TrainOptions
from ..training.runs import (
    FineTuneRequest,
    FineTuneResult,
    PendingRun,
    named_request,
    pending_runs,
    user_data_dir,
)
from .file_filters import VIDEO_FILTER
from .workers import EtaClock, Job, JobSlot, format_clock

if TYPE_CHECKING:  # the trainer imports torch; the GUI loads it only when a run starts
    from ..training.trainer import TrainEvent

# (TrainEvent field, legend label, colour): every loss term, then the total, drawn thicker.
CURVES = (*((term.name, term.label, term.colour) for term in LOSS_TERMS),
          ("total", "total", (240, 240, 240)))
MAX_EVENTS = 200  # log every steps/200 steps: enough points for a curve, a small log file
RISE_WINDOW = 5  # logged totals whose median is compared, so one noisy batch never warns
RISE_MARGIN = 0.10  # warn when that median is this much (10 %) above its best so far
NO_AUDIO = "no: trains the visual losses only"
DEFAULT_START = "default"


def loss_rise(steps: Sequence[float], totals: Sequence[float]
              ) -> tuple[float, float, float, float] | None:
    """Whether a run's total loss is rising: the median of its last RISE_WINDOW logged values
    more than RISE_MARGIN above the lowest such median earlier in the run. Returns (step and
    median at that low, step and median now), or None while it is not rising."""
    if len(totals) < 2 * RISE_WINDOW:
        return None
    windows = np.lib.stride_tricks.sliding_window_view(
        np.asarray(totals, dtype=np.float64), RISE_WINDOW)
    medians = np.median(windows, axis=1)  # medians[i]: totals[i] to totals[i + W - 1]
    low = int(np.argmin(medians[:-RISE_WINDOW]))  # windows that do not overlap the last one
    now = float(medians[-1])
    if now - medians[low] <= RISE_MARGIN * abs(medians[low]):
        return None
    return float(steps[low + RISE_WINDOW - 1]), float(medians[low]), float(steps[-1]), now


def _run_job(request: FineTuneRequest, pause: PauseToken
             ) -> Callable[[CancelToken], Iterator[object]]:
    """The worker's job: fine_tune with the panel's pause switch."""
    def job(cancel: CancelToken) -> Iterator[object]:
        from ..training.finetune import fine_tune  # imports torch: only when a run starts

        return fine_tune(request, cancel, pause)

    return job


class LossPlot(pg.PlotWidget):
    """One line per loss term against the step, appended as events arrive. A term's line (and
    legend entry) appears with its first non-zero value: a term the run does not train is
    exactly 0 and would only clutter the plot."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMenuEnabled(False)
        self.showGrid(x=True, y=True, alpha=0.15)
        self.setLabel("bottom", "step")
        self.setLabel("left", "loss")
        self.legend = self.addLegend(offset=(-10, 10))
        self.lines: dict[str, pg.PlotDataItem] = {}
        self.data: dict[str, tuple[list[float], list[float]]] = {}
        self.clear_points()

    def clear_points(self) -> None:
        for line in self.lines.values():
            self.removeItem(line)  # its legend entry goes with it
        self.lines = {}
        self.data = {name: ([], []) for name, _, _ in CURVES}

    def add(self, event: TrainEvent) -> None:
        step = float(event.step)
        for name, label, colour in CURVES:
            xs, ys = self.data[name]
            xs.append(step)
            ys.append(float(getattr(event, name)))
            if name not in self.lines and (ys[-1] != 0.0 or name == "total"):
                self.lines[name] = self.plot(name=label, pen=pg.mkPen(
                    colour, width=2.5 if name == "total" else 1.5))
            if name in self.lines:
                self.lines[name].setData(xs, ys)

    def points(self) -> int:
        return len(self.data["total"][0])


class TrainingPanel(QWidget):
    """Clips, options, Start / Pause / Cancel / Resume, live curves, and the saved model."""

    modelSaved = Signal(str, str)  # name, checkpoint path
    compareRequested = Signal(str)  # checkpoint path: re-analyse the open clip with it
    errorRaised = Signal(str, str, str)  # title, message, details
    runEnded = Signal()  # the training thread has ended (finished, failed or cancelled)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.clips: dict[Path, ClipInfo] = {}
        self.runs = JobSlot(self._on_progress, self._on_result, self._on_error,
                            self._on_cancelled, self)  # the training run
        self.runs.ended.connect(self._on_finished)
        self.survey_jobs: list[Job] = []
        self.pause_token = PauseToken()
        self.pending: PendingRun | None = None
        self.saved: FineTuneResult | None = None
        self._eta = EtaClock()
        self.start_axis_weight = 0.0  # the start model's; kept when the box stays ticked
        self._build()
        self._connect()
        self.set_start_models(())
        self.refresh_pending()
        self._refresh_buttons()

    # --- construction ---------------------------------------------------------------------
    def _build(self) -> None:
        self.clip_list = QTreeWidget()
        self.clip_list.setHeaderLabels(["Clip", "Duration", "Audio"])
        self.clip_list.setRootIsDecorated(False)
        self.clip_list.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.clip_list.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.add_files_button = QPushButton("Add clips…")
        self.add_folder_button = QPushButton("Add folder…")
        self.remove_button = QPushButton("Remove")
        self.total_label = QLabel()
        self.audio_note = QLabel("Clips without audio still train the visual losses; only the "
                                 "audio-visual loss (L_s) and the audio branch skip them, so "
                                 "steps drawn only from them dip in the curves.")
        self.audio_note.setWordWrap(True)

        self.name_edit = QLineEdit(self._free_name())
        self.start_box = QComboBox()
        self.start_box.setToolTip("Picking a model fills k, the mask ratio and the losses with "
                                  "the settings it was trained with.")
        defaults = TrainOptions()
        self.steps_box = self._spin(1, 1_000_000, defaults.steps)
        self.lr_box = QDoubleSpinBox()
        self.lr_box.setDecimals(5)
        self.lr_box.setRange(1e-5, 1.0)
        self.lr_box.setSingleStep(1e-4)
        self.lr_box.setValue(defaults.lr)
        self.batch_box = self._spin(1, 1024, defaults.batch_size)
        model_defaults = RASLConfig()  # until a start model's own settings fill them
        self.k_box = self._spin(0, 1000, model_defaults.k)
        self.mask_box = QDoubleSpinBox()
        self.mask_box.setDecimals(3)  # a start model's 0.375 is kept, not rounded to 0.38
        self.mask_box.setRange(0.0, 0.95)
        self.mask_box.setSingleStep(0.05)
        self.mask_box.setValue(model_defaults.mask_ratio)
        self.loss_boxes = {term.name: QCheckBox(term.choice) for term in SWITCHABLE}
        for box in self.loss_boxes.values():
            box.setChecked(True)
        self.axis_box = QCheckBox("Main-axis self-training")
        self.axis_box.setToolTip(
            "Also teach the score each clip's main axis of change (label-free targets from the "
            "clip's own features). Measured on benchmark features only (BENCHMARKS.md); off in "
            "the shipped models.")
        self.decisions_box = QComboBox()  # "fine-tune from my decisions": a profile, or none
        self.decisions_box.setToolTip(
            "Fine-tune from my decisions: also teach the model to rank the steps you kept above "
            "those you rejected, in this profile's clips among the ones listed (the finished "
            "model is read by its own score). Needs those clips' decisions.")
        self.fill_decision_profiles()
        self.checkpoint_box = self._spin(1, 1_000_000, 50)
        self.device_box = QComboBox()
        self.set_devices("cpu")

        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.cancel_button = QPushButton("Cancel")
        self.resume_button = QPushButton("Resume")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel("Add clips of your own footage, then Start.")
        self.status.setWordWrap(True)
        self.loss_warning = QLabel()  # shown while the run's total loss is rising
        self.loss_warning.setWordWrap(True)
        self.loss_warning.setStyleSheet(
            "QLabel { background: #5a3a00; color: #ffd27f; padding: 4px; border-radius: 3px; }")
        self.loss_warning.hide()
        self.plot = LossPlot()
        self.saved_label = QLabel()
        self.saved_label.setWordWrap(True)
        self.compare_button = QPushButton("Re-analyse the open clip with it and compare")
        self._lay_out()

    def _spin(self, low: int, high: int, value: int) -> QSpinBox:
        box = QSpinBox()
        box.setRange(low, high)
        box.setValue(value)
        return box

    def _lay_out(self) -> None:
        clip_buttons = QHBoxLayout()
        for button in (self.add_files_button, self.add_folder_button, self.remove_button):
            clip_buttons.addWidget(button)
        clip_buttons.addStretch(1)
        clip_buttons.addWidget(self.total_label)
        losses = QHBoxLayout()
        for box in self.loss_boxes.values():
            losses.addWidget(box)
        losses.addWidget(self.axis_box)
        form = QFormLayout()
        form.addRow("Model name", self.name_edit)
        form.addRow("Start model", self.start_box)
        form.addRow("Steps", self.steps_box)
        form.addRow("Learning rate", self.lr_box)
        form.addRow("Batch size", self.batch_box)
        form.addRow("k (top/bottom steps)", self.k_box)
        form.addRow("Mask ratio", self.mask_box)
        form.addRow("Losses", losses)
        form.addRow("From my decisions", self.decisions_box)
        form.addRow("Checkpoint every", self.checkpoint_box)
        form.addRow("Device", self.device_box)
        run_buttons = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.cancel_button,
                       self.resume_button):
            run_buttons.addWidget(button)
        left = QVBoxLayout()
        left.addWidget(self.clip_list, 1)
        left.addLayout(clip_buttons)
        left.addWidget(self.audio_note)
        left.addLayout(form)
        right = QVBoxLayout()
        right.addLayout(run_buttons)
        right.addWidget(self.progress)
        right.addWidget(self.status)
        right.addWidget(self.loss_warning)
        right.addWidget(self.plot, 1)
        right.addWidget(self.saved_label)
        right.addWidget(self.compare_button)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 2)
        layout.addLayout(right, 3)

    def _connect(self) -> None:
        self.add_files_button.clicked.connect(self._add_files_dialog)
        self.add_folder_button.clicked.connect(self._add_folder_dialog)
        self.remove_button.clicked.connect(self._remove_selected)
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(self.resume)
        self.compare_button.clicked.connect(self._compare)
        self.start_box.currentIndexChanged.connect(self._show_start_settings)

    # --- what the window tells the panel ---------------------------------------------------
    def set_start_models(self, models: Iterable[tuple[str, str]]) -> None:
        """The picker's models (name, checkpoint path); the shipped default comes first."""
        wanted = self.start_box.currentData()
        self.start_box.blockSignals(True)
        self.start_box.clear()
        self.start_box.addItem("Default model", DEFAULT_START)
        for name, path in models:
            self.start_box.addItem(name, path)
        index = self.start_box.findData(wanted)
        self.start_box.setCurrentIndex(max(index, 0))
        self.start_box.blockSignals(False)
        if self.start_box.currentData() != wanted:  # a new picker, or the wanted model is gone
            self._show_start_settings()

    @Slot()
    def _show_start_settings(self) -> None:
        """Fill k, mask ratio, losses and self-training with the start model's settings, so a
        run keeps them unless the user changes one (the file's header only: instant)."""
        try:
            config = read_meta(self.start_box.currentData()).config
        except HighlightStudioError as exc:
            self.status.setText(f"Cannot read the start model's settings: {exc}")
            self.start_axis_weight = 0.0  # not the previous model's
            return
        self.k_box.setValue(config.k)
        self.mask_box.setValue(config.mask_ratio)
        for term in SWITCHABLE:
            self.loss_boxes[term.name].setChecked(term.is_on(config))
        self.start_axis_weight = config.axis_weight
        self.axis_box.setChecked(config.axis_weight > 0)

    def set_devices(self, best: str) -> None:
        """CPU always; the GPU too (and chosen) when the window's probe found CUDA."""
        self.device_box.clear()
        self.device_box.addItem("CPU", "cpu")
        if best == "cuda":
            self.device_box.addItem("GPU (CUDA)", "cuda")
            self.device_box.setCurrentIndex(1)

    # --- clips -------------------------------------------------------------------------------
    @Slot()
    def _add_files_dialog(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, "Clips to train on", "", VIDEO_FILTER)
        self.add_inputs(names)

    @Slot()
    def _add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of clips to train on")
        if folder:
            self.add_inputs([folder])

    def add_inputs(self, inputs: Iterable[str | Path]) -> Job | None:
        """List files and the videos in folders; a worker probes their duration and audio."""
        try:
            paths = [p for p in find_videos(inputs) if p not in self.clips]
        except HighlightStudioError as exc:
            self.status.setText(str(exc))
            return None
        if not paths:
            return None
        job = Job(lambda cancel: survey(paths, cancel))
        job.worker.result.connect(self._on_clip_info)
        job.thread.finished.connect(self._on_survey_finished)
        self.survey_jobs.append(job)
        job.start()
        return job

    @Slot(object)
    def _on_clip_info(self, info: ClipInfo) -> None:
        if info.path in self.clips:  # added twice while the first survey was running
            return
        self.clips[info.path] = info
        if info.usable:
            columns = [info.path.name, format_clock(info.duration), "yes" if info.has_audio
                       else NO_AUDIO]
        else:
            columns = [info.path.name, "", f"cannot be used: {info.problem}"]
        item = QTreeWidgetItem(columns)
        item.setData(0, Qt.ItemDataRole.UserRole, str(info.path))
        item.setToolTip(0, str(info.path))
        self.clip_list.addTopLevelItem(item)
        self._show_total()

    @Slot()
    def _on_survey_finished(self) -> None:
        for job in [j for j in self.survey_jobs if not j.is_running()]:
            job.thread.wait()
            self.survey_jobs.remove(job)

    @Slot()
    def _remove_selected(self) -> None:
        for item in self.clip_list.selectedItems():
            self.clips.pop(Path(item.data(0, Qt.ItemDataRole.UserRole)), None)
            self.clip_list.takeTopLevelItem(self.clip_list.indexOfTopLevelItem(item))
        self._show_total()

    def usable_clips(self) -> list[ClipInfo]:
        return [c for c in self.clips.values() if c.usable]

    def _show_total(self) -> None:
        usable = self.usable_clips()
        silent = sum(not c.has_audio for c in usable)
        clips = f"{len(usable)} clip" + ("" if len(usable) == 1 else "s")
        self.total_label.setText(f"{clips}, {total_minutes(usable):.1f} min"
                                 + (f" ({silent} without audio)" if silent else ""))
        self._refresh_buttons()

    # --- runs --------------------------------------------------------------------------------
    def request(self) -> FineTuneRequest:
        """The run the panel's fields describe (raises DatasetError for a bad name)."""
        steps = self.steps_box.value()
        log_every = max(1, steps // MAX_EVENTS)
        # The trainer saves only on logged steps: round the checkpoint interval up to one.
        checkpoint_every = -(-self.checkpoint_box.value() // log_every) * log_every
        options = TrainOptions(
            steps=steps, lr=self.lr_box.value(), batch_size=self.batch_box.value(),
            device=self.device_box.currentData(), log_every=log_every,
            checkpoint_every=checkpoint_every)
        config = {
            "k": self.k_box.value(), "mask_ratio": self.mask_box.value(),
            **{term.switch: self.loss_boxes[term.name].isChecked() for term in SWITCHABLE},
            "axis_weight": (self.start_axis_weight or 1.0) if self.axis_box.isChecked() else 0.0,
        }
        request = named_request(
            self.name_edit.text().strip(), [c.path for c in self.usable_clips()], options,
            init=self.start_box.currentData(), config=config)
        profile = self.decisions_box.currentData()
        return decisions_request(request, profile) if profile else request

    def fill_decision_profiles(self) -> None:
        """The profiles a run may learn from (the user data folder's), keeping the pick."""
        from ..feedback.profiles import list_profiles

        wanted = self.decisions_box.currentData()
        self.decisions_box.clear()
        self.decisions_box.addItem("No (unsupervised only)", None)
        for name in list_profiles():
            self.decisions_box.addItem(name, name)
        self.decisions_box.setCurrentIndex(max(self.decisions_box.findData(wanted), 0))

    def showEvent(self, event: QShowEvent) -> None:
        """Profiles made in the window since the panel was last shown appear in the list."""
        self.fill_decision_profiles()
        super().showEvent(event)

    @Slot()
    def start(self) -> None:
        if not self.usable_clips():
            self.status.setText("Add at least one clip that can be read.")
            return
        try:
            request = self.request()
        except HighlightStudioError as exc:
            self.status.setText(str(exc))
            return
        self._launch(request, f"Training {Path(request.out).stem}")

    @Slot()
    def resume(self) -> None:
        """Continue the pending run from its last checkpoint (or from the start if none)."""
        if self.pending is None:
            return
        pending = self.pending
        request = dataclasses.replace(pending.request, resume=pending.step > 0)
        self._launch(request, f"Resuming {pending.name} from step {pending.step}")

    def _launch(self, request: FineTuneRequest, text: str) -> None:
        if self.job is not None:
            return
        self.pause_token = PauseToken()
        self.saved = None
        self.saved_label.setText("")
        self.loss_warning.hide()
        self.plot.clear_points()
        self._eta = EtaClock()
        self.status.setText(f"{text}…")
        self.runs.start(_run_job(request, self.pause_token))
        self._refresh_buttons()

    @Slot()
    def toggle_pause(self) -> None:
        """Pause between steps, keeping the thread, model and optimizer; again to continue."""
        if self.job is None:
            return
        if self.pause_token.paused:
            self.pause_token.resume()
            self.status.setText("Continuing…")
        else:
            self.pause_token.pause()
            self.status.setText("Paused (Continue to go on; Cancel keeps the last checkpoint)")
        self._refresh_buttons()

    @Slot()
    def cancel(self) -> None:
        if self.runs.cancel():
            self.status.setText("Cancelling…")

    @property
    def job(self) -> Job | None:
        """The training run's job, while one runs."""
        return self.runs.job

    def is_running(self) -> bool:
        return self.runs.busy

    def _on_progress(self, event: Progress) -> None:
        self.status.setText(self._eta.describe(event))
        self.progress.setValue(round((event.fraction or 0.0) * 1000))

    def _on_result(self, item: object) -> None:
        if isinstance(item, ClipInfo):
            if not item.usable:
                self.status.setText(f"Skipped {item.path.name}: {item.problem}")
        elif isinstance(item, FineTuneResult):
            self._on_saved(item)
        else:
            self._on_train_event(cast("TrainEvent", item))

    def _on_train_event(self, event: TrainEvent) -> None:
        self.plot.add(event)
        self._warn_if_rising()
        self.progress.setValue(round(event.step / event.total_steps * 1000))
        self.status.setText(f"Step {event.step} of {event.total_steps} · "
                            f"{event.steps_per_sec:.1f} steps/s · "
                            f"{format_clock(event.eta_seconds)} left · "
                            f"total loss {event.total:.3f}")

    def _warn_if_rising(self) -> None:
        """Say so in the panel while the total loss climbs (a learning rate too high, or
        footage the start model cannot take); the warning stays until the loss comes back
        down, and goes with the next run."""
        rise = loss_rise(*self.plot.data["total"])
        if rise is None:
            self.loss_warning.hide()
            return
        low_step, low, step, now = rise
        self.loss_warning.setText(
            f"⚠ The total loss is rising: {now:.3f} around step {step:.0f}, up from {low:.3f} "
            f"around step {low_step:.0f}. A lower learning rate may help; Cancel keeps the "
            "last checkpoint.")
        self.loss_warning.show()

    def _on_saved(self, result: FineTuneResult) -> None:
        self.saved = result
        name = result.checkpoint.stem
        self.status.setText(f"Done: {result.step} steps.")
        self.saved_label.setText(f"Saved model <b>{name}</b> to {result.checkpoint} "
                                 f"(card: {result.card.name}).")
        self.name_edit.setText(self._free_name())
        self.modelSaved.emit(name, str(result.checkpoint))

    def _on_error(self, message: str, details: str) -> None:
        self.status.setText("Training failed.")
        self.errorRaised.emit("Training failed", message, details)

    def _on_cancelled(self) -> None:
        self.status.setText("Cancelled. Resume continues from the last checkpoint.")

    @Slot()
    def _on_finished(self) -> None:
        self.refresh_pending()
        self._refresh_buttons()
        self.runEnded.emit()

    def refresh_pending(self) -> None:
        """Offer Resume for the newest run that stopped early (also after a restart)."""
        runs = pending_runs()
        self.pending = runs[0] if runs else None
        if self.pending is not None:
            p = self.pending
            self.resume_button.setToolTip(f"Continue {p.name} from step {p.step} of "
                                          f"{p.request.options.steps}")

    def _refresh_buttons(self) -> None:
        running = self.job is not None
        self.start_button.setEnabled(not running and bool(self.usable_clips()))
        self.pause_button.setEnabled(running)
        self.pause_button.setText("Continue" if running and self.pause_token.paused else "Pause")
        self.cancel_button.setEnabled(running)
        self.resume_button.setVisible(self.pending is not None)
        self.resume_button.setEnabled(not running)
        self.compare_button.setEnabled(self.saved is not None)

    @Slot()
    def _compare(self) -> None:
        if self.saved is not None:
            self.compareRequested.emit(str(self.saved.checkpoint))

    def _free_name(self) -> str:
        """A name used by no model and no unfinished run (starting would overwrite it)."""
        root = user_data_dir()
        n = 1
        while ((root / "models" / f"my-footage-{n}.safetensors").exists()
               or (root / "training" / f"my-footage-{n}").exists()):
            n += 1
        return f"my-footage-{n}"

    def shutdown(self) -> None:
        """Cancel and wait for every thread (a cancelled run keeps its last checkpoint)."""
        self.runs.stop()
        for job in self.survey_jobs:
            job.stop()
        self.survey_jobs.clear()
