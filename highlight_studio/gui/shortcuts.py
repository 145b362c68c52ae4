"""The keyboard map an editor expects, in one table the window binds and the help dialog lists.

Keys follow NLE habits (space, J/K/L, I/O, arrows); Qt turns "Ctrl" into Cmd on macOS.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget


@dataclass(frozen=True)
class Shortcut:
    name: str  # the window method that runs it
    keys: tuple[str, ...]  # QKeySequence strings, the first is shown in menus
    text: str  # what the help dialog says


SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("open_dialog", ("Ctrl+O",), "Open a clip"),
    Shortcut("toggle_play", ("Space",), "Play / pause"),
    Shortcut("pause", ("K",), "Pause (and back to normal speed)"),
    Shortcut("shuttle_forward", ("L",), "Play; press again for 2x, 4x"),
    Shortcut("shuttle_back", ("J",), "Jump back 2 seconds"),
    Shortcut("frame_back", ("Left",), "Previous frame"),
    Shortcut("frame_forward", ("Right",), "Next frame"),
    Shortcut("mark_in", ("I",), "Set in point: start of the selected segment, or a new mark"),
    Shortcut("mark_out", ("O",), "Set out point: end of the selected segment, or a new segment"),
    Shortcut("export_dialog", ("Ctrl+E",), "Export the segments"),
    Shortcut("undo", ("Ctrl+Z",), "Undo a segment edit"),
    Shortcut("redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo"),
    Shortcut("toggle_training_panel", ("Ctrl+Shift+T",),
             "Training on your own footage (Advanced): show or hide the panel"),
    Shortcut("show_shortcuts", ("F1", "?"), "This list"),
)


class ShortcutHelp(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = "".join(
            f"<tr><td><b>{' / '.join(s.keys)}</b>&nbsp;&nbsp;</td><td>{s.text}</td></tr>"
            for s in SHORTCUTS
        )
        label = QLabel(f"<table cellpadding='3'>{rows}</table>")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(buttons)
