"""Collapse diagnostics (METHOD.md, last section), computed on every logged training batch.

The literal recipe fails silently: losses look fine while SA swamps its input, r becomes one
vector per window, s saturates, SCL sits at chance and the score is feature norm with a random
sign. These numbers make each failure visible in the training log and the checkpoint.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..model.losses import LossTerms
from ..model.rasl import BranchOutput, RASLOutput


def _ranks(x: torch.Tensor) -> torch.Tensor:
    return x.argsort(dim=-1).argsort(dim=-1).float()


def spearman_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman correlation of each row of ``a`` with the same row of ``b`` ([B, N] -> [B])."""
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(-1, keepdim=True), rb - rb.mean(-1, keepdim=True)
    denom = (ra.norm(dim=-1) * rb.norm(dim=-1)).clamp_min(1e-12)
    return (ra * rb).sum(-1) / denom


@torch.no_grad()
def branch_diagnostics(out: BranchOutput, raw_input: torch.Tensor,
                       source: torch.Tensor | None = None) -> dict[str, float]:
    """Per-branch figures, averaged over the windows of the batch (``source`` [B, N]: each
    step's origin, see ``WindowBatch``)."""
    diag: dict[str, float] = {}
    if out.sa_out is not None:
        ratio = out.sa_out.norm(dim=-1) / out.target.norm(dim=-1).clamp_min(1e-12)
        diag["sa_ratio"] = float(ratio.mean())
    r = F.normalize(out.r, dim=-1)
    cos = r @ r.transpose(-1, -2)
    n = cos.shape[-1]
    off = (cos.sum(dim=(-1, -2)) - cos.diagonal(dim1=-2, dim2=-1).sum(-1)) / max(n * (n - 1), 1)
    diag["r_cos"] = float(off.mean())
    diag["s_std"] = float(out.s.std(dim=1).mean())
    diag["s_mean"] = float(out.s.mean())
    # A step ties when another step of its window, not a repeat-filled copy of it, has the
    # same s (a saturated sigmoid); copies share s by construction and are not counted.
    close = (out.s[:, :, None] - out.s[:, None, :]).abs() <= 1e-6
    if source is not None:
        close &= source[:, :, None] != source[:, None, :]
    close &= ~torch.eye(n, dtype=torch.bool, device=close.device)
    diag["s_ties"] = float(close.any(dim=-1).float().mean())
    norm = raw_input.norm(dim=-1)
    diag["norm_spearman"] = float(spearman_rows(out.logit, norm).mean())
    return diag


def collect(out: RASLOutput, losses: LossTerms, visual: torch.Tensor,
            audio: torch.Tensor | None, source: torch.Tensor | None = None) -> dict[str, float]:
    """All diagnostics of one batch, keys prefixed by branch ("visual_sa_ratio", ...)."""
    with torch.no_grad():
        diag = {f"visual_{k}": v
                for k, v in branch_diagnostics(out.visual, visual, source).items()}
        if out.audio is not None and audio is not None:
            a_source = source if source is None or out.audio_rows is None \
                else source[out.audio_rows]
            diag.update({f"audio_{k}": v
                         for k, v in branch_diagnostics(out.audio, audio, a_source).items()})
            diag["scl_scale"] = float(out.logit_scale)
        diag.update(losses.extras)
    return diag
