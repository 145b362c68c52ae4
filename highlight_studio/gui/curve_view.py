"""The score curve: pyqtgraph plot with a draggable threshold line, shaded segments whose edges
drag, a playhead, in/out marks, and a thumbnail row sharing the time axis underneath.

Gestures, as on an editor's timeline: a click or a drag on the curve (from the playhead line
or anywhere else) scrubs; a drag that starts on a segment's edge trims it instead, even where
the playhead sits on that edge; the wheel zooms the time axis around the pointer, a drag on
the thumbnail row pans, and :meth:`CurveView.fit_all` shows the whole clip again.

The view only draws and reports gestures as signals; the window owns the state. All segments
are one graphics item (:class:`SegmentShading`), so a threshold drag on a 2-hour curve with
hundreds of segments redraws within a frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGraphicsItem, QWidget

from .document import EditSegment
from .segment_shading import SegmentShading
from .segment_table import SCORE_HELP

AXIS_WIDTH = 46  # both plots' left axes get this width so their time axes line up exactly
CURVE_PEN = pg.mkPen((60, 140, 255), width=1.5)
THRESHOLD_PEN = pg.mkPen((255, 90, 60), width=2)
PLAYHEAD_PEN = pg.mkPen((240, 240, 240), width=1.5)
MARK_PENS = {"in": pg.mkPen((90, 220, 120), width=1.5, style=Qt.PenStyle.DashLine),
             "out": pg.mkPen((240, 110, 200), width=1.5, style=Qt.PenStyle.DashLine)}
# Width 1 (cosmetic): a dashed 1.2-wide pen took a second to stroke a 2-hour curve, 1 takes 60 ms
OVERLAY_PEN = pg.mkPen((180, 180, 180), width=1, style=Qt.PenStyle.DashLine)
ZOOM_STEP = 2.0  # one zoom key press halves (or doubles) the visible time
MIN_VISIBLE_SECONDS = 1.0  # the deepest zoom: about a second across the plot
MIN_HEIGHT = 240  # pixels (the thumbnail row takes 96): the curve never collapses under a dock
# Peak thinning keeps each bin's highest and lowest score, so no peak is lost; pyqtgraph's
# default of 5 bins per pixel drew 12,000 points of a 2-hour curve in a 1,100-pixel plot, and
# stroking them was most of a repaint after a decision (2 per pixel: the same outline).
BINS_PER_PIXEL = 2.0


def thin_to_pixels(item: pg.PlotDataItem) -> None:
    """Draw only the visible part of ``item``, peak-thinned to the plot's pixels."""
    item.setDownsampling(auto=True, method="peak")
    item.setClipToView(True)
    item.opts["autoDownsampleFactor"] = BINS_PER_PIXEL  # no setter in pyqtgraph


class ScrubViewBox(pg.ViewBox):
    """The curve's view box: a left drag scrubs (reports the time under the pointer) instead
    of panning; the wheel still zooms the time axis."""

    scrubbed = Signal(float)

    def mouseDragEvent(self, ev: Any, axis: int | None = None) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        self.scrubbed.emit(float(self.mapSceneToView(ev.scenePos()).x()))


class CurveView(pg.GraphicsLayoutWidget):
    """Signals carry seconds on the clip's clock and threshold values in [0, 1]."""

    thresholdDragged = Signal(float)  # while the line moves
    thresholdDragFinished = Signal()
    seekRequested = Signal(float)  # a click or a scrub on the curve
    segmentEdited = Signal(int, float, float)  # index, new start, new end (drag finished)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._updating = False
        self._duration = 0.0
        self.setMinimumHeight(MIN_HEIGHT)
        self.plot: pg.PlotItem = self.addPlot(row=0, col=0, viewBox=ScrubViewBox())
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("left", "highlight score")
        self.plot.getAxis("left").setToolTip(SCORE_HELP.replace("the segment's steps",
                                                                "a segment's steps"))
        self.plot.getAxis("left").setWidth(AXIS_WIDTH)
        self.plot.getAxis("bottom").setStyle(showValues=False)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.setYRange(0.0, 1.02, padding=0)
        self.plot.vb.setLimits(yMin=-0.05, yMax=1.05, xMin=0)
        self.curve = self.plot.plot(pen=CURVE_PEN)
        # Another curve of the same clip, drawn dashed under the current one to compare: the
        # model's own under the adapted one after a decision, or an earlier model's.
        self.overlay = self.plot.plot(pen=OVERLAY_PEN)
        self.overlay.setZValue(-1)
        for item in (self.curve, self.overlay):
            thin_to_pixels(item)
        # Stroked as separate segments, not one path: antialiased (as the app draws), a
        # 1.5-pixel path through a peak-thinned 2-hour curve took 200-300 ms to stroke, on every
        # decision and zoom step; its segments take a few. The pen is opaque, so where they
        # meet shows no seam. (The dashed overlay stays one path: its dashes would restart at
        # every segment.)
        self.curve.curve.setSegmentedLineMode("on")
        self.legend = pg.LegendItem(offset=(-10, 10))
        self.legend.setParentItem(self.plot.vb)
        self.legend.setVisible(False)
        self.threshold_line = pg.InfiniteLine(angle=0, movable=True, pen=THRESHOLD_PEN,
                                              bounds=(0.0, 1.0), label="threshold {value:.2f}",
                                              labelOpts={"position": 0.01, "color": "w",
                                                         "anchors": [(0, 1), (0, 1)]})
        self.threshold_line.setZValue(20)
        self.plot.addItem(self.threshold_line)
        # Not an item of its own to drag: a drag from it scrubs through the view box, and one
        # on a segment edge under it (after a click on a row, say) still trims.
        self.playhead = pg.InfiniteLine(angle=90, movable=False, pen=PLAYHEAD_PEN)
        self.playhead.setZValue(30)
        self.plot.addItem(self.playhead)
        self.marks = {side: pg.InfiniteLine(angle=90, movable=False, pen=pen,
                                            label=side.upper(),
                                            labelOpts={"position": 0.96, "color": pen.color()})
                      for side, pen in MARK_PENS.items()}
        for mark in self.marks.values():
            mark.setZValue(25)
            mark.setVisible(False)
            self.plot.addItem(mark)
        self.shading = SegmentShading()
        self.plot.addItem(self.shading)

        self.thumbs: pg.PlotItem = self.addPlot(row=1, col=0)
        self.thumbs.setMenuEnabled(False)
        self.thumbs.setXLink(self.plot)
        self.thumbs.setMouseEnabled(x=True, y=False)
        self.thumbs.getAxis("left").setWidth(AXIS_WIDTH)
        self.thumbs.getAxis("left").setStyle(showValues=False)
        self.thumbs.getAxis("left").setTicks([])
        self.thumbs.setLabel("bottom", "time", units="s")
        self.thumbs.vb.invertY(True)
        self.thumbs.setYRange(0.0, 1.0, padding=0)
        self.ci.layout.setRowStretchFactor(0, 4)
        self.ci.layout.setRowStretchFactor(1, 1)
        self.thumbs.setFixedHeight(96)
        # On the time axis, not the plots: a tooltip over the curve would pop up all the time.
        self.thumbs.getAxis("bottom").setToolTip(
            "Click or drag the curve to move the playhead · wheel to zoom the time axis · drag "
            "the thumbnails to pan · Ctrl+0 shows the whole clip (F1: every key)")

        # Shading changes repaint the whole plot; cached as pixmaps, the axes (tick labels,
        # grid) and the curves of a 2-hour clip are blitted instead of redrawn. The overlay
        # keeps its pixmap while decisions redraw the adapted curve over it.
        for item in (self.curve.curve, self.overlay.curve, self.plot.getAxis("left"),
                     self.plot.getAxis("bottom"), self.thumbs.getAxis("bottom")):
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.shading.edgeDragged.connect(self.segmentEdited)
        self.threshold_line.sigPositionChanged.connect(self._on_threshold_moved)
        self.threshold_line.sigPositionChangeFinished.connect(self._on_threshold_finished)
        self.plot.vb.scrubbed.connect(self._seek)
        self.scene().sigMouseClicked.connect(self._on_click)

    # --- data in -------------------------------------------------------------------------
    def set_curve(self, times: np.ndarray, scores: np.ndarray, duration: float) -> None:
        self._duration = duration
        self.curve.setData(times, scores)
        self.plot.vb.disableAutoRange()
        end = max(duration, 1e-3)
        self.plot.vb.setLimits(xMax=end, minXRange=min(MIN_VISIBLE_SECONDS, end))
        self.fit_all()

    def clear_curve(self) -> None:
        self.curve.setData([], [])
        self.clear_overlay()
        self.set_segments(())

    def set_overlay(self, times: np.ndarray, scores: np.ndarray, label: str,
                    current_label: str) -> None:
        """Show ``scores`` (an earlier model's curve) dashed behind the current curve."""
        self.overlay.setData(times, scores)
        self.legend.clear()
        self.legend.addItem(self.curve, current_label)
        self.legend.addItem(self.overlay, label)
        self.legend.setVisible(True)

    def clear_overlay(self) -> None:
        self.overlay.setData([], [])
        self.legend.clear()
        self.legend.setVisible(False)

    def set_threshold(self, value: float) -> None:
        self._updating = True
        try:
            self.threshold_line.setValue(value)
        finally:
            self._updating = False

    def set_threshold_enabled(self, enabled: bool) -> None:
        """In best-N-seconds mode the engine ignores the threshold; the line says so."""
        self.threshold_line.setMovable(enabled)
        self.threshold_line.setVisible(enabled)

    def set_playhead(self, seconds: float) -> None:
        """Move the playhead; zoomed in, the view turns the page when it runs off the edge."""
        self.playhead.setValue(seconds)
        (x0, x1), _ = self.plot.vb.viewRange()
        width = x1 - x0
        if not (x0 <= seconds <= x1) and width < self._duration:
            start = min(max(seconds - 0.1 * width, 0.0), self._duration - width)
            self.plot.setXRange(start, start + width, padding=0)

    def set_marks(self, mark_in: float | None, mark_out: float | None) -> None:
        """Show the pending in and out points (None hides one)."""
        for side, value in (("in", mark_in), ("out", mark_out)):
            line = self.marks[side]
            line.setVisible(value is not None)
            if value is not None:
                line.setValue(value)

    def set_segments(self, segments: Sequence[EditSegment]) -> None:
        self.shading.set_segments(segments, self._duration)

    def set_selected(self, rows: Sequence[int]) -> None:
        """Outline the segments selected in the table."""
        self.shading.set_selected(rows)

    # --- zoom ------------------------------------------------------------------------------
    def zoom(self, factor: float) -> None:
        """Show ``1 / factor`` of the time now visible, around the playhead when it is in
        view (else around the middle)."""
        (x0, x1), _ = self.plot.vb.viewRange()
        t = float(self.playhead.value())
        centre = t if x0 <= t <= x1 else (x0 + x1) / 2
        self.plot.vb.scaleBy(x=1.0 / factor, center=(centre, 0.5))

    def fit_all(self) -> None:
        self.plot.setXRange(0.0, max(self._duration, 1e-3), padding=0)

    def visible_range(self) -> tuple[float, float]:
        (x0, x1), _ = self.plot.vb.viewRange()
        return float(x0), float(x1)

    def shaded_count(self) -> int:
        return len(self.shading.starts)

    # --- gestures out ----------------------------------------------------------------------
    def _on_threshold_moved(self) -> None:
        if not self._updating:
            self.thresholdDragged.emit(float(self.threshold_line.value()))

    def _on_threshold_finished(self) -> None:
        if not self._updating:
            self.thresholdDragFinished.emit()

    def _seek(self, t: float) -> None:
        self.seekRequested.emit(min(max(t, 0.0), self._duration))

    def _on_click(self, event: object) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():  # type: ignore[attr-defined]
            return
        pos = event.scenePos()  # type: ignore[attr-defined]
        for plot in (self.plot, self.thumbs):
            if plot.vb.sceneBoundingRect().contains(pos):
                self._seek(float(plot.vb.mapSceneToView(pos).x()))
                return
