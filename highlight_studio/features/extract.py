"""Clip in, features out: decode -> backbone (+ audio), with the cache in front.

Decoding runs in a background thread that feeds batches of frames through a small bounded
queue while the caller's thread runs the backbone, so a clip takes about as long as the slower
of the two rather than their sum. The worker is always stopped and joined, its exceptions are
re-raised in the caller, and cancelling stops both sides within one frame or batch.

With a backbone that may embed from two threads at once (``concurrent_embed``: the ONNX Runtime
CPU one, whose one-thread session runs in the calling thread), the decode thread shares the
model's work instead of waiting beside a busy core: a batch it finds no room for in the queue
(the model is behind) it embeds itself, and once the clip is decoded it embeds what still waits
in the queue. On two cores neither is then left idle while the other works through a backlog,
so a clip takes about (decode + backbone) / cores rather than the slower of the two plus the
queue's tail. Rows are written by step index, so the order does not matter; the features are
the same (each frame goes through the same session either way).

The motion stream (:mod:`.motion`) is computed in the decode thread, step by step, from a small
grey pair the decoder hands over with each frame, so it overlaps the backbone as decoding does.
Frames are scaled to the backbone's input size once, by the decoder (libswscale during the RGB
conversion), and cross the thread boundary in batches. Importing this module loads no torch:
the backbone may be an ONNX Runtime one (:class:`~.onnx_runtime.OnnxFrameBackbone`), and
torch's thread count is only touched where torch is loaded.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..errors import FeatureError
from ..events import Cancelled, CancelToken, Progress, check_cancel
from ..media import MediaInfo, iter_frames, probe, read_audio, step_count
from .audio import AudioFeatureConfig, audio_step_mels, stretch_to
from .cache import CachedFeatures, CacheKey, FeatureCache, cache_key
from .motion import NO_MOTION_NOTE, MotionConfig, MotionStream, frame_size

if TYPE_CHECKING:
    from .visual import Backbone

log = logging.getLogger(__name__)

STAGE = "features"
_QUEUE_BATCHES = 2  # decoded batches waiting for the model: enough to hide jitter, little memory
_POLL_S = 0.1  # how often a blocked side looks at the stop and cancel flags

CPU_SLICE = 8  # frames embedded between cancel checks on a CPU


class FrameEmbedder(Protocol):
    """What extraction needs of a backbone: a torch :class:`~.visual.Backbone` or a torch-free
    :class:`~.onnx_runtime.OnnxFrameBackbone`."""

    id: str
    dim: int
    input_size: tuple[int, int]
    device: str

    def embed(self, frames: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class ClipFeatures:
    """Features of one clip on its step grid: row k describes ``[k*step, (k+1)*step)``."""

    visual: np.ndarray  # float32 [N, D]
    audio: np.ndarray | None  # float32 [N, D] (log-mel resampled to D), None without audio
    step: float
    backbone_id: str
    info: MediaInfo
    motion: np.ndarray | None = None  # float32 [N, M] (see .motion); None: not asked, or none
    motion_note: str | None = None  # why a clip asked for motion has none (for the user)

    @property
    def times(self) -> np.ndarray:
        """Start time in seconds of each step."""
        return np.arange(len(self.visual), dtype=np.float64) * self.step


@dataclass(frozen=True)
class _Batch:
    start: int  # step index of the first frame
    frames: np.ndarray  # uint8 [B, H, W, 3]


@dataclass(frozen=True)
class _Audio:
    mels: np.ndarray | None  # [N, n_mels], None when the clip has no audio


@dataclass(frozen=True)
class _Motion:
    rows: np.ndarray | None  # [N, M], None when the clip has no motion (a single frame)


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_END = object()


class _Prefetcher:
    """Runs ``produce(self)`` in a thread; iterating yields what it puts, in order.

    In the worker, :meth:`put` blocks while the queue is full and raises :class:`Cancelled`
    once ``stop`` is set, so closing never leaves the worker stuck; :meth:`offer` puts only
    where there is room and :meth:`take_back` takes back an item not yet consumed. An exception
    in the worker is re-raised by the iterator; :meth:`close` (also on leaving a ``with``
    block) stops and joins the worker.
    """

    def __init__(self, produce: Callable[[_Prefetcher], None],
                 cancel: CancelToken | None, maxsize: int = _QUEUE_BATCHES) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize)
        self.stop = CancelToken()
        self._cancel = cancel
        self._produce = produce
        self._thread = threading.Thread(target=self._run, name="highlight-decode", daemon=True)
        self._thread.start()

    def put(self, item: object) -> None:
        while True:
            self.stop.raise_if_cancelled()
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def offer(self, item: object) -> bool:
        """Put ``item`` if the queue has room now; False (and nothing put) if it is full."""
        self.stop.raise_if_cancelled()
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            return False
        return True

    def take_back(self) -> object | None:
        """The oldest item the consumer has not taken yet, or None when there is none."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def _run(self) -> None:
        try:
            self._produce(self)
            self.put(_END)
        except Cancelled:
            return  # asked to stop: nobody is waiting for the rest
        except BaseException as exc:  # handed to the caller's thread, which re-raises it
            with contextlib.suppress(Cancelled):
                self.put(_Failed(exc))

    def __iter__(self) -> Iterator[object]:
        while True:
            check_cancel(self._cancel)
            try:
                item = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item

    def close(self) -> None:
        self.stop.cancel()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):  # unblock a worker waiting to put
                self._queue.get(timeout=_POLL_S)
        self._thread.join()

    def __enter__(self) -> _Prefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _embeds_concurrently(backbone: object) -> bool:
    """Whether the decode thread may call ``backbone.embed`` while the caller's thread does
    (a backbone says so with ``concurrent_embed = True``)."""
    return bool(getattr(backbone, "concurrent_embed", False))


class _SharedEmbedding:
    """The decode thread's share of the model's work: it embeds whole batches into the same
    feature rows the caller's thread fills (disjoint rows, so no lock is needed for them) and
    counts what it did, for the caller's progress."""

    def __init__(self, backbone: Backbone | FrameEmbedder, visual: np.ndarray) -> None:
        self._backbone = backbone
        self._visual = visual
        self._lock = threading.Lock()
        self._count = 0

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    def embed(self, batch: _Batch, stop: CancelToken) -> None:
        _embed_into(self._visual, self._backbone, batch, CPU_SLICE, stop.raise_if_cancelled)
        with self._lock:
            self._count += len(batch.frames)


def _embed_into(visual: np.ndarray, backbone: Backbone | FrameEmbedder, batch: _Batch,
                piece: int, check: Callable[[], None]) -> None:
    """Embed ``batch`` into its rows of ``visual`` ``piece`` frames at a time, calling
    ``check`` (which raises to cancel) before each piece."""
    for lo in range(0, len(batch.frames), piece):
        check()
        frames = batch.frames[lo:lo + piece]
        at = batch.start + lo
        visual[at:at + len(frames)] = backbone.embed(frames)


def _cores() -> int:
    """The cores this process may run on (a container or taskset can allow fewer than exist)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores or 1


def decoder_threads(shares_model: bool) -> int | None:
    """FFmpeg's decoding threads beside the model; None leaves FFmpeg its own choice.

    Where the decode thread shares the model's work on at most two cores, both cores are
    busy with decoding or the model anyway, and FFmpeg's frame threads (three on two cores)
    only add their hand-overs: with one decoding thread a 55 s 720p clip's analysis took
    3.16 s / 6.24 CPU s against 3.78 s / 6.89 with frame threads (alternating runs,
    BENCHMARKS.md). With more cores the model has a pool of its own and the decoder keeps its
    frame threads.
    """
    return 1 if shares_model and _cores() <= 2 else None


def model_threads(device: str) -> int | None:
    """Torch threads for the backbone while decoding runs beside it; None leaves torch alone.

    The decoder keeps about one core busy (FFmpeg's own threads plus the scaling), so on a CPU
    the model gets the rest: on a 2-core laptop one thread each, instead of three threads
    fighting over two cores.
    """
    if device != "cpu":
        return None
    return max(1, _cores() - 1)


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Set torch's intra-op thread count for a block and put it back afterwards."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _cached(cache: FeatureCache, key: CacheKey, n_steps: int, dim: int,
            motion: MotionConfig | None) -> CachedFeatures | None:
    """The entry for ``key`` if it fits this clip's step grid (a grid of another length means
    the decoder's step rule changed since: recompute) and holds the motion asked for (an entry
    from before motion, or with other motion settings, is recomputed)."""
    hit = cache.get(key)
    if hit is None or hit.visual.shape != (n_steps, dim):
        return None
    if motion is not None and hit.motion_settings != motion.as_dict():
        return None
    return hit


def _clip_mels(path: Path, n_steps: int, step: float, config: AudioFeatureConfig,
               cancel: CancelToken | None) -> np.ndarray | None:
    """Per-step log-mel spectra of the clip's audio track, None when it has none."""
    samples = read_audio(path, config.sample_rate, cancel)
    return None if samples is None else audio_step_mels(samples, config.sample_rate, n_steps,
                                                        step, config)


def extract_features(
    path: str | Path,
    backbone: Backbone | FrameEmbedder,
    step: float = 0.2,
    cache: FeatureCache | None = None,
    with_audio: bool = True,
    cancel: CancelToken | None = None,
    batch_size: int = 32,
    audio_config: AudioFeatureConfig | None = None,
    motion: MotionConfig | None = None,
    hwaccel: str | None = None,
) -> Iterator[Progress | ClipFeatures]:
    """Yield ``Progress`` (stage "features", done/total in steps) per batch, then ClipFeatures.

    With a ``cache``, features computed before for the same file, backbone, step and audio
    settings are returned at once, and new ones are stored. The visual features of a
    vision-only entry (an analysis) serve a request with audio (training) and the other way
    round: only the audio is computed then. ``with_audio=False`` skips the
    audio track (inference uses vision only); ``audio_config`` defaults to AudioFeatureConfig().
    ``motion`` (e.g. ``motion.DEFAULT_MOTION``) also computes the motion stream, in the decode
    thread; a clip that has none (a single frame) gets ``motion=None`` and a ``motion_note``.
    A cached entry without it (or with other settings) is recomputed and replaced then.
    ``hwaccel`` ("cuda") decodes on the GPU where it can (see ``media.iter_frames``).
    A backbone with ``concurrent_embed`` (ONNX Runtime on the CPU) gets batches of at most
    ``CPU_SLICE`` frames, some of them embedded by the decode thread (see the module docstring).
    On a CPU, a torch backbone's thread count is lowered while the generator runs (see
    model_threads).

    Raises :class:`~highlight_studio.errors.MediaError` for an unreadable clip and
    :class:`~highlight_studio.events.Cancelled` once ``cancel`` is set.
    """
    if step <= 0 or batch_size < 1:
        raise ValueError(f"step and batch_size must be positive, got {step}, {batch_size}")
    audio_config = audio_config or AudioFeatureConfig()
    info = probe(path)
    n_steps = step_count(info.duration, step)
    key = None
    if cache is not None:
        audio_settings = audio_config.as_dict()
        key = cache_key(info.path, backbone.id, step, audio_settings if with_audio else None)
        hit = _cached(cache, key, n_steps, backbone.dim, motion)
        if hit is None:  # the other kind of entry holds the same (costly) visual features
            other = cache_key(info.path, backbone.id, step, None if with_audio
                              else audio_settings)
            hit = _cached(cache, other, n_steps, backbone.dim, motion)
            if hit is not None and with_audio:  # add the (cheap) audio, keep both for next time
                check_cancel(cancel)
                mels = _clip_mels(info.path, n_steps, step, audio_config, cancel)
                cache.put(key, hit.visual, mels, hit.motion, hit.motion_settings)
                hit = CachedFeatures(hit.visual, mels, hit.header, hit.motion)
        if hit is not None:
            yield Progress(STAGE, n_steps, n_steps, "steps", "from cache")
            audio = None if hit.audio is None or not with_audio \
                else stretch_to(hit.audio, backbone.dim)
            yield _result(hit.visual, audio, None if motion is None else hit.motion, motion, step,
                          backbone.id, info)
            return

    visual = np.empty((n_steps, backbone.dim), np.float32)
    # The decode thread's share of the model's work (see the module docstring): counted
    # under a lock, read by the caller's thread for progress.
    shared = _SharedEmbedding(backbone, visual) if _embeds_concurrently(backbone) else None
    if shared is not None:
        batch_size = min(batch_size, CPU_SLICE)  # small batches: a short tail on one core

    def produce(feed: _Prefetcher) -> None:
        width, height = backbone.input_size
        buffer = np.empty((batch_size, height, width, 3), np.uint8)
        filled, start = 0, 0
        flow = None if motion is None else MotionStream(n_steps, motion)
        pair_size = None if motion is None else frame_size(info, motion)

        def hand_over(batch: _Batch) -> None:
            if shared is None:
                feed.put(batch)
            elif not feed.offer(batch):  # the model is behind: embed it here, not wait
                shared.embed(batch, feed.stop)

        # A short first batch: the backbone starts while the decoder fills the next one
        # (the decoder's head start is idle time for the model, once per clip).
        limit = min(batch_size, CPU_SLICE)
        for frame in iter_frames(info.path, step, backbone.input_size, feed.stop,
                                 pair_size=pair_size, hwaccel=hwaccel,
                                 threads=decoder_threads(shared is not None)):
            if filled == 0:
                start = frame.index
            if flow is not None:
                flow.add(frame)
            buffer[filled] = frame.image
            filled += 1
            if filled == limit:
                hand_over(_Batch(start, buffer[:filled]))
                buffer = np.empty_like(buffer)  # the model may still be reading the old one
                filled, limit = 0, batch_size
        if filled:
            hand_over(_Batch(start, buffer[:filled]))
        if shared is not None:  # decoded: help with the batches still waiting for the model
            while (waiting := feed.take_back()) is not None:
                assert isinstance(waiting, _Batch)  # only batches were put so far
                shared.embed(waiting, feed.stop)
        if flow is not None:
            feed.put(_Motion(flow.result()))
        if with_audio:
            feed.put(_Audio(_clip_mels(info.path, n_steps, step, audio_config, feed.stop)))

    check_cancel(cancel)
    yield Progress(STAGE, 0, n_steps, "steps")
    mels: np.ndarray | None = None
    rows: np.ndarray | None = None
    own = reported = 0  # frames embedded in this thread; the progress last reported
    # Only where torch is loaded (a torch backbone, or its preprocessing): an ONNX Runtime
    # session sizes its own pool (onnx_runtime._intra_op_threads).
    threads = model_threads(backbone.device) if "torch" in sys.modules else None
    with _torch_threads(threads), _Prefetcher(produce, cancel) as items:
        for item in items:
            if isinstance(item, _Batch):
                # On a CPU a batch takes a second or more; embedding it in slices with a check
                # between them keeps Cancel under a second. A GPU takes the batch whole.
                piece = CPU_SLICE if backbone.device == "cpu" else len(item.frames)
                _embed_into(visual, backbone, item, piece, lambda: check_cancel(cancel))
                own += len(item.frames)
                reported = own + (shared.count if shared else 0)
                yield Progress(STAGE, reported, n_steps, "steps")
            elif isinstance(item, _Audio):
                mels = item.mels
            elif isinstance(item, _Motion):
                rows = item.rows
    done = own + (shared.count if shared else 0)
    if done != n_steps:  # iter_frames promises one frame per step; anything else is a bug
        raise RuntimeError(f"decoded {done} frames for {n_steps} steps of {info.path}")
    if done != reported:  # the decode thread embedded the last batches
        yield Progress(STAGE, done, n_steps, "steps")
    if cache is not None and key is not None:
        try:  # the compact spectra: stretched again on every load
            cache.put(key, visual, mels, rows, None if motion is None else motion.as_dict())
        except FeatureError as exc:  # a read-only or full cache folder: only a speed-up lost
            log.warning("The features were not cached, so the next analysis of %s extracts "
                        "them again: %s", info.path.name, exc)
    audio = None if mels is None else stretch_to(mels, backbone.dim)
    yield _result(visual, audio, rows, motion, step, backbone.id, info)


def _result(visual: np.ndarray, audio: np.ndarray | None, rows: np.ndarray | None,
            motion: MotionConfig | None, step: float, backbone_id: str, info: MediaInfo
            ) -> ClipFeatures:
    """ClipFeatures, with the note a clip gets when motion was asked for and it has none."""
    note = NO_MOTION_NOTE if motion is not None and rows is None else None
    return ClipFeatures(visual, audio, step, backbone_id, info, rows, note)
