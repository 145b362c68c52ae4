"""The four RASL losses (Eq. 5, 6-8, 9, 10) and the optional spread term, on plain tensors.

Each returns a scalar; :func:`total_loss` adds the switched-on terms for both branches and
reports every term of :data:`~.loss_terms.LOSS_TERMS` (0 when off) plus what the collapse
diagnostics need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .config import RASLConfig
from .loss_terms import TERM_NAMES
from .rasl import RASL, BranchOutput, RASLOutput


def reconstruction_loss(target: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """L_e / L_au: mean absolute error between the input vectors and their reconstruction."""
    return (target - recon).abs().mean()


@dataclass
class KPointResult:
    loss: torch.Tensor
    # Mean cosine between top and bottom: the paired projected z (or inputs) for hard
    # selection, the two weighted means for soft (logged even where "spread" is trained on).
    top_bottom_cos: torch.Tensor


def kpoint_loss(
    s: torch.Tensor,
    z: torch.Tensor,
    k: int,
    proj_top: torch.nn.Module,
    proj_bottom: torch.nn.Module,
    norm: torch.nn.Module,
    *,
    rank: torch.Tensor | None = None,
    eta_mode: str = "top",
    contrast: bool = True,
    inputs: torch.Tensor | None = None,
) -> KPointResult:
    """L_r (Eq. 6-8) per window, averaged: softplus(-eta) with
    eta = mean_i w_i * (1 - cos(LN(W_hat z_top_i), LN(W_check z_bottom_i))).

    ``s`` [B, N] activations, ``z`` [B, N, F]. The top-k and bottom-k steps are chosen by
    ``rank`` (default ``s``), each set sorted ascending by it and paired rank by rank. The weight
    w_i is s_top_i (``eta_mode="top"``, the paper) or s_top_i - s_bottom_i
    (``"top_minus_bottom"``, which also pushes the bottom-k down). ``contrast=False`` drops
    the (1 - cos) factor: eta is then the activation gap alone. With ``inputs`` [B, N, D] the
    cosine compares the paired steps' input vectors instead (no projection).
    """
    key = s if rank is None else rank
    top = key.topk(k, dim=1).indices.flip(1)  # descending -> ascending
    bottom = (-key).topk(k, dim=1).indices  # smallest first -> ascending
    s_top, s_bottom = s.gather(1, top), s.gather(1, bottom)
    vectors = z if inputs is None else inputs
    idx_shape = (*top.shape, vectors.shape[-1])
    v_top = vectors.gather(1, top[..., None].expand(idx_shape))
    v_bottom = vectors.gather(1, bottom[..., None].expand(idx_shape))
    if inputs is None:
        v_top, v_bottom = norm(proj_top(v_top)), norm(proj_bottom(v_bottom))
    cos = F.cosine_similarity(v_top, v_bottom, dim=-1)
    weight = s_top - s_bottom if eta_mode == "top_minus_bottom" else s_top
    eta = (weight * (1.0 - cos) if contrast else weight).mean(dim=1)
    return KPointResult(loss=F.softplus(-eta).mean(), top_bottom_cos=cos.mean().detach())


def soft_kpoint_loss(
    s: torch.Tensor,
    r: torch.Tensor,
    rank: torch.Tensor,
    k: int,
    *,
    eta_mode: str = "top_minus_bottom",
    contrast: bool = True,
    measure: str = "cosine",
) -> KPointResult:
    """L_r with a differentiable choice of the top and bottom steps.

    Top weights are softmax(beta * q) and bottom weights softmax(-beta * q) over a window's
    N steps, q the per-window z-score of ``rank`` [B, N]. For normal q the effective number of
    steps such a weighting holds is N exp(-beta^2), so beta = sqrt(ln(N / k)) makes each side
    weigh about k steps, as hard top-k does. The contrast is 1 - cos between the two
    weighted means of ``r`` [B, N, F]: it grows when the steps ranked high and low differ the
    most, and its gradient reaches ``rank``, so the ranking itself moves towards that split
    (with hard top-k only the steps' activations move). ``r`` may also be the branch's input
    vectors (``kpoint_space="input"``). ``measure="spread"`` replaces 1 - cos by the distance
    between the two weighted means in units of twice the window's RMS spread around its mean:
    scale-free, and largest for the split along the window's main axis of change (the
    direction of its first principal component). eta is the weighted activation gap
    (``"top_minus_bottom"``) or the top's mean activation (``"top"``) times that contrast.
    """
    if measure not in ("cosine", "spread"):
        raise ValueError(f"measure must be 'cosine' or 'spread', not {measure!r}")
    beta = math.sqrt(math.log(rank.shape[1] / k))
    q = (rank - rank.mean(dim=1, keepdim=True)) / (rank.std(dim=1, keepdim=True) + 1e-6)
    top_w, bottom_w = torch.softmax(beta * q, dim=1), torch.softmax(-beta * q, dim=1)
    s_top, s_bottom = (top_w * s).sum(dim=1), (bottom_w * s).sum(dim=1)
    proto_top = torch.einsum("bn,bnf->bf", top_w, r)
    proto_bottom = torch.einsum("bn,bnf->bf", bottom_w, r)
    cos = F.cosine_similarity(proto_top, proto_bottom, dim=-1)
    if measure == "spread":
        spread = (r - r.mean(dim=1, keepdim=True)).pow(2).sum(dim=-1).mean(dim=1).sqrt()
        separation = (proto_top - proto_bottom).norm(dim=-1) / (2.0 * spread + 1e-6)
    else:
        separation = 1.0 - cos
    gap = s_top - s_bottom if eta_mode == "top_minus_bottom" else s_top
    eta = gap * separation if contrast else gap
    return KPointResult(loss=F.softplus(-eta).mean(), top_bottom_cos=cos.mean().detach())


def scl_loss(
    r_audio: torch.Tensor,
    r_visual: torch.Tensor,
    logit_scale: torch.Tensor,
    *,
    source: torch.Tensor | None = None,
    negatives: str = "window",
    center: bool = False,
) -> torch.Tensor:
    """L_s: CLIP-style symmetric InfoNCE between paired audio and visual steps.

    ``r_*`` [B, N, F]; positives are the same step of the same window. ``negatives="window"``
    contrasts within each window, ``"batch"`` against every step of the batch. ``source``
    [B, N] gives each step's origin (unique across the batch): pairs of distinct positions with
    the same origin (repeat-filled copies) are dropped from the negatives, since they are the
    positive itself. ``center`` subtracts each window's mean representation first: steps of a
    window share most of r (cosine ~0.8), which leaves every logit alike and SCL at chance.
    """
    if center:
        r_audio = r_audio - r_audio.mean(dim=1, keepdim=True)
        r_visual = r_visual - r_visual.mean(dim=1, keepdim=True)
    a = F.normalize(r_audio, dim=-1)
    v = F.normalize(r_visual, dim=-1)
    if negatives == "batch":
        a, v = a.reshape(1, -1, a.shape[-1]), v.reshape(1, -1, v.shape[-1])
        if source is not None:
            source = source.reshape(1, -1)
    logits = logit_scale * a @ v.transpose(-1, -2)  # [G, M, M]
    m = logits.shape[-1]
    eye = torch.eye(m, dtype=torch.bool, device=logits.device)
    if source is not None:
        same = (source[:, :, None] == source[:, None, :]) & ~eye
        logits = logits.masked_fill(same, float("-inf"))
    target = torch.arange(m, device=logits.device).expand(logits.shape[0], m)
    a2v = F.cross_entropy(logits.flatten(0, 1), target.flatten())
    v2a = F.cross_entropy(logits.transpose(-1, -2).flatten(0, 1), target.flatten())
    return (a2v + v2a) / 2


def spread_loss(gate: torch.Tensor) -> torch.Tensor:
    """0.5 - std of the gate [B, N] (values in (0, 1)) within each window, averaged.

    Zero only when a window splits into 0s and 1s: it stops the activation from saturating to
    one value everywhere, the k-point loss's trivial solution.
    """
    return (0.5 - gate.std(dim=1)).mean()


def axis_loss(logit: torch.Tensor, target: torch.Tensor, min_std: float = 1e-3
              ) -> torch.Tensor:
    """1 - Pearson correlation of ``logit`` [B, N] with ``target`` [B, N] within each window,
    averaged over the windows where the target varies (a window of one repeated step has
    nothing to rank). Scale-free, so it asks for the target's order and shape, not its units.

    An exact correlation's gradient grows as 1 / (the logit's spread), without bound on a
    flat window (a collapsed score, a fade), and one such step skews RMSprop's running
    averages for many. So the logit's spread counts as at least ``min_std`` per step: the
    gradient stays below 1 / (min_std sqrt(N)), and above that floor (trained models keep a
    logit std of ~0.01 on yth-train) the value and gradient are the plain correlation's.
    """
    lc = logit - logit.mean(dim=1, keepdim=True)
    tc = target - target.mean(dim=1, keepdim=True)
    t_norm = tc.norm(dim=1)
    valid = t_norm > 1e-6
    if not bool(valid.any()):
        return logit.new_zeros(())
    lc, tc, t_norm = lc[valid], tc[valid], t_norm[valid]
    l_norm = lc.norm(dim=1).clamp_min(min_std * math.sqrt(lc.shape[1]))
    corr = (lc * tc).sum(dim=1) / (l_norm * t_norm)
    return (1.0 - corr).mean()


@dataclass
class LossTerms:
    """Every term (summed over branches; 0 when off), the total, and diagnostic extras."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]
    extras: dict[str, float] = field(default_factory=dict)

    def total_without(self, name: str) -> torch.Tensor:
        """The total less one term, summed afresh so that the term sends no gradient at all."""
        return sum((v for n, v in self.terms.items() if n != name),
                   torch.zeros_like(self.total))



def _branch_terms(model: RASL, out: BranchOutput, config: RASLConfig, branch: str,
                  terms: dict[str, torch.Tensor], extras: dict[str, float]) -> None:
    if config.use_recon_loss:
        terms["recon"] = terms["recon"] + reconstruction_loss(out.target, out.recon)
    if config.use_kpoint_loss and config.k > 0:
        head = model.visual if branch == "visual" else model.audio
        assert head is not None
        rank = out.logit if config.rank_by_logit else None
        # "input": the vectors the decoder rebuilds (rho, or raw rho with recon_target="raw")
        inputs = out.target if config.kpoint_space != "representation" else None
        if config.kpoint_selection == "soft":
            result = soft_kpoint_loss(out.s, out.r if inputs is None else inputs,
                                      out.s if rank is None else rank, config.k,
                                      eta_mode=config.kpoint_eta,
                                      contrast=config.kpoint_contrast,
                                      measure="spread" if config.kpoint_space == "input_spread"
                                      else "cosine")
        else:
            result = kpoint_loss(out.s, out.z, config.k, head.proj_top, head.proj_bottom,
                                 head.proj_norm, rank=rank, eta_mode=config.kpoint_eta,
                                 contrast=config.kpoint_contrast, inputs=inputs)
        terms["kpoint"] = terms["kpoint"] + config.kpoint_weight * result.loss
        extras[f"{branch}_top_bottom_cos"] = float(result.top_bottom_cos)
    if config.use_aux_task and out.masked_recon is not None:
        terms["aux"] = terms["aux"] + reconstruction_loss(out.target, out.masked_recon)
    if config.spread_weight > 0:
        gate = out.s if config.score_squash == "sigmoid" else torch.sigmoid(out.logit)
        terms["spread"] = terms["spread"] + config.spread_weight * spread_loss(gate)


def total_loss(model: RASL, out: RASLOutput, source: torch.Tensor | None = None,
               axis_target: torch.Tensor | None = None) -> LossTerms:
    """Eq. 11: sum over branches of L_e + L_r + L_au, plus L_s (and the spread term if on),
    plus the visual branch's main-axis term when ``axis_weight`` > 0 (``axis_target`` [B, N])."""
    config = model.config
    zero = out.visual.recon.new_zeros(())
    terms = {name: zero for name in TERM_NAMES}
    extras: dict[str, float] = {}
    _branch_terms(model, out.visual, config, "visual", terms, extras)
    if out.audio is not None:
        _branch_terms(model, out.audio, config, "audio", terms, extras)
    if config.axis_weight > 0:
        if axis_target is None:
            raise ValueError("axis_weight > 0 needs the batch's axis_target.")
        scorer = out.student if out.student is not None else out.visual.logit
        terms["axis"] = config.axis_weight * axis_loss(scorer, axis_target)
    if out.audio is not None and config.use_scl:
        r_visual = out.visual.r
        if out.audio_rows is not None:
            r_visual = r_visual[out.audio_rows]
            source = None if source is None else source[out.audio_rows]
        terms["scl"] = scl_loss(
            out.audio.r, r_visual, out.logit_scale,
            source=source if config.scl_skip_repeats else None,
            negatives=config.scl_negatives, center=config.scl_center,
        )
        n = r_visual.shape[1] if config.scl_negatives == "window" \
            else r_visual.shape[0] * r_visual.shape[1]
        extras["scl_ln_n"] = math.log(n)
    total = sum(terms.values(), zero)
    return LossTerms(total=total, terms=terms, extras=extras)
