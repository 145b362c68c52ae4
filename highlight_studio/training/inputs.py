"""The clips a training run reads: video files found in the given files and folders, and each
clip's duration and audio (or why it cannot be used), which the panel lists and the card
records. No torch: the panel lists clips before any run starts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetError, MediaError
from ..events import CancelToken, Progress, check_cancel
from ..media import VIDEO_SUFFIXES, probe


@dataclass(frozen=True)
class ClipInfo:
    """What the panel lists and the card records about one input clip."""

    path: Path
    duration: float  # seconds
    has_audio: bool
    problem: str = ""  # why the clip cannot be used; empty when it can

    @property
    def usable(self) -> bool:
        return not self.problem


def find_videos(inputs: Iterable[str | Path]) -> list[Path]:
    """Video files given or found (recursively) in the given folders, in a stable order."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES))
        elif item.exists():
            paths.append(item)
        else:
            raise DatasetError(f"{item} does not exist.")
    if not paths:
        raise DatasetError("No video files found in the given inputs.")
    return paths


def survey(paths: Iterable[str | Path], cancel: CancelToken | None = None
           ) -> Iterator[Progress | ClipInfo]:
    """Probe each clip (a worker job): duration and audio, or why it cannot be used."""
    paths = [Path(p) for p in paths]
    for done, path in enumerate(paths):
        check_cancel(cancel)
        yield Progress("probe", done, len(paths), "clips", path.name)
        try:
            info = probe(path)
        except MediaError as exc:
            yield ClipInfo(path, 0.0, False, problem=str(exc))
            continue
        yield ClipInfo(path, info.duration, info.has_audio)
    yield Progress("probe", len(paths), len(paths), "clips")


def total_minutes(clips: Iterable[ClipInfo]) -> float:
    return sum(c.duration for c in clips if c.usable) / 60.0
