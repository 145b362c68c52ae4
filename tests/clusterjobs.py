"""Per-file jobs for the fan-out tests. They live in a module of their own so that worker
processes (spawned, or Ray's) can import them by name."""

from __future__ import annotations

import os
import time
from pathlib import Path

from highlight_studio.errors import MediaError
from highlight_studio.features.corpus import ClipArrays, ExtractJob


class FlakyJob:
    """Returns the file's size. A name containing "flaky" fails on its first try only (a
    marker file remembers the try), "broken" always fails, "crash" kills its worker process
    on the first try, "slow" takes 30 s."""

    def __init__(self, marks: Path) -> None:
        self.marks = marks
        self.pid = 0

    def setup(self) -> None:
        self.pid = os.getpid()

    def __call__(self, path: str) -> tuple[int, int]:
        name = Path(path).name
        mark = self.marks / f"{name}.tried"
        first = not mark.exists()
        mark.touch()
        if "broken" in name:
            raise MediaError(f"{name} cannot be read")
        if "flaky" in name and first:
            raise OSError("a network share went away")
        if "crash" in name and first:
            os._exit(9)
        if "slow" in name:  # long enough that only stopping the worker ends it early
            time.sleep(30)
            (self.marks / f"{name}.finished").touch()
        return Path(path).stat().st_size, self.pid


class PidReportingExtract(ExtractJob):
    """The real extraction, which first writes its worker's process id to ``pids/`` and waits
    a moment, so a test can kill that worker while it holds a clip."""

    def __init__(self, settings, pids: Path) -> None:  # type: ignore[no-untyped-def]
        super().__init__(settings)
        self.pids = pids

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "pids": self.pids}

    def __call__(self, path: str) -> ClipArrays:
        (self.pids / f"{os.getpid()}-{Path(path).stem}").touch()
        time.sleep(1.0)
        return super().__call__(path)
