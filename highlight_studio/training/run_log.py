"""A run's log: every TrainEvent as one JSON line in ``<checkpoint>.log.jsonl``, with the
training time so far. Torch-free."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelError
from ..fileio import atomic_write_text

if TYPE_CHECKING:  # the trainer imports torch
    from .trainer import TrainEvent


class RunLog:
    """A resumed run appends, and its training time carries on from the last line it keeps:
    steps logged after the checkpoint it resumes from were lost with the cancel or crash, so
    they are dropped."""

    def __init__(self, checkpoint: Path, resume: bool) -> None:
        self.path = checkpoint.with_name(checkpoint.name + ".log.jsonl")
        self.lines = (self.path.read_text().splitlines()
                      if resume and self.path.exists() else [])
        self.earlier_seconds = 0.0
        self.seconds = 0.0
        self.last: TrainEvent | None = None

    def add(self, event: TrainEvent, seconds: float) -> None:
        if self.last is None:  # the first event of this session: the steps before it stay
            self.lines = [line for line in self.lines if json.loads(line)["step"] < event.step]
            last = json.loads(self.lines[-1]) if self.lines else {}
            self.earlier_seconds = float(last.get("train_seconds", 0.0))
        self.seconds = self.earlier_seconds + seconds
        record = asdict(event)
        record["checkpoint"] = str(event.checkpoint) if event.checkpoint else None
        record["train_seconds"] = round(self.seconds, 3)
        self.lines.append(json.dumps(record))
        atomic_write_text(self.path, "\n".join(self.lines) + "\n", error=ModelError)
        self.last = event
