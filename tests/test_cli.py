"""The console script as a batch tool: what a mistyped command, a scheduler's SIGTERM and a
closed pipe do, and that the exit codes are the documented ones."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from benchgen import write_benchmark

from highlight_studio import cli
from highlight_studio.commands import analyze, gui
from highlight_studio.fileio import atomic_path


def _no_window(args: argparse.Namespace) -> int:
    raise AssertionError("the window was opened")


def test_a_mistyped_command_is_a_usage_error_not_the_window(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(gui, "run", _no_window)
    for argv in (["analyse"], ["analyse", "clip.mp4"]):
        with pytest.raises(SystemExit) as exited:
            cli.main(argv)
        assert exited.value.code == 2
        assert "invalid choice: 'analyse'" in capsys.readouterr().err


def test_a_clip_alone_still_opens_the_window(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    opened: list[str] = []
    monkeypatch.setattr(gui, "run", lambda args: opened.append(args.clip) or 0)
    (tmp_path / "take").write_bytes(b"")  # an existing file, even without a suffix
    assert cli.main([str(tmp_path / "take")]) == 0
    assert cli.main(["missing.mp4"]) == 0  # the window says what is wrong with it
    assert opened == [str(tmp_path / "take"), "missing.mp4"]


def test_sigterm_cleans_up_like_ctrl_c(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """`timeout` and job schedulers stop a run with SIGTERM: the half-written output goes,
    the exit code says terminated, and the caller's own handler comes back."""
    before = signal.getsignal(signal.SIGTERM)

    def half_written(args: argparse.Namespace) -> int:
        with atomic_path(tmp_path / "out.json") as tmp:
            tmp.write_text("{half")
            os.kill(os.getpid(), signal.SIGTERM)
            tmp.write_text("{}")  # not reached: the handler raises first
        return 0

    monkeypatch.setattr(analyze, "run", half_written)
    assert cli.main(["analyze", "clip.mp4"]) == 143
    assert "terminated" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`highlight-studio evaluate ... --json - | head -c 0`: the reader is gone before the data
    is written; no traceback, exit 141 like any Unix tool killed by SIGPIPE."""
    root = write_benchmark(tmp_path / "yth", "yth", {
        "vidA": {"domain": "dog", "visual": [[3, 4], [0, 1]], "labels": [1, 0]}})
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # a real pipe
    for data in (["--json", "-", "--dump-scores", str(tmp_path / "scores.json")],
                 ["--json", str(tmp_path / "result.json")]):  # the table alone on stdout
        read, write = os.pipe()
        os.close(read)  # nobody will read: the child's first write fails with EPIPE
        child = subprocess.run(
            [sys.executable, "-m", "highlight_studio", "evaluate", "--dataset", str(root),
             "--baseline", "feature-norm", *data],
            stdout=write, stderr=subprocess.PIPE, text=True, timeout=120, env=env)
        os.close(write)
        assert child.returncode == 141, child.stderr
        assert child.stderr == ""  # no traceback, no "Exception ignored"
    # the files were written before stdout was tried
    assert (tmp_path / "scores.json").exists() and (tmp_path / "result.json").exists()


def test_main_runs_off_the_main_thread(capsys: pytest.CaptureFixture[str]) -> None:
    """An embedding that runs a command on a worker thread (signal handlers cannot be set
    there) still gets the command."""
    codes: list[int] = []
    worker = threading.Thread(target=lambda: codes.append(cli.main(
        ["model-summary", "--visual-dim", "64", "--audio-dim", "64", "--steps", "32"])))
    worker.start()
    worker.join(timeout=120)
    assert codes == [0] and "params_visual_branch" in capsys.readouterr().out


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for code, meaning in cli.EXIT_CODES.items():
        assert f"{code} {' '.join(meaning.split())}" in text
