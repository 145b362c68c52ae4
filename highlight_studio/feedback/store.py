"""The editor's decisions on one clip, as data: which steps were kept or rejected, with the
step features the learner needs, so a profile can be rebuilt without decoding the clip again.

One ``.npz`` per clip in ``<config>/feedback/``, beside the sessions, named after the clip's
feature-cache key (the file's identity, the backbone and the step), with a JSON header that
describes it. Written atomically; a file that cannot be read or does not describe itself is
treated as no decisions, never as a crash.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

from ..errors import FeedbackError
from ..fileio import atomic_path
from .learner import UNREVIEWED

FORMAT = "highlight-studio-feedback"
VERSION = 1
CONFIG_ENV = "HIGHLIGHT_STUDIO_CONFIG"  # the same override as the window's settings
log = logging.getLogger(__name__)


def feedback_dir() -> Path:
    """``<config>/feedback``: beside the window's per-clip sessions."""
    override = os.environ.get(CONFIG_ENV)
    root = Path(override) if override else Path(platformdirs.user_config_dir("highlight-studio"))
    return root / "feedback"


@dataclass(frozen=True)
class ClipFeedback:
    """The reviewed steps of one clip (only those: unreviewed steps cost nothing to store)."""

    key: str  # the clip's feature-cache digest: its identity, backbone and step
    clip: str  # the clip's file name, for a person reading a profile
    backbone_id: str
    step: float  # seconds per step
    n_steps: int  # steps in the whole clip
    steps: np.ndarray  # int32 [k], ascending: the reviewed steps
    labels: np.ndarray  # int8 [k]: +1 kept, -1 rejected
    features: np.ndarray  # float32 [k, D]: learner.step_features rows of those steps

    @classmethod
    def from_labels(cls, key: str, clip: str, backbone_id: str, step: float,
                    labels: np.ndarray, features: np.ndarray) -> ClipFeedback:
        """From a whole clip's labels [N] (+1, -1, 0) and its step features [N, D]."""
        labels = np.asarray(labels)
        steps = np.flatnonzero(labels != UNREVIEWED).astype(np.int32)
        return cls(key, clip, backbone_id, float(step), int(labels.shape[0]), steps,
                   np.sign(labels[steps]).astype(np.int8),
                   np.ascontiguousarray(np.asarray(features)[steps], dtype=np.float32))

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    @property
    def decisions(self) -> int:
        return int(self.steps.size)

    def dense_labels(self) -> np.ndarray:
        """The labels of every step (+1, -1, 0 for unreviewed), int8 [n_steps]."""
        labels = np.zeros(self.n_steps, dtype=np.int8)
        labels[self.steps] = self.labels
        return labels

    def header(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "key": self.key, "clip": self.clip,
                "backbone_id": self.backbone_id, "step": self.step, "n_steps": self.n_steps,
                "dim": self.dim, "decisions": self.decisions}


def clip_arrays(feedback: ClipFeedback, prefix: str = "") -> dict[str, np.ndarray]:
    return {f"{prefix}steps": feedback.steps, f"{prefix}labels": feedback.labels,
            f"{prefix}features": feedback.features}


def clip_from(header: dict[str, Any], data: Any, prefix: str = "") -> ClipFeedback:
    """Rebuild one clip's feedback from its header and arrays, checking they agree."""
    feedback = ClipFeedback(
        str(header["key"]), str(header["clip"]), str(header["backbone_id"]),
        float(header["step"]), int(header["n_steps"]),
        np.asarray(data[f"{prefix}steps"], dtype=np.int32),
        np.asarray(data[f"{prefix}labels"], dtype=np.int8),
        np.asarray(data[f"{prefix}features"], dtype=np.float32))
    k = feedback.steps.size
    if (feedback.labels.shape != (k,) or feedback.features.shape != (k, int(header["dim"]))
            or not np.isin(feedback.labels, (-1, 1)).all()
            or (k and (feedback.steps.min() < 0 or feedback.steps.max() >= feedback.n_steps))
            or not np.isfinite(feedback.features).all()):
        raise ValueError("the arrays do not match the header")
    return feedback


def feedback_path(key: str, folder: Path | None = None) -> Path:
    return (folder or feedback_dir()) / f"{key}.npz"


def save_feedback(feedback: ClipFeedback, folder: Path | None = None) -> Path:
    """Write one clip's decisions atomically (a clip without decisions removes its file)."""
    path = feedback_path(feedback.key, folder)
    if feedback.decisions == 0:
        path.unlink(missing_ok=True)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, error=FeedbackError, durable=False) as tmp, tmp.open("wb") as fh:
        np.savez(fh, header=np.array(json.dumps(feedback.header())), **clip_arrays(feedback))
    return path


def load_feedback(key: str, folder: Path | None = None) -> ClipFeedback | None:
    """The saved decisions of the clip with this cache key; None when there are none or the
    file is not a readable feedback file of this version (logged, then ignored)."""
    path = feedback_path(key, folder)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            if header.get("format") != FORMAT or header.get("version") != VERSION:
                raise ValueError(f"not a version-{VERSION} feedback file")
            if header.get("key") != key:
                raise ValueError("written for another clip")
            return clip_from(header, data)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("ignoring unreadable decisions %s: %s", path, exc)
        return None
