"""Atomic file writes: a reader never sees half a file, a failed write leaves nothing behind."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import HighlightStudioError


def describe_os_error(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"Not enough disk space to write {path}."
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"Cannot write to {path.parent}: the folder is read-only or not yours."
    if exc.errno == errno.ENOENT:
        return f"The folder {path.parent} does not exist."
    return f"Could not write {path}: {exc.strerror or exc}"


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, while the process is single-threaded: os.umask can only be read by setting it,
# and a thread creating a file during that moment would get it world-writable.
_UMASK = _read_umask()
_TMP_STEM = 40  # bytes of the target's name kept in the temporary name (NAME_MAX is 255)


def _clip(text: str) -> str:
    """At most _TMP_STEM bytes of ``text`` in UTF-8, cut on a character boundary (bytes that
    were not UTF-8 in the first place are left out; this is only the temporary's name)."""
    return text.encode("utf-8", "surrogateescape")[:_TMP_STEM].decode("utf-8", "ignore")


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether ``a`` would write over ``b``: the same resolved path, or (for an existing ``a``)
    the same file through a link or a case-insensitive file system."""
    a, b = Path(a), Path(b)
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return False


def _sync(path: Path) -> None:
    """Flush ``path`` (a file, or on POSIX a folder, which makes a rename in it durable) to the
    disk. POSIX syncs through any descriptor, a read-only one included; Windows needs write
    access and cannot open folders."""
    flags = os.O_RDONLY if os.name == "posix" else os.O_RDWR | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, error: type[HighlightStudioError]
                = HighlightStudioError,
                protect: Iterable[str | os.PathLike[str]] = (),
                durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only on success.

    The temporary file keeps the target's suffix so libraries that pick a format from the
    extension (PyAV, numpy) still do the right thing. OS errors become ``error`` with a message
    a user can act on (full disk, read-only folder). ``path`` is refused, before anything is
    written, when it is one of the ``protect`` files (the clip being exported). ``durable``
    (the default) flushes the data to the disk before the rename; state that is cheap to lose
    and written from the GUI thread (session, settings) skips that wait. A ``path`` that is a
    symbolic link is written through: the file it points to is replaced and the link stays (an
    editor's link to a shared EDL keeps pointing at the new one). A replaced file keeps its
    permissions (a group-writable shared EDL stays group-writable); a new one gets the umask's.
    """
    target = Path(path)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    for kept in protect:
        if same_file(target, kept):
            raise error(f"{target} is the source clip {Path(kept).name}; it is never "
                        "overwritten. Pick another name or folder.")
    tmp: Path | None = None
    try:
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~_UMASK
        fd, name = tempfile.mkstemp(prefix=f".{_clip(target.stem)}.",
                                    suffix=f".partial{_clip(target.suffix)}", dir=target.parent)
        os.close(fd)
        tmp = Path(name)
        yield tmp
        # mkstemp makes 0600 and some writers (safetensors) replace the file with their own;
        # outputs get the mode above where the file system keeps modes (FAT and exFAT
        # refuse chmod, and their files are readable anyway).
        with contextlib.suppress(OSError):
            os.chmod(tmp, mode)
        if durable:  # the data reaches the disk before the name: a power cut leaves the old
            _sync(tmp)  # file or the new one, never an empty one
        os.replace(tmp, target)
        tmp = None
        if durable and os.name == "posix":
            with contextlib.suppress(OSError):  # the file is in place; this only hardens it
                _sync(target.parent)
    except OSError as exc:
        raise error(describe_os_error(target, exc)) from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *,
                       error: type[HighlightStudioError] = HighlightStudioError,
                       protect: Iterable[str | os.PathLike[str]] = (),
                       durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (never over a ``protect`` file)."""
    with atomic_path(path, error=error, protect=protect, durable=durable) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, *,
                      error: type[HighlightStudioError] = HighlightStudioError,
                      protect: Iterable[str | os.PathLike[str]] = (),
                      durable: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (never over a ``protect`` file)."""
    atomic_write_bytes(path, text.encode("utf-8"), error=error, protect=protect,
                       durable=durable)
