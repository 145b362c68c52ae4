"""Export a checkpoint's visual branch to the ONNX graph that scores clips without torch.

    python scripts/export_scorer_onnx.py [CHECKPOINT ...]   (default: the shipped models)

Loads each checkpoint as analysis does (PyTorch), exports ``RASL.score`` with
:func:`highlight_studio.model.onnx_export.export_scorer` (the checkpoint's SHA-256, window and
feature size go into the metadata, which loading checks), then scores random windows and a
stitched random clip both ways and refuses to keep a graph that differs by more than
``onnx_scorer.TOLERANCE``. Needs ``onnx`` and ``onnxscript`` (developer tools). Writes
``<stem>.visual.onnx`` beside each checkpoint.
"""

from __future__ import annotations

import argparse
import hashlib
import sys

import numpy as np

from highlight_studio.errors import HighlightStudioError
from highlight_studio.model.checkpoint import load_checkpoint
from highlight_studio.model.description import resolve_checkpoint
from highlight_studio.model.inference import raw_scores
from highlight_studio.model.onnx_export import export_scorer
from highlight_studio.model.onnx_scorer import TOLERANCE, OnnxScorer, ScorerSpec, graph_path

SHIPPED = ("default", "rasl-yth-i3d")


def export(name: str) -> str:
    path = resolve_checkpoint(name)
    model, meta = load_checkpoint(path, device="cpu")
    out = graph_path(path)
    export_scorer(model, ScorerSpec.of(path, meta.config), out)
    scorer = OnnxScorer(path, meta)
    rng = np.random.default_rng(0)
    # 2.5 windows of features at the scale real ones have (Lite0/I3D pooled: 0..~3)
    visual = rng.gamma(1.0, 0.5, (int(2.5 * meta.config.window), meta.config.visual_dim))
    visual = visual.astype(np.float32)
    diff = float(np.abs(raw_scores(scorer, visual) - raw_scores(model, visual)).max())
    if diff > TOLERANCE:
        out.unlink()
        raise SystemExit(f"{out.name}: ONNX Runtime differs from PyTorch by {diff:.2e}: removed.")
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    return (f"{out} ({out.stat().st_size / 2**20:.1f} MiB, sha256 {digest[:12]}): max abs "
            f"activation diff {diff:.1e} from PyTorch on {len(visual)} steps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="*", default=list(SHIPPED))
    args = parser.parse_args()
    for name in args.checkpoints:
        try:
            print(export(name))
        except HighlightStudioError as exc:
            sys.exit(str(exc))


if __name__ == "__main__":
    main()
