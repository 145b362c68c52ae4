"""The worker contract on its own: signals in order, errors as text, clean-up always runs."""

from __future__ import annotations

from highlight_studio.errors import MediaError
from highlight_studio.events import Progress
from highlight_studio.gui.workers import Job


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
