"""The window's parts on their own: preview fallback, highlight playback, ETA text, thumbnails,
shortcuts, drag and drop, the device probe and the CLI entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from clipgen import read_frame_index
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QKeySequence

from highlight_studio import cli
from highlight_studio.events import CancelToken, Progress
from highlight_studio.gui.environment import LocalSetup, probe_setup
from highlight_studio.gui.preview import Preview, next_highlight_time
from highlight_studio.gui.shortcuts import GESTURES, SHORTCUTS, ShortcutHelp
from highlight_studio.gui.timecodes import Clock
from highlight_studio.gui.workers import EtaClock, format_clock

from .test_window import open_and_wait


def test_preview_explains_itself_when_qtmultimedia_cannot_load(qtbot, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "PySide6.QtMultimedia", None)  # import now fails
    preview = Preview()
    qtbot.addWidget(preview)
    assert preview.player is None
    assert "unavailable" in preview.video.text()
    assert not preview.play_button.isEnabled()
    preview.load(Path("clip.mp4"), 3.0, Clock(Fraction(24)))
    preview.seek(1.0)  # the playhead still moves (marks and the curve need it)
    preview.toggle_play()
    assert preview.position() == 1.0
    assert preview.time_label.text() == "00:00:01:00 / 00:00:03:00"


def test_next_highlight_time() -> None:
    spans = [(1.0, 2.0), (5.0, 6.0)]
    assert next_highlight_time(0.0, spans) == 1.0
    assert next_highlight_time(1.5, spans) == 1.5
    assert next_highlight_time(2.0, spans) == 5.0  # ends are exclusive
    assert next_highlight_time(6.5, spans) is None


def test_eta_is_timed_per_stage() -> None:
    now = [0.0]
    eta = EtaClock(clock=lambda: now[0])
    assert eta.describe(Progress("features", 0, 10)) == "Features 0%"
    now[0] = 4.0
    assert eta.describe(Progress("features", 4, 10)) == "Features 40% - 0:06 left"
    now[0] = 5.0
    assert eta.describe(Progress("scoring", 1, 4)) == "Scoring 25%"  # a new stage restarts
    assert eta.describe(Progress("scoring", 3, None, message="window 3")) == "Scoring: window 3"
    assert format_clock(3725) == "1:02:05"


def test_thumbnails_show_the_frames_at_their_times(qtbot, make_window, clip) -> None:
    window = make_window()
    open_and_wait(qtbot, window, clip)
    strip = window.thumbnails
    qtbot.waitUntil(lambda: strip.cached_count() > 0 and strip.job is None, timeout=10_000)
    for t, image in strip._cache.items():
        assert abs(read_frame_index(image) - t * 24) <= 1.5  # 24 fps: the frame shown at t
    before = sum(1 for t in strip._cache if t < 0.5)
    window.curve.plot.setXRange(0.0, 0.5, padding=0)  # zoom in: more, finer thumbnails
    qtbot.waitUntil(lambda: sum(1 for t in strip._cache if t < 0.5) > before
                    and strip.job is None, timeout=10_000)
    visible = [item for item in strip._items if item.isVisible()]
    assert len(visible) > 1


def test_every_shortcut_is_bound_and_listed(qtbot, make_window) -> None:
    window = make_window()
    for shortcut in SHORTCUTS:
        bound = [s.toString() for s in window.actions_by_name[shortcut.name].shortcuts()]
        assert bound == [QKeySequence(k).toString() for k in shortcut.keys]
    help_dialog = ShortcutHelp(window)
    text = help_dialog.findChild(type(window.stage_label)).text()
    for shortcut in SHORTCUTS:
        assert shortcut.text in text and shortcut.keys[0] in text
    for gesture, does in GESTURES:  # keys the list handles itself, and the mouse
        assert gesture in text and does in text
    assert "Enter" in text and "Delete" in text and "Alt+Right" in text


def test_dropping_a_file_opens_it(qtbot, make_window, clip) -> None:
    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(clip))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.jobEnded, timeout=10_000):
        window.dropEvent(event)
    assert window.analysis is not None and window.analysis.path == clip


def test_device_probe_fills_the_status_bar_and_lists_user_models(qtbot, make_window) -> None:
    import platformdirs

    user_models = Path(platformdirs.user_data_dir("highlight-studio")) / "models"
    user_models.mkdir(parents=True)  # a per-test folder: tests/conftest.py isolates XDG dirs
    (user_models / "finetuned.safetensors").write_bytes(b"")  # listing only reads names
    (setup,) = list(probe_setup(CancelToken()))
    assert isinstance(setup, LocalSetup) and setup.device in ("cuda", "mps", "cpu")
    assert ("finetuned", str(user_models / "finetuned.safetensors")) in setup.models
    window = make_window(probe_local_setup=True)
    qtbot.waitUntil(lambda: window.setup_job is not None and not window.setup_job.is_running()
                    and setup.device_label in window.device_label.text(), timeout=20_000)
    assert window.model_box.itemText(0) == "Default model"
    assert window.model_box.count() == 1 + len(setup.models)
    assert window.model_box.findText("finetuned") > 0


def test_models_trained_on_benchmark_features_are_not_offered_for_clips() -> None:
    import platformdirs
    import torch

    from highlight_studio.model.checkpoint import save_checkpoint
    from highlight_studio.model.config import RASLConfig
    from highlight_studio.model.description import CheckpointMeta
    from highlight_studio.model.rasl import RASL

    user_models = Path(platformdirs.user_data_dir("highlight-studio")) / "models"
    user_models.mkdir(parents=True)
    config = RASLConfig(visual_dim=16, audio_dim=16, window=8, k=2, enc_channels=(2, 2, 2))
    torch.manual_seed(0)
    for name, backbone in (("on_video", "test_tiny:seed0"), ("on_i3d", "features:yth-train")):
        save_checkpoint(user_models / name, RASL(config),
                        CheckpointMeta(config=config, backbone_id=backbone, step_seconds=0.2))
    (setup,) = list(probe_setup(CancelToken()))
    names = [name for name, _ in setup.models]
    assert "on_video" in names and "on_i3d" not in names


def test_cli_routes_a_clip_to_the_window(monkeypatch, clip) -> None:
    import highlight_studio.gui as gui

    opened = []
    monkeypatch.setattr(gui, "run", lambda path, checkpoint=None: opened.append(
        (path, checkpoint)) or 0)
    assert cli.main([str(clip)]) == 0
    assert cli.main(["gui", str(clip), "--checkpoint", "mine"]) == 0
    assert opened == [(str(clip), None), (str(clip), "mine")]


@pytest.mark.parametrize("bad", ["", "nope"])
def test_settings_survive_a_corrupt_file(config_dir, bad) -> None:
    from highlight_studio.gui.settings import Settings, load_settings, settings_path

    settings_path().write_text(bad)
    assert load_settings() == Settings()


def test_export_dialog_follows_the_formats(qtbot, tmp_path) -> None:
    from highlight_studio.gui.export_dialog import ExportDialog

    dialog = ExportDialog(tmp_path / "match.mp4", tmp_path)
    qtbot.addWidget(dialog)
    assert dialog.chosen() == ["EDL (CMX 3600)"]  # the first run's default
    assert dialog.request().path == tmp_path / "match_highlights.edl"
    assert dialog.request().cut_mode == "exact"  # the frame-accurate default
    assert dialog.preset.isEnabled() and not dialog.mode.isEnabled()
    dialog.formats["EDL (CMX 3600)"].setChecked(False)
    dialog.formats["MP4 cuts"].setChecked(True)
    request = dialog.request()
    assert request.path == tmp_path and request.format == "MP4 cuts" and not request.together
    assert dialog.mode.isEnabled() and dialog.joined.isEnabled() and not dialog.preset.isEnabled()
    assert dialog.eight_bit.isEnabled() and not request.eight_bit  # 10-bit kept by default
    dialog.eight_bit.setChecked(True)
    assert dialog.request().eight_bit
    dialog.mode.setCurrentText("fast")  # a stream copy keeps whatever the source is
    assert not dialog.eight_bit.isEnabled() and not dialog.deinterlace.isEnabled()
    dialog.formats["CSV segment list"].setChecked(True)
    request = dialog.request()
    assert [(r.format, r.path) for r in request.all] == [
        ("MP4 cuts", tmp_path), ("CSV segment list", tmp_path / "match_highlights.csv")]


@pytest.mark.parametrize("fmt", ["JSON segment list", "CSV segment list"])
def test_a_segment_list_never_replaces_the_source_clip(tmp_path, fmt: str) -> None:
    """The dialog lets a user type any path: the clip itself is refused, whatever the format."""
    from clipgen import ClipSpec, write_clip

    from highlight_studio.errors import ExportError
    from highlight_studio.gui.document import EditSegment
    from highlight_studio.gui.export_dialog import ExportRequest, export_job
    from highlight_studio.media import probe

    clip = write_clip(tmp_path / "c.mp4", ClipSpec(n_frames=12, width=64, height=48,
                                                   audio_hz=None))
    original = clip.read_bytes()
    job = export_job(ExportRequest(fmt, clip), probe(clip), "default",
                     [EditSegment(0.1, 0.3, 0.5)])
    with pytest.raises(ExportError, match="never overwritten"):
        list(job(CancelToken()))
    assert clip.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["c.mp4"]


@pytest.mark.parametrize(("eight_bit", "want"), [(False, "yuv420p10le"), (True, "yuv420p")])
def test_the_dialog_bit_depth_reaches_the_cuts(tmp_path, eight_bit: bool, want: str) -> None:
    import av
    from clipgen import ClipSpec, write_clip

    from highlight_studio.gui.document import EditSegment
    from highlight_studio.gui.export_dialog import ExportDone, ExportRequest, export_job
    from highlight_studio.media import probe

    clip = write_clip(tmp_path / "hdr.mp4", ClipSpec(n_frames=12, width=64, height=48,
                                                     pix_fmt="yuv420p10le", audio_hz=None))
    out = tmp_path / "out"
    out.mkdir()
    job = export_job(ExportRequest("MP4 cuts", out, eight_bit=eight_bit), probe(clip),
                     "default", [EditSegment(0.1, 0.3, 0.5)])
    (done,) = [e for e in job(CancelToken()) if isinstance(e, ExportDone)]
    (cut,) = done.paths
    with av.open(str(cut)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == want


def test_what_the_writers_warn_about_comes_back_with_the_result(tmp_path) -> None:
    """A segment past the clip's end is trimmed and one shorter than a frame left out: the
    window is told both, and the count is of segments written."""
    from clipgen import ClipSpec, write_clip

    from highlight_studio.gui.document import EditSegment
    from highlight_studio.gui.export_dialog import ExportDone, ExportRequest, export_job
    from highlight_studio.media import probe

    clip = write_clip(tmp_path / "c.mp4", ClipSpec(n_frames=48, width=64, height=48,
                                                   audio_hz=None))  # 2 s at 24 fps
    segments = [EditSegment(0.2, 0.201, 0.9), EditSegment(0.5, 1.0, 0.8),
                EditSegment(1.5, 9.0, 0.7)]
    job = export_job(ExportRequest("EDL (CMX 3600)", tmp_path / "c.edl"), probe(clip),
                     "default", segments)
    (done,) = [e for e in job(CancelToken()) if isinstance(e, ExportDone)]
    assert done.segments == 2 and len(done.notes) == 2
    assert "reach past the clip" in done.notes[1] and "shorter than one frame" in done.notes[0]


def test_a_session_is_ignored_once_the_clip_changes(tmp_path) -> None:
    from clipgen import ClipSpec, write_clip

    from highlight_studio.gui.document import EditSegment, EditState
    from highlight_studio.gui.session import Session, load_session, save_session
    from highlight_studio.segments import SegmentOptions

    path = write_clip(tmp_path / "c.mp4", ClipSpec(n_frames=12, width=64, height=48,
                                                   audio_hz=None))
    state = EditState(SegmentOptions(threshold=0.3), (EditSegment(0.1, 0.3, 0.5, False),), True)
    save_session(Session(path, "mine", state))
    assert load_session(path) == Session(path.resolve(), "mine", state)
    write_clip(path, ClipSpec(n_frames=30, width=64, height=48, audio_hz=None))  # replaced
    assert load_session(path) is None


def test_play_highlights_only_skips_the_gaps(qtbot, clip) -> None:
    preview = Preview()
    qtbot.addWidget(preview)
    if preview.player is None:
        pytest.skip("QtMultimedia cannot load here (libpulse0 missing?)")
    preview.load(clip, 3.0, Clock(Fraction(24)))
    seen: list[float] = []
    preview.positionChanged.connect(seen.append)
    preview.set_highlights([(0.5, 0.9), (2.0, 2.4)])
    preview.highlights_only.setChecked(True)
    preview.toggle_play()
    qtbot.waitUntil(lambda: not preview.is_playing() and seen and seen[-1] > 2.3, timeout=8000)
    assert seen[0] == pytest.approx(0.5)  # starts at the first highlight
    assert 2.0 in seen  # jumped to the second
    assert not any(1.1 < t < 1.9 for t in seen)  # never played the gap
    preview.unload()


def test_the_preview_has_sound_only_where_a_device_plays_it(qtbot) -> None:
    """No audio device (a server, CI): no audio output, and so no audio renderer thread to
    deadlock with the GUI thread; with one, sound as usual."""
    from PySide6.QtMultimedia import QMediaDevices

    preview = Preview()
    qtbot.addWidget(preview)
    if preview.player is None:
        pytest.skip("QtMultimedia cannot load here (libpulse0 missing?)")
    assert (preview.audio is None) == QMediaDevices.defaultAudioOutput().isNull()
    assert (preview.player.audioOutput() is None) == (preview.audio is None)


def test_qt_calls_never_use_up_none() -> None:
    """PySide6 6.12 on Python 3.11 loses a reference to None per void call: without the
    guard in highlight_studio.gui the interpreter aborts after some 20,000 calls."""
    code = ("import highlight_studio.gui\n"
            "from PySide6.QtWidgets import QApplication, QWidget\n"
            "app = QApplication([])\n"
            "widget = QWidget()\n"
            "for _ in range(200_000):\n"
            "    widget.update()\n"
            "print('alive')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "alive"


@pytest.mark.parametrize("rate", [Fraction(24000, 1001), Fraction(25), Fraction(30000, 1001),
                                  Fraction(50), Fraction(60000, 1001)])
def test_the_clock_rounds_as_the_exported_timelines_do(rate: Fraction) -> None:
    """The window's fast frame rounding against the exporters' exact one, on random times,
    on decimal times, and on times that are exactly half a frame (halves round up)."""
    from highlight_studio.export.timeline import seconds_to_frame

    clock = Clock(rate)
    rng = np.random.default_rng(7)
    halves = [float((Fraction(k) + Fraction(1, 2)) / rate) for k in range(0, 3000, 7)]
    times = np.concatenate([rng.random(3000) * 7200, np.round(rng.random(3000) * 600, 1),
                            halves])
    assert clock.frames(times).tolist() == [seconds_to_frame(float(t), rate) for t in times]
    assert clock.frame(float(Fraction(1, 2) / rate)) == 1  # half a frame rounds up
    spans = [(1.0, 2.5), (10.04, 12.0)]
    frames = sum(seconds_to_frame(b, rate) - seconds_to_frame(a, rate) for a, b in spans)
    assert clock.total(spans) == clock.frames_label(frames)
