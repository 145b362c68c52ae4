"""The window says when a curve came from the picture alone (a clip without motion)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from highlight_studio import media
from highlight_studio.events import CancelToken, Progress
from highlight_studio.scoring import Analysis

from .conftest import STEP, CurveAnalyzer, bumps

NOTE = "The clip has a single frame, so it has no motion."


class NotedAnalyzer(CurveAnalyzer):
    """A curve with a note, as ``scoring.analyze`` gives for a clip without motion."""

    def __call__(self, path: str | Path, *, checkpoint: str | None = None,
                 device: str | None = None, use_cache: bool = True,
                 cancel: CancelToken | None = None) -> Iterator[Progress | Analysis]:
        info = media.probe(path)
        n = round(info.duration / STEP)
        yield Analysis(Path(path), info, "synthetic", "test-backbone", STEP, bumps(n), "cpu",
                       notes=(NOTE,))


def test_the_status_bar_shows_the_analysis_note(qtbot, make_window, clip) -> None:
    window = make_window(NotedAnalyzer())
    with qtbot.waitSignal(window.jobEnded, timeout=10_000):
        window.open_clip(clip)
    assert NOTE in window.stage_label.text()
    assert "steps of" in window.stage_label.text()


def test_no_note_no_extra_text(qtbot, make_window, clip) -> None:
    window = make_window()
    with qtbot.waitSignal(window.jobEnded, timeout=10_000):
        window.open_clip(clip)
    assert window.stage_label.text().endswith(f"steps of {STEP:g} s")
