"""The real ``highlight-studio`` process under xcb on Xvfb, software OpenGL included: it
analyses a clip and draws the curve on screen, and a relaunch on the same clip (its curve now
cached) draws it again instead of crashing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from clipgen import ClipSpec, write_clip
from PIL import Image

from .conftest import app_command, curve_columns, curve_mask, start, stop, wait_for_curve


def test_the_app_draws_its_curve_on_x11_and_relaunches_on_the_cached_one(display, tmp_path
                                                                         ) -> None:
    """The relaunch used to segfault every time: the start-up probe imported torch (and with
    it triton's LLVM) after the preview had loaded Mesa's."""
    clip = write_clip(tmp_path / "clip.mp4", ClipSpec(n_frames=240, width=160, height=96))
    for run in ("first", "relaunch"):
        log = tmp_path / f"{run}.log"
        app = start([*app_command(), str(clip)], display, log)
        shot = wait_for_curve(display, app, log)
        Image.fromarray(shot).save(tmp_path / f"{run}.png")  # to look at when it fails
        stop(app, log)
        colours = np.unique(shot.reshape(-1, 3), axis=0)
        assert len(colours) > 200, f"a nearly blank screen ({len(colours)} colours)"
        assert curve_columns(shot) >= 400 and curve_mask(shot).sum() >= 400
        assert "Segmentation fault" not in Path(log).read_text(errors="replace")
