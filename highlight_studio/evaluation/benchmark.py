"""Reading a feature-level highlight benchmark folder (layout in shared/benchmarks/FORMAT.md).

Features and labels are read by two separate functions on purpose: training code calls
:func:`read_benchmark_features`, which lists videos from the ``visual/`` folder and never opens
``anno.json``, so no label can leak into unsupervised training. Only evaluation calls
:func:`read_benchmark_annotations`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError

PROTOCOLS = ("yth", "tvsum")
STREAMS = ("visual", "motion")  # the streams a visual input may read (audio never does)
# In audio/: the ids of videos that have no audio track, one per line (a corpus extracted by
# `highlight-studio extract` from clips some of which are silent). They train without audio.
NO_AUDIO_LIST = "no_audio.txt"


@dataclass(frozen=True)
class VideoAnnotation:
    """The ground truth of one video, one entry per step."""

    domain: str
    labels: np.ndarray | None  # yth: int8 [n_steps], 1 highlight, 0 not, -1 unlabelled
    annotator_scores: np.ndarray | None  # tvsum: float32 [n_steps, n_annotators], 1..5
    split: str | None = None  # tvsum's "train" / "val" where anno.json gives one

    @property
    def n_steps(self) -> int:
        truth = self.labels if self.labels is not None else self.annotator_scores
        assert truth is not None
        return int(truth.shape[0])


@dataclass(frozen=True)
class BenchmarkAnnotations:
    """Everything evaluation needs from ``anno.json``: the protocol and each video's truth."""

    name: str
    protocol: str  # "yth" or "tvsum"
    videos: dict[str, VideoAnnotation]

    @property
    def domains(self) -> list[str]:
        return sorted({v.domain for v in self.videos.values()})

    def only_split(self, split: str) -> BenchmarkAnnotations:
        """The videos of one split ("all": every video, as FORMAT.md's protocols read; UMT
        scores TVSum's "val" videos only)."""
        if split == "all":
            return self
        kept = {vid: v for vid, v in self.videos.items() if v.split == split}
        if not kept:
            found = sorted({str(v.split) for v in self.videos.values()})
            raise DatasetError(f"No video of {self.name} is in split {split!r} (splits found: "
                               f"{', '.join(found)}).")
        return BenchmarkAnnotations(self.name, self.protocol, kept)


def _load_npy(path: Path, *, mmap: bool = False) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError as exc:
        raise DatasetError(f"Missing feature file {path}.") from exc
    except (OSError, ValueError) as exc:
        raise DatasetError(f"Cannot read feature file {path}: {exc}") from exc
    if array.ndim != 2 or array.shape[0] == 0:
        raise DatasetError(
            f"{path} holds an array of shape {array.shape}; expected [n_steps, dim] with at "
            "least one step."
        )
    return array


def _feature_files(folder: Path) -> list[Path]:
    """``*.npy`` files, sorted, without hidden ones (macOS leaves ``._<name>.npy`` copies)."""
    return sorted(p for p in folder.glob("*.npy") if not p.name.startswith("."))


def input_streams(visual_inputs: str) -> tuple[str, ...]:
    """The stream folders a model's ``visual_inputs`` ("visual", "visual+motion") reads."""
    streams = tuple(visual_inputs.split("+"))
    unknown = [s for s in streams if s not in STREAMS]
    if unknown or not streams or streams[0] != "visual":
        raise DatasetError(f"Unknown visual inputs {visual_inputs!r}; expected 'visual' or "
                           "'visual+motion'.")
    return streams


def _stream_dir(root: Path, stream: str, visual_inputs: str) -> Path:
    folder = root / stream
    if not folder.is_dir():
        raise DatasetError(f"{root} has no {stream}/ folder, but {visual_inputs!r} inputs need "
                           f"one ({stream}/<video_id>.npy per video). Use a model trained on "
                           "'visual' inputs, or a set with that stream.")
    return folder


def read_model_inputs(folder: str | Path, video_ids: list[str], visual_inputs: str = "visual"
                      ) -> dict[str, np.ndarray]:
    """What a model's visual branch reads (float32 [n_steps, sum of widths]) for ``video_ids``:
    each named stream's file, concatenated per step. Files the list does not name, and the
    audio, are not read, so neither can stop an evaluation."""
    root = Path(folder)
    dirs = [_stream_dir(root, s, visual_inputs) for s in input_streams(visual_inputs)]
    return {vid: _concatenated(dirs, vid) for vid in video_ids}


def _concatenated(dirs: list[Path], video_id: str) -> np.ndarray:
    parts = [_load_npy(d / f"{video_id}.npy").astype(np.float32) for d in dirs]
    for d, part in zip(dirs[1:], parts[1:], strict=True):
        if part.shape[0] != parts[0].shape[0]:
            raise DatasetError(f"Video {video_id}: {parts[0].shape[0]} visual steps but "
                               f"{part.shape[0]} {d.name} steps; every stream has one row per "
                               "step.")
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def read_visual_features(folder: str | Path, video_ids: list[str]) -> dict[str, np.ndarray]:
    """The visual features (float32) of ``video_ids`` only (see :func:`read_model_inputs`)."""
    return read_model_inputs(folder, video_ids, "visual")


def read_motion_features(folder: str | Path, video_ids: list[str]) -> dict[str, np.ndarray]:
    """The motion stream (float32) of ``video_ids``, for the motion baselines."""
    root = Path(folder)
    motion_dir = _stream_dir(root, "motion", "motion")
    return {vid: _concatenated([motion_dir], vid) for vid in video_ids}


def unannotated_feature_files(folder: str | Path, video_ids: list[str]) -> list[str]:
    """Ids with a ``visual/`` file but no annotation (left out of an evaluation, and said)."""
    listed = set(video_ids)
    return [p.stem for p in _feature_files(Path(folder) / "visual") if p.stem not in listed]


def read_benchmark_features(
    folder: str | Path, visual_inputs: str = "visual",
) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """Read every video's (visual input, audio) features as float32, without touching any label.

    Video ids are the ``visual/*.npy`` file names, sorted. The visual input is the streams
    ``visual_inputs`` names, concatenated per step (:func:`read_model_inputs`). Audio is None
    for every video when the set has no ``audio/`` folder; when it has one, each video must
    have an audio file with as many steps as its visual features, unless
    ``audio/no_audio.txt`` lists it as silent.
    """
    root = Path(folder)
    visual_dir, audio_dir = root / "visual", root / "audio"
    if not visual_dir.is_dir():
        raise DatasetError(
            f"{root} is not a benchmark folder: it has no visual/ folder of <video_id>.npy files."
        )
    paths = _feature_files(visual_dir)
    if not paths:
        raise DatasetError(f"{visual_dir} holds no .npy feature files.")
    dirs = [_stream_dir(root, s, visual_inputs) for s in input_streams(visual_inputs)]
    has_audio = audio_dir.is_dir()
    silent = _silent_videos(audio_dir) if has_audio else set()
    features: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for path in paths:
        visual = _concatenated(dirs, path.stem)
        audio = None
        if has_audio and path.stem not in silent:
            audio = _load_npy(audio_dir / path.name).astype(np.float32)
            if audio.shape[0] != visual.shape[0]:
                raise DatasetError(
                    f"Video {path.stem}: {visual.shape[0]} visual steps but {audio.shape[0]} "
                    "audio steps; both feature files must have one row per step."
                )
        features[path.stem] = (visual, audio)
    return features


def _silent_videos(audio_dir: Path) -> set[str]:
    try:
        text = (audio_dir / NO_AUDIO_LIST).read_text(encoding="utf-8")
    except FileNotFoundError:
        return set()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"Cannot read {audio_dir / NO_AUDIO_LIST}: {exc}") from exc
    return {line.strip() for line in text.splitlines() if line.strip()}


def _video_truth(root: Path, protocol: str, video_id: str, entry: dict) -> VideoAnnotation:
    where = f"anno.json, video {video_id}"
    if not isinstance(entry, dict) or "domain" not in entry:
        raise DatasetError(f"{where}: missing its domain.")
    if protocol == "yth":
        if "labels" not in entry:
            raise DatasetError(f"{where}: missing labels (the yth protocol needs them).")
        try:  # read as given: 0.5 must be refused, not truncated to 0
            labels = np.asarray(entry["labels"], dtype=np.float64)
        except (TypeError, ValueError):
            labels = np.zeros((0, 0))
        if labels.ndim != 1 or not np.isin(labels, (-1, 0, 1)).all():
            raise DatasetError(f"{where}: labels must be a list of -1, 0 or 1 per step.")
        labels = labels.astype(np.int8)
        if "segments" in entry and len(entry["segments"]) != len(labels):
            raise DatasetError(f"{where}: {len(entry['segments'])} segments but "
                               f"{len(labels)} labels; there is one of each per step.")
        truth = VideoAnnotation(str(entry["domain"]), labels, None)
    else:
        if "annotators" not in entry:
            raise DatasetError(f"{where}: missing annotators (the tvsum protocol needs them).")
        try:
            scores = np.asarray(entry["annotators"], dtype=np.float32)
        except (TypeError, ValueError):
            scores = np.zeros((0,))
        if scores.ndim != 2 or scores.shape[1] == 0 or not np.isfinite(scores).all():
            raise DatasetError(f"{where}: annotators must be [[score] * n_annotators] per step.")
        split = entry.get("split")
        truth = VideoAnnotation(str(entry["domain"]), None, scores,
                                str(split) if split is not None else None)
    n_steps = truth.n_steps
    if "n_steps" in entry and entry["n_steps"] != n_steps:
        raise DatasetError(f"{where}: n_steps is {entry['n_steps']} but it has {n_steps} labels.")
    visual = _load_npy(root / "visual" / f"{video_id}.npy", mmap=True)
    if visual.shape[0] != n_steps:
        raise DatasetError(
            f"Video {video_id}: {visual.shape[0]} feature steps but {n_steps} labelled steps; "
            "the features and anno.json do not belong together."
        )
    return truth


def _refuse_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """JSON objects whose keys repeat (a video listed twice): the last would silently win."""
    data: dict[str, object] = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"the key {key!r} appears twice")
        data[key] = value
    return data


def read_benchmark_annotations(folder: str | Path) -> BenchmarkAnnotations:
    """Read ``anno.json`` for evaluation and check it against the feature files."""
    root = Path(folder)
    anno_path = root / "anno.json"
    try:
        anno = json.loads(anno_path.read_text(encoding="utf-8"),
                          object_pairs_hook=_refuse_duplicate_keys)
    except FileNotFoundError as exc:
        raise DatasetError(
            f"{root} is not a benchmark folder: anno.json is missing (it holds the protocol "
            "and labels needed to evaluate)."
        ) from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is one
        raise DatasetError(f"Cannot read {anno_path}: {exc}") from exc
    if not isinstance(anno, dict) or not isinstance(anno.get("videos"), dict):
        raise DatasetError(f"{anno_path} has no 'videos' mapping of video id to annotation.")
    protocol = anno.get("protocol")
    if protocol not in PROTOCOLS:
        raise DatasetError(
            f"{anno_path}: unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}."
        )
    if not anno["videos"]:
        raise DatasetError(f"{anno_path} lists no videos.")
    videos = {
        vid: _video_truth(root, protocol, vid, entry)
        for vid, entry in sorted(anno["videos"].items())
    }
    return BenchmarkAnnotations(str(anno.get("name", root.name)), protocol, videos)
