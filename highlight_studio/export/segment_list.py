"""The segment list as data: one row per segment (start, end, duration, score), as JSON or CSV.

Plain Python only (no PyAV, no OpenTimelineIO), so ``analyze`` can put the same rows in its
own document without loading the exporters. Segments are written as selected, in seconds: a
segment shorter than a frame is listed here though the timelines and cuts leave it out.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

COLUMNS = ("start", "end", "duration", "score")


class Span(Protocol):
    """What a row is made of: the engine's ``Segment`` and the window's ``EditSegment``."""

    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def score(self) -> float: ...


def segment_rows(segments: Sequence[Span], digits: int | None = None
                 ) -> list[dict[str, float | None]]:
    """The rows of the list; ``digits`` rounds them (a curve's document stays short). A
    segment typed in seconds has no score: None (JSON's null), not NaN, which JSON lacks."""
    def value(x: float) -> float | None:
        if math.isnan(x):
            return None
        return x if digits is None else round(x, digits)

    return [{"start": value(s.start), "end": value(s.end), "duration": value(s.end - s.start),
             "score": value(s.score)} for s in segments]


def segments_json(clip: Path, model: str, segments: Sequence[Span]) -> str:
    """The list as a JSON document naming the clip and the model that scored it."""
    return json.dumps({"clip": str(clip), "model": model, "segments": segment_rows(segments)},
                      indent=2)


def segments_csv(segments: Sequence[Span]) -> str:
    """The list as CSV with a header row; times to the millisecond, scores to 4 places."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in segment_rows(segments):
        writer.writerow([f"{row[c]:.{4 if c == 'score' else 3}f}" if row[c] is not None else ""
                         for c in COLUMNS])
    return out.getvalue()
