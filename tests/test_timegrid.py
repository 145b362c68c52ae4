"""The time grid is the one rule for step counts and indices: decoding (media), segment
selection (segments) and the editor's document (gui/document.py) must agree with it, and with
each other, on the edge cases where float round-off used to split them."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from clipgen import ClipSpec, write_clip

from highlight_studio import timegrid
from highlight_studio.gui import document as doc
from highlight_studio.media import MediaInfo, iter_frames, probe, step_count
from highlight_studio.scoring import Analysis
from highlight_studio.segments import SegmentOptions, select_segments

RAW = SegmentOptions(threshold=0.0, merge_gap=0.0, pre_roll=0.0, post_roll=0.0, min_length=0.0)
STEP = 0.2
FPS = 25
# (duration, steps): exact multiples whose quotient rounds below or above the integer in floats
# (0.6 / 0.2 = 2.9999999999999996, 0.7 / 0.1 = 6.999999999999999), one frame short, one frame
# over, and a hair over an exact multiple that is round-off rather than another step.
EDGES = [
    (2.0, 10),
    (0.6, 3),
    (3 * 0.2, 3),
    (2.0 - 1 / FPS, 10),
    (2.0 + 1 / FPS, 11),
    (0.6 * (1 + 1e-8), 3),
    (0.6 + 1e-4, 4),
    (1 / FPS, 1),
    (0.0, 0),
]


def segments_steps(duration: float, step: float) -> int:
    """How many steps select_segments reads of a longer curve: with every step picked, the
    segment's score is the mean of the step indices it takes in, 0 .. n - 1."""
    scores = np.arange(1000, dtype=np.float64)
    found = select_segments(scores / scores.max(), step, duration, RAW)
    if not found:
        return 0
    n = round(found[0].score * scores.max() * 2) + 1  # mean of 0 .. n - 1 is (n - 1) / 2
    assert found[0].end == pytest.approx(duration)
    return n


def document_steps(duration: float, step: float) -> int:
    """How many steps the document scores a segment over the whole clip with."""
    info = MediaInfo(Path("x.mp4"), duration, Fraction(FPS), Fraction(FPS), 1, 320, 180, 0,
                     False, None, None, None, 0.0, "h264", False)
    n = timegrid.step_count(duration, step)
    analysis = Analysis(Path("x.mp4"), info, "m", "b", step, np.arange(n + 5, dtype=np.float32),
                        "cpu")
    mean = doc.mean_score(analysis, 0.0, duration)
    return 0 if math.isnan(mean) else round(mean * 2) + 1


@pytest.mark.parametrize(("duration", "steps"), EDGES)
def test_media_segments_and_document_count_the_same_steps(duration: float, steps: int) -> None:
    assert timegrid.step_count(duration, STEP) == steps
    assert step_count(duration, STEP) == steps  # media's is the grid's
    assert segments_steps(duration, STEP) == steps
    assert document_steps(duration, STEP) == steps


def test_a_hair_past_a_step_start_is_that_step() -> None:
    """A segment edge at k * step plus round-off starts at step k in every module (the
    segment selector used a tolerance a thousand times smaller than decoding's)."""
    edge = 0.6 * (1 + 1e-7)
    assert timegrid.first_step_from(edge, STEP) == 3
    assert timegrid.first_step_from(0.6 * (1 - 1e-7), STEP) == 3
    assert timegrid.first_step_from(np.array([edge, 0.6 + 1e-4, 0.6 - 1e-4]), STEP).tolist() \
        == [3, 4, 3]


def test_a_time_on_a_step_start_is_in_that_step() -> None:
    """0.6 / 0.2 is 2.9999999999999996 in floats: a plain floor put a time on step 3's start
    (an audio frame, the playhead) in step 2."""
    assert math.floor(0.6 / STEP) == 2  # the round-off the rule guards against
    assert timegrid.step_at(0.6, STEP) == 3
    assert timegrid.step_at(0.6 - 1e-4, STEP) == 2
    assert timegrid.step_at(np.array([0.0, 0.6, 0.79, 0.8]), STEP).tolist() == [0, 3, 3, 4]
    starts = timegrid.step_start(np.arange(50), STEP)
    assert timegrid.step_at(starts, STEP).tolist() == list(range(50))


def test_audio_frames_pool_into_the_step_their_time_is_in() -> None:
    from highlight_studio.features.audio import pool_to_steps

    times = np.array([0.0, 0.2, 0.4, 0.6])  # each on a step's start
    frames = np.arange(4, dtype=np.float32)[:, None]
    pooled = pool_to_steps(frames, times, n_steps=4, step=STEP, fill=-1.0)
    assert pooled[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_step_times_cover_the_clip_once() -> None:
    duration = 2.0 - 1 / FPS
    n = timegrid.step_count(duration, STEP)
    ks = np.arange(n)
    starts = timegrid.step_start(ks, STEP)
    ends = timegrid.step_end(ks, STEP, duration)
    assert starts[0] == 0.0 and ends[-1] == duration  # the last step is partial
    assert np.allclose(starts[1:], ends[:-1])
    assert timegrid.step_end(n - 1, STEP, duration) == duration
    assert [timegrid.first_step_from(float(t), STEP) for t in starts] == list(range(n))


def test_step_grid_rejects_a_step_of_zero() -> None:
    for rule in (lambda: timegrid.step_count(1.0, 0.0),
                 lambda: timegrid.first_step_from(1.0, -0.2),
                 lambda: timegrid.step_at(1.0, 0.0)):
        with pytest.raises(ValueError, match="step"):
            rule()


@pytest.mark.parametrize("frames", [50, 49, 51])
def test_decoding_yields_one_frame_per_grid_step(tmp_path: Path, frames: int) -> None:
    """A clip of exactly ten steps, one frame short of it and one frame over: the decoder
    delivers as many frames as the grid (and so segments and the document) counts."""
    spec = ClipSpec(n_frames=frames, fps=Fraction(FPS), width=64, height=48, audio_hz=None)
    path = write_clip(tmp_path / "c.mp4", spec)
    info = probe(path)
    n = timegrid.step_count(info.duration, STEP)
    assert n == math.ceil(frames / FPS / STEP - 1e-6)
    assert len(list(iter_frames(path, STEP, (32, 24)))) == n
    assert segments_steps(info.duration, STEP) == n
    assert document_steps(info.duration, STEP) == n
