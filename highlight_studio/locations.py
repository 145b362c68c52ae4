"""Where the shipped data (models, the backbone graph) lives once the code is installed.

A checkout or an editable install keeps ``models/`` beside the package; a wheel install puts
it under ``share/highlight-studio/`` of the scheme pip installed into (pyproject's
``data-files``), because a wheel can only carry files outside the package that way.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[1]  # a checkout, or site-packages


def _install_roots() -> tuple[Path, ...]:
    """``share/highlight-studio`` under every prefix pip may have used: the environment's, the
    platform's data path (Debian's /usr/local) and the user scheme (``pip install --user``)."""
    prefixes = [sys.prefix, sysconfig.get_path("data"),
                sysconfig.get_path("data", sysconfig.get_preferred_scheme("user"))]
    roots: list[Path] = []
    for prefix in prefixes:
        root = Path(prefix) / "share" / "highlight-studio"
        if root not in roots:
            roots.append(root)
    return tuple(roots)


SHARE_ROOTS = _install_roots()


def data_roots() -> list[Path]:
    """The folders that may hold shipped data: the checkout's first (only when the package
    sits in one, so a stray ``site-packages/models`` is never searched), then the installs'."""
    checkout = [SOURCE_ROOT] if (SOURCE_ROOT / "pyproject.toml").is_file() else []
    return [*checkout, *SHARE_ROOTS]


def shipped_dir(*parts: str) -> Path:
    """The first root's ``parts`` folder that exists (the first root's if none does, so a
    message names the expected place)."""
    candidates = [root.joinpath(*parts) for root in data_roots()]
    return next((c for c in candidates if c.is_dir()), candidates[0])
