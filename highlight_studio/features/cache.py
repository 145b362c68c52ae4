"""On-disk feature cache, so a clip analysed once opens instantly the next time.

An entry is one ``.npz`` file named after a key that covers everything the features depend on:
the file's identity (absolute path, size, mtime, and a hash of its first and last MiB, so an
edited or replaced clip never gets stale features), the backbone id (model + weights), the step
and the audio settings. The entry carries a JSON header that describes it; an entry that cannot
be read or does not match its key is a miss and gets replaced.

Since version 2 an entry also holds the motion stream (:mod:`.motion`) and its header the
settings it was computed with (``"motion"``, None when it was not computed). An entry whose
header names motion settings but holds no motion array is a clip that has none (a single
frame). Version 1 entries (before motion) are still read, as entries without motion: a request
for motion recomputes them and replaces them under the same name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

from ..errors import FeatureError, MediaError
from ..fileio import atomic_path

log = logging.getLogger(__name__)

FORMAT = "highlight-studio-features"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # 1: no motion stream
KEY_VERSION = 1  # of the key digest's scheme: changing it orphans every entry on disk
CACHE_ENV = "HIGHLIGHT_STUDIO_CACHE"  # overrides the cache root (tests, portable installs)
_SAMPLE_BYTES = 1 << 20  # hash this much from each end of the file


def default_cache_root() -> Path:
    """``$HIGHLIGHT_STUDIO_CACHE`` if set, else the platform's user cache folder."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("highlight-studio")) / "features"


@dataclass(frozen=True)
class SourceIdentity:
    """What makes a file "the same file" without reading all of it."""

    path: str  # absolute, symlinks resolved
    size: int
    mtime_ns: int
    sample_sha256: str  # over the first and last MiB (the whole file when smaller)

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> SourceIdentity:
        resolved = Path(path).expanduser().resolve()
        try:
            stat = resolved.stat()
            digest = hashlib.sha256()
            with resolved.open("rb") as fh:
                digest.update(fh.read(_SAMPLE_BYTES))
                if stat.st_size > _SAMPLE_BYTES:
                    fh.seek(max(_SAMPLE_BYTES, stat.st_size - _SAMPLE_BYTES))
                    digest.update(fh.read(_SAMPLE_BYTES))
        except OSError as exc:
            raise MediaError(f"Cannot read {resolved}: {exc.strerror or exc}") from exc
        return cls(str(resolved), stat.st_size, stat.st_mtime_ns, digest.hexdigest())


@dataclass(frozen=True)
class CacheKey:
    """Everything cached features depend on, and the digest that names the entry."""

    source: SourceIdentity
    backbone_id: str
    step: float
    audio: dict[str, Any] | None  # the audio feature settings; None when audio is not wanted

    @property
    def digest(self) -> str:
        blob = json.dumps(
            {
                "version": KEY_VERSION,
                "source": self.source.__dict__,
                "backbone_id": self.backbone_id,
                "step": self.step,
                "audio": self.audio,
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def cache_key(path: str | os.PathLike[str], backbone_id: str, step: float,
              audio: dict[str, Any] | None = None) -> CacheKey:
    """Key for the features of ``path`` (reads up to 2 MiB of it)."""
    return CacheKey(SourceIdentity.of(path), backbone_id, float(step), audio)


@dataclass(frozen=True)
class CachedFeatures:
    """The arrays of one cache entry and the header that describes them."""

    visual: np.ndarray  # float32 [N, D]
    audio: np.ndarray | None  # float32 [N, A] (any width), or None: no audio track or none asked
    header: dict[str, Any]
    motion: np.ndarray | None = None  # float32 [N, M]; see motion_settings for why it is None

    @property
    def motion_settings(self) -> dict[str, Any] | None:
        """The motion settings the entry's motion was computed with; None when it was not
        computed (then ``motion`` is None too). Set with ``motion`` None: the clip has none."""
        return self.header.get("motion")


class FeatureCache:
    """A folder of ``<digest>.npz`` feature files."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_root()

    def path_for(self, key: CacheKey) -> Path:
        return self.root / f"{key.digest}.npz"

    def get(self, key: CacheKey) -> CachedFeatures | None:
        """The cached features for ``key``; None on a miss or an unusable entry."""
        path = self.path_for(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                visual = np.asarray(data["visual"])
                audio = np.asarray(data["audio"]) if "audio" in data.files else None
                motion = np.asarray(data["motion"]) if "motion" in data.files else None
            _validate(header, key, visual, audio)
            _validate_motion(header, motion)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            # json.JSONDecodeError is a ValueError. The entry is rewritten after recomputing.
            log.warning("ignoring unusable feature cache entry %s: %s", path, exc)
            return None
        return CachedFeatures(visual, audio, header, motion)

    def put(self, key: CacheKey, visual: np.ndarray, audio: np.ndarray | None,
            motion: np.ndarray | None = None, motion_settings: dict[str, Any] | None = None
            ) -> Path:
        """Store features for ``key`` atomically and return the entry's path.

        ``visual`` is ``[N, D]``; ``audio`` is ``[N, A]`` with any width A (extraction stores
        the compact per-step spectra), or None. ``motion_settings`` (MotionConfig.as_dict) says
        the motion stream was computed: ``motion`` is then ``[N, M]``, or None for a clip that
        has no motion.
        """
        if motion is not None and motion_settings is None:
            raise ValueError("motion features need the settings they were computed with")
        arrays = {"visual": np.ascontiguousarray(visual, dtype=np.float32)}
        if audio is not None:
            arrays["audio"] = np.ascontiguousarray(audio, dtype=np.float32)
        if motion is not None:
            arrays["motion"] = np.ascontiguousarray(motion, dtype=np.float32)
        n_steps = arrays["visual"].shape[0]
        if any(a.ndim != 2 or a.shape[0] != n_steps for a in arrays.values()):
            raise ValueError(f"features must be [N, D] with one row per step, got "
                             f"{ {name: a.shape for name, a in arrays.items()} }")
        header = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "key": key.digest,
            "backbone_id": key.backbone_id,
            "dim": int(arrays["visual"].shape[1]),
            "step": key.step,
            "n_steps": int(n_steps),
            "audio": key.audio if audio is not None else None,
            "audio_dim": int(arrays["audio"].shape[1]) if audio is not None else None,
            "motion": motion_settings,
            "motion_dim": int(arrays["motion"].shape[1]) if motion is not None else None,
            "source": key.source.__dict__,
        }
        arrays["header"] = np.array(json.dumps(header, sort_keys=True))
        path = self.path_for(key)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FeatureError(f"Cannot create the feature cache folder {self.root}: "
                               f"{exc.strerror or exc}") from exc
        with atomic_path(path, error=FeatureError) as tmp, tmp.open("wb") as fh:
            np.savez(fh, **arrays)
        return path


def _validate(header: dict[str, Any], key: CacheKey, visual: np.ndarray,
              audio: np.ndarray | None) -> None:
    """Raise ValueError unless the entry is exactly what ``key`` asks for."""
    expected = {"format": FORMAT, "key": key.digest, "backbone_id": key.backbone_id,
                "step": key.step}
    if header.get("version") not in READABLE_VERSIONS:
        raise ValueError(f"format version {header.get('version')} is not one of "
                         f"{READABLE_VERSIONS}")
    wrong = {name: header.get(name) for name, value in expected.items()
             if header.get(name) != value}
    if wrong:
        raise ValueError(f"header does not match the key: {wrong}")
    if (header.get("audio") is None) != (audio is None):
        raise ValueError("the header and the stored arrays disagree about audio")
    shape = (header["n_steps"], header["dim"])
    if visual.dtype != np.float32 or visual.shape != shape:
        raise ValueError(f"visual is {visual.dtype} {visual.shape}, header says {shape}")
    if audio is not None and (audio.dtype != np.float32
                              or audio.shape != (header["n_steps"], header["audio_dim"])):
        raise ValueError(f"audio is {audio.dtype} {audio.shape}, header says "
                         f"{(header['n_steps'], header['audio_dim'])}")
    if not np.isfinite(visual).all():
        raise ValueError("visual features are not finite")
    if audio is not None and not np.isfinite(audio).all():
        raise ValueError("audio features are not finite")


def _validate_motion(header: dict[str, Any], motion: np.ndarray | None) -> None:
    """Raise ValueError unless the motion array is what the header says (none in version 1)."""
    settings = header.get("motion")
    if settings is not None and not isinstance(settings, dict):
        raise ValueError(f"the motion settings are not a mapping: {settings!r}")
    if motion is None:
        if header.get("motion_dim") is not None:
            raise ValueError("the header names a motion width but the entry holds no motion")
        return
    if settings is None:
        raise ValueError("the entry holds motion but its header names no motion settings")
    shape = (header["n_steps"], header.get("motion_dim"))
    if motion.dtype != np.float32 or motion.shape != shape:
        raise ValueError(f"motion is {motion.dtype} {motion.shape}, header says {shape}")
    if not np.isfinite(motion).all():
        raise ValueError("motion features are not finite")
