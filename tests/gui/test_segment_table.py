"""The segment table reads the open clip's session: every change shows, with its focus."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import numpy as np

from highlight_studio.gui import document as doc
from highlight_studio.gui.segment_table import SegmentTable
from highlight_studio.media import MediaInfo
from highlight_studio.scoring import Analysis

from .conftest import BARE


def test_the_table_follows_the_session(qtbot) -> None:
    clip = Path("a.mp4")
    info = MediaInfo(clip, 10.0, Fraction(25), Fraction(25), 250, 320, 180, 0, False, None,
                     None, None, 0.0, "h264", False)
    scores = np.zeros(100, np.float32)
    scores[20:40], scores[60:70] = 1.0, 0.6
    analysis = Analysis(clip, info, "m", "b", 0.1, scores, "cpu")
    session = doc.ClipSession(BARE)
    table = SegmentTable()
    qtbot.addWidget(table)
    table.follow(session)
    session.open(clip)
    session.analysis = analysis
    session.begin(doc.auto_state(analysis, dataclasses.replace(BARE, threshold=0.5)), None)
    assert table.segment_model.rowCount() == 0  # nothing shown before the session says so
    session.notify()
    shown = table.segment_model.segments()
    assert [(s.start, s.end) for s in shown] == [(2.0, 4.0), (6.0, 7.0)]
    state = session.state
    assert state is not None
    session.push(doc.add_segment(state, analysis, 8.0, 9.0), focus=[2])
    assert table.segment_model.rowCount() == 3 and table.selected_rows() == [2]
    session.undo()  # the selection stays where rows remain
    assert table.segment_model.rowCount() == 2 and table.selected_rows() == []
    table.select_row(1)
    session.redo()
    assert table.segment_model.rowCount() == 3 and table.selected_rows() == [1]
