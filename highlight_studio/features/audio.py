"""Audio features on the analysis grid: a log-mel spectrogram pooled to one vector per step.

RASL's audio branch needs a tensor of the same shape as the visual features, ``[N, D]``. As in
the paper (METHOD.md), each step's audio vector is average-pooled in time to the step grid and
then linearly resampled along its length to ``D``. The paper used Mockingjay embeddings; a
log-mel spectrogram is the documented alternative (its Table V shows mel targets lose little)
and needs no extra model.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import av
import numpy as np

from ..timegrid import step_at


@dataclass(frozen=True)
class AudioFeatureConfig:
    """Every choice behind the audio features; part of the feature cache key."""

    sample_rate: int = 16_000  # speech/music detail lives below 8 kHz; 3x less work than 48 kHz
    n_fft: int = 512  # 32 ms window: resolves pitch harmonics, short enough for onsets
    hop_length: int = 160  # 10 ms: 20 spectra per 0.2 s step, so pooling averages many frames
    n_mels: int = 64  # enough bands for the vector to carry timbre before it is stretched to D
    fmin: float = 0.0
    fmax: float = 8_000.0  # Nyquist at 16 kHz
    log_offset: float = 1e-6  # ln(power + offset): -13.8 is the floor a silent step sits at
    # No per-clip normalisation: the absolute level is kept so that a quiet clip is not blown up
    # to look like a loud one; the model normalises its inputs itself.

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def silence_level(config: AudioFeatureConfig = AudioFeatureConfig()) -> float:
    """The feature value of a step with no sound (or no audio at all)."""
    return float(np.log(config.log_offset))


def log_mel(samples: np.ndarray, config: AudioFeatureConfig = AudioFeatureConfig()
            ) -> np.ndarray:
    """Log-mel power spectrogram ``[frames, n_mels]`` of mono ``samples`` at the config's rate.

    Frame ``j`` is centred on sample ``j * hop_length``; there are ``1 + len // hop_length``.
    The values are librosa's ``melspectrogram(..., power=2, center=True, pad_mode="constant")``
    (tests/test_features.py checks it), computed here in numpy so that no numba JIT runs.
    """
    n_fft, hop = config.n_fft, config.hop_length
    half = n_fft // 2
    # Zeros beyond the ends: reflecting would invent sound.
    # float32 like the input (an hour at 16 kHz is 230 MB); each block is widened to float64.
    padded = np.pad(np.asarray(samples, dtype=np.float32).reshape(-1), (half, half))
    n_frames = 1 + (padded.size - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    weights = _mel_filterbank(config).T
    mel = np.empty((n_frames, config.n_mels), np.float64)
    block = 4096  # frames per FFT batch: bounds memory on hour-long clips
    for start in range(0, n_frames, block):
        spectrum = np.fft.rfft(frames[start:start + block].astype(np.float64) * window, axis=1)
        mel[start:start + block] = (spectrum.real ** 2 + spectrum.imag ** 2) @ weights
    return np.log(mel + config.log_offset).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _mel_filterbank(config: AudioFeatureConfig) -> np.ndarray:
    """librosa's default mel filters ``[n_mels, 1 + n_fft // 2]``: Slaney scale and area norm.

    Triangles between consecutive mel-spaced edges, each scaled to unit area in Hz so that a
    wide high band does not outweigh a narrow low one.
    """
    edges = _mel_to_hz(np.linspace(_hz_to_mel(config.fmin), _hz_to_mel(config.fmax),
                                   config.n_mels + 2))
    bins = np.fft.rfftfreq(config.n_fft, 1.0 / config.sample_rate)
    lo, centre, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lo) / (centre - lo)
    falling = (hi - bins) / (hi - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (hi - lo))
    weights.flags.writeable = False  # shared by every caller through the cache
    return weights


# The Slaney mel scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above.
_MEL_HZ_PER_MEL = 200.0 / 3
_MEL_BREAK_HZ = 1000.0
_MEL_BREAK = _MEL_BREAK_HZ / _MEL_HZ_PER_MEL
_MEL_LOG_STEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: float | np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    log_part = _MEL_BREAK + np.log(np.maximum(hz, _MEL_BREAK_HZ) / _MEL_BREAK_HZ) / _MEL_LOG_STEP
    return np.where(hz >= _MEL_BREAK_HZ, log_part, hz / _MEL_HZ_PER_MEL)


def _mel_to_hz(mel: float | np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    log_part = _MEL_BREAK_HZ * np.exp(_MEL_LOG_STEP * (np.maximum(mel, _MEL_BREAK) - _MEL_BREAK))
    return np.where(mel >= _MEL_BREAK, log_part, mel * _MEL_HZ_PER_MEL)


def resample_audio(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Mono float32 ``samples`` at ``target_rate``: exactly ``round(len * target / source)``.

    Uses FFmpeg's resampler, as decoding does (media.read_audio). The exact length keeps
    sample ``i`` at time ``i / target_rate`` on the video's clock.
    """
    samples = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
    expected = round(samples.size * target_rate / source_rate)
    # Silence past the end: the resampler's flush drops most of a very short input's tail,
    # and it needs a few dozen input samples (whatever the ratio) before it outputs any.
    pad = max(64, int(np.ceil(64 * source_rate / target_rate)))
    frame = av.AudioFrame.from_ndarray(np.pad(samples, (0, pad))[None, :], format="flt",
                                       layout="mono")
    frame.sample_rate = source_rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=target_rate)
    chunks = [*resampler.resample(frame), *resampler.resample(None)]  # None: flush the tail
    out = np.concatenate([c.to_ndarray()[0] for c in chunks] or [np.zeros(0, np.float32)])
    padded_expected = (samples.size + pad) * target_rate / source_rate
    if abs(out.size - padded_expected) > 4:
        raise RuntimeError(f"resampling {samples.size} samples from {source_rate} to "
                           f"{target_rate} Hz gave {out.size}, expected {padded_expected:.0f}")
    return out[:expected].astype(np.float32, copy=False)


def pool_to_steps(frames: np.ndarray, frame_times: np.ndarray, n_steps: int, step: float,
                  fill: float) -> np.ndarray:
    """Average the rows of ``frames`` whose time falls in ``[k*step, (k+1)*step)``, per step k.

    Steps that no frame reaches (audio shorter than the video) get ``fill``.
    """
    bins = step_at(np.asarray(frame_times, np.float64), step)
    keep = (bins >= 0) & (bins < n_steps)
    bins, frames = bins[keep], frames[keep]
    sums = np.zeros((n_steps, frames.shape[1]), np.float64)
    np.add.at(sums, bins, frames)
    counts = np.bincount(bins, minlength=n_steps)[:, None]
    pooled = np.full((n_steps, frames.shape[1]), fill, np.float64)
    np.divide(sums, counts, out=pooled, where=counts > 0)
    return pooled


def resample_length(vectors: np.ndarray, out_dim: int) -> np.ndarray:
    """Linearly resample each row to ``out_dim`` values, keeping both end points."""
    src = np.linspace(0.0, 1.0, vectors.shape[1])
    dst = np.linspace(0.0, 1.0, out_dim)
    idx = np.clip(np.searchsorted(src, dst, side="right") - 1, 0, vectors.shape[1] - 2)
    weight = (dst - src[idx]) / (src[idx + 1] - src[idx])
    return vectors[:, idx] * (1.0 - weight) + vectors[:, idx + 1] * weight


def audio_step_mels(
    samples: np.ndarray,
    sample_rate: int,
    n_steps: int,
    step: float,
    config: AudioFeatureConfig = AudioFeatureConfig(),
) -> np.ndarray:
    """The mean log-mel spectrum of each step: float32 ``[n_steps, n_mels]``.

    ``samples`` is mono float audio at ``sample_rate`` (resampled to the config's rate if they
    differ), with sample 0 at the video's first frame. Empty or very short audio is fine: steps
    it does not reach read as silence, and so do non-finite samples. This compact form is what
    the feature cache stores.
    """
    if n_steps < 0 or step <= 0:
        raise ValueError(f"bad grid: n_steps={n_steps}, step={step}")
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if not np.isfinite(samples).all():  # a damaged stream: one NaN would poison its window
        samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
    if sample_rate != config.sample_rate and samples.size:
        samples = resample_audio(samples, sample_rate, config.sample_rate)
    if samples.size == 0 or n_steps == 0:
        return np.full((n_steps, config.n_mels), silence_level(config), np.float32)
    # Samples past the last step are ignored anyway; cutting them first saves the work.
    samples = samples[: int(np.ceil(n_steps * step * config.sample_rate)) + config.n_fft]
    if samples.size < config.n_fft:  # a few samples: pad with silence to one full window
        samples = np.pad(samples, (0, config.n_fft - samples.size))
    spec = log_mel(samples, config)
    times = np.arange(len(spec)) * (config.hop_length / config.sample_rate)
    return pool_to_steps(spec, times, n_steps, step, silence_level(config)).astype(np.float32)


def stretch_to(mels: np.ndarray, out_dim: int) -> np.ndarray:
    """Step vectors ``[N, n_mels]`` linearly resampled to the visual width: ``[N, out_dim]``."""
    if out_dim < 2:
        raise ValueError(f"out_dim must be at least 2, got {out_dim}")
    return resample_length(mels, out_dim).astype(np.float32)


def audio_step_features(
    samples: np.ndarray,
    sample_rate: int,
    n_steps: int,
    step: float,
    out_dim: int,
    config: AudioFeatureConfig = AudioFeatureConfig(),
) -> np.ndarray:
    """One log-mel vector per step, stretched to ``out_dim``: float32 ``[n_steps, out_dim]``.

    See :func:`audio_step_mels` for what ``samples`` must be; the paper's audio branch input.
    """
    return stretch_to(audio_step_mels(samples, sample_rate, n_steps, step, config), out_dim)
