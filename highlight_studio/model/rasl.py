"""The RASL network: two modality branches (SA -> encoder -> RASL head -> decoder) and SCL.

Shapes follow METHOD.md: every step's feature vector rho_i (length d) is a 1-channel signal the
encoder convolves along the *feature* axis, so time survives untouched and s has one value per
step. Inference uses the visual branch only (:meth:`RASL.score`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelError
from .config import RASLConfig
from .ridge_head import RidgeHead


class SelfAttention(nn.Module):
    """Single-head self-attention over time with a residual (Eq. 1-2): rho + A(rho) V W_O."""

    def __init__(self, dim: int, zero_init_out: bool, rezero_ln: bool) -> None:
        super().__init__()
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.o = nn.Linear(dim, dim, bias=False)
        if zero_init_out and not rezero_ln:
            # SA starts as the identity; RMSprop's large first steps then cannot make the
            # attention output dwarf the input before the rest of the network has learned.
            nn.init.zeros_(self.o.weight)
        self.scale = 1.0 / math.sqrt(dim)
        # Zero gate, not zero W_O, with rezero: a zero W_O would leave the gate no gradient.
        self.gate = nn.Parameter(torch.zeros(())) if rezero_ln else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (x + attention output, the attention output alone) for diagnostics."""
        attn = torch.softmax(self.q(x) @ self.k(x).transpose(-1, -2) * self.scale, dim=-1)
        out = self.o(attn @ self.v(x))
        if self.gate is not None:
            out = self.gate * F.layer_norm(out, out.shape[-1:])
        return x + out, out


@dataclass
class BranchOutput:
    """What one branch's pass hands to the losses and diagnostics ([B, N, ...] tensors)."""

    target: torch.Tensor  # [B, N, d] what the decoder must rebuild (see recon_target)
    sa_out: torch.Tensor | None  # [B, N, d] attention output before the residual, None w/o SA
    r: torch.Tensor  # [B, N, C*L] encoder representation, flattened per step
    z: torch.Tensor  # [B, N, C*L] psi(r), flattened per step
    logit: torch.Tensor  # [B, N] w . z before any squash
    s: torch.Tensor  # [B, N] the activation (sigmoid(logit) or logit)
    recon: torch.Tensor  # [B, N, d] D(s * r) (or D(s * z))
    masked_recon: torch.Tensor | None  # [B, N, d] the auxiliary pass on the masked input


class Branch(nn.Module):
    """One modality: input path, SA, encoder E, RASL head (psi, w), decoder D, projections."""

    def __init__(self, config: RASLConfig) -> None:
        super().__init__()
        self.config = config
        d, k = config.visual_dim, config.enc_kernel
        pad = (k - 2) // 2
        c1, c2, c3 = config.enc_channels
        self.sa = (SelfAttention(d, config.zero_init_attn_out, config.sa_output == "rezero_ln")
                   if config.use_self_attention else None)
        self.encoder = nn.Sequential(
            nn.Conv1d(1, c1, k, stride=2, padding=pad), nn.ReLU(),
            nn.Conv1d(c1, c2, k, stride=2, padding=pad), nn.ReLU(),
            nn.Conv1d(c2, c3, k, stride=2, padding=pad), nn.ReLU(),
        )
        self.psi = nn.Conv1d(c3, c3, config.psi_kernel, padding=config.psi_kernel // 2)
        flat = c3 * config.code_length
        self.w = nn.Linear(flat, 1, bias=False)
        bias = config.decoder_bias
        self.decoder = nn.Sequential(
            nn.ConvTranspose1d(c3, c2, k, stride=2, padding=pad, bias=bias), nn.ReLU(),
            nn.ConvTranspose1d(c2, c1, k, stride=2, padding=pad, bias=bias), nn.ReLU(),
            nn.ConvTranspose1d(c1, 1, k, stride=2, padding=pad, bias=bias),
        )
        self.proj_top = nn.Linear(flat, config.proj_dim, bias=False)
        self.proj_bottom = (self.proj_top if config.kpoint_projection == "shared"
                            else nn.Linear(flat, config.proj_dim, bias=False))
        self.proj_norm = nn.LayerNorm(config.proj_dim)

    def resample(self, x: torch.Tensor) -> torch.Tensor:
        """Each vector linearly resampled to length d (the paper's audio interpolation)."""
        d = self.config.visual_dim
        if x.shape[-1] == d:
            return x
        b, n, width = x.shape
        return F.interpolate(x.reshape(b * n, 1, width), size=d, mode="linear",
                             align_corners=False).reshape(b, n, d)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.input_norm == "layernorm":
            return F.layer_norm(x, x.shape[-1:])
        if self.config.input_norm == "l2":
            return F.normalize(x, dim=-1)
        return x

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """What the branch sees: resampled to length d, then normalised per ``input_norm``."""
        return self.normalise(self.resample(x))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor,
                                                torch.Tensor, torch.Tensor]:
        """SA -> E -> psi -> w: (r [B,N,C,L], sa_out, z [B,N,C,L], logit [B,N], s [B,N])."""
        b, n, d = x.shape
        sa_out = None
        if self.sa is not None:
            x, sa_out = self.sa(x)
        r = self.encoder(x.reshape(b * n, 1, d))
        if self.config.r_norm == "layernorm":
            r = F.layer_norm(r, r.shape[-2:])
        z = self.psi(r)
        if self.config.readout == "nonneg":
            z = F.relu(z)
            weight = F.softplus(self.w.weight) / z[0].numel()
            logit = F.linear(z.flatten(1), weight).reshape(b, n)
        else:
            logit = self.w(z.flatten(1)).reshape(b, n)
        s = torch.sigmoid(logit) if self.config.score_squash == "sigmoid" else logit
        c, length = r.shape[-2:]
        return r.reshape(b, n, c, length), sa_out, z.reshape(b, n, c, length), logit, s

    def decode(self, s: torch.Tensor, code: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """D(s * code); with ``recon_scale="gate"`` each step's output has the norm
        s_i / mean(s) * mean |target| over its window, so magnitude comes from s alone."""
        b, n, c, length = code.shape
        if self.config.recon_scale == "gate":
            shape = F.normalize(self.decoder(code.reshape(b * n, c, length)).reshape(b, n, -1),
                                dim=-1)
            size = target.norm(dim=-1).mean(dim=1, keepdim=True)  # [B, 1]
            relative = s / s.mean(dim=1, keepdim=True).clamp_min(1e-6)
            return shape * (relative * size)[..., None]
        gated = (s[..., None, None] * code).reshape(b * n, c, length)
        return self.decoder(gated).reshape(b, n, -1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> BranchOutput:
        """Main pass on ``x`` [B, N, in_dim]; with ``mask`` [B, N] (True = zeroed), also the
        auxiliary pass on the masked input, gated by that pass's own s (Eq. 10)."""
        raw = self.resample(x)
        seen = self.normalise(raw)
        target = raw if self.config.recon_target == "raw" else seen
        r, sa_out, z, logit, s = self.encode(seen)
        use_z = self.config.decoder_input == "s_z"
        recon = self.decode(s, z if use_z else r, target)
        masked_recon = None
        if mask is not None:
            mr, _, mz, _, ms = self.encode(seen.masked_fill(mask[..., None], 0.0))
            masked_recon = self.decode(ms, mz if use_z else mr, target)
        return BranchOutput(target=target, sa_out=sa_out, r=r.flatten(2), z=z.flatten(2),
                            logit=logit, s=s, recon=recon, masked_recon=masked_recon)


@dataclass
class RASLOutput:
    """Both branches' outputs (audio None when off or not given) and SCL's scale."""

    visual: BranchOutput
    audio: BranchOutput | None
    logit_scale: torch.Tensor  # exp(Gamma), clamped at 100
    audio_rows: torch.Tensor | None  # [B] bool: the visual windows the audio ones pair with
    student: torch.Tensor | None = None  # [B, N] the linear axis head's score (axis_head)


class RASL(nn.Module):
    """The two-branch network; ``score`` is all inference needs."""

    def __init__(self, config: RASLConfig) -> None:
        super().__init__()
        self.config = config
        self.visual = Branch(config)
        self.audio = Branch(config) if config.use_audio else None  # any width: resampled to d
        self.gamma = nn.Parameter(torch.tensor(float(config.gamma_init)))
        self.axis_head: nn.Module | None = None
        if config.axis_head == "linear":
            self.axis_head = nn.Linear(config.visual_dim, 1)
        elif config.axis_head == "ridge":
            self.axis_head = RidgeHead(config.visual_dim, config.visual_inputs,
                                       config.ridge_context)

    def student(self, visual: torch.Tensor) -> torch.Tensor:
        """The axis head's score [B, N]: linear, of each step's L2-normalised visual input;
        ridge, of each stream's (its own normalisation)."""
        assert self.axis_head is not None
        if isinstance(self.axis_head, RidgeHead):
            return self.axis_head(visual)
        return self.axis_head(F.normalize(visual, dim=-1)).squeeze(-1)

    def forward(self, visual: torch.Tensor, audio: torch.Tensor | None = None,
                mask: torch.Tensor | None = None,
                audio_rows: torch.Tensor | None = None) -> RASLOutput:
        """Training pass on windows ``visual`` [B, N, Dv] and ``audio`` [A, N, Da] (or None).

        ``audio_rows`` [B] bool says which visual windows the A audio windows belong to (all
        when None: clips without audio train the visual losses only); ``mask`` [B, N] turns on
        the auxiliary masked pass.
        """
        v_out = self.visual(visual, mask)
        a_out = None
        if self.audio is not None and audio is not None and audio.shape[0] > 0:
            a_mask = mask if mask is None or audio_rows is None else mask[audio_rows]
            a_out = self.audio(audio, a_mask)
        scale = self.gamma.exp().clamp(max=100.0)
        # The ridge head is fitted in closed form, so the self-training term (if any) trains the
        # activation beside it, as without a head.
        trained_head = self.axis_head is not None and self.config.axis_head == "linear"
        student = self.student(visual) if trained_head else None
        return RASLOutput(visual=v_out, audio=a_out, logit_scale=scale, audio_rows=audio_rows,
                          student=student)

    @torch.no_grad()
    def score(self, visual: torch.Tensor) -> torch.Tensor:
        """Highlight activations [B, N] of windows ``visual`` [B, N, Dv] (visual branch only).

        With ``rank_by_logit`` the pre-squash value is returned: same order as s where s is
        distinct, but no ties where the sigmoid saturates. With an axis head (linear or
        ridge), its score instead.
        """
        if self.axis_head is not None:
            return self.student(visual)
        _, _, _, logit, s = self.visual.encode(self.visual.prepare(visual))
        return logit if self.config.rank_by_logit else s


def with_config(model: RASL, config: RASLConfig) -> RASL:
    """``model``'s weights under ``config``. Where ``config`` changes the axis head's kind, its
    context or its teacher, the head starts anew (a ridge head is fitted afterwards, and a
    head learnt for other targets is no start for these); any other setting that changes the
    weights' shapes is refused, since the start model's weights would not fit."""
    if config == model.config:
        return model
    changed = RASL(config)
    state = model.state_dict()
    old = model.config
    head = ("axis_head", "ridge_context", "axis_teacher")
    if any(getattr(config, name) != getattr(old, name) for name in head):
        fresh = changed.state_dict()
        state = {**{k: v for k, v in state.items() if not k.startswith("axis_head.")},
                 **{k: v for k, v in fresh.items() if k.startswith("axis_head.")}}
    try:
        changed.load_state_dict(state)
    except RuntimeError as exc:
        differ = sorted(k for k, v in config.to_dict().items() if v != old.to_dict()[k])
        raise ModelError(f"The start model's weights do not fit the changed settings "
                         f"({', '.join(differ)}); start a new model to change them.") from exc
    return changed
