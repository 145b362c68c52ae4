"""Segment selection on hand-made curves; every expected segment is worked out in the comments."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from highlight_studio.errors import HighlightStudioError
from highlight_studio.segments import Segment, SegmentOptions, select_segments

# step k covers [k, k+1) with step = 1 s; at threshold 0.5 steps 1, 2, 4, 7, 8 are picked
CURVE = np.array([0.1, 0.9, 0.8, 0.2, 0.7, 0.1, 0.1, 0.6, 0.6, 0.3])


def raw(**options: float) -> SegmentOptions:
    """Options with no rolls, merging or minimum length, except those given."""
    return SegmentOptions(**{"merge_gap": 0.0, "pre_roll": 0.0, "post_roll": 0.0,
                             "min_length": 0.0, **options})


def spans(segments: list[Segment]) -> list[tuple[float, float]]:
    return [(s.start, s.end) for s in segments]


def test_threshold_runs_and_mean_scores() -> None:
    found = select_segments(CURVE, 1.0, 10.0, raw(threshold=0.5))
    assert spans(found) == [(1, 3), (4, 5), (7, 9)]
    assert [s.score for s in found] == pytest.approx([0.85, 0.7, 0.6])


def test_threshold_is_inclusive() -> None:
    assert spans(select_segments(CURVE, 1.0, 10.0, raw(threshold=0.6))) == [
        (1, 3), (4, 5), (7, 9)]
    assert spans(select_segments(CURVE, 1.0, 10.0, raw(threshold=0.65))) == [
        (1, 3), (4, 5)]


def test_merge_gap_joins_only_shorter_gaps() -> None:
    # gaps: 3 -> 4 is 1 s, 5 -> 7 is 2 s
    joined = select_segments(CURVE, 1.0, 10.0, raw(threshold=0.5, merge_gap=1.5))
    assert spans(joined) == [(1, 5), (7, 9)]
    assert joined[0].score == pytest.approx((0.9 + 0.8 + 0.2 + 0.7) / 4)  # the gap step counts
    equal = select_segments(CURVE, 1.0, 10.0, raw(threshold=0.5, merge_gap=1.0))
    assert spans(equal) == [(1, 3), (4, 5), (7, 9)]  # a 1 s gap is not shorter than 1 s


def test_rolls_pad_then_join_touching_segments() -> None:
    found = select_segments(
        CURVE, 1.0, 10.0, raw(threshold=0.5, pre_roll=0.5, post_roll=0.5))
    # [0.5, 3.5) and [3.5, 5.5) touch and join; [6.5, 9.5) stays apart
    assert spans(found) == [(0.5, 5.5), (6.5, 9.5)]
    # steps starting inside: 1..5 and 7..9
    assert [s.score for s in found] == pytest.approx([(0.9 + 0.8 + 0.2 + 0.7 + 0.1) / 5, 0.5])
    post_only = select_segments(CURVE, 1.0, 10.0, raw(threshold=0.5, post_roll=2))
    # [1, 5) overlaps [4, 7), which touches [7, 11) clipped to [7, 10): one segment
    assert spans(post_only) == [(1, 10)]


def test_rolls_clip_at_both_ends() -> None:
    curve = np.array([0.9, 0, 0, 0, 0, 0, 0, 0, 0, 0.8])
    # duration 9.5: the last step is [9, 9.5)
    found = select_segments(curve, 1.0, 9.5, raw(pre_roll=2, post_roll=2))
    assert spans(found) == [(0, 3), (7, 9.5)]
    assert [s.score for s in found] == pytest.approx([0.3, 0.8 / 3])


def test_min_length_drops_short_segments_after_padding() -> None:
    found = select_segments(CURVE, 1.0, 10.0, raw(threshold=0.5, min_length=2))
    assert spans(found) == [(1, 3), (7, 9)]
    assert select_segments(CURVE, 1.0, 10.0, raw(threshold=0.5, min_length=2.01)) == []
    padded = raw(threshold=0.5, min_length=2, pre_roll=0.5)
    assert spans(select_segments(CURVE, 1.0, 10.0, padded)) == [(0.5, 3), (6.5, 9)]


def test_empty_and_all_selected() -> None:
    assert select_segments(CURVE, 1.0, 10.0, raw(threshold=0.95)) == []
    assert select_segments(CURVE, 1.0, 0.0, raw(threshold=0.0)) == []
    assert select_segments(np.array([]), 1.0, 10.0, raw()) == []
    everything = select_segments(CURVE, 1.0, 9.5, raw(threshold=0.0))
    assert spans(everything) == [(0, 9.5)]
    assert everything[0].score == pytest.approx(CURVE.mean())


def test_curve_and_clip_lengths_may_differ() -> None:
    longer = np.concatenate([CURVE, [0.9, 0.9]])  # steps 10 and 11 start after the clip
    assert spans(select_segments(longer, 1.0, 10.0, raw())) == [(1, 3), (4, 5), (7, 9)]
    # a curve still being computed: only its 5 steps count
    assert spans(select_segments(CURVE[:5], 1.0, 10.0, raw())) == [(1, 3), (4, 5)]


def test_fractional_step() -> None:
    # step 0.2: picked steps 1, 2 -> [0.2, 0.6); merge gap 0.4 joins 4 (gap 0.2 s), not 9
    curve = np.zeros(10)
    curve[[1, 2, 4, 9]] = 1
    found = select_segments(curve, 0.2, 2.0, raw(merge_gap=0.4))
    assert [(round(a, 9), round(b, 9)) for a, b in spans(found)] == [(0.2, 1.0), (1.8, 2.0)]


BEST = np.array([0.1, 0.9, 0.8, 0.2, 0.7, 0.15, 0.05, 0.6, 0.65, 0.3])


def test_best_total_seconds_picks_top_steps_ignoring_threshold() -> None:
    # ranked steps: 1 (0.9), 2 (0.8), 4 (0.7), 8 (0.65), 7 (0.6), ...
    best3 = raw(threshold=1.0, best_total_seconds=3)
    assert spans(select_segments(BEST, 1.0, 10.0, best3)) == [(1, 3), (4, 5)]
    # 2.5 s: steps 1 and 2 cover 2 s; step 4 would make 3 s, more than asked
    assert spans(select_segments(BEST, 1.0, 10.0, raw(best_total_seconds=2.5))) == [(1, 3)]
    four = select_segments(BEST, 1.0, 10.0, raw(best_total_seconds=4))
    assert spans(four) == [(1, 3), (4, 5), (8, 9)]
    assert sum(s.duration for s in four) == pytest.approx(4)
    assert spans(select_segments(BEST, 1.0, 10.0, raw(best_total_seconds=100))) == [
        (0, 10)]


def test_best_total_seconds_counts_the_rolls() -> None:
    # step 1 alone: [0.5, 2.5) = 2 s; with step 2: [0.5, 3.5) = 3 s; with step 4 its
    # [3.5, 5.5) touches and joins: [0.5, 5.5) = 5 s, more than 4
    found = select_segments(BEST, 1.0, 10.0, raw(pre_roll=0.5, post_roll=0.5,
                                                  best_total_seconds=4))
    assert spans(found) == [(0.5, 3.5)]


def test_best_total_seconds_ties_take_earlier_steps_and_count_clipped_steps() -> None:
    flat = np.full(10, 0.5)
    assert spans(select_segments(flat, 1.0, 10.0, raw(best_total_seconds=2))) == [
        (0, 2)]
    # last step [9, 9.5) is 0.5 s long: with step 0 as well the total would be 1.5 s
    end_high = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 1.0]) + np.linspace(0.1, 0, 10)
    found = select_segments(end_high, 1.0, 9.5, raw(best_total_seconds=1.2))
    assert spans(found) == [(9, 9.5)]
    assert spans(select_segments(end_high, 1.0, 9.5, raw(best_total_seconds=1.5))) == [
        (0, 1), (9, 9.5)]


@pytest.mark.parametrize("seconds", [3.1, 15.1, 40.3])
def test_best_total_is_the_closest_to_n_from_below(seconds: float) -> None:
    """Against brute force: every prefix of the ranking is what a threshold at its lowest
    score picks (the scores are distinct), so the best total that fits is the largest of
    those totals that is at most N."""
    rng = np.random.default_rng(round(seconds * 10))
    curve = rng.random(600)  # 2 minutes at 0.2 s steps
    editor = SegmentOptions()
    found = select_segments(curve, 0.2, 120.0, SegmentOptions(best_total_seconds=seconds))
    total = sum(s.duration for s in found)
    fitting = [t for t in (sum(s.duration for s in select_segments(
        curve, 0.2, 120.0, SegmentOptions(threshold=float(v)))) for v in np.sort(curve))
        if t <= seconds + 1e-9]
    assert total <= seconds + 1e-9
    assert total == pytest.approx(max(fitting))
    assert all(s.duration >= editor.min_length - 1e-9 for s in found)


def test_editor_defaults_give_shots_not_fragments() -> None:
    options = SegmentOptions()
    assert (options.min_length, options.merge_gap, options.pre_roll, options.post_roll) == (
        2.0, 1.0, 0.5, 0.5)
    rng = np.random.default_rng(1)
    found = select_segments(rng.random(3000), 0.2, 600.0, options)  # a noisy 10 minutes
    assert found
    assert all(s.duration >= 2.0 - 1e-9 for s in found)
    assert all(b.start - a.end >= 1.0 - 1e-9 for a, b in itertools.pairwise(found))


def test_merging_comes_after_the_rolls() -> None:
    # runs [1, 3), [4, 5), [7, 9) roll to [0.5, 3.5), [3.5, 5.5), [6.5, 9.5): the first two
    # touch, and the 1 s left between the others is under the 1.5 s merge gap
    options = raw(threshold=0.5, merge_gap=1.5, pre_roll=0.5, post_roll=0.5)
    assert spans(select_segments(CURVE, 1.0, 10.0, options)) == [(0.5, 9.5)]
    # merging the runs first would have left [7, 9) (2 s away) apart: two segments


def test_options_are_checked() -> None:
    for bad in ({"threshold": 1.5}, {"threshold": -0.1}, {"min_length": -1},
                {"pre_roll": float("nan")}, {"best_total_seconds": 0}):
        with pytest.raises(HighlightStudioError):
            raw(**bad)
    with pytest.raises(ValueError, match="finite"):
        select_segments(np.array([0.1, np.nan]), 1.0, 2.0, raw())


def test_two_hour_curve_is_fast() -> None:
    rng = np.random.default_rng(0)
    curve = rng.random(36_000)  # two hours at 0.2 s steps, ~18,000 picked steps
    options = raw(threshold=0.5, merge_gap=0.3, pre_roll=0.1, min_length=0.5)
    started = time.perf_counter()
    found = select_segments(curve, 0.2, 7200.0, options)
    assert time.perf_counter() - started < 0.5  # a Python loop per step would be far slower
    assert found and all(a.end < b.start for a, b in itertools.pairwise(found))
    assert found[0].start >= 0 and found[-1].end <= 7200
