"""Atomic file writes: a reader never sees half a file, a failed write leaves nothing behind."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import HighlightStudioError


def _describe_os_error(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"Not enough disk space to write {path}."
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"Cannot write to {path.parent}: the folder is read-only or not yours."
    if exc.errno == errno.ENOENT:
        return f"The folder {path.parent} does not exist."
    return f"Could not write {path}: {exc.strerror or exc}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, error: type[HighlightStudioError]
                = HighlightStudioError) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only on success.

    The temporary file keeps the target's suffix so libraries that pick a format from the
    extension (PyAV, numpy) still do the right thing. OS errors become ``error`` with a message
    a user can act on (full disk, read-only folder).
    """
    target = Path(path)
    tmp: Path | None = None
    try:
        fd, name = tempfile.mkstemp(
            prefix=f".{target.stem}.", suffix=f".partial{target.suffix}", dir=target.parent
        )
        os.close(fd)
        tmp = Path(name)
        yield tmp
        # mkstemp makes 0600 and some writers (safetensors) replace the file with their own;
        # outputs get the usual mode, set on whatever the writer left.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise error(_describe_os_error(target, exc)) from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *,
                       error: type[HighlightStudioError] = HighlightStudioError) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, error=error) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, *,
                      error: type[HighlightStudioError] = HighlightStudioError) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), error=error)
