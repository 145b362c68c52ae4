"""The real app on a real X server: tests here start ``highlight-studio`` (or the walkthrough
driver) as its own process with Qt's xcb platform on an Xvfb display, as a desktop runs it,
where the other GUI tests use the offscreen platform in-process.

``scripts/system_deps.sh --test`` installs Xvfb (``make test`` runs it). Without Xvfb these
tests skip, except under CI (``CI`` set), where a skip would hide that the real window never
started: there they fail and say why.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SCREEN = (1600, 1000)
CURVE_RGB = (60, 140, 255)  # gui.curve_view.CURVE_PEN


@pytest.fixture(scope="session")
def display(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An Xvfb display (":N") for the whole session, 24-bit, with GLX (Mesa's llvmpipe)."""
    xvfb = shutil.which("Xvfb")
    if not sys.platform.startswith("linux") or xvfb is None:
        reason = ("Xvfb is not installed (scripts/system_deps.sh --test installs it)"
                  if sys.platform.startswith("linux") else "X11 tests run on Linux")
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must start the real window under xcb")
        pytest.skip(reason)
    log = tmp_path_factory.mktemp("xvfb") / "xvfb.log"
    read, write = os.pipe()
    with log.open("wb") as out:  # a file, not a pipe nobody reads that could fill and block
        server = subprocess.Popen(
            [xvfb, "-displayfd", str(write), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
             "-nolisten", "tcp", "-noreset"], pass_fds=(write,), stderr=out)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 30)
        number = os.read(read, 32).decode().strip() if ready else ""
        if not number:
            server.kill()
            server.wait()
            pytest.fail(f"Xvfb did not start:\n{tail(log)}")
        yield f":{number}"
    finally:
        os.close(read)
        server.terminate()
        server.wait(timeout=30)


def app_env(display: str) -> dict[str, str]:
    """The test's environment (its isolated user folders included) on the X display."""
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "PYTHONFAULTHANDLER": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), str(REPO / "tests"),
                                                       os.environ.get("PYTHONPATH")]))}
    env.pop("WAYLAND_DISPLAY", None)
    return env


def app_command() -> list[str]:
    """The installed console script, as a user starts it (else the module)."""
    script = Path(sys.executable).with_name("highlight-studio")
    return [str(script)] if script.exists() else [sys.executable, "-m", "highlight_studio"]


def start(args: Sequence[str], display: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(list(args), env=app_env(display), stdout=out,
                                stderr=subprocess.STDOUT, cwd=REPO)


def stop(app: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM, as at log-out: the window closes the normal way and the process exits 0."""
    if app.poll() is None:
        app.send_signal(signal.SIGTERM)
    wait_for_exit(app, log, timeout=120)


def wait_for_exit(app: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    try:
        app.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        app.kill()
        app.wait()
        pytest.fail(f"still running after {timeout:.0f} s:\n{tail(log)}")
    assert app.returncode == 0, f"exit status {app.returncode}:\n{tail(log)}"


def tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def grab(display: str) -> np.ndarray:
    """What the X server shows, as an RGB array (Pillow reads the screen over XCB)."""
    from PIL import ImageGrab

    return np.asarray(ImageGrab.grab(xdisplay=display).convert("RGB"))


def curve_mask(shot: np.ndarray, tolerance: int = 24) -> np.ndarray:
    return (np.abs(shot.astype(np.int16) - np.array(CURVE_RGB)) <= tolerance).all(axis=2)


def curve_columns(shot: np.ndarray) -> int:
    """How many screen columns show the curve's colour: a curve drawn across the plot covers
    hundreds, a stray widget of a similar colour a few."""
    return int(curve_mask(shot).any(axis=0).sum())


def wait_for_curve(display: str, app: subprocess.Popen[bytes], log: Path,
                   timeout: float = 300, min_columns: int = 400) -> np.ndarray:
    """Screenshots until the score curve is on screen; fails if the app dies first."""
    deadline = time.monotonic() + timeout
    while True:
        if app.poll() is not None:
            pytest.fail(f"the app exited with status {app.returncode} before showing a curve:"
                        f"\n{tail(log)}")
        shot = grab(display)
        if curve_columns(shot) >= min_columns:
            return shot
        if time.monotonic() > deadline:
            app.kill()
            pytest.fail(f"no curve on screen after {timeout:.0f} s:\n{tail(log)}")
        time.sleep(0.5)
