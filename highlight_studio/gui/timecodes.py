"""Clip times as editors read them: HH:MM:SS:FF at the clip's own frame rate.

Every time the window shows (segment table, totals, preview clock, status messages, tooltips)
goes through one :class:`Clock`, so a time is rounded the same way everywhere, and the way the
exported timelines round it: to the nearest frame boundary, halves up
(:func:`~highlight_studio.export.timeline.seconds_to_frame`). A duration is the difference of
its rounded ends, so start + duration = end to the frame and totals add up. Labels count from
00:00:00:00 at the clip's first frame (the curve's clock); at 29.97 and 59.94 they are
drop-frame (``;``), as in the exported timelines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import ExportError
from ..export.timecode import frames_to_timecode
from ..export.timeline import editing_rate, seconds_to_frame
from ..media import MediaInfo

FALLBACK_RATE = Fraction(25)  # before a clip is open, or for one without a usable rate
NEAR_HALF = 1e-6  # frames; a float product this close to a half is rounded exactly instead


@dataclass(frozen=True)
class Clock:
    rate: Fraction = FALLBACK_RATE

    @classmethod
    def of(cls, info: MediaInfo) -> Clock:
        """The clip's editing rate (what its exported timelines count in)."""
        try:
            return cls(editing_rate(info))
        except ExportError:
            average = Fraction(info.avg_fps)
            return cls(average if average > 0 else FALLBACK_RATE)

    @property
    def fps(self) -> float:
        return float(self.rate)

    def frame(self, seconds: float) -> int:
        """The frame boundary nearest ``seconds``."""
        return int(self.frames(np.array([seconds]))[0])

    def frames(self, seconds: np.ndarray) -> np.ndarray:
        """:meth:`frame` of many times at once: in floating point, which rounds as the exact
        rational arithmetic does except within NEAR_HALF of a half frame, where the exact
        :func:`seconds_to_frame` decides (a table of hundreds of rows refreshes per drag)."""
        x = np.asarray(seconds, dtype=np.float64) * float(self.rate)
        out = np.floor(x + 0.5).astype(np.int64)
        for i in np.flatnonzero(np.abs(x - np.floor(x) - 0.5) <= NEAR_HALF):
            out[i] = seconds_to_frame(float(seconds[i]), self.rate)
        return np.maximum(out, 0)

    def label(self, seconds: float) -> str:
        return frames_to_timecode(self.frame(seconds), self.rate)

    def frames_label(self, frames: int) -> str:
        return frames_to_timecode(max(0, frames), self.rate)

    def span_frames(self, start: float, end: float) -> int:
        return max(0, self.frame(end) - self.frame(start))

    def duration(self, start: float, end: float) -> str:
        return self.frames_label(self.span_frames(start, end))

    def total(self, spans: Iterable[tuple[float, float]]) -> str:
        """The summed duration of ``spans``, each rounded as the table shows it."""
        pairs = np.array(list(spans), dtype=np.float64).reshape(-1, 2)
        lengths = self.frames(pairs[:, 1]) - self.frames(pairs[:, 0])
        return self.frames_label(int(np.maximum(lengths, 0).sum()))
