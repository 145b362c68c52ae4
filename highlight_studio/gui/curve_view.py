"""The score curve: pyqtgraph plot with a draggable threshold line, shaded segments whose edges
drag, a playhead, and a thumbnail row sharing the time axis underneath.

The view only draws and reports gestures as signals; the window owns the state. All segments
are one graphics item (:class:`SegmentShading`), so a threshold drag on a 2-hour curve with
hundreds of segments redraws within a frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGraphicsItem, QWidget

from .document import EditSegment
from .segment_shading import SegmentShading

AXIS_WIDTH = 46  # both plots' left axes get this width so their time axes line up exactly
CURVE_PEN = pg.mkPen((60, 140, 255), width=1.5)
THRESHOLD_PEN = pg.mkPen((255, 90, 60), width=2)
PLAYHEAD_PEN = pg.mkPen((240, 240, 240), width=1.5)
# Width 1 (cosmetic): a dashed 1.2-wide pen took a second to stroke a 2-hour curve, 1 takes 60 ms
OVERLAY_PEN = pg.mkPen((180, 180, 180), width=1, style=Qt.PenStyle.DashLine)


class CurveView(pg.GraphicsLayoutWidget):
    """Signals carry seconds on the clip's clock and threshold values in [0, 1]."""

    thresholdDragged = Signal(float)  # while the line moves
    thresholdDragFinished = Signal()
    seekRequested = Signal(float)  # a click on the curve
    segmentEdited = Signal(int, float, float)  # index, new start, new end (drag finished)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._updating = False
        self._duration = 0.0
        self.plot: pg.PlotItem = self.addPlot(row=0, col=0)
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("left", "score")
        self.plot.getAxis("left").setWidth(AXIS_WIDTH)
        self.plot.getAxis("bottom").setStyle(showValues=False)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.setYRange(0.0, 1.02, padding=0)
        self.plot.vb.setLimits(yMin=-0.05, yMax=1.05, xMin=0)
        self.curve = self.plot.plot(pen=CURVE_PEN)
        self.curve.setDownsampling(auto=True, method="peak")
        self.curve.setClipToView(True)
        # Another model's curve of the same clip, drawn under the current one to compare.
        self.overlay = self.plot.plot(pen=OVERLAY_PEN)
        self.overlay.setZValue(-1)
        self.legend = pg.LegendItem(offset=(-10, 10))
        self.legend.setParentItem(self.plot.vb)
        self.legend.setVisible(False)
        self.threshold_line = pg.InfiniteLine(angle=0, movable=True, pen=THRESHOLD_PEN,
                                              bounds=(0.0, 1.0), label="threshold {value:.2f}",
                                              labelOpts={"position": 0.01, "color": "w",
                                                         "anchors": [(0, 1), (0, 1)]})
        self.threshold_line.setZValue(20)
        self.plot.addItem(self.threshold_line)
        self.playhead = pg.InfiniteLine(angle=90, movable=False, pen=PLAYHEAD_PEN)
        self.playhead.setZValue(30)
        self.plot.addItem(self.playhead)
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

        # Shading changes repaint the whole plot; cached as pixmaps, the axes (tick labels,
        # grid) and the 36,000-point curve of a 2-hour clip are blitted instead of redrawn.
        for item in (self.curve.curve, self.plot.getAxis("left"), self.plot.getAxis("bottom"),
                     self.thumbs.getAxis("bottom")):
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.shading.edgeDragged.connect(self.segmentEdited)
        self.threshold_line.sigPositionChanged.connect(self._on_threshold_moved)
        self.threshold_line.sigPositionChangeFinished.connect(self._on_threshold_finished)
        self.scene().sigMouseClicked.connect(self._on_click)

    # --- data in -------------------------------------------------------------------------
    def set_curve(self, times: np.ndarray, scores: np.ndarray, duration: float) -> None:
        self._duration = duration
        self.curve.setData(times, scores)
        self.plot.vb.disableAutoRange()
        self.plot.vb.setLimits(xMax=max(duration, 1e-3))
        self.plot.setXRange(0.0, max(duration, 1e-3), padding=0)

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
        self.playhead.setValue(seconds)

    def set_segments(self, segments: Sequence[EditSegment]) -> None:
        self.shading.set_segments(segments, self._duration)

    def shaded_count(self) -> int:
        return len(self.shading.starts)

    # --- gestures out ----------------------------------------------------------------------
    def _on_threshold_moved(self) -> None:
        if not self._updating:
            self.thresholdDragged.emit(float(self.threshold_line.value()))

    def _on_threshold_finished(self) -> None:
        if not self._updating:
            self.thresholdDragFinished.emit()

    def _on_click(self, event: object) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():  # type: ignore[attr-defined]
            return
        pos = event.scenePos()  # type: ignore[attr-defined]
        for plot in (self.plot, self.thumbs):
            if plot.vb.sceneBoundingRect().contains(pos):
                t = float(plot.vb.mapSceneToView(pos).x())
                self.seekRequested.emit(min(max(t, 0.0), self._duration))
                return
