"""Video preview with sound (QtMultimedia): play/pause, frame step, J/K/L shuttle, playing one
segment, and "play highlights only". If QtMultimedia cannot load (no libpulse, no codecs), the
widget shows why instead of a picture, and the rest of the window keeps working.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QRect, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from .timecodes import Clock

log = logging.getLogger(__name__)
MAX_RATE = 4.0
J_STEP_SECONDS = 2.0  # Qt's FFmpeg backend cannot play backwards, so J jumps back instead


def next_highlight_time(t: float, spans: Sequence[tuple[float, float]]) -> float | None:
    """Where "highlights only" playback goes from ``t``: ``t`` itself inside a span, else the
    next span's start, else None (the last highlight is over)."""
    for start, end in spans:
        if t < start:
            return start
        if t < end:
            return t
    return None


class VideoSurface(QWidget):
    """Paints the player's frames itself (from a QVideoSink), letterboxed on black: unlike a
    native video widget this also renders offscreen, so screenshots and grabs show the picture."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = QImage()
        self.frame_time = -1.0  # seconds: when the shown frame is due, -1 before the first
        # (read by docs/screenshots to wait for the frame it asked for)
        self.setMinimumSize(320, 180)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    @Slot(object)
    def show_frame(self, frame: object) -> None:
        image = frame.toImage()  # type: ignore[attr-defined]
        if not image.isNull():
            self.image = image
            self.frame_time = frame.startTime() / 1e6  # type: ignore[attr-defined]
            self.update()

    def clear(self) -> None:
        self.image = QImage()
        self.frame_time = -1.0
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), Qt.GlobalColor.black)
        if not self.image.isNull():
            size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(self.rect().center())
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(target, self.image)
        painter.end()


class Preview(QWidget):
    positionChanged = Signal(float)  # seconds, while playing or after a seek

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.clock = Clock()
        self._duration = 0.0
        self._position = 0.0
        self._spans: tuple[tuple[float, float], ...] = ()
        self._stop_at: float | None = None  # the end of the segment being played
        self.player = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        try:
            from PySide6.QtMultimedia import QAudioOutput, QMediaDevices, QMediaPlayer, QVideoSink
        except ImportError as exc:  # e.g. libpulse.so.0 missing on a bare Linux machine
            log.warning("video preview disabled: %s", exc)
            note = QLabel(f"Video preview unavailable:\n{exc}\n\n"
                          "On Debian/Ubuntu: sudo apt install libpulse0")
            note.setAlignment(Qt.AlignmentFlag.AlignCenter)
            note.setWordWrap(True)
            note.setMinimumSize(320, 180)
            layout.addWidget(note, 1)
            self.video: QWidget = note
        else:
            self.video = VideoSurface(self)
            self.sink = QVideoSink(self)
            self.sink.videoFrameChanged.connect(self.video.show_frame)
            self.player = QMediaPlayer(self)
            # Sound only where there is a device to play it on. Without one (a server, CI) an
            # audio output adds nothing but Qt's audio renderer thread, which can deadlock
            # with the GUI thread: tearing a renderer down calls back into the Python-owned
            # QAudioOutput (needing the GIL) while the GUI thread, holding the GIL inside a
            # player call, waits for the renderer's lock (seen in a full test run, Qt 6.12).
            self.audio = None
            if not QMediaDevices.defaultAudioOutput().isNull():
                self.audio = QAudioOutput(self)
                self.player.setAudioOutput(self.audio)
            else:
                log.info("no audio output device: the preview plays without sound")
            self.player.setVideoSink(self.sink)
            self.player.positionChanged.connect(self._on_position)
            self.player.playbackStateChanged.connect(self._sync_play_button)
            layout.addWidget(self.video, 1)

        bar = QHBoxLayout()
        style = self.style()
        pix = QStyle.StandardPixmap
        self.back_button = QPushButton(style.standardIcon(pix.SP_MediaSeekBackward), "")
        self.play_button = QPushButton(style.standardIcon(pix.SP_MediaPlay), "")
        self.forward_button = QPushButton(style.standardIcon(pix.SP_MediaSeekForward), "")
        self.back_button.setToolTip("Previous frame (Left)")
        self.play_button.setToolTip("Play / pause (Space)")
        self.forward_button.setToolTip("Next frame (Right)")
        self.highlights_only = QCheckBox("Play highlights only")
        self.time_label = QLabel()
        self.time_label.setToolTip("Playhead / clip length, HH:MM:SS:FF at the clip's rate")
        for button in (self.back_button, self.play_button, self.forward_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            bar.addWidget(button)
        bar.addWidget(self.highlights_only)
        bar.addStretch(1)
        bar.addWidget(self.time_label)
        layout.addLayout(bar)
        self.back_button.clicked.connect(lambda: self.step_frames(-1))
        self.forward_button.clicked.connect(lambda: self.step_frames(1))
        self.play_button.clicked.connect(self.toggle_play)
        for button in (self.back_button, self.play_button, self.forward_button):
            button.setEnabled(self.player is not None)
        self._show_time(0.0)

    # --- clip --------------------------------------------------------------------------------
    def load(self, path: Path, duration: float, clock: Clock) -> None:
        self._duration, self.clock = duration, clock
        self._stop_at = None
        if self.player is not None:
            self.player.setSource(QUrl.fromLocalFile(str(path)))
            self.player.pause()  # paused, not stopped: the first frame shows at once
        self._show_time(0.0)

    def unload(self) -> None:
        if self.player is not None:
            # An empty source stops playback too. No stop() first: with an audio output and a
            # video sink, Qt 6.12's FFmpeg backend can deadlock in stop() on a paused clip
            # (reproduced offscreen: about 1 in 30 load/stop cycles hung for good).
            self.player.setSource(QUrl())
            self.video.clear()

    def set_highlights(self, spans: Sequence[tuple[float, float]]) -> None:
        self._spans = tuple(spans)

    # --- transport ---------------------------------------------------------------------------
    def position(self) -> float:
        """The playhead in seconds, kept here too so that marks and seeks work (and read back)
        even when QtMultimedia is missing."""
        return self._position

    def is_playing(self) -> bool:
        return (self.player is not None
                and self.player.playbackState() == self.player.PlaybackState.PlayingState)

    @Slot()
    def toggle_play(self) -> None:
        if self.player is None:
            return
        if self.is_playing():
            self.player.pause()
            return
        self._stop_at = None
        if self.highlights_only.isChecked():
            target = next_highlight_time(self.position(), self._spans)
            if target is None and self._spans:
                target = self._spans[0][0]  # over: start the highlight reel again
            if target is not None:
                self.seek(target)
        self.player.setPlaybackRate(1.0)
        self.player.play()

    def play_span(self, start: float, end: float) -> None:
        """Play ``[start, end)`` once and stop at its end (Enter on a segment)."""
        if self.player is None:
            self.seek(start)
            return
        self.seek(start)
        self._stop_at = end
        self.player.setPlaybackRate(1.0)
        self.player.play()

    def pause(self) -> None:
        self._stop_at = None
        if self.player is not None:
            self.player.pause()
            self.player.setPlaybackRate(1.0)

    def shuttle_forward(self) -> None:
        """L: play; each further press doubles the speed up to MAX_RATE."""
        if self.player is None:
            return
        if self.is_playing():
            self.player.setPlaybackRate(min(MAX_RATE, self.player.playbackRate() * 2.0))
        else:
            self.player.setPlaybackRate(1.0)
            self.player.play()

    def shuttle_back(self) -> None:
        """J: pause and jump back, since reverse playback is not available."""
        self.pause()
        self.seek(self.position() - J_STEP_SECONDS)

    def step_frames(self, frames: int) -> None:
        self.pause()
        self.seek(self.position() + frames / self.clock.fps)

    def seek(self, seconds: float) -> None:
        seconds = min(max(seconds, 0.0), self._duration)
        if self.player is not None:
            self.player.setPosition(round(seconds * 1000))
        self._show_time(seconds)
        self.positionChanged.emit(seconds)

    # --- player feedback ---------------------------------------------------------------------
    @Slot("qint64")
    def _on_position(self, ms: int) -> None:
        t = ms / 1000.0
        if self._stop_at is not None and self.is_playing() and t >= self._stop_at:
            end, self._stop_at = self._stop_at, None
            self.player.pause()  # type: ignore[union-attr]
            self.seek(end)
            return
        if self.highlights_only.isChecked() and self.is_playing():
            target = next_highlight_time(t, self._spans)
            if target is None:
                self.pause()
            elif target > t:
                self.seek(target)
                return
        self._show_time(t)
        self.positionChanged.emit(t)

    @Slot()
    def _sync_play_button(self) -> None:
        icon = (QStyle.StandardPixmap.SP_MediaPause if self.is_playing()
                else QStyle.StandardPixmap.SP_MediaPlay)
        self.play_button.setIcon(self.style().standardIcon(icon))

    def _show_time(self, t: float) -> None:
        self._position = t
        self.time_label.setText(f"{self.clock.label(t)} / {self.clock.label(self._duration)}")
