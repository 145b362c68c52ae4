"""Export a backbone's network to the ONNX graph Highlight Studio ships for ONNX Runtime.

    python scripts/export_backbone_onnx.py [NAME]

Builds the backbone from its packaged weights exactly as analysis does (PyTorch, BatchNorm
folded), exports it with :func:`highlight_studio.features.onnx_export.export_onnx` (the source
weights' SHA-256, input size, backbone id and torch/timm versions go into the metadata, which
loading checks), then builds the backbone again on ONNX Runtime the way analysis will and compares
its features with PyTorch's on synthetic frames, refusing to keep a file that disagrees. Needs
``onnx`` and ``onnxscript`` (developer tools, not runtime dependencies). Writes
models/backbones/NAME.onnx.
"""

from __future__ import annotations

import argparse
import hashlib
import sys

import numpy as np

from highlight_studio.errors import HighlightStudioError
from highlight_studio.features.onnx_export import export_onnx
from highlight_studio.features.onnx_runtime import onnx_path
from highlight_studio.features.visual import DEFAULT_BACKBONE, create_backbone

TOLERANCE = 1e-4  # max abs feature difference a shipped graph may have from PyTorch


def synthetic_frames(size: tuple[int, int], n: int = 8) -> np.ndarray:
    """Smooth gradients with edges and noise: picture-like enough to exercise every channel."""
    width, height = size
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for k in range(n):
        base = np.stack([x / width, y / height, ((x + y + 17 * k) % 64) / 64], -1) * 255
        base[(x // 32 + y // 32 + k) % 2 == 0] *= 0.5
        frames.append(np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8))
    return np.stack(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", default=DEFAULT_BACKBONE)
    args = parser.parse_args()
    out = onnx_path(args.name)
    try:
        backbone = create_backbone(args.name, device="cpu", runtime="torch")
        spec = backbone.onnx_spec()
        if spec is None:
            sys.exit(f"{args.name} has seeded weights: nothing to ship.")
        out.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(backbone.module, spec, out)
        frames = synthetic_frames(backbone.input_size)
        shipped = create_backbone(args.name, device="cpu", runtime="onnxruntime")
        diff = float(np.abs(shipped.embed(frames) - backbone.embed(frames)).max())
    except HighlightStudioError as exc:
        sys.exit(str(exc))
    if diff > TOLERANCE:
        out.unlink()
        sys.exit(f"ONNX Runtime features differ from PyTorch by {diff:.2e}: file removed.")
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"{out} ({out.stat().st_size / 2**20:.1f} MiB, sha256 {digest[:12]}): "
          f"{spec.backbone_id}, max abs diff {diff:.1e} from PyTorch on {len(frames)} frames")


if __name__ == "__main__":
    main()
