"""The Highlight Studio window: wires the views to the open clip's session
(:class:`~.document.ClipSession`: its analysis, options and edit history), whose changes they
observe.

The window owns every worker thread (analysis and export in a :class:`~.workers.JobSlot` each,
thumbnails, the start-up device probe) and on close cancels them and waits, so Qt never
destroys a running thread. The analysis function is
injected (``scoring.analyze`` by default) so tests can drive the real window with a curve they
know.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QToolBar,
)

from .. import scoring
from ..errors import HighlightStudioError
from ..events import CancelToken, Progress
from ..media import truncation_note
from ..scoring import Analysis
from . import document as doc
from .curve_cache import load_curve, save_curve
from .curve_view import CurveView
from .editing import SegmentEditing
from .environment import LocalSetup, probe_setup
from .export_dialog import ExportDialog, ExportDone, ExportRequest, export_job
from .feedback_panel import FeedbackPanel
from .file_filters import VIDEO_FILTER
from .options_panel import OptionsPanel
from .preview import Preview
from .segment_table import SegmentPanel
from .session import Session, load_session, save_session
from .settings import Settings, load_settings, save_settings
from .shortcuts import APPLICATION_WIDE, SHORTCUTS, ShortcutHelp, UndoKeysEverywhere
from .thumbnails import FramesAt, ThumbnailStrip
from .timecodes import Clock
from .training_panel import TrainingPanel
from .workers import EtaClock, Job, JobSlot, RetiredJobs

log = logging.getLogger(__name__)
AnalyzeFunction = Callable[..., Iterator[object]]
DEFAULT_MODEL_LABEL = "Default model"
SIDE_WIDTH = 420  # the side docks: room for three timecode columns
TRAINING_SHARE = 0.35  # the training dock's first height, as a share of the window's


def _b64(data: QByteArray) -> str:
    return base64.b64encode(bytes(data.data())).decode("ascii")


def _unb64(text: str) -> QByteArray:
    return QByteArray(base64.b64decode(text.encode("ascii"))) if text else QByteArray()


class MainWindow(SegmentEditing, QMainWindow):
    analysisFinished = Signal(object)  # the Analysis now shown
    jobEnded = Signal()  # an analysis thread has ended (done, failed or cancelled) and is gone
    exportEnded = Signal()  # likewise for an export

    def __init__(self, analyze: AnalyzeFunction = scoring.analyze,
                 frames_at: FramesAt | None = None, probe_local_setup: bool = True,
                 keep_curves: bool = True) -> None:
        super().__init__()
        self.setWindowTitle("Highlight Studio")
        self.setAcceptDrops(True)
        self._analyze = analyze
        self._keep_curves = keep_curves  # reopen analysed clips from curve_cache
        self.settings: Settings = load_settings()
        self.session = doc.ClipSession(self.settings.options)  # the open clip and its edits
        self.analyses = JobSlot(self._on_progress, self._on_analysis, self._on_error,
                                self._on_cancelled, self)  # the open clip's analysis
        self.analyses.ended.connect(self._on_job_ended)
        self.analyses.ended.connect(self.jobEnded)
        self.retired = RetiredJobs()  # analyses cancelled for another clip, still winding down
        self.setup_job: Job | None = None
        self.exports = JobSlot(self._on_export_progress, self._on_export_done,
                               self._on_export_error, self._on_export_cancelled, self)
        self.exports.ended.connect(self._on_job_ended)
        self.exports.ended.connect(self.exportEnded)
        self.error_box: QMessageBox | None = None
        self._eta = EtaClock()
        self.clock = Clock()  # the open clip's timecode rate
        self.training: TrainingPanel | None = None  # created when first revealed
        self.training_dock: QDockWidget | None = None
        self._best_device = "cpu"  # until the start-up probe answers
        self._compare_from: Analysis | None = None  # the curve to draw under the next one
        self.confirm_abandon: Callable[[], bool] = self._ask_abandon_run  # tests replace it

        self.preview = Preview()
        self.curve = CurveView()
        self.options = OptionsPanel()
        self.segment_panel = SegmentPanel()
        self.table = self.segment_panel.table
        self.thumbnails = ThumbnailStrip(self.curve.thumbs, frames_at)
        self._build_layout()
        self._build_actions()
        self._build_status_bar()
        self._connect()
        self.learning = FeedbackPanel(self)  # decisions, the adapted curve, profiles
        self.session.observe(self._state_changed)  # options, curve, preview, feedback
        self.table.follow(self.session)  # after the curve: its reselect redraws the outlines
        self._session_timer = QTimer(self)
        self._session_timer.setSingleShot(True)
        self._session_timer.setInterval(800)
        self._session_timer.timeout.connect(self.save_session)

        self.options.show_options(self.session.options)
        self._set_model_choices(())
        if self.settings.training_revealed:
            self._reveal_training()  # before the layout, which says whether it is shown
        self._restore_layout()
        self._refresh_actions()
        if probe_local_setup:
            self.setup_job = Job(probe_setup)
            self.setup_job.worker.result.connect(self._on_setup)
            self.setup_job.start()

    # --- the open clip and the jobs, read-only (they live in the session and the slots) ----
    @property
    def analysis(self) -> Analysis | None:
        return self.session.analysis

    @property
    def history(self) -> doc.History | None:
        return self.session.history

    @property
    def job(self) -> Job | None:
        """The open clip's analysis, while it runs."""
        return self.analyses.job

    @property
    def export_job(self) -> Job | None:
        """The export, while it runs."""
        return self.exports.job

    # --- construction ---------------------------------------------------------------------
    def _build_layout(self) -> None:
        split = QSplitter(Qt.Orientation.Vertical)
        split.setObjectName("mainSplitter")
        split.addWidget(self.preview)
        split.addWidget(self.curve)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        self.splitter = split
        self.setCentralWidget(split)
        docks = []
        for title, widget, name in (("Segment options", self.options, "optionsDock"),
                                    ("Segments", self.segment_panel, "segmentsDock")):
            dock = QDockWidget(title, self)
            dock.setObjectName(name)
            dock.setWidget(widget)
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
            docks.append(dock)
        self.resize(1280, 800)
        # The options need their form's height and never more (extra height would open a gap
        # above the table when a bottom dock closes); the table takes the rest.
        self.options.setMaximumHeight(self.options.sizeHint().height())
        self.resizeDocks(docks, [self.options.sizeHint().height(), 800],
                         Qt.Orientation.Vertical)
        self.resizeDocks(docks[:1], [SIDE_WIDTH], Qt.Orientation.Horizontal)

    def _build_actions(self) -> None:
        self.actions_by_name: dict[str, QAction] = {}
        for shortcut in SHORTCUTS:
            action = QAction(shortcut.text, self)
            action.setShortcuts([QKeySequence(k) for k in shortcut.keys])
            action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut
                                      if shortcut.name in APPLICATION_WIDE
                                      else Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(getattr(self, shortcut.name))
            self.addAction(action)
            self.actions_by_name[shortcut.name] = action
        # Spin boxes keep Ctrl+Z for their own text; the window's undo wins there too.
        self._undo_keys = UndoKeysEverywhere(self)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self._undo_keys)
        a = self.actions_by_name
        a["open_dialog"].setText("&Open…")
        a["export_dialog"].setText("&Export…")
        a["undo"].setText("&Undo")
        a["redo"].setText("&Redo")
        a["show_shortcuts"].setText("&Keyboard shortcuts")
        a["toggle_training_panel"].setText("&Training panel")
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(a["open_dialog"])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        file_menu.addAction(a["export_dialog"])
        file_menu.addSeparator()
        file_menu.addAction("&Quit", QKeySequence.StandardKey.Quit, self.close)
        edit_menu = menu.addMenu("&Edit")
        edit_menu.addAction(a["undo"])
        edit_menu.addAction(a["redo"])
        edit_menu.addSeparator()
        for name in ("delete_segments", "mark_in", "mark_out", "clear_marks"):
            edit_menu.addAction(a[name])
        play_menu = menu.addMenu("&Playback")
        for name in ("toggle_play", "pause", "shuttle_back", "shuttle_forward", "frame_back",
                     "frame_forward", "previous_segment", "next_segment"):
            play_menu.addAction(a[name])
        view_menu = menu.addMenu("&View")
        for name in ("zoom_in", "zoom_out", "zoom_fit"):
            view_menu.addAction(a[name])
        # Appears only once the hidden training panel has been revealed.
        self.advanced_menu = menu.addMenu("&Advanced")
        self.advanced_menu.addAction(a["toggle_training_panel"])
        self.advanced_menu.menuAction().setVisible(False)
        menu.addMenu("&Help").addAction(a["show_shortcuts"])
        self._rebuild_recent_menu()

        bar = QToolBar("Analysis", self)
        bar.setObjectName("analysisToolbar")
        bar.setMovable(False)
        bar.addAction(a["open_dialog"])
        bar.addWidget(QLabel(" Model "))
        self.model_box = QComboBox()
        self.model_box.setMinimumContentsLength(18)
        self.model_box.setToolTip("The shipped model or one you trained")
        bar.addWidget(self.model_box)
        self.analyze_button = QPushButton("Analyse")
        self.analyze_button.setToolTip("Analyse the clip again with the chosen model")
        bar.addWidget(self.analyze_button)
        bar.addSeparator()
        bar.addAction(a["export_dialog"])
        self.addToolBar(bar)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.stage_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.progress.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.device_label = QLabel("Device: checking…")
        status.addWidget(self.stage_label, 1)
        status.addWidget(self.progress)
        status.addWidget(self.cancel_button)
        status.addPermanentWidget(self.device_label)
        self._show_busy(False)

    def _connect(self) -> None:
        self.cancel_button.clicked.connect(self.cancel_analysis)
        self.analyze_button.clicked.connect(self.reanalyze)
        self.model_box.activated.connect(self._on_model_picked)
        self.options.optionsChanged.connect(self._on_options)
        self.curve.thresholdDragged.connect(self._on_threshold_dragged)
        self.curve.thresholdDragFinished.connect(self._end_merge)
        self.curve.seekRequested.connect(self.preview.seek)
        self.curve.segmentEdited.connect(self._on_segment_dragged)
        self.preview.positionChanged.connect(self.curve.set_playhead)
        self.table.segment_model.includeToggled.connect(self._on_include_toggled)
        self.table.segmentChosen.connect(self._on_segment_chosen)
        self.table.playRequested.connect(self.play_segment)
        self.table.rowsSelected.connect(self.curve.set_selected)

    # --- opening and analysing --------------------------------------------------------------
    @Slot()
    def open_dialog(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open clip", self.settings.last_folder,
                                              VIDEO_FILTER)
        if name:
            self.open_clip(Path(name))

    def open_clip(self, path: str | Path, checkpoint: str | None = None) -> None:
        """Show ``path``: stop what runs, restore its session's model, start the analysis
        (instant when the features are cached)."""
        path = Path(path)
        if not path.is_file():  # checked before the open clip and its undo history are dropped
            what = "is a folder, not a video file" if path.is_dir() else "does not exist"
            self.show_error("Cannot open", f"{path} {what}.", "")
            return
        self.save_session()
        self._stop_analysis()
        self.thumbnails.clear()
        self.preview.unload()
        self.session.open(path)
        self.clear_marks()  # marks belong to the clip they were set on
        self.curve.clear_curve()
        self.table.set_segments((), ())
        self.setWindowTitle(f"{path.name} - Highlight Studio")
        session = load_session(path)
        if checkpoint is None and session is not None:
            checkpoint = session.checkpoint
        if checkpoint is not None:
            self._select_model(checkpoint)
        self.settings = self.settings.with_recent(path)
        self._rebuild_recent_menu()
        self._start_analysis()

    @Slot()
    def reanalyze(self) -> None:
        """The Analyse button: run the model again (after picking another, say), even if a
        curve for this clip and model was kept."""
        if self.session.clip is not None:
            self.save_session()
            self._stop_analysis()
            self._start_analysis(reuse_curve=False)

    @Slot(int)
    def _on_model_picked(self, _index: int) -> None:
        """Picking a model shows its curve of the open clip (kept, or analysed now)."""
        if self.session.clip is not None:
            self.save_session()
            self._stop_analysis()
            self._start_analysis()

    def checkpoint(self) -> str | None:
        return self.model_box.currentData()

    def _start_analysis(self, reuse_curve: bool = True) -> None:
        clip = self.session.clip
        assert clip is not None
        self.analyses.start(partial(self._run_analysis, clip, self.checkpoint(),
                                    reuse_curve and self._keep_curves))
        self._eta = EtaClock()
        self.stage_label.setText(f"Analysing {clip.name}…")
        self.stage_label.setToolTip("")  # an earlier export's notes
        self._show_busy(True)
        self._refresh_actions()

    def _run_analysis(self, path: Path, checkpoint: str | None, reuse_curve: bool,
                      cancel: CancelToken) -> Iterator[object]:
        """The worker's job: a kept curve if there is one, else the analysis (then kept)."""
        if reuse_curve:
            yield Progress("model", 0, None, message="looking for this clip's saved curve")
            kept = load_curve(path, checkpoint)
            if kept is not None:
                yield kept
                return
        for event in self._analyze(path, checkpoint=checkpoint, cancel=cancel):
            if self._keep_curves and isinstance(event, Analysis):
                save_curve(event, checkpoint)
            yield event

    @Slot()
    def cancel_analysis(self) -> None:
        """The status bar's Cancel: stops the analysis, or the export when only it runs (an
        export of the last clip goes on while the next one is analysed)."""
        if self.analyses.cancel() or self.exports.cancel():
            self.stage_label.setText("Cancelling…")

    def _stop_analysis(self) -> None:
        """Cancel the analysis without waiting for it: the GUI moves on at once (what it still
        sends belongs to another clip, and the slot drops it)."""
        job = self.analyses.release()
        if job is not None:
            self.retired.retire(job)
        self._show_busy(self.exports.busy)

    def _on_progress(self, event: Progress) -> None:
        self._show_progress(event)

    def _show_progress(self, event: Progress) -> None:
        self.stage_label.setText(self._eta.describe(event))
        fraction = event.fraction
        if fraction is None:
            self.progress.setRange(0, 0)  # busy indicator: the end is unknown
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(fraction * 1000))

    def _on_analysis(self, analysis: Analysis) -> None:
        self.session.analysis = analysis
        self.learning.on_analysis(analysis)  # the session's analysis becomes the adapted curve
        repaired: tuple[str, ...] = ()  # what loading the saved session had to fix
        # edits and undo of the same clip and model stay; another clip or model starts from
        # its saved session, else fresh segments, and its saved decisions come back
        if not self.session.holds_edits_of(analysis.path, self.checkpoint()):
            saved = load_session(analysis.path, self.checkpoint(), analysis.info.duration)
            repaired = saved.notes if saved is not None else ()
            state = (saved.state if saved is not None
                     else doc.auto_state(analysis, self.session.options))
            self.session.begin(self.learning.restore(state), self.checkpoint())
        info = analysis.info
        self.clock = Clock.of(info)
        self.table.segment_model.set_clock(self.clock)
        self.options.set_clip_duration(info.duration)
        self.curve.set_curve(analysis.times, analysis.scores, info.duration)
        self._show_comparison(analysis)
        self.preview.load(analysis.path, info.duration, self.clock)
        self.thumbnails.set_clip(analysis.path, info.duration, info.display_width,
                                 info.height, analysis.step)
        self.device_label.setText(f"Analysed on {analysis.device.upper()}"
                                  f" · model {analysis.model_name}")
        notes = [n for n in (truncation_note(info), *repaired, *analysis.notes) if n]
        self.stage_label.setText(" · ".join([f"{len(analysis.scores)} steps of "
                                             f"{analysis.step:g} s", *notes]))
        self.stage_label.setToolTip("\n".join(notes))
        self.session.notify()
        self.analysisFinished.emit(analysis)

    def _on_error(self, message: str, details: str) -> None:
        self.stage_label.setText("Analysis failed")
        self._compare_from = None
        self.show_error("Could not analyse the clip", message, details)

    def _on_cancelled(self) -> None:
        self.stage_label.setText("Analysis cancelled")

    @Slot()
    def _on_job_ended(self) -> None:
        """An analysis or export has ended: the status bar and actions show what still runs
        (connected before ``jobEnded`` / ``exportEnded``, so their listeners see it)."""
        self._show_busy(self.analyses.busy or self.exports.busy)
        self._refresh_actions()

    @Slot(object)
    def _on_setup(self, setup: LocalSetup) -> None:
        if self.session.analysis is None:
            self.device_label.setText(f"Device: {setup.device_label}")
        self._best_device = setup.device
        if self.training is not None:
            self.training.set_devices(setup.device)
        self._set_model_choices(setup.models)

    def show_error(self, title: str, message: str, details: str = "") -> None:
        """A non-blocking dialog, so a failed job never stalls the event loop (or a test)."""
        if self.error_box is not None:
            self.error_box.close()
        box = QMessageBox(QMessageBox.Icon.Warning, title, message,
                          QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.error_box = box
        box.open()

    def _show_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)

    # --- models ---------------------------------------------------------------------------------
    def _set_model_choices(self, models: tuple[tuple[str, str], ...]) -> None:
        wanted = self.checkpoint() if self.model_box.count() else self.settings.checkpoint
        self.model_box.blockSignals(True)
        self.model_box.clear()
        self.model_box.addItem(DEFAULT_MODEL_LABEL, None)
        for name, path in models:
            self.model_box.addItem(name, path)
        self.model_box.blockSignals(False)
        if wanted is not None:
            self._select_model(wanted)
        if self.training is not None:
            self.training.set_start_models(self._model_choices())

    def _model_choices(self) -> list[tuple[str, str]]:
        """The picker's models besides the default, as (name, checkpoint path)."""
        box = self.model_box
        return [(box.itemText(i), box.itemData(i)) for i in range(box.count())
                if box.itemData(i) is not None]

    @Slot(str, str)
    def add_model_choice(self, name: str, checkpoint: str) -> None:
        """A model trained in the panel joins the picker (and the panel's start models)."""
        if self.model_box.findData(checkpoint) < 0:
            self.model_box.addItem(name, checkpoint)
        if self.training is not None:
            self.training.set_start_models(self._model_choices())

    def _select_model(self, checkpoint: str) -> None:
        index = self.model_box.findData(checkpoint)
        if index < 0:  # a path saved in a session or given on the command line
            self.model_box.addItem(Path(checkpoint).stem, checkpoint)
            index = self.model_box.count() - 1
        self.model_box.setCurrentIndex(index)

    # --- training on own footage ----------------------------------------------------------------
    @Slot()
    def toggle_training_panel(self) -> None:
        """The first use reveals the hidden panel and the Advanced menu for good (remembered);
        later uses show or hide it."""
        if self.training_dock is None:
            self._reveal_training()
        dock = self.training_dock
        assert dock is not None
        dock.setVisible(dock.isHidden())
        if dock.isVisible():  # a share of the window, whatever its own form would like
            self.resizeDocks([dock], [round(self.height() * TRAINING_SHARE)],
                             Qt.Orientation.Vertical)

    def _reveal_training(self) -> QDockWidget:
        panel = TrainingPanel()
        panel.set_start_models(self._model_choices())
        panel.set_devices(self._best_device)
        panel.modelSaved.connect(self.add_model_choice)
        panel.compareRequested.connect(self.compare_with_model)
        panel.errorRaised.connect(self.show_error)
        dock = QDockWidget("Training on your own footage", self)
        dock.setObjectName("trainingDock")
        # Scrolled, so its form never squashes the curve or grows the window past the screen.
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(panel)
        dock.setWidget(scroll)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        dock.hide()
        self.advanced_menu.menuAction().setVisible(True)
        self.settings = dataclasses.replace(self.settings, training_revealed=True)
        self.training, self.training_dock = panel, dock
        return dock

    @Slot(str)
    def compare_with_model(self, checkpoint: str) -> None:
        """One click from the panel: analyse the open clip with ``checkpoint`` and draw the
        curve shown now under the new one."""
        self._compare_from = self.session.analysis
        self._select_model(checkpoint)
        self.reanalyze()

    def _show_comparison(self, analysis: Analysis) -> None:
        """The overlay lasts one analysis: the next one (another model) would mislabel it."""
        before, self._compare_from = self._compare_from, None
        if before is not None and before.path == analysis.path:
            self.curve.set_overlay(before.times, before.scores, f"before: {before.model_name}",
                                   f"now: {analysis.model_name}")
        else:
            self.curve.clear_overlay()

    def _ask_abandon_run(self) -> bool:
        answer = QMessageBox.question(
            self, "Stop training?",
            "A training run is in progress. Quit and stop it? Its last checkpoint is kept, and "
            "the training panel offers to resume it next time.")
        return answer == QMessageBox.StandardButton.Yes

    def _refresh_actions(self) -> None:
        a = self.actions_by_name
        history = self.session.history
        a["undo"].setEnabled(history is not None and history.can_undo())
        a["redo"].setEnabled(history is not None and history.can_redo())
        a["export_dialog"].setEnabled(history is not None and not self.exports.busy)
        self.analyze_button.setEnabled(self.session.clip is not None and not self.analyses.busy)

    # --- playback -------------------------------------------------------------------------------
    @Slot()
    def toggle_play(self) -> None:
        self.preview.toggle_play()

    @Slot()
    def pause(self) -> None:
        self.preview.pause()

    @Slot()
    def shuttle_forward(self) -> None:
        self.preview.shuttle_forward()

    @Slot()
    def shuttle_back(self) -> None:
        self.preview.shuttle_back()

    @Slot()
    def frame_back(self) -> None:
        self.preview.step_frames(-1)

    @Slot()
    def frame_forward(self) -> None:
        self.preview.step_frames(1)

    # --- export, help ---------------------------------------------------------------------------
    @Slot()
    def export_dialog(self) -> None:
        analysis = self.session.analysis
        if self.session.history is None or analysis is None or self.exports.busy:
            return
        folder = Path(self.settings.last_folder or analysis.path.parent)
        dialog = ExportDialog(analysis.path, folder, self)
        if dialog.exec() == ExportDialog.DialogCode.Accepted:
            self.start_export(dialog.request())

    def start_export(self, request: ExportRequest) -> None:
        """Write ``request`` on a worker thread; progress and Cancel share the status bar."""
        analysis, history = self.session.analysis, self.session.history
        assert history is not None and analysis is not None
        state = history.state
        segments = state.included if request.included_only else state.segments
        self.exports.start(export_job(request, analysis.info, analysis.model_name, segments))
        self._eta = EtaClock()
        self.stage_label.setText(f"Exporting {', '.join(r.format for r in request.all)}…")
        self.stage_label.setToolTip("")  # an earlier export's notes
        self._show_busy(True)
        self._refresh_actions()

    def _on_export_progress(self, event: Progress) -> None:
        self._show_progress(event)

    def _on_export_done(self, done: ExportDone) -> None:
        where = done.paths[0] if len(done.paths) == 1 else f"{len(done.paths)} files"
        text = f"Exported {done.segments} segments to {where}"
        if done.notes:
            text += f" · {len(done.notes)} note{'s' if len(done.notes) > 1 else ''}: hover to read"
        self.stage_label.setText(text)
        self.stage_label.setToolTip("\n\n".join(done.notes))

    def _on_export_error(self, message: str, details: str) -> None:
        self.stage_label.setText("Export failed")
        self.show_error("Export failed", message, details)

    def _on_export_cancelled(self) -> None:
        self.stage_label.setText("Export cancelled")

    @Slot()
    def show_shortcuts(self) -> None:
        ShortcutHelp(self).exec()

    # --- persistence ----------------------------------------------------------------------------
    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for name in self.settings.recent_files:
            action = self.recent_menu.addAction(name)
            action.triggered.connect(partial(self.open_clip, Path(name)))
        self.recent_menu.setEnabled(bool(self.settings.recent_files))

    def _restore_layout(self) -> None:
        try:
            if self.settings.geometry:
                self.restoreGeometry(_unb64(self.settings.geometry))
            if self.settings.window_state:
                self.restoreState(_unb64(self.settings.window_state))
            if self.settings.splitter:
                self.splitter.restoreState(_unb64(self.settings.splitter))
        except (ValueError, UnicodeError) as exc:  # a damaged settings file: default layout
            log.warning("window layout not restored: %s", exc)

    @Slot()
    def save_session(self) -> None:
        self._session_timer.stop()
        clip, state = self.session.clip, self.session.state
        if clip is None or state is None:
            return
        try:  # under the model the edits were made on, not one picked since
            save_session(Session(clip, self.session.checkpoint, state))
        except (HighlightStudioError, OSError, ValueError) as exc:  # read-only config folder
            log.warning("session not saved: %s", exc)

    # --- drag and drop, close -------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [Path(url.toLocalFile()) for url in event.mimeData().urls()
                 if url.isLocalFile()]
        clips = [f for f in files if f.is_file()]
        if not clips:
            self.stage_label.setText("Drop a video file (folders are not opened).")
            return
        event.acceptProposedAction()
        self.open_clip(clips[0])
        if len(files) > 1:
            self.stage_label.setText(f"Opened {clips[0].name}; one clip at a time, the other "
                                     f"{len(files) - 1} dropped item(s) were left out.")

    def shutdown(self) -> None:
        """Save the session and settings, then cancel and wait for every thread (a job that
        takes long to notice the cancel then loses nothing); safe to call more than once."""
        self._save_state()
        self._stop_analysis()
        self.retired.wait_all()
        self.exports.stop()  # a cancelled export leaves no partial file behind
        self.thumbnails.shutdown()
        if self.training is not None:
            self.training.shutdown()  # a cancelled run keeps its last checkpoint
        if self.setup_job is not None:
            self.setup_job.stop()
            self.setup_job = None
        self.preview.unload()

    def _save_state(self) -> None:
        self.save_session()
        self.learning.save()
        self.settings = dataclasses.replace(
            self.settings, options=self.session.options, checkpoint=self.checkpoint(),
            geometry=_b64(self.saveGeometry()), window_state=_b64(self.saveState()),
            splitter=_b64(self.splitter.saveState()))
        try:
            save_settings(self.settings)
        except (HighlightStudioError, OSError) as exc:
            log.warning("settings not saved: %s", exc)

    def closeEvent(self, event: QCloseEvent) -> None:
        running = self.training is not None and self.training.is_running()
        if running and not self.confirm_abandon():
            event.ignore()  # the user keeps the run going
            return
        self.shutdown()
        super().closeEvent(event)

