"""Learning from the editor in the window: decisions, the adapted curve, profiles.

Every edit that says something about content is a decision on the steps it touches: unticking
a segment rejects its steps, ticking it keeps them, dragging an edge keeps the steps it takes in
and rejects those it gives up, an I/O mark keeps its steps, and "more like this" / "less like
this" (keys + and -, or the curve's and the table's context menu) keep or reject the selected
segment, else the step under the playhead. Decisions live in the edit state, so undo and redo
cover them; after each one the learner (feedback/learner.py) refits, the adapted curve is drawn
over the model's curve (dashed), and an unedited segment list follows the adapted curve.

Decisions are saved per clip (feedback/store.py) and, when a profile is chosen, into the profile
(feedback/profiles.py), which bends the curve of every clip opened with it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMenu,
    QToolBar,
)
from threadpoolctl import ThreadpoolController

from .. import fileio
from ..errors import HighlightStudioError
from ..feedback import profiles
from ..feedback.adapt import ClipContext, clip_key
from ..feedback.learner import NEGATIVE, POSITIVE
from ..feedback.profiles import Profile
from ..feedback.store import feedback_dir, load_feedback, save_feedback
from ..scoring import Analysis
from ..timegrid import first_step_from, step_at
from . import document as doc
from .shortcuts import FEEDBACK_SHORTCUTS

if TYPE_CHECKING:
    from .main_window import MainWindow

log = logging.getLogger(__name__)
NO_PROFILE = "No profile"
NEW_PROFILE = "New profile…"
# Adapted curves kept by their decisions, so undo and redo redraw without a refit (a 2-hour
# curve's is 144 KB, its key 36 KB).
REFITS_KEPT = 32


_blas: ThreadpoolController | None = None


def one_blas_thread() -> AbstractContextManager[object]:
    """Hold numpy's BLAS to one thread: a refit's matrix products are small, and OpenBLAS's
    second thread spins for a while after each, taking a core from the repaint that follows
    (on the shared 2-core box a decision's repaint took half again as long)."""
    global _blas
    if _blas is None:
        _blas = ThreadpoolController()
    return _blas.limit(limits=1, user_api="blas")


def _labels(decisions: tuple[tuple[int, int], ...], n: int) -> np.ndarray:
    labels = np.zeros(n, dtype=np.int8)
    for step, label in decisions:
        if 0 <= step < n:
            labels[step] = label
    return labels


def _decisions(labels: np.ndarray) -> tuple[tuple[int, int], ...]:
    return tuple((int(i), int(labels[i])) for i in np.flatnonzero(labels))


def _covered(segments: tuple[doc.EditSegment, ...], n: int, step: float) -> np.ndarray:
    """Which steps start inside an included segment (start k*step in [start, end))."""
    edges = np.array([(s.start, s.end) for s in segments if s.included],
                     dtype=np.float64).reshape(-1, 2)
    first = np.clip(first_step_from(edges, step), 0, n)  # [start, end) steps
    change = np.zeros(n + 1, dtype=np.int64)
    np.add.at(change, first[:, 0], 1)
    np.add.at(change, first[:, 1], -1)
    return np.cumsum(change[:n]) > 0


class FeedbackPanel(QObject):
    """The window's learning: owns the profile picker and the +/- actions; the window calls
    its hooks when an analysis arrives, before a state is pushed and after it is shown."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.context: ClipContext | None = None
        self.prior: Analysis | None = None  # the model's own analysis of the open clip
        self.profile: Profile | None = None
        self._shown: tuple[tuple[int, int], ...] | None = None  # decisions the curve shows
        self._overlaid = False  # the prior is drawn dashed under the adapted curve
        self._lean: tuple[object, np.ndarray | None] | None = None  # the profile's, per clip
        self._refits: OrderedDict[bytes, Analysis] = OrderedDict()  # recent, by their labels
        self.profile_box = QComboBox()
        self.profile_box.setToolTip("A profile of your decisions across clips of one kind of "
                                    "footage: it bends the curve of every clip opened with it")
        self.profile_box.setMinimumContentsLength(14)
        self.profile_box.activated.connect(self._on_profile_picked)
        more_keys, less_keys = (s.keys for s in FEEDBACK_SHORTCUTS)  # = is + unshifted
        self.more = QAction("More like this", window)
        self.more.setShortcuts([QKeySequence(k) for k in more_keys])
        self.more.triggered.connect(self.more_like_this)
        self.less = QAction("Less like this", window)
        self.less.setShortcuts([QKeySequence(k) for k in less_keys])
        self.less.triggered.connect(self.less_like_this)
        for action in (self.more, self.less):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            window.addAction(action)
        self.menu = QMenu("&Profile", window)
        self.menu.addAction(self.more)
        self.menu.addAction(self.less)
        self.menu.addSeparator()
        self.menu.addAction("&New profile…", self.ask_new_profile)
        self.menu.addAction("&Reset profile", self.reset_profile)
        self.menu.addAction("&Export profile…", self.ask_export)
        self.menu.addAction("&Import profile…", self.ask_import)
        bar = window.findChild(QToolBar, "analysisToolbar")
        if bar is not None:
            bar.addSeparator()
            bar.addWidget(QLabel(" Profile "))
            bar.addWidget(self.profile_box)
        menus = window.menuBar()
        help_menu = next((a for a in menus.actions() if a.text() == "&Help"), None)
        menus.insertMenu(help_menu, self.menu) if help_menu else menus.addMenu(self.menu)
        for view in (window.curve, window.table):  # right-click: more / less like this
            view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
            view.addAction(self.more)
            view.addAction(self.less)
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(800)  # a burst of decisions is written once
        self._save_timer.timeout.connect(self.save)
        self._fill_profiles(self._remembered_profile())

    # --- profiles ----------------------------------------------------------------------------
    def _selection_file(self) -> Path:
        return feedback_dir() / "profile.txt"

    def _remembered_profile(self) -> str | None:
        try:
            name = self._selection_file().read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return name if name in profiles.list_profiles() else None

    def _fill_profiles(self, selected: str | None) -> None:
        box = self.profile_box
        box.blockSignals(True)
        box.clear()
        box.addItem(NO_PROFILE, None)
        for name in profiles.list_profiles():
            box.addItem(name, name)
        box.addItem(NEW_PROFILE, "")
        box.setCurrentIndex(max(0, box.findData(selected)) if selected else 0)
        box.blockSignals(False)
        self.profile = None
        if selected:
            try:
                self.profile = profiles.load_profile(selected)
            except HighlightStudioError as exc:
                self.window.statusBar().showMessage(str(exc), 8000)
                box.setCurrentIndex(0)

    @Slot(int)
    def _on_profile_picked(self, index: int) -> None:
        data = self.profile_box.itemData(index)
        if data == "":
            self.ask_new_profile()
            return
        self.select_profile(data)

    def select_profile(self, name: str | None) -> None:
        """Use profile ``name`` (None: none) from now on, remembered across restarts."""
        self.save()
        self._fill_profiles(name)
        try:
            path = self._selection_file()
            path.parent.mkdir(parents=True, exist_ok=True)
            fileio.atomic_write_text(path, (self.profile.name if self.profile else "") + "\n",
                                     durable=False)
        except (OSError, HighlightStudioError) as exc:
            log.warning("profile choice not remembered: %s", exc)
        self._apply_profile()

    def create_profile(self, name: str) -> None:
        """A new, empty profile for the open clip's features, selected at once."""
        if self.context is None:
            raise HighlightStudioError("Open and analyse a clip first: a profile is made for "
                                       "the features of the model that analysed it.")
        name = profiles.check_name(name)
        if name in profiles.list_profiles():
            raise HighlightStudioError(f"A profile named {name!r} exists already.")
        ctx = self.context
        profiles.save_profile(profiles.new_profile(name, ctx.backbone_id, ctx.step,
                                                   ctx.features.shape[1]))
        self.select_profile(name)

    def _guard(self, action, *args) -> None:
        try:
            action(*args)
        except HighlightStudioError as exc:
            self.window.show_error("Profile", str(exc))

    @Slot()
    def ask_new_profile(self) -> None:
        name, ok = QInputDialog.getText(self.window, "New profile",
                                        "Name of the footage (e.g. Wedding footage):")
        if ok and name.strip():
            self._guard(self.create_profile, name)
        else:
            self._fill_profiles(self.profile.name if self.profile else None)

    @Slot()
    def reset_profile(self) -> None:
        """Forget the profile's decisions (the open clip's own stay with the clip, and join the
        emptied profile again as soon as they change)."""
        if self.profile is None:
            return
        name = self.profile.name
        self.save()
        self.profile = None  # so the save in select_profile cannot write the old one back
        self._guard(lambda: (profiles.reset_profile(name), self.select_profile(name)))

    @Slot()
    def ask_export(self) -> None:
        if self.profile is None:
            return
        path, _ = QFileDialog.getSaveFileName(self.window, "Export profile",
                                              f"{self.profile.name}{profiles.SUFFIX}",
                                              f"Profiles (*{profiles.SUFFIX})")
        if path:
            self.save()
            self._guard(profiles.export_profile, self.profile.name, path)

    @Slot()
    def ask_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Import profile", "",
                                              f"Profiles (*{profiles.SUFFIX})")
        if path:
            self._guard(lambda: self.select_profile(profiles.import_profile(path).name))

    def _apply_profile(self) -> None:
        """Refuse a profile made on other features (said in the status bar), then redraw."""
        if self.profile is not None and self.context is not None:
            try:
                self.profile.check_features(self.context.backbone_id, self.context.step,
                                            self.context.features.shape[1])
            except HighlightStudioError as exc:
                self.window.show_error("Profile not used", str(exc))
                self._fill_profiles(None)
        self._shown = self._lean = None
        self._refits.clear()
        self.on_state()

    # --- hooks the window calls -------------------------------------------------------------
    def on_analysis(self, analysis: Analysis) -> None:
        """A new curve: find the clip's features (kept by the analysis, else in the feature
        cache); without them this clip records no decisions."""
        self.save()
        self.prior, self.context, self._shown = analysis, None, None
        self._overlaid = False  # the window draws or clears the overlay of a new analysis
        self._lean = None
        self._refits.clear()
        visual = analysis.visual
        try:
            key = clip_key(analysis.path, analysis.backbone_id, analysis.step)
            if visual is None:
                from ..features.cache import FeatureCache, cache_key

                hit = FeatureCache().get(cache_key(analysis.path, analysis.backbone_id,
                                                   analysis.step, None))
                visual = hit.visual if hit is not None else None
            if visual is not None and len(visual) == len(analysis.scores):
                self.context = ClipContext.of(key, analysis.path.name, analysis.backbone_id,
                                              analysis.step, analysis.scores, visual)
        except HighlightStudioError as exc:
            log.warning("no learning on %s: %s", analysis.path, exc)
        if self.context is None:
            return
        if self.profile is not None:
            try:
                self.profile.check_features(self.context.backbone_id, self.context.step,
                                            self.context.features.shape[1])
            except HighlightStudioError as exc:
                self.window.statusBar().showMessage(str(exc), 8000)
                self._fill_profiles(None)
        self.window.session.analysis = self._adapted(self._saved_labels())

    def restore(self, state: doc.EditState) -> doc.EditState:
        """A clip's starting state with its saved decisions."""
        if self.context is None or state.decisions:
            return state
        return dataclasses.replace(state, decisions=_decisions(self._saved_labels()))

    def with_decisions(self, old: doc.EditState, new: doc.EditState, merge: str | None
                       ) -> doc.EditState:
        """``new`` with the decisions its edit makes: a change of options decides nothing; an
        edit keeps the steps it takes in and rejects those it leaves out."""
        if self.context is None:
            return new
        n, step = len(self.context.prior), self.context.step
        labels = _labels(old.decisions, n)
        if merge != "options" and new.edited:
            before, after = _covered(old.segments, n, step), _covered(new.segments, n, step)
            labels[after & ~before] = POSITIVE
            labels[before & ~after] = NEGATIVE
        return dataclasses.replace(new, decisions=_decisions(labels))

    def on_state(self) -> None:
        """After the window shows a state: refit and redraw when its decisions changed."""
        state = self.window.session.state
        if self.context is None or state is None or self.prior is None:
            return
        decisions = state.decisions
        if decisions == self._shown:
            return
        self._shown = decisions
        labels = _labels(decisions, len(self.context.prior))
        adapted = self._adapted(labels)
        self.window.session.analysis = adapted
        curve = self.window.curve
        curve.curve.setData(adapted.times, adapted.scores)  # no zoom reset, unlike set_curve
        if not (decisions or self.profile is not None):
            if self._overlaid:  # only our own: the training panel's comparison stays
                curve.clear_overlay()
                self._overlaid = False
        elif self._overlaid:
            curve.legend.items[0][1].setText(self._label(labels))  # the prior is drawn already
        else:
            curve.set_overlay(self.prior.times, self.prior.scores,
                              f"model: {self.prior.model_name}", self._label(labels))
            self._overlaid = True
        self._save_timer.start()

    # --- decisions ----------------------------------------------------------------------------
    @Slot()
    def more_like_this(self) -> None:
        self.decide(POSITIVE)

    @Slot()
    def less_like_this(self) -> None:
        self.decide(NEGATIVE)

    def decide(self, label: int) -> None:
        """Keep (+1) or reject (-1) the selected segment, else the step under the playhead;
        an unedited segment list then follows the adapted curve."""
        window, ctx = self.window, self.context
        state = window.session.state
        if ctx is None or state is None or self.prior is None:
            window.statusBar().showMessage("Decisions need an analysed clip whose features are "
                                           "at hand (analyse it again).", 4000)
            return
        n = len(ctx.prior)
        selected = window.table.selected_row()
        if selected is not None and selected < len(state.segments):
            seg = state.segments[selected]
            steps = np.flatnonzero(_covered((dataclasses.replace(seg, included=True),), n,
                                            ctx.step))
        else:
            steps = np.array([min(n - 1, step_at(window.preview.position(), ctx.step))])
        labels = _labels(state.decisions, n)
        labels[steps] = label
        new = dataclasses.replace(state, decisions=_decisions(labels))
        if not state.edited:
            segments = doc.auto_state(self._adapted(labels), state.options).segments
            new = dataclasses.replace(new, segments=segments)
        window.session.push(new)

    # --- the curve ----------------------------------------------------------------------------
    def _saved_labels(self) -> np.ndarray:
        assert self.context is not None
        saved = load_feedback(self.context.key)
        if saved is not None and saved.n_steps == len(self.context.prior):
            return saved.dense_labels()
        return self.context.saved_labels(self.profile)

    def _adapted(self, labels: np.ndarray) -> Analysis:
        """The prior bent by ``labels`` and the profile; the profile's lean is fitted once per
        clip and profile (this clip's decisions never enter it), and the last REFITS_KEPT
        refits are reused by their decisions (undo and redo, and the redraw after a decide)."""
        assert self.context is not None and self.prior is not None
        if not labels.any() and self.profile is None:
            return self.prior
        profile_name = self.profile.name if self.profile is not None else None
        if self._lean is None or self._lean[0] != (profile_name, self.context.key):
            self._lean = ((profile_name, self.context.key),
                          self.context.profile_lean(self.profile))
            self._refits.clear()  # fitted with another lean
        key = labels.tobytes()
        adapted = self._refits.get(key)
        if adapted is None:
            with one_blas_thread():
                scores = self.context.curve_with(labels, self._lean[1])
            adapted = dataclasses.replace(self.prior, scores=scores)
            self._refits[key] = adapted
            if len(self._refits) > REFITS_KEPT:
                self._refits.popitem(last=False)
        else:
            self._refits.move_to_end(key)
        return adapted

    def _label(self, labels: np.ndarray) -> str:
        kept, rejected = int((labels > 0).sum()), int((labels < 0).sum())
        where = f" + profile {self.profile.name}" if self.profile is not None else ""
        return f"adapted: {kept} kept, {rejected} rejected steps{where}"

    @Slot()
    def save(self) -> None:
        """Write the open clip's decisions (and the profile holding them)."""
        self._save_timer.stop()
        if self.context is None or self.window.session.state is None or self._shown is None:
            return
        feedback = self.context.feedback(_labels(self._shown, len(self.context.prior)))
        try:
            save_feedback(feedback)
            if self.profile is not None:
                self.profile = self.profile.with_clip(feedback)
                profiles.save_profile(self.profile)
        except (OSError, HighlightStudioError) as exc:
            self.window.statusBar().showMessage(f"Decisions not saved: {exc}", 8000)
