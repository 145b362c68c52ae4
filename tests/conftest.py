"""Suite-wide fixtures: every test gets its own user folders, so no test reads or pollutes the
real feature cache, settings or user models (platformdirs honours the XDG variables)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/clipgen.py and friends


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory,
                       monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path_factory.mktemp("user")
    for var in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(root / var.lower()))
    monkeypatch.setenv("HIGHLIGHT_STUDIO_CACHE", str(root / "cache"))
    return root
