"""Profiles: the decisions of many clips of one kind of footage ("Wedding footage"), so the
next clip opens with a curve that already leans the editor's way.

A profile is one ``.npz`` file in ``<user data>/profiles/``, holding every clip's
:class:`ClipFeedback` and a header that describes it (backbone, step, feature size, number of
decisions, clips). The same file is what export and import move around. A clip's decisions
replace that clip's earlier ones, so undoing a decision in the window undoes it in the profile.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

from ..errors import FeedbackError
from ..fileio import atomic_path
from .learner import DEFAULT, LearnerConfig, ProfileHead, fit_profile_head
from .store import ClipFeedback, clip_arrays, clip_from

FORMAT = "highlight-studio-profile"
VERSION = 1
SUFFIX = ".hsprofile"  # an .npz archive; its own suffix so it is not taken for features
_NAME = re.compile(r"^[^/\\:*?\"<>|\x00-\x1f]{1,80}$")


def profiles_dir() -> Path:
    return Path(platformdirs.user_data_dir("highlight-studio")) / "profiles"


def check_name(name: str) -> str:
    """A profile name that is also a safe file name, stripped; refused with a message."""
    stripped = name.strip()
    if not _NAME.match(stripped) or stripped.startswith("."):
        raise FeedbackError(f"{name!r} cannot name a profile: use up to 80 characters without "
                            "/ \\ : * ? \" < > | and not starting with a dot.")
    return stripped


@dataclass(frozen=True)
class Profile:
    """Decisions across clips, all on features of one backbone and step."""

    name: str
    backbone_id: str
    step: float
    dim: int
    clips: dict[str, ClipFeedback] = field(default_factory=dict)  # cache key -> decisions

    @property
    def decisions(self) -> int:
        return sum(c.decisions for c in self.clips.values())

    def describe(self) -> str:
        return (f"{self.name}: {self.decisions} decisions on {len(self.clips)} clips "
                f"({self.backbone_id}, {self.step:g} s steps, {self.dim} features)")

    def check_features(self, backbone_id: str, step: float, dim: int) -> None:
        """Refuse features of another backbone or step: the decisions would mean nothing."""
        if backbone_id != self.backbone_id or abs(step - self.step) > 1e-9 or dim != self.dim:
            raise FeedbackError(
                f"Profile {self.name!r} was made on {self.backbone_id} features ({self.dim} "
                f"values, {self.step:g} s steps); this clip has {backbone_id} features ({dim} "
                f"values, {step:g} s steps). Pick a profile made with this model, or a new one.")

    def with_clip(self, feedback: ClipFeedback) -> Profile:
        """This profile with ``feedback`` replacing the clip's earlier decisions (none: the
        clip is dropped)."""
        self.check_features(feedback.backbone_id, feedback.step, feedback.dim)
        clips = {k: c for k, c in self.clips.items() if k != feedback.key}
        if feedback.decisions:
            clips[feedback.key] = feedback
        return replace(self, clips=clips)

    def head(self, exclude: str | None = None,
             config: LearnerConfig = DEFAULT) -> ProfileHead | None:
        """The profile's learnt direction, from every clip but ``exclude`` (the open clip,
        whose own decisions act through the within-clip term instead)."""
        used = [c for k, c in self.clips.items() if k != exclude and c.decisions]
        if not used:
            return None
        return fit_profile_head([(c.features, c.labels) for c in used], config)

    def header(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "name": self.name,
                "backbone_id": self.backbone_id, "step": self.step, "dim": self.dim,
                "decisions": self.decisions, "n_clips": len(self.clips),
                "clips": [c.header() for c in self.clips.values()]}


def new_profile(name: str, backbone_id: str, step: float, dim: int) -> Profile:
    return Profile(check_name(name), backbone_id, float(step), int(dim))


def profile_path(name: str) -> Path:
    return profiles_dir() / f"{check_name(name)}{SUFFIX}"


def write_profile(profile: Profile, path: Path) -> Path:
    """The profile as one self-describing file at ``path``, written atomically."""
    arrays: dict[str, np.ndarray] = {"header": np.array(json.dumps(profile.header()))}
    for i, clip in enumerate(profile.clips.values()):
        arrays.update(clip_arrays(clip, f"c{i}_"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, error=FeedbackError) as tmp, tmp.open("wb") as fh:
        np.savez(fh, **arrays)
    return path


def read_profile(path: str | Path) -> Profile:
    """Read a profile file; a damaged or foreign file is a FeedbackError with its path."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            if header.get("format") != FORMAT:
                raise ValueError("it is not a Highlight Studio profile")
            if header.get("version") != VERSION:
                raise ValueError(f"it is a version-{header.get('version')} profile; this app "
                                 f"reads version {VERSION}")
            clips = [clip_from(h, data, f"c{i}_") for i, h in enumerate(header["clips"])]
    except FileNotFoundError as exc:
        raise FeedbackError(f"No profile file at {path}.") from exc
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise FeedbackError(f"Cannot read the profile {path}: {exc}") from exc
    profile = Profile(check_name(str(header["name"])), str(header["backbone_id"]),
                      float(header["step"]), int(header["dim"]))
    for clip in clips:
        profile = profile.with_clip(clip)
    return profile


def list_profiles() -> list[str]:
    """The names of the saved profiles, sorted."""
    folder = profiles_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name[:-len(SUFFIX)] for p in folder.glob(f"*{SUFFIX}")
                  if not p.name.startswith("."))


def load_profile(name: str) -> Profile:
    path = profile_path(name)
    if not path.is_file():
        known = ", ".join(list_profiles()) or "none yet"
        raise FeedbackError(f"No profile named {name!r} (profiles: {known}).")
    return read_profile(path)


def save_profile(profile: Profile) -> Path:
    return write_profile(profile, profile_path(profile.name))


def reset_profile(name: str) -> Profile:
    """Forget every decision of a profile, keeping its name and features."""
    profile = load_profile(name)
    emptied = replace(profile, clips={})
    save_profile(emptied)
    return emptied


def export_profile(name: str, destination: str | Path) -> Path:
    """Copy a profile to one file anywhere (for another machine or a colleague)."""
    source = profile_path(name)
    load_profile(name)  # refuse a missing or damaged profile before copying it
    destination = Path(destination)
    with atomic_path(destination, error=FeedbackError) as tmp:
        shutil.copyfile(source, tmp)
    return destination


def import_profile(source: str | Path, name: str | None = None) -> Profile:
    """Install a profile file under its own name (or ``name``); an existing profile of that
    name is not replaced."""
    profile = read_profile(source)
    if name is not None:
        profile = replace(profile, name=check_name(name))
    if profile_path(profile.name).exists():
        raise FeedbackError(f"A profile named {profile.name!r} exists already; import under "
                            "another name or reset that one first.")
    save_profile(profile)
    return profile
