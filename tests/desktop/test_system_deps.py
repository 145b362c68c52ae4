"""scripts/system_deps.sh: the libraries Qt's plugins miss come from ldd at run time and are
mapped to Debian packages; an unknown one is named, and without root the script says what to
install. Fake ``ldd`` / ``apt-cache`` / ``id`` on the PATH stand in for a fresh machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

SCRIPT = REPO / "scripts" / "system_deps.sh"
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not shutil.which("ldd"),
                                reason="the script checks glibc Linux systems")


def fake_tools(folder: Path, missing: dict[str, list[str]], apt_knows: list[str] | None,
               uid: int = 0) -> dict[str, str]:
    """``ldd FILE`` reports ``missing[basename]`` as not found; ``apt-cache show`` knows only
    ``apt_knows`` (None: no index at all); ``id -u`` prints ``uid``."""
    folder.mkdir()
    lines = {name: " ".join(repr(f"  {lib} => not found") for lib in libs)
             for name, libs in missing.items()}
    cases = "\n".join(f"  */{name}) printf '%s\\n' {args} ;;" for name, args in lines.items())
    scripts = {
        "ldd": f'case "$1" in\n{cases}\nesac\necho "  libc.so.6 => /lib/libc.so.6"\n',
        "apt-cache": ("for last; do :; done\n"  # the package is the last argument
                      f'case " {" ".join(apt_knows or [])} " in *" $last "*) exit 0 ;; esac\n'
                      "exit 100\n"),
        "id": f"echo {uid}\n",
        "apt-get": "echo apt-get must not run in these tests >&2; exit 99\n",
    }
    for name, body in scripts.items():
        path = folder / name
        path.write_text(f"#!/bin/sh\n{body}")
        path.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args, sys.executable], env=env,
                          capture_output=True, text=True, timeout=120)


def test_missing_libraries_are_found_by_ldd_and_named_by_their_debian_package(tmp_path) -> None:
    env = fake_tools(tmp_path / "bin", {
        "libqxcb.so": ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0",
                       "libxkbcommon-x11.so.0", "libX11-xcb.so.1", "libglib-2.0.so.0"],
        "libffmpegmediaplugin.so": ["libpulse.so.0", "libgssapi_krb5.so.2"],
        "libqwayland.so": ["libwayland-cursor.so.0"],
    }, apt_knows=["libc6", "libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0",
                  "libxkbcommon-x11-0", "libx11-xcb1", "libglib2.0-0", "libpulse0t64",
                  "libgssapi-krb5-2", "libwayland-cursor0"])
    done = run(env, "--check")
    assert done.returncode == 1
    wanted = ("libglib2.0-0 libgssapi-krb5-2 libpulse0t64 libwayland-cursor0 libx11-xcb1 "
              "libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0")
    assert done.stdout.strip() == f"would install: {wanted}"  # pulse under Ubuntu's t64 name
    assert "libxcb-icccm.so.4, needed by libqxcb.so" in done.stderr


def test_a_library_apt_has_no_package_for_is_named_with_where_to_look(tmp_path) -> None:
    env = fake_tools(tmp_path / "bin", {"libqxcb.so": ["libxcb-icccm.so.4", "libmystery.so.7"]},
                     apt_knows=["libc6", "libxcb-icccm4"])
    done = run(env, "--check")
    assert done.returncode == 1 and done.stdout.strip() == "would install: libxcb-icccm4"
    assert ("no Debian package known for libmystery.so.7 (needed by libqxcb.so; apt has no "
            "package libmystery7)") in done.stderr
    assert "apt-file search libmystery.so.7" in done.stderr


def test_without_an_apt_index_the_naming_rule_still_says_what_to_install(tmp_path) -> None:
    env = fake_tools(tmp_path / "bin", {"libqxcb.so": ["libxcb-icccm.so.4"]}, apt_knows=None)
    assert run(env, "--check").stdout.strip() == "would install: libxcb-icccm4"


def test_without_root_it_says_what_to_install_and_fails(tmp_path) -> None:
    env = fake_tools(tmp_path / "bin", {"libqxcb.so": ["libxcb-keysyms.so.1"]},
                     apt_knows=["libc6", "libxcb-keysyms1"], uid=1000)
    done = run(env)  # not --check: it would install, but may not (apt-get fails the test)
    assert done.returncode == 1
    assert "install them with: sudo apt-get install libxcb-keysyms1" in done.stderr


def test_nothing_missing_is_a_quiet_success(tmp_path) -> None:
    env = fake_tools(tmp_path / "bin", {}, apt_knows=["libc6"])
    done = run(env, "--check")
    assert done.returncode == 0 and done.stdout == ""


def test_every_library_of_the_real_qt_plugins_is_installed_here() -> None:
    """What `make run` and `make test` leave behind: the real ldd finds every library the
    window's plugins link (fails on a machine the script has not set up)."""
    done = subprocess.run(["bash", str(SCRIPT), "--check", "--test", sys.executable],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
    import PySide6

    xcb = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    assert "not found" not in subprocess.run(["ldd", str(xcb)], capture_output=True,
                                             text=True).stdout
