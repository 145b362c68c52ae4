"""In-memory training data: one (visual [N, Dv], audio [N, Da] or None) pair per clip, and
random batches of windows cut from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DatasetError
from ..model.clip_readout import joint_norm, orientation, principal_projection, scaled_streams
from ..model.windows import random_window


@dataclass
class WindowBatch:
    """B training windows. ``audio`` holds only the rows in ``audio_rows`` (clips with audio)."""

    visual: torch.Tensor  # [B, W, Dv] float32
    audio: torch.Tensor | None  # [A, W, Da] float32, A = audio_rows.sum(), None if A = 0
    audio_rows: torch.Tensor  # [B] bool
    source: torch.Tensor  # [B, W] int64: clip * max_len + step, unique per original step
    axis_target: torch.Tensor | None = None  # [B, W] float32, only when asked for
    # A shard of a global batch (distributed training): how much more or less than its share
    # of the batch this shard holds of the batch's windows with audio, (A_r / B_r) / (A / B).
    # Its audio terms are weighted by it, so that the ranks' mean loss is the global batch's
    # where the audio windows fall unevenly over the shards. 1 for a whole batch.
    audio_weight: float = 1.0


def axis_targets(visual: np.ndarray, min_norm_spread: float = 1e-3,
                 min_corr: float = 0.05, reference: np.ndarray | None = None) -> np.ndarray:
    """The clip's main axis of change, signed to agree with the feature norm, z-scored
    (float32 [N]). Zeros (the term then skips the clip's windows) where there is no axis
    (see ``principal_projection``) or no trustworthy sign: a norm that varies by less than
    ``min_norm_spread`` of its mean (L2-normalised features, whose norm is rounding noise even
    stored as float16), or an axis whose correlation with the norm is within ``min_corr`` of
    0 (8 of yth-train's 234 clips), where a tiny asymmetry would pick the sign. ``reference``
    replaces the feature norm as what orients the axis (``joint_axis_targets``)."""
    zeros = np.zeros(len(visual), dtype=np.float32)
    projection = principal_projection(visual)
    if projection is None:
        return zeros
    norm = np.linalg.norm(np.asarray(visual, dtype=np.float64), axis=1)
    if reference is None and not _varies(norm, min_norm_spread):
        return zeros
    sign = orientation(projection, norm if reference is None else reference, min_corr)
    if sign == 0:
        return zeros
    # principal_projection returns an axis only with variance, so the std is positive
    return (sign * (projection - projection.mean()) / projection.std()).astype(np.float32)


def _varies(norm: np.ndarray, min_norm_spread: float) -> bool:
    """Whether step norms change by more than ``min_norm_spread`` of their mean over the clip
    (less is rounding noise: L2-normalised features, or an almost still shot's motion)."""
    return bool(np.ptp(norm) > min_norm_spread * norm.mean())


def joint_axis_targets(streams: list[np.ndarray]) -> np.ndarray:
    """The ``joint_axis`` teacher: :func:`axis_targets` of the clip's streams (visual, motion)
    side by side (``scaled_streams``), oriented by their summed z-scored norms."""
    reference = joint_norm(streams)
    if not np.ptp(reference) > 0:
        return np.zeros(len(streams[0]), dtype=np.float32)
    return axis_targets(scaled_streams(streams), reference=reference)


def joint_norm_targets(streams: list[np.ndarray], min_norm_spread: float = 1e-3) -> np.ndarray:
    """The ``joint_norm`` teacher: the streams' step norms, each z-scored over the clip,
    summed, z-scored (zeros where flat). A stream whose norm varies by less than
    ``min_norm_spread`` of its mean adds nothing: z-scoring would blow its rounding noise (an
    almost still shot's motion) up to as much weight as the other stream's real change.
    Held out on yth-train a student of it scores about as well as one of the joint axis
    (0.606 against 0.609), though as a scorer it is far weaker (0.568 against 0.592): what the
    student gains is learning across clips, and this teacher has no sign to take from a
    clip's content."""
    changing = [x for x in streams
                if _varies(np.linalg.norm(np.asarray(x, dtype=np.float64), axis=1),
                           min_norm_spread)]
    reference = joint_norm(changing) if changing else np.zeros(len(streams[0]))
    spread = float(reference.std())
    if not spread > 0:
        return np.zeros(len(streams[0]), dtype=np.float32)
    return ((reference - reference.mean()) / spread).astype(np.float32)


# The teachers that read the visual and motion streams (config.AXIS_TEACHERS but main_axis).
STREAM_TEACHERS = {"joint_axis": joint_axis_targets, "joint_norm": joint_norm_targets}


class FeatureDataset:
    """Clips' feature sequences held in memory as float32 numpy arrays."""

    def __init__(self, clips: Mapping[str, tuple[np.ndarray, np.ndarray | None]],
                 teacher_targets: Mapping[str, np.ndarray] | None = None,
                 axis_teacher: str = "main_axis",
                 stream_widths: tuple[int, ...] | None = None) -> None:
        """``teacher_targets`` (one float32 [N] per clip, named ``axis_teacher``) replace the
        main axis of the visual input as the self-training term's targets. ``stream_widths``:
        the widths of the streams side by side in each visual row (default: one stream)."""
        if not clips:
            raise DatasetError("No clips to train on.")
        self.names: list[str] = []
        self.visual: list[np.ndarray] = []
        self.audio: list[np.ndarray | None] = []
        visual_dims, audio_dims = set(), set()
        for name, (visual, audio) in clips.items():
            visual = np.asarray(visual, dtype=np.float32)
            if visual.ndim != 2 or visual.shape[0] == 0:
                raise DatasetError(f"Clip {name}: visual features must be [steps, dim] with at "
                                   f"least one step, got shape {list(visual.shape)}.")
            if audio is not None:
                audio = np.asarray(audio, dtype=np.float32)
                if audio.ndim != 2 or audio.shape[0] != visual.shape[0]:
                    raise DatasetError(f"Clip {name}: audio features must have one row per "
                                       f"visual step ({visual.shape[0]}), got "
                                       f"{list(audio.shape)}.")
                audio_dims.add(audio.shape[1])
            visual_dims.add(visual.shape[1])
            self.names.append(name)
            self.visual.append(visual)
            self.audio.append(audio)
        if len(visual_dims) != 1 or len(audio_dims) > 1:
            raise DatasetError(f"Clips disagree on feature sizes (visual {sorted(visual_dims)}, "
                               f"audio {sorted(audio_dims)}); were they made by one backbone?")
        self.visual_dim = visual_dims.pop()
        self.audio_dim: int | None = audio_dims.pop() if audio_dims else None
        self._max_len = max(len(v) for v in self.visual)
        self._axis: dict[int, np.ndarray] = {}  # clip -> axis_targets, made on first use
        self.axis_teacher = axis_teacher
        # Widths of the streams side by side in each visual row (visual, then motion): the
        # ridge axis head normalises each on its own (training.ridge_head).
        self.stream_widths: tuple[int, ...] = stream_widths or (self.visual_dim,)
        if sum(self.stream_widths) != self.visual_dim:
            raise DatasetError(f"Streams of widths {self.stream_widths} do not make the "
                               f"{self.visual_dim}-wide visual rows.")
        if teacher_targets is not None:
            for i, name in enumerate(self.names):
                target = np.asarray(teacher_targets[name], dtype=np.float32)
                if target.shape != (len(self.visual[i]),):
                    raise DatasetError(f"Clip {name}: {len(target)} teacher targets for "
                                       f"{len(self.visual[i])} steps.")
                self._axis[i] = target

    @classmethod
    def from_benchmark(cls, folder: str | Path, visual_inputs: str = "visual",
                       axis_teacher: str = "main_axis") -> FeatureDataset:
        """Features of a benchmark-format folder (never its labels); the visual input is the
        streams ``visual_inputs`` names, side by side. The ``joint_axis`` and ``joint_norm``
        teachers read the visual and motion streams, whatever the input."""
        from ..evaluation.benchmark import (
            read_benchmark_features,
            read_model_inputs,
            read_motion_features,
        )

        clips = read_benchmark_features(folder, visual_inputs)
        names = list(clips)
        widths = None
        if visual_inputs == "visual+motion":
            motion_width = read_motion_features(folder, names[:1])[names[0]].shape[1]
            widths = (clips[names[0]][0].shape[1] - motion_width, motion_width)
        if axis_teacher == "main_axis":
            return cls(clips, stream_widths=widths)
        visual = read_model_inputs(folder, names, "visual")
        motion = read_motion_features(folder, names)
        teacher = STREAM_TEACHERS[axis_teacher]
        targets = {n: teacher([visual[n], motion[n]]) for n in names}
        return cls(clips, targets, axis_teacher, widths)

    def __len__(self) -> int:
        return len(self.visual)

    def summary(self) -> dict[str, Any]:
        """What a checkpoint records about the data it was trained on."""
        lengths = [len(v) for v in self.visual]
        return {"clips": len(self), "steps": int(sum(lengths)),
                "clips_with_audio": sum(a is not None for a in self.audio),
                "median_steps": float(np.median(lengths)),
                "visual_dim": self.visual_dim, "audio_dim": self.audio_dim,
                "names": [Path(n).name for n in self.names],
                "lengths": lengths, "audio": [a is not None for a in self.audio]}

    def axis_target(self, clip: int) -> np.ndarray:
        """``axis_targets`` of one clip, computed once (a PCA of the whole clip)."""
        if clip not in self._axis:
            self._axis[clip] = axis_targets(self.visual[clip])
        return self._axis[clip]

    def sample(self, rng: np.random.Generator, batch_size: int, window: int,
               with_axis: bool = False, rows: slice | None = None) -> WindowBatch:
        """``batch_size`` windows of random clips at random offsets (see ``random_window``),
        with each step's ``axis_targets`` when ``with_axis`` (no extra random draws).

        ``rows`` keeps only those windows of the batch (a distributed run's shard): the whole
        batch is still drawn, so every rank's generator stays in step with one process's."""
        clips = rng.integers(0, len(self), size=batch_size)
        picks = [(int(clip), random_window(len(self.visual[clip]), window, rng))
                 for clip in clips]
        with_audio = [self.audio[clip] is not None for clip, _ in picks]
        audio_weight = 1.0
        if rows is not None:
            picks, kept = picks[rows], with_audio[rows]
            if any(with_audio):
                audio_weight = (sum(kept) / len(kept)) / (sum(with_audio) / batch_size)
        visual, audio, source, axis = [], [], [], []
        for clip, idx in picks:
            visual.append(self.visual[clip][idx])
            if with_axis:
                axis.append(self.axis_target(clip)[idx])
            clip_audio = self.audio[clip]
            if clip_audio is not None:
                audio.append(clip_audio[idx])
            source.append(clip * self._max_len + idx)
        return WindowBatch(
            visual=torch.from_numpy(np.stack(visual)),
            audio=torch.from_numpy(np.stack(audio)) if audio else None,
            audio_rows=torch.tensor([self.audio[c] is not None for c, _ in picks],
                                    dtype=torch.bool),
            source=torch.from_numpy(np.stack(source)),
            axis_target=torch.from_numpy(np.stack(axis)) if with_axis else None,
            audio_weight=audio_weight,
        )
