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

from ..errors import ExportError
from ..export.timecode import frames_to_timecode
from ..export.timeline import editing_rate, seconds_to_frame
from ..media import MediaInfo

FALLBACK_RATE = Fraction(25)  # before a clip is open, or for one without a usable rate


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
        return max(0, seconds_to_frame(seconds, self.rate))

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
        return self.frames_label(sum(self.span_frames(a, b) for a, b in spans))
