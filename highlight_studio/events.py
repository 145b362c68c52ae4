"""Plain progress events and cancellation shared by the CLI (tqdm) and the GUI (Qt signals).

Long work in the core is a generator that yields :class:`Progress` and checks a
:class:`CancelToken` between batches, so both shells drive the same code.
"""

from __future__ import annotations

import threading
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
