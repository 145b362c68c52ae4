"""The RASL network's shape and every reading of the paper as a named option.

The paper leaves many choices open (see shared/METHOD.md); each one is a field here with the
recommended default, so a checkpoint records exactly which reading it was trained with and the
literal reading stays one call away (:meth:`RASLConfig.literal`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..errors import ModelError

SCORE_SQUASH = ("sigmoid", "raw")
DECODER_INPUT = ("s_r", "s_z")
SCL_NEGATIVES = ("window", "batch")
KPOINT_PROJECTION = ("separate", "shared")
KPOINT_ETA = ("top", "top_minus_bottom")
KPOINT_SELECTION = ("hard", "soft")
KPOINT_SPACE = ("representation", "input", "input_spread")
INPUT_NORM = ("none", "layernorm", "l2")
R_NORM = ("none", "layernorm")
RECON_TARGET = ("input", "raw")
RECON_SCALE = ("free", "gate")
READOUT = ("signed", "nonneg")
SA_OUTPUT = ("plain", "rezero_ln")
CLIP_READOUT = ("activation", "main_axis")
# The per-step feature streams concatenated into the visual branch's input (shared/benchmarks/
# FORMAT.md): I3D RGB alone, or RGB and optical flow side by side. Motion is visual information
# (computable from the frames), so inference may read it; audio never enters inference.
VISUAL_INPUTS = ("visual", "visual+motion")
# Where the self-training term's targets come from (training.datasets): the clip's main axis of
# the branch's own input, or of the visual and motion streams side by side (each scaled by its
# mean norm), or the two streams' z-scored step norms summed ("joint_norm": no axis to orient,
# so no sign to get wrong; the app's default learns it, since on its features the joint axis
# follows motion alone): teachers that may read a stream the student does not.
AXIS_TEACHERS = ("main_axis", "joint_axis", "joint_norm")
# What learns those targets: the branch's own activation, or a linear scorer of each step's
# L2-normalised input that then gives the score, or "ridge": the same kind of scorer (each
# stream normalised on its own) fitted in closed form on the whole training set's teacher
# targets after training (model.ridge_head, training.ridge_head), the student that held out best.
AXIS_HEADS = ("activation", "linear", "ridge")

# Benchmark features (YouTube Highlights: one step per 100-frame window, 50-frame hop, about
# 1.7 s) are 8x coarser than the paper's 0.2 s steps. The paper's 30 s window would be ~18
# steps there, too few to pick k=10 top and k=10 bottom steps apart. 32 steps (~55 s) holds
# 2k + 12 and is close to the median clip (35 steps), so most clips fill one window with
# little repetition (repeat-filled copies are what starves the contrastive terms).
BENCHMARK_WINDOW = 32


# Options added after checkpoints were shipped: a config saved before them meant these values.
_ABSENT_MEANS: dict[str, Any] = {"kpoint_selection": "hard", "kpoint_contrast": True,
                                 "kpoint_space": "representation", "kpoint_weight": 1.0,
                                 "clip_readout": "activation", "axis_weight": 0.0,
                                 "visual_inputs": "visual", "axis_teacher": "main_axis",
                                 "axis_head": "activation", "ridge_context": 0}


@dataclass(frozen=True)
class RASLConfig:
    """Shape, readings and ablation switches of one RASL network (both branches)."""

    # --- shape -------------------------------------------------------------------------------
    visual_dim: int = 1024  # d: width of the visual feature vector (Swin-B pooled in the paper)
    # Which streams make that vector, concatenated per step (VISUAL_INPUTS): a model trained
    # on "visual+motion" needs the motion stream wherever it scores, and says so.
    visual_inputs: str = "visual"
    audio_dim: int = 1024  # audio vectors of any width are linearly resampled to visual_dim
    window: int = 150  # steps per window (paper: 30 s at 0.2 s); see BENCHMARK_WINDOW
    enc_channels: tuple[int, int, int] = (16, 32, 32)  # the three stride-2 convs of E
    enc_kernel: int = 4  # kernel 4, padding 1, stride 2 halves the length exactly
    psi_kernel: int = 3  # psi: one conv over r's channels
    proj_dim: int = 8  # width of the k-point projections W_hat / W_check
    k: int = 10  # top-k / bottom-k steps per window in the k-point loss
    gamma_init: float = 3.1  # SCL log-temperature Gamma; exp(Gamma) is clamped at 100
    mask_ratio: float = 0.5  # share of steps zeroed for the masked FVS auxiliary task

    # --- readings (METHOD.md "reading" marks) ------------------------------------------------
    score_squash: str = "sigmoid"  # s = sigmoid(w . z) (a gate in (0,1)) or the raw sum
    decoder_input: str = "s_r"  # Eq. 5: D(s * r); Fig. 4's caption: D(s * z)
    scl_negatives: str = "window"  # InfoNCE over the steps of one window, or the whole batch
    # W_hat and W_check independent (paper) or one shared: independent ones anti-align any
    # top/bottom pair (cosine -1) and meet L_r without looking at the content.
    kpoint_projection: str = "shared"

    # --- anti-collapse options -------------------------------------------------------------
    # The literal reading collapses (METHOD.md); the defaults below are the combination that
    # made training stable and the score's sign consistent across seeds on yth-train
    # (benchmarks/results/summary.md). RASLConfig.literal() switches all of them off.
    #
    # RMSprop's first updates move every weight by ~10x lr whatever its gradient, so a d x d
    # W_O grows by ~0.01 d in spectral norm per step and SA swamps its input. "rezero_ln" adds
    # g * LayerNorm(attention output) with a scalar g starting at 0: SA's share is bounded by
    # |g| sqrt(d) however large W_V W_O become. "plain" is Eq. 2 as printed.
    sa_output: str = "rezero_ln"
    zero_init_attn_out: bool = False  # "plain" only: W_O starts at 0 (delays, does not stop SA)
    input_norm: str = "none"  # normalise rho before SA: none, per-step LayerNorm, or L2
    recon_target: str = "input"  # rebuild what the branch sees, or the raw (resampled) rho:
    # with input_norm, "raw" leaves the step's scale for s to predict from its content
    # LayerNorm of r per step plus a bias-free decoder: D(s*r) = s*D(r) (ReLU is positively
    # homogeneous), so r cannot simply grow to make the gate irrelevant, and the collapsed
    # "same r everywhere, decoder outputs the median" solution is no longer free.
    r_norm: str = "layernorm"
    decoder_bias: bool = False
    # "gate": the decoder gives each step's direction only and s / mean(s) sets its norm
    # relative to the window's mean input norm, so a step's size can come from s alone.
    # With "free" the decoder can move the size into D(r) and s's sign is left to chance:
    # 1 seed in 6 learned the inverse of feature norm (0.42 mAP).
    recon_scale: str = "gate"
    # s from ReLU(psi(r)) with w >= 0 (softplus, mean-scaled) instead of signed psi and w:
    # s grows with the activations ("representation activation"). With the signed readout
    # the score's sign against feature norm was random across seeds (mAP at chance).
    readout: str = "nonneg"
    kpoint_eta: str = "top_minus_bottom"  # eta weighted by s_top (paper: "top") or by
    # s_top - s_bottom, which also pushes the bottom-k down instead of saturating all of s
    rank_by_logit: bool = True  # pick top/bottom and score by the pre-squash value (no ties)
    # "hard": the k top and k bottom steps, paired rank by rank (Eq. 6-8). The choice of steps
    # passes no gradient, so L_r can only sharpen whichever ranking the other losses made.
    # "soft": top and bottom are softmax(+-beta * standardised logit) weightings of the window's
    # steps and the contrast is between the two weighted mean representations, so the gradient
    # also moves *which* steps count as top: s learns the split that separates the window most.
    # Each soft side weighs about k steps (see losses.soft_kpoint_loss), so k keeps its meaning.
    kpoint_selection: str = "hard"
    # eta's representation factor (1 - cos): off leaves L_r as the activation gap alone
    # (Fig. 6's "without k-point contrastive learning").
    kpoint_contrast: bool = True
    # What the contrast factor compares: the learned "representation" (Eq. 7: projected z for
    # hard, r for soft selection) or the branch's "input" vectors (those the decoder rebuilds,
    # so the raw ones with recon_target="raw"). A representation can be made
    # to differ for any split of a window; the input cannot, so with "input" only the choice
    # of steps (soft selection) and their activation gap can raise eta. "input_spread" (soft
    # selection only) measures the distance between the top and bottom mean inputs in units of
    # the window's spread instead of 1 - cos: the split along the window's main axis of change
    # separates most.
    kpoint_space: str = "representation"
    kpoint_weight: float = 1.0  # L_r's weight in the total (Eq. 11: 1)
    scl_skip_repeats: bool = True  # repeat-filled copies of a step are not SCL negatives
    scl_center: bool = False  # subtract the window's mean r before SCL's cosines
    spread_weight: float = 0.0  # weight of a term that keeps s spread within a window
    # Weight of a self-training term: 1 - the Pearson correlation, within each window, between
    # the visual logit and the clip's main axis of change (each step's projection on the
    # clip's first principal direction of its input features, signed to agree with the
    # feature norm; training.datasets.axis_targets). Label-free: the targets come from the
    # clip's own features. The main-axis readout uses that axis at inference; this term asks
    # the network to learn it from each step's content, across the corpus, so that the
    # activation itself carries it (frames only, no whole-clip projection).
    axis_weight: float = 0.0
    # Which clip targets that term and a ridge head learn (AXIS_TEACHERS): "main_axis" of the
    # branch's input, "joint_axis" of the visual and motion streams (the best label-free
    # teacher measured held out, benchmarks/results/label_free_students.md), or "joint_norm",
    # their summed z-scored norms (the app's default); the targets are made from whole clips at
    # training time only, so inference still reads only the visual inputs.
    axis_teacher: str = "main_axis"
    # What the term trains (AXIS_HEADS): the "activation" (the branch's logit, as before) or a
    # "linear" scorer of each step's L2-normalised input, which is then the model's score. A
    # linear scorer of unit features fitted to the joint axis beat every parameter-free
    # baseline held out, where the activation did not (label_free_students.md, cross_fit.md).
    axis_head: str = "activation"
    # The ridge head's temporal context: it also reads the mean of each step's per-stream unit
    # input over its +-ridge_context neighbours (inside the scoring window), by a second
    # weight vector fitted jointly in closed form. 0: the step alone (as before). Held out on
    # yth-train, 3 neighbours beat the step alone on every seed
    # (benchmarks/results/student_variants.md).
    ridge_context: int = 0

    # --- inference ---------------------------------------------------------------------------
    # How a clip's curve is read from the model (training never looks at it). "activation":
    # the stitched activation sequence itself (Section III-F). "main_axis": each step's
    # position along the clip's first principal direction of its input features, signed to
    # agree with the activation: the split a k-point contrast on the inputs separates most,
    # with the model choosing which end is the highlight. Label-free, per clip, no parameter.
    clip_readout: str = "activation"

    # --- ablations (Table III) ---------------------------------------------------------------
    use_recon_loss: bool = True  # L_e, the main reconstruction (off only to study the others)
    use_kpoint_loss: bool = True  # L_r; off = "w/o RASL" (k = 0)
    use_scl: bool = True  # L_s; off keeps the audio branch but does not tie it to the visual
    use_self_attention: bool = True  # off = "w/o SA": rho goes straight to E
    use_aux_task: bool = True  # L_au, the masked FVS reconstruction
    use_audio: bool = True  # off = "w/o audio": no audio branch, no SCL

    def __post_init__(self) -> None:
        choices = {
            "score_squash": SCORE_SQUASH, "decoder_input": DECODER_INPUT,
            "scl_negatives": SCL_NEGATIVES, "kpoint_projection": KPOINT_PROJECTION,
            "kpoint_eta": KPOINT_ETA, "kpoint_selection": KPOINT_SELECTION,
            "kpoint_space": KPOINT_SPACE,
            "input_norm": INPUT_NORM, "r_norm": R_NORM,
            "readout": READOUT, "sa_output": SA_OUTPUT, "recon_target": RECON_TARGET,
            "recon_scale": RECON_SCALE, "clip_readout": CLIP_READOUT,
            "visual_inputs": VISUAL_INPUTS, "axis_teacher": AXIS_TEACHERS,
            "axis_head": AXIS_HEADS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ModelError(f"RASL option {name}={getattr(self, name)!r} is not one of "
                                 f"{', '.join(allowed)}.")
        if self.visual_dim % 8 or self.visual_dim < 8:
            raise ModelError(f"visual_dim must be a positive multiple of 8 (the encoder halves "
                             f"it three times), not {self.visual_dim}.")
        if self.enc_kernel < 2 or self.enc_kernel % 2 or self.psi_kernel % 2 == 0:
            raise ModelError("enc_kernel must be even (so stride 2 halves the length exactly) "
                             "and psi_kernel odd (so psi keeps it).")
        if self.audio_dim < 1 or self.window < 1 or self.k < 0:
            raise ModelError("audio_dim and window must be positive and k non-negative.")
        if self.use_kpoint_loss and 2 * self.k > self.window:
            raise ModelError(f"k={self.k} top and k bottom steps do not fit in a window of "
                             f"{self.window} steps; lower k or widen the window.")
        for name in ("kpoint_weight", "axis_weight"):
            weight = getattr(self, name)
            if not (math.isfinite(weight) and weight >= 0):
                raise ModelError(f"{name} must be a finite number, 0 or more, not {weight}.")
        if self.ridge_context < 0 or (self.ridge_context and self.axis_head != "ridge"):
            raise ModelError(f"ridge_context must be 0 or more, and above 0 only with "
                             f'axis_head="ridge", not {self.ridge_context} with '
                             f"{self.axis_head!r}.")
        if self.axis_head == "linear" and self.axis_weight == 0:  # ridge is fitted, not trained
            raise ModelError('axis_head="linear" is trained by the self-training term only; '
                             "give it an axis_weight above 0.")
        if self.kpoint_space == "input_spread" and self.kpoint_selection != "soft":
            raise ModelError('kpoint_space="input_spread" needs kpoint_selection="soft".')
        if not 0.0 <= self.mask_ratio < 1.0:
            raise ModelError(f"mask_ratio must be in [0, 1), not {self.mask_ratio}.")

    @property
    def code_length(self) -> int:
        """Length of r and z along the feature axis (d / 8 after three stride-2 convs)."""
        return self.visual_dim // 8

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["enc_channels"] = list(self.enc_channels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RASLConfig:
        """Rebuild from :meth:`to_dict`; unknown keys (a newer version's) are refused clearly."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ModelError(f"The checkpoint's model config has options this version does not "
                             f"know: {', '.join(sorted(unknown))}. Update Highlight Studio.")
        values = {**_ABSENT_MEANS, **data}
        if "enc_channels" in values:
            values["enc_channels"] = tuple(int(c) for c in values["enc_channels"])
        return cls(**values)

    @classmethod
    def literal(cls, **overrides: Any) -> RASLConfig:
        """The paper read literally, with none of the anti-collapse options (for comparison)."""
        base: dict[str, Any] = dict(
            zero_init_attn_out=False, input_norm="none", r_norm="none", decoder_bias=True,
            kpoint_eta="top", kpoint_selection="hard", kpoint_contrast=True,
            kpoint_space="representation", rank_by_logit=False,
            scl_skip_repeats=False, scl_center=False, spread_weight=0.0,
            kpoint_projection="separate", readout="signed", sa_output="plain",
            recon_scale="free",
        )
        base.update(overrides)
        return cls(**base)
