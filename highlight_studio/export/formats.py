"""Every export format in one table, and the one generator that writes any set of them.

A format is a row of :data:`FORMATS` (an :class:`Exporter`: key, label, suffix, file or folder,
write function). The ``export`` command's flags and the window's export dialog are built from
the table, and both write through :func:`export`, so adding a format is one writer and one
row. What every export promises is kept here, once:

* checked first (:func:`check_targets`): a format's own needs (a timecode rate for an EDL, a
  valid cut-name template) are refused before any analysis or writing;
* folder formats (the slow, fragile MP4 cuts) are written first, and timelines only beside them;
* all or nothing: when any format fails or is cancelled, every file written and every folder
  made is removed again; each file itself is written under a temporary name and verified
  before it is renamed into place (``fileio.atomic_path``), so no ``.partial`` is left behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ..errors import ExportError
from ..events import CancelToken, Progress
from ..fileio import atomic_write_text, make_folder, remove_folders
from ..media import MediaInfo
from ..segments import Segment
from .cuts import CutOptions, CutResult, cut_clips, output_name
from .segment_list import segments_csv, segments_json
from .timeline import Timeline, build_timeline, editing_rate
from .timelines import require_timecode_rate, write_edl, write_fcpxml, write_otio


@dataclass(frozen=True)
class ExportOptions:
    """The choices formats read (see :attr:`Exporter.reads`)."""

    edl_preset: str = "premiere"  # see timelines.EDL_PRESETS
    cuts: CutOptions = field(default_factory=CutOptions)


@dataclass(frozen=True)
class Selection:
    """What is exported: the clip's probe, its segments in seconds and the model that chose
    them. The frame timeline is built once, when the first format that needs it asks."""

    info: MediaInfo
    segments: tuple[Segment, ...]
    model: str = ""

    @cached_property
    def timeline(self) -> Timeline:
        return build_timeline(self.info, self.segments, tape=self.info.tape_name)


# A writer yields Progress and each file it has put in place (a Path, or a CutResult).
Writer = Callable[[Selection, Path, ExportOptions, CancelToken | None],
                  Iterator[Progress | Path | CutResult]]
# A check sees only the probe and the target, so it runs before any analysis.
Check = Callable[[MediaInfo, Path, ExportOptions], None]


@dataclass(frozen=True)
class Exporter:
    """One format: a row of :data:`FORMATS`."""

    key: str  # the command's flag (--KEY, or --KEY-dir for a folder) and scripts' name for it
    label: str  # what the dialog shows (and remembers between exports)
    suffix: str  # of the file written, or of the files written into the folder
    folder: bool  # writes several files into a folder, not one file
    write: Writer
    help: str  # the flag's help
    on_frames: bool = True  # written from the frame timeline: sub-frame segments are left out
    check: Check | None = None
    reads: frozenset[str] = frozenset()  # the ExportOptions fields it reads

    @property
    def flag(self) -> str:
        return f"--{self.key}-dir" if self.folder else f"--{self.key}"


@dataclass(frozen=True)
class Target:
    """One format to write and where: the file, or the folder for a folder format."""

    format: str  # a key or label of FORMATS
    path: Path
    options: ExportOptions = field(default_factory=ExportOptions)

    @property
    def exporter(self) -> Exporter:
        return find_format(self.format)


@dataclass(frozen=True)
class ExportDone:
    """What one export wrote."""

    paths: tuple[Path, ...]
    segments: int  # the fewest any format holds (a segment shorter than a frame is listed only)
    notes: tuple[str, ...] = ()  # what the writers warned about (trimmed segments, a long tape)
    cuts: tuple[CutResult, ...] = ()  # the MP4s, with the bounds they really have


# -- the writers ------------------------------------------------------------------------------


def _edl(selection: Selection, path: Path, options: ExportOptions,
         cancel: CancelToken | None) -> Iterator[Path]:
    yield write_edl(selection.timeline, path, options.edl_preset)


def _fcpxml(selection: Selection, path: Path, options: ExportOptions,
            cancel: CancelToken | None) -> Iterator[Path]:
    yield write_fcpxml(selection.timeline, path)


def _otio(selection: Selection, path: Path, options: ExportOptions,
          cancel: CancelToken | None) -> Iterator[Path]:
    yield write_otio(selection.timeline, path)


def _mp4(selection: Selection, path: Path, options: ExportOptions,
         cancel: CancelToken | None) -> Iterator[Progress | CutResult]:
    yield from cut_clips(selection.timeline, selection.info, path, options.cuts, cancel)


def write_text(selection: Selection, path: Path, text: str) -> Path:
    """Put ``text`` in place atomically, never over the clip it came from."""
    atomic_write_text(path, text, error=ExportError, protect=(selection.info.path,))
    return path


def _json(selection: Selection, path: Path, options: ExportOptions,
          cancel: CancelToken | None) -> Iterator[Path]:
    yield write_text(selection, path, segments_json(selection.info.path, selection.model,
                                                    selection.segments))


def _csv(selection: Selection, path: Path, options: ExportOptions,
         cancel: CancelToken | None) -> Iterator[Path]:
    yield write_text(selection, path, segments_csv(selection.segments))


def _timecode_rate(what: str) -> Check:
    """A check that refuses a rate editors do not take for ``what``, before any analysis."""
    def check(info: MediaInfo, path: Path, options: ExportOptions) -> None:
        require_timecode_rate(editing_rate(info), info.path.name, what)
    return check


def _cut_names(info: MediaInfo, path: Path, options: ExportOptions) -> None:
    """The file name template must work and the folder must be one that can be made."""
    output_name(options.cuts.template, clip=info.path.stem, index=1, tc="00-00-00-00",
                start=0.0, end=1.0)
    for existing in (path, *path.parents):  # the folder, or the parent it would be made in
        if existing.exists():
            if not existing.is_dir():
                raise ExportError(f"{existing} is a file, not a folder; pick another folder.")
            return


FORMATS: dict[str, Exporter] = {e.key: e for e in (
    Exporter("edl", "EDL (CMX 3600)", ".edl", False, _edl, "write a CMX 3600 EDL",
             check=_timecode_rate("An EDL"), reads=frozenset({"edl_preset"})),
    Exporter("fcpxml", "Final Cut Pro XML", ".fcpxml", False, _fcpxml,
             "write an FCPXML timeline", check=_timecode_rate("FCPXML")),
    Exporter("otio", "OpenTimelineIO", ".otio", False, _otio,
             "write an OpenTimelineIO timeline"),
    Exporter("mp4", "MP4 cuts", ".mp4", True, _mp4, "write one MP4 per segment here",
             check=_cut_names, reads=frozenset({"cuts"})),
    Exporter("json", "JSON segment list", ".json", False, _json,
             "write the segments as a JSON list", on_frames=False),
    Exporter("csv", "CSV segment list", ".csv", False, _csv,
             "write the segments as a CSV list", on_frames=False),
)}


def find_format(name: str) -> Exporter:
    """A format by its key (the command, scripts) or its label (the dialog, saved choices)."""
    if name in FORMATS:
        return FORMATS[name]
    for exporter in FORMATS.values():
        if exporter.label == name:
            return exporter
    raise ExportError(f"Unknown export format {name!r}; choose from {', '.join(FORMATS)}.")


# -- the one way out --------------------------------------------------------------------------


def check_targets(info: MediaInfo, targets: Sequence[Target]) -> None:
    """Refuse, before any analysis or writing, what would fail later: no format, two formats
    writing one path, and what each format checks itself (timecode rate, cut names)."""
    if not targets:
        raise ExportError("Nothing to export: choose at least one format.")
    seen: dict[str, Exporter] = {}
    for target in targets:
        exporter = target.exporter
        key = os.path.realpath(target.path)
        if key in seen:
            raise ExportError(f"{seen[key].label} and {exporter.label} would both be written to "
                              f"{target.path}; give each its own.")
        seen[key] = exporter
        if exporter.check is not None:
            exporter.check(info, Path(target.path), target.options)


def export(selection: Selection, targets: Sequence[Target], cancel: CancelToken | None = None
           ) -> Iterator[Progress | ExportDone]:
    """Write every target, yielding Progress, then one :class:`ExportDone`; all or nothing
    (see the module's docstring). A folder that is missing is made, and removed again if the
    export does not complete."""
    check_targets(selection.info, targets)
    ordered = sorted(targets, key=lambda t: not t.exporter.folder)
    written: list[Path] = []
    made: list[Path] = []
    held: list[int] = []
    cuts: list[CutResult] = []
    try:
        with _warnings() as notes:
            for target in ordered:
                exporter = target.exporter
                path = Path(target.path)
                if exporter.folder:
                    made.extend(make_folder(path, error=ExportError))
                for event in exporter.write(selection, path, target.options, cancel):
                    if isinstance(event, Progress):
                        yield event
                    elif isinstance(event, CutResult):
                        written.append(event.path)
                        cuts.append(event)
                    else:
                        written.append(event)
                held.append(len(selection.timeline.cuts) if exporter.on_frames
                            else len(selection.segments))
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        remove_folders(made)
        raise
    yield ExportDone(tuple(written), min(held), tuple(notes), tuple(cuts))


class _Notes(logging.Handler):
    """Warnings the export package logs on one thread: the command prints them as they come,
    the window shows them with the result."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.notes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.notes.append(record.getMessage())


@contextlib.contextmanager
def _warnings() -> Iterator[list[str]]:
    handler = _Notes()
    logger = logging.getLogger("highlight_studio.export")
    logger.addHandler(handler)
    try:
        yield handler.notes
    finally:
        logger.removeHandler(handler)
