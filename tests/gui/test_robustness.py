"""What an editor's bad day does to the window: damaged settings and sessions, a clip that
vanishes, a folder dropped by mistake, a model switched mid-edit, a job that ends just as the
next one starts, a close while a job is busy, I/O marks at odd places."""

from __future__ import annotations

import json
import shutil

import pytest
from PySide6.QtCore import Qt

from highlight_studio.gui import document as doc
from highlight_studio.gui.session import load_session, session_path
from highlight_studio.gui.settings import load_settings, settings_path
from highlight_studio.gui.workers import Job, RetiredJobs

from .conftest import CurveAnalyzer
from .test_window import open_and_wait


def uncheck(window, row: int) -> None:
    model = window.table.segment_model
    model.setData(model.index(row, 0), Qt.CheckState.Unchecked.value,
                  Qt.ItemDataRole.CheckStateRole)


@pytest.mark.parametrize("damage", [
    {"geometry": "not base64 at all!"},
    {"window_state": "ünïcode"},
    {"options": {"threshold": 1.5}},
    {"checkpoint": 5},
])
def test_a_damaged_settings_file_never_keeps_the_window_from_starting(make_window,
                                                                      damage: dict) -> None:
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text(json.dumps({"last_folder": "/x", **damage}))
    window = make_window()  # raised before: the app would not start until the file was gone
    assert window.isVisible() and window.checkpoint() is None


@pytest.mark.parametrize("damage", [[], {"format": 1, "options": [1]}, {"checkpoint": 5}])
def test_a_damaged_session_is_ignored_and_the_clip_opens(qtbot, make_window, clip,
                                                         damage) -> None:
    path = session_path(clip)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(damage, dict) and "checkpoint" in damage:
        window = make_window()
        open_and_wait(qtbot, window, clip)
        window.close()
        data = json.loads(path.read_text())
        path.write_text(json.dumps({**data, **damage}))
    else:
        path.write_text(json.dumps(damage))
    assert load_session(clip) is None
    window = make_window()
    open_and_wait(qtbot, window, clip)
    assert window.analysis is not None and not window.history.state.edited


def test_edits_stay_with_the_model_they_were_made_on(qtbot, make_window, clip) -> None:
    window = make_window(CurveAnalyzer())
    open_and_wait(qtbot, window, clip)
    uncheck(window, 0)
    edited = window.history.state
    window.model_box.addItem("mine", "/models/mine.safetensors")
    with qtbot.waitSignal(window.jobEnded, timeout=10_000):
        window.model_box.setCurrentIndex(1)
        window.model_box.activated.emit(1)
    assert not window.history.state.edited  # the new model's own segments
    saved = load_session(clip, None)
    assert saved is not None and saved.state == edited  # A's edits, under A
    with qtbot.waitSignal(window.jobEnded, timeout=10_000):
        window.model_box.setCurrentIndex(0)
        window.model_box.activated.emit(0)
    assert window.history.state == edited  # back on A: its edits come back


def test_reanalysing_keeps_the_edits_and_their_undo(qtbot, make_window, clip) -> None:
    window = make_window(CurveAnalyzer())
    open_and_wait(qtbot, window, clip)
    uncheck(window, 0)
    edited = window.history.state
    with qtbot.waitSignal(window.jobEnded, timeout=10_000):
        window.reanalyze()
    assert window.history.state == edited and window.history.can_undo()


def test_a_session_is_not_overwritten_while_its_clip_is_missing(qtbot, make_window, clip,
                                                                tmp_path) -> None:
    own = shutil.copy(clip, tmp_path / "card.mp4")
    window = make_window()
    open_and_wait(qtbot, window, own)
    uncheck(window, 0)
    window.save_session()
    moved = tmp_path / "away.mp4"
    own.rename(moved)  # the card is unmounted
    window.close()
    moved.rename(own)  # and back
    session = load_session(own)
    assert session is not None and session.state.edited


def test_dropping_a_folder_keeps_the_open_clip(qtbot, make_window, clip, tmp_path) -> None:
    window = make_window()
    open_and_wait(qtbot, window, clip)
    window.open_clip(tmp_path)  # a folder: what a drop or a stale recent entry may give
    assert window.analysis is not None and window.history is not None
    assert window.error_box is not None and "is a folder" in window.error_box.text()


def test_a_retired_job_outlives_the_signals_it_queued(qtbot) -> None:
    """Freed as soon as its thread ended, a job's QThread could be replaced at the same
    address by the next job's, and its late finished signal pass for the new job's."""
    job = Job(lambda cancel: iter(()))
    job.start()
    qtbot.waitUntil(lambda: not job.is_running(), timeout=5000)
    retired = RetiredJobs()
    retired.retire(job)
    assert len(retired) == 1  # kept until the queued signals have gone out
    qtbot.waitUntil(lambda: len(retired) == 0, timeout=5000)


def test_closing_saves_before_waiting_for_jobs(qtbot, make_window, clip, monkeypatch) -> None:
    """A job that takes long to notice the cancel (loading a model) must not cost the edits
    or the settings: they are on disk before the window waits for it."""
    window = make_window()
    open_and_wait(qtbot, window, clip)
    uncheck(window, 0)
    on_disk: list[bool] = []
    real_stop = window._stop_analysis

    def stop() -> None:
        session = load_session(clip)
        on_disk.append(settings_path().exists() and session is not None
                       and session.state.edited)
        real_stop()

    monkeypatch.setattr(window, "_stop_analysis", stop)
    window.close()
    assert on_disk and on_disk[0]
    assert load_settings().recent_files[0] == str(clip.resolve())


def test_edge_edits_never_leave_an_empty_or_negative_segment(qtbot, make_window, clip) -> None:
    window = make_window()
    open_and_wait(qtbot, window, clip)
    state, analysis = window.history.state, window.analysis
    assert doc.add_segment(state, analysis, 1.0, 1.0) is state  # I and O at one spot
    tight = doc.EditState(state.options, (doc.EditSegment(0.0, 0.05, 0.5),), True)
    short = analysis.__class__(**{**analysis.__dict__,
                                  "info": analysis.info.__class__(
                                      **{**analysis.info.__dict__, "duration": 0.05})})
    assert doc.move_segment(tight, short, 0, -1.0, 0.05) is tight  # no step of room
    seg = state.segments[0]
    window.table.selectRow(0)  # a stale selection, playhead past the segment's end
    window.preview.position = lambda: seg.end + 0.5
    window.mark_in()
    assert window.history.state.segments[0] == seg and window.session.marks == (seg.end + 0.5, None)


def test_cancel_stops_the_analysis_and_leaves_an_export_of_the_last_clip(qtbot, make_window,
                                                                          clip) -> None:
    import threading

    class Export:  # stands in for an export job of the previous clip, still writing
        cancelled = False

        def cancel(self) -> None:
            self.cancelled = True

    window = make_window(CurveAnalyzer(threading.Event()))  # an analysis that waits
    export = Export()
    window.exports.job = export
    try:
        window.open_clip(clip)
        job = window.job
        with qtbot.waitSignal(job.thread.finished, timeout=5000):
            window.cancel_analysis()
        assert not export.cancelled
    finally:
        window.exports.job = None
    window.cancel_analysis()  # nothing left to cancel: no error
