"""Shipped data is found in a checkout and in a wheel install's share/ folder."""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import pytest

from highlight_studio import locations
from highlight_studio.errors import ModelError
from highlight_studio.model.description import resolve_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    checkout, share = tmp_path / "checkout", tmp_path / "share"
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text("")
    share.mkdir()
    monkeypatch.setattr(locations, "SOURCE_ROOT", checkout)
    monkeypatch.setattr(locations, "SHARE_ROOTS", (tmp_path / "user-share", share))
    return checkout, share


def test_a_wheel_installs_models_are_found_after_the_checkouts(roots: tuple[Path, Path]
                                                              ) -> None:
    checkout, share = roots
    assert locations.shipped_dir("models", "backbones") == checkout / "models" / "backbones"
    (share / "models" / "backbones").mkdir(parents=True)
    (share / "models" / "only-installed.safetensors").write_bytes(b"x")
    assert locations.shipped_dir("models", "backbones") == share / "models" / "backbones"
    assert resolve_checkpoint("only-installed") == share / "models" / "only-installed.safetensors"
    (checkout / "models").mkdir()
    (checkout / "models" / "only-installed.safetensors").write_bytes(b"y")
    assert resolve_checkpoint("only-installed").parent == checkout / "models"
    with pytest.raises(ModelError, match=re.escape(str(share / "models"))):
        resolve_checkpoint("nowhere")


def test_site_packages_is_not_searched_as_a_checkout(roots: tuple[Path, Path]) -> None:
    """In a wheel install the package's parent is site-packages: its models/ is not ours."""
    checkout, _ = roots
    (checkout / "pyproject.toml").unlink()
    (checkout / "models").mkdir()
    (checkout / "models" / "stray.safetensors").write_bytes(b"x")
    assert checkout not in locations.data_roots()
    with pytest.raises(ModelError):
        resolve_checkpoint("stray")


def test_install_roots_cover_the_environment_and_the_user_scheme() -> None:
    roots = locations.SHARE_ROOTS
    assert Path(sys.prefix) / "share" / "highlight-studio" in roots
    user = sysconfig.get_path("data", sysconfig.get_preferred_scheme("user"))
    assert Path(user) / "share" / "highlight-studio" in roots


def test_the_wheel_carries_every_shipped_model_and_graph() -> None:
    """pyproject's data-files globs match every model and backbone graph in models/."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data_files = config["tool"]["setuptools"]["data-files"]
    carried = {path.resolve() for target, globs in data_files.items()
               if target.startswith("share/highlight-studio/") for g in globs
               for path in ROOT.glob(g)}
    shipped = {*ROOT.glob("models/*.safetensors"), *ROOT.glob("models/backbones/*.onnx")}
    assert shipped and {p.resolve() for p in shipped} <= carried
    for target, globs in data_files.items():  # each file lands where locations looks
        for g in globs:
            assert target == "share/highlight-studio/" + Path(g).parent.as_posix()


def test_a_folder_named_like_a_model_does_not_hide_it(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from a folder holding a `default/` folder (a project's), the name still means the
    shipped model: only a file is taken as a path."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").mkdir()
    found = resolve_checkpoint("default")
    assert found.is_file() and found.name == "default.safetensors"
