"""Export: the dialog that asks what and where, and the worker job that writes it.

Timelines (EDL, FCPXML, OTIO) and MP4 cuts come from ``highlight_studio.export``, which verifies
every file after writing; a JSON or CSV list of the segments is written here. All formats run
as one job on a worker thread, because MP4 cuts take a while and must be cancellable.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import logging
import os
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from ..errors import ExportError, HighlightStudioError
from ..events import CancelToken
from ..export.cuts import MODES, CutOptions, CutResult, cut_clips
from ..export.timeline import build_timeline, read_reel_name
from ..export.timelines import EDL_PRESETS, write_edl, write_fcpxml, write_otio
from ..fileio import atomic_write_text, make_folder, remove_folders
from ..media import MediaInfo
from ..segments import Segment
from .document import EditSegment
from .settings import config_dir

# format name -> file suffix ("" = a folder of files)
FORMATS = {
    "EDL (CMX 3600)": ".edl",
    "Final Cut Pro XML": ".fcpxml",
    "OpenTimelineIO": ".otio",
    "MP4 cuts": "",
    "JSON segment list": ".json",
    "CSV segment list": ".csv",
}


@dataclass(frozen=True)
class ExportRequest:
    format: str  # a key of FORMATS
    path: Path  # the file, or the folder for MP4 cuts
    included_only: bool = True  # only segments ticked "Use"
    edl_preset: str = "premiere"  # see export.timelines.EDL_PRESETS
    cut_mode: str = "exact"  # "exact" (frame-accurate re-encode) or "fast" (keyframe copy)
    reel: bool = False  # MP4: also join all cuts into one highlight reel
    eight_bit: bool = False  # MP4 exact: 8-bit even from a 10-bit source (older players)
    deinterlace: bool = False  # MP4 exact: progressive pictures from an interlaced source
    # further formats written by the same job, all or nothing (the dialog's other ticks)
    together: tuple[ExportRequest, ...] = ()

    @property
    def all(self) -> tuple[ExportRequest, ...]:
        return (self, *self.together)


@dataclass(frozen=True)
class ExportDone:
    paths: tuple[Path, ...]
    segments: int  # written (a segment shorter than a frame is not)
    notes: tuple[str, ...] = ()  # what the writers warned about (trimmed segments, a cut reel)


class _Notes(logging.Handler):
    """Warnings the export package logs on one thread: the CLI prints them, the window
    shows them with the result."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.notes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.notes.append(record.getMessage())


@contextlib.contextmanager
def _export_notes() -> Iterator[list[str]]:
    handler = _Notes()
    logger = logging.getLogger("highlight_studio.export")
    logger.addHandler(handler)
    try:
        yield handler.notes
    finally:
        logger.removeHandler(handler)


def segments_json(clip: Path, model: str, segments: Sequence[EditSegment]) -> str:
    rows = [{"start": s.start, "end": s.end, "duration": s.duration, "score": s.score}
            for s in segments]
    return json.dumps({"clip": str(clip), "model": model, "segments": rows}, indent=2)


def segments_csv(segments: Sequence[EditSegment]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["start", "end", "duration", "score"])
    for s in segments:
        writer.writerow([f"{s.start:.3f}", f"{s.end:.3f}", f"{s.duration:.3f}", f"{s.score:.4f}"])
    return out.getvalue()


def export_job(request: ExportRequest, info: MediaInfo, model: str,
               segments: Sequence[EditSegment]) -> Callable[[CancelToken], Iterator[object]]:
    """A worker job that writes ``request`` (and the formats it carries ``together``) and
    yields Progress, then one :class:`ExportDone`. All or nothing: MP4 cuts go first (they
    take long and fail more often), and if any format fails or is cancelled, every file the
    job wrote and every folder it made is removed again."""

    def run(cancel: CancelToken) -> Iterator[object]:
        if not segments:
            raise ExportError("There are no segments to export: lower the threshold or tick "
                              "some segments in the list.")
        ordered = sorted(request.all, key=lambda r: FORMATS[r.format] != "")
        written: list[Path] = []
        made: list[Path] = []
        counts = []
        try:
            with _export_notes() as notes:
                for one in ordered:
                    counts.append((yield from _write(one, info, model, segments, cancel,
                                                     written, made)))
        except BaseException:
            for path in written:
                with contextlib.suppress(OSError):
                    path.unlink()
            remove_folders(made)
            raise
        yield ExportDone(tuple(written), min(counts), tuple(notes))

    return run


def _engine(segments: Sequence[EditSegment]) -> list[Segment]:
    return [Segment(s.start, s.end, s.score) for s in segments]


def _write(request: ExportRequest, info: MediaInfo, model: str,
           segments: Sequence[EditSegment], cancel: CancelToken, written: list[Path],
           made: list[Path]) -> Generator[object, None, int]:
    """Write one format, adding each finished file to ``written`` (and each folder made for
    MP4 cuts to ``made``); return how many segments it holds (a segment shorter than a
    frame is in the lists, not in timelines or cuts)."""
    suffix = FORMATS[request.format]
    if suffix in (".json", ".csv"):
        text = (segments_json(info.path, model, segments) if suffix == ".json"
                else segments_csv(segments))
        atomic_write_text(request.path, text, error=ExportError, protect=(info.path,))
        written.append(request.path)
        return len(segments)
    timeline = build_timeline(info, _engine(segments), reel=read_reel_name(info.path))
    if suffix == ".edl":
        written.append(write_edl(timeline, request.path, request.edl_preset))
    elif suffix == ".fcpxml":
        written.append(write_fcpxml(timeline, request.path))
    elif suffix == ".otio":
        written.append(write_otio(timeline, request.path))
    else:
        made.extend(make_folder(request.path, error=ExportError))
        options = CutOptions(mode=request.cut_mode, reel=request.reel,
                             bit_depth="8" if request.eight_bit else "source",
                             deinterlace=request.deinterlace)
        for event in cut_clips(timeline, info, request.path, options, cancel):
            if isinstance(event, CutResult):
                written.append(event.path)
            else:
                yield event
    return len(timeline.cuts)


CHOICES_FILE = "export.json"  # beside the window's settings: the last folder and formats


def load_choices() -> dict[str, Any]:
    """The export choices last made (folder, formats, EDL flavour, cut mode), or none."""
    try:
        data = json.loads((config_dir() / CHOICES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_choices(choices: dict[str, Any]) -> None:
    try:
        atomic_write_text(config_dir() / CHOICES_FILE, json.dumps(choices, indent=1),
                          durable=False)
    except HighlightStudioError as exc:  # losing a preference never stops an export
        logging.getLogger(__name__).warning("export choices not saved: %s", exc)


class ExportDialog(QDialog):
    """Asks what and where; :meth:`request` holds the answer. Any number of formats can be
    ticked: files are named ``<name><suffix>`` in the folder, MP4 cuts go into it. The
    folder is checked (and made if missing) before the dialog closes, and the folder and
    formats are remembered for the next export."""

    def __init__(self, clip: Path, folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export highlights")
        self._clip = clip
        choices = load_choices()
        remembered = Path(str(choices.get("folder", "")))
        if choices.get("folder") and remembered.is_dir():
            folder = remembered
        self.formats = {name: QCheckBox(name) for name in FORMATS}
        ticked = [n for n in choices.get("formats", []) if n in FORMATS] or [next(iter(FORMATS))]
        for name in ticked:
            self.formats[name].setChecked(True)
        grid = QGridLayout()
        for i, box in enumerate(self.formats.values()):
            grid.addWidget(box, i // 2, i % 2)
        self.folder = QLineEdit(str(folder))
        self.folder.setMinimumWidth(420)
        browse = QPushButton("Browse…")
        self.name = QLineEdit(f"{clip.stem}_highlights")
        self.name.setToolTip("File name of the timelines and lists (the suffix is added); MP4 "
                             "cuts are named after the clip and segment")
        self.included_only = QCheckBox("Only segments ticked Use")
        self.included_only.setChecked(True)
        self.preset = QComboBox()
        self.preset.addItems(list(EDL_PRESETS))
        self.preset.setCurrentText(str(choices.get("edl_preset", "premiere")))
        self.mode = QComboBox()
        self.mode.addItems(list(MODES))
        self.mode.setCurrentText(str(choices.get("cut_mode", CutOptions.mode)))
        self.mode.setToolTip("exact: re-encoded, frame-accurate; fast: stream copy, cuts move to "
                             "keyframes")
        self.reel = QCheckBox("Also join the cuts into one highlight reel")
        self.eight_bit = QCheckBox("8-bit video, for players without 10-bit H.264")
        self.eight_bit.setToolTip("Exact mode keeps a 10-bit (HDR) source at 10 bits unless "
                                  "this is ticked.")
        self.deinterlace = QCheckBox("Deinterlace (progressive video for the web)")
        self.deinterlace.setToolTip("Exact mode keeps an interlaced source's fields and field "
                                    "order unless this is ticked.")
        self.problem = QLabel()
        self.problem.setStyleSheet("color: #c0392b")
        self.problem.setWordWrap(True)
        self.problem.hide()
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form = QFormLayout(self)
        form.addRow("Formats", grid)
        form.addRow("Folder", row)
        form.addRow("Name", self.name)
        form.addRow("EDL flavour", self.preset)
        form.addRow("Cut mode", self.mode)
        form.addRow("", self.reel)
        form.addRow("", self.eight_bit)
        form.addRow("", self.deinterlace)
        form.addRow("", self.included_only)
        form.addRow(self.problem)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        browse.clicked.connect(self._browse)
        for box in self.formats.values():
            box.toggled.connect(self._enable)
        self.mode.currentTextChanged.connect(self._enable)
        self._enable()

    def chosen(self) -> list[str]:
        return [name for name, box in self.formats.items() if box.isChecked()]

    def request(self) -> ExportRequest:
        """The first ticked format, carrying the others ``together``."""
        folder = Path(self.folder.text()).expanduser()
        name = self.name.text().strip() or f"{self._clip.stem}_highlights"
        requests = [
            ExportRequest(fmt, folder / f"{name}{FORMATS[fmt]}" if FORMATS[fmt] else folder,
                          self.included_only.isChecked(), self.preset.currentText(),
                          self.mode.currentText(), self.reel.isChecked(),
                          self.eight_bit.isChecked(), self.deinterlace.isChecked())
            for fmt in self.chosen() or [next(iter(FORMATS))]]
        return dataclasses.replace(requests[0], together=tuple(requests[1:]))

    def problem_with_folder(self) -> str | None:
        """Why the export cannot go where asked (None when it can); a missing folder is made
        here, so a mistake shows now, not after the cuts have run."""
        if not self.chosen():
            return "Tick at least one format."
        folder = Path(self.folder.text()).expanduser()
        if not self.folder.text().strip():
            return "Choose a folder."
        name = self.name.text().strip()
        if any(c in name for c in "/\\\0") or name in (".", ".."):
            return f"{name!r} is not a plain file name."
        try:
            make_folder(folder, error=ExportError)
        except ExportError as exc:
            return str(exc)
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"Cannot write to {folder}: the folder is read-only or not yours."
        return None

    def accept(self) -> None:
        problem = self.problem_with_folder()
        if problem is not None:
            self.problem.setText(problem)
            self.problem.show()
            return
        save_choices({"folder": str(Path(self.folder.text()).expanduser()),
                      "formats": self.chosen(), "edl_preset": self.preset.currentText(),
                      "cut_mode": self.mode.currentText()})
        super().accept()

    def _enable(self) -> None:
        """Each option only where a ticked format uses it; only exact MP4 cuts re-encode, so
        only they have a bit depth and fields to choose."""
        chosen = self.chosen()
        cuts = "MP4 cuts" in chosen
        self.preset.setEnabled("EDL (CMX 3600)" in chosen)
        self.mode.setEnabled(cuts)
        self.reel.setEnabled(cuts)
        exact = cuts and self.mode.currentText() == "exact"
        self.eight_bit.setEnabled(exact)
        self.deinterlace.setEnabled(exact)
        self.name.setEnabled(any(FORMATS[n] for n in chosen))
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(bool(chosen))

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder.text())
        if chosen:
            self.folder.setText(chosen)
