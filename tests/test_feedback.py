"""Learning from the editor: storage, profiles, the learner and the simulated editor."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from benchgen import write_benchmark

from highlight_studio.cli import main
from highlight_studio.errors import FeedbackError
from highlight_studio.evaluation.benchmark import VideoAnnotation
from highlight_studio.evaluation.protocols import yth_ap
from highlight_studio.feedback import profiles
from highlight_studio.feedback.adapt import ClipContext, like_prior, stable_order
from highlight_studio.feedback.learner import adapt, nearest_neighbour, step_features
from highlight_studio.feedback.simulate import (
    Oracle,
    across_clips,
    editor_choice,
    methods,
    review_clip,
    unreviewed_ap,
    within_clip,
)
from highlight_studio.feedback.store import load_feedback, save_feedback


def made_clip(seed: int, n: int = 60, dim: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Visual features, a prior and the editor's choice: steps of the "goal" kind (a direction
    in feature space, in runs of 5 steps) are what the editor keeps; the prior, a generic
    activity score, prefers the "crowd" kind, so it ranks most goals low."""
    rng = np.random.default_rng(seed)
    goal, crowd = rng.normal(size=dim), rng.normal(size=dim)
    kind = np.repeat(rng.integers(0, 3, n // 5), 5)  # 0 goal, 1 crowd, 2 neither
    visual = rng.normal(0.0, 0.6, (n, dim)) + np.where(kind[:, None] == 0, goal, 0) \
        + np.where(kind[:, None] == 1, crowd, 0)
    prior = np.where(kind == 1, 1.0, 0.0) + np.where(kind == 0, 0.6, 0.0) \
        + rng.normal(0.0, 0.3, n)
    return visual.astype(np.float32), prior.astype(np.float32), kind == 0


def context(seed: int, key: str = "k", backbone: str = "bb", step: float = 1.0) -> ClipContext:
    visual, prior, _ = made_clip(seed)
    return ClipContext.of(key, f"{key}.mp4", backbone, step, prior, visual)


def test_clip_feedback_round_trips(tmp_path: Path) -> None:
    ctx = context(0)
    labels = np.zeros(60, dtype=np.int8)
    labels[[3, 17, 40]] = [1, -1, 1]
    feedback = ctx.feedback(labels)
    save_feedback(feedback, tmp_path)
    back = load_feedback("k", tmp_path)
    assert back is not None
    assert back.header() == feedback.header()
    np.testing.assert_array_equal(back.dense_labels(), labels)
    np.testing.assert_array_equal(back.features, ctx.features[[3, 17, 40]])
    assert load_feedback("other", tmp_path) is None
    save_feedback(ctx.feedback(np.zeros(60, dtype=np.int8)), tmp_path)  # all undone
    assert load_feedback("k", tmp_path) is None


def test_unreadable_feedback_is_no_feedback(tmp_path: Path) -> None:
    (tmp_path / "k.npz").write_bytes(b"not a zip")
    assert load_feedback("k", tmp_path) is None


def test_profile_round_trips_and_describes_itself(tmp_path: Path) -> None:
    profile = profiles.new_profile("Wedding footage", "bb", 1.0, 16)
    for seed, key in enumerate(("a", "b")):
        ctx = context(seed, key)
        labels = np.zeros(60, dtype=np.int8)
        labels[[seed, 10 + seed]] = [1, -1]
        profile = profile.with_clip(ctx.feedback(labels))
    path = profiles.save_profile(profile)
    assert path.parent == profiles.profiles_dir()
    back = profiles.load_profile("Wedding footage")
    assert back.header() == profile.header()
    assert back.header()["decisions"] == 4 and back.header()["n_clips"] == 2
    assert profiles.list_profiles() == ["Wedding footage"]
    exported = profiles.export_profile("Wedding footage", tmp_path / "shared.hsprofile")
    imported = profiles.import_profile(exported, name="Copy")
    assert imported.header() | {"name": "Wedding footage"} == profile.header()
    with pytest.raises(FeedbackError, match="exists already"):
        profiles.import_profile(exported)
    assert profiles.reset_profile("Copy").decisions == 0
    assert profiles.load_profile("Wedding footage").decisions == 4
    with pytest.raises(FeedbackError, match="No profile named"):
        profiles.load_profile("Surf trip")
    with pytest.raises(FeedbackError, match="cannot name a profile"):
        profiles.new_profile("../escape", "bb", 1.0, 16)
    (tmp_path / "junk.hsprofile").write_bytes(b"junk")
    with pytest.raises(FeedbackError, match="Cannot read the profile"):
        profiles.read_profile(tmp_path / "junk.hsprofile")


def test_a_clips_decisions_never_change_another_profile() -> None:
    wedding = profiles.new_profile("Wedding", "bb", 1.0, 16)
    surf = profiles.new_profile("Surf", "bb", 1.0, 16)
    ctx = context(1, "s")
    surf_labels = np.zeros(60, dtype=np.int8)
    surf_labels[[0, 5]] = [1, -1]
    surf = surf.with_clip(ctx.feedback(surf_labels))
    profiles.save_profile(wedding)
    profiles.save_profile(surf)
    surf_bytes = profiles.profile_path("Surf").read_bytes()
    other = context(2, "w")
    labels = np.zeros(60, dtype=np.int8)
    labels[[1, 2, 30]] = [1, 1, -1]
    profiles.save_profile(profiles.load_profile("Wedding").with_clip(other.feedback(labels)))
    assert profiles.profile_path("Surf").read_bytes() == surf_bytes
    assert profiles.load_profile("Surf").header() == surf.header()
    assert profiles.load_profile("Wedding").decisions == 3


def test_profile_for_another_backbone_or_step_is_refused() -> None:
    profile = profiles.new_profile("Surf", "bb", 1.0, 16)
    labels = np.zeros(60, dtype=np.int8)
    labels[0] = 1
    for ctx in (context(0, backbone="other"), context(0, step=0.5)):
        with pytest.raises(FeedbackError, match="Pick a profile made with this model"):
            ctx.curve(labels, profile)
        with pytest.raises(FeedbackError):
            profile.with_clip(ctx.feedback(labels))


def test_learner_beats_the_prior_where_the_choice_is_known() -> None:
    gains, nn_gains = [], []
    for seed in range(8):
        visual, prior, keep = made_clip(seed)
        truth = VideoAnnotation("made", keep.astype(np.int8), None)
        feats = step_features(visual)
        result = review_clip(prior, feats, Oracle(keep), methods(1.0)["learner"], (5,))
        labels = result.labels[5]
        assert (labels != 0).sum() == 5
        gains.append(unreviewed_ap(truth, result.scores[5], labels)
                     - unreviewed_ap(truth, prior, labels))
        nn = review_clip(prior, feats, Oracle(keep), methods(1.0)["nearest"], (5,))
        nn_gains.append(unreviewed_ap(truth, nn.scores[5], nn.labels[5])
                        - unreviewed_ap(truth, prior, nn.labels[5]))
    assert np.mean(gains) > 0.1
    assert min(gains) >= 0  # never worse (a clip the prior already ranks right stays)
    assert np.mean(gains) > np.mean(nn_gains)


def test_no_decision_leaves_the_prior_ranking() -> None:
    visual, prior, keep = made_clip(3)
    feats = step_features(visual)
    none = np.zeros(len(prior), dtype=np.int8)
    ranked = np.argsort(-adapt(prior, feats, none), kind="stable")
    np.testing.assert_array_equal(ranked, np.argsort(-prior.astype(np.float64), kind="stable"))
    np.testing.assert_array_equal(nearest_neighbour(prior, feats, none), adapt(prior, feats, none))
    assert yth_ap(keep.astype(np.int8), adapt(prior, feats, none)) == yth_ap(keep, prior)


@pytest.mark.parametrize("kind", ["distinct", "ties", "signed zeros", "nan", "empty"])
def test_the_fast_rank_order_is_the_stable_one(kind: str) -> None:
    rng = np.random.default_rng(3)
    values = {"distinct": rng.normal(size=500), "ties": rng.integers(0, 7, 500) / 7.0,
              "signed zeros": np.where(rng.random(500) < 0.5, 0.0, -0.0),
              "nan": np.where(rng.random(500) < 0.1, np.nan, rng.normal(size=500)),
              "empty": np.zeros(0)}[kind]
    np.testing.assert_array_equal(stable_order(values), np.argsort(values, kind="stable"))
    prior = rng.random(len(values)).astype(np.float32)
    expected = np.empty(len(values), dtype=np.float32)
    expected[np.argsort(values, kind="stable")] = np.sort(prior)
    np.testing.assert_array_equal(like_prior(values, prior), expected)


def test_a_profile_carries_decisions_to_the_next_clip() -> None:
    """Clips made with the same goal and crowd directions: the profile of the first clips
    lifts the goals of a new clip before any decision on it."""
    rng = np.random.default_rng(7)
    goal, crowd = rng.normal(size=16) * 1.5, rng.normal(size=16) * 1.5
    profile = profiles.new_profile("Football", "bb", 1.0, 16)
    clips = []
    for seed in range(6):
        r = np.random.default_rng(seed)
        kind = np.repeat(r.integers(0, 3, 12), 5)
        visual = (r.normal(0.0, 0.6, (60, 16)) + np.where(kind[:, None] == 0, goal, 0)
                  + np.where(kind[:, None] == 1, crowd, 0)).astype(np.float32)
        prior = np.where(kind == 1, 1.0, 0.0) + r.normal(0.0, 0.3, 60)
        clips.append((ClipContext.of(f"c{seed}", "c.mp4", "bb", 1.0, prior, visual), kind == 0))
    for ctx, keep in clips[:5]:
        labels = np.where(keep, 1, -1).astype(np.int8)
        profile = profile.with_clip(ctx.feedback(labels))
    ctx, keep = clips[5]
    none = np.zeros(60, dtype=np.int8)
    assert yth_ap(keep, ctx.curve(none, profile)) > yth_ap(keep, ctx.prior) + 0.05


def poisoned_truths(seed: int) -> dict[str, VideoAnnotation]:
    truths = {}
    for i in range(14):
        _, _, keep = made_clip(seed * 100 + i)
        truths[f"v{i:02d}"] = VideoAnnotation("d" if i % 2 else "e", keep.astype(np.int8), None)
    return truths


def test_the_simulated_editor_reads_only_the_labels_it_showed() -> None:
    """Run once, note which steps were shown; give every other step a random label; the
    editor's decisions and the adapted curves must come out the same."""
    truths = poisoned_truths(0)
    clips = {vid: made_clip(i) for i, vid in enumerate(truths)}
    features = {vid: step_features(c[0]) for vid, c in clips.items()}
    priors = {vid: c[1] for vid, c in clips.items()}
    method = methods(1.0)["learner"]
    rng = np.random.default_rng(1)
    for vid, truth in truths.items():
        oracle = Oracle(editor_choice(truth))
        first = review_clip(priors[vid], features[vid], oracle, method, (0, 3, 10))
        assert len(oracle.shown) == 10
        poisoned = rng.random(len(truth.labels)) < 0.5
        shown = sorted(oracle.shown)
        poisoned[shown] = editor_choice(truth)[shown]
        again = review_clip(priors[vid], features[vid], Oracle(poisoned), method, (0, 3, 10))
        for n in (0, 3, 10):
            np.testing.assert_array_equal(again.scores[n], first.scores[n])
            np.testing.assert_array_equal(again.labels[n], first.labels[n])


def test_across_clips_scores_a_video_before_its_own_decisions(monkeypatch) -> None:
    """The opening curve of each video must not change when its own labels are poisoned."""
    truths = poisoned_truths(1)
    clips = {vid: made_clip(i) for i, vid in enumerate(truths)}
    features = {vid: step_features(c[0]) for vid, c in clips.items()}
    priors = {vid: c[1] for vid, c in clips.items()}
    opened: dict[str, list[np.ndarray]] = {}
    learner = methods(1.0)["learner"]

    def recording(prior, feats, labels, head):
        scores = learner(prior, feats, labels, head)
        if not (labels != 0).any():
            vid = next(v for v, f in features.items() if f is feats)
            opened.setdefault(vid, []).append(scores)
        return scores

    from highlight_studio.feedback.learner import fit_profile_head
    rows = across_clips(truths, priors, features, recording, "learner", (0, 3),
                        fit_profile_head, seed=0, after=2)
    assert [r.n for r in rows] == [0, 3] and rows[0].gain == 0.0
    first = {vid: list(s) for vid, s in opened.items()}
    for vid in truths:  # each video's own labels poisoned, one video at a time
        opened.clear()
        rng = np.random.default_rng(len(vid))
        own = VideoAnnotation(truths[vid].domain,
                              rng.integers(0, 2, len(truths[vid].labels)).astype(np.int8), None)
        poisoned = {**truths, vid: own}
        across_clips(poisoned, priors, features, recording, "learner", (0, 3),
                     fit_profile_head, seed=0, after=2)
        for a, b in zip(first[vid][:2], opened[vid][:2], strict=True):  # N = 0, N = 3 openings
            np.testing.assert_array_equal(a, b)


def test_within_clip_rows_sit_beside_the_prior_on_the_same_steps() -> None:
    truths = poisoned_truths(2)
    clips = {vid: made_clip(50 + i) for i, vid in enumerate(truths)}
    features = {vid: step_features(c[0]) for vid, c in clips.items()}
    priors = {vid: c[1] for vid, c in clips.items()}
    rows = within_clip(truths, priors, features, methods(1.0)["learner"], "learner", (0, 1, 5))
    assert rows[0].gain == 0.0
    assert rows[2].videos == 14


def test_evaluate_simulate_editor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    videos = {}
    for i in range(12):
        visual, _, keep = made_clip(200 + i)
        videos[f"v{i:02d}"] = {"domain": "made", "visual": visual,
                               "labels": keep.astype(int).tolist()}
    root = write_benchmark(tmp_path / "set", "yth", videos)
    out = tmp_path / "r.json"
    assert main(["evaluate", "--dataset", str(root), "--baseline", "feature-norm",
                 "--simulate-editor", "3", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "within   learner    3" in text and "within   nearest    3" in text
    import json
    rows = json.loads(out.read_text())["simulated_editor"]
    assert {(r["setting"], r["n"]) for r in rows} >= {("within", 3), ("across", 1)}
    assert main(["evaluate", "--dataset", str(root), "--baseline", "feature-norm",
                 "--simulate-editor", "-1"]) == 1


def test_cli_refuses_a_missing_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    assert main(["analyze", str(tmp_path / "clip.mp4"), "--profile", "Nope"]) == 1
    assert "No profile named 'Nope'" in capsys.readouterr().err


def test_apply_profile_bends_an_analysis_with_the_clips_saved_decisions(tmp_path: Path
                                                                        ) -> None:
    from highlight_studio import media
    from highlight_studio.commands.common import apply_profile, read_profile_arg
    from highlight_studio.feedback.adapt import clip_key
    from highlight_studio.scoring import Analysis

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"stand-in bytes: the key reads the file, the analysis is made here")
    visual, prior, keep = made_clip(4)
    info = media.MediaInfo.__new__(media.MediaInfo)  # not read: only path/step/scores are
    analysis = Analysis(clip, info, "m", "bb", 1.0, prior, "cpu", visual=visual)
    profile = profiles.new_profile("Made", "bb", 1.0, 16)
    profiles.save_profile(profile)
    same = apply_profile(analysis, read_profile_arg("Made"))
    assert same.model_name == "m + profile Made"
    assert yth_ap(keep, same.scores) == yth_ap(keep, prior)  # nothing decided: same ranking
    labels = np.zeros(60, dtype=np.int8)
    labels[np.flatnonzero(keep)[:3]] = 1
    labels[np.flatnonzero(~keep)[:3]] = -1
    key = clip_key(clip, "bb", 1.0)
    save_feedback(ClipContext.of(key, "clip.mp4", "bb", 1.0, prior, visual).feedback(labels))
    bent = apply_profile(analysis, read_profile_arg("Made"))
    assert yth_ap(keep, bent.scores) > yth_ap(keep, prior)
    assert apply_profile(analysis, None) is analysis
    assert read_profile_arg(None) is None
    with pytest.raises(FeedbackError, match="another"):
        apply_profile(dataclasses.replace(analysis, backbone_id="another"),
                      read_profile_arg("Made"))


def test_simulated_editor_on_the_tvsum_protocol() -> None:
    rng = np.random.default_rng(3)
    truths, priors, features = {}, {}, {}
    for i in range(12):
        visual, prior, keep = made_clip(300 + i)
        # 4 annotators who mostly agree with the editor's choice
        scores = np.clip(np.where(keep, 4, 2)[:, None] + rng.integers(-1, 2, (60, 4)), 1, 5)
        truths[f"t{i}"] = VideoAnnotation("made", None, scores.astype(np.float32))
        priors[f"t{i}"], features[f"t{i}"] = prior, step_features(visual)
    truth = truths["t0"]
    assert editor_choice(truth).sum() > 0
    rows = within_clip(truths, priors, features, methods(2.0)["learner"], "learner", (0, 5))
    assert rows[0].gain == 0.0 and 0.0 <= rows[1].adapted <= 1.0
    assert rows[1].gain > 0


def test_the_profile_head_ranks_within_clips_whatever_each_clip_is_offset_by() -> None:
    """Kept and rejected steps differ along one direction in every clip, but each clip sits
    elsewhere (light, place): the head finds the direction, and a clip's offset changes
    nothing, since only pairs inside a clip are compared."""
    from highlight_studio.feedback.learner import fit_profile_head

    rng = np.random.default_rng(3)
    direction = rng.normal(size=16)
    clips = []
    for _ in range(6):
        labels = np.array([1, 1, 1, -1, -1, -1])
        x = rng.normal(0.0, 0.3, (6, 16)) + np.outer(labels, direction)
        clips.append((x, labels))
    head = fit_profile_head(clips)
    assert head is not None
    moved = fit_profile_head([(x + rng.normal(0.0, 5.0, 16), y) for x, y in clips])
    assert moved is not None
    np.testing.assert_allclose(moved.weights, head.weights, rtol=1e-4, atol=1e-6)
    cosine = head.weights @ direction / np.linalg.norm(head.weights) / np.linalg.norm(direction)
    assert cosine > 0.9
    assert fit_profile_head([(x[:3], y[:3]) for x, y in clips]) is None  # kept steps only


def test_kernel_features_keep_the_svd_subspace() -> None:
    from highlight_studio.feedback.learner import kernel_features

    rng = np.random.default_rng(4)
    for n, d in ((300, 200), (150, 400)):  # the Gram of either side
        x = step_features(rng.normal(size=(n, d)).astype(np.float32)
                          + np.repeat(rng.normal(size=(6, d)), n // 6 + 1, 0)[:n])
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        exact = x @ vt[:64].T
        exact /= np.linalg.norm(exact, axis=1, keepdims=True)
        reduced = kernel_features(x)
        np.testing.assert_allclose(reduced @ reduced.T, exact @ exact.T, atol=1e-4)


def test_across_clips_reads_only_the_labels_it_showed(monkeypatch) -> None:
    """Every video's unshown labels poisoned at once: the profile grown from the earlier
    videos, and so every opening curve, must come out the same."""
    from highlight_studio.feedback import simulate
    from highlight_studio.feedback.learner import fit_profile_head

    truths = poisoned_truths(2)
    clips = {vid: made_clip(200 + i) for i, vid in enumerate(truths)}
    features = {vid: step_features(c[0]) for vid, c in clips.items()}
    priors = {vid: c[1] for vid, c in clips.items()}
    learner = methods(1.0)["learner"]
    shown: dict[bytes, set[int]] = {}  # by the video's choice, which differs per video

    class Recording(simulate.Oracle):
        def reveal(self, step: int) -> bool:
            shown.setdefault(self.keep.tobytes(), set()).add(int(step))
            return super().reveal(step)

    def openings() -> list[np.ndarray]:
        opened: list[np.ndarray] = []

        def recording(prior, feats, labels, head):
            scores = learner(prior, feats, labels, head)
            if not (labels != 0).any():
                opened.append(scores)
            return scores

        across_clips(current, priors, features, recording, "learner", (3, 5),
                     fit_profile_head, seed=1, after=2)
        return opened

    monkeypatch.setattr(simulate, "Oracle", Recording)
    current = truths
    first = openings()
    assert shown
    rng = np.random.default_rng(5)
    current = {}
    for vid, truth in truths.items():
        keep = editor_choice(truth)
        seen = sorted(shown[keep.tobytes()])
        poisoned = rng.integers(0, 2, len(keep)).astype(np.int8)
        poisoned[seen] = keep[seen]
        current[vid] = VideoAnnotation(truth.domain, poisoned, None)
    assert any((editor_choice(current[v]) != editor_choice(truths[v])).any() for v in truths)
    again = openings()
    assert len(again) == len(first)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
