"""Export: pick a format and a file, write the (included) segments.

JSON and CSV of the segment list are written here; timeline formats come from
``highlight_studio.export`` once it provides writers. Files are written atomically.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
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
from ..fileio import atomic_write_text
from .document import EditSegment

FORMATS = {"JSON segment list": ".json", "CSV segment list": ".csv"}


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


def write_segments(path: Path, clip: Path, model: str, segments: Sequence[EditSegment]) -> None:
    """Write by the file's suffix; raises ExportError with a message for the user."""
    if path.suffix.lower() == ".json":
        text = segments_json(clip, model, segments)
    elif path.suffix.lower() == ".csv":
        text = segments_csv(segments)
    else:
        raise ExportError(f"Cannot export to '{path.suffix}': choose .json or .csv.")
    atomic_write_text(path, text, error=ExportError)


class ExportDialog(QDialog):
    """Asks where and what; the window does the writing so errors reach one error dialog."""

    def __init__(self, clip: Path, folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export highlights")
        self.format = QComboBox()
        self.format.addItems(list(FORMATS))
        self.path = QLineEdit(str(folder / f"{clip.stem}_highlights.json"))
        browse = QPushButton("Browse…")
        self.included_only = QCheckBox("Only segments marked Use")
        self.included_only.setChecked(True)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form = QFormLayout(self)
        form.addRow("Format", self.format)
        form.addRow("File", row)
        form.addRow("", self.included_only)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        browse.clicked.connect(self._browse)
        self.format.currentTextChanged.connect(self._fix_suffix)

    def target(self) -> Path:
        return Path(self.path.text()).expanduser()

    def _fix_suffix(self, name: str) -> None:
        self.path.setText(str(self.target().with_suffix(FORMATS[name])))

    def _browse(self) -> None:
        suffix = FORMATS[self.format.currentText()]
        name, _ = QFileDialog.getSaveFileName(self, "Export to", str(self.target()),
                                              f"{self.format.currentText()} (*{suffix})")
        if name:
            self.path.setText(name)
