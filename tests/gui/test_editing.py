"""Segment edits in the window: include/exclude, edge drags, undo/redo keys, I/O marks,
sessions and settings that survive a restart, export."""

from __future__ import annotations

import csv
import json

import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from highlight_studio.gui.export_dialog import FORMATS, ExportRequest
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


def drag(view, points: list[tuple[float, float]]) -> None:
    """Hover, then press, move and release the left button along ``points`` (plot
    coordinates) on the curve view's viewport, as a mouse would."""
    viewport = view.viewport()
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    moves = [(QEvent.Type.MouseMove, none, none), (QEvent.Type.MouseButtonPress, left, left)]
    moves += [(QEvent.Type.MouseMove, none, left)] * (len(points) - 2)
    moves += [(QEvent.Type.MouseButtonRelease, left, none)]
    for (x, y), (kind, button, buttons) in zip([points[0], *points], moves, strict=True):
        pos = QPointF(view.mapFromScene(view.plot.vb.mapViewToScene(QPointF(x, y))))
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


def test_dragging_away_from_edges_pans_instead(window) -> None:
    seg = window.history.state.segments[0]
    middle = (seg.start + seg.end) / 2
    window.curve.plot.setXRange(0.2, 1.4, padding=0)
    before = window.history.state
    drag(window.curve, [(middle - 0.03 * k, 0.5) for k in range(8)])
    assert window.history.state == before
    assert window.curve.plot.vb.viewRange()[0][0] > 0.25  # dragged right-to-left: panned


def test_threshold_drag_is_one_undo_step(window) -> None:
    before = window.history.state.options.threshold
    for value in (0.3, 0.5, 0.7):
        window.curve.threshold_line.setValue(value)
    window.curve.threshold_line.sigPositionChangeFinished.emit(window.curve.threshold_line)
    assert window.history.state.options.threshold == 0.7
    window.undo()
    assert window.history.state.options.threshold == before
    assert window.options.threshold.value() == before


def test_in_and_out_marks_add_a_segment(window) -> None:
    a, b = window.history.state.segments[:2]
    t_in, t_out = a.end + 0.1, b.start - 0.1  # in the gap between the first two segments
    window.preview.seek(t_in)
    window.mark_in()  # outside any segment: a pending in point
    assert len(window.history.state.segments) == 3
    window.preview.seek(t_out)
    window.mark_out()
    added = window.history.state.segments[1]
    assert (added.start, added.end) == pytest.approx((t_in, t_out))
    assert len(window.history.state.segments) == 4
    window.table.select_row(0)
    window.preview.seek(a.start + 0.1)
    window.mark_in()  # with a selected segment: trims its start
    assert window.history.state.segments[0].start == pytest.approx(a.start + 0.1)


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
    target = tmp_path / f"out{FORMATS[name]}"
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
    assert "0:01.7" in window.preview.time_label.text()
