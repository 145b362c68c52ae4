"""Qt runs offscreen; settings and sessions go to a temporary folder; analysis is a generator
over a curve the test knows, on a real (tiny) clip probed by the real media module."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import math
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from clipgen import ClipSpec, write_clip

from highlight_studio import media
from highlight_studio.events import CancelToken, Progress
from highlight_studio.scoring import Analysis
from highlight_studio.segments import SegmentOptions

STEP = 0.1
# The test curve's three bumps lie 0.9 s apart on a 3 s clip: the editor defaults (rolls, merge
# gap, minimum length) would join them into one segment, so window tests start from bare
# options unless they test the defaults themselves (make_window(options=None)).
BARE = SegmentOptions(merge_gap=0.0, pre_roll=0.0, post_roll=0.0, min_length=0.0)


def bumps(n: int) -> np.ndarray:
    """A curve in [0, 1] with three peaks of different heights: each threshold between them
    gives a different segment count."""
    x = np.linspace(0.0, 1.0, n)
    curve = (1.0 * np.exp(-((x - 0.2) / 0.05) ** 2) + 0.7 * np.exp(-((x - 0.5) / 0.05) ** 2)
             + 0.4 * np.exp(-((x - 0.8) / 0.05) ** 2))
    return ((curve - curve.min()) / (curve.max() - curve.min())).astype(np.float32)


class CurveAnalyzer:
    """Stands in for scoring.analyze in tests: same signature, yields Progress then Analysis.

    ``gate`` (if given) holds the job in the "features" stage until it is set or the job is
    cancelled, polling the token the way the real generator checks it between batches;
    ``batch_seconds`` is how long one such batch takes to notice a cancel.
    """

    def __init__(self, gate: threading.Event | None = None, batch_seconds: float = 0.01
                 ) -> None:
        self.gate = gate
        self.batch_seconds = batch_seconds
        self.calls: list[tuple[Path, str | None]] = []

    def __call__(self, path: str | Path, *, checkpoint: str | None = None,
                 device: str | None = None, use_cache: bool = True,
                 cancel: CancelToken | None = None) -> Iterator[Progress | Analysis]:
        self.calls.append((Path(path), checkpoint))
        yield Progress("probe", 0, 1)
        info = media.probe(path)
        n = math.ceil(info.duration / STEP)
        for i in range(4):
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield Progress("features", i, 4, unit="batches")
            while self.gate is not None and not self.gate.is_set():
                if cancel is not None:
                    cancel.raise_if_cancelled()
                time.sleep(self.batch_seconds)
        yield Analysis(Path(path), info, checkpoint or "synthetic", "test-backbone", STEP,
                       bumps(n), "cpu")


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("HIGHLIGHT_STUDIO_CONFIG", str(folder))
    return folder


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s at 24 fps, 160x90 with a tone: small enough to decode in milliseconds."""
    folder = tmp_path_factory.mktemp("clips")
    return write_clip(folder / "clip.mp4", ClipSpec(n_frames=72, width=160, height=96))


@pytest.fixture
def make_window(qtbot) -> Iterator[Callable[..., object]]:
    """Build windows that are always shut down, and fail if any of their threads survive."""
    from highlight_studio.gui.main_window import MainWindow
    from highlight_studio.gui.settings import Settings, save_settings, settings_path

    windows: list[MainWindow] = []

    def make(analyze: Callable[..., Iterator[object]] | None = None,
             options: SegmentOptions | None = BARE, **kwargs: object) -> MainWindow:
        """``options``: the segment options a first window starts from (saved as settings
        unless a settings file is there already); None: the app's own defaults."""
        if options is not None and not settings_path().exists():
            save_settings(Settings(options=options))
        kwargs.setdefault("probe_local_setup", False)  # torch import: only where tested
        kwargs.setdefault("keep_curves", False)  # each open runs the analysis under test
        window = MainWindow(analyze=analyze or CurveAnalyzer(), **kwargs)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.confirm_abandon = lambda: True  # a failed test must not leave a modal question
        window.close()
        assert window.training is None or not window.training.is_running()
        assert window.job is None and len(window.retired) == 0
        assert window.thumbnails.busy_threads() == 0
        assert window.setup_job is None
        assert window.export_job is None
