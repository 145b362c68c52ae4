"""SMPTE timecode arithmetic on exact rational rates (drop-frame and non-drop-frame).

Timecode is a label, not a clock: at 29.97 and 59.94 drop-frame timecode skips labels (never
frames) so the label stays within a few frames of wall-clock time; every other rate counts
frames at its nominal integer rate. Keeping this here (rather than trusting each writer) lets
the exporters check what OpenTimelineIO wrote against an independent implementation.
"""

from __future__ import annotations

import re
from fractions import Fraction

from ..errors import ExportError

NTSC_DROP_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))
TIMECODE_RATES = (
    Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
    Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60),
)
_TC = re.compile(r"^(\d{1,2})[:;.](\d{2})[:;.](\d{2})([:;.])(\d{2,3})$")


def is_drop_frame(rate: Fraction) -> bool:
    """Whether ``rate`` is labelled with drop-frame timecode (29.97 and 59.94)."""
    return Fraction(rate) in NTSC_DROP_RATES


def label_is_drop_frame(timecode: str, rate: Fraction) -> bool:
    """Whether a label counts drop-frame: a ``;`` or ``.`` separator at a drop-frame rate."""
    match = _TC.match(timecode.strip())
    return bool(match) and match.group(4) in ";." and is_drop_frame(rate)


def is_timecode_rate(rate: Fraction) -> bool:
    """Whether editors accept ``rate`` as a timeline rate (EDL, FCPXML)."""
    return Fraction(rate) in TIMECODE_RATES


def nominal_rate(rate: Fraction) -> int:
    """The integer frames-per-second a timecode label counts (30 for 29.97)."""
    return round(Fraction(rate))


def _drop_per_minute(rate: Fraction) -> int:
    return 2 * nominal_rate(rate) // 30


def frames_per_day(rate: Fraction, drop_frame: bool | None = None) -> int:
    """How many frames 24 hours of labels count: timecode wraps to 00:00:00:00 after them."""
    drop = is_drop_frame(rate) if drop_frame is None else drop_frame
    if not drop:
        return nominal_rate(rate) * 86_400
    per_drop = _drop_per_minute(rate)
    return 24 * 6 * (nominal_rate(rate) * 600 - 9 * per_drop)


def frames_to_timecode(frames: int, rate: Fraction, drop_frame: bool | None = None) -> str:
    """Label of frame ``frames`` counted from 00:00:00:00; ``;`` marks drop-frame.

    ``drop_frame`` defaults to the convention for ``rate`` (:func:`is_drop_frame`). Labels
    wrap after 23:59:59:ff, as on a tape or a camera's time-of-day clock.
    """
    if frames < 0:
        raise ExportError(f"Timecode cannot be negative (frame {frames}).")
    fps = nominal_rate(rate)
    drop = is_drop_frame(rate) if drop_frame is None else drop_frame
    frames %= frames_per_day(rate, drop)
    if drop:
        per_drop = _drop_per_minute(rate)
        per_minute = fps * 60 - per_drop
        per_ten = fps * 600 - 9 * per_drop
        tens, rest = divmod(frames, per_ten)
        skipped = 9 * per_drop * tens
        if rest >= per_drop:
            skipped += per_drop * ((rest - per_drop) // per_minute)
        frames += skipped
    hours, rest = divmod(frames, fps * 3600)
    minutes, rest = divmod(rest, fps * 60)
    seconds, ff = divmod(rest, fps)
    sep = ";" if drop else ":"
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{sep}{ff:02d}"


def timecode_to_frames(timecode: str, rate: Fraction, drop_frame: bool | None = None) -> int:
    """Frame number of a label (inverse of :func:`frames_to_timecode`).

    ``drop_frame`` defaults to the separator (``;`` or ``.`` means drop-frame) when the rate
    allows it; a label that drop-frame skips (e.g. 00:01:00;00) is an error.
    """
    match = _TC.match(timecode.strip())
    if not match:
        raise ExportError(f"{timecode!r} is not a timecode (expected HH:MM:SS:FF).")
    hh, mm, ss, _, ff = match.groups()
    hours, minutes, seconds, frame = int(hh), int(mm), int(ss), int(ff)
    fps = nominal_rate(rate)
    if minutes > 59 or seconds > 59 or frame >= fps:
        raise ExportError(f"{timecode!r} is not a valid timecode at {float(rate):.3f} fps.")
    drop = label_is_drop_frame(timecode, rate) if drop_frame is None else drop_frame
    total = (hours * 3600 + minutes * 60 + seconds) * fps + frame
    if not drop:
        return total
    per_drop = _drop_per_minute(rate)
    if seconds == 0 and frame < per_drop and minutes % 10:
        raise ExportError(f"{timecode!r} does not exist in drop-frame timecode.")
    total_minutes = hours * 60 + minutes
    return total - per_drop * (total_minutes - total_minutes // 10)
