"""Export: the dialog that asks what and where, and the worker job that writes it.

Timelines (EDL, FCPXML, OTIO) and MP4 cuts come from ``highlight_studio.export``, which verifies
every file after writing; a JSON or CSV list of the segments is written here. All formats run
as one job on a worker thread, because MP4 cuts take a while and must be cancellable.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from ..errors import ExportError
from ..events import CancelToken
from ..export.cuts import MODES, CutOptions, CutResult, cut_clips
from ..export.timeline import build_timeline, read_reel_name
from ..export.timelines import EDL_PRESETS, write_edl, write_fcpxml, write_otio
from ..fileio import atomic_write_text
from ..media import MediaInfo
from ..segments import Segment
from .document import EditSegment

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
    """A worker job that writes ``request`` and yields Progress, then one :class:`ExportDone`."""

    def run(cancel: CancelToken) -> Iterator[object]:
        if not segments:
            raise ExportError("There are no segments to export: lower the threshold or tick "
                              "some segments in the list.")
        suffix = FORMATS[request.format]
        if suffix in (".json", ".csv"):
            text = (segments_json(info.path, model, segments) if suffix == ".json"
                    else segments_csv(segments))
            atomic_write_text(request.path, text, error=ExportError, protect=(info.path,))
            yield ExportDone((request.path,), len(segments))
            return
        engine_segments = [Segment(s.start, s.end, s.score) for s in segments]
        with _export_notes() as notes:
            timeline = build_timeline(info, engine_segments, reel=read_reel_name(info.path))
            if suffix == ".edl":
                paths = (write_edl(timeline, request.path, request.edl_preset),)
            elif suffix == ".fcpxml":
                paths = (write_fcpxml(timeline, request.path),)
            elif suffix == ".otio":
                paths = (write_otio(timeline, request.path),)
            else:
                options = CutOptions(mode=request.cut_mode, reel=request.reel,
                                     bit_depth="8" if request.eight_bit else "source")
                written = []
                for event in cut_clips(timeline, info, request.path, options, cancel):
                    if isinstance(event, CutResult):
                        written.append(event.path)
                    else:
                        yield event
                paths = tuple(written)
        yield ExportDone(paths, len(timeline.cuts), tuple(notes))

    return run


class ExportDialog(QDialog):
    """Asks what and where; :meth:`request` holds the answer."""

    def __init__(self, clip: Path, folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export highlights")
        self._clip = clip
        self.format = QComboBox()
        self.format.addItems(list(FORMATS))
        self.path = QLineEdit(str(folder / f"{clip.stem}_highlights.edl"))
        self.path.setMinimumWidth(420)
        browse = QPushButton("Browse…")
        self.included_only = QCheckBox("Only segments ticked Use")
        self.included_only.setChecked(True)
        self.preset = QComboBox()
        self.preset.addItems(list(EDL_PRESETS))
        self.mode = QComboBox()
        self.mode.addItems(list(MODES))
        self.mode.setCurrentText(CutOptions.mode)
        self.mode.setToolTip("exact: re-encoded, frame-accurate; fast: stream copy, cuts move to "
                             "keyframes")
        self.reel = QCheckBox("Also join the cuts into one highlight reel")
        self.eight_bit = QCheckBox("8-bit video, for players without 10-bit H.264")
        self.eight_bit.setToolTip("Exact mode keeps a 10-bit (HDR) source at 10 bits unless "
                                  "this is ticked.")
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form = QFormLayout(self)
        form.addRow("Format", self.format)
        form.addRow("Save to", row)
        form.addRow("EDL flavour", self.preset)
        form.addRow("Cut mode", self.mode)
        form.addRow("", self.reel)
        form.addRow("", self.eight_bit)
        form.addRow("", self.included_only)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        browse.clicked.connect(self._browse)
        self.format.currentTextChanged.connect(self._on_format)
        self.mode.currentTextChanged.connect(self._enable_eight_bit)
        self._on_format(self.format.currentText())

    def request(self) -> ExportRequest:
        return ExportRequest(self.format.currentText(), Path(self.path.text()).expanduser(),
                             self.included_only.isChecked(), self.preset.currentText(),
                             self.mode.currentText(), self.reel.isChecked(),
                             self.eight_bit.isChecked())

    def _on_format(self, name: str) -> None:
        suffix = FORMATS[name]
        current = Path(self.path.text()).expanduser()
        folder = current.parent if current.suffix else current
        if suffix:
            self.path.setText(str(folder / f"{self._clip.stem}_highlights{suffix}"))
        else:
            self.path.setText(str(folder))
        self.preset.setEnabled(suffix == ".edl")
        self.mode.setEnabled(not suffix)
        self.reel.setEnabled(not suffix)
        self._enable_eight_bit()

    def _enable_eight_bit(self) -> None:
        """Only exact MP4 cuts re-encode, so only they have a bit depth to choose."""
        self.eight_bit.setEnabled(not FORMATS[self.format.currentText()]
                                  and self.mode.currentText() == "exact")

    def _browse(self) -> None:
        name = self.format.currentText()
        suffix = FORMATS[name]
        if suffix:
            chosen, _ = QFileDialog.getSaveFileName(self, "Export to", self.path.text(),
                                                    f"{name} (*{suffix})")
        else:
            chosen = QFileDialog.getExistingDirectory(self, "Folder for the MP4 cuts",
                                                      self.path.text())
        if chosen:
            self.path.setText(chosen)
