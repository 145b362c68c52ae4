"""The motion stream on clips made here: still, panning, a moving square, a single frame; its
frame pairs, its cache entries, and a model that reads it."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from clipgen import ClipSpec, read_frame_index, write_clip

from highlight_studio.cli import main
from highlight_studio.errors import FeatureError, ModelError
from highlight_studio.features import cache as cache_module
from highlight_studio.features.cache import FeatureCache, cache_key
from highlight_studio.features.extract import ClipFeatures, extract_features
from highlight_studio.features.motion import (
    DEFAULT_MOTION,
    N_GLOBAL,
    N_SUBJECT_STATS,
    NO_MOTION_NOTE,
    MotionConfig,
    MotionStream,
    frame_size,
    with_motion,
)
from highlight_studio.features.visual import Backbone, create_backbone
from highlight_studio.media import iter_frames, probe, step_count
from highlight_studio.model.checkpoint import save_checkpoint
from highlight_studio.model.config import RASLConfig
from highlight_studio.model.description import CheckpointMeta
from highlight_studio.model.rasl import RASL
from highlight_studio.scoring import Analysis, analyze, model_features, motion_input

FPS = 24
WIDTH, HEIGHT = 320, 180  # the flow runs at 160 x 90
STEP = 0.2
SHIFT = 4  # pixels per frame at WIDTH: 2 px at the flow's 160 px
SPEED = SHIFT / WIDTH * FPS  # frame widths per second
HIST = N_GLOBAL + N_SUBJECT_STATS  # first histogram column
GRID, BINS = DEFAULT_MOTION.grid, DEFAULT_MOTION.bins


def texture(height: int, width: int, seed: int) -> np.ndarray:
    """Grey noise blurred to blobs a few pixels wide: trackable everywhere, as RGB."""
    noise = np.random.default_rng(seed).random((height, width)).astype(np.float32)
    grey = cv2.GaussianBlur(noise, (0, 0), 2.0)
    grey = (grey - grey.min()) / (grey.max() - grey.min()) * 255
    return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)


def write_frames(path: Path, frames: list[np.ndarray]) -> Path:
    """An H.264 clip of ``frames`` (RGB) at FPS, nearly lossless."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "10"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, "rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def square_x(frame: int) -> int:
    return 16 + SHIFT * frame


SQUARE_Y, SQUARE = 56, 40  # 40 px wide, in grid rows 1-2 (45-90, 90-135 of 180)
BLUR = 8  # pixels: flow patches reach this far past a moving edge


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("motion")
    n = FPS  # 1 s: 5 steps
    still = texture(HEIGHT, WIDTH, 0)
    wide = texture(HEIGHT, WIDTH + SHIFT * (n + 1), 1)
    background, square = texture(HEIGHT, WIDTH, 2), 255 - texture(SQUARE, SQUARE, 3)
    moving = []
    for i in range(n):
        image = background.copy()
        image[SQUARE_Y:SQUARE_Y + SQUARE, square_x(i):square_x(i) + SQUARE] = square
        moving.append(image)
    return {
        "still": write_frames(folder / "still.mp4", [still] * n),
        # The camera pans right: the picture moves left by SHIFT px a frame.
        "pan": write_frames(folder / "pan.mp4",
                            [wide[:, SHIFT * i:SHIFT * i + WIDTH].copy() for i in range(n)]),
        "square": write_frames(folder / "square.mp4", moving),
        "single": write_frames(folder / "single.mp4", [still]),
    }


def clip_motion(path: Path, config: MotionConfig = DEFAULT_MOTION) -> np.ndarray | None:
    """The clip's motion stream at STEP, as extraction computes it (without a backbone)."""
    info = probe(path)
    stream = MotionStream(step_count(info.duration, STEP), config)
    for frame in iter_frames(path, STEP, (32, 32), pair_size=frame_size(info, config)):
        stream.add(frame)
    return stream.result()


def histograms(rows: np.ndarray) -> np.ndarray:
    """[N, grid, grid, bins] subject histograms of a motion stream."""
    return rows[:, HIST:].reshape(len(rows), GRID, GRID, BINS)


# --- the descriptor --------------------------------------------------------------------------


def test_config_describes_itself_and_refuses_unknown_settings() -> None:
    assert DEFAULT_MOTION.dim == 8 + 4 * 4 * 8 == 136
    assert MotionConfig.from_dict(json.loads(json.dumps(DEFAULT_MOTION.as_dict()))) \
        == DEFAULT_MOTION
    assert MotionConfig(grid=2, bins=4).dim == 8 + 2 * 2 * 4
    with pytest.raises(FeatureError, match="does not know: sparkle"):
        MotionConfig.from_dict({**DEFAULT_MOTION.as_dict(), "sparkle": 1})
    with pytest.raises(FeatureError, match="preset"):
        MotionConfig(preset="warp")


def test_flow_frames_keep_the_display_aspect(clips: dict[str, Path]) -> None:
    assert frame_size(probe(clips["still"]), DEFAULT_MOTION) == (160, 90)
    assert frame_size(probe(clips["still"]), MotionConfig(width=64)) == (64, 36)


def test_a_still_clip_has_no_motion(clips: dict[str, Path]) -> None:
    rows = clip_motion(clips["still"])
    assert rows is not None and rows.shape == (5, DEFAULT_MOTION.dim)
    assert np.abs(rows).max() < 1e-3  # neither the camera's nor a subject's


def test_a_fade_is_not_motion(tmp_path: Path) -> None:
    # The picture dims to a quarter of its brightness over a second, nothing moves: DIS
    # normalises each patch's mean, so the change of light is no flow.
    still = texture(HEIGHT, WIDTH, 0).astype(np.float32)
    frames = [(still * (1 - 0.75 * i / (FPS - 1))).astype(np.uint8) for i in range(FPS)]
    rows = clip_motion(write_frames(tmp_path / "fade.mp4", frames))
    assert rows is not None and rows.shape == (5, DEFAULT_MOTION.dim)
    assert np.abs(rows).max() < 1e-3


def test_a_panning_clip_has_global_motion_and_no_subject_motion(clips: dict[str, Path]
                                                                 ) -> None:
    rows = clip_motion(clips["pan"])
    assert rows is not None
    shift_x, shift_y, zoom, roll, speed = rows[:, :N_GLOBAL].T
    np.testing.assert_allclose(shift_x, -SPEED, rtol=0.1)  # the picture moves left
    assert np.abs(shift_y).max() < 0.05 * SPEED
    assert np.abs(zoom).max() < 0.05 and np.abs(roll).max() < 0.05
    np.testing.assert_allclose(speed, np.abs(shift_x), rtol=1e-3)
    # What the camera explains is not counted again as a subject's motion.
    assert rows[:, N_GLOBAL].max() < 0.05 * SPEED  # mean subject speed
    assert histograms(rows).sum(axis=3).max() < 0.1 * SPEED  # in any cell


def test_a_moving_square_moves_only_where_it_is(clips: dict[str, Path]) -> None:
    rows = clip_motion(clips["square"])
    assert rows is not None
    assert np.abs(rows[:, :N_GLOBAL]).max() < 0.05 * SPEED  # the camera stands still
    cell_w, cell_h = WIDTH / GRID, HEIGHT / GRID
    hist = histograms(rows)
    for k, step_hist in enumerate(hist):
        frame = int(np.floor(k * STEP * FPS + 1e-9))  # on screen at k * STEP
        # Where it is and goes, and the few pixels around that the flow blurs into.
        x0, x1 = square_x(frame) - BLUR, square_x(frame + 1) + SQUARE + BLUR
        y0, y1 = SQUARE_Y - BLUR, SQUARE_Y + SQUARE + BLUR
        cols = range(int(max(x0, 0) // cell_w), int((x1 - 1) // cell_w) + 1)
        rows_ = range(int(y0 // cell_h), int((y1 - 1) // cell_h) + 1)
        inside = np.zeros((GRID, GRID), bool)
        inside[np.ix_(list(rows_), list(cols))] = True
        energy = step_hist.sum(axis=2)
        assert energy[~inside].max() < 0.02 * SPEED, (k, energy)
        # A third of a cell moves right: the strongest cell holds about a third of the speed,
        # nearly all of it in bin 0 (towards +x).
        assert energy[inside].max() > 0.15 * SPEED, (k, energy)
        right = step_hist[inside][:, 0].sum()
        assert right > 0.7 * energy[inside].sum(), (k, step_hist[inside])
    assert (rows[:, N_GLOBAL + 2] > 0).all()  # some pixels move at every step


def test_a_faster_subject_has_more_motion_than_a_slower_one(clips: dict[str, Path],
                                                            tmp_path: Path) -> None:
    background, square = texture(HEIGHT, WIDTH, 2), 255 - texture(SQUARE, SQUARE, 3)
    frames = []
    for i in range(FPS):
        image = background.copy()
        x = 16 + 2 * SHIFT * i
        image[SQUARE_Y:SQUARE_Y + SQUARE, x:x + SQUARE] = square
        frames.append(image)
    fast = clip_motion(write_frames(tmp_path / "fast.mp4", frames))
    slow = clip_motion(clips["square"])
    assert fast is not None and slow is not None
    ratio = fast[:, N_GLOBAL].mean() / slow[:, N_GLOBAL].mean()
    assert 1.5 < ratio < 3.0  # mean subject speed: twice as fast (and a bit more smear)


# --- frame pairs -----------------------------------------------------------------------------


def test_each_step_pairs_its_frame_with_the_next_decoded_one(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "bars.mp4", ClipSpec(n_frames=24, audio_hz=None))
    frames = list(iter_frames(path, 1 / 48, (32, 32), pair_size=(160, 120)))
    assert len(frames) == 48  # two steps per frame: both share the frame's pair

    def index(grey: np.ndarray) -> int:
        return read_frame_index(np.repeat(grey[..., None], 3, axis=2))

    for frame in frames:
        shown = frame.index // 2
        assert frame.pair is not None and frame.pair.first.shape == (120, 160)
        first, second = index(frame.pair.first), index(frame.pair.second)
        if shown < 23:
            assert (first, second) == (shown, shown + 1)
        else:  # the last frame has no next one: it pairs with the one before
            assert (first, second) == (22, 23)
        assert frame.pair.interval == pytest.approx(1 / 24)
    assert frames[0].pair is frames[1].pair
    assert all(f.pair is None for f in iter_frames(path, 0.2, (32, 32)))  # not asked


def test_a_single_frame_clip_has_no_pair(clips: dict[str, Path]) -> None:
    frames = list(iter_frames(clips["single"], STEP, (32, 32), pair_size=(160, 90)))
    assert len(frames) == 1 and frames[0].pair is None
    assert clip_motion(clips["single"]) is None


# --- extraction and the cache ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny() -> Backbone:
    return create_backbone("test_tiny", device="cpu")


def extract(path: Path, backbone: Backbone, **kwargs: object) -> tuple[bool, ClipFeatures]:
    """(whether it came from the cache, the features); with the default motion unless told."""
    kwargs.setdefault("motion", DEFAULT_MOTION)
    events = list(extract_features(path, backbone, STEP, with_audio=False, **kwargs))
    result = events[-1]
    assert isinstance(result, ClipFeatures)
    return any(getattr(e, "message", None) == "from cache" for e in events), result


def test_extraction_returns_the_motion_stream(clips: dict[str, Path], tiny: Backbone) -> None:
    _, feats = extract(clips["square"], tiny)
    expected = clip_motion(clips["square"])
    assert feats.motion is not None and feats.motion_note is None
    np.testing.assert_array_equal(feats.motion, expected)
    _, without = extract(clips["square"], tiny, motion=None)
    assert without.motion is None and without.motion_note is None
    *_, plain = extract_features(clips["square"], tiny, STEP, with_audio=False)
    assert isinstance(plain, ClipFeatures) and plain.motion is None  # only when asked
    np.testing.assert_array_equal(without.visual, feats.visual)


def test_a_single_frame_clip_gets_features_and_a_note(clips: dict[str, Path],
                                                      tiny: Backbone) -> None:
    _, feats = extract(clips["single"], tiny)
    assert feats.visual.shape == (1, tiny.dim)
    assert feats.motion is None and feats.motion_note == NO_MOTION_NOTE


def test_motion_is_cached_with_the_frame_features(clips: dict[str, Path], tiny: Backbone,
                                                  tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path / "cache")
    first = extract(clips["pan"], tiny, cache=cache)
    second = extract(clips["pan"], tiny, cache=cache)
    assert not first[0] and second[0]
    assert second[1].motion is not None
    np.testing.assert_array_equal(second[1].motion, first[1].motion)
    entry = cache.get(cache_key(clips["pan"], tiny.id, STEP))
    assert entry is not None and entry.motion_settings == DEFAULT_MOTION.as_dict()
    assert entry.header["version"] == cache_module.FORMAT_VERSION == 2
    assert entry.header["motion_dim"] == DEFAULT_MOTION.dim
    # Without motion asked, the same entry serves; with other settings it is recomputed.
    assert extract(clips["pan"], tiny, cache=cache, motion=None)[0]
    other = MotionConfig(grid=2)
    from_cache, redone = extract(clips["pan"], tiny, cache=cache, motion=other)
    assert not from_cache and redone.motion is not None
    assert redone.motion.shape == (5, other.dim)


def test_a_clip_without_motion_is_cached_as_such(clips: dict[str, Path], tiny: Backbone,
                                                 tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path / "cache")
    extract(clips["single"], tiny, cache=cache)
    from_cache, feats = extract(clips["single"], tiny, cache=cache)
    assert from_cache and feats.motion is None and feats.motion_note == NO_MOTION_NOTE


def test_an_entry_from_before_motion_is_recomputed_not_misread(clips: dict[str, Path],
                                                               tiny: Backbone,
                                                               tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path / "cache")
    key = cache_key(clips["pan"], tiny.id, STEP)
    _, fresh = extract(clips["pan"], tiny)
    # A version-1 entry as the previous release wrote it: no motion, no motion fields.
    header = {"format": cache_module.FORMAT, "version": 1, "key": key.digest,
              "backbone_id": tiny.id, "dim": tiny.dim, "step": STEP, "n_steps": 5,
              "audio": None, "audio_dim": None, "source": key.source.__dict__}
    cache.root.mkdir(parents=True)
    np.savez(cache.path_for(key), visual=fresh.visual, header=np.array(json.dumps(header)))
    old = cache.get(key)
    assert old is not None and old.motion is None and old.motion_settings is None
    assert extract(clips["pan"], tiny, cache=cache, motion=None)[0]  # its visual still serves
    from_cache, upgraded = extract(clips["pan"], tiny, cache=cache)
    assert not from_cache and upgraded.motion is not None and upgraded.motion_note is None
    entry = cache.get(key)
    assert entry is not None and entry.header["version"] == 2 and entry.motion is not None


def test_a_motion_array_the_header_does_not_describe_is_a_miss(clips: dict[str, Path],
                                                               tiny: Backbone,
                                                               tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path / "cache")
    key = cache_key(clips["pan"], tiny.id, STEP)
    visual = np.zeros((5, tiny.dim), np.float32)
    with pytest.raises(ValueError, match="settings"):
        cache.put(key, visual, None, np.zeros((5, 8), np.float32))
    cache.put(key, visual, None, np.full((5, 8), np.nan, np.float32), {"width": 1})
    assert cache.get(key) is None
    cache.put(key, visual, None, np.zeros((5, 8), np.float32), {"width": 1})
    assert cache.get(key) is not None


# --- a model that reads motion ---------------------------------------------------------------


def motion_checkpoint(path: Path, visual_dim: int) -> Path:
    torch.manual_seed(0)
    config = RASLConfig(visual_dim=visual_dim, audio_dim=64, window=8, k=2,
                        visual_inputs="visual+motion")
    meta = CheckpointMeta(config=config, backbone_id="test_tiny:seed0", step_seconds=STEP,
                          motion=DEFAULT_MOTION.as_dict())
    return save_checkpoint(path, RASL(config), meta)


def run(path: Path, checkpoint: Path) -> Analysis:
    events = list(analyze(path, checkpoint=checkpoint, device="cpu", use_cache=False))
    assert isinstance(events[-1], Analysis)
    return events[-1]


def test_model_features_put_motion_beside_the_visual_features(clips: dict[str, Path],
                                                              tiny: Backbone) -> None:
    _, feats = extract(clips["square"], tiny)
    assert model_features(feats, None) is feats.visual
    both = model_features(feats, DEFAULT_MOTION)
    assert both.shape == (5, tiny.dim + DEFAULT_MOTION.dim) and both.dtype == np.float32
    np.testing.assert_array_equal(both[:, :tiny.dim], feats.visual)
    np.testing.assert_array_equal(both[:, tiny.dim:], feats.motion)
    _, single = extract(clips["single"], tiny)
    assert not model_features(single, DEFAULT_MOTION)[:, tiny.dim:].any()  # zeros stand in
    with pytest.raises(FeatureError, match="motion stream"):
        with_motion(feats.visual, feats.motion, MotionConfig(grid=2))


def test_which_models_read_motion(tmp_path: Path) -> None:
    plain = CheckpointMeta(RASLConfig(visual_dim=256, window=8, k=2), "test_tiny:seed0", STEP)
    assert motion_input(plain) is None
    reads = CheckpointMeta(RASLConfig(visual_dim=392, window=8, k=2,
                                      visual_inputs="visual+motion"), "test_tiny:seed0", STEP)
    assert motion_input(reads) == DEFAULT_MOTION  # no settings recorded: the defaults
    with pytest.raises(ModelError, match="visual_inputs"):
        RASLConfig(visual_inputs="motion")
    assert RASLConfig.from_dict({"visual_dim": 256}).visual_inputs == "visual"  # older files


def test_a_motion_model_analyses_a_clip(clips: dict[str, Path], tmp_path: Path) -> None:
    ckpt = motion_checkpoint(tmp_path / "moving", 256 + DEFAULT_MOTION.dim)
    result = run(clips["square"], ckpt)
    assert result.scores.shape == (5,) and result.notes == ()
    assert result.scores.min() == 0.0 and result.scores.max() == 1.0


def test_a_single_frame_clip_still_gets_a_curve_and_a_note(clips: dict[str, Path],
                                                           tmp_path: Path, capsys) -> None:
    ckpt = motion_checkpoint(tmp_path / "moving", 256 + DEFAULT_MOTION.dim)
    result = run(clips["single"], ckpt)
    assert result.scores.shape == (1,) and np.isfinite(result.scores).all()
    assert result.notes == (NO_MOTION_NOTE,)
    out = tmp_path / "single.json"
    assert main(["analyze", str(clips["single"]), "--checkpoint", str(ckpt), "--device", "cpu",
                 "--no-cache", "--json", str(out)]) == 0
    assert f"note: {NO_MOTION_NOTE}" in capsys.readouterr().out
    assert json.loads(out.read_text())["notes"] == [NO_MOTION_NOTE]


def test_the_shipped_default_reads_motion_and_scores_a_single_frame_from_its_picture(
        clips: dict[str, Path]) -> None:
    """The app's own model, as analysis runs it: a moving clip gets a curve from its frames and
    motion with no note; a clip of one frame (no motion) still gets its curve, and the note."""
    moving = list(analyze(clips["square"], device="cpu", use_cache=False))[-1]
    assert isinstance(moving, Analysis) and moving.model_name == "default"
    assert moving.notes == () and np.ptp(moving.scores) > 0
    single = list(analyze(clips["single"], device="cpu", use_cache=False))[-1]
    assert isinstance(single, Analysis)
    assert single.scores.shape == (1,) and np.isfinite(single.scores).all()
    assert single.notes == (NO_MOTION_NOTE,)


def test_a_model_for_other_motion_settings_is_refused(clips: dict[str, Path],
                                                      tmp_path: Path) -> None:
    ckpt = motion_checkpoint(tmp_path / "narrow", 256)  # as wide as the frames' features alone
    with pytest.raises(ModelError, match="expects 256-wide"):
        run(clips["square"], ckpt)


def test_a_visual_model_reads_no_motion_and_gets_no_note(clips: dict[str, Path],
                                                         tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = RASLConfig(visual_dim=256, audio_dim=64, window=8, k=2)
    ckpt = save_checkpoint(tmp_path / "plain", RASL(config),
                           CheckpointMeta(config, "test_tiny:seed0", STEP))
    result = run(clips["single"], ckpt)
    assert result.scores.shape == (1,) and result.notes == ()


def test_fraction_fps_clips_pair_at_their_own_interval(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "ntsc.mp4", ClipSpec(n_frames=12, fps=Fraction(30000, 1001),
                                                      audio_hz=None))
    frames = list(iter_frames(path, STEP, (32, 32), pair_size=(64, 48)))
    assert all(f.pair is not None and f.pair.interval == pytest.approx(1001 / 30000, rel=1e-3)
               for f in frames)


def test_pairs_of_a_rotated_clip_are_upright(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "phone.mp4", ClipSpec(n_frames=12, width=160, height=240,
                                                      rotation=90, audio_hz=None))
    info = probe(path)
    size = frame_size(info, MotionConfig(width=80))
    assert size == (80, 120)
    frames = list(iter_frames(path, STEP, (32, 32), pair_size=size))
    for frame in frames:
        assert frame.pair is not None and frame.pair.first.shape == (120, 80)
        upright = np.repeat(frame.pair.first[..., None], 3, axis=2)
        assert read_frame_index(upright) == int(np.floor(frame.time * FPS + 1e-9))
