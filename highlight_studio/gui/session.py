"""One session file per clip (model, segment options, the edited segment list), so reopening a
clip restores the work instead of recomputing it from defaults.

Files live in ``<config>/sessions/<hash of the clip's absolute path>.json``. A session whose
clip size no longer matches belongs to a different file at that path and is ignored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..fileio import atomic_write_text
from .document import EditSegment, EditState
from .settings import config_dir, options_from_dict, options_to_dict

FORMAT = 1


@dataclass(frozen=True)
class Session:
    clip: Path
    checkpoint: str | None  # the model picked for this clip; None = the shipped default
    state: EditState


def session_path(clip: str | Path) -> Path:
    key = hashlib.sha1(str(Path(clip).resolve()).encode("utf-8")).hexdigest()[:16]
    return config_dir() / "sessions" / f"{key}.json"


def _clip_size(clip: Path) -> int:
    try:
        return clip.stat().st_size
    except OSError:
        return -1


def save_session(session: Session) -> None:
    clip = Path(session.clip).resolve()
    data = {
        "format": FORMAT,
        "clip": str(clip),
        "clip_size": _clip_size(clip),
        "checkpoint": session.checkpoint,
        "options": options_to_dict(session.state.options),
        "edited": session.state.edited,
        "segments": [[s.start, s.end, s.score, s.included] for s in session.state.segments],
    }
    path = session_path(clip)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=1), durable=False)  # GUI thread: no wait


def load_session(clip: str | Path) -> Session | None:
    """The saved session of ``clip``, or None if there is none or it does not fit the clip."""
    clip = Path(clip).resolve()
    try:
        data = json.loads(session_path(clip).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("clip_size") != _clip_size(clip):
            return None
        segments = tuple(
            EditSegment(float(a), float(b), float(c), bool(d)) for a, b, c, d in data["segments"]
        )
        state = EditState(options_from_dict(data["options"]), segments, bool(data["edited"]))
        return Session(clip, data.get("checkpoint"), state)
    except (OSError, ValueError, TypeError, KeyError):
        return None
