"""Atomic writes: all or nothing, with the permissions a normal write would give."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from highlight_studio.errors import ExportError
from highlight_studio.fileio import atomic_path, atomic_write_text


def test_written_file_gets_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "out.edl"
    atomic_write_text(target, "hello")
    mask = os.umask(0)
    os.umask(mask)
    assert target.read_text() == "hello"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_writer_that_replaces_the_temporary_still_gives_umask_permissions(tmp_path: Path
                                                                         ) -> None:
    """Like safetensors: the writer puts its own 0600 file where the temporary was."""
    target = tmp_path / "model.safetensors"
    with atomic_path(target) as tmp:
        tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"weights")
        os.close(fd)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_failure_leaves_neither_target_nor_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("encoder died")
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_a_readable_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="does not exist"):
        atomic_write_text(tmp_path / "nope" / "x.txt", "x", error=ExportError)
