"""The segment table reads the open clip's session: every change shows, with its focus."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

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


def test_new_segments_update_the_rows_in_place(qtbot) -> None:
    """A new segment tuple repaints only the rows that differ and adds or drops rows at the
    end: no reset, so the selection, the current row and the scroll position stay."""
    table = SegmentTable()
    qtbot.addWidget(table)
    table.resize(400, 120)  # a few rows visible: the list scrolls
    table.show()
    model = table.segment_model
    segments = tuple(doc.EditSegment(2.0 * i, 2.0 * i + 1.0, 0.5) for i in range(30))
    table.set_segments(segments, [])
    assert table.currentIndex().isValid() is False
    table.select_rows([20])
    table.verticalScrollBar().setValue(19)  # row 20 in view
    resets, changes, inserted, removed = [], [], [], []
    model.modelReset.connect(lambda: resets.append(True))
    model.dataChanged.connect(lambda a, b: changes.append((a.row(), b.row())))
    model.rowsInserted.connect(lambda _p, a, b: inserted.append((a, b)))
    model.rowsRemoved.connect(lambda _p, a, b: removed.append((a, b)))

    rescored = list(segments)
    rescored[18] = dataclasses.replace(segments[18], score=0.9)
    rescored[21] = dataclasses.replace(segments[21], included=False)
    table.set_segments(rescored, table.selected_rows())
    assert changes == [(18, 21)] and not (resets or inserted or removed)
    assert model.data(model.index(18, 4)) == "0.90"
    assert model.data(model.index(21, 0), Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
    assert table.selected_rows() == [20] and table.currentIndex().row() == 20
    assert table.verticalScrollBar().value() == 19

    changes.clear()
    table.set_segments(rescored, [20])  # the same tuple: nothing to repaint
    assert changes == []
    table.set_segments(rescored[:25], [20])
    assert removed == [(25, 29)] and changes == [] and model.rowCount() == 25
    table.set_segments(segments, [20])
    assert inserted == [(25, 29)] and changes == [(18, 21)] and model.rowCount() == 30
    assert model.segments() == segments and not resets
    assert [model.data(model.index(r, 1)) for r in (0, 29)] == [
        model.clock.label(0.0), model.clock.label(58.0)]
    table.set_segments(segments, [])  # nothing to keep: no row selected or current
    assert table.selected_rows() == [] and not table.currentIndex().isValid()


def test_the_checkbox_column_is_as_wide_as_sized_to_contents(qtbot) -> None:
    table = SegmentTable()
    qtbot.addWidget(table)
    table.set_segments([doc.EditSegment(0.0, 1.0, 0.5)], [])
    header = table.horizontalHeader()
    assert header.sectionSize(0) == max(header.sectionSizeHint(0), table.sizeHintForColumn(0))
