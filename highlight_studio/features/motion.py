"""The motion stream: one fixed-size optical-flow descriptor per analysis step.

For each step the decoder hands over a small grey pair (the step's frame and the next decoded
one, :class:`~highlight_studio.media.FramePair`). OpenCV's DIS optical flow gives the dense
flow between them; a similarity transform fitted robustly to a sample of that flow
(``cv2.estimateAffinePartial2D`` with RANSAC) is the picture's global motion (the camera's
pan, zoom and roll), and what the fit leaves over, the residual flow, is the subjects' own
motion. Speeds are in frame widths per second (the flow divided by the width and by the pair's
interval), so a clip's frame size and frame rate do not change them.

Descriptor layout (``MotionConfig.dim`` floats, 136 with the defaults):

====================  ========================================================================
0, 1                  global shift of the picture's centre, x (right +) and y (down +)
2                     global zoom: log of the scale change per second (content growing +)
3                     global roll: radians per second (clockwise on screen +)
4                     global speed: the length of the shift (columns 0 and 1)
5                     subject speed: mean residual speed over the picture
6                     subject speed, 90th percentile over the picture
7                     subject share: the fraction of the picture whose residual moves
8 ...                 subject histograms: ``grid x grid`` cells, row-major from the top left,
                      each ``bins`` orientation bins (bin b centred on ``b * 360 / bins``
                      degrees, measured from +x towards +y, i.e. clockwise on screen); a value
                      is the cell's residual speed in that direction, summed over the cell and
                      divided by its area
====================  ========================================================================

Residuals under ``noise_px`` pixels per frame count as still (DIS and compression jitter), so
a still clip's descriptor is zero. A clip of a single frame has no pair, hence no motion: its
stream is None and :data:`NO_MOTION_NOTE` says why; models that read motion get zeros then.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import FeatureError
from ..media import FramePair, MediaInfo, SampledFrame

N_GLOBAL = 5  # shift x, shift y, zoom, roll, speed
N_SUBJECT_STATS = 3  # mean speed, 90th percentile, moving share
# DIS presets by name (cv2's constant names). OpenCV is imported where flow is computed, not
# with this module: an analysis whose model reads no motion never loads it (the cold start).
_PRESETS = {"ultrafast": "DISOPTICAL_FLOW_PRESET_ULTRAFAST",
            "fast": "DISOPTICAL_FLOW_PRESET_FAST"}
NO_MOTION_NOTE = ("The clip has a single frame, so it has no motion: its curve comes from the "
                  "picture alone.")


@dataclass(frozen=True)
class MotionConfig:
    """How the motion descriptor is made; caches and checkpoints record it (:meth:`as_dict`)."""

    width: int = 160  # flow is computed on grey frames this wide (height from the aspect)
    grid: int = 4  # grid x grid cells for the subject histograms
    bins: int = 8  # orientation bins per cell
    preset: str = "ultrafast"  # DIS preset: "ultrafast" or "fast"
    # DIS's finest pyramid level: 0 = full width (4x the cost), 2 = the preset's own (a
    # quarter width, 40 px: blind to anything smaller than a fifth of the picture)
    finest_scale: int = 1
    noise_px: float = 0.25  # residual flow under this many pixels per frame counts as still
    fit_stride: int = 4  # the global fit samples the flow every fit_stride pixels
    fit_threshold_px: float = 1.0  # RANSAC: a sample this far from the fit is not the camera's
    # RANSAC's most samplings: enough for 99% confidence with a fifth of the picture the
    # camera's (OpenCV's 2000 cost 2.5x and changed no fit on 100 steps of Big Buck Bunny)
    fit_iterations: int = 200
    version: int = 1  # of the descriptor's definition; bumped when its meaning changes

    def __post_init__(self) -> None:
        if self.preset not in _PRESETS:
            raise FeatureError(f"Unknown optical-flow preset {self.preset!r}; use "
                               f"{' or '.join(_PRESETS)}.")
        if (self.width < 16 or min(self.grid, self.bins, self.fit_stride, self.fit_iterations) < 1
                or self.finest_scale < 0):
            raise FeatureError("The motion config needs width >= 16, grid, bins, fit_stride, "
                               "fit_iterations >= 1 and finest_scale >= 0.")

    @property
    def dim(self) -> int:
        """Width of one step's descriptor."""
        return N_GLOBAL + N_SUBJECT_STATS + self.grid * self.grid * self.bins

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MotionConfig:
        """Rebuild from :meth:`as_dict`; settings this version does not know are refused."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise FeatureError(f"The motion settings have options this version does not "
                               f"know: {', '.join(sorted(unknown))}. Update Highlight Studio.")
        return cls(**data)


DEFAULT_MOTION = MotionConfig()


def frame_size(info: MediaInfo, config: MotionConfig) -> tuple[int, int]:
    """(width, height) of the grey frames the flow runs on: ``config.width`` wide, the
    picture's display aspect, the height even and at least 16 (no cell is empty)."""
    height = round(config.width * info.height / info.display_width / 2) * 2
    return config.width, max(16, height)


def _bin_index(angle: np.ndarray, bins: int) -> np.ndarray:
    """Orientation bin of each angle (radians from +x towards +y), bin 0 centred on 0."""
    turns = angle / (2 * np.pi) * bins + 0.5
    return np.floor(turns).astype(np.int64) % bins


@dataclass(frozen=True)
class _Samples:
    """Where the flow of an h x w frame is read: every ``stride``-th pixel (DIS's flow is no
    finer than its finest pyramid level), with its coordinates and grid cell; made once a clip."""

    shape: tuple[int, int]  # of the frame
    stride: int
    xs: np.ndarray  # float32 [h', w']: frame coordinates of the samples
    ys: np.ndarray
    cells: np.ndarray  # int64 [h' * w']: the row-major grid cell of each sample

    @classmethod
    def of(cls, h: int, w: int, grid: int, stride: int) -> _Samples:
        at_y, at_x = np.arange(stride // 2, h, stride), np.arange(stride // 2, w, stride)
        ys, xs = np.meshgrid(at_y.astype(np.float32), at_x.astype(np.float32), indexing="ij")
        rows, cols = at_y * grid // h, at_x * grid // w
        return cls((h, w), stride, xs, ys, (rows[:, None] * grid + cols[None, :]).ravel())


class MotionStream:
    """Descriptors of one clip's steps, filled from :class:`SampledFrame` in any order.

    Runs in the decode thread (it owns its DIS instance). Steps that show the same decoded
    frame share its pair, and its descriptor is computed once.
    """

    def __init__(self, n_steps: int, config: MotionConfig = DEFAULT_MOTION) -> None:
        self.config = config
        self.rows = np.zeros((n_steps, config.dim), np.float32)
        import cv2

        self._flow = cv2.DISOpticalFlow_create(getattr(cv2, _PRESETS[config.preset]))
        self._flow.setFinestScale(config.finest_scale)
        self._paired = 0
        self._last: tuple[FramePair, np.ndarray] | None = None
        self._samples: _Samples | None = None

    def add(self, frame: SampledFrame) -> None:
        """Describe ``frame``'s step; a step without a pair keeps zeros."""
        pair = frame.pair
        if pair is None:
            return
        if self._last is None or self._last[0] is not pair:
            self._last = (pair, self.describe(pair))
        self.rows[frame.index] = self._last[1]
        self._paired += 1

    def result(self) -> np.ndarray | None:
        """float32 [N, dim], or None when no step had a pair (a single-frame clip)."""
        return self.rows if self._paired else None

    def describe(self, pair: FramePair) -> np.ndarray:
        """The descriptor of one pair (layout in the module docstring)."""
        config = self.config
        full = self._flow.calc(pair.first, pair.second, None)  # [h, w, 2], pixels per frame
        h, w = full.shape[:2]
        if self._samples is None or self._samples.shape != (h, w):
            self._samples = _Samples.of(h, w, config.grid, 2 ** config.finest_scale)
        samples = self._samples
        flow = full[samples.stride // 2::samples.stride, samples.stride // 2::samples.stride]
        xs, ys = samples.xs, samples.ys
        matrix = self._global_fit(flow, xs, ys, max(1, config.fit_stride // samples.stride))
        # The fitted motion at every sample, and what is left: the subjects' own motion.
        fitted_x = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2] - xs
        fitted_y = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2] - ys
        res_x, res_y = flow[..., 0] - fitted_x, flow[..., 1] - fitted_y
        speed = np.hypot(res_x, res_y)
        speed[speed < config.noise_px] = 0.0
        per_second = 1.0 / (w * pair.interval)  # pixels per frame -> frame widths per second

        out = np.zeros(config.dim, np.float32)
        cx, cy = (w - 1) / 2, (h - 1) / 2
        shift_x = matrix[0, 0] * cx + matrix[0, 1] * cy + matrix[0, 2] - cx
        shift_y = matrix[1, 0] * cx + matrix[1, 1] * cy + matrix[1, 2] - cy
        if np.hypot(shift_x, shift_y) >= config.noise_px:  # jitter of a still camera is 0
            out[0], out[1] = shift_x * per_second, shift_y * per_second
        scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
        roll = float(np.arctan2(matrix[1, 0], matrix[0, 0]))
        if abs(scale - 1) * w / 2 >= config.noise_px:  # the picture's edge moves visibly
            out[2] = np.log(scale) / pair.interval
        if abs(roll) * w / 2 >= config.noise_px:
            out[3] = roll / pair.interval
        out[4] = np.hypot(out[0], out[1])
        out[5] = speed.mean() * per_second
        at = int(0.9 * (speed.size - 1))
        out[6] = np.partition(speed.ravel(), at)[at] * per_second  # the 90th percentile
        out[7] = np.count_nonzero(speed) / speed.size

        cell_of = samples.cells
        bins = _bin_index(np.arctan2(res_y, res_x), config.bins)
        sums = np.bincount(cell_of * config.bins + bins.ravel(), weights=speed.ravel(),
                           minlength=config.grid * config.grid * config.bins)
        pixels = np.bincount(cell_of, minlength=config.grid * config.grid)
        histograms = sums.reshape(-1, config.bins) / np.maximum(pixels, 1)[:, None]
        out[N_GLOBAL + N_SUBJECT_STATS:] = histograms.ravel() * per_second
        return out

    def _global_fit(self, flow: np.ndarray, xs: np.ndarray, ys: np.ndarray, s: int
                    ) -> np.ndarray:
        """2x3 similarity matrix (shift, scale, rotation) that carries most of every s-th
        sample where the flow takes it; the median shift when the fit fails."""
        origin = np.stack([xs[s // 2::s, s // 2::s], ys[s // 2::s, s // 2::s]], -1)
        origin = origin.reshape(-1, 2)
        moved = origin + flow[s // 2::s, s // 2::s].reshape(-1, 2)
        matrix = None
        if len(origin) >= 3:
            import cv2

            cv2.setRNGSeed(0)  # RANSAC's samples: the same clip gives the same descriptor
            matrix, _ = cv2.estimateAffinePartial2D(
                origin, moved, method=cv2.RANSAC,
                ransacReprojThreshold=self.config.fit_threshold_px,
                maxIters=self.config.fit_iterations)
        if matrix is None:
            shift = np.median(flow.reshape(-1, 2), axis=0)
            matrix = np.array([[1, 0, shift[0]], [0, 1, shift[1]]], np.float64)
        return matrix


def with_motion(visual: np.ndarray, motion: np.ndarray | None, config: MotionConfig
                ) -> np.ndarray:
    """``[visual, motion]`` per step: what a model that reads motion takes. Zeros stand in for
    the motion of a clip that has none, so it is still scored from its picture."""
    rows = np.zeros((len(visual), config.dim), np.float32) if motion is None else motion
    if rows.shape != (len(visual), config.dim):
        raise FeatureError(f"The motion stream is {rows.shape}, expected "
                           f"{(len(visual), config.dim)} for these settings.")
    return np.concatenate([visual, rows], axis=1).astype(np.float32, copy=False)
