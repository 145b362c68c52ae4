"""Curves of clips analysed before, so reopening one shows it at once.

The engine's feature cache already skips decoding, but ``analyze`` still loads the model and
backbone (about 2 s on a CPU). The finished scores are tiny, so the window keeps them too, keyed
by the clip's identity (path, size, mtime, sampled hash: the feature cache's own notion) and the
model file's (path, size, mtime): a changed clip or a retrained model is analysed again. The
lookups read the clip (its sampled hash), so they run on the analysis worker thread.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from ..errors import HighlightStudioError
from ..features.cache import SourceIdentity, default_cache_root
from ..fileio import atomic_path
from ..media import probe
from ..model.description import resolve_checkpoint
from ..scoring import DEFAULT_MODEL, Analysis

log = logging.getLogger(__name__)
FORMAT_VERSION = 1


def curve_path(clip: str | Path, checkpoint: str | None) -> Path:
    model = resolve_checkpoint(checkpoint or DEFAULT_MODEL).resolve()
    stat = model.stat()
    blob = json.dumps({"version": FORMAT_VERSION, "clip": SourceIdentity.of(clip).__dict__,
                       "model": [str(model), stat.st_size, stat.st_mtime_ns]}, sort_keys=True)
    digest = hashlib.sha256(blob.encode("utf-8")).hexdigest()
    return default_cache_root() / "curves" / f"{digest}.npz"


def load_curve(clip: str | Path, checkpoint: str | None) -> Analysis | None:
    """The saved analysis of ``clip`` by this model, or None (never saved, changed, unreadable)."""
    try:
        path = curve_path(clip, checkpoint)
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            scores = data["scores"].astype(np.float32)
        return Analysis(Path(clip), probe(clip), meta["model_name"], meta["backbone_id"],
                        float(meta["step"]), scores, meta["device"],
                        tuple(meta.get("notes", ())))
    except (HighlightStudioError, OSError, ValueError, KeyError) as exc:
        log.info("no saved curve for %s: %s", clip, exc)
        return None


def save_curve(analysis: Analysis, checkpoint: str | None) -> None:
    """Keep ``analysis``'s scores; failing to is only logged (it is a speed-up, not data)."""
    meta = {"model_name": analysis.model_name, "backbone_id": analysis.backbone_id,
            "step": analysis.step, "device": analysis.device, "notes": list(analysis.notes)}
    try:
        path = curve_path(analysis.path, checkpoint)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            np.savez(tmp, scores=analysis.scores, meta=np.array(json.dumps(meta)))
    except (HighlightStudioError, OSError) as exc:
        log.warning("could not keep the curve of %s: %s", analysis.path, exc)
