"""A corpus of videos to a features folder in the benchmark layout, for ``train --features``.

    FEATURES_DIR/visual/<id>.npy   float16 [n_steps, D]   the backbone's features, one per step
    FEATURES_DIR/audio/<id>.npy    float16 [n_steps, D]   log-mel per step (training's audio)
    FEATURES_DIR/audio/no_audio.txt                      ids of clips without an audio track
    FEATURES_DIR/index/<id>.json   one clip's source, steps, fps and whether it has audio
    FEATURES_DIR/features.json     what made them: backbone id, step, sizes, each id's source
    FEATURES_DIR/anno.json         the benchmark index (videos, steps, fps), without labels

The arrays are exactly what training on the videos themselves would use (``extract_features``
with audio), stored as float16 as the benchmark format does. Each clip is computed by an
:class:`ExtractJob` in a worker (a local process or a Ray actor, see :mod:`..cluster`) and
written here, by the one process that drives the batch, atomically and in an order that makes
the visual file the mark of a finished clip: a rerun skips clips whose visual file exists.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cluster import BatchSummary, FileDone, FileFailed, map_files
from ..errors import DatasetError, FeatureError
from ..evaluation.benchmark import NO_AUDIO_LIST
from ..events import CancelToken, Progress
from ..fileio import atomic_path, atomic_write_text

FORMAT_VERSION = 1
DESCRIPTION = "features.json"


@dataclass(frozen=True)
class ExtractSettings:
    """How every clip of a corpus is turned into features (the same for all workers)."""

    backbone: str | None = None  # None: the app's default backbone
    backbone_weights: str | None = None  # a path every worker can read
    step: float = 0.2  # seconds per step
    device: str | None = None  # None: each worker's best (its GPU when it has one)


@dataclass(frozen=True)
class ClipArrays:
    """One clip's features as a worker returns them."""

    visual: np.ndarray  # float16 [N, D]
    audio: np.ndarray | None  # float16 [N, D], None without an audio track
    backbone_id: str
    duration: float
    fps: float
    frames: int


class ExtractJob:
    """The per-file job: the backbone is built once per worker by :meth:`setup`."""

    def __init__(self, settings: ExtractSettings) -> None:
        self.settings = settings
        self._backbone: Any = None

    def __getstate__(self) -> dict[str, Any]:  # a worker gets the settings, not a model
        return {"settings": self.settings, "_backbone": None}

    def setup(self) -> None:
        from .visual import DEFAULT_BACKBONE, create_backbone

        s = self.settings
        self._backbone = create_backbone(s.backbone or DEFAULT_BACKBONE, s.backbone_weights,
                                         s.device)

    def __call__(self, path: str) -> ClipArrays:
        from .extract import ClipFeatures, extract_features

        if self._backbone is None:
            self.setup()
        features = None
        for item in extract_features(path, self._backbone, self.settings.step, cache=None,
                                     with_audio=True):
            if isinstance(item, ClipFeatures):
                features = item
        assert features is not None  # extract_features always ends with its result
        if not len(features.visual):
            raise FeatureError(f"{path} is shorter than one step of {self.settings.step:g} s.")
        info = features.info
        return ClipArrays(features.visual.astype(np.float16),
                          None if features.audio is None else features.audio.astype(np.float16),
                          features.backbone_id, info.duration, float(info.avg_fps),
                          info.frame_count)


def clip_ids(paths: Iterable[str | Path]) -> dict[str, str]:
    """A file name stem per clip, made unique where two folders hold the same name (a short
    hash of the full path is added), so reruns find each clip under the same id."""
    paths = [str(p) for p in paths]
    stems = [Path(p).stem for p in paths]
    ids = {}
    for path, stem in zip(paths, stems, strict=True):
        if stems.count(stem) > 1:
            digest = hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:8]
            stem = f"{stem}-{digest}"
        ids[path] = stem
    return ids


@dataclass(frozen=True)
class CorpusReport:
    """What an extraction did: the batch summary and where the folder is."""

    out: Path
    summary: BatchSummary


class CorpusFolder:
    """The features folder, written by the driving process only.

    Per clip: its audio, a small ``index/<id>.json`` (source, steps, fps, audio or not), then
    its visual file, each atomically; the visual file marks the clip done. The folder-wide
    files (features.json, anno.json, audio/no_audio.txt) are remade from the index at the end
    of every run, so a clip costs the same to write in a corpus of ten or of twenty thousand.
    """

    def __init__(self, out: Path, settings: ExtractSettings) -> None:
        self.out = out
        self.settings = settings
        for sub in ("visual", "audio", "index"):
            (out / sub).mkdir(parents=True, exist_ok=True)
        self.backbone_id = self._check_description()

    def _backbone_name(self) -> str:
        from .visual import DEFAULT_BACKBONE

        return self.settings.backbone or DEFAULT_BACKBONE

    def _check_description(self) -> str | None:
        """The backbone id of an earlier run into this folder (None for a new folder); a
        folder of another backbone or step is refused before any work."""
        data = _description(self.out)
        if data is None:
            return None
        if data.get("backbone") != self._backbone_name():
            raise DatasetError(f"{self.out} holds {data.get('backbone')} features, not "
                               f"{self._backbone_name()} ones; extract into another folder.")
        if data.get("step_seconds") != self.settings.step:
            raise DatasetError(f"{self.out} holds features at {data.get('step_seconds')} s per "
                               f"step, not {self.settings.step:g} s; extract into another "
                               "folder.")
        return data.get("backbone_id")

    def done(self, video_id: str) -> bool:
        return (self.out / "visual" / f"{video_id}.npy").exists()

    def write(self, video_id: str, source: str, clip: ClipArrays) -> None:
        if self.backbone_id not in (None, clip.backbone_id):
            raise DatasetError(f"{self.out} holds {self.backbone_id} features; {source} gave "
                               f"{clip.backbone_id} ones. Extract into another folder.")
        self.backbone_id = clip.backbone_id
        if clip.audio is not None:
            _save_npy(self.out / "audio" / f"{video_id}.npy", clip.audio)
        entry = {"source": source, "n_steps": len(clip.visual), "duration": clip.duration,
                 "fps": clip.fps, "frames": clip.frames, "audio": clip.audio is not None,
                 "backbone_id": clip.backbone_id, "visual_dim": int(clip.visual.shape[1]),
                 "audio_dim": None if clip.audio is None else int(clip.audio.shape[1])}
        atomic_write_text(self.out / "index" / f"{video_id}.json", json.dumps(entry),
                          error=DatasetError)
        _save_npy(self.out / "visual" / f"{video_id}.npy", clip.visual)

    def write_index(self) -> None:
        """features.json, anno.json (no protocol, since there are no labels) and the list of
        silent clips, for every finished clip."""
        entries = {}
        for path in sorted((self.out / "index").glob("*.json")):
            if self.done(path.stem):
                entries[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        silent = [vid for vid, e in entries.items() if not e["audio"]]
        first = next(iter(entries.values()), {})
        description = {
            "format_version": FORMAT_VERSION, "backbone": self._backbone_name(),
            "backbone_id": self.backbone_id, "step_seconds": self.settings.step,
            "visual_dim": first.get("visual_dim"),
            "audio_dim": next((e["audio_dim"] for e in entries.values() if e["audio"]), None),
            "videos": {vid: {"source": e["source"], "duration": e["duration"]}
                       for vid, e in entries.items()}}
        anno = {"name": self.out.name, "steps": f"{self.settings.step:g} s",
                "visual": self.backbone_id or "",
                "audio": "log-mel per step, stretched to the visual width",
                "videos": {vid: {"domain": "", "fps": e["fps"], "frames": e["frames"],
                                 "n_steps": e["n_steps"]} for vid, e in entries.items()}}
        atomic_write_text(self.out / "audio" / NO_AUDIO_LIST, "".join(f"{v}\n" for v in silent),
                          error=DatasetError)
        atomic_write_text(self.out / DESCRIPTION, json.dumps(description, indent=1),
                          error=DatasetError)
        atomic_write_text(self.out / "anno.json", json.dumps(anno, indent=1), error=DatasetError)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path, error=DatasetError) as tmp:
        np.save(tmp, np.ascontiguousarray(array), allow_pickle=False)


def extract_corpus(paths: Iterable[str | Path], out: str | Path, settings: ExtractSettings,
                   *, ray_address: str | None = None, workers: int | None = None,
                   cancel: CancelToken | None = None
                   ) -> Iterator[Progress | FileDone | FileFailed | CorpusReport]:
    """Extract every clip not yet in ``out`` (on a local pool, or on Ray with
    ``ray_address``), yielding :func:`~highlight_studio.cluster.map_files`'s events and then a
    :class:`CorpusReport`. A clip that fails twice is reported and left out."""
    out = Path(out)
    ids = clip_ids(paths)
    folder = CorpusFolder(out, settings)
    summary = None
    gpus = 1.0 if settings.device == "cuda" else 0.0  # one GPU per Ray worker
    for event in map_files(ExtractJob(settings), list(ids), skip=lambda p: folder.done(ids[p]),
                           ray_address=ray_address, workers=workers, worker_gpus=gpus,
                           cancel=cancel):
        if isinstance(event, FileDone) and not event.skipped:
            folder.write(ids[event.path], event.path, event.result)
        if isinstance(event, BatchSummary):
            summary = event
        else:
            yield event
    folder.write_index()
    assert summary is not None  # map_files always ends with its summary
    yield CorpusReport(out, summary)


def read_description(folder: str | Path) -> dict[str, Any] | None:
    """``features.json`` of an extracted folder (None for a benchmark folder without one):
    the backbone id and step a model trained on it records."""
    data = _description(Path(folder))
    if data is None:
        return None
    return {k: data.get(k) for k in ("backbone_id", "step_seconds", "visual_dim", "audio_dim")}


def _description(folder: Path) -> dict[str, Any] | None:
    """The whole ``features.json`` of ``folder``; None when it has none."""
    path = folder / DESCRIPTION
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"Cannot read {path}: {exc}") from exc

