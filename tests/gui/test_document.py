"""Segment edits and undo history: plain Python, no Qt."""

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

from .conftest import BARE, bumps


def make_analysis(duration: float = 10.0, step: float = 0.1) -> Analysis:
    info = MediaInfo(Path("x.mp4"), duration, Fraction(25), Fraction(25), round(duration * 25),
                     320, 180, 0, False, None, None, None, 0.0, "h264", False)
    return Analysis(Path("x.mp4"), info, "m", "b", step, bumps(math.ceil(duration / step)), "cpu")


def test_auto_state_follows_the_threshold() -> None:
    analysis = make_analysis()
    assert len(doc.auto_state(analysis, dataclasses.replace(BARE, threshold=0.9)).segments) == 1
    low = doc.auto_state(analysis, dataclasses.replace(BARE, threshold=0.2))
    assert len(low.segments) == 3
    assert all(s.included for s in low.segments) and not low.edited


def test_move_segment_is_clamped_between_neighbours_and_rescored() -> None:
    analysis = make_analysis()
    state = doc.auto_state(analysis, dataclasses.replace(BARE, threshold=0.2))
    first, second = state.segments[0], state.segments[1]
    moved = doc.move_segment(state, analysis, 1, first.start - 5.0, second.end)
    assert moved.segments[1].start == first.end  # cannot overlap the previous segment
    assert moved.edited
    lo, hi = round(first.end / 0.1), round(second.end / 0.1)
    assert moved.segments[1].score == pytest.approx(float(np.mean(analysis.scores[lo:hi])))
    squashed = doc.move_segment(state, analysis, 0, 3.0, 1.0)  # end before start
    assert squashed.segments[0].duration == pytest.approx(analysis.step)


def test_add_segment_absorbs_overlapped_ones() -> None:
    analysis = make_analysis()
    state = doc.auto_state(analysis, dataclasses.replace(BARE, threshold=0.2))
    merged = doc.add_segment(state, analysis, 6.0, 1.0)  # O before I still works
    first = merged.segments[0]
    assert (first.start, first.end) == (1.0, 6.0)
    assert len(merged.segments) == 2  # the first two bumps are inside [1, 6)
    assert doc.segment_at(merged, 3.0) == 0 and doc.segment_at(merged, 6.5) is None


def test_history_merges_a_drag_into_one_undo_step() -> None:
    analysis = make_analysis()
    history = doc.History(doc.auto_state(analysis, dataclasses.replace(BARE, threshold=0.9)))
    for t in (0.8, 0.6, 0.4):
        options = dataclasses.replace(BARE, threshold=t)
        history.push(doc.auto_state(analysis, options), merge="options")
    history.end_merge()
    history.push(doc.set_included(history.state, 0, False))
    assert not history.state.segments[0].included
    assert history.undo() and history.state.options.threshold == 0.4
    assert history.undo() and history.state.options.threshold == 0.9
    assert not history.undo()
    assert history.redo() and history.redo() and not history.redo()
    assert not history.state.segments[0].included


def test_best_n_counts_the_hand_made_segments_in_use() -> None:
    analysis = make_analysis()
    best = dataclasses.replace(BARE, best_total_seconds=1.5)
    made = doc.add_segment(doc.auto_state(analysis, BARE), analysis, 4.0, 5.0)  # 1 s by hand
    state = doc.auto_state(analysis, best, keep=made.segments)
    assert sum(s.duration for s in state.included) <= 1.5 + 1e-9
    assert any(s.manual for s in state.segments) and any(not s.manual for s in state.segments)
    out = doc.set_included(state, [s.manual for s in state.segments].index(True), False)
    again = doc.auto_state(analysis, best, keep=out.segments)  # ticked out: counts no more
    engine = [s for s in again.segments if not s.manual]
    assert sum(s.duration for s in engine) > sum(s.duration for s in state.segments
                                                 if not s.manual)
    assert sum(s.duration for s in again.included) <= 1.5 + 1e-9
    whole = doc.auto_state(analysis, dataclasses.replace(BARE, best_total_seconds=1.0),
                           keep=made.segments)  # the hand-made second is all of N
    assert [s.manual for s in whole.segments] == [True]
