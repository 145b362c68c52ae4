"""Export: the dialog that asks what and where, and the worker job that writes it.

The formats, their checks and the writing itself are ``export.formats``: the dialog offers one
tick per row of its table, and the job runs its one ``export`` generator on a worker thread
(MP4 cuts take a while and must be cancellable), all ticked formats together, all or nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
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
from ..export.cuts import MODES, CutOptions
from ..export.formats import (
    FORMATS,
    ExportDone,
    ExportOptions,
    Selection,
    Target,
    export,
    find_format,
)
from ..export.timelines import EDL_PRESETS
from ..fileio import atomic_write_text, make_folder
from ..media import MediaInfo
from ..segments import Segment
from .document import EditSegment
from .settings import config_dir

__all__ = ["ExportDialog", "ExportDone", "ExportRequest", "export_job"]


@dataclass(frozen=True)
class ExportRequest:
    format: str  # a key or label of export.formats.FORMATS (the dialog uses labels)
    path: Path  # the file, or the folder for a folder format (MP4 cuts)
    included_only: bool = True  # only segments ticked "Use"
    edl_preset: str = "premiere"  # see export.timelines.EDL_PRESETS
    cut_mode: str = "exact"  # "exact" (frame-accurate re-encode) or "fast" (keyframe copy)
    joined: bool = False  # MP4: also join all cuts into one file (the highlight reel)
    eight_bit: bool = False  # MP4 exact: 8-bit even from a 10-bit source (older players)
    deinterlace: bool = False  # MP4 exact: progressive pictures from an interlaced source
    # further formats written by the same job, all or nothing (the dialog's other ticks)
    together: tuple[ExportRequest, ...] = ()

    @property
    def all(self) -> tuple[ExportRequest, ...]:
        return (self, *self.together)

    def target(self) -> Target:
        """This one format as the export core takes it."""
        cuts = CutOptions(mode=self.cut_mode, joined=self.joined,
                          bit_depth="8" if self.eight_bit else "source",
                          deinterlace=self.deinterlace)
        return Target(self.format, self.path, ExportOptions(self.edl_preset, cuts))


def export_job(request: ExportRequest, info: MediaInfo, model: str,
               segments: Sequence[EditSegment]) -> Callable[[CancelToken], Iterator[object]]:
    """A worker job that writes ``request`` (and the formats it carries ``together``) through
    ``export.formats.export``, as the command does, and yields Progress, then one
    :class:`ExportDone`."""

    def run(cancel: CancelToken) -> Iterator[object]:
        if not segments:
            raise ExportError("There are no segments to export: lower the threshold or tick "
                              "some segments in the list.")
        selection = Selection(info, tuple(Segment(s.start, s.end, s.score) for s in segments),
                              model)
        yield from export(selection, [r.target() for r in request.all], cancel)

    return run


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
        labels = [exporter.label for exporter in FORMATS.values()]
        self.formats = {label: QCheckBox(label) for label in labels}
        ticked = [n for n in choices.get("formats", []) if n in labels] or labels[:1]
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
        self.joined = QCheckBox("Also join the cuts into one highlight reel")
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
        form.addRow("", self.joined)
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
        requests = []
        for label in self.chosen() or [next(iter(self.formats))]:
            exporter = find_format(label)
            requests.append(ExportRequest(
                label, folder if exporter.folder else folder / f"{name}{exporter.suffix}",
                self.included_only.isChecked(), self.preset.currentText(),
                self.mode.currentText(), self.joined.isChecked(), self.eight_bit.isChecked(),
                self.deinterlace.isChecked()))
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
        """Each option only where a ticked format reads it; only exact MP4 cuts re-encode, so
        only they have a bit depth and fields to choose."""
        chosen = [find_format(label) for label in self.chosen()]
        reads = frozenset().union(*(exporter.reads for exporter in chosen))
        cuts = "cuts" in reads
        self.preset.setEnabled("edl_preset" in reads)
        self.mode.setEnabled(cuts)
        self.joined.setEnabled(cuts)
        exact = cuts and self.mode.currentText() == "exact"
        self.eight_bit.setEnabled(exact)
        self.deinterlace.setEnabled(exact)
        self.name.setEnabled(any(not exporter.folder for exporter in chosen))
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(bool(chosen))

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder.text())
        if chosen:
            self.folder.setText(chosen)
