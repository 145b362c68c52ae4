"""The side panel with the engine's segment options: threshold (slider + spin box, kept in sync
with the line on the plot), minimum length, merge gap, pre/post roll, best-N-seconds mode.

It reports every change as a whole new :class:`SegmentOptions`; the window decides what to do
with it and pushes the accepted options back with :meth:`OptionsPanel.show_options`. The
best-N box never offers more than the open clip lasts.
"""

from __future__ import annotations

import dataclasses
import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QSlider,
    QWidget,
)

from ..segments import SegmentOptions
from .segment_table import SCORE_HELP

SLIDER_STEPS = 1000  # slider resolution over [0, 1]
BEST_DEFAULT_SECONDS = 60.0  # best-N's first offer: a one-minute reel...
BEST_DEFAULT_SHARE = 0.25  # ...but never more than a quarter of the clip
HELP = {
    "threshold": "Steps whose highlight score reaches this are picked. " + SCORE_HELP,
    "min_length": "Segments shorter than this (after the rolls and merging) are dropped",
    "merge_gap": "Segments less than this apart (after the rolls) are joined into one",
    "pre_roll": "Added before each segment: a lead-in to cut on",
    "post_roll": "Added after each segment",
    "best": "Instead of a threshold: the highest-scoring moments, as many as fit in this "
            "total length (rolls included)",
}


def best_default(duration: float) -> float:
    """The best-N total first offered for a clip of ``duration`` seconds (whole seconds)."""
    return float(max(1, min(BEST_DEFAULT_SECONDS, round(duration * BEST_DEFAULT_SHARE))))


def _seconds_box(maximum: float, step: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(0.0, maximum)
    box.setSingleStep(step)
    box.setDecimals(1)
    box.setSuffix(" s")
    box.setKeyboardTracking(False)
    return box


class OptionsPanel(QWidget):
    # The new options, and whether this is one step of a continuous drag (merged in undo).
    optionsChanged = Signal(object, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._options = SegmentOptions()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.01)
        self.threshold.setDecimals(3)
        self.threshold.setKeyboardTracking(False)
        self.min_length = _seconds_box(600.0, 0.5)
        self.merge_gap = _seconds_box(600.0, 0.5)
        self.pre_roll = _seconds_box(60.0, 0.5)
        self.post_roll = _seconds_box(60.0, 0.5)
        self.best_mode = QCheckBox("Best")
        self.best_seconds = _seconds_box(24 * 3600.0, 5.0)
        self.best_seconds.setDecimals(0)
        self.best_seconds.setMinimum(1.0)  # the engine wants a positive total
        self.best_seconds.setValue(BEST_DEFAULT_SECONDS)

        row = QHBoxLayout()
        row.addWidget(self.slider, 1)
        row.addWidget(self.threshold)
        best = QHBoxLayout()
        best.addWidget(self.best_mode)
        best.addWidget(self.best_seconds, 1)
        form = QFormLayout(self)
        form.addRow("Threshold", row)
        form.addRow("Min length", self.min_length)
        form.addRow("Merge gap", self.merge_gap)
        form.addRow("Pre-roll", self.pre_roll)
        form.addRow("Post-roll", self.post_roll)
        form.addRow("Total", best)
        for widget, key in ((self.slider, "threshold"), (self.threshold, "threshold"),
                            (self.min_length, "min_length"), (self.merge_gap, "merge_gap"),
                            (self.pre_roll, "pre_roll"), (self.post_roll, "post_roll"),
                            (self.best_mode, "best"), (self.best_seconds, "best")):
            widget.setToolTip(HELP[key])

        self.slider.valueChanged.connect(
            lambda v: self._emit(threshold=v / SLIDER_STEPS, dragging=self.slider.isSliderDown()))
        self.slider.sliderReleased.connect(lambda: self._emit(dragging=False))
        self.threshold.valueChanged.connect(lambda v: self._emit(threshold=v))
        self.min_length.valueChanged.connect(lambda v: self._emit(min_length=v))
        self.merge_gap.valueChanged.connect(lambda v: self._emit(merge_gap=v))
        self.pre_roll.valueChanged.connect(lambda v: self._emit(pre_roll=v))
        self.post_roll.valueChanged.connect(lambda v: self._emit(post_roll=v))
        self.best_mode.toggled.connect(lambda _: self._emit(best_total_seconds=self._best()))
        self.best_seconds.valueChanged.connect(
            lambda _: self._emit(best_total_seconds=self._best()))

    def _best(self) -> float | None:
        return self.best_seconds.value() if self.best_mode.isChecked() else None

    def _emit(self, dragging: bool = False, **change: object) -> None:
        options = dataclasses.replace(self._options, **change)  # type: ignore[arg-type]
        self.optionsChanged.emit(options, dragging)

    def options(self) -> SegmentOptions:
        return self._options

    def set_clip_duration(self, duration: float) -> None:
        """A clip was opened: the best-N box goes no higher than the clip lasts, and until
        best-N mode is on it offers :func:`best_default` for this clip."""
        self.best_seconds.blockSignals(True)
        try:
            self.best_seconds.setMaximum(max(1.0, float(math.ceil(duration))))
            if self._options.best_total_seconds is None:
                self.best_seconds.setValue(best_default(duration))
        finally:
            self.best_seconds.blockSignals(False)

    def show_options(self, options: SegmentOptions) -> None:
        """Show ``options`` without echoing them back as a change."""
        self._options = options
        widgets = (self.slider, self.threshold, self.min_length, self.merge_gap, self.pre_roll,
                   self.post_roll, self.best_mode, self.best_seconds)
        for w in widgets:
            w.blockSignals(True)
        try:
            if not self.slider.isSliderDown():
                self.slider.setValue(round(options.threshold * SLIDER_STEPS))
            self.threshold.setValue(options.threshold)
            self.min_length.setValue(options.min_length)
            self.merge_gap.setValue(options.merge_gap)
            self.pre_roll.setValue(options.pre_roll)
            self.post_roll.setValue(options.post_roll)
            best = options.best_total_seconds
            self.best_mode.setChecked(best is not None)
            if best is not None:
                self.best_seconds.setValue(best)
        finally:
            for w in widgets:
                w.blockSignals(False)
        threshold_mode = options.best_total_seconds is None
        self.slider.setEnabled(threshold_mode)
        self.threshold.setEnabled(threshold_mode)
        self.best_seconds.setEnabled(not threshold_mode)
