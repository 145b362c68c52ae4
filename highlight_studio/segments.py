"""Turn a score curve into highlight segments: pure numpy, shared by the GUI and the exporters.

Times are seconds on the clip's own clock (0 = first frame). A segment's ``end`` is exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    """One highlight: ``[start, end)`` in seconds and the mean score of the steps inside it."""

    start: float
    end: float
    score: float = float("nan")

    @property
    def duration(self) -> float:
        return self.end - self.start
