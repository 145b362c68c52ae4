"""Sampling leaves unreferenced pictures shown at no step undecoded, with the same frames at
every step as decoding everything."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from clipgen import ClipSpec, read_frame_index, write_clip

from highlight_studio import media


def _sample(path: Path, step: float, skip: bool, monkeypatch: pytest.MonkeyPatch
            ) -> tuple[list[int], np.ndarray, int]:
    """Frame indices and images per step, and how many packets were left undecoded."""
    monkeypatch.setattr(media, "SKIP_UNSEEN", skip)
    skipped = []
    make = media._unseen_filter

    def counting(info: media.MediaInfo, stream: object):  # type: ignore[no-untyped-def]
        unseen = make(info, stream)  # type: ignore[arg-type]
        if unseen is None:
            return None
        return lambda *args: skipped.append(1) or True if unseen(*args) else False

    monkeypatch.setattr(media, "_unseen_filter", counting)
    frames = list(media.iter_frames(path, step))
    images = np.stack([f.image for f in frames])
    return [read_frame_index(f.image) for f in frames], images, len(skipped)


@pytest.mark.parametrize(("fps", "b_frames", "step"), [
    (Fraction(24), 1, 0.2), (Fraction(30000, 1001), 2, 0.25), (Fraction(25), 3, 0.2),
    (Fraction(60), 2, 0.5),
])
def test_skipping_unseen_pictures_keeps_every_step(tmp_path: Path, fps: Fraction, b_frames: int,
                                                   step: float,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    clip = write_clip(tmp_path / "b.mp4", ClipSpec(n_frames=90, fps=fps, width=160, height=96,
                                                   b_frames=b_frames, gop=30))
    fast_index, fast, skipped = _sample(clip, step, True, monkeypatch)
    full_index, full, none = _sample(clip, step, False, monkeypatch)
    assert none == 0 and skipped > 0  # the test clip has pictures to leave out
    assert fast_index == full_index
    np.testing.assert_array_equal(fast, full)
    # Each step shows the frame on screen at its start.
    assert fast_index == [min(89, int(k * step * fps + 1e-6)) for k in range(len(fast_index))]


def test_no_skipping_without_b_frames_or_for_other_codecs(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    plain = write_clip(tmp_path / "p.mp4", ClipSpec(n_frames=48, width=160, height=96))
    assert _sample(plain, 0.2, True, monkeypatch)[2] == 0  # every picture is a reference
    png = write_clip(tmp_path / "p.mov", ClipSpec(n_frames=24, width=64, height=48, codec="png",
                                                  pix_fmt="rgb24", container="mov"))
    info = media.probe(png)
    with media._open(png) as container:
        assert media._unseen_filter(info, media.video_stream(container)) is None


def test_hardware_decoding_gives_the_same_frames_or_says_why_not(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clip = write_clip(tmp_path / "c.mp4", ClipSpec(n_frames=48, width=160, height=96,
                                                   b_frames=2))
    with caplog.at_level(logging.WARNING, logger="highlight_studio.media"):
        hw = [f.image for f in media.iter_frames(clip, 0.25, hwaccel="cuda")]
    sw = [f.image for f in media.iter_frames(clip, 0.25)]
    np.testing.assert_array_equal(np.stack(hw), np.stack(sw))  # H.264 decodes bit-exactly
    fell_back = [r.getMessage() for r in caplog.records if "decoded on the CPU" in r.getMessage()]
    assert not fell_back or "c.mp4" in fell_back[0]


def test_one_decoding_thread_gives_the_same_frames(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The analysis decodes on one FFmpeg thread beside the model on two cores
    (extract.decoder_threads): every step shows the same frame, pixel for pixel, and the
    codec really ran on the thread count asked for."""
    clip = write_clip(tmp_path / "t.mp4", ClipSpec(n_frames=90, width=160, height=96,
                                                   b_frames=2, gop=30))
    streams: list[object] = []
    real = media.video_stream

    def recording(container):  # type: ignore[no-untyped-def]
        stream = real(container)
        streams.append(stream)
        return stream

    monkeypatch.setattr(media, "video_stream", recording)
    one = list(media.iter_frames(clip, 0.2, (64, 48), threads=1))
    assert streams[-1].codec_context.thread_count == 1  # type: ignore[attr-defined]
    default = list(media.iter_frames(clip, 0.2, (64, 48)))
    assert streams[-1].codec_context.thread_count != 1  # type: ignore[attr-defined]
    assert [read_frame_index(f.image) for f in one] == \
        [read_frame_index(f.image) for f in default]
    np.testing.assert_array_equal(np.stack([f.image for f in one]),
                                  np.stack([f.image for f in default]))
    with pytest.raises(ValueError, match="threads"):
        media.iter_frames(clip, 0.2, threads=0)


def test_decoder_threads_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    from highlight_studio.features import extract

    monkeypatch.setattr(extract, "_cores", lambda: 2)
    assert extract.decoder_threads(True) == 1  # beside a model it shares the work of
    assert extract.decoder_threads(False) is None  # a torch or GPU model: FFmpeg's choice
    monkeypatch.setattr(extract, "_cores", lambda: 8)
    assert extract.decoder_threads(True) is None
