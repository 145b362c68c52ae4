"""AP, both protocols and the baselines on hand-made cases whose values are worked out here."""

from __future__ import annotations

import numpy as np
import pytest

from highlight_studio.errors import DatasetError
from highlight_studio.evaluation import (
    BASELINES,
    BenchmarkAnnotations,
    VideoAnnotation,
    average_precision,
    baseline_scores,
    evaluate_scores,
)
from highlight_studio.evaluation.protocols import tvsum_ap, yth_ap


def test_average_precision_trapezoid_rule() -> None:
    # [1,0,1,0], n=2: step 1 adds 0.5*(1+1)/2 = 1/2; step 3 (p=2/3 after p=1/2) adds
    # 0.5*(1/2+2/3)/2 = 7/24; the others add no recall. AP = 19/24.
    assert average_precision([1, 0, 1, 0]) == pytest.approx(19 / 24)
    # [0,1], n=1: precision drops to 0 at step 1, then step 2 adds 1*(0+1/2)/2 = 1/4.
    assert average_precision([0, 1]) == pytest.approx(1 / 4)
    assert average_precision([1, 1, 0]) == pytest.approx(1.0)
    assert average_precision([0, 0, 0]) == 0.0
    assert average_precision([]) == 0.0


def test_yth_ap_ranks_by_score_and_counts_unlabelled_as_negative() -> None:
    # ranking 0 (0.9), 1 (0.8), 3 (0.5), 2 (0.1) -> labels 1, -1, 1, 0 -> g = [1,0,1,0]
    assert yth_ap(np.array([1, -1, 0, 1]), np.array([0.9, 0.8, 0.1, 0.5])) == pytest.approx(
        19 / 24)


def test_ties_keep_time_order() -> None:
    # all scores equal -> time order -> g = [1,0,0,1]: 1/2, then step 4 (p=1/2 after 1/3)
    # adds 0.5*(1/3+1/2)/2 = 5/24. AP = 17/24.
    assert yth_ap(np.array([1, 0, 0, 1]), np.zeros(4)) == pytest.approx(17 / 24)


def test_tvsum_median_rule_and_top5_cut() -> None:
    # annotator A: median 3, positives (> 3, so the 3 is not) at steps 3, 4, 5.
    # annotator B: median 2, positives at steps 0, 1.
    truth = np.array([[1, 5], [2, 5], [3, 1], [4, 1], [5, 1], [5, 2], [1, 2]])
    scores = np.array([0.7, 0.1, 0.6, 0.9, 0.2, 0.05, 0.8])
    # ranking 3, 6, 0, 2, 4 | 1, 5 (cut after 5)
    # A: g = [1,0,0,0,1], n = 2 (step 5 falls outside the top 5): 1/2 + 0.5*(1/4+2/5)/2
    ap_a = 0.5 + 0.5 * (0.25 + 0.4) / 2
    # B: g = [0,0,1,0,0], n = 1: precision 0 until step 3, then 1*(0+1/3)/2
    ap_b = 1 / 6
    assert tvsum_ap(truth, scores) == pytest.approx((ap_a + ap_b) / 2)


def _yth(videos: dict[str, tuple[str, list[int]]]) -> BenchmarkAnnotations:
    return BenchmarkAnnotations("toy", "yth", {
        vid: VideoAnnotation(domain, np.array(labels, dtype=np.int8), None)
        for vid, (domain, labels) in videos.items()})


def test_evaluate_scores_averages_domains_first() -> None:
    anno = _yth({"a1": ("a", [1, 0]), "a2": ("a", [0, 1]), "b1": ("b", [1, -1, 0, 1])})
    scores = {"a1": np.array([1.0, 0.0]), "a2": np.array([1.0, 0.0]),
              "b1": np.array([0.9, 0.8, 0.1, 0.5]), "extra": np.zeros(3)}
    result = evaluate_scores(anno, scores)
    assert result.per_video == pytest.approx({"a1": 1.0, "a2": 0.25, "b1": 19 / 24})
    assert result.per_domain == pytest.approx({"a": 0.625, "b": 19 / 24})
    assert result.domain_sizes == {"a": 2, "b": 1}
    # mean of domain means, not of videos ((1 + 0.25 + 19/24) / 3 would be 0.681)
    assert result.headline == pytest.approx((0.625 + 19 / 24) / 2)
    table = result.format_table("mine").splitlines()
    assert table[1].split() == ["a", "b", "Avg."]
    assert table[2].split() == ["mine", "0.625", "0.792", "0.708"]
    assert table[3].split() == ["videos", "2", "1", "3"]
    assert result.to_dict()["headline"] == result.headline


def test_evaluate_scores_tvsum_protocol() -> None:
    truth = np.array([[1, 5], [2, 5], [3, 1], [4, 1], [5, 1], [5, 2], [1, 2]])
    anno = BenchmarkAnnotations("tv", "tvsum", {"v": VideoAnnotation("BK", None, truth)})
    result = evaluate_scores(anno, {"v": np.array([0.7, 0.1, 0.6, 0.9, 0.2, 0.05, 0.8])})
    assert result.headline == pytest.approx(((0.5 + 0.1625) + 1 / 6) / 2)
    assert result.metric == "top-5 mAP"


def test_evaluate_scores_errors() -> None:
    anno = _yth({"a1": ("a", [1, 0])})
    with pytest.raises(DatasetError, match="No scores for video a1"):
        evaluate_scores(anno, {})
    with pytest.raises(DatasetError, match=r"a1: got scores of shape \(3,\) but it has 2 steps"):
        evaluate_scores(anno, {"a1": np.zeros(3)})
    with pytest.raises(DatasetError, match="NaN"):
        evaluate_scores(anno, {"a1": np.array([0.0, np.nan])})


def test_baselines() -> None:
    visual = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 2.0]])
    np.testing.assert_allclose(baseline_scores("feature-norm", visual), [0, 5, 2])
    # squared distances: d01 = 25, d02 = 4, d12 = 9 + 4 = 13; mean over the other two steps
    np.testing.assert_allclose(baseline_scores("distinctiveness", visual),
                               [(25 + 4) / 2, (25 + 13) / 2, (4 + 13) / 2])
    first = baseline_scores("random", visual, seed=3, video_id="v")
    np.testing.assert_array_equal(first, baseline_scores("random", visual, seed=3, video_id="v"))
    assert not np.array_equal(first, baseline_scores("random", visual, seed=4, video_id="v"))
    assert not np.array_equal(first, baseline_scores("random", visual, seed=3, video_id="w"))
    # steps on the line (0, 5) + t (1, -1), whose norm falls as t grows: the main axis is t
    # centred, times |(1, -1)|, with the sign that agrees with the norm
    t = np.array([-2.0, -1.0, 0.0, 1.0, 3.0])
    on_line = np.stack([t, 5.0 - t], axis=1)
    np.testing.assert_allclose(baseline_scores("main-axis", on_line),
                               -np.sqrt(2) * (t - t.mean()), rtol=1e-5)
    assert set(BASELINES) == {"random", "feature-norm", "distinctiveness", "main-axis",
                              "motion-norm", "motion-main-axis", "visual+motion-norm",
                              "visual+motion-main-axis"}
    with pytest.raises(DatasetError, match="Unknown baseline 'oracle'"):
        baseline_scores("oracle", visual)


def test_motion_baselines() -> None:
    """The motion baselines read the motion stream (not the visual one); the joint ones read
    both, each on its own scale; none runs without motion."""
    visual = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])  # no change at all
    t = np.array([0.0, 1.0, 3.0, 2.0])
    motion = np.stack([t, 10.0 + 0 * t], axis=1)  # changes along its first axis; norm grows
    np.testing.assert_allclose(baseline_scores("motion-norm", visual, motion=motion),
                               np.linalg.norm(motion, axis=1), rtol=1e-6)
    axis = baseline_scores("motion-main-axis", visual, motion=motion)
    np.testing.assert_allclose(axis, t - t.mean(), rtol=1e-5)
    # the visual stream is flat, so the joint readings follow the motion stream's ranking,
    # however much larger the visual features' scale
    for name in ("visual+motion-norm", "visual+motion-main-axis"):
        scores = baseline_scores(name, 100 * visual, motion=motion)
        assert list(np.argsort(scores)) == list(np.argsort(t)), name
    with pytest.raises(DatasetError, match="reads the motion stream"):
        baseline_scores("motion-norm", visual)
    with pytest.raises(DatasetError, match="not one row per step"):
        baseline_scores("visual+motion-norm", visual, motion=motion[:3])
