"""Audio features on the analysis grid: a log-mel spectrogram pooled to one vector per step.

RASL's audio branch needs a tensor of the same shape as the visual features, ``[N, D]``. As in
the paper (METHOD.md), each step's audio vector is average-pooled in time to the step grid and
then linearly resampled along its length to ``D``. The paper used Mockingjay embeddings; a
log-mel spectrogram is the documented alternative (its Table V shows mel targets lose little)
and needs no extra model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import librosa
import numpy as np


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

    Frame ``j`` is centred on sample ``j * hop_length``.
    """
    mel = librosa.feature.melspectrogram(
        y=np.ascontiguousarray(samples, dtype=np.float32),
        sr=config.sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
        power=2.0,
        center=True,
        pad_mode="constant",  # zeros beyond the ends: reflecting would invent sound
    )
    return np.log(mel.T + config.log_offset).astype(np.float32)


def pool_to_steps(frames: np.ndarray, frame_times: np.ndarray, n_steps: int, step: float,
                  fill: float) -> np.ndarray:
    """Average the rows of ``frames`` whose time falls in ``[k*step, (k+1)*step)``, per step k.

    Steps that no frame reaches (audio shorter than the video) get ``fill``.
    """
    bins = np.floor(frame_times / step).astype(np.int64)
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
    it does not reach read as silence. This compact form is what the feature cache stores.
    """
    if n_steps < 0 or step <= 0:
        raise ValueError(f"bad grid: n_steps={n_steps}, step={step}")
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if sample_rate != config.sample_rate and samples.size:
        samples = librosa.resample(samples, orig_sr=sample_rate, target_sr=config.sample_rate)
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
