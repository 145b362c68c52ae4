"""Drop-frame and non-drop-frame timecode arithmetic, checked by hand and against OTIO."""

from __future__ import annotations

from fractions import Fraction

import opentimelineio as otio
import pytest

from highlight_studio.errors import ExportError
from highlight_studio.export.timecode import (
    TIMECODE_RATES,
    frames_to_timecode,
    is_drop_frame,
    timecode_to_frames,
)

NTSC = Fraction(30000, 1001)
NTSC60 = Fraction(60000, 1001)


@pytest.mark.parametrize(("frames", "rate", "drop", "label"), [
    (17982, NTSC, True, "00:10:00;00"),  # ten minutes of DF drops 18 labels
    (17982, NTSC, False, "00:09:59:12"),
    (1800, NTSC, True, "00:01:00;02"),  # labels ;00 and ;01 are skipped at minute 1
    (1799, NTSC, True, "00:00:59;29"),
    (107892, NTSC, True, "01:00:00;00"),
    (35964, NTSC60, True, "00:10:00;00"),
    (3600, NTSC60, True, "00:01:00;04"),
    (86400, Fraction(24000, 1001), None, "01:00:00:00"),  # 23.976 is never drop-frame
    (90000, Fraction(25), None, "01:00:00:00"),
    (49, Fraction(50), None, "00:00:00:49"),
])
def test_known_labels(frames: int, rate: Fraction, drop: bool | None, label: str) -> None:
    assert frames_to_timecode(frames, rate, drop) == label
    assert timecode_to_frames(label, rate, drop) == frames


@pytest.mark.parametrize("rate", TIMECODE_RATES)
def test_round_trip_and_agreement_with_otio(rate: Fraction) -> None:
    for frames in [*range(0, 4000, 7), 17981, 17982, 17983, 107892, 215784, 863999]:
        label = frames_to_timecode(frames, rate)
        assert timecode_to_frames(label, rate) == frames
        assert label == otio.opentime.to_timecode(otio.opentime.RationalTime(frames, float(rate)),
                                                  float(rate))


def test_drop_frame_convention() -> None:
    assert is_drop_frame(NTSC) and is_drop_frame(NTSC60)
    assert not any(is_drop_frame(Fraction(r)) for r in (24, 25, 30, 50, 60))
    assert not is_drop_frame(Fraction(24000, 1001))


@pytest.mark.parametrize("label", ["00:01:00;00", "00:01:00;01", "1:2:3", "00:00:00:30",
                                   "00:61:00:00"])
def test_invalid_labels(label: str) -> None:
    with pytest.raises(ExportError):
        timecode_to_frames(label, NTSC)


def test_skipped_label_is_fine_at_tenth_minute_and_non_drop() -> None:
    assert timecode_to_frames("00:10:00;00", NTSC) == 17982
    assert timecode_to_frames("00:01:00:00", NTSC) == 1800  # ':' means non-drop labels


def test_negative_frames() -> None:
    with pytest.raises(ExportError):
        frames_to_timecode(-1, Fraction(25))


@pytest.mark.parametrize(("rate", "day"), [
    (Fraction(25), 2_160_000), (NTSC, 2_589_408), (NTSC60, 5_178_816),
    (Fraction(24000, 1001), 2_073_600)])
def test_labels_wrap_at_midnight(rate: Fraction, day: int) -> None:
    """A camera's time-of-day clock and a tape both roll over to 00:00:00:00 after 24 h."""
    last = frames_to_timecode(day - 1, rate)
    assert last.startswith("23:59:59") and timecode_to_frames(last, rate) == day - 1
    assert frames_to_timecode(day, rate) == frames_to_timecode(0, rate)
    assert frames_to_timecode(day + 1500, rate) == frames_to_timecode(1500, rate)
    assert frames_to_timecode(day + 1500, rate) == otio.opentime.to_timecode(
        otio.opentime.RationalTime(day + 1500, float(rate)), float(rate))
