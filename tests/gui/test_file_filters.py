"""One list of video suffixes: the Open dialog shows every file that training, a batch
analysis's folder scan and feature extraction take from a folder (it hid .ts, .mpg and .wmv)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from highlight_studio.commands.analyze import expand_clips
from highlight_studio.commands.extract import corpus_paths
from highlight_studio.training.finetune import find_videos

# Suffixes a camera, a broadcast recorder or an old editor may write, and two that are no video.
CANDIDATES = (".mp4", ".MOV", ".mkv", ".avi", ".m4v", ".webm", ".mxf", ".mts", ".m2ts", ".ts",
              ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".dv", ".vob", ".ogv", ".txt", ".wav")


def filter_suffixes(name_filter: str) -> set[str]:
    """The suffixes a Qt name filter's first entry ("Video (*.a *.b)") lets through."""
    first = name_filter.split(";;")[0]
    return {s.lower() for s in re.findall(r"\*(\.[\w.]+)", first)}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for i, suffix in enumerate(CANDIDATES):
        (tmp_path / f"clip{i}{suffix}").write_bytes(b"")
    return tmp_path


def scanned(paths: list[Path]) -> set[str]:
    return {p.suffix.lower() for p in paths}


def test_open_dialog_shows_every_video_a_folder_scan_takes(qtbot, make_window, folder,
                                                           monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    asked: list[str] = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *args: (asked.append(args[3]), ("", ""))[1]))
    window = make_window()
    window.open_dialog()
    shown = filter_suffixes(asked[0])
    training = scanned(find_videos([folder]))
    assert {".ts", ".mpg", ".wmv"} <= training  # the ones the Open dialog used to hide
    assert training <= shown
    assert scanned(expand_clips([str(folder)], [])) == training  # batch analyze
    assert scanned(corpus_paths([folder])) == training  # extract
    assert not shown & {".txt", ".wav"}


def test_training_panel_picker_shows_every_video_training_takes(qtbot, folder,
                                                              monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    from highlight_studio.gui.training_panel import TrainingPanel

    asked: list[str] = []
    monkeypatch.setattr(QFileDialog, "getOpenFileNames",
                        staticmethod(lambda *args: (asked.append(args[3]), ([], ""))[1]))
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel._add_files_dialog()
    assert filter_suffixes(asked[0]) == scanned(find_videos([folder]))
    panel.shutdown()
