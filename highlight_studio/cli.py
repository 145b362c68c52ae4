"""The ``highlight-studio`` console script: a thin argparse layer over the core.

Each subcommand lives in ``highlight_studio/commands/<name>.py`` with two functions,
``register(subparsers)`` (adds its parser and sets ``func``) and the function it sets, which
takes the parsed ``argparse.Namespace`` and returns an exit code. ``highlight-studio CLIP``
(a path instead of a subcommand) opens the GUI on that clip. Exit codes are listed in
:data:`EXIT_CODES` and in ``--help``, so batch scripts can tell a failure from an interruption.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import HighlightStudioError, NothingSelected
from .events import Cancelled

COMMANDS = ("analyze", "train", "fit_head", "extract", "evaluate", "export", "model_summary",
            "gui")
EXIT_CODES = {
    0: "done",
    1: "an error (the message says which)",
    2: "a usage mistake",
    3: "export found no highlight above the threshold",
    130: "interrupted (Ctrl+C) or cancelled",
    141: "stdout closed (a pipe)",
    143: "terminated (SIGTERM)",
}


class Terminated(KeyboardInterrupt):
    """SIGTERM (what `timeout` and job schedulers send), raised where Ctrl+C would be, so the
    same clean-up runs: partial outputs are removed, nothing half-written is left."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand, or with ``only`` that one (a command line naming its
    command imports just that module: ``analyze`` starts without the training and export
    stacks, a few tenths of a second of a cold start)."""
    parser = argparse.ArgumentParser(
        prog="highlight-studio",
        description="Find highlight moments in video, unsupervised (RASL). "
                    "`highlight-studio CLIP` opens the window on CLIP.",
        epilog="exit codes: " + "; ".join(f"{code} {what}" for code, what in EXIT_CODES.items()),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS if only is None else (only,):
        try:
            module = importlib.import_module(f".commands.{name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.endswith(f"commands.{name}"):
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    named = argv[0].replace("-", "_") if argv else None
    parser = build_parser(named if named in COMMANDS else None)
    known = {a for a in parser._subparsers._group_actions[0].choices}  # type: ignore[union-attr]
    if argv and argv[0] not in known and _looks_like_a_clip(argv[0]) and "gui" in known:
        argv = ["gui", *argv]  # `highlight-studio CLIP` opens the window on CLIP
    args = parser.parse_args(argv)  # a mistyped command ("analyse") is a usage error here
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    # The window closes itself on a signal; handlers can only be set on the main thread.
    handles_term = (args.command != "gui"
                    and threading.current_thread() is threading.main_thread()
                    and signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN)
    previous = signal.signal(signal.SIGTERM, _terminate) if handles_term else None
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe is noticed here, where it is handled, not at exit
        return code
    except NothingSelected as exc:
        print(f"nothing selected: {exc}", file=sys.stderr)
        return 3
    except HighlightStudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Cancelled:
        print("cancelled", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`). Commands write their files before stdout, so the
        # files are there; say nothing more, and keep Python from complaining again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    finally:
        if handles_term:  # main() called from Python (tests, scripts) leaves no trace
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _looks_like_a_clip(word: str) -> bool:
    """A path the window can open, not a mistyped command: an existing file or a name with
    a suffix (a missing clip then gets the window's own error, not argparse's)."""
    return not word.startswith("-") and (Path(word).is_file() or bool(Path(word).suffix))


if __name__ == "__main__":
    sys.exit(main())
