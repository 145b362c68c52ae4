"""The segment list: an include checkbox, start, end, duration and score per segment, and a line
under it with the totals (in use, and selected).

A model over the open clip's current segment tuple, which the table reads from the window's
:class:`~.document.ClipSession` after each change (:meth:`SegmentTable.follow`). A new tuple
updates the rows in place: only the rows that differ are repainted, rows added or dropped at
the end are inserted or removed, and the view keeps its selection, current row and scroll
position (a reset repainted every visible row and rebuilt the selection: ~17 ms of a decision on
a 2-hour curve). Times are timecode at the clip's rate (:mod:`.timecodes`), formatted once per
span and kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QStyle,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from .document import ClipSession, EditSegment
from .timecodes import Clock

COLUMNS = ("Use", "Start", "End", "Duration", "Score")
SCORE_HELP = ("Score: the mean highlight score of the segment's steps, from 0 to 1. The model "
              "scores every step of the clip (0.2 s with the shipped model); 1 is this clip's "
              "most highlight-like moment and 0 its least, so scores rank moments within one "
              "clip, not across clips.")
HEADER_HELP = (
    "Untick to leave the segment out of the export (it stays in the list)",
    "Where the segment starts, HH:MM:SS:FF on the clip (00:00:00:00 is its first frame)",
    "Where it ends: the first frame after it",
    "How long it is, HH:MM:SS:FF",
    SCORE_HELP,
)
AnyIndex = QModelIndex | QPersistentModelIndex
# Roles as plain ints: the view asks ~10 roles of every visible cell on each repaint, and the
# enum arithmetic in data() and flags() was most of a repaint's cost.
DISPLAY, TOOLTIP, ALIGNMENT, CHECK_STATE = (int(r.value) for r in (
    Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.TextAlignmentRole,
    Qt.ItemDataRole.CheckStateRole))
RIGHT_ALIGNED = int((Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value)
ROW_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
CHECK_FLAGS = ROW_FLAGS | Qt.ItemFlag.ItemIsUserCheckable
TEXT_CACHE = 4096  # spans whose timecodes are kept (cleared beyond, and with a new clock)


class SegmentModel(QAbstractTableModel):
    includeToggled = Signal(int, bool)

    def __init__(self) -> None:
        super().__init__()
        self._segments: tuple[EditSegment, ...] = ()
        self._texts: dict[tuple[float, float], tuple[str, str, str]] = {}
        self.clock = Clock()

    def set_segments(self, segments: Sequence[EditSegment]) -> None:
        """Show ``segments`` in place of the current tuple: rows past the shorter one are
        removed or inserted at the end, and the rows that differ are reported changed (an
        equal tuple changes nothing). Rows are matched by position, as a reset would."""
        new, old = tuple(segments), self._segments
        if new == old:
            return
        if len(new) < len(old):
            self.beginRemoveRows(QModelIndex(), len(new), len(old) - 1)
            self._segments = new
            self.endRemoveRows()
        elif len(new) > len(old):
            self.beginInsertRows(QModelIndex(), len(old), len(new) - 1)
            self._segments = new
            self.endInsertRows()
        else:
            self._segments = new
        changed = [i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b]
        if changed:
            self.dataChanged.emit(self.index(changed[0], 0),
                                  self.index(changed[-1], len(COLUMNS) - 1))

    def set_clock(self, clock: Clock) -> None:
        self.beginResetModel()
        self.clock = clock
        self._texts.clear()
        self.endResetModel()

    def segments(self) -> tuple[EditSegment, ...]:
        return self._segments

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 (Qt signature)
        return 0 if parent.isValid() else len(self._segments)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        horizontal = orientation == Qt.Orientation.Horizontal
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section] if horizontal else str(section + 1)
        if role == Qt.ItemDataRole.ToolTipRole and horizontal:
            return HEADER_HELP[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        role = int(role)
        col = index.column()
        if role == DISPLAY:
            if not col:
                return None
            seg = self._segments[index.row()]
            return f"{seg.score:.2f}" if col == 4 else self._times(seg.start, seg.end)[col - 1]
        if role == CHECK_STATE:
            if col:
                return None
            included = self._segments[index.row()].included
            return Qt.CheckState.Checked if included else Qt.CheckState.Unchecked
        if role == ALIGNMENT:
            return RIGHT_ALIGNED if col else None
        if role == TOOLTIP:
            return self._tooltip(self._segments[index.row()])
        return None

    def _times(self, start: float, end: float) -> tuple[str, str, str]:
        """Start, end and duration as timecode, kept per span: a decision rescores the
        segments but mostly keeps their edges."""
        texts = self._texts.get((start, end))
        if texts is None:
            c = self.clock
            texts = (c.label(start), c.label(end), c.duration(start, end))
            if len(self._texts) >= TEXT_CACHE:
                self._texts.clear()
            self._texts[(start, end)] = texts
        return texts

    def _tooltip(self, seg: EditSegment) -> str:
        c = self.clock
        how = ("set by hand: kept when the options change" if seg.manual
               else "picked by the segment options")
        return (f"{c.label(seg.start)} to {c.label(seg.end)} ({c.duration(seg.start, seg.end)})"
                f", score {seg.score:.2f}; {how}")

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        return CHECK_FLAGS if index.column() == 0 else ROW_FLAGS

    def setData(self, index: AnyIndex, value: object,
                role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or index.column() != 0:
            return False
        checked = value in (Qt.CheckState.Checked, Qt.CheckState.Checked.value)
        # The window applies the edit (undoable) and pushes the new tuple back here.
        self.includeToggled.emit(index.row(), checked)
        return True


class SegmentTable(QTableView):
    """A click (or the arrow keys) on a row asks to go to that segment; Enter or a double
    click asks to play it. Several rows can be selected (Delete removes them all)."""

    segmentChosen = Signal(int)
    playRequested = Signal(int)
    rowsSelected = Signal(list)  # the selected rows, sorted, after every change

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._refreshing = False  # a reset and reselect is not the user choosing a row
        self._session: ClipSession | None = None
        self.segment_model = SegmentModel()
        self.setModel(self.segment_model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setDefaultSectionSize(22)
        # Timecode columns as wide as a label, the score the rest. Measured once from a
        # sample label: sizing to contents would read every row on each threshold move.
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        width = self.fontMetrics().horizontalAdvance("00:00:00;00") + 14
        for col in (1, 2, 3):
            header.resizeSection(col, width)
        # The checkbox column as wide as its title or a checkbox, as sizing it to contents
        # would make it, but measured once: to contents, every change re-measured all rows.
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(0, max(header.sectionSizeHint(0), self._checkbox_width()))
        self.clicked.connect(lambda index: self.segmentChosen.emit(index.row()))
        self.doubleClicked.connect(lambda index: self.playRequested.emit(index.row()))
        selection = self.selectionModel()
        selection.currentRowChanged.connect(self._on_current_row)
        selection.selectionChanged.connect(self._on_selection)

    def _checkbox_width(self) -> int:
        """A checkbox cell's width, as the delegate sizes it (plus the grid line)."""
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        option.features |= QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
        option.checkState = Qt.CheckState.Checked
        size = self.style().sizeFromContents(QStyle.ContentsType.CT_ItemViewItem, option,
                                             QSize(), self)
        return size.width() + (1 if self.showGrid() else 0)

    def follow(self, session: ClipSession) -> None:
        """Show ``session``'s segments after each of its changes, selecting the rows a change
        is about, else those selected before. Follow it after the window's own refresh: the
        curve clears its outlines when its segments change, and the reselect redraws them."""
        self._session = session
        session.observe(self._show_session)

    def _show_session(self, focus: Sequence[int] | None) -> None:
        state = self._session.state if self._session is not None else None
        if state is not None:
            self.set_segments(state.segments, self.selected_rows() if focus is None else focus)

    def set_segments(self, segments: Sequence[EditSegment], keep_rows: Sequence[int]) -> None:
        """Show ``segments`` and select ``keep_rows`` again (those that still exist); with
        none to keep, no row is current either (as after a reset)."""
        self._refreshing = True
        try:
            self.segment_model.set_segments(segments)
            rows = [r for r in keep_rows if r < len(segments)]
            self.select_rows(rows)
            if not rows:
                self.selectionModel().clearCurrentIndex()
        finally:
            self._refreshing = False
        self.rowsSelected.emit(self.selected_rows())

    def selected_row(self) -> int | None:
        rows = self.selected_rows()
        return rows[0] if rows else None

    def selected_rows(self) -> list[int]:
        return sorted(index.row() for index in self.selectionModel().selectedRows())

    def select_row(self, row: int) -> None:
        self.select_rows([row])

    def select_rows(self, rows: Sequence[int]) -> None:
        """Select ``rows`` (the first becomes current) without asking to seek; the selection
        is still reported (``rowsSelected``) so the curve can highlight it."""
        model, selection = self.segment_model, QItemSelection()
        last = model.columnCount() - 1
        for row in rows:
            selection.select(model.index(row, 0), model.index(row, last))
        refreshing, self._refreshing = self._refreshing, True
        try:
            flags = QItemSelectionModel.SelectionFlag
            self.selectionModel().select(selection, flags.ClearAndSelect | flags.Rows)
            if rows:
                self.selectionModel().setCurrentIndex(model.index(rows[0], 1),
                                                      flags.NoUpdate)
                self.scrollTo(model.index(rows[0], 1))
        finally:
            self._refreshing = refreshing
        if not refreshing:
            self.rowsSelected.emit(self.selected_rows())

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.playRequested.emit(self.currentIndex().row())
            return
        super().keyPressEvent(event)

    def _on_current_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not self._refreshing and current.isValid():
            self.segmentChosen.emit(current.row())

    def _on_selection(self, *_: QItemSelection) -> None:
        if not self._refreshing:
            self.rowsSelected.emit(self.selected_rows())


class SegmentPanel(QWidget):
    """The table with a line of totals under it: segments in use and their length, and the
    length of the selected ones."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = SegmentTable()
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setToolTip("Lengths in HH:MM:SS:FF, each segment rounded to whole frames "
                                "as in the table and the exported timelines")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary)
        self.table.rowsSelected.connect(self.show_summary)
        self.show_summary([])

    def show_summary(self, selected: Sequence[int]) -> None:
        model = self.table.segment_model
        segments = model.segments()
        used = [(s.start, s.end) for s in segments if s.included]
        text = (f"{len(used)} of {len(segments)} segments in use: "
                f"{model.clock.total(used)}")
        if selected:
            chosen = [(segments[i].start, segments[i].end) for i in selected
                      if i < len(segments)]
            text += f" · {len(chosen)} selected: {model.clock.total(chosen)}"
        self.summary.setText(text)
