"""Write tiny benchmark folders in the layout of shared/benchmarks/FORMAT.md for tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def write_benchmark(root: Path, protocol: str, videos: dict[str, dict], *, audio_dim: int = 3
                    ) -> Path:
    """Write ``root`` with anno.json, visual/ and audio/ from ``videos``.

    Each entry holds ``domain``, ``visual`` (an [n, d] array) and either ``labels`` (yth) or
    ``annotators`` (tvsum, [n, n_annotators]), and optionally ``motion`` (an [n, d'] array;
    the motion/ folder is written when any video has one). Audio is a deterministic
    [n, audio_dim] array, or left out for every video when ``audio_dim`` is 0.
    """
    (root / "visual").mkdir(parents=True)
    if any("motion" in v for v in videos.values()):
        (root / "motion").mkdir()
    if audio_dim:
        (root / "audio").mkdir()
    anno: dict = {"name": root.name, "protocol": protocol, "videos": {}}
    for vid, v in videos.items():
        visual = np.asarray(v["visual"], dtype=np.float16)
        n = visual.shape[0]
        np.save(root / "visual" / f"{vid}.npy", visual)
        if "motion" in v:
            np.save(root / "motion" / f"{vid}.npy", np.asarray(v["motion"], dtype=np.float16))
        if audio_dim:
            audio = np.arange(n * audio_dim, dtype=np.float16).reshape(n, audio_dim)
            np.save(root / "audio" / f"{vid}.npy", audio)
        entry = {"domain": v["domain"], "fps": 30.0, "frames": 50 * n + 50, "n_steps": n}
        if "labels" in v:
            entry["labels"] = list(v["labels"])
        if "annotators" in v:
            entry["annotators"] = np.asarray(v["annotators"]).tolist()
        anno["videos"][vid] = entry
    (root / "anno.json").write_text(json.dumps(anno), encoding="utf-8")
    return root
