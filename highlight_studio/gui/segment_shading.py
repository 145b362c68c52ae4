"""All segments as one graphics item: shaded spans whose edges drag.

One item per segment (pyqtgraph's LinearRegionItem) costs ~0.3 ms each to update and paint,
which makes a threshold drag on a 2-hour curve (hundreds of segments) stutter; this item keeps
the spans in two arrays, paints them with a few batched calls, and handles edge drags itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPen

from .document import EditSegment

GRAB_PIXELS = 5.0  # how close (screen pixels) the pointer must be to an edge to drag it
Y_SPAN = (-1.0, 2.0)  # scores live in [0, 1]; the shading covers any padding around it
INCLUDED = QColor(255, 170, 0, 70)
EXCLUDED = QColor(128, 128, 128, 45)
EDGE = QColor(255, 170, 0, 170)
SELECTED = QColor(255, 255, 255, 230)  # outline of the segments selected in the table


class SegmentShading(pg.GraphicsObject):
    """Emits ``edgeDragged(index, start, end)`` when a drag of a segment's edge ends."""

    edgeDragged = Signal(int, float, float)

    def __init__(self) -> None:
        super().__init__()
        self.starts = np.zeros(0)
        self.ends = np.zeros(0)
        self.included = np.zeros(0, dtype=bool)
        self.selected = np.zeros(0, dtype=bool)
        self._width = 1.0
        self._drag: tuple[int, int] | None = None  # (segment index, 0 = start / 1 = end)
        self._grab_offset = 0.0  # edge minus pointer at the press: the edge must not jump
        self.setAcceptHoverEvents(True)
        self.setZValue(-10)

    def set_segments(self, segments: Sequence[EditSegment], duration: float) -> None:
        self.prepareGeometryChange()
        self.starts = np.fromiter((s.start for s in segments), float, len(segments))
        self.ends = np.fromiter((s.end for s in segments), float, len(segments))
        self.included = np.fromiter((s.included for s in segments), bool, len(segments))
        self.selected = np.zeros(len(segments), dtype=bool)
        self._width = max(duration, float(self.ends.max()) if len(segments) else 0.0, 1e-3)
        self._drag = None
        self.update()

    def set_selected(self, rows: Sequence[int]) -> None:
        self.selected = np.zeros(len(self.starts), dtype=bool)
        self.selected[[r for r in rows if r < len(self.starts)]] = True
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(0.0, Y_SPAN[0], self._width, Y_SPAN[1] - Y_SPAN[0])

    def paint(self, painter: QPainter, *_: object) -> None:
        view = self.viewRect()  # only spans in the visible time range are drawn
        if view is None or not len(self.starts):
            return
        lo = int(np.searchsorted(self.ends, view.left(), side="left"))
        hi = int(np.searchsorted(self.starts, view.right(), side="right"))
        edge = QPen(EDGE)
        edge.setCosmetic(True)  # one pixel wide at any zoom, so even tiny spans stay visible
        painter.setPen(edge)
        height = Y_SPAN[1] - Y_SPAN[0]
        for flag, colour in ((True, INCLUDED), (False, EXCLUDED)):
            painter.setBrush(QBrush(colour))
            rects = [QRectF(a, Y_SPAN[0], b - a, height)
                     for a, b, inc in zip(self.starts[lo:hi], self.ends[lo:hi],
                                          self.included[lo:hi], strict=True) if inc == flag]
            if rects:
                painter.drawRects(rects)
        chosen = [QRectF(a, Y_SPAN[0], b - a, height)
                  for a, b in zip(self.starts[lo:hi][self.selected[lo:hi]],
                                  self.ends[lo:hi][self.selected[lo:hi]], strict=True)]
        if chosen:
            outline = QPen(SELECTED, 2.5)
            outline.setCosmetic(True)
            painter.setPen(outline)
            painter.setBrush(QBrush(QColor(255, 255, 255, 40)))
            painter.drawRects(chosen)

    # --- edge dragging --------------------------------------------------------------------
    def edge_at(self, x: float) -> tuple[int, int] | None:
        """The edge within GRAB_PIXELS of time ``x``, as (segment index, side)."""
        if not len(self.starts):
            return None
        tolerance = GRAB_PIXELS * (self.pixelWidth() or 0.0)
        best: tuple[float, tuple[int, int]] | None = None
        for side, edges in ((0, self.starts), (1, self.ends)):
            i = int(np.abs(edges - x).argmin())
            distance = abs(edges[i] - x)
            if distance <= tolerance and (best is None or distance < best[0]):
                best = (distance, (i, side))
        return None if best is None else best[1]

    def hoverEvent(self, ev: Any) -> None:
        if ev.isExit():
            self.unsetCursor()
            return
        if self.edge_at(ev.pos().x()) is not None:
            ev.acceptDrags(Qt.MouseButton.LeftButton)
            self.setCursor(Qt.CursorShape.SizeHorCursor)
        else:
            self.unsetCursor()

    def mouseDragEvent(self, ev: Any) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        if ev.isStart():
            down = float(ev.buttonDownPos().x())
            self._drag = self.edge_at(down)
            if self._drag is not None:
                index, side = self._drag
                self._grab_offset = (self.starts, self.ends)[side][index] - down
        if self._drag is None:
            ev.ignore()  # not on an edge: let the plot pan
            return
        ev.accept()
        index, side = self._drag
        x = float(ev.pos().x()) + self._grab_offset
        if side == 0:
            self.starts[index] = min(x, self.ends[index])
        else:
            self.ends[index] = max(x, self.starts[index])
        self.update()
        if ev.isFinish():
            self._drag = None
            self.edgeDragged.emit(index, float(self.starts[index]), float(self.ends[index]))
