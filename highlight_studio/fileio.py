"""Atomic file writes: a reader never sees half a file, a failed write leaves nothing behind."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import socket
import stat
import tempfile
import time
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
# Temporaries are named ".<stem>.hs-<host>-<pid>-<random>.partial<suffix>": a process killed
# with SIGKILL (or a power cut) leaves one behind, and a later write to the same folder
# removes it once its writer is known to be gone: on this host and that process no longer
# running, or older than _STALE_SECONDS whoever wrote it (a shared folder on a network drive).
_HOST = hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]
_PARTIAL = re.compile(r"^\..*\.hs-([0-9a-f]{6})-(\d+)-[A-Za-z0-9_]+\.partial[^/]*$")
_STALE_SECONDS = 24 * 3600


def _clip(text: str) -> str:
    """At most _TMP_STEM bytes of ``text`` in UTF-8, cut on a character boundary (bytes that
    were not UTF-8 in the first place are left out; this is only the temporary's name)."""
    return text.encode("utf-8", "surrogateescape")[:_TMP_STEM].decode("utf-8", "ignore")


def _process_gone(pid: int) -> bool:
    """Whether no process ``pid`` runs here. On Windows ``os.kill`` would end it: unknown."""
    if os.name != "posix" or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it runs, as another user
        return False
    return False


def remove_stale_partials(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries an earlier, killed write left in ``folder``; return them.

    Only files named as :func:`atomic_path` names them, regular files (no links), whose
    writer is gone (same host, process not running) or that are a day old.
    """
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _PARTIAL.match(entry.name)
        if match is None:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode):
                continue
            dead = match.group(1) == _HOST and _process_gone(int(match.group(2)))
            if dead or now - info.st_mtime > _STALE_SECONDS:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # gone already, or not ours to remove
            continue
    return removed


def make_folder(path: str | os.PathLike[str], *, error: type[HighlightStudioError]
                = HighlightStudioError) -> list[Path]:
    """Create ``path`` and any missing parents; return the folders created, outermost first,
    so a failed run can remove what it made. A parent that cannot be made is ``error``."""
    folder = Path(path)
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.is_dir():
            break
        missing.append(candidate)
    if folder.exists() and not folder.is_dir():
        raise error(f"{folder} is a file, not a folder; pick another folder.")
    for candidate in reversed(missing):
        try:
            candidate.mkdir()
        except FileExistsError:
            if not candidate.is_dir():
                raise error(f"{candidate} is a file, not a folder; pick another folder."
                            ) from None
        except OSError as exc:
            raise error(f"Cannot create the folder {candidate}: "
                        f"{exc.strerror or exc}.") from exc
    return list(reversed(missing))


def remove_folders(folders: Iterable[Path]) -> None:
    """Remove folders :func:`make_folder` created, innermost first, if they are still empty."""
    for folder in reversed(list(folders)):
        with contextlib.suppress(OSError):
            folder.rmdir()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a whole file, read a MiB at a time (a graph names the weights it was
    exported from by this, so a stale graph is refused)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
        remove_stale_partials(target.parent)
        fd, name = tempfile.mkstemp(prefix=f".{_clip(target.stem)}.hs-{_HOST}-{os.getpid()}-",
                                    suffix=f".partial{_clip(target.suffix)}",
                                    dir=target.parent)
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
