"""The RASL losses: values known by hand, gradients flow, each term switches off cleanly."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from highlight_studio.errors import ModelError
from highlight_studio.model.config import RASLConfig
from highlight_studio.model.losses import (
    axis_loss,
    kpoint_loss,
    reconstruction_loss,
    scl_loss,
    soft_kpoint_loss,
    spread_loss,
    total_loss,
)
from highlight_studio.model.rasl import RASL

torch.set_num_threads(1)  # tiny tensors: extra threads only add contention on shared CI cores

TINY = dict(visual_dim=16, audio_dim=12, window=8, k=2, enc_channels=(2, 3, 3), proj_dim=4)


def test_reconstruction_loss_is_mean_absolute_error() -> None:
    target = torch.tensor([[1.0, -2.0], [0.0, 4.0]])
    recon = torch.tensor([[0.0, 0.0], [0.0, 0.0]], requires_grad=True)
    loss = reconstruction_loss(target, recon)
    assert loss.item() == pytest.approx(7 / 4)
    loss.backward()
    assert torch.equal(recon.grad, -torch.sign(target) / 4)


def _identity_heads(dim: int) -> tuple[nn.Module, nn.Module, nn.Module]:
    return nn.Identity(), nn.Identity(), nn.Identity()


def test_kpoint_loss_pairs_top_and_bottom_by_rank() -> None:
    s = torch.tensor([[0.9, 0.1, 0.8, 0.2]], requires_grad=True)
    # top steps 2 (0.8), 0 (0.9) ascending; bottom 1 (0.1), 3 (0.2) ascending.
    z = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]])
    top, bottom, norm = _identity_heads(2)
    result = kpoint_loss(s, z, 2, top, bottom, norm)
    # pairs (2, 1): cos 0 -> weight 0.8 * 1; (0, 3): cos 1 -> 0.9 * 0.
    eta = (0.8 * 1.0 + 0.9 * 0.0) / 2
    assert result.loss.item() == pytest.approx(math.log1p(math.exp(-eta)), rel=1e-5)
    assert result.top_bottom_cos.item() == pytest.approx(0.5)
    result.loss.backward()
    assert s.grad[0, 2] < 0  # raising the distinct top step lowers the loss
    assert s.grad[0, 1] == 0 and s.grad[0, 0] == 0  # bottom and look-alike top: no pull


def test_kpoint_top_minus_bottom_pushes_bottom_down() -> None:
    s = torch.tensor([[0.9, 0.1, 0.8, 0.2]], requires_grad=True)
    z = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]])
    kpoint_loss(s, z, 2, *_identity_heads(2), eta_mode="top_minus_bottom").loss.backward()
    assert (s.grad[0, [0, 2]] < 0).all() and (s.grad[0, [1, 3]] > 0).all()


def test_kpoint_without_contrast_is_the_activation_gap() -> None:
    s = torch.tensor([[0.9, 0.1, 0.8, 0.2]])
    z = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]])
    result = kpoint_loss(s, z, 2, *_identity_heads(2), eta_mode="top_minus_bottom",
                         contrast=False)
    eta = ((0.8 - 0.1) + (0.9 - 0.2)) / 2
    assert result.loss.item() == pytest.approx(math.log1p(math.exp(-eta)), rel=1e-5)


def test_soft_kpoint_value_by_hand() -> None:
    """Weights softmax(+-beta q), beta = sqrt(ln(N / k)); 1 - cos of the weighted means."""
    rank = torch.tensor([[2.0, -1.0, 0.5, -1.5]])
    s = torch.sigmoid(rank)
    r = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 2.0]]])
    beta = math.sqrt(math.log(4 / 2))
    q = (rank - rank.mean()) / rank.std()
    top, bottom = torch.softmax(beta * q, 1), torch.softmax(-beta * q, 1)
    p_top, p_bottom = (top[..., None] * r).sum(1), (bottom[..., None] * r).sum(1)
    cos = torch.nn.functional.cosine_similarity(p_top, p_bottom, dim=-1)
    eta = ((top * s).sum() - (bottom * s).sum()) * (1 - cos)
    result = soft_kpoint_loss(s, r, rank, 2)
    assert result.loss.item() == pytest.approx(torch.nn.functional.softplus(-eta).item(),
                                               rel=1e-5)
    assert result.top_bottom_cos.item() == pytest.approx(cos.item(), rel=1e-5)


def test_soft_kpoint_moves_the_ranking_towards_the_most_separating_split() -> None:
    """Steps 0-1 look alike and differ from 2-3. Ranked 0 > 2 > 1 > 3, the split mixes them;
    the gradient must raise step 1 (like the top) and lower step 2 (like the bottom). Hard
    top-k gives the ranking no gradient at all."""
    rank = torch.tensor([[2.0, -0.5, 0.5, -2.0]], requires_grad=True)
    r = torch.tensor([[[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]]])
    s = torch.full((1, 4), 0.5)  # equal activations: only the choice of steps matters
    soft_kpoint_loss(s, r, rank, 1, eta_mode="top").loss.backward()
    assert rank.grad[0, 1] < 0 < rank.grad[0, 2]


def test_kpoint_contrast_on_inputs_compares_the_paired_input_vectors() -> None:
    """kpoint_space="input": the cosine is between the paired steps' inputs, so a
    representation that differs for any split no longer raises eta on its own."""
    s = torch.tensor([[0.9, 0.1, 0.8, 0.2]])
    z = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]])  # every pair differs
    inputs = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])
    # pairs (2, 1): inputs alike, cos 1 -> 0; (0, 3): orthogonal -> (0.9 - 0.2) * 1.
    result = kpoint_loss(s, z, 2, *_identity_heads(2), eta_mode="top_minus_bottom",
                         inputs=inputs)
    eta = (0.0 + 0.7) / 2
    assert result.loss.item() == pytest.approx(math.log1p(math.exp(-eta)), rel=1e-5)
    assert result.top_bottom_cos.item() == pytest.approx(0.5)


def test_total_loss_measures_the_soft_contrast_where_kpoint_space_says() -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 8, 16)
    for space, measure in (("input", "cosine"), ("input_spread", "spread")):
        model = RASL(RASLConfig(**TINY, kpoint_selection="soft", kpoint_space=space,
                                use_audio=False))
        out = model(x)
        expected = soft_kpoint_loss(out.visual.s, out.visual.target, out.visual.logit,
                                    TINY["k"], eta_mode=model.config.kpoint_eta,
                                    measure=measure).loss
        got = total_loss(model, out).terms["kpoint"]
        torch.testing.assert_close(got, expected)


def test_kpoint_weight_scales_l_r_in_the_total() -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 8, 16)
    torch.manual_seed(1)
    model = RASL(RASLConfig(**TINY, use_audio=False))
    out = model(x)
    base = total_loss(model, out).terms["kpoint"]
    for weight in (0.0, 2.5):
        model.config = RASLConfig(**TINY, use_audio=False, kpoint_weight=weight)
        torch.testing.assert_close(total_loss(model, out).terms["kpoint"], weight * base)
    with pytest.raises(ModelError, match="kpoint_weight"):
        RASLConfig(**TINY, kpoint_weight=-1.0)


def test_kpoint_space_input_sends_no_gradient_through_the_representation() -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 8, 16)
    for space, reaches_projection in (("representation", True), ("input", False)):
        torch.manual_seed(0)
        model = RASL(RASLConfig(**TINY, kpoint_space=space, use_audio=False,
                                use_aux_task=False, use_recon_loss=False))
        total_loss(model, model(x)).total.backward()
        grad = model.visual.proj_top.weight.grad
        assert (grad is not None and grad.abs().sum() > 0) == reaches_projection
        assert model.visual.psi.weight.grad.abs().sum() > 0  # s still learns from L_r


def test_soft_kpoint_spread_measure_is_scale_free_and_favours_the_main_axis() -> None:
    """measure="spread": distance between the top and bottom means over twice the window's
    RMS spread; the split along the axis the window varies most on separates most."""
    torch.manual_seed(0)
    x = torch.randn(1, 16, 6) * 0.1
    x[0, :8, 0] += 1.0  # steps 0-7 and 8-15 differ along feature 0
    s = torch.full((1, 16), 0.5)
    along = torch.cat([torch.ones(8), -torch.ones(8)])[None] + 0.01 * torch.arange(16)
    across = torch.tensor([[1.0, -1.0] * 8]) + 0.01 * torch.arange(16)

    def loss(r: torch.Tensor, rank: torch.Tensor) -> float:
        return soft_kpoint_loss(s, r, rank, 4, eta_mode="top", measure="spread").loss.item()

    assert loss(x, along) < loss(x, across)  # more separation, lower L_r
    assert loss(10 * x, along) == pytest.approx(loss(x, along), rel=1e-4)
    # A distance, not an angle: moving every step by the same offset changes nothing (the
    # cosine of the two means would change).
    assert loss(x + 5, along) == pytest.approx(loss(x, along), rel=1e-4)
    with pytest.raises(ValueError, match="measure"):
        soft_kpoint_loss(s, x, along, 4, measure="cosin")
    with pytest.raises(ModelError, match="input_spread"):
        RASLConfig(**TINY, kpoint_space="input_spread")  # hard selection has no weighted means
    RASLConfig(**TINY, kpoint_space="input_spread", kpoint_selection="soft")


def test_scl_loss_is_symmetric_infonce() -> None:
    r = torch.eye(3)[None]  # perfectly paired, orthogonal steps
    scale = torch.tensor(2.0)
    expected = -math.log(math.exp(2) / (math.exp(2) + 2))
    assert scl_loss(r, r, scale).item() == pytest.approx(expected, rel=1e-5)
    same = torch.ones(1, 4, 3)  # every step identical: chance, ln N
    assert scl_loss(same, same, scale).item() == pytest.approx(math.log(4), rel=1e-5)
    # Steps 0 and 2 are copies of one source: they are not each other's negatives.
    source = torch.tensor([[0, 1, 0]])
    a = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]])
    masked = scl_loss(a, a, scale, source=source).item()
    # rows 0 and 2 see one negative (step 1, cos 0); row 1 sees two (steps 0 and 2, cos 0).
    one, two = (-math.log(math.exp(2) / (math.exp(2) + m)) for m in (1, 2))
    assert masked == pytest.approx((2 * one + two) / 3, rel=1e-5)
    batch = scl_loss(torch.eye(4).reshape(2, 2, 4), torch.eye(4).reshape(2, 2, 4), scale,
                     negatives="batch")
    assert batch.item() == pytest.approx(-math.log(math.exp(2) / (math.exp(2) + 3)), rel=1e-5)


def test_scl_center_removes_the_shared_component() -> None:
    shared = torch.tensor([5.0, 5.0, 0.0])
    r = torch.eye(3)[None] + shared  # one big common part, a small distinct part per step
    scale = torch.tensor(2.0)
    plain = scl_loss(r, r, scale).item()
    centered = scl_loss(r, r, scale, center=True).item()
    assert centered < plain  # the distinct parts now decide the logits
    assert plain == pytest.approx(math.log(3), abs=0.1)  # near chance without centring


def test_spread_loss_is_zero_only_for_split_windows() -> None:
    assert spread_loss(torch.tensor([[0.0, 1.0, 0.0, 1.0]])).item() == pytest.approx(
        0.5 - torch.tensor([0.0, 1.0, 0.0, 1.0]).std().item())
    assert spread_loss(torch.full((1, 4), 0.7)).item() == pytest.approx(0.5)


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    visual = torch.rand(3, 8, 16, generator=g)
    audio = torch.rand(3, 8, 12, generator=g)
    mask = torch.rand(3, 8, generator=g) < 0.5
    return visual, audio, mask


def test_axis_loss_is_one_minus_pearson_per_window() -> None:
    logit = torch.tensor([[0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 1.0, 0.0]])
    target = torch.tensor([[1.0, 3.0, 5.0, 7.0], [0.0, 1.0, 0.0, 1.0]])
    # window 1: the same order and shape (corr 1); window 2: the reverse (corr -1)
    assert axis_loss(logit, target).item() == pytest.approx((0.0 + 2.0) / 2, abs=1e-6)
    # scale-free in the logit, and blind to windows whose target does not vary
    flat = torch.tensor([[2.0, 2.0, 2.0, 2.0], [0.0, 1.0, 0.0, 1.0]])
    assert axis_loss(5 * logit + 3, flat).item() == pytest.approx(2.0, abs=1e-6)
    assert axis_loss(logit, torch.zeros_like(logit)).item() == 0.0


def test_axis_loss_gradient_stays_bounded_on_a_flat_logit() -> None:
    """A window whose logit is flat (a collapsed score, a fade) must not send a huge step."""
    target = torch.randn(2, 32, generator=torch.Generator().manual_seed(0))
    for spread in (0.0, 1e-6):
        logit = (spread * torch.randn(2, 32, generator=torch.Generator().manual_seed(1))
                 ).requires_grad_()
        axis_loss(logit, target).backward()
        assert logit.grad is not None and torch.isfinite(logit.grad).all()
        assert logit.grad.abs().max().item() <= 1 / (1e-3 * 32 ** 0.5) + 1e-3
    # ...while a logit spread like trained models' (std ~0.01) gets the plain correlation
    logit = 0.01 * torch.randn(2, 32, generator=torch.Generator().manual_seed(2))
    exact = torch.stack([torch.corrcoef(torch.stack([lo, t]))[0, 1]
                         for lo, t in zip(logit, target, strict=True)])
    assert axis_loss(logit, target).item() == pytest.approx((1 - exact).mean().item(), abs=1e-5)


def test_axis_term_needs_targets_and_scales_with_its_weight() -> None:
    torch.manual_seed(0)
    model = RASL(RASLConfig(**TINY, use_audio=False, axis_weight=2.0))
    visual, _, _ = _batch()
    out = model(visual)
    with pytest.raises(ValueError, match="axis_target"):
        total_loss(model, out)
    target = torch.randn(3, 8, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(total_loss(model, out, axis_target=target).terms["axis"],
                               2.0 * axis_loss(out.visual.logit, target))
    model.config = RASLConfig(**TINY, use_audio=False)  # off by default
    assert total_loss(model, out, axis_target=target).terms["axis"].item() == 0.0
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ModelError, match="axis_weight"):
            RASLConfig(**TINY, axis_weight=bad)


def test_every_term_has_a_gradient_when_on() -> None:
    torch.manual_seed(0)
    model = RASL(RASLConfig(**TINY, spread_weight=1.0, zero_init_attn_out=False,
                            axis_weight=1.0))
    visual, audio, mask = _batch()
    target = torch.randn(3, 8, generator=torch.Generator().manual_seed(1))
    losses = total_loss(model, model(visual, audio, mask=mask), axis_target=target)
    for name, term in losses.terms.items():
        assert term.ndim == 0 and torch.isfinite(term), name
        grads = torch.autograd.grad(term, list(model.parameters()), allow_unused=True,
                                    retain_graph=True)
        assert any(g is not None and g.abs().sum() > 0 for g in grads), name
    assert losses.total.item() == pytest.approx(sum(t.item() for t in losses.terms.values()))


@pytest.mark.parametrize(("switch", "term", "params"), [
    ("use_recon_loss", "recon", ()),
    ("use_kpoint_loss", "kpoint", ("proj_top", "proj_bottom", "proj_norm")),
    ("use_scl", "scl", ("gamma",)),
    ("use_aux_task", "aux", ()),
    ("use_audio", "scl", ("audio.",)),
])
def test_switched_off_term_is_zero_without_gradient(switch: str, term: str,
                                                    params: tuple[str, ...]) -> None:
    torch.manual_seed(0)
    model = RASL(RASLConfig(**{**TINY, switch: False}))
    visual, audio, mask = _batch()
    losses = total_loss(model, model(visual, audio, mask=mask))
    assert losses.terms[term].item() == 0.0
    assert not losses.terms[term].requires_grad
    losses.total.backward()
    for name, p in model.named_parameters():
        if any(key in name for key in params):
            assert p.grad is None or p.grad.abs().sum() == 0, name


def test_spread_term_is_off_by_default() -> None:
    model = RASL(RASLConfig(**TINY))
    visual, audio, mask = _batch()
    assert total_loss(model, model(visual, audio, mask=mask)).terms["spread"].item() == 0.0
