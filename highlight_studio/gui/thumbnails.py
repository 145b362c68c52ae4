"""The thumbnail row under the curve: frames decoded in the background, placed on the time axis.

The visible time range is cut into slots about one thumbnail wide; each slot shows the decoded
frame nearest its centre (a coarser neighbour until its own frame arrives), so zooming in asks
for more frames and shows more detail. One decode job runs at a time; a new view cancels it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, QTimer, Slot

from .. import media
from ..events import CancelToken
from .workers import Job, JobSlot, RetiredJobs

log = logging.getLogger(__name__)
THUMB_HEIGHT = 54  # decoded pixels; the row is drawn at its widget height
BATCH = 4  # frames per decode call: the cancel check granularity
MAX_CACHED = 1500  # decoded thumbnails kept (about 25 MB at 96x54)
FramesAt = Callable[[Path, Sequence[float], tuple[int, int]], list[np.ndarray]]


def slot_times(x0: float, x1: float, n: int) -> np.ndarray:
    """Centres of ``n`` equal slots across ``[x0, x1]``."""
    width = (x1 - x0) / n
    return x0 + (np.arange(n) + 0.5) * width


def decode_job(frames_at: FramesAt, path: Path, times: Sequence[float], size: tuple[int, int]
               ) -> Callable[[CancelToken], Iterator[object]]:
    """A worker job yielding ``[(time, image), ...]`` batches, cancellable between batches."""

    def run(cancel: CancelToken) -> Iterator[object]:
        for i in range(0, len(times), BATCH):
            cancel.raise_if_cancelled()
            chunk = list(times[i:i + BATCH])
            yield list(zip(chunk, frames_at(path, chunk, size), strict=True))

    return run


class ThumbnailStrip(QObject):
    """Fills ``plot`` (x-linked to the curve) with thumbnails of the clip at ``path``."""

    def __init__(self, plot: pg.PlotItem, frames_at: FramesAt | None = None) -> None:
        super().__init__()
        self._plot = plot
        self._frames_at = frames_at or media.frames_at
        self._path: Path | None = None
        self._duration = 0.0
        self._size = (96, THUMB_HEIGHT)
        self._grid = 1.0  # decoded times are snapped to this grid so they can be reused
        self._cache: dict[float, np.ndarray] = {}
        self._items: list[pg.ImageItem] = []
        self._slot = JobSlot(None, self._on_batch, self._on_error, None, self)
        self._slot.ended.connect(self._on_job_ended)
        self._retired = RetiredJobs()
        self._job_times: set[float] = set()  # what the running job was asked for
        self._pending: list[float] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(120)
        self._timer.timeout.connect(self.refresh)
        plot.vb.sigXRangeChanged.connect(self._timer.start)
        plot.vb.sigResized.connect(self._timer.start)

    @property
    def job(self) -> Job | None:
        return self._slot.job

    def cached_count(self) -> int:
        return len(self._cache)

    def is_idle(self) -> bool:
        """Nothing decoding and no layout pending: every visible slot has its own frame."""
        return not self._slot.busy and not self._timer.isActive()

    def busy_threads(self) -> int:
        """Decoding threads still alive, including cancelled ones winding down."""
        job = self._slot.job
        return len(self._retired) + (job is not None and job.is_running())

    def set_clip(self, path: Path, duration: float, width: int, height: int, step: float
                 ) -> None:
        self._drop_job()
        self._path, self._duration = path, duration
        self._size = (max(16, round(THUMB_HEIGHT * width / max(height, 1))), THUMB_HEIGHT)
        self._grid = step
        self._cache.clear()
        self._timer.start()

    def clear(self) -> None:
        self._drop_job()
        self._path = None
        self._cache.clear()
        for item in self._items:
            item.hide()

    def _drop_job(self) -> None:
        """Stop decoding for the current clip without waiting (a new clip is coming)."""
        self._timer.stop()
        self._pending = []
        job = self._slot.release()
        if job is not None:
            self._retired.retire(job)

    def shutdown(self) -> None:
        """Window close: cancel everything and wait for every decoding thread."""
        self.clear()
        self._retired.wait_all()

    @Slot()
    def refresh(self) -> None:
        """Lay out slots for the visible range, draw what is decoded, request the rest."""
        if self._path is None or self._duration <= 0:
            return
        vx0, vx1 = self._plot.vb.viewRange()[0]
        x0, x1 = max(0.0, vx0), min(self._duration, vx1)
        if x1 <= x0:
            return
        px_per_second = self._plot.vb.width() / max(vx1 - vx0, 1e-9)
        thumb_px = max(8.0, self._plot.vb.height() * self._size[0] / self._size[1])
        n = max(1, int((x1 - x0) * px_per_second / thumb_px))
        slot = (x1 - x0) / n
        centres = slot_times(x0, x1, n)
        wanted = sorted({self._snap(t) for t in centres} - self._cache.keys())
        self._draw(centres, slot)
        self._request(wanted)

    def _snap(self, t: float) -> float:
        last = max(0.0, self._duration - 1e-3)
        return round(min(round(t / self._grid) * self._grid, last), 6)

    def _draw(self, centres: np.ndarray, slot: float) -> None:
        keys = np.array(sorted(self._cache))
        while len(self._items) < len(centres):
            item = pg.ImageItem(axisOrder="row-major")
            self._plot.addItem(item)
            self._items.append(item)
        for item, t in zip(self._items, centres, strict=False):
            if len(keys) == 0:
                item.hide()
                continue
            key = float(keys[np.abs(keys - t).argmin()])
            item.setImage(self._cache[key], autoLevels=False, levels=(0, 255))
            item.setRect(QRectF(t - slot / 2, 0.0, slot, 1.0))
            item.show()
        for item in self._items[len(centres):]:
            item.hide()

    def _request(self, times: list[float]) -> None:
        if not times or self._path is None:
            return
        if self._slot.busy:
            if set(times) <= self._job_times:
                return  # the running job will deliver them (batches arrive one by one)
            self._pending = times  # the view moved on: start over when the current job ends
            self._slot.cancel()
            return
        self._job_times = set(times)
        self._slot.start(decode_job(self._frames_at, self._path, times, self._size))

    @Slot(object)
    def _on_batch(self, batch: list[tuple[float, np.ndarray]]) -> None:
        for t, image in batch:
            self._cache[self._snap(t)] = np.ascontiguousarray(image)
        for old in list(self._cache)[:max(0, len(self._cache) - MAX_CACHED)]:
            del self._cache[old]  # oldest first: a long zoom session stays in bounded memory
        self._timer.start()

    @Slot(str, str)
    def _on_error(self, message: str, details: str) -> None:
        # Thumbnails are a convenience: a clip that cannot be decoded here fails loudly in the
        # analysis anyway, so the row stays empty and the reason goes to the log.
        log.warning("thumbnails: %s\n%s", message, details)

    @Slot()
    def _on_job_ended(self) -> None:
        pending, self._pending = self._pending, []
        pending = [t for t in pending if t not in self._cache]
        if pending:
            self._request(pending)
