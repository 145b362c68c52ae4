"""Run core generators off the GUI thread: a QObject worker moved to a QThread.

The core's long jobs are generators yielding :class:`~highlight_studio.events.Progress` and
checking a :class:`~highlight_studio.events.CancelToken`. :class:`GeneratorWorker` drains one
and turns what it yields into signals; it never touches widgets. :class:`Job` owns the worker
and its thread so the window can cancel, quit and wait for both on close; :class:`JobSlot`
holds a view's one job of a kind and passes on only that job's signals.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterator

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from ..errors import HighlightStudioError
from ..events import Cancelled, CancelToken, Progress

log = logging.getLogger(__name__)
JobFunction = Callable[[CancelToken], Iterator[object]]


class GeneratorWorker(QObject):
    """Drains ``job(cancel)`` in its thread; every Progress becomes ``progress``, anything else
    ``result``. Exactly one of ``error`` / ``cancelled`` may fire, then always ``finished``."""

    progress = Signal(object)  # events.Progress
    result = Signal(object)  # any non-Progress item the generator yields
    error = Signal(str, str)  # message for the user, details (traceback)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, job: JobFunction) -> None:
        super().__init__()  # no parent: it is moved to another thread
        self._job = job
        self.token = CancelToken()

    def cancel(self) -> None:
        """Thread-safe: the generator sees the token at its next check, this loop at the next
        item."""
        self.token.cancel()

    @Slot()
    def run(self) -> None:
        events: Iterator[object] | None = None
        try:
            events = self._job(self.token)
            for item in events:
                self.token.raise_if_cancelled()
                if isinstance(item, Progress):
                    self.progress.emit(item)
                else:
                    self.result.emit(item)
        except Cancelled:
            self.cancelled.emit()
        except HighlightStudioError as exc:
            self.error.emit(str(exc), traceback.format_exc())
        except Exception as exc:  # a bug in the core: show it rather than kill the thread
            self.error.emit(f"Unexpected error: {type(exc).__name__}: {exc}",
                            traceback.format_exc())
        finally:
            close = getattr(events, "close", None)
            try:
                if close is not None:
                    close()  # run the generator's own clean-up in this thread, not at GC time
            except Exception:  # finished must still fire, or the thread would never quit
                log.exception("clean-up of a worker job failed")
            self.finished.emit()


class Job:
    """One worker on its own QThread, started at once; kept by the window until it ends."""

    def __init__(self, job: JobFunction) -> None:
        self.worker = GeneratorWorker(job)
        self.thread = QThread()
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        # Direct: quit() is thread-safe, and a queued call would never run while the GUI
        # thread sits in stop()'s wait(), which would then deadlock.
        self.worker.finished.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)

    def start(self) -> None:
        self.thread.start()

    def is_running(self) -> bool:
        return self.thread.isRunning()

    def cancel(self) -> None:
        self.worker.cancel()

    def stop(self) -> None:
        """Cancel, then block until the thread has ended. There is no time limit: a QThread
        destroyed while running aborts the whole process, and every job ends soon after a
        cancel (at its next check, or when a step that cannot be cut short, such as loading a
        model, is done). Callers save what matters before they stop jobs."""
        self.worker.cancel()
        if self.thread.isRunning():
            self.thread.wait()


class JobSlot(QObject):
    """The one job of a kind a view runs (the analysis, an export, a training run).

    It starts the job with the view's handlers connected (None: the view ignores that
    signal), passes on only the signals of
    the job it holds now (a job let go for another clip may still deliver what it queued),
    and when that job's thread ends, joins it, lets it go and emits ``ended``. Written once
    here so no view repeats the sender check or the join.
    """

    ended = Signal()  # the held job's thread has ended and been joined; the slot is free

    def __init__(self, on_progress: Callable[[Progress], None] | None,
                 on_result: Callable[[object], None], on_error: Callable[[str, str], None],
                 on_cancelled: Callable[[], None] | None, parent: QObject | None = None
                 ) -> None:
        super().__init__(parent)
        self._on_progress, self._on_result = on_progress, on_result
        self._on_error, self._on_cancelled = on_error, on_cancelled
        self.job: Job | None = None

    @property
    def busy(self) -> bool:
        return self.job is not None

    def start(self, job_function: JobFunction) -> Job:
        """Run ``job_function`` in a new job; the slot must be free (let the old one go first)."""
        if self.job is not None:
            raise RuntimeError("the job slot is taken")
        job = Job(job_function)
        job.worker.progress.connect(self._progress)
        job.worker.result.connect(self._result)
        job.worker.error.connect(self._error)
        job.worker.cancelled.connect(self._cancelled)
        job.thread.finished.connect(self._finished)
        self.job = job
        job.start()
        return job

    def cancel(self) -> bool:
        """Ask the held job to stop (it ends on its own, then ``ended``); False if none."""
        if self.job is None:
            return False
        self.job.cancel()
        return True

    def release(self) -> Job | None:
        """Let the held job go without waiting (hand it to :class:`RetiredJobs`); what it
        still sends is dropped and no ``ended`` comes for it."""
        job, self.job = self.job, None
        return job

    def stop(self) -> None:
        """Cancel the held job and wait for its thread (on close); no ``ended`` comes."""
        job, self.job = self.job, None
        if job is not None:
            job.stop()

    def _current(self) -> bool:
        return self.job is not None and self.sender() is self.job.worker

    @Slot(object)
    def _progress(self, event: Progress) -> None:
        if self._current() and self._on_progress is not None:
            self._on_progress(event)

    @Slot(object)
    def _result(self, item: object) -> None:
        if self._current():
            self._on_result(item)

    @Slot(str, str)
    def _error(self, message: str, details: str) -> None:
        if self._current():
            self._on_error(message, details)

    @Slot()
    def _cancelled(self) -> None:
        if self._current() and self._on_cancelled is not None:
            self._on_cancelled()

    @Slot()
    def _finished(self) -> None:
        job = self.job
        # Only the held job's own thread: a job let go must not free the slot of a new one
        # whose queued result has not been delivered yet.
        if job is not None and self.sender() is job.thread:
            job.thread.wait()  # finished is sent just before the thread really ends
            self.job = None
            self.ended.emit()


class RetiredJobs(QObject):
    """Jobs cancelled because the user moved on (another clip, a new view): they end in the
    background instead of blocking the GUI thread, and :meth:`wait_all` joins them on close.

    A retired job is kept until the signals it queued have been delivered: freed earlier, its
    QThread's address could be reused by the next job's, and a late ``finished`` would then
    pass for the new job's own.
    """

    def __init__(self) -> None:
        super().__init__()
        self._jobs: list[Job] = []  # still running: let go when their thread's finished arrives
        self._ended: list[Job] = []  # ended already: let go once what they queued is delivered

    def __len__(self) -> int:
        return len(self._jobs) + len(self._ended)

    def retire(self, job: Job) -> None:
        job.cancel()
        if job.is_running():
            self._jobs.append(job)
            job.thread.finished.connect(self._reap)
        else:  # what it queued is delivered before this posted call runs
            self._ended.append(job)
            QTimer.singleShot(0, self._forget_ended)

    @Slot()
    def _reap(self) -> None:
        for job in [j for j in self._jobs if not j.is_running()]:
            job.thread.wait()  # finished is sent just before the thread really ends
            self._jobs.remove(job)

    @Slot()
    def _forget_ended(self) -> None:
        if self._ended:
            self._ended.pop(0)  # posted in retire order, one call per job

    def wait_all(self) -> None:
        for job in self._jobs:
            job.stop()
        self._jobs.clear()
        self._ended.clear()


class EtaClock:
    """Turns a stream of Progress into "stage 42% - 0:13 left", timing each stage separately."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._stage: str | None = None
        self._started = 0.0

    def describe(self, event: Progress) -> str:
        now = self._clock()
        if event.stage != self._stage:
            self._stage, self._started = event.stage, now
        text = event.stage.capitalize()
        if event.message:
            text += f": {event.message}"
        fraction = event.fraction
        if fraction is None:
            return text
        text += f" {fraction:.0%}"
        elapsed = now - self._started
        if 0.0 < fraction < 1.0 and elapsed > 0.5:
            left = elapsed * (1.0 - fraction) / fraction
            text += f" - {format_clock(left)} left"
        return text


def format_clock(seconds: float) -> str:
    """H:MM:SS or M:SS, for ETAs and time labels."""
    total = max(0, round(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
