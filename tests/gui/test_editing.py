"""Segment edits in the window: include/exclude, edge drags, undo/redo keys, I/O marks,
sessions and settings that survive a restart, export."""

from __future__ import annotations

import csv
import itertools
import json

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from highlight_studio.export.formats import find_format
from highlight_studio.gui.export_dialog import ExportRequest
from highlight_studio.gui.main_window import MainWindow
from highlight_studio.gui.settings import load_settings

from .conftest import CurveAnalyzer
from .test_window import open_and_wait


@pytest.fixture
def window(qtbot, make_window, clip) -> MainWindow:
    w = make_window()
    open_and_wait(qtbot, w, clip)
    w.options.threshold.setValue(0.25)  # three segments on the test curve
    assert len(w.history.state.segments) == 3
    return w


def uncheck(window: MainWindow, row: int) -> None:
    model = window.table.segment_model
    model.setData(model.index(row, 0), Qt.CheckState.Unchecked.value,
                  Qt.ItemDataRole.CheckStateRole)


def test_excluding_a_segment_then_undo_and_redo_by_keyboard(qtbot, window) -> None:
    uncheck(window, 1)
    model = window.table.segment_model
    assert model.data(model.index(1, 0), Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
    assert len(window.history.state.included) == 2
    assert window.preview._spans == tuple((s.start, s.end) for s in window.history.state.included)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(window.history.state.included) == 3
    qtbot.keyClick(window, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert len(window.history.state.included) == 2


def drag(view, points: list[tuple[float, float]], plot=None) -> None:
    """Hover, then press, move and release the left button along ``points`` (``plot``'s
    coordinates, the curve by default) on the curve view's viewport, as a mouse would."""
    box = (plot or view.plot).vb
    viewport = view.viewport()
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    moves = [(QEvent.Type.MouseMove, none, none), (QEvent.Type.MouseButtonPress, left, left)]
    moves += [(QEvent.Type.MouseMove, none, left)] * (len(points) - 2)
    moves += [(QEvent.Type.MouseButtonRelease, left, none)]
    for (x, y), (kind, button, buttons) in zip([points[0], *points], moves, strict=True):
        pos = QPointF(view.mapFromScene(box.mapViewToScene(QPointF(x, y))))
        event = QMouseEvent(kind, pos, viewport.mapToGlobal(pos), button, buttons,
                            Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewport, event)
        QTest.qWait(12)  # pyqtgraph drops moves closer than 10 ms apart (mouseRateLimit)


def test_dragging_a_shaded_edge_moves_the_segment(window) -> None:
    seg = window.history.state.segments[0]
    target = seg.start - 0.3
    path = [seg.start + (target - seg.start) * k / 8 for k in range(9)]
    drag(window.curve, [(x, 0.5) for x in [*path, target]])
    moved = window.history.state.segments[0]
    assert moved.start == pytest.approx(target, abs=0.02)  # to the pixel
    assert moved.end == seg.end
    assert moved.score < seg.score  # the lead-in scores low on the test curve
    assert window.curve.shading.starts[0] == pytest.approx(moved.start)
    window.undo()
    assert window.history.state.segments[0] == seg
    assert window.curve.shading.starts[0] == pytest.approx(seg.start)


def test_dragging_away_from_edges_scrubs(window) -> None:
    seg = window.history.state.segments[0]
    middle = (seg.start + seg.end) / 2
    window.curve.plot.setXRange(0.2, 1.4, padding=0)
    before = window.history.state
    seen: list[float] = []
    window.preview.positionChanged.connect(seen.append)
    path = [middle - 0.03 * k for k in range(8)]
    drag(window.curve, [(x, 0.5) for x in path])
    assert window.history.state == before
    assert window.curve.visible_range() == pytest.approx((0.2, 1.4))  # no pan
    # it followed the pointer (the player echoes each seek to the millisecond)
    assert len(seen) >= 4 and all(b <= a + 0.002 for a, b in itertools.pairwise(seen))
    assert window.preview.position() == pytest.approx(path[-1], abs=0.02)
    assert window.curve.playhead.value() == pytest.approx(path[-1], abs=0.02)


def test_the_playhead_on_an_edge_neither_blocks_a_trim_nor_a_scrub(window) -> None:
    first = window.history.state.segments[0]
    window.table.select_row(0)
    window.preview.seek(first.start)  # where a click on the row puts it
    target = first.start - 0.2
    drag(window.curve, [(first.start - 0.025 * k, 0.5) for k in range(9)])
    assert window.history.state.segments[0].start == pytest.approx(target, abs=0.02)
    window.undo()
    middle = (first.start + first.end) / 2
    window.preview.seek(middle)  # the playhead inside the segment: a drag from it scrubs
    drag(window.curve, [(middle + 0.03 * k, 0.5) for k in range(8)])
    assert window.history.state.segments[0] == first
    assert window.preview.position() == pytest.approx(middle + 0.21, abs=0.02)


def test_dragging_the_thumbnails_pans_and_the_wheel_zooms(window) -> None:
    window.curve.plot.setXRange(0.5, 1.5, padding=0)
    drag(window.curve, [(1.0 - 0.05 * k, 0.5) for k in range(6)], plot=window.curve.thumbs)
    x0, x1 = window.curve.visible_range()
    assert x0 > 0.6 and x1 - x0 == pytest.approx(1.0, abs=0.01)  # right to left: later times
    viewport = window.curve.viewport()
    pos = QPointF(window.curve.mapFromScene(
        window.curve.plot.vb.mapViewToScene(QPointF((x0 + x1) / 2, 0.5))))
    wheel = QWheelEvent(pos, viewport.mapToGlobal(pos), QPoint(), QPoint(0, -240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, wheel)
    assert window.curve.visible_range()[1] - window.curve.visible_range()[0] > 1.2  # out


def test_zoom_keys_and_fit_all(qtbot, window) -> None:
    window.preview.seek(2.0)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    x0, x1 = window.curve.visible_range()
    assert x1 - x0 == pytest.approx(1.5, abs=0.01)  # half of the 3 s clip
    assert x0 <= 2.0 <= x1  # around the playhead
    qtbot.keyClick(window, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(window, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(window, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    x0, x1 = window.curve.visible_range()
    assert x1 - x0 == pytest.approx(1.0, abs=0.01)  # no deeper than a second across
    window.preview.seek(0.1)  # off the left edge: the view turns the page
    x0, x1 = window.curve.visible_range()
    assert x0 <= 0.1 <= x1 and x1 - x0 == pytest.approx(1.0, abs=0.01)
    qtbot.keyClick(window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert window.curve.visible_range() == pytest.approx((0.0, window.analysis.info.duration))


def test_threshold_drag_is_one_undo_step(window) -> None:
    before = window.history.state.options.threshold
    for value in (0.3, 0.5, 0.7):
        window.curve.threshold_line.setValue(value)
    window.curve.threshold_line.sigPositionChangeFinished.emit(window.curve.threshold_line)
    assert window.history.state.options.threshold == 0.7
    window.undo()
    assert window.history.state.options.threshold == before
    assert window.options.threshold.value() == before


def test_in_and_out_mark_at_the_playhead_and_show_on_the_curve(window) -> None:
    a, b = window.history.state.segments[:2]
    window.table.select_row(0)  # a selected segment is not trimmed by I or O
    t_in, t_out = a.start + 0.1, b.start - 0.1  # from inside the first segment to the gap
    window.preview.seek(t_in)
    window.mark_in()
    assert window.history.state.segments[0] == a
    in_line, out_line = window.curve.marks["in"], window.curve.marks["out"]
    assert in_line.isVisible() and in_line.value() == pytest.approx(t_in)
    assert not out_line.isVisible()
    assert window.clock.label(t_in) in window.statusBar().currentMessage()
    window.preview.seek(t_out)
    window.mark_out()
    added = window.history.state.segments[0]  # it absorbed the first segment
    assert (added.start, added.end) == pytest.approx((t_in, t_out)) and added.manual
    assert len(window.history.state.segments) == 3
    assert not in_line.isVisible() and not out_line.isVisible()  # used up
    assert window.table.selected_rows() == [0]
    window.undo()
    assert window.history.state.segments[:2] == (a, b)


def test_an_out_point_first_then_an_in_point(window) -> None:
    a, b = window.history.state.segments[:2]
    window.preview.seek(b.start - 0.1)
    window.mark_out()
    assert window.curve.marks["out"].isVisible() and len(window.history.state.segments) == 3
    window.preview.seek(b.start + 0.05)  # an in point after the out point starts afresh
    window.mark_in()
    assert not window.curve.marks["out"].isVisible()
    window.preview.seek(a.end + 0.1)
    window.mark_in()
    window.preview.seek(b.start - 0.1)
    window.mark_out()
    spans = [(s.start, s.end) for s in window.history.state.segments]
    assert spans[1] == pytest.approx((a.end + 0.1, b.start - 0.1))


def test_changing_the_threshold_keeps_hand_made_segments(window) -> None:
    a, b, c = window.history.state.segments
    uncheck(window, 2)  # the third bump, ticked out by hand
    window.preview.seek(a.end + 0.1)
    window.mark_in()
    window.preview.seek(b.start - 0.1)
    window.mark_out()  # a segment of its own in the gap
    made = window.history.state.segments[1]
    window.options.threshold.setValue(0.9)  # only the first bump passes now
    state = window.history.state
    peak, kept_made, kept_c = state.segments
    assert not peak.manual and peak.duration < a.duration  # the engine's, recomputed
    assert kept_made == made
    assert (kept_c.start, kept_c.end, kept_c.included) == (c.start, c.end, False)
    window.options.threshold.setValue(0.05)  # one wide engine segment over the made one
    state = window.history.state
    assert made in state.segments  # the engine's overlapping segment gave way to it
    assert sum(not s.manual for s in state.segments) < 3
    window.undo()
    window.undo()
    assert window.history.state.segments[1] == made


def test_clicking_a_row_seeks_and_outlines_the_segment(qtbot, window) -> None:
    table = window.table
    seg = window.history.state.segments[1]
    rect = table.visualRect(table.segment_model.index(1, 2))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.preview.position() == pytest.approx(seg.start)
    assert window.curve.playhead.value() == pytest.approx(seg.start)
    assert list(window.curve.shading.selected) == [False, True, False]
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.ControlModifier,
                     pos=table.visualRect(table.segment_model.index(2, 2)).center())
    assert list(window.curve.shading.selected) == [False, True, True]


def test_enter_plays_the_segment_and_stops_at_its_end(qtbot, window) -> None:
    if window.preview.player is None:
        pytest.skip("QtMultimedia cannot load here (libpulse0 missing?)")
    seg = window.history.state.segments[1]
    seen: list[float] = []
    window.preview.positionChanged.connect(seen.append)
    window.table.select_row(1)
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.preview.is_playing(), timeout=5000)
    qtbot.waitUntil(lambda: not window.preview.is_playing(), timeout=8000)
    assert seen[0] == pytest.approx(seg.start)
    assert all(seg.start - 0.01 <= t <= seg.end + 0.1 for t in seen)
    assert window.preview.position() == pytest.approx(seg.end)


def test_next_and_previous_segment_keys(qtbot, window) -> None:
    starts = [s.start for s in window.history.state.segments]
    window.activateWindow()
    for key, modifier, expected in ((Qt.Key.Key_N, Qt.KeyboardModifier.NoModifier, 0),
                                    (Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier, 1),
                                    (Qt.Key.Key_N, Qt.KeyboardModifier.NoModifier, 2),
                                    (Qt.Key.Key_P, Qt.KeyboardModifier.NoModifier, 1),
                                    (Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier, 0)):
        qtbot.keyClick(window, key, modifier)
        assert window.preview.position() == pytest.approx(starts[expected])
        assert window.table.selected_rows() == [expected]
        assert window.curve.shading.selected[expected]
    qtbot.keyClick(window, Qt.Key.Key_P)
    assert window.preview.position() == pytest.approx(starts[0])  # nothing before: stays
    assert "No segment before" in window.statusBar().currentMessage()


def test_delete_removes_the_selected_segments_and_undo_brings_them_back(qtbot, window) -> None:
    first, middle, last = window.history.state.segments
    window.table.select_rows([0, 2])
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_Delete)
    assert window.history.state.segments == (middle,)
    assert window.table.segment_model.rowCount() == 1 and window.curve.shaded_count() == 1
    assert window.table.selected_rows() == []
    qtbot.keyClick(window.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.history.state.segments == (first, middle, last)


def test_undo_works_with_the_focus_in_a_spin_box(qtbot, window) -> None:
    window.activateWindow()
    box = window.options.min_length
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=2000)
    qtbot.keyClick(box, Qt.Key.Key_Up)  # one step up: 0.5 s, an undoable options change
    assert window.history.state.options.min_length == 0.5
    qtbot.keyClick(box, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.history.state.options.min_length == 0.0  # the window's undo, not the box's
    assert box.value() == 0.0
    qtbot.keyClick(box, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.history.state.options.min_length == 0.5


def test_times_are_timecode_rounded_alike_with_totals(window) -> None:
    from highlight_studio.export.timecode import timecode_to_frames

    window.preview.seek(1.02)  # frame 24.48 at 24 fps: the boundary nearest is frame 24
    assert window.preview.time_label.text() == "00:00:01:00 / 00:00:03:00"
    model = window.table.segment_model
    frames = [[timecode_to_frames(model.data(model.index(row, col)), 24) for col in (1, 2, 3)]
              for row in range(model.rowCount())]
    for (start, end, duration), seg in zip(frames, window.history.state.segments,
                                           strict=True):
        assert start == round(seg.start * 24) and end == round(seg.end * 24)
        assert start + duration == end
    total = sum(duration for _, _, duration in frames)
    summary = window.segment_panel.summary.text()
    assert f"3 of 3 segments in use: {window.clock.frames_label(total)}" in summary
    uncheck(window, 1)
    window.table.select_rows([0, 2])
    summary = window.segment_panel.summary.text()
    assert f"2 of 3 segments in use: {window.clock.frames_label(total - frames[1][2])}" in summary
    assert f"2 selected: {window.clock.frames_label(frames[0][2] + frames[2][2])}" in summary


def test_the_score_column_says_what_a_score_is(window) -> None:
    model = window.table.segment_model
    tip = model.headerData(4, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert "mean highlight score" in tip and "0 to 1" in tip
    assert "highlight score" in window.options.threshold.toolTip()


def test_session_restores_edits_and_settings_restore_options(qtbot, make_window, window,
                                                             clip) -> None:
    window.options.pre_roll.setValue(0.1)  # changing options recomputes: edits come after
    uncheck(window, 0)
    window.splitter.setSizes([150, 450])
    top, bottom = window.splitter.sizes()
    expected = window.history.state
    assert len(expected.segments) == 3
    window.close()
    assert load_settings().recent_files[0] == str(clip.resolve())
    assert load_settings().options.pre_roll == 0.1

    again = make_window(CurveAnalyzer())
    assert again.options.options().pre_roll == 0.1  # defaults for the next clip
    open_and_wait(qtbot, again, clip)
    assert again.history.state == expected
    assert not again.history.state.segments[0].included
    assert again.recent_menu.actions()[0].text() == str(clip.resolve())
    new_top, new_bottom = again.splitter.sizes()  # the layout came back too
    assert new_top / (new_top + new_bottom) == pytest.approx(top / (top + bottom), abs=0.02)
    assert top / (top + bottom) < 0.4  # and it is not the default 3:2 split


def export(qtbot, window: MainWindow, request: ExportRequest) -> None:
    with qtbot.waitSignal(window.exportEnded, timeout=20_000):
        window.start_export(request)
    assert window.export_job is None


@pytest.mark.parametrize("name", ["JSON segment list", "CSV segment list"])
def test_export_writes_the_included_segments(qtbot, window, tmp_path, name) -> None:
    uncheck(window, 2)
    target = tmp_path / f"out{find_format(name).suffix}"
    export(qtbot, window, ExportRequest(name, target))
    included = window.history.state.included
    if name.startswith("JSON"):
        rows = json.loads(target.read_text())["segments"]
        assert [(r["start"], r["end"]) for r in rows] == [(s.start, s.end) for s in included]
    else:
        rows = list(csv.DictReader(target.open()))
        assert [float(r["start"]) for r in rows] == pytest.approx([s.start for s in included])
    assert len(rows) == 2
    assert str(target) in window.stage_label.text()


def test_export_edl_and_mp4_cuts_through_the_exporters(qtbot, window, tmp_path) -> None:
    edl = tmp_path / "cut.edl"
    export(qtbot, window, ExportRequest("EDL (CMX 3600)", edl, included_only=False))
    events = [line for line in edl.read_text().splitlines() if line[:3].isdigit()]
    assert len(events) == 3  # one event per segment (the exporter verified frames already)
    folder = tmp_path / "mp4"
    folder.mkdir()
    export(qtbot, window, ExportRequest("MP4 cuts", folder, cut_mode="fast"))
    assert len(list(folder.glob("*.mp4"))) == 3
    assert "3 files" in window.stage_label.text()


def test_export_failure_shows_the_error_dialog(qtbot, window, tmp_path) -> None:
    export(qtbot, window, ExportRequest("JSON segment list", tmp_path / "missing" / "out.json"))
    assert window.error_box is not None and "does not exist" in window.error_box.text()
    assert window.actions_by_name["export_dialog"].isEnabled()  # and one can try again


def test_clicking_the_curve_moves_the_playhead(qtbot, window) -> None:
    viewport = window.curve.viewport()
    scene_pos = window.curve.plot.vb.mapViewToScene(QPointF(1.7, 0.5))
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton,
                     pos=window.curve.mapFromScene(scene_pos))
    assert window.curve.playhead.value() == pytest.approx(1.7, abs=0.02)
    assert window.preview.time_label.text().startswith("00:00:01:1")  # frame 40 or 41
