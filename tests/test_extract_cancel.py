"""Cancel reaches the backbone between slices of a batch, so a CPU job stops within a second."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from clipgen import ClipSpec, write_clip

from highlight_studio.events import Cancelled, CancelToken
from highlight_studio.features.extract import CPU_SLICE, extract_features
from highlight_studio.features.visual import create_backbone


def test_cancel_between_slices_of_one_batch(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", ClipSpec(n_frames=48, width=160, height=120,
                                                   audio_hz=None))
    backbone = create_backbone("test_tiny", device="cpu")
    token = CancelToken()
    calls: list[int] = []
    embed = backbone.embed

    def embed_then_cancel(frames: np.ndarray) -> np.ndarray:
        calls.append(len(frames))
        token.cancel()  # the user presses Cancel while the first slice is embedded
        return embed(frames)

    backbone.embed = embed_then_cancel  # type: ignore[method-assign]
    # 2 s at 0.05 s steps: 40 steps, so the first batch holds 32 frames = 4 slices
    with pytest.raises(Cancelled):
        for _ in extract_features(clip, backbone, step=0.05, with_audio=False, cancel=token,
                                  batch_size=32):
            pass
    assert calls == [CPU_SLICE]
