"""``highlight-studio gui [CLIP]`` (also plain ``highlight-studio CLIP``): open the window."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gui", help="open the Highlight Studio window",
                                   description="Open the window, optionally on a clip.")
    parser.add_argument("clip", nargs="?", help="a video file to open and analyse")
    parser.add_argument("--checkpoint", help="model name or .safetensors path "
                        "(default: the clip's last model, else the shipped one)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..gui import run as run_gui  # Qt loads only here, so the rest of the CLI stays Qt-free

    return run_gui(args.clip, checkpoint=args.checkpoint)
