"""The worker contract on its own: signals in order, errors as text, clean-up always runs; a
JobSlot passes on only its own job's signals and joins it."""

from __future__ import annotations

import threading
import time

import pytest

from highlight_studio.errors import MediaError
from highlight_studio.events import Progress
from highlight_studio.gui.workers import Job, RetiredJobs


def run_job(qtbot, job_fn) -> list[tuple[str, object]]:
    job = Job(job_fn)
    seen: list[tuple[str, object]] = []
    job.worker.progress.connect(lambda p: seen.append(("progress", p.done)))
    job.worker.result.connect(lambda r: seen.append(("result", r)))
    job.worker.error.connect(lambda m, d: seen.append(("error", m)))
    job.worker.cancelled.connect(lambda: seen.append(("cancelled", None)))
    with qtbot.waitSignal(job.thread.finished, timeout=5000):
        job.start()
    job.thread.wait()
    qtbot.wait(10)  # deliver the queued signals
    return seen


def test_progress_then_results(qtbot) -> None:
    def job(cancel):
        yield Progress("a", 1, 2)
        yield "answer"

    assert run_job(qtbot, job) == [("progress", 1), ("result", "answer")]


def test_errors_become_messages_and_clean_up_runs(qtbot) -> None:
    closed = []

    def job(cancel):
        try:
            yield Progress("a", 0, 1)
            raise MediaError("The clip is truncated.")
        finally:
            closed.append(True)

    assert run_job(qtbot, job) == [("progress", 0), ("error", "The clip is truncated.")]
    assert closed == [True]


def test_a_bug_is_reported_not_swallowed(qtbot) -> None:
    def job(cancel):
        yield 1 / 0

    ((kind, message),) = run_job(qtbot, job)
    assert kind == "error" and "ZeroDivisionError" in message


def test_cancel_stops_between_items(qtbot) -> None:
    def job(cancel):
        yield "first"
        cancel.cancel()  # as if the user pressed Cancel while this item was made
        yield "never shown"

    assert run_job(qtbot, job) == [("result", "first"), ("cancelled", None)]


class Handlers:
    """Records what a JobSlot passes on to its view."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, object]] = []

    def slot(self, parent=None):
        from highlight_studio.gui.workers import JobSlot

        return JobSlot(lambda p: self.seen.append(("progress", p.done)),
                       lambda r: self.seen.append(("result", r)),
                       lambda m, d: self.seen.append(("error", m)),
                       lambda: self.seen.append(("cancelled", None)), parent)


def wait_for_cancel(cancel, gate: threading.Event | None = None) -> None:
    """Hold a job the way the core's generators do: check the token between short batches."""
    while not (gate is not None and gate.is_set()):
        cancel.raise_if_cancelled()
        time.sleep(0.005)


def held_until_cancelled(cancel):
    wait_for_cancel(cancel)
    yield "never"


def test_job_slot_drops_what_a_job_let_go_still_sends(qtbot) -> None:
    handlers = Handlers()
    slot = handlers.slot()
    retired = RetiredJobs()
    sent, gate = threading.Event(), threading.Event()

    def old(cancel):
        yield Progress("old", 1, 2)
        yield "old result"  # queued for the GUI thread, not delivered yet
        sent.set()
        wait_for_cancel(cancel, gate)

    def new(cancel):
        yield "new result"

    first = slot.start(old)
    assert sent.wait(5)  # the old job's signals wait in the GUI thread's queue
    retired.retire(slot.release())
    ended = []
    slot.ended.connect(lambda: ended.append(slot.job))
    second = slot.start(new)
    with qtbot.waitSignal(slot.ended, timeout=5000):
        pass
    assert handlers.seen == [("result", "new result")]  # nothing of the old job's
    assert ended == [None] and not second.thread.isRunning()  # joined, then let go
    qtbot.waitUntil(lambda: len(retired) == 0, timeout=5000)
    assert not first.thread.isRunning()
    assert len(ended) == 1  # the old job's end did not pass for the new one's


def test_job_slot_joins_a_cancelled_job(qtbot) -> None:
    handlers = Handlers()
    slot = handlers.slot()
    started = threading.Event()

    def job(cancel):
        yield Progress("work", 0, 1)
        started.set()
        wait_for_cancel(cancel)

    held = slot.start(job)
    assert started.wait(5) and slot.busy
    with pytest.raises(RuntimeError, match="taken"):
        slot.start(job)  # one job at a time
    with qtbot.waitSignal(slot.ended, timeout=5000):
        assert slot.cancel()
    assert not held.thread.isRunning() and held.thread.isFinished()
    assert slot.job is None and not slot.cancel()
    assert handlers.seen == [("progress", 0), ("cancelled", None)]


def test_job_slot_stop_joins_before_its_owner_goes(qtbot) -> None:
    """Closing a view with a job running: stop() cancels and waits, so the owner and the
    QThread can be destroyed at once (a running QThread destroyed aborts the process)."""
    from PySide6.QtWidgets import QWidget

    handlers = Handlers()
    owner = QWidget()
    slot = handlers.slot(owner)

    held = slot.start(held_until_cancelled)
    qtbot.waitUntil(held.thread.isRunning, timeout=5000)
    ended = []
    slot.ended.connect(lambda: ended.append(True))
    slot.stop()
    assert not held.thread.isRunning() and slot.job is None
    owner.deleteLater()
    qtbot.wait(50)  # deliver what the job queued: to a slot that is gone, or dropped
    assert ended == [] and handlers.seen == []  # let go first, so its cancel is not passed on
    slot = handlers.slot()
    slot.stop()  # nothing held: nothing to do


def test_window_closes_with_an_analysis_and_an_export_running(qtbot, make_window,
                                                              clip) -> None:
    from .conftest import CurveAnalyzer

    window = make_window(CurveAnalyzer(threading.Event()))  # an analysis that waits
    window.open_clip(clip)
    analysis = window.job
    export = window.exports.start(held_until_cancelled)
    qtbot.waitUntil(lambda: "Features" in window.stage_label.text(), timeout=5000)
    window.close()
    assert not analysis.thread.isRunning() and not export.thread.isRunning()
    assert window.job is None and window.export_job is None
