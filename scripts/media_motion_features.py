"""The pretraining clips' frame features and motion stream, as a feature folder (visual/,
motion/, no labels) that ``highlight-studio fit-head`` reads.

    python scripts/media_motion_features.py [--media data/media] [--model default]
                                            [--out data/default_motion_features]

Each clip goes through the analysis's own extraction (``features.extract.extract_features``,
the model's backbone and step, ``features.motion.DEFAULT_MOTION``; cached), so the rows are
exactly what the app reads. A clip without motion (a single frame) is left out: the joint
teacher needs both streams. The folder's ``features.json`` names the backbone and step, which
``fit-head`` checks against the model's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from highlight_studio.features.cache import FeatureCache
from highlight_studio.features.corpus import DESCRIPTION
from highlight_studio.features.extract import ClipFeatures, extract_features
from highlight_studio.features.motion import DEFAULT_MOTION
from highlight_studio.features.onnx_runtime import torch_free_backbone
from highlight_studio.model.description import read_meta
from highlight_studio.training.inputs import find_videos

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, default=ROOT / "data" / "media")
    parser.add_argument("--model", default="default")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "default_motion_features")
    args = parser.parse_args()
    meta = read_meta(args.model)
    backbone = torch_free_backbone(meta.backbone_id)
    cache = FeatureCache()
    for stream in ("visual", "motion"):
        (args.out / stream).mkdir(parents=True, exist_ok=True)
    kept = []
    for path in find_videos([args.media]):
        features = None
        for item in extract_features(path, backbone, meta.step_seconds, cache,
                                     with_audio=False, motion=DEFAULT_MOTION):
            if isinstance(item, ClipFeatures):
                features = item
        assert features is not None
        if features.motion is None or len(features.visual) < 3:
            print(f"{path.name}: left out ({features.motion_note or 'under 3 steps'})")
            continue
        np.save(args.out / "visual" / f"{path.stem}.npy", features.visual.astype(np.float32))
        np.save(args.out / "motion" / f"{path.stem}.npy", features.motion.astype(np.float32))
        kept.append(path.name)
        print(f"{path.name}: {len(features.visual)} steps", flush=True)
    (args.out / DESCRIPTION).write_text(json.dumps(
        {"backbone_id": meta.backbone_id, "step_seconds": meta.step_seconds,
         "visual_dim": meta.visual_dim, "motion": DEFAULT_MOTION.as_dict(), "clips": kept},
        indent=2))


if __name__ == "__main__":
    main()
