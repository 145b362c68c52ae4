"""Where the shipped data (models, the backbone graph) lives once the code is installed.

A checkout or an editable install keeps ``models/`` beside the package; a wheel install puts
it under the environment's ``share/highlight-studio/`` (pyproject's ``data-files``), because a
wheel can only carry files outside the package that way.
"""

from __future__ import annotations

import sys
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[1]  # the checkout holding highlight_studio/
SHARE_ROOT = Path(sys.prefix) / "share" / "highlight-studio"  # a wheel install's data


def data_roots() -> list[Path]:
    """The folders that may hold shipped data, the checkout's first."""
    return [SOURCE_ROOT, SHARE_ROOT]


def shipped_dir(*parts: str) -> Path:
    """The first root's ``parts`` folder that exists (the checkout's if none does, so a
    message names the expected place)."""
    candidates = [root.joinpath(*parts) for root in data_roots()]
    return next((c for c in candidates if c.is_dir()), candidates[0])
