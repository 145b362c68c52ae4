"""The export dialog's checks and memory, several formats in one job (all or nothing), and
what the window says about a cut-off clip or a repaired session."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
from clipgen import ClipSpec, write_clip

from highlight_studio.errors import ExportError
from highlight_studio.events import CancelToken
from highlight_studio.gui.document import EditSegment, EditState
from highlight_studio.gui.export_dialog import (
    ExportDialog,
    ExportDone,
    ExportRequest,
    export_job,
)
from highlight_studio.gui.session import Session, load_session, repair_segments, save_session
from highlight_studio.media import probe
from highlight_studio.segments import SegmentOptions

from .test_window import open_and_wait


def test_the_dialog_makes_a_missing_folder_and_refuses_one_it_cannot(qtbot, tmp_path
                                                                     ) -> None:
    dialog = ExportDialog(tmp_path / "match.mp4", tmp_path)
    qtbot.addWidget(dialog)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    dialog.folder.setText(str(blocker / "cuts"))
    dialog.accept()
    assert dialog.result() != ExportDialog.DialogCode.Accepted  # still open
    assert not dialog.problem.isHidden() and "is a file" in dialog.problem.text()
    for box in dialog.formats.values():
        box.setChecked(False)
    assert dialog.problem_with_folder() == "Tick at least one format."
    dialog.formats["OpenTimelineIO"].setChecked(True)
    dialog.folder.setText(str(tmp_path / "new" / "exports"))
    dialog.accept()
    assert dialog.result() == ExportDialog.DialogCode.Accepted
    assert (tmp_path / "new" / "exports").is_dir()


def test_the_dialog_remembers_the_folder_and_formats(qtbot, tmp_path) -> None:
    dialog = ExportDialog(tmp_path / "match.mp4", tmp_path)
    qtbot.addWidget(dialog)
    chosen = tmp_path / "exports"
    dialog.folder.setText(str(chosen))
    dialog.formats["MP4 cuts"].setChecked(True)
    dialog.formats["Final Cut Pro XML"].setChecked(True)
    dialog.mode.setCurrentText("fast")
    dialog.accept()
    again = ExportDialog(tmp_path / "other.mov", tmp_path / "elsewhere")
    qtbot.addWidget(again)
    assert Path(again.folder.text()) == chosen
    assert again.chosen() == ["EDL (CMX 3600)", "Final Cut Pro XML", "MP4 cuts"]
    assert again.mode.currentText() == "fast"
    assert again.request().path == chosen / "other_highlights.edl"  # named after its clip


@pytest.fixture()
def small_clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "c.mp4", ClipSpec(n_frames=48, fps=Fraction(24), width=64,
                                                   height=48))


def test_several_formats_are_written_by_one_job(tmp_path, small_clip) -> None:
    out = tmp_path / "out"
    request = ExportRequest("EDL (CMX 3600)", out / "c.edl", cut_mode="fast", together=(
        ExportRequest("OpenTimelineIO", out / "c.otio"),
        ExportRequest("MP4 cuts", out / "cuts", cut_mode="fast"),
        ExportRequest("CSV segment list", out / "c.csv")))
    out.mkdir()
    job = export_job(request, probe(small_clip), "default",
                     [EditSegment(0.2, 0.6, 0.9), EditSegment(1.0, 1.5, 0.8)])
    (done,) = [e for e in job(CancelToken()) if isinstance(e, ExportDone)]
    assert done.segments == 2
    assert {p.name for p in done.paths} == {"c.edl", "c.otio", "c.csv", "c_01_00-00-00-05.mp4",
                                             "c_02_00-00-01-00.mp4"}
    assert all(p.exists() for p in done.paths)


def test_a_failing_format_takes_the_others_of_its_job_with_it(tmp_path, small_clip,
                                                              monkeypatch) -> None:
    from highlight_studio.export import formats

    def broken(*args: object, **kwargs: object) -> Path:
        raise ExportError("the OTIO writer broke")

    monkeypatch.setattr(formats, "write_otio", broken)
    out = tmp_path / "out"
    out.mkdir()
    request = ExportRequest("EDL (CMX 3600)", out / "c.edl", together=(
        ExportRequest("MP4 cuts", out / "new" / "cuts", cut_mode="fast"),
        ExportRequest("OpenTimelineIO", out / "c.otio")))
    job = export_job(request, probe(small_clip), "default", [EditSegment(0.2, 0.6, 0.9)])
    with pytest.raises(ExportError, match="OTIO writer broke"):
        list(job(CancelToken()))
    assert list(out.iterdir()) == []  # no EDL, no cut, not even the folder made for them


def test_segments_of_a_session_are_repaired_with_a_message() -> None:
    segments = (EditSegment(2.0, 1.0, 0.5), EditSegment(2.5, 9.0, 0.6),
                EditSegment(-1.0, -0.5, 0.7), EditSegment(0.2, 0.4, 0.8),
                EditSegment(math.nan, 1.0, 0.1))
    kept, notes = repair_segments(segments, 3.0)
    assert [(s.start, s.end) for s in kept] == [(0.2, 0.4), (1.0, 2.0), (2.5, 3.0)]
    assert len(notes) == 4
    assert any("turned round" in n for n in notes) and any("trimmed" in n for n in notes)
    assert repair_segments(kept, 3.0) == (kept, ())


def test_the_window_loads_a_bad_session_repaired_and_says_so(qtbot, make_window, clip
                                                            ) -> None:
    bad = EditState(SegmentOptions(), (EditSegment(2.0, 1.0, 0.5, True),
                                       EditSegment(2.5, 60.0, 0.6, True)), True)
    save_session(Session(clip, None, bad))
    loaded = load_session(clip)  # without the clip's length only the order is checked
    assert [(s.start, s.end) for s in loaded.state.segments] == [(1.0, 2.0), (2.5, 60.0)]
    window = make_window()
    open_and_wait(qtbot, window, clip)
    segments = window.history.state.segments
    assert [(s.start, s.end) for s in segments] == [(1.0, 2.0), (2.5, pytest.approx(3.0))]
    assert "turned round" in window.stage_label.text()


def test_the_window_says_a_clip_is_cut_off(qtbot, make_window, tmp_path) -> None:
    whole = write_clip(tmp_path / "whole.mkv", ClipSpec(n_frames=96, width=160, height=96,
                                                        container="matroska"))
    cut = tmp_path / "cut.mkv"
    data = whole.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    window = make_window()
    open_and_wait(qtbot, window, cut)
    assert "cut off" in window.stage_label.text()
    window2 = make_window()
    open_and_wait(qtbot, window2, whole)
    assert "cut off" not in window2.stage_label.text()


def test_choices_file_is_json(tmp_path, config_dir) -> None:
    from highlight_studio.gui.export_dialog import CHOICES_FILE, load_choices, save_choices

    save_choices({"folder": str(tmp_path), "formats": ["MP4 cuts"]})
    assert json.loads((config_dir / CHOICES_FILE).read_text())["formats"] == ["MP4 cuts"]
    (config_dir / CHOICES_FILE).write_text("{not json")
    assert load_choices() == {}


def test_a_checkpoint_with_a_wrong_shaped_tensor_is_a_clear_message(qtbot, make_window,
                                                                    clip, tmp_path) -> None:
    """Not the raw "Unexpected error" dialog: the message names the tensor."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    from highlight_studio.model.checkpoint import save_checkpoint
    from highlight_studio.model.config import RASLConfig
    from highlight_studio.model.description import CheckpointMeta
    from highlight_studio.model.rasl import RASL
    from highlight_studio.scoring import analyze

    config = RASLConfig(visual_dim=256, audio_dim=64, window=8, k=2)
    meta = CheckpointMeta(config=config, backbone_id="test_tiny:seed0", step_seconds=0.25)
    path = save_checkpoint(tmp_path / "bent", RASL(config), meta)
    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    name = sorted(k for k, v in tensors.items() if v.ndim == 2)[0]
    tensors[name] = torch.zeros(2, 2)
    save_file(tensors, str(path), metadata=header)
    window = make_window(analyze)
    window._select_model(str(path))
    open_and_wait(qtbot, window, clip)
    assert window.error_box is not None
    assert name in window.error_box.text() and "Unexpected" not in window.error_box.text()


def test_the_window_path_is_checked_before_any_cut_like_the_command(tmp_path) -> None:
    """An EDL of a rate editors do not take is refused before the (long) cuts start, as the
    command refuses it before its analysis; so are two formats written to one file."""
    clip = write_clip(tmp_path / "webcam.mp4", ClipSpec(n_frames=15, fps=Fraction(15),
                                                        width=64, height=48, audio_hz=None))
    out = tmp_path / "out"
    request = ExportRequest("MP4 cuts", out / "cuts", cut_mode="fast", together=(
        ExportRequest("EDL (CMX 3600)", out / "c.edl"),))
    events = []
    with pytest.raises(ExportError, match=r"15\.000 fps"):
        for event in export_job(request, probe(clip), "default",
                                [EditSegment(0.2, 0.6, 0.9)])(CancelToken()):
            events.append(event)
    assert events == [] and not out.exists()  # no cut was started, no folder made
    twice = ExportRequest("JSON segment list", out / "s.txt", together=(
        ExportRequest("CSV segment list", out / "s.txt"),))
    with pytest.raises(ExportError, match="both be written"):
        list(export_job(twice, probe(clip), "default", [EditSegment(0.2, 0.6, 0.9)])(
            CancelToken()))
