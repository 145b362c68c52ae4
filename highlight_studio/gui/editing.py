"""The window's segment editing: options and threshold, include/exclude, edge drags, I/O marks,
delete, going from segment to segment, undo/redo, and the one method that refreshes every view.

A mixin of :class:`~.main_window.MainWindow` (it uses the window's views and its
:class:`~.document.ClipSession`), kept apart so the window itself stays about opening,
analysing, exporting and layout. Every edit is a pure function of :mod:`.document` pushed on
the session's undo history; the session then calls :meth:`SegmentEditing._state_changed`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..segments import SegmentOptions
from . import document as doc
from .timecodes import Clock

if TYPE_CHECKING:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QStatusBar

    from .curve_view import CurveView
    from .options_panel import OptionsPanel
    from .preview import Preview
    from .segment_table import SegmentTable

STATUS_MS = 5000  # how long an editing hint stays in the status bar


class SegmentEditing:
    """Editing gestures and keys; the window supplies the attributes annotated here."""

    session: doc.ClipSession
    preview: Preview
    curve: CurveView
    options: OptionsPanel
    table: SegmentTable
    clock: Clock
    _session_timer: QTimer

    if TYPE_CHECKING:
        def statusBar(self) -> QStatusBar: ...
        def _refresh_actions(self) -> None: ...

    def _tell(self, text: str) -> None:
        self.statusBar().showMessage(text, STATUS_MS)

    def _push(self, state: doc.EditState, merge: str | None = None,
              select: Sequence[int] | None = None) -> None:
        """Push an edit with the decisions it makes; ``select``: the rows to select after."""
        old = self.session.state
        if old is not None:
            self.session.push(self.learning.with_decisions(old, state, merge), merge, select)

    # --- options ------------------------------------------------------------------------------
    def _options_state(self, options: SegmentOptions) -> doc.EditState:
        """The engine's segments for ``options``, keeping the hand-made ones."""
        analysis, state = self.session.analysis, self.session.state
        assert analysis is not None and state is not None
        return doc.auto_state(analysis, options, keep=state.segments)

    def _on_options(self, options: SegmentOptions, dragging: bool) -> None:
        if self.session.state is None:
            self.session.set_options(options)  # no clip yet: just the defaults for the next
            self.options.show_options(options)
            return
        self._push(self._options_state(options), merge="options")
        if not dragging:
            self._end_merge()

    def _on_threshold_dragged(self, value: float) -> None:
        state = self.session.state
        if state is None:
            return
        options = dataclasses.replace(state.options, threshold=min(1.0, max(0.0, value)))
        self._push(self._options_state(options), merge="options")

    def _end_merge(self) -> None:
        self.session.end_merge()

    # --- segments -----------------------------------------------------------------------------
    def _on_segment_dragged(self, index: int, start: float, end: float) -> None:
        state, analysis = self.session.state, self.session.analysis
        if state is None or analysis is None:
            return
        # the views refresh even when nothing changed, which snaps a clamped region back
        self._push(doc.move_segment(state, analysis, index, start, end))

    def _on_include_toggled(self, index: int, included: bool) -> None:
        state = self.session.state
        if state is not None:
            self._push(doc.set_included(state, index, included))

    def delete_segments(self) -> None:
        """Delete: remove the segments selected in the list (undoable)."""
        state = self.session.state
        if state is None:
            return
        rows = self.table.selected_rows()
        if not rows:
            self._tell("Select segments in the list to delete them")
            return
        self._push(doc.remove_segments(state, rows), select=())
        self._tell(f"Deleted {len(rows)} segment{'s' if len(rows) > 1 else ''} "
                   "(Ctrl+Z brings them back)")

    def _on_segment_chosen(self, index: int) -> None:
        """A row clicked: the playhead goes to the segment's start (the table's selection
        outlines it on the curve)."""
        state = self.session.state
        if state is not None and index < len(state.segments):
            self.preview.seek(state.segments[index].start)

    def play_segment(self, index: int) -> None:
        """Enter on a row: play that segment once."""
        state = self.session.state
        if state is not None and index < len(state.segments):
            seg = state.segments[index]
            self.preview.play_span(seg.start, seg.end)

    def next_segment(self) -> None:
        self._go_to_segment(forward=True)

    def previous_segment(self) -> None:
        self._go_to_segment(forward=False)

    def _go_to_segment(self, forward: bool) -> None:
        """Select the first segment starting after the playhead (or the last one starting
        before it) and move the playhead to its start."""
        state = self.session.state
        if state is None:
            return
        t, half_frame = self.preview.position(), 0.5 / self.clock.fps
        starts = [s.start for s in state.segments]
        if forward:
            after = [i for i, a in enumerate(starts) if a > t + half_frame]
            index = after[0] if after else None
        else:
            before = [i for i, a in enumerate(starts) if a < t - half_frame]
            index = before[-1] if before else None
        if index is None:
            self._tell(f"No segment {'after' if forward else 'before'} the playhead")
            return
        self.table.select_row(index)
        self.preview.seek(starts[index])

    # --- marks --------------------------------------------------------------------------------
    def mark_in(self) -> None:
        """I: an in point at the playhead; with an out point after it, that is a segment."""
        self._mark(0)

    def mark_out(self) -> None:
        """O: an out point at the playhead; with an in point before it, that is a segment."""
        self._mark(1)

    def clear_marks(self) -> None:
        self.session.marks = (None, None)
        self.curve.set_marks(None, None)

    def _mark(self, side: int) -> None:
        state, analysis = self.session.state, self.session.analysis
        if state is None or analysis is None:
            return
        t = self.preview.position()
        other = self.session.marks[1 - side]
        if other is not None and (t <= other) != (side == 0):
            other = None  # an in point after the out point (or the reverse) starts afresh
        marks = (t, other) if side == 0 else (other, t)
        self.session.marks = marks
        self.curve.set_marks(*marks)
        name, key = ("In", "O") if side == 0 else ("Out", "I")
        if other is None:
            self._tell(f"{name} point at {self.clock.label(t)}: press {key} to make a segment")
            return
        start, end = marks
        assert start is not None and end is not None
        if end - start < analysis.step:
            self._tell(f"A segment needs at least {analysis.step:g} s: move the "
                       f"playhead on, then press {'O' if side == 1 else 'I'} again")
            return
        state = doc.add_segment(state, analysis, start, end)
        self.clear_marks()
        self._push(state, select=[self._index_at(state, start)])
        self._tell(f"Added {self.clock.label(start)} to {self.clock.label(end)} "
                   f"({self.clock.duration(start, end)})")

    @staticmethod
    def _index_at(state: doc.EditState, start: float) -> int:
        return next(i for i, s in enumerate(state.segments) if s.start == start)

    # --- undo, zoom ----------------------------------------------------------------------------
    def undo(self) -> None:
        self.session.undo()

    def redo(self) -> None:
        self.session.redo()

    def zoom_in(self) -> None:
        self.curve.zoom(2.0)

    def zoom_out(self) -> None:
        self.curve.zoom(0.5)

    def zoom_fit(self) -> None:
        self.curve.fit_all()

    # --- views --------------------------------------------------------------------------------
    def _state_changed(self, _focus: Sequence[int] | None = None) -> None:
        """Show the session's state in the options, the curve and the preview (the session
        calls it after each change; the segment table follows the session itself)."""
        state = self.session.state
        if state is None:
            return
        self.options.show_options(state.options)
        self.curve.set_threshold(state.options.threshold)
        self.curve.set_threshold_enabled(state.options.best_total_seconds is None)
        self.curve.set_segments(state.segments)
        self.preview.set_highlights([(s.start, s.end) for s in state.included])
        self._refresh_actions()
        self._session_timer.start()
        self.learning.on_state()
