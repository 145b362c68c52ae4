"""The open clip's session, without Qt: what the window's views observe and read."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from highlight_studio.gui import document as doc
from highlight_studio.media import MediaInfo
from highlight_studio.scoring import Analysis
from highlight_studio.segments import SegmentOptions

STEP = 0.1
BARE = SegmentOptions(merge_gap=0.0, pre_roll=0.0, post_roll=0.0, min_length=0.0)


def analysis_of(clip: Path, duration: float = 10.0) -> Analysis:
    """A curve with a high plateau over 2-4 s and a lower one over 6-7 s."""
    n = math.ceil(duration / STEP)
    scores = np.zeros(n, np.float32)
    scores[20:40], scores[60:70] = 1.0, 0.6
    info = MediaInfo(clip, duration, Fraction(25), Fraction(25), round(duration * 25), 320, 180,
                     0, False, None, None, None, 0.0, "h264", False)
    return Analysis(clip, info, "m", "b", STEP, scores, "cpu")


class Views:
    """Stands in for the window's refresh: records what each change showed."""

    def __init__(self, session: doc.ClipSession) -> None:
        self.session = session
        self.shown: list[tuple[tuple[tuple[float, float], ...], object]] = []
        session.observe(self.refresh)

    def refresh(self, focus: object) -> None:
        state = self.session.state
        assert state is not None  # never called before a history exists
        self.shown.append((tuple((s.start, s.end) for s in state.segments), focus))


def opened(clip: Path = Path("a.mp4"), checkpoint: str | None = None
           ) -> tuple[doc.ClipSession, Views, Analysis]:
    session = doc.ClipSession(dataclasses.replace(BARE, threshold=0.5))
    views = Views(session)
    session.open(clip)
    analysis = analysis_of(clip)
    session.analysis = analysis
    session.begin(doc.auto_state(analysis, session.options), checkpoint)
    session.notify()
    return session, views, analysis


def test_views_see_every_edit_undo_and_redo_with_its_focus() -> None:
    session, views, analysis = opened()
    assert views.shown == [(((2.0, 4.0), (6.0, 7.0)), None)]
    state = session.state
    assert state is not None
    session.push(doc.add_segment(state, analysis, 8.0, 9.0), focus=[2])
    assert views.shown[-1] == (((2.0, 4.0), (6.0, 7.0), (8.0, 9.0)), [2])
    session.undo()
    assert views.shown[-1] == (((2.0, 4.0), (6.0, 7.0)), None)
    session.redo()
    assert len(views.shown) == 4 and len(views.shown[-1][0]) == 3
    session.redo()  # nothing to redo: no refresh
    assert len(views.shown) == 4


def test_options_follow_the_state_and_a_threshold_drag_is_one_undo_step() -> None:
    session, views, analysis = opened()
    for threshold in (0.7, 0.8, 0.9):
        options = dataclasses.replace(BARE, threshold=threshold)
        session.push(doc.auto_state(analysis, options), merge="options")
    session.end_merge()
    assert session.options.threshold == 0.9
    assert [seg for seg, _ in views.shown[-1:]] == [((2.0, 4.0),)]
    session.undo()
    assert session.options.threshold == 0.5  # the whole drag undone at once
    assert views.shown[-1][0] == ((2.0, 4.0), (6.0, 7.0))


def test_options_before_any_clip_are_the_next_clips_defaults() -> None:
    session = doc.ClipSession(BARE)
    views = Views(session)
    session.set_options(dataclasses.replace(BARE, threshold=0.55))
    session.push(doc.EditState(BARE, ()))  # no clip yet: nothing to push, nothing shown
    session.undo()
    assert views.shown == [] and session.options.threshold == 0.55
    session.open(Path("a.mp4"))
    analysis = analysis_of(Path("a.mp4"))
    session.begin(doc.auto_state(analysis, session.options), None)
    assert [(s.start, s.end) for s in session.state.segments] == [(2.0, 4.0), (6.0, 7.0)]
    session.set_options(BARE)  # while a clip is edited, its state's options rule
    assert session.options.threshold == 0.55


def test_edits_belong_to_one_clip_and_model() -> None:
    session, _, _ = opened(Path("a.mp4"), checkpoint="mine")
    assert session.holds_edits_of(Path("a.mp4"), "mine")
    assert not session.holds_edits_of(Path("a.mp4"), None)  # another model
    assert not session.holds_edits_of(Path("b.mp4"), "mine")
    session.marks = (1.0, None)
    session.open(Path("b.mp4"))
    assert session.state is None and session.analysis is None and session.clip == Path("b.mp4")
    assert not session.holds_edits_of(Path("b.mp4"), "mine")


def test_decisions_are_part_of_the_undo_state() -> None:
    session, _, _ = opened()
    state = session.state
    assert state is not None
    session.push(dataclasses.replace(state, decisions=((25, 1),)))
    assert session.state.decisions == ((25, 1),)
    session.undo()
    assert session.state.decisions == ()


@pytest.mark.parametrize("merge", [None, "options"])
def test_an_unchanged_push_still_refreshes_the_views(merge: str | None) -> None:
    """A drag clamped back to where it was must snap the views back, so a push that changes
    nothing still calls the observers (but adds no undo step)."""
    session, views, _ = opened()
    state = session.state
    assert state is not None
    session.push(state, merge)
    assert len(views.shown) == 2
    assert session.history is not None and not session.history.can_undo()
