"""The keyboard map an editor expects, in one table the window binds and the help dialog lists.

Keys follow NLE habits (space, J/K/L, I/O, arrows); Qt turns "Ctrl" into Cmd on macOS. Undo and
redo work wherever the focus is: application-wide, and ahead of a spin box's own text undo
(:class:`UndoKeysEverywhere`); free-text fields keep theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)


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
    Shortcut("next_segment", ("N", "Alt+Right"), "Next segment: select it, playhead to its start"),
    Shortcut("previous_segment", ("P", "Alt+Left"), "Previous segment"),
    Shortcut("mark_in", ("I",), "In point at the playhead (with an out point: a new segment)"),
    Shortcut("mark_out", ("O",), "Out point at the playhead (with an in point: a new segment)"),
    Shortcut("clear_marks", ("Ctrl+Shift+X",), "Clear the in and out points"),
    Shortcut("delete_segments", ("Delete", "Backspace"), "Delete the selected segments"),
    Shortcut("export_dialog", ("Ctrl+E",), "Export the segments"),
    Shortcut("undo", ("Ctrl+Z",), "Undo a segment edit or a decision"),
    Shortcut("redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo"),
    Shortcut("zoom_in", ("Ctrl+=", "Ctrl++"), "Zoom in on the curve (around the playhead)"),
    Shortcut("zoom_out", ("Ctrl+-",), "Zoom out"),
    Shortcut("zoom_fit", ("Ctrl+0",), "Show the whole clip"),
    Shortcut("toggle_training_panel", ("Ctrl+Shift+T",),
             "Training on your own footage (Advanced): show or hide the panel"),
    Shortcut("show_shortcuts", ("F1", "?"), "This list"),
)
# Bound by the learning panel (gui/feedback_panel.py) to its actions, on the window and in the
# curve's and the list's context menus; listed in the help with the window's own.
FEEDBACK_SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("more_like_this", ("+", "="), "More like this: keep the selected segment or the "
                                           "step under the playhead, lift steps like it"),
    Shortcut("less_like_this", ("-",), "Less like this: reject it, lower steps like it"),
)
APPLICATION_WIDE = frozenset({"undo", "redo"})  # also from a floating dock or a spin box

# Keys a widget handles itself, and mouse gestures: listed in the help, bound by the widgets.
GESTURES: tuple[tuple[str, str], ...] = (
    ("Click a segment", "Playhead to its start, outlined on the curve (Shift/Ctrl+click: "
                        "select several)"),
    ("Enter / double-click", "Play the segment (in the segment list)"),
    ("Click or drag the curve", "Move the playhead (scrub); drag the playhead line too"),
    ("Drag a shaded edge", "Trim the segment"),
    ("Mouse wheel", "Zoom the time axis around the pointer"),
    ("Drag the thumbnails", "Pan when zoomed in"),
)


class UndoKeysEverywhere(QObject):
    """An application event filter: while a spin box has the focus, its text undo would take
    Ctrl+Z (its line edit claims the key before shortcuts run); this lets the window's undo
    and redo have those keys instead. Free-text fields (a model name) keep their own undo."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._keys = [QKeySequence(k) for s in SHORTCUTS if s.name in APPLICATION_WIDE
                      for k in s.keys]

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.ShortcutOverride or not isinstance(event, QKeyEvent):
            return False
        pressed = QKeySequence(event.keyCombination())
        if not any(pressed.matches(k) == QKeySequence.SequenceMatch.ExactMatch
                   for k in self._keys):
            return False
        return not _is_free_text(QApplication.focusWidget())  # True: the shortcut runs


def _is_free_text(widget: QWidget | None) -> bool:
    if isinstance(widget, QTextEdit | QPlainTextEdit):
        return True
    return isinstance(widget, QLineEdit) and not isinstance(widget.parent(), QAbstractSpinBox)


class ShortcutHelp(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        keys = "".join(
            f"<tr><td><b>{' / '.join(s.keys)}</b>&nbsp;&nbsp;</td><td>{s.text}</td></tr>"
            for s in (*SHORTCUTS, *FEEDBACK_SHORTCUTS)
        )
        mouse = "".join(f"<tr><td><b>{what}</b>&nbsp;&nbsp;</td><td>{does}</td></tr>"
                        for what, does in GESTURES)
        label = QLabel(f"<table cellpadding='3'>{keys}"
                       f"<tr><td colspan='2'><br><b>In the list and on the curve</b></td></tr>"
                       f"{mouse}</table>")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(buttons)
