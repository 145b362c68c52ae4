"""The window through the real scoring.analyze: a tiny checkpoint on the test backbone."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from highlight_studio.model.checkpoint import save_checkpoint
from highlight_studio.model.config import RASLConfig
from highlight_studio.model.description import CheckpointMeta
from highlight_studio.model.rasl import RASL
from highlight_studio.scoring import analyze

from .test_window import open_and_wait


def test_real_analysis_fills_the_curve_and_reopens_from_the_caches(qtbot, make_window, clip,
                                                                  tmp_path) -> None:
    torch.manual_seed(0)
    config = RASLConfig(visual_dim=256, audio_dim=64, window=8, k=2)
    meta = CheckpointMeta(config=config, backbone_id="test_tiny:seed0", step_seconds=0.25)
    ckpt = save_checkpoint(tmp_path / "tiny", RASL(config), meta)
    stages: list[str] = []

    def recording_analyze(*args, **kwargs):
        for event in analyze(*args, **kwargs):
            stages.append(getattr(event, "message", "") or getattr(event, "stage", ""))
            yield event

    window = make_window(recording_analyze, keep_curves=True)
    window._select_model(str(ckpt))
    open_and_wait(qtbot, window, clip)
    assert window.analysis is not None, window.error_box and window.error_box.text()
    n = math.ceil(window.analysis.info.duration / 0.25)
    _, y = window.curve.curve.getOriginalDataset()
    assert len(y) == n and window.analysis.model_name == "tiny"
    assert window.analysis.device.upper() in window.device_label.text()
    first = window.analysis.scores.copy()
    assert "from cache" not in stages

    stages.clear()
    open_and_wait(qtbot, window, clip)  # the same clip again: the kept curve, no model at all
    assert stages == []
    np.testing.assert_array_equal(window.analysis.scores, first)
    assert window.analysis.info.duration == pytest.approx(3.0)

    with qtbot.waitSignal(window.jobEnded, timeout=20_000):
        window.analyze_button.click()  # asked again: the model runs, on cached features
    assert "from cache" in stages
    np.testing.assert_array_equal(window.analysis.scores, first)
