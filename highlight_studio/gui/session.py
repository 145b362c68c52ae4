"""One session file per clip: the model last used on it and, per model, the segment options
and the edited segment list, so reopening a clip (or going back to a model compared on it)
restores the work instead of recomputing it from defaults.

Files live in ``<config>/sessions/<hash of the clip's absolute path>.json``. A session whose
clip size no longer matches belongs to a different file at that path and is ignored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..fileio import atomic_write_text
from .document import EditSegment, EditState
from .settings import config_dir, options_from_dict, options_to_dict

FORMAT = 2  # 2: one state per model (1 kept only the last model's)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Session:
    clip: Path
    checkpoint: str | None  # the model picked for this clip; None = the shipped default
    state: EditState
    notes: tuple[str, ...] = ()  # what loading had to repair, for the status bar


def repair_segments(segments: tuple[EditSegment, ...], duration: float | None
                    ) -> tuple[tuple[EditSegment, ...], tuple[str, ...]]:
    """Saved segments made fit to edit: a reversed one is turned round, one reaching outside
    the clip (``duration`` seconds, when known) is trimmed to it, and one with no time left
    (or not a number) is dropped; the rest are sorted. Returns them with what was changed,
    in words: a hand-edited or foreign session file would otherwise show segments no editor
    can select and export ones that fail."""
    kept, notes = [], []
    for s in segments:
        start, end = s.start, s.end
        if not (math.isfinite(start) and math.isfinite(end) and math.isfinite(s.score)):
            notes.append(f"dropped a segment with a time that is not a number ({start}-{end})")
            continue
        if end < start:
            start, end = end, start
            notes.append(f"turned round the reversed segment {s.start:.2f}-{s.end:.2f} s")
        low, high = max(start, 0.0), end if duration is None else min(end, duration)
        if high <= low:
            notes.append(f"dropped the segment {s.start:.2f}-{s.end:.2f} s: it lies outside "
                         "the clip")
            continue
        if (low, high) != (start, end):
            notes.append(f"trimmed the segment {s.start:.2f}-{s.end:.2f} s to the clip")
        kept.append(replace(s, start=low, end=high))
    return tuple(sorted(kept, key=lambda s: (s.start, s.end))), tuple(notes)


def session_path(clip: str | Path) -> Path:
    key = hashlib.sha1(os.fsencode(Path(clip).resolve())).hexdigest()[:16]  # any file name
    return config_dir() / "sessions" / f"{key}.json"


def _clip_size(clip: Path) -> int:
    try:
        return clip.stat().st_size
    except OSError:
        return -1


def _key(checkpoint: str | None) -> str:
    return checkpoint or ""  # "": the shipped default model


def _read(clip: Path, size: int) -> dict:
    """The clip's session file as stored, or a new one (none, damaged, another format, or
    written for another file at this path: ``size`` is the clip's, from one stat)."""
    fresh = {"format": FORMAT, "clip": str(clip), "checkpoint": None, "states": {}}
    try:
        data = json.loads(session_path(clip).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return fresh
    except (OSError, ValueError) as exc:
        log.warning("ignoring the unreadable session of %s: %s", clip, exc)
        return fresh
    if (not isinstance(data, dict) or data.get("format") != FORMAT
            or data.get("clip_size") != size
            or not isinstance(data.get("states"), dict)):
        return fresh
    return data


def save_session(session: Session) -> None:
    """Write the session's state under its model, keeping the other models' states. Not while
    the clip cannot be found (an unmounted drive): that would tie the saved edits to no file
    and lose them when it comes back."""
    clip = Path(session.clip).resolve()
    size = _clip_size(clip)
    if size < 0:
        log.info("session of %s not saved: the clip cannot be found", clip)
        return
    data = _read(clip, size)
    data["states"][_key(session.checkpoint)] = {
        "options": options_to_dict(session.state.options),
        "edited": session.state.edited,
        "segments": [[s.start, s.end, s.score, s.included, s.manual]
                     for s in session.state.segments],
    }
    data.update(clip=str(clip), clip_size=size, checkpoint=session.checkpoint)
    path = session_path(clip)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=1), durable=False)  # GUI thread: no wait


_LAST = object()


def _segment(start: float, end: float, score: float, included: bool, manual: bool = False
             ) -> EditSegment:
    """One stored row; rows written before the manual flag have four fields."""
    return EditSegment(float(start), float(end), float(score), bool(included), bool(manual))


def load_session(clip: str | Path, checkpoint: str | object | None = _LAST,
                 duration: float | None = None) -> Session | None:
    """The saved session of ``clip`` for ``checkpoint`` (by default the model last used on
    it), or None if there is none or it does not fit the clip. Its segments are checked
    against the clip's ``duration`` when given (see :func:`repair_segments`)."""
    clip = Path(clip).resolve()
    data = _read(clip, _clip_size(clip))
    model = data.get("checkpoint") if checkpoint is _LAST else checkpoint
    if model is not None and not isinstance(model, str):
        return None
    stored = data["states"].get(_key(model))
    if stored is None:
        return None
    try:
        segments = tuple(_segment(*row) for row in stored["segments"])
        segments, notes = repair_segments(segments, duration)
        state = EditState(options_from_dict(stored["options"]), segments,
                          bool(stored["edited"]))
    except Exception as exc:  # a damaged or foreign file: start afresh
        log.warning("ignoring the unreadable session of %s: %s", clip, exc)
        return None
    for note in notes:
        log.warning("session of %s: %s", clip.name, note)
    return Session(clip, model, state, notes)
