"""Probing and decoding clips with PyAV.

CONTRACT (filled in by the media work): the dataclasses below are the shared vocabulary; the
functions' signatures are fixed, their bodies are the media module's job.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .events import CancelToken


@dataclass(frozen=True)
class MediaInfo:
    """What a clip is, read once from its container and streams."""

    path: Path
    duration: float  # seconds of video, from the first frame's presentation time
    avg_fps: Fraction  # average frame rate (frames / duration); what VFR footage averages to
    real_fps: Fraction  # the stream's real base rate (r_frame_rate): the editing rate for timecode
    frame_count: int  # exact when the container says so, else estimated from duration * avg_fps
    width: int  # display width after rotation
    height: int  # display height after rotation
    rotation: int  # degrees clockwise the picture must be turned for display (0, 90, 180, 270)
    has_audio: bool
    audio_rate: int | None  # sample rate of the first audio stream
    audio_channels: int | None
    start_timecode: str | None  # embedded SMPTE start timecode ("01:00:00:00"), if any
    start_time: float  # presentation time of the first video frame (seconds, container clock)
    video_codec: str
    is_vfr: bool  # frame intervals vary by more than a small tolerance


@dataclass(frozen=True)
class SampledFrame:
    """One frame picked for a step of the analysis grid."""

    index: int  # step index k: the frame shown at time k * step
    time: float  # k * step, seconds from the first frame
    pts_time: float  # the presentation time of the decoded frame actually used
    image: np.ndarray  # RGB uint8 [H, W, 3], upright (rotation applied)


def probe(path: str | Path) -> MediaInfo:
    raise NotImplementedError


def iter_frames(
    path: str | Path,
    step: float = 0.2,
    size: tuple[int, int] | None = None,
    cancel: CancelToken | None = None,
) -> Iterator[SampledFrame]:
    raise NotImplementedError


def read_audio(path: str | Path, sample_rate: int, cancel: CancelToken | None = None
               ) -> np.ndarray | None:
    raise NotImplementedError
