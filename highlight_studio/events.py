"""Plain progress events and cancellation shared by the CLI (tqdm) and the GUI (Qt signals).

Long work in the core is a generator that yields :class:`Progress` and checks a
:class:`CancelToken` between batches, so both shells drive the same code.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


class Cancelled(Exception):
    """Raised inside a generator when its :class:`CancelToken` was set."""


class CancelToken:
    """A thread-safe flag the caller sets and long-running work polls."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


def check_cancel(token: CancelToken | None) -> None:
    """Raise :class:`Cancelled` if ``token`` is set; a missing token never cancels."""
    if token is not None:
        token.raise_if_cancelled()


class PauseToken:
    """A thread-safe pause switch: work that checks it blocks until resumed or cancelled.

    Pausing keeps the worker thread and everything it holds (a model, its optimizer) alive, so
    continuing costs nothing, unlike cancelling and resuming from a checkpoint.
    """

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self.paused_seconds = 0.0  # time spent blocked in wait(), in total

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait(self, cancel: CancelToken | None = None, poll_s: float = 0.1) -> float:
        """Block while paused, raising :class:`Cancelled` if ``cancel`` is set meanwhile;
        return the seconds spent waiting (so rates can leave the pause out)."""
        started = time.perf_counter()
        try:
            while not self._running.wait(poll_s):
                check_cancel(cancel)
        finally:
            waited = time.perf_counter() - started
            self.paused_seconds += waited
        return waited


def wait_if_paused(pause: PauseToken | None, cancel: CancelToken | None) -> float:
    """Seconds spent paused at this check; a missing token never pauses."""
    return pause.wait(cancel) if pause is not None else 0.0


@dataclass(frozen=True)
class Progress:
    """How far one stage of a long job has come.

    ``total`` is None when the end is unknown; ``unit`` names what ``done`` counts.
    """

    stage: str
    done: float
    total: float | None = None
    unit: str = ""
    message: str = ""

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, max(0.0, self.done / self.total))
