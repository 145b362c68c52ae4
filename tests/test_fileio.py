"""Atomic writes: all or nothing, with the permissions a normal write would give."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from highlight_studio.errors import ExportError
from highlight_studio.fileio import atomic_path, atomic_write_text, same_file


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


@pytest.mark.parametrize("mode", [0o664, 0o640, 0o444])
def test_a_replaced_file_keeps_its_permissions(tmp_path: Path, mode: int) -> None:
    """A group-writable shared EDL stays group-writable, a private one private, directly or
    through a link to it."""
    target = tmp_path / "shared.edl"
    target.write_text("old")
    target.chmod(mode)
    (tmp_path / "link.edl").symlink_to(target)
    atomic_write_text(target, "new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == mode
    atomic_write_text(tmp_path / "link.edl", "newer")
    assert target.read_text() == "newer" and stat.S_IMODE(target.stat().st_mode) == mode


def test_failure_leaves_neither_target_nor_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("encoder died")
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_a_readable_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="does not exist"):
        atomic_write_text(tmp_path / "nope" / "x.txt", "x", error=ExportError)


def test_a_protected_file_is_never_written_over_by_any_alias(tmp_path: Path) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"original footage")
    (tmp_path / "link.mp4").symlink_to(source)
    os.link(source, tmp_path / "hard.mp4")
    for alias in (source, tmp_path / "link.mp4", tmp_path / "hard.mp4",
                  tmp_path / "sub" / ".." / "clip.mp4"):
        with pytest.raises(ExportError, match="never overwritten"):
            atomic_write_text(alias, "{}", error=ExportError, protect=(source,))
    assert source.read_bytes() == b"original footage"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "hard.mp4", "link.mp4"]
    atomic_write_text(tmp_path / "clip.json", "{}", protect=(source,))  # other names are fine
    assert (tmp_path / "clip.json").read_text() == "{}"


def test_a_file_system_that_refuses_chmod_still_gets_the_file(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    """FAT and exFAT (SD cards, USB drives) answer chmod with EPERM."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", refuse)
    monkeypatch.setattr(os, "umask", refuse)  # and the umask is never re-read while writing
    atomic_write_text(tmp_path / "cuts.edl", "TITLE: x")
    assert (tmp_path / "cuts.edl").read_text() == "TITLE: x"


def test_a_name_near_the_length_limit_can_be_written(tmp_path: Path) -> None:
    name = "séquence " * 24 + "fin.json"  # 248 bytes in UTF-8: valid, but not with a long prefix
    assert len(name.encode()) <= 255
    atomic_write_text(tmp_path / name, "{}")
    assert (tmp_path / name).read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_the_data_is_on_disk_before_the_rename(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync " + ("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write_text(tmp_path / "cuts.edl", "TITLE: x")
    assert events == ["fsync file", "replace", "fsync folder"]
    events.clear()
    atomic_write_text(tmp_path / "session.json", "{}", durable=False)  # GUI state: no wait
    assert events == ["replace"]


def test_a_long_suffix_and_a_symlink_loop_are_harmless(tmp_path: Path) -> None:
    name = "clip." + "é" * 120  # 245 bytes, nearly all of them "suffix"
    atomic_write_text(tmp_path / name, "x")
    assert (tmp_path / name).read_text() == "x"
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert not same_file(tmp_path / "loop", tmp_path / name)


def test_a_symlinked_output_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "cut.edl").write_text("old")
    link = tmp_path / "cut.edl"
    link.symlink_to(shared / "cut.edl")
    atomic_write_text(link, "new")
    assert link.is_symlink() and (shared / "cut.edl").read_text() == "new"
    dangling = tmp_path / "later.edl"
    dangling.symlink_to(shared / "later.edl")  # the link's target does not exist yet
    atomic_write_text(dangling, "first")
    assert dangling.is_symlink() and (shared / "later.edl").read_text() == "first"
    assert sorted(p.name for p in shared.iterdir()) == ["cut.edl", "later.edl"]


def test_a_write_removes_the_partials_of_killed_writers_and_only_those(tmp_path: Path
                                                                       ) -> None:
    """A real SIGKILL mid-write leaves a hidden partial; the next write to the folder removes
    it, but never a live writer's, nor a file that only looks similar."""
    import signal
    import subprocess
    import sys
    import time

    code = ("import sys, time\n"
            "from highlight_studio.fileio import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n"
            "    tmp.write_bytes(b'half')\n"
            "    print(tmp, flush=True)\n"
            "    time.sleep(60)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / f"{n}.mp4")],
                              stdout=subprocess.PIPE, text=True, env=env) for n in ("a", "b")]
    killed, alive = (Path(p.stdout.readline().strip()) for p in procs)  # type: ignore[union-attr]
    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait()
    lookalike = tmp_path / ".c.1234.partial.mp4"  # no writer recorded: not ours to judge
    lookalike.write_bytes(b"x")
    try:
        assert killed.exists() and alive.exists()
        atomic_write_text(tmp_path / "out.edl", "new")
        assert not killed.exists()
        assert alive.exists() and lookalike.exists()
        os.utime(alive, (time.time() - 3 * 24 * 3600,) * 2)  # a day old: stale whoever wrote
        atomic_write_text(tmp_path / "out.edl", "newer")
        assert not alive.exists()
    finally:
        procs[1].kill()
        procs[1].wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".c.1234.partial.mp4", "out.edl"]


def test_make_folder_creates_parents_and_names_what_it_made(tmp_path: Path) -> None:
    from highlight_studio.fileio import make_folder, remove_folders

    made = make_folder(tmp_path / "a" / "b", error=ExportError)
    assert made == [tmp_path / "a", tmp_path / "a" / "b"] and (tmp_path / "a" / "b").is_dir()
    assert make_folder(tmp_path / "a" / "b") == []
    remove_folders(made)
    assert not (tmp_path / "a").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="file is a file, not a folder"):
        make_folder(tmp_path / "file" / "sub", error=ExportError)
    with pytest.raises(ExportError, match="is a file"):
        make_folder(tmp_path / "file", error=ExportError)


def test_a_folder_that_cannot_be_made_is_a_clear_error(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from highlight_studio.fileio import make_folder

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)  # as a read-only parent does (root ignores modes)
    with pytest.raises(ExportError, match=r"Cannot create the folder .*new: Permission denied"):
        make_folder(tmp_path / "new", error=ExportError)
