"""What the window remembers between runs, as one JSON file under the user's config folder.

``HIGHLIGHT_STUDIO_CONFIG`` overrides the folder (tests point it at ``tmp_path``). A missing or
unreadable file gives the defaults: losing preferences must never stop the app from starting.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from ..fileio import atomic_write_text
from ..segments import SegmentOptions

CONFIG_ENV = "HIGHLIGHT_STUDIO_CONFIG"
MAX_RECENT = 10
SEGMENT_DEFAULTS = 2  # 2: the editor defaults (rolls, merge gap, min length); 1: all zero
LENGTHS = ("merge_gap", "pre_roll", "post_roll", "min_length")
log = logging.getLogger(__name__)


def config_dir() -> Path:
    """Where settings and per-clip sessions live (created on first use)."""
    override = os.environ.get(CONFIG_ENV)
    path = Path(override) if override else Path(platformdirs.user_config_dir("highlight-studio"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def options_to_dict(options: SegmentOptions) -> dict[str, Any]:
    return dataclasses.asdict(options)


def options_from_dict(data: dict[str, Any]) -> SegmentOptions:
    """Rebuild options, ignoring keys an older or newer version wrote."""
    names = {f.name for f in dataclasses.fields(SegmentOptions)}
    return SegmentOptions(**{k: v for k, v in data.items() if k in names})


def _upgraded(options: SegmentOptions, defaults_version: int) -> SegmentOptions:
    """Options saved when the defaults were all zero, and never changed from them, become
    the editor defaults (a user who never touched them should get what new users get)."""
    if defaults_version >= SEGMENT_DEFAULTS or any(getattr(options, n) for n in LENGTHS):
        return options
    editor = SegmentOptions()
    return dataclasses.replace(options, **{n: getattr(editor, n) for n in LENGTHS})


@dataclass(frozen=True)
class Settings:
    last_folder: str = ""  # where the open dialog starts
    recent_files: tuple[str, ...] = ()  # most recent first, at most MAX_RECENT
    checkpoint: str | None = None  # the model last picked; None = the shipped default
    options: SegmentOptions = field(default_factory=SegmentOptions)  # for clips without session
    geometry: str = ""  # QMainWindow.saveGeometry(), base64
    window_state: str = ""  # QMainWindow.saveState() (docks, toolbars), base64
    splitter: str = ""  # QSplitter.saveState() of preview / curve, base64
    training_revealed: bool = False  # the hidden training panel was revealed (Ctrl+Shift+T)
    segment_defaults: int = SEGMENT_DEFAULTS  # which defaults ``options`` started from

    def with_recent(self, path: str | Path) -> Settings:
        """Move ``path`` to the top of the recent list."""
        text = str(Path(path).resolve())
        recent = (text, *(p for p in self.recent_files if p != text))[:MAX_RECENT]
        return dataclasses.replace(self, recent_files=recent,
                                   last_folder=str(Path(text).parent))


def settings_path() -> Path:
    return config_dir() / "settings.json"


def load_settings() -> Settings:
    """The saved settings; the defaults when there are none or the file is damaged or from
    another version (a settings file must never keep the app from starting)."""
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
        checkpoint = data.get("checkpoint")
        return Settings(
            last_folder=str(data.get("last_folder", "")),
            recent_files=tuple(str(p) for p in data.get("recent_files", ()))[:MAX_RECENT],
            checkpoint=checkpoint if isinstance(checkpoint, str) else None,
            options=_upgraded(options_from_dict(data.get("options", {})),
                              int(data.get("segment_defaults", 1))),
            geometry=str(data.get("geometry", "")),
            window_state=str(data.get("window_state", "")),
            splitter=str(data.get("splitter", "")),
            training_revealed=bool(data.get("training_revealed", False)),
        )
    except FileNotFoundError:
        return Settings()
    except Exception as exc:  # damaged, or written by another version
        log.warning("ignoring the unreadable settings file %s: %s", settings_path(), exc)
        return Settings()


def save_settings(settings: Settings) -> None:
    data = dataclasses.asdict(settings)
    data["recent_files"] = list(settings.recent_files)
    atomic_write_text(settings_path(), json.dumps(data, indent=2), durable=False)
