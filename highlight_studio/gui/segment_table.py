"""The segment list: start, end, duration, mean score, and an include checkbox per segment.

A model over the window's current segment tuple; resetting it is cheap, so a threshold drag
can refresh the table on every move.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from .document import EditSegment
from .workers import format_clock

COLUMNS = ("Use", "Start", "End", "Duration", "Score")
AnyIndex = QModelIndex | QPersistentModelIndex


def format_time(seconds: float) -> str:
    """M:SS.s - tenths matter when trimming highlights."""
    whole = int(seconds)
    return f"{format_clock(whole)}.{int((seconds - whole) * 10) % 10}"


class SegmentModel(QAbstractTableModel):
    includeToggled = Signal(int, bool)

    def __init__(self) -> None:
        super().__init__()
        self._segments: tuple[EditSegment, ...] = ()

    def set_segments(self, segments: Sequence[EditSegment]) -> None:
        self.beginResetModel()
        self._segments = tuple(segments)
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 (Qt signature)
        return 0 if parent.isValid() else len(self._segments)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Vertical:
            return str(section + 1)
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        seg = self._segments[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.CheckStateRole and col == 0:
            return Qt.CheckState.Checked if seg.included else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 1:
                return format_time(seg.start)
            if col == 2:
                return format_time(seg.end)
            if col == 3:
                return f"{seg.duration:.1f} s"
            if col == 4:
                return f"{seg.score:.2f}"
        if role == Qt.ItemDataRole.TextAlignmentRole and col > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        return base | Qt.ItemFlag.ItemIsUserCheckable if index.column() == 0 else base

    def setData(self, index: AnyIndex, value: object,
                role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or index.column() != 0:
            return False
        checked = value in (Qt.CheckState.Checked, Qt.CheckState.Checked.value)
        # The window applies the edit (undoable) and pushes the new tuple back here.
        self.includeToggled.emit(index.row(), checked)
        return True


class SegmentTable(QTableView):
    """Double-clicking a row asks to seek to that segment."""

    segmentActivated = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.segment_model = SegmentModel()
        self.setModel(self.segment_model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setDefaultSectionSize(22)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.doubleClicked.connect(lambda index: self.segmentActivated.emit(index.row()))

    def selected_row(self) -> int | None:
        rows = self.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def select_row(self, row: int) -> None:
        self.selectRow(row)
