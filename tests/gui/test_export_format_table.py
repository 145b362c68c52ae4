"""Adding an export format is one writer and one row of ``export.formats.FORMATS``: a toy
format registered here shows up as a flag of the command, a tick in the dialog, and is written
by the one core export both use."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest
from clipgen import ClipSpec, write_clip

from highlight_studio import cli
from highlight_studio.events import Cancelled, CancelToken
from highlight_studio.export import formats
from highlight_studio.export.formats import (
    ExportDone,
    Exporter,
    ExportOptions,
    Selection,
    Target,
    export,
    write_text,
)
from highlight_studio.gui.document import EditSegment
from highlight_studio.gui.export_dialog import ExportDialog, export_job
from highlight_studio.media import probe
from highlight_studio.segments import Segment


def write_markers(selection: Selection, path: Path, options: ExportOptions,
                  cancel: CancelToken | None) -> Iterator[Path]:
    """The toy writer: each cut's source frames, one line per cut."""
    cuts = selection.timeline.cuts
    yield write_text(selection, path, "".join(f"{c.src_in} {c.src_out}\n" for c in cuts))


MARKERS = Exporter("markers", "Marker list", ".txt", False, write_markers,
                   "write the cuts' frames as a marker list")
WANT = "10 25\n50 70\n"  # 0.4-1.0 s and 2.0-2.8 s at 25 fps


@pytest.fixture()
def toy_format(monkeypatch: pytest.MonkeyPatch) -> Exporter:
    monkeypatch.setitem(formats.FORMATS, MARKERS.key, MARKERS)
    return MARKERS


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "take.mp4", ClipSpec(n_frames=75, fps=Fraction(25), width=64,
                                                      height=48, audio_hz=None))


def test_a_registered_format_is_a_flag_of_the_command(toy_format, clip, tmp_path) -> None:
    out = tmp_path / "m.txt"
    assert cli.main(["export", str(clip), "--segments", "0.4-1.0,2.0-2.8",
                     "--markers", str(out)]) == 0
    assert out.read_text() == WANT
    with pytest.raises(SystemExit):  # and it is gone with its row
        cli.main(["export", str(clip), "--segments", "0.4-1.0", "--pins", str(out)])


def test_a_registered_format_is_a_choice_of_the_dialog(toy_format, qtbot, clip, tmp_path
                                                      ) -> None:
    dialog = ExportDialog(clip, tmp_path)
    qtbot.addWidget(dialog)
    assert list(dialog.formats)[-1] == "Marker list"
    for box in dialog.formats.values():
        box.setChecked(False)
    dialog.formats["Marker list"].setChecked(True)
    assert dialog.name.isEnabled() and not dialog.preset.isEnabled()  # it reads no options
    request = dialog.request()
    assert request.path == tmp_path / "take_highlights.txt"
    job = export_job(request, probe(clip), "default",
                     [EditSegment(0.4, 1.0, 0.9), EditSegment(2.0, 2.8, 0.8)])
    (done,) = [e for e in job(CancelToken()) if isinstance(e, ExportDone)]
    assert done.paths == (request.path,) and done.segments == 2
    assert request.path.read_text() == WANT


def test_a_registered_format_goes_all_or_nothing_with_the_others(toy_format, clip, tmp_path
                                                                ) -> None:
    selection = Selection(probe(clip), (Segment(0.4, 1.0), Segment(2.0, 2.8)))
    targets = [Target("markers", tmp_path / "m.txt"), Target("edl", tmp_path / "m.edl"),
               Target("mp4", tmp_path / "cuts")]
    (done,) = [e for e in export(selection, targets) if isinstance(e, ExportDone)]
    assert {p.name for p in done.paths} == {"m.txt", "m.edl", "take_01_00-00-00-10.mp4",
                                            "take_02_00-00-02-00.mp4"}
    cancel = CancelToken()
    again = export(selection, [Target("mp4", tmp_path / "more"), Target("markers",
                                                                        tmp_path / "n.txt")],
                   cancel)
    next(again)
    cancel.cancel()
    with pytest.raises(Cancelled):
        list(again)
    assert not (tmp_path / "more").exists() and not (tmp_path / "n.txt").exists()
