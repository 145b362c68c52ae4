"""The editable state of one clip (segment options and the segment list), its undo history,
and :class:`ClipSession`, the open clip that the window's views observe.

Qt-free (an import-linter contract keeps it so), on immutable values: every edit builds a new
:class:`EditState`, so undo/redo is a list of snapshots and the tests need no Qt. Segments come
from the engine's :func:`~highlight_studio.segments.select_segments`; a segment edited by hand
(ticked in or out, an edge dragged, added with I/O) is marked ``manual`` and survives later
option changes, which recompute only the engine's segments around it. Deleting is undoable
like every edit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..scoring import Analysis
from ..segments import EPS, SegmentOptions, select_segments
from ..timegrid import first_step_from


@dataclass(frozen=True)
class EditSegment:
    """A segment as the editor sees it: the engine's segment plus an include flag."""

    start: float
    end: float
    score: float
    included: bool = True
    manual: bool = False  # made or changed by hand: kept when the options change

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class EditState:
    options: SegmentOptions
    segments: tuple[EditSegment, ...]
    edited: bool = False  # True once the list differs from what the options alone give
    # The editor's decisions, (step, +1 kept / -1 rejected) by step: part of the state so that
    # undo and redo cover them (gui/feedback_panel.py records and applies them).
    decisions: tuple[tuple[int, int], ...] = ()

    @property
    def included(self) -> tuple[EditSegment, ...]:
        return tuple(s for s in self.segments if s.included)


def mean_score(analysis: Analysis, start: float, end: float) -> float:
    """Mean of the steps whose start lies in ``[start, end)``; NaN when none does."""
    lo = max(0, first_step_from(start, analysis.step))
    hi = min(len(analysis.scores), first_step_from(end, analysis.step))
    if hi <= lo:
        return float("nan")
    return float(np.mean(analysis.scores[lo:hi]))


def auto_state(analysis: Analysis, options: SegmentOptions,
               keep: Sequence[EditSegment] = ()) -> EditState:
    """The segments the engine picks for ``options``, all included, plus the manual segments
    of ``keep``; an engine segment that overlaps a manual one gives way to it. In best-N mode
    the manual segments in use count towards N, so the total in use stays within N."""
    manual = sorted((s for s in keep if s.manual), key=lambda s: s.start)
    best = options.best_total_seconds
    if best is not None:
        left = best - sum(s.duration for s in manual if s.included)
        engine = dataclasses.replace(options, best_total_seconds=left) if left > EPS else None
    else:
        engine = options
    found = [] if engine is None else select_segments(
        analysis.scores, analysis.step, analysis.info.duration, engine)
    ends = np.array([s.end for s in manual])
    starts = np.array([s.start for s in manual])
    segments = list(manual)
    for seg in found:
        i = int(np.searchsorted(ends, seg.start, side="right"))  # first manual ending after
        if i == len(manual) or starts[i] >= seg.end:
            segments.append(EditSegment(seg.start, seg.end, seg.score))
    segments.sort(key=lambda s: s.start)
    return EditState(options, tuple(segments), edited=bool(manual))


def set_included(state: EditState, index: int, included: bool) -> EditState:
    segments = list(state.segments)
    segments[index] = dataclasses.replace(segments[index], included=included, manual=True)
    return EditState(state.options, tuple(segments), edited=True)


def remove_segments(state: EditState, indices: Iterable[int]) -> EditState:
    """Drop the segments at ``indices``; an engine segment comes back only if a later change
    of the options picks it again."""
    gone = set(indices)
    if not gone:
        return state
    kept = tuple(s for i, s in enumerate(state.segments) if i not in gone)
    return EditState(state.options, kept, edited=True)


def move_segment(state: EditState, analysis: Analysis, index: int, start: float, end: float
                 ) -> EditState:
    """Set a segment's edges, kept inside the clip, between its neighbours and one step long
    at least, so a drag can never make segments overlap or vanish (where there is not one
    step of room, the segment stays as it is)."""
    segments = list(state.segments)
    lo = segments[index - 1].end if index > 0 else 0.0
    hi = segments[index + 1].start if index + 1 < len(segments) else analysis.info.duration
    if hi - lo < analysis.step:
        return state
    start = min(max(start, lo), hi - analysis.step)
    end = max(min(end, hi), start + analysis.step)
    old = segments[index]
    segments[index] = EditSegment(start, end, mean_score(analysis, start, end), old.included,
                                  manual=True)
    return EditState(state.options, tuple(segments), edited=True)


def add_segment(state: EditState, analysis: Analysis, start: float, end: float) -> EditState:
    """Add ``[start, end)`` (an I/O mark), absorbing the segments it overlaps; marks less
    than one step apart add nothing (a segment holds one step's score at least)."""
    start, end = sorted((max(0.0, start), min(end, analysis.info.duration)))
    if end - start < analysis.step:
        return state
    keep = [s for s in state.segments if s.end <= start or s.start >= end]
    keep.append(EditSegment(start, end, mean_score(analysis, start, end), manual=True))
    keep.sort(key=lambda s: s.start)
    return EditState(state.options, tuple(keep), edited=True)


def segment_at(state: EditState, t: float) -> int | None:
    """Index of the segment containing time ``t``."""
    for i, s in enumerate(state.segments):
        if s.start <= t < s.end:
            return i
    return None


class History:
    """Undo/redo over snapshots. Consecutive pushes with the same ``merge`` key (one drag of the
    threshold line, one drag of an edge) collapse into a single undo step."""

    def __init__(self, state: EditState) -> None:
        self._states = [state]
        self._index = 0
        self._merge: str | None = None

    @property
    def state(self) -> EditState:
        return self._states[self._index]

    def push(self, state: EditState, merge: str | None = None) -> None:
        if state == self.state:
            return
        del self._states[self._index + 1:]
        if merge is not None and merge == self._merge and self._index > 0:
            self._states[self._index] = state
        else:
            self._states.append(state)
            self._index += 1
        self._merge = merge

    def end_merge(self) -> None:
        """The current drag is over: the next push starts a new undo step."""
        self._merge = None

    def can_undo(self) -> bool:
        return self._index > 0

    def can_redo(self) -> bool:
        return self._index + 1 < len(self._states)

    def undo(self) -> bool:
        self._merge = None
        if not self.can_undo():
            return False
        self._index -= 1
        return True

    def redo(self) -> bool:
        self._merge = None
        if not self.can_redo():
            return False
        self._index += 1
        return True


Observer = Callable[[Sequence[int] | None], None]


class ClipSession:
    """The open clip as the editor works on it: the clip, its analysis, the segment options,
    the edit state with its undo history (decisions included) and the pending I/O marks.

    Plain Python, so it is tested without Qt. The window, its editing gestures and the
    feedback panel read and change the clip only here, and every change that shows calls the
    observers (the window's one view refresh), so no widget holds the clip's state. Saving it
    to disk is :mod:`.session`'s job.
    """

    def __init__(self, options: SegmentOptions) -> None:
        self.clip: Path | None = None
        self.analysis: Analysis | None = None  # the curve shown (the adapted one, with feedback)
        self.history: History | None = None  # None until the clip's first analysis arrives
        self.checkpoint: str | None = None  # the model the history's edits were made on
        self._next_options = options  # what the next clip starts from while none is edited
        self.marks: tuple[float | None, float | None] = (None, None)  # pending in and out
        self._observers: list[Observer] = []

    def observe(self, observer: Observer) -> None:
        """Call ``observer(focus)`` after every change: ``focus`` is the segments the change
        is about (to select), or None to keep what is selected."""
        self._observers.append(observer)

    @property
    def state(self) -> EditState | None:
        return None if self.history is None else self.history.state

    @property
    def options(self) -> SegmentOptions:
        """The edited state's options; while no clip is edited, the next one's defaults."""
        return self._next_options if self.history is None else self.history.state.options

    def open(self, clip: Path) -> None:
        """Another clip: no curve and no edits until its analysis arrives; it starts from
        the options the last one ended with."""
        self._next_options = self.options
        self.clip, self.analysis, self.history = clip, None, None

    def holds_edits_of(self, clip: Path, checkpoint: str | None) -> bool:
        """Whether the history holds edits of ``clip`` made on ``checkpoint`` (a new curve of
        the same clip and model keeps them, and their undo)."""
        return self.history is not None and self.clip == clip and self.checkpoint == checkpoint

    def begin(self, state: EditState, checkpoint: str | None) -> None:
        """Start a fresh history from ``state`` (saved or computed), edited on
        ``checkpoint``; the caller shows it with :meth:`notify` once its views are ready."""
        self.history = History(state)
        self.checkpoint = checkpoint

    def set_options(self, options: SegmentOptions) -> None:
        """The options the next clip starts from, while no clip is being edited."""
        if self.history is None:
            self._next_options = options

    def push(self, state: EditState, merge: str | None = None,
             focus: Sequence[int] | None = None) -> None:
        """An edit (undoable; see :meth:`History.push` for ``merge``). The views refresh even
        when nothing changed, which snaps a clamped drag back."""
        if self.history is None:
            return
        self.history.push(state, merge)
        self.notify(focus)

    def undo(self) -> None:
        if self.history is not None and self.history.undo():
            self.notify()

    def redo(self) -> None:
        if self.history is not None and self.history.redo():
            self.notify()

    def end_merge(self) -> None:
        if self.history is not None:
            self.history.end_merge()

    def notify(self, focus: Sequence[int] | None = None) -> None:
        """Tell the observers the state changed (nothing to tell before a history exists)."""
        if self.history is None:
            return
        for observer in self._observers:
            observer(focus)
