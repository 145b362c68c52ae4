"""``highlight-studio model-summary``: parameters and inference MACs of a RASL shape, as JSON."""

from __future__ import annotations

import argparse
import json

from ..model.config import RASLConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "model-summary", help="print the model's parameter count and inference MACs (JSON)",
        description="Build a RASL network of the given shape and print its size and the "
                    "multiply-accumulates of one visual inference window.")
    parser.add_argument("--visual-dim", type=int, default=1024, help="visual feature width d")
    parser.add_argument("--audio-dim", type=int, default=1024, help="audio feature width")
    parser.add_argument("--steps", type=int, default=150, help="window length in steps")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..model.summary import model_summary  # torch loads only when the command runs

    config = RASLConfig(visual_dim=args.visual_dim, audio_dim=args.audio_dim, window=args.steps)
    print(json.dumps(model_summary(config), indent=2))
    return 0
