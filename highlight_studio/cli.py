"""The ``highlight-studio`` console script: a thin argparse layer over the core.

Each subcommand lives in ``highlight_studio/commands/<name>.py`` with two functions,
``register(subparsers)`` (adds its parser and sets ``func``) and the function it sets, which
takes the parsed ``argparse.Namespace`` and returns an exit code. ``highlight-studio CLIP``
(a path instead of a subcommand) opens the GUI on that clip.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from . import __version__
from .errors import HighlightStudioError
from .events import Cancelled

COMMANDS = ("analyze", "train", "evaluate", "export", "model_summary", "gui")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="highlight-studio",
        description="Find highlight moments in video, unsupervised (RASL).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
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
    parser = build_parser()
    known = {a for a in parser._subparsers._group_actions[0].choices}  # type: ignore[union-attr]
    if argv and argv[0] not in known and not argv[0].startswith("-") and "gui" in known:
        argv = ["gui", *argv]  # `highlight-studio CLIP` opens the window on CLIP
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except HighlightStudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Cancelled:
        print("cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
