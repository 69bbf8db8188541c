"""Tests of the imbalance losses against independent references (timm, torch, float64 numpy)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from timm.loss import AsymmetricLossMultiLabel
from torchvision.ops import sigmoid_focal_loss

from imbalml import (
    AsymmetricLoss,
    AttributeGroups,
    DiceLoss,
    FocalLoss,
    GroupedCrossEntropyLoss,
    LogitAdjustedCrossEntropyLoss,
    WeightedCrossEntropyLoss,
    class_priors,
)
from imbalml.functional import (
    adjust_logits,
    asymmetric_loss,
    confusion_counts,
    dice_loss,
    focal_loss,
    grouped_argmax,
    grouped_cross_entropy,
    grouped_softmax,
    logit_adjusted_cross_entropy,
    weighted_cross_entropy,
)

GROUPS = AttributeGroups([3, 2, 4])
FASHION = AttributeGroups([7, 3, 3, 4, 6, 3])
# The test vector of peers.md section 2.1.
X_REF = torch.tensor([[0.0, 2.0, -1.0], [3.0, -2.0, 0.5]])
Y_REF = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 1.0]])


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _hard_target(n: int, groups: AttributeGroups, gen: torch.Generator, missing: float = 0.0):
    cols = [torch.randint(0, k, (n,), generator=gen) for k in groups.sizes]
    target = torch.stack(cols, 1)
    if missing:
        target[torch.rand(target.shape, generator=gen) < missing] = -100
    return target


def _soft_target(n: int, groups: AttributeGroups, gen: torch.Generator) -> torch.Tensor:
    parts = [torch.rand(n, k, generator=gen, dtype=torch.float64) ** 3 for k in groups.sizes]
    return torch.cat([q / q.sum(1, keepdim=True) for q in parts], 1).float()


# ---------------------------------------------------------------------------------------------
# float64 numpy references (independent formulations)


def _np_probs(x: np.ndarray, sizes):
    """p and 1 - p in float64; 1 - p as the sum of the other probabilities of the group."""
    if sizes is None:
        return 1 / (1 + np.exp(-x)), 1 / (1 + np.exp(x))
    p, q, start = np.empty_like(x), np.empty_like(x), 0
    for k in sizes:
        z = x[:, start : start + k]
        e = np.exp(z - z.max(1, keepdims=True))
        pk = e / e.sum(1, keepdims=True)
        p[:, start : start + k] = pk
        for j in range(k):
            q[:, start + j] = np.delete(pk, j, axis=1).sum(1)
        start += k
    return p, q


def _np_asl(x, y, *, sizes=None, gamma_pos=1.0, gamma_neg=4.0, clip=0.05, eps=1e-8):
    """The reference formula (Alibaba-MIIL ASL / timm), elementwise, in float64."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    p, one_minus_p = _np_probs(x, sizes)
    q = np.minimum(one_minus_p + clip, 1.0) if clip > 0 else one_minus_p
    p_m = np.maximum(p - clip, 0.0) if clip > 0 else p
    with np.errstate(divide="ignore"):
        loss = y * np.log(np.maximum(p, eps)) + (1 - y) * np.log(np.maximum(q, eps))
    if gamma_pos > 0 or gamma_neg > 0:
        base = y * one_minus_p + (1 - y) * p_m
        loss = loss * base ** (gamma_pos * y + gamma_neg * (1 - y))
    return -loss


def _np_dice(x, y, *, sizes=None, smooth=1.0, eps=1e-7, mask=None):
    """segmentation-models-pytorch's soft Dice (L1 intersection) per class over the batch."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    p, _ = _np_probs(x, sizes)
    if mask is not None:
        p, y = p * mask, y * mask
    inter = (p.sum(0) + y.sum(0) - np.abs(p - y).sum(0)) / 2
    score = (inter + smooth) / np.maximum(0.5 * (p.sum(0) + y.sum(0)) + smooth, eps)
    return np.where(y.sum(0) > 0, 1 - score, 0.0)


def _elementwise(fn, x: torch.Tensor, y: torch.Tensor, **kwargs) -> torch.Tensor:
    """The plain (sigmoid) form's loss of each entry ``(N, C)``: each entry as its own sample.

    ``reduction="none"`` is one loss per sample, summed over its labels; with one label per
    sample it is the loss of that entry.
    """
    return fn(x.reshape(-1, 1), y.reshape(-1, 1), reduction="none", **kwargs).view(x.shape)


def _np_mean(loss: np.ndarray, mask: np.ndarray) -> float:
    """The one meaning of "mean": per column the mean over its labelled rows, summed."""
    return float((loss.sum(0) / np.maximum(mask.sum(0), 1)).sum())


def _expand_mask(target: torch.Tensor, groups: AttributeGroups) -> np.ndarray:
    valid = (target != -100).numpy()
    return valid[:, list(groups.attribute_group)].astype(np.float64)


def test_one_hot_with_missing_label_keeps_other_groups():
    # Regression: a missing label in a later group used to overwrite column 0 (scatter_ of a 0),
    # dropping the first group's label from every hard-target loss and from label_counts.
    groups = AttributeGroups([2, 2])
    target = torch.tensor([[0, -100], [0, 1]])
    expected = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 1.0]])
    torch.testing.assert_close(groups.to_one_hot(target), expected)


# ---------------------------------------------------------------------------------------------
# asymmetric loss: sigmoid form against timm and the paper's test vector


def test_asl_reference_vector():
    loss = _elementwise(asymmetric_loss, X_REF, Y_REF)
    expected = torch.tensor([[0.346574, 0.846415, 5.678e-4], [2.3043e-3, 1.645e-6, 0.178983]])
    torch.testing.assert_close(loss, expected, rtol=1e-3, atol=1e-7)
    torch.testing.assert_close(asymmetric_loss(X_REF, Y_REF, reduction="none"), expected.sum(1), rtol=1e-4, atol=0)  # fmt: skip
    assert asymmetric_loss(X_REF, Y_REF, reduction="sum").item() == pytest.approx(1.374846, 1e-6)
    # "mean": per sample (summed over the 3 labels), averaged over the 2 samples; the reference
    # vector's 0.229141 is the mean over the 6 entries, so the sum / 2 = 0.229141 * 3.
    assert asymmetric_loss(X_REF, Y_REF).item() == pytest.approx(0.229141 * 3, 1e-5)
    paper = asymmetric_loss(X_REF, Y_REF, gamma_pos=0.0, reduction="sum")
    assert paper.item() == pytest.approx(2.062796, 1e-6)


TIMM_GRID = list(
    itertools.product([0.0, 1.0, 2.5], [0.0, 1.0, 4.0], [0.0, 0.05, 0.2], [False, True])
)


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize(("gamma_pos", "gamma_neg", "clip", "detach"), TIMM_GRID)
def test_asl_matches_timm_value_and_grad(gamma_pos, gamma_neg, clip, detach, soft):
    gen = _gen(int(gamma_pos * 7 + gamma_neg * 3 + clip * 100) + 2 * detach + soft)
    x = torch.rand(32, 26, generator=gen) * 30 - 15  # logits in [-15, 15]
    y = torch.rand(32, 26, generator=gen) if soft else (torch.rand(32, 26, generator=gen) < 0.3)
    y = y.float()
    ours_x, timm_x = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = asymmetric_loss(
        ours_x,
        y,
        gamma_pos=gamma_pos,
        gamma_neg=gamma_neg,
        clip=clip,
        detach_focal_weight=detach,
        reduction="sum",
    )
    timm = AsymmetricLossMultiLabel(
        gamma_neg=gamma_neg,
        gamma_pos=gamma_pos,
        clip=clip,
        disable_torch_grad_focal_loss=detach,
        reduction="sum",  # timm 1.0.31 defaults to "batchmean"; "sum" is the original ASL
    )(timm_x, y)
    ours.backward()
    timm.backward()
    # The gradient of the formula in float64 (this function's float64 path is checked against
    # finite differences in test_asl_gradcheck_float64).
    x64 = x.double().requires_grad_()
    asymmetric_loss(
        x64, y.double(), gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip,
        detach_focal_weight=detach, reduction="sum",
    ).backward()  # fmt: skip
    ours_grad_err = (ours_x.grad.double() - x64.grad).abs().max().item()
    timm_grad_err = (timm_x.grad.double() - x64.grad).abs().max().item()
    assert ours_grad_err <= 1e-6
    assert ours_grad_err <= timm_grad_err + 2e-7
    # timm's 1 - sigmoid(x) loses digits as x -> 15 (the gradient uses it for every clip, the
    # value only for clip == 0); within that, the two agree.
    torch.testing.assert_close(ours_x.grad, timm_x.grad, rtol=1e-5, atol=5e-6)
    if clip > 0:
        # 1 - p + m >= m: no cancellation in the value, agreement to float32 precision.
        torch.testing.assert_close(ours, timm, rtol=2e-6, atol=0)
    else:
        # The value of log(1 - p) suffers as well; ours is closer to the float64 evaluation.
        exact = _np_asl(x, y, gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=0.0).sum()
        ours_err, timm_err = abs(ours.item() - exact), abs(timm.item() - exact)
        assert ours_err <= 1e-6 * abs(exact)
        assert ours_err <= timm_err + 1e-6 * abs(exact)
        torch.testing.assert_close(ours, timm, rtol=5e-4, atol=0)


@pytest.mark.parametrize("clip", [0.0, 0.05])
def test_asl_eps_clamp_as_close_to_float64_as_timm(clip):
    # Logits well beyond the clamp (p < eps or 1 - p < eps) on both sides.
    x = torch.linspace(-40, 40, 161).reshape(7, 23)
    gen = _gen(3)
    for y in (torch.rand(7, 23, generator=gen), (torch.rand(7, 23, generator=gen) < 0.5).float()):
        exact = _np_asl(x, y, gamma_pos=0.0, gamma_neg=2.0, clip=clip)
        ours = _elementwise(asymmetric_loss, x, y, gamma_pos=0.0, gamma_neg=2.0, clip=clip)
        timm = AsymmetricLossMultiLabel(gamma_pos=0.0, gamma_neg=2.0, clip=clip, reduction="none")
        ref = timm(x, y)
        ours_err = (ours.double() - torch.from_numpy(exact)).abs()
        timm_err = (ref.double() - torch.from_numpy(exact)).abs()
        assert bool((ours_err <= timm_err + 2e-6 * (1 + torch.from_numpy(exact).abs())).all())
        assert float(ours_err.max()) < 1e-5


def test_asl_log_clamp_gradient_is_zero_where_active():
    # p < eps: the clamped positive log term has no gradient, as in the reference.
    x = torch.tensor([[-30.0, -10.0]], requires_grad=True)
    asymmetric_loss(x, torch.ones(1, 2), gamma_pos=0.0, reduction="sum").backward()
    assert x.grad[0, 0].item() == 0.0
    assert x.grad[0, 1].item() < -0.99
    # eps=0 disables the clamp: the loss keeps growing and the gradient stays -1.
    x = torch.tensor([[-30.0]], requires_grad=True)
    loss = asymmetric_loss(x, torch.ones(1, 1), gamma_pos=0.0, eps=0.0, reduction="sum")
    loss.backward()
    assert loss.item() == pytest.approx(30.0, rel=1e-6)
    assert x.grad.item() == pytest.approx(-1.0, rel=1e-6)


# ---------------------------------------------------------------------------------------------
# asymmetric loss: grouped form against the float64 reference formula


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize(("gamma_pos", "gamma_neg", "clip"), [(1, 4, 0.05), (0, 4, 0.05), (2, 1, 0.0), (0, 0, 0.2), (0.5, 2.5, 0.1)])  # fmt: skip
def test_grouped_asl_matches_float64_reference(gamma_pos, gamma_neg, clip, soft):
    gen = _gen(11)
    x = torch.randn(40, FASHION.num_attributes, generator=gen) * 4
    if soft:
        target = _soft_target(40, FASHION, gen)
        target[3, :7] = 0.0  # a missing label in the soft form
        y, mask = target, np.ones((40, FASHION.num_attributes))
        mask[3, :7] = 0.0
    else:
        target = _hard_target(40, FASHION, gen, missing=0.1)
        y, mask = FASHION.to_one_hot(target), _expand_mask(target, FASHION)
    kwargs = {"gamma_pos": gamma_pos, "gamma_neg": gamma_neg, "clip": clip}
    exact = _np_asl(x, y, sizes=FASHION.sizes, **kwargs) * mask
    loss = asymmetric_loss(x, target, groups=FASHION, reduction="none", **kwargs)
    # atol: float32 resolution of log p = x - logsumexp(x) for logits of magnitude ~16.
    torch.testing.assert_close(loss.double(), torch.from_numpy(exact.sum(1)), rtol=1e-5, atol=1e-5)
    total = asymmetric_loss(x, target, groups=FASHION, reduction="sum", **kwargs)
    assert total.item() == pytest.approx(exact.sum(), rel=1e-6)
    mean = asymmetric_loss(x, target, groups=FASHION, **kwargs)
    assert mean.item() == pytest.approx(_np_mean(exact, mask), rel=1e-6)


def test_grouped_asl_keeps_precision_for_confident_groups():
    # Logit gaps of 12..30 put 1 - p of the top attribute far below float32 resolution near 1.
    # It is computed as a two-way softmax against the other logits, so both log p and
    # log(1 - p) keep full relative precision (no clamp, no clip, no focusing here).
    groups = AttributeGroups([3, 2])
    x = torch.tensor([[12.0, 0.0, -3.0, 30.0, 0.0], [0.0, 20.0, 1.0, -5.0, 9.0]])
    kwargs = {"gamma_pos": 0.0, "gamma_neg": 0.0, "clip": 0.0, "eps": 0.0}
    negative = torch.tensor([[1, 1], [0, 0]])  # the confident attributes are wrong ...
    positive = torch.tensor([[0, 0], [1, 1]])  # ... or right
    for y in (negative, positive):
        loss = asymmetric_loss(x, y, groups, reduction="none", **kwargs)
        exact = _np_asl(x, groups.to_one_hot(y), sizes=groups.sizes, **kwargs)
        torch.testing.assert_close(loss.double(), torch.from_numpy(exact.sum(1)), rtol=2e-6, atol=1e-12)  # fmt: skip
    # Right and confident everywhere: every term is tiny (e^-12 .. e^-30) and still exact to
    # float32 precision above; 1 - p formed as a difference would give 0 or -inf.
    loss = asymmetric_loss(x, positive, groups, reduction="none", **kwargs)
    assert bool((loss > 0).all()) and bool((loss < 1e-4).all())


def test_grouped_asl_hard_equals_one_hot_soft():
    gen = _gen(5)
    x = torch.randn(16, FASHION.num_attributes, generator=gen)
    target = _hard_target(16, FASHION, gen, missing=0.2)
    for reduction in ("none", "sum", "mean"):
        hard = asymmetric_loss(x, target, groups=FASHION, reduction=reduction)
        soft = asymmetric_loss(x, FASHION.to_one_hot(target), groups=FASHION, reduction=reduction)
        torch.testing.assert_close(hard, soft)


def test_grouped_asl_detached_weight_matches_autograd_reference():
    gen = _gen(6)
    x = torch.randn(8, GROUPS.num_attributes, generator=gen, dtype=torch.float64)
    y = _soft_target(8, GROUPS, gen).double()
    ours_x = x.clone().requires_grad_()
    asymmetric_loss(ours_x, y, GROUPS, detach_focal_weight=True, reduction="sum").backward()
    # Reference: the report's code, p from the grouped softmax, weight computed without grad.
    ref_x = x.clone().requires_grad_()
    p = grouped_softmax(ref_x, GROUPS)
    q = (1 - p + 0.05).clamp(max=1)
    base_loss = y * p.clamp(min=1e-8).log() + (1 - y) * q.clamp(min=1e-8).log()
    with torch.no_grad():
        w = (1 - (p * y + q * (1 - y))).pow(1.0 * y + 4.0 * (1 - y))
    (-(base_loss * w).sum()).backward()
    torch.testing.assert_close(ours_x.grad, ref_x.grad)


@pytest.mark.parametrize("groups", [None, GROUPS])
def test_asl_gradcheck_float64(groups):
    gen = _gen(7)
    x = torch.randn(5, GROUPS.num_attributes, generator=gen, dtype=torch.float64) * 2
    y = _soft_target(5, GROUPS, gen).double()
    x.requires_grad_()

    def fn(inp):
        return asymmetric_loss(
            inp, y, groups, gamma_pos=1.5, gamma_neg=3.0, clip=0.05, reduction="none"
        )

    assert torch.autograd.gradcheck(fn, (x,))


@pytest.mark.parametrize("groups", [None, GROUPS])
def test_asl_target_gradient_uses_autograd(groups):
    gen = _gen(8)
    x = torch.randn(4, GROUPS.num_attributes, generator=gen, dtype=torch.float64)
    y = _soft_target(4, GROUPS, gen).double().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda t: asymmetric_loss(x, t, groups, gamma_pos=1.0, reduction="sum"), (y,)
    )
    # The input gradient is the same with and without a differentiable target.
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    asymmetric_loss(x1, y, groups, reduction="sum").backward()
    asymmetric_loss(x2, y.detach(), groups, reduction="sum").backward()
    torch.testing.assert_close(x1.grad, x2.grad)


@pytest.mark.parametrize("groups", [None, GROUPS])
def test_asl_second_derivatives_float64(groups):
    # Plain autograd all the way: second derivatives (create_graph=True) against finite
    # differences of the gradient, with missing labels.
    gen = _gen(26)
    x = torch.randn(3, GROUPS.num_attributes, generator=gen, dtype=torch.float64)
    y = _soft_target(3, GROUPS, gen).double()
    if groups is None:
        y[0, :2] = -100
    else:
        y[1, :3] = 0.0
    x.requires_grad_()
    assert torch.autograd.gradgradcheck(
        lambda inp: asymmetric_loss(inp, y, groups, gamma_pos=1.0, clip=0.05, reduction="none"),
        (x,),
    )


# ---------------------------------------------------------------------------------------------
# properties


finite_logits = arrays(
    np.float64, (4, GROUPS.num_attributes), elements=st.floats(-10, 10, allow_subnormal=False)
)
unit = arrays(np.float64, (4, GROUPS.num_attributes), elements=st.floats(0, 1))


@settings(max_examples=40, deadline=None)
@given(x=finite_logits, y=unit)
def test_asl_without_focusing_is_bce_with_logits(x, y):
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    kwargs = {"gamma_pos": 0.0, "gamma_neg": 0.0, "clip": 0.0, "eps": 0.0}
    loss = _elementwise(asymmetric_loss, x, y, **kwargs)
    expected = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(asymmetric_loss(x, y, reduction="none", **kwargs), expected.sum(1))
    # "mean" is per sample, summed over labels: BCE's mean over the N * C entries, times C.
    mean = asymmetric_loss(x, y, **kwargs)
    bce_sum = F.binary_cross_entropy_with_logits(x, y, reduction="sum")
    torch.testing.assert_close(mean, bce_sum / x.shape[0])


@settings(max_examples=40, deadline=None)
@given(x=finite_logits, y=unit)
def test_grouped_asl_without_focusing_is_bce_on_grouped_softmax(x, y):
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    segments = [(s, s.sum(1, keepdim=True)) for s in GROUPS.split(y)]
    y = torch.cat([torch.where(t > 0, s / t, 1 / s.shape[1]) for s, t in segments], 1)
    kwargs = {"gamma_pos": 0.0, "gamma_neg": 0.0, "clip": 0.0, "eps": 0.0}
    loss = asymmetric_loss(x, y, GROUPS, reduction="none", **kwargs)
    expected = F.binary_cross_entropy(grouped_softmax(x, GROUPS), y, reduction="none")
    torch.testing.assert_close(loss, expected.sum(1))


@settings(max_examples=30, deadline=None)
@given(x=finite_logits, y=unit, seed=st.integers(0, 2**16))
def test_asl_reductions_agree(x, y, seed):
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    ignored = torch.rand(y.shape, generator=_gen(seed)) < 0.3
    y[ignored] = -100.0
    each = _elementwise(asymmetric_loss, x, y)
    assert bool((each[ignored] == 0).all())
    none = asymmetric_loss(x, y, reduction="none")
    assert none.shape == (x.shape[0],)
    torch.testing.assert_close(none, each.sum(1))
    torch.testing.assert_close(asymmetric_loss(x, y, reduction="sum"), none.sum())
    # Per label the mean over the samples that carry it, summed over labels.
    count = (~ignored).sum(0).clamp(min=1)
    torch.testing.assert_close(asymmetric_loss(x, y), (each.sum(0) / count).sum())


@settings(max_examples=30, deadline=None)
@given(x=finite_logits, seed=st.integers(0, 2**16), shift=st.floats(-50, 50))
def test_grouped_losses_are_shift_invariant_per_group(x, seed, shift):
    x = torch.from_numpy(x)
    target = _hard_target(4, GROUPS, _gen(seed), missing=0.2)
    shifted = x.clone()
    shifted[:, GROUPS.slices[1]] += shift
    for fn in (asymmetric_loss, dice_loss):
        torch.testing.assert_close(fn(shifted, target, GROUPS), fn(x, target, GROUPS))
    torch.testing.assert_close(
        grouped_cross_entropy(shifted, target, GROUPS), grouped_cross_entropy(x, target, GROUPS)
    )


@settings(max_examples=30, deadline=None)
@given(x=finite_logits, y=unit, gamma=st.floats(0, 5))
def test_focal_loss_is_torchvision_sigmoid_focal_loss(x, y, gamma):
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    expected = sigmoid_focal_loss(x, y, alpha=-1, gamma=gamma, reduction="none")
    torch.testing.assert_close(_elementwise(focal_loss, x, y, gamma=gamma), expected)
    torch.testing.assert_close(focal_loss(x, y, gamma=gamma, reduction="sum"), expected.sum())


def test_grouped_mean_counts_only_labelled_groups():
    gen = _gen(9)
    x = torch.randn(6, GROUPS.num_attributes, generator=gen)
    target = _hard_target(6, GROUPS, gen)
    target[:, 0] = -100
    none = asymmetric_loss(x, target, GROUPS, reduction="none")
    # Group 0 (all missing) adds nothing; groups 1 and 2 have 6 labelled samples each.
    only_labelled = asymmetric_loss(x[:, 3:], target[:, 1:], AttributeGroups([2, 4]), reduction="none")  # fmt: skip
    torch.testing.assert_close(none, only_labelled)
    torch.testing.assert_close(asymmetric_loss(x, target, GROUPS), none.sum() / 6)
    all_missing = torch.full_like(target, -100)
    x.requires_grad_()
    loss = asymmetric_loss(x, all_missing, GROUPS)
    loss.backward()
    assert loss.item() == 0.0 and bool((x.grad == 0).all())


def test_validate_args_false_gives_same_result():
    gen = _gen(10)
    x = torch.randn(6, GROUPS.num_attributes, generator=gen)
    y = (torch.rand(6, GROUPS.num_attributes, generator=gen) < 0.4).float()
    y[0, 1] = -100
    target = _hard_target(6, GROUPS, gen, missing=0.2)
    for groups, t in ((None, y), (GROUPS, target)):
        for fn in (asymmetric_loss, dice_loss):
            torch.testing.assert_close(fn(x, t, groups, validate_args=False), fn(x, t, groups))


def test_integer_multi_hot_target_in_sigmoid_form():
    y = Y_REF.long()
    torch.testing.assert_close(asymmetric_loss(X_REF, y), asymmetric_loss(X_REF, Y_REF))


# ---------------------------------------------------------------------------------------------
# low precision, extreme logits, autocast, grad mode


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("groups", [None, FASHION])
def test_extreme_low_precision_logits_give_finite_loss_and_grad(dtype, groups):
    gen = _gen(12)
    x = (torch.randn(8, 26, generator=gen) * 3).to(dtype)
    x[:, ::2] = 1e4
    x[:, 1::3] = -1e4
    x.requires_grad_()
    if groups is None:
        target = (torch.rand(8, 26, generator=gen) < 0.5).float()
    else:
        target = _hard_target(8, groups, gen)
    fns = [
        lambda: asymmetric_loss(x, target, groups),
        lambda: asymmetric_loss(x, target, groups, clip=0.0, eps=0.0),
        lambda: asymmetric_loss(x, target, groups, detach_focal_weight=True),
        lambda: focal_loss(x, target, groups),
        lambda: dice_loss(x, target, groups),
    ]
    if groups is not None:
        fns.append(lambda: grouped_cross_entropy(x, target, groups, label_smoothing=0.1))
        priors = class_priors(torch.arange(1, 27), groups)
        fns.append(lambda: logit_adjusted_cross_entropy(x, target, groups, priors=priors))
    for fn in fns:
        x.grad = None
        loss = fn()
        loss.backward()
        assert loss.dtype == torch.float32
        assert bool(torch.isfinite(loss)), fn
        assert x.grad.dtype == dtype and bool(torch.isfinite(x.grad).all())


@pytest.mark.parametrize("groups", [None, FASHION])
def test_cpu_autocast_bfloat16(groups):
    gen = _gen(13)
    layer = torch.nn.Linear(16, 26)
    features = torch.randn(8, 16, generator=gen) * 1e3
    target = (
        (torch.rand(8, 26, generator=gen) < 0.5).float()
        if groups is None
        else _hard_target(8, groups, gen)
    )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = layer(features)
        assert logits.dtype == torch.bfloat16
        loss = asymmetric_loss(logits, target, groups) + dice_loss(logits, target, groups)
    loss.backward()
    assert bool(torch.isfinite(loss))
    assert bool(torch.isfinite(layer.weight.grad).all())
    with torch.no_grad():
        exact = asymmetric_loss(logits.float(), target, groups)
    torch.testing.assert_close(asymmetric_loss(logits, target, groups).detach(), exact)


def test_detached_focal_weight_never_changes_grad_mode():
    x = torch.randn(2, 3, requires_grad=True)
    with torch.no_grad():
        loss = asymmetric_loss(x, Y_REF, detach_focal_weight=True)
        assert not torch.is_grad_enabled()
    assert not loss.requires_grad
    loss = asymmetric_loss(x, Y_REF, detach_focal_weight=True)
    assert torch.is_grad_enabled() and loss.requires_grad
    with torch.inference_mode():
        asymmetric_loss(x, Y_REF, groups=None, detach_focal_weight=True)
        assert torch.is_inference_mode_enabled()


def test_detached_focal_weight_changes_the_gradient_only():
    x1, x2 = X_REF.clone().requires_grad_(), X_REF.clone().requires_grad_()
    a = asymmetric_loss(x1, Y_REF, detach_focal_weight=True)
    b = asymmetric_loss(x2, Y_REF)
    torch.testing.assert_close(a, b)
    a.backward()
    b.backward()
    assert not torch.allclose(x1.grad, x2.grad)


# ---------------------------------------------------------------------------------------------
# dice


def test_dice_reference_vector():
    # peers.md 2.7: smp per-class scores [0.899602, masked, 0.833869], smp mean over C=3 0.088843.
    none = dice_loss(X_REF, Y_REF, reduction="none")
    torch.testing.assert_close(none, torch.tensor([1 - 0.899602, 0.0, 1 - 0.833869]))
    assert dice_loss(X_REF, Y_REF, reduction="sum").item() / 3 == pytest.approx(0.088843, 1e-5)
    assert dice_loss(X_REF, Y_REF).item() == pytest.approx(0.088843 * 3 / 2, 1e-5)


@pytest.mark.parametrize("smooth", [0.0, 1.0])
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("groups", [None, FASHION])
def test_dice_matches_float64_reference(groups, soft, smooth):
    gen = _gen(14)
    x = torch.randn(20, 26, generator=gen) * 2
    if groups is None:
        y = torch.rand(20, 26, generator=gen)
        y = y if soft else (y < 0.1).float()
        y[:, 3] = 0.0  # an absent attribute
        target, mask = y, None
    elif soft:
        y = target = _soft_target(20, groups, gen)
        mask = None
    else:
        target = _hard_target(20, groups, gen, missing=0.2)
        y, mask = groups.to_one_hot(target), _expand_mask(target, groups)
    sizes = None if groups is None else groups.sizes
    exact = _np_dice(x, y, sizes=sizes, smooth=smooth, mask=mask)
    none = dice_loss(x, target, groups, smooth=smooth, reduction="none")
    torch.testing.assert_close(none.double(), torch.from_numpy(exact), rtol=1e-5, atol=1e-6)
    present = (y * (1 if mask is None else torch.from_numpy(mask).float())).sum(0) > 0
    mean = dice_loss(x, target, groups, smooth=smooth)
    assert mean.item() == pytest.approx(exact.sum() / int(present.sum()), rel=1e-5)


def test_dice_absent_attributes_get_no_gradient_and_do_not_count():
    x = torch.randn(5, 4, generator=_gen(15), requires_grad=True)
    y = torch.zeros(5, 4)
    y[:, 0] = 1.0
    y[2, 1] = 1.0
    loss = dice_loss(x, y)
    loss.backward()
    assert bool((x.grad[:, 2:] == 0).all())
    none = dice_loss(x, y, reduction="none")
    assert loss.item() == pytest.approx(none[:2].mean().item())
    empty = dice_loss(x, torch.zeros(5, 4))
    assert empty.item() == 0.0


def test_dice_soft_intersection_equals_product_for_hard_labels():
    x = torch.randn(6, 3, generator=_gen(16))
    y = (torch.rand(6, 3, generator=_gen(17)) < 0.5).float()
    y[0] = 1.0
    p = torch.sigmoid(x)
    score = (2 * (p * y).sum(0) + 2) / (p.sum(0) + y.sum(0) + 2)
    torch.testing.assert_close(dice_loss(x, y, reduction="none"), 1 - score)


# ---------------------------------------------------------------------------------------------
# weighted cross-entropy and logit adjustment


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_weighted_ce_per_group_equals_torch(reduction, label_smoothing, weighted):
    gen = _gen(18)
    x = torch.randn(12, FASHION.num_attributes, generator=gen)
    target = _hard_target(12, FASHION, gen, missing=0.25)
    weight = torch.rand(FASHION.num_attributes, generator=gen) * 3 if weighted else None
    expected = []
    for g, cols in enumerate(FASHION.slices):
        expected.append(
            F.cross_entropy(
                x[:, cols],
                target[:, g],
                weight=None if weight is None else weight[cols],
                label_smoothing=label_smoothing,
                ignore_index=-100,
                reduction=reduction,
            )
        )
        # Each group alone (a layout of one group) is torch's cross-entropy.
        one_group = grouped_cross_entropy(
            x[:, cols], target[:, g : g + 1], AttributeGroups([cols.stop - cols.start]),
            weight=None if weight is None else weight[cols], label_smoothing=label_smoothing,
            reduction=reduction,
        )  # fmt: skip
        torch.testing.assert_close(one_group, expected[-1])
    total = grouped_cross_entropy(
        x, target, FASHION, weight=weight, label_smoothing=label_smoothing, reduction=reduction
    )
    torch.testing.assert_close(total, torch.stack(expected).sum(0))  # summed over groups


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_weighted_ce_one_hot_soft_equals_hard(label_smoothing):
    gen = _gen(19)
    x = torch.randn(10, FASHION.num_attributes, generator=gen)
    target = _hard_target(10, FASHION, gen, missing=0.2)
    weight = torch.rand(FASHION.num_attributes, generator=gen) + 0.1
    for reduction in ("mean", "sum", "none"):
        kwargs = {"weight": weight, "label_smoothing": label_smoothing, "reduction": reduction}
        hard = grouped_cross_entropy(x, target, FASHION, **kwargs)
        soft = grouped_cross_entropy(x, FASHION.to_one_hot(target), FASHION, **kwargs)
        torch.testing.assert_close(hard, soft)


def test_weighted_ce_soft_targets_match_formula():
    gen = _gen(20)
    x = torch.randn(9, GROUPS.num_attributes, generator=gen, dtype=torch.float64)
    y = _soft_target(9, GROUPS, gen).double()
    y[2, 3:5] = 0.0  # missing label in group 1
    w = torch.rand(GROUPS.num_attributes, generator=gen, dtype=torch.float64) + 0.5
    eps = 0.1
    out = grouped_cross_entropy(x, y, GROUPS, weight=w, label_smoothing=eps)
    terms = []
    for cols in GROUPS.slices:
        valid = y[:, cols].sum(1) > 0
        logp = torch.log_softmax(x[valid][:, cols], 1)
        k = cols.stop - cols.start
        smoothed = (1 - eps) * y[valid][:, cols] + eps / k
        num = -(w[cols] * smoothed * logp).sum()
        den = (w[cols] * y[valid][:, cols]).sum()
        terms.append(num / den)
    torch.testing.assert_close(out, sum(terms))


def test_weighted_ce_group_without_labels_contributes_zero():
    x = torch.randn(4, GROUPS.num_attributes, generator=_gen(21), requires_grad=True)
    target = _hard_target(4, GROUPS, _gen(22))
    target[:, 2] = -100
    out = grouped_cross_entropy(x, target, GROUPS)
    two_groups = grouped_cross_entropy(x[:, :5], target[:, :2], AttributeGroups([3, 2]))
    torch.testing.assert_close(out, two_groups)  # group 2 adds 0, not NaN
    out.backward()
    assert bool(torch.isfinite(x.grad).all()) and bool((x.grad[:, 5:] == 0).all())


@pytest.mark.parametrize("tau", [0.0, 1.0, 2.0])
def test_logit_adjusted_ce_is_ce_of_shifted_logits(tau):
    gen = _gen(23)
    x = torch.randn(10, FASHION.num_attributes, generator=gen)
    target = _hard_target(10, FASHION, gen, missing=0.1)
    counts = torch.randint(1, 100, (FASHION.num_attributes,), generator=gen)
    priors = class_priors(counts, FASHION)
    loss = logit_adjusted_cross_entropy(x, target, FASHION, priors=priors, tau=tau)
    expected = sum(
        F.cross_entropy(x[:, s] + tau * priors[s].log(), target[:, g])
        for g, s in enumerate(FASHION.slices)
    )
    torch.testing.assert_close(loss, expected)
    # Balanced Softmax: raw counts give the same loss (constants cancel in each softmax).
    by_counts = logit_adjusted_cross_entropy(x, target, FASHION, priors=counts.float(), tau=tau)
    torch.testing.assert_close(by_counts, loss)


def test_adjust_logits_is_posthoc_correction():
    groups = AttributeGroups([2, 3])
    logits = torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0]])
    priors = torch.tensor([0.9, 0.1, 0.2, 0.3, 0.5])
    out = adjust_logits(logits, groups, priors=priors, tau=0.5)
    torch.testing.assert_close(out, logits - 0.5 * priors.log())
    assert groups.argmax(adjust_logits(logits, groups, priors=priors)).tolist() == [[1, 0]]
    half = adjust_logits(logits.half(), groups, priors=priors)
    assert half.dtype == torch.float16


# ---------------------------------------------------------------------------------------------
# modules


def _module_cases():
    gen = _gen(24)
    weight = torch.rand(GROUPS.num_attributes, generator=gen) + 0.5
    priors = class_priors(torch.arange(1, GROUPS.num_attributes + 1), GROUPS)
    return [
        (
            AsymmetricLoss(GROUPS, gamma_pos=0.0, clip=0.1),
            lambda x, t: asymmetric_loss(x, t, GROUPS, gamma_pos=0.0, clip=0.1),
        ),  # fmt: skip
        (AsymmetricLoss(reduction="sum"), lambda x, t: asymmetric_loss(x, t, reduction="sum")),
        (DiceLoss(GROUPS, smooth=0.5), lambda x, t: dice_loss(x, t, GROUPS, smooth=0.5)),
        (DiceLoss(reduction="none"), lambda x, t: dice_loss(x, t, reduction="none")),
        (
            WeightedCrossEntropyLoss(GROUPS, weight=weight, label_smoothing=0.1),
            lambda x, t: grouped_cross_entropy(x, t, GROUPS, weight=weight, label_smoothing=0.1),
        ),  # fmt: skip
        (
            LogitAdjustedCrossEntropyLoss(GROUPS, priors=priors, tau=1.5),
            lambda x, t: logit_adjusted_cross_entropy(x, t, GROUPS, priors=priors, tau=1.5),
        ),  # fmt: skip
    ]


@pytest.mark.parametrize("case", range(6))
def test_module_equals_function_and_keeps_no_batch_state(case):
    module, function = _module_cases()[case]
    gen = _gen(25)
    x = torch.randn(6, GROUPS.num_attributes, generator=gen, requires_grad=True)
    target = _hard_target(6, GROUPS, gen)
    if getattr(module, "groups", None) is None:
        target = GROUPS.to_one_hot(target)  # sigmoid form: multi-hot targets
    before = set(vars(module))
    buffers = {k: v.clone() for k, v in module.named_buffers()}
    out = module(x, target)
    out.sum().backward()
    torch.testing.assert_close(out, function(x, target))
    assert set(vars(module)) == before
    assert not any(isinstance(v, torch.Tensor) for v in vars(module).values())
    for name, value in module.named_buffers():
        torch.testing.assert_close(value, buffers[name])


def test_sigmoid_module_equals_function():
    module = AsymmetricLoss(gamma_pos=0.0, reduction="sum", detach_focal_weight=True)
    torch.testing.assert_close(
        module(X_REF, Y_REF),
        asymmetric_loss(X_REF, Y_REF, gamma_pos=0.0, reduction="sum", detach_focal_weight=True),
    )
    assert "gamma_neg=4" in repr(module)


def test_module_buffers_follow_state_dict_and_dtype():
    weight = torch.arange(1.0, 6.0)
    priors = class_priors(torch.tensor([3, 1, 2, 2, 4]), AttributeGroups([2, 3]))
    groups = AttributeGroups([2, 3])
    wce = WeightedCrossEntropyLoss(groups, weight=weight)
    weight[0] = 100.0  # the module keeps its own copy
    assert wce.weight[0].item() == 1.0
    assert set(wce.state_dict()) == {"weight"}
    la = LogitAdjustedCrossEntropyLoss(groups, priors=priors).double()
    assert la.priors.dtype == torch.float64 and set(la.state_dict()) == {"priors"}
    assert set(GroupedCrossEntropyLoss(groups).state_dict()) == set()
    x = torch.zeros(2, 5, dtype=torch.float64)
    assert la(x, torch.tensor([[0, 1], [1, 2]])).dtype == torch.float64


# ---------------------------------------------------------------------------------------------
# error messages


def test_asl_argument_errors():
    with pytest.raises(ValueError, match=r"Expected `gamma_neg` in \[0, inf\), but got -1\."):
        asymmetric_loss(X_REF, Y_REF, gamma_neg=-1)
    with pytest.raises(ValueError, match=r"Expected `clip` in \[0, 1\), but got 1\."):
        asymmetric_loss(X_REF, Y_REF, clip=1.0)
    with pytest.raises(ValueError, match=r"Expected `eps` in \[0, 1\), but got -1e-08\."):
        asymmetric_loss(X_REF, Y_REF, eps=-1e-8)
    with pytest.raises(TypeError, match=r"Expected `gamma_pos` to be a real number, but got str\."):
        asymmetric_loss(X_REF, Y_REF, gamma_pos="1")
    with pytest.raises(ValueError, match=r"Expected `reduction` to be one of \('mean', 'sum', 'none'\), but got 'avg'\."):  # fmt: skip
        asymmetric_loss(X_REF, Y_REF, reduction="avg")
    with pytest.raises(ValueError, match=r"Expected `input` of shape \(N, C\) \(one logit per attribute\), but got \(3,\)\."):  # fmt: skip
        asymmetric_loss(X_REF[0], Y_REF[0])
    with pytest.raises(ValueError, match=r"Expected `target` of shape \(N, C\) like `input` = \(2, 3\) \(plain multi-label, groups=None\), but got \(2, 1\)\."):  # fmt: skip
        asymmetric_loss(X_REF, Y_REF[:, :1])
    with pytest.raises(ValueError, match=r"Expected `target` values in \[0, 1\] or ignore_index=-100, but got 2 at row 1, column 0\."):  # fmt: skip
        asymmetric_loss(X_REF, Y_REF * torch.tensor([[1.0], [2.0]]))
    with pytest.raises(TypeError, match=r"Expected `input` to have a floating dtype, but got torch\.int64\."):  # fmt: skip
        asymmetric_loss(X_REF.long(), Y_REF)
    with pytest.raises(TypeError, match=r"Expected `groups` to be an imbalml\.AttributeGroups, but got list\."):  # fmt: skip
        asymmetric_loss(X_REF, Y_REF, groups=[3])


def test_grouped_argument_errors():
    x = torch.zeros(2, GROUPS.num_attributes)
    with pytest.raises(ValueError, match=r"Expected `target` of shape \(N, G\) = \(2, 3\) for 3 attribute groups, but got \(2, 2\)\."):  # fmt: skip
        asymmetric_loss(x, torch.zeros(2, 2, dtype=torch.long), GROUPS)
    with pytest.raises(ValueError, match=r"Expected `input` of shape \(N, C\) = \(2, 9\) for 9 attributes in 3 groups, but got \(2, 8\)\."):  # fmt: skip
        dice_loss(x[:, :8], torch.zeros(2, 3, dtype=torch.long), GROUPS)
    with pytest.raises(ValueError, match=r"Expected `target\[:, 1\]` \(group 'group1', 2 attributes\) in \[0, 1\] or ignore_index=-100, but got 2 at row 0\."):  # fmt: skip
        grouped_cross_entropy(x, torch.tensor([[0, 2, 0], [0, 0, 0]]), GROUPS)
    with pytest.raises(ValueError, match=r"Expected each group segment of `target` to sum to 1"):
        asymmetric_loss(x, torch.full((2, 9), 0.5), GROUPS)


def test_other_loss_argument_errors():
    x, target = torch.zeros(2, GROUPS.num_attributes), torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match=r"Expected `smooth` in \[0, inf\), but got -1\."):
        dice_loss(X_REF, Y_REF, smooth=-1.0)
    with pytest.raises(ValueError, match=r"Expected `eps` in \(0, inf\), but got 0\."):
        dice_loss(X_REF, Y_REF, eps=0.0)
    with pytest.raises(ValueError, match=r"Expected `weight` of shape \(C,\) = \(9,\), but got \(8,\)\."):  # fmt: skip
        grouped_cross_entropy(x, target, GROUPS, weight=torch.ones(8))
    with pytest.raises(ValueError, match=r"Expected `weight` >= 0 for every attribute, but got -1 at index 3 \(attribute 'group1/0'\)\."):  # fmt: skip
        grouped_cross_entropy(x, target, GROUPS, weight=torch.tensor([1.0, 1, 1, -1, 1, 1, 1, 1, 1]))  # fmt: skip
    with pytest.raises(ValueError, match=r"Expected `label_smoothing` in \[0, 1\], but got 1\.5\."):
        grouped_cross_entropy(x, target, GROUPS, label_smoothing=1.5)
    priors = torch.tensor([0.5, 0.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25])
    with pytest.raises(ValueError, match=r"Expected `priors` > 0 for every attribute, but got 0 at index 1 \(attribute 'group0/1'\)\."):  # fmt: skip
        logit_adjusted_cross_entropy(x, target, GROUPS, priors=priors)
    with pytest.raises(ValueError, match=r"Expected `tau` in \[0, inf\), but got -1\."):
        adjust_logits(x, GROUPS, priors=priors.clamp(min=0.1), tau=-1.0)
    with pytest.raises(ValueError, match=r"Expected `priors` of shape \(C,\) = \(9,\), but got \(3,\)\."):  # fmt: skip
        adjust_logits(x, GROUPS, priors=torch.ones(3))


def test_module_init_errors():
    with pytest.raises(ValueError, match=r"Expected `gamma_pos` in \[0, inf\), but got -0\.5\."):
        AsymmetricLoss(gamma_pos=-0.5)
    with pytest.raises(ValueError, match=r"Expected `reduction` to be one of"):
        DiceLoss(reduction="batchmean")
    with pytest.raises(TypeError, match=r"Expected `groups` to be an imbalml\.AttributeGroups \(this function needs the label layout; `groups=None`, plain multi-label, does not apply here\), but got None\."):  # fmt: skip
        GroupedCrossEntropyLoss(None)
    with pytest.raises(ValueError, match=r"Expected `weight` of shape \(C,\) = \(9,\), but got \(2,\)\."):  # fmt: skip
        WeightedCrossEntropyLoss(GROUPS, weight=torch.ones(2))
    with pytest.raises(ValueError, match=r"Expected `priors` > 0 for every attribute"):
        LogitAdjustedCrossEntropyLoss(GROUPS, priors=torch.zeros(9))
    with pytest.raises(TypeError, match=r"Expected `ignore_index` to be an int, but got float\."):
        AsymmetricLoss(ignore_index=-1.0)


def test_empty_batch_gives_zero_loss_and_gradient():
    x = torch.zeros(0, GROUPS.num_attributes, requires_grad=True)
    hard, soft = torch.zeros(0, 3, dtype=torch.long), torch.zeros(0, GROUPS.num_attributes)
    losses = [
        asymmetric_loss(x, soft),
        asymmetric_loss(x, hard, GROUPS),
        dice_loss(x, soft),
        dice_loss(x, hard, GROUPS),
        grouped_cross_entropy(x, hard, GROUPS),
    ]
    for loss in losses:
        assert loss.item() == 0.0
    sum(losses).backward()
    assert x.grad.shape == x.shape


# ---------------------------------------------------------------------------------------------
# label dtypes and ignore_index conventions; integer weights and counts (issue 21)

RARE = AttributeGroups([5, 2, 3, 2])
INFERENCE_FIRST = AttributeGroups([2, 5, 2, 3])  # only in the inference-mode test (see there)


def _all_losses(groups):
    """(name, loss function of (input, target)) for every loss that takes ``groups``."""
    out = [
        ("asymmetric", lambda x, t, **kw: asymmetric_loss(x, t, groups, **kw)),
        ("focal", lambda x, t, **kw: focal_loss(x, t, groups, **kw)),
        ("dice", lambda x, t, **kw: dice_loss(x, t, groups, **kw)),
    ]
    if groups is not None:
        priors = torch.arange(1.0, groups.num_attributes + 1)
        weight = torch.linspace(0.5, 2.0, groups.num_attributes)
        out += [
            ("grouped_ce", lambda x, t, **kw: grouped_cross_entropy(x, t, groups, **kw)),
            ("weighted_ce", lambda x, t, **kw: weighted_cross_entropy(x, t, groups, weight=weight, **kw)),  # fmt: skip
            ("logit_adjusted", lambda x, t, **kw: logit_adjusted_cross_entropy(x, t, groups, priors=priors, **kw)),  # fmt: skip
        ]
    return out


def _all_modules(groups):
    """Every loss module, built for ``groups`` (``None``: the sigmoid forms)."""
    modules = [AsymmetricLoss(groups), FocalLoss(groups), DiceLoss(groups)]
    if groups is not None:
        c = groups.num_attributes
        modules += [
            GroupedCrossEntropyLoss(groups, label_smoothing=0.1),
            WeightedCrossEntropyLoss(groups, weight=torch.linspace(0.5, 2.0, c)),
            LogitAdjustedCrossEntropyLoss(groups, priors=torch.arange(1.0, c + 1)),
        ]
    return modules


@pytest.mark.parametrize(("dtype", "ignore_index"), [(torch.uint8, 255), (torch.int32, -1), (torch.uint8, -100), (torch.int64, 255)])  # fmt: skip
def test_hard_labels_of_any_integer_dtype_and_ignore_index(dtype, ignore_index):
    # torchvision's convention: uint8 labels with 255 for "missing". On main the grouped ASL
    # failed with "index 255 is out of bounds", and uint8 labels failed in gather.
    gen = _gen(40)
    x = torch.randn(6, FASHION.num_attributes, generator=gen)
    reference = _hard_target(6, FASHION, gen, missing=0.3)
    missing = reference == -100
    target = reference.clamp(min=0).to(dtype)
    if dtype != torch.uint8 or ignore_index == 255:
        target[missing] = ignore_index
    for name, fn in _all_losses(FASHION):
        for reduction in ("mean", "sum", "none"):
            expected = fn(x, reference, reduction=reduction)
            got = fn(x, target, ignore_index=ignore_index, reduction=reduction)
            if dtype == torch.uint8 and ignore_index == -100:  # no uint8 can be -100: all present
                expected = fn(x, reference.clamp(min=0), reduction=reduction)
            torch.testing.assert_close(got, expected, msg=name)


@pytest.mark.parametrize(("dtype", "ignore_index"), [(torch.uint8, 255), (torch.int32, -1), (torch.bool, -100)])  # fmt: skip
def test_multi_hot_labels_of_any_dtype_and_ignore_index(dtype, ignore_index):
    gen = _gen(41)
    x = torch.randn(6, 5, generator=gen)
    labels = torch.rand(6, 5, generator=gen) < 0.4
    missing = torch.rand(6, 5, generator=gen) < 0.3
    reference = labels.float().masked_fill(missing & (dtype != torch.bool), -100.0)
    target = labels.to(dtype)
    if dtype != torch.bool:
        target[missing] = ignore_index
    for name, fn in _all_losses(None):
        for reduction in ("mean", "sum", "none"):
            expected = fn(x, reference, reduction=reduction)
            got = fn(x, target, ignore_index=ignore_index, reduction=reduction)
            torch.testing.assert_close(got, expected, msg=name)


def test_integer_weights_and_counts_are_accepted():
    # On main: pos_weight=[1, 2, 3, 4] failed on its dtype; priors=counts failed with a dtype
    # error and no hint. Counts work as priors: each group's softmax ignores a constant.
    x, y = torch.randn(3, 4, generator=_gen(42)), (torch.rand(3, 4, generator=_gen(43)) < 0.5)
    as_float = AsymmetricLoss(pos_weight=torch.tensor([1.0, 2.0, 3.0, 4.0]))(x, y)
    torch.testing.assert_close(AsymmetricLoss(pos_weight=[1, 2, 3, 4])(x, y), as_float)
    torch.testing.assert_close(asymmetric_loss(x, y, pos_weight=[1, 2, 3, 4]), as_float)
    torch.testing.assert_close(FocalLoss(weight=torch.tensor([1, 0, 2, 1]))(x, y), FocalLoss(weight=torch.tensor([1.0, 0.0, 2.0, 1.0]))(x, y))  # fmt: skip
    counts = torch.tensor([30, 10, 5, 5, 10])
    groups = AttributeGroups([2, 3])
    logits, target = torch.randn(4, 5, generator=_gen(44)), torch.tensor([[0, 2], [1, 0], [0, 1], [1, 2]])  # fmt: skip
    by_priors = LogitAdjustedCrossEntropyLoss(groups, priors=class_priors(counts, groups))
    by_counts = LogitAdjustedCrossEntropyLoss(groups, priors=counts)
    torch.testing.assert_close(by_counts(logits, target), by_priors(logits, target))
    torch.testing.assert_close(
        logit_adjusted_cross_entropy(logits, target, groups, priors=counts),
        by_priors(logits, target),
    )
    torch.testing.assert_close(
        grouped_softmax(adjust_logits(logits, groups, priors=counts), groups),
        grouped_softmax(adjust_logits(logits, groups, priors=class_priors(counts, groups)), groups),
    )
    with pytest.raises(ValueError, match=r"Expected `priors` in \(0, 1\) \(the frequency of each label's positives, e\.g\. imbalml\.class_priors\(target\)\) for groups=None, but got 3 at index 0\."):  # fmt: skip
        adjust_logits(logits, None, priors=torch.tensor([3, 1, 1, 1, 1]))


# ---------------------------------------------------------------------------------------------
# out-of-range labels never become "missing" or another label


def test_out_of_range_labels_are_errors_or_nan_never_missing():
    x = torch.zeros(2, RARE.num_attributes)
    bad_hard = torch.tensor([[0, 1, 2, 1], [4, 2, 0, 0]])  # group 1 has 2 attributes: 2 is bad
    bad_uint8 = torch.tensor([[0, 1, 2, 1], [254, 0, 0, 255]], dtype=torch.uint8)
    bad_plain = torch.tensor([[0, 1, 2], [1, 0, 0]])
    for name, fn in _all_losses(RARE):
        with pytest.raises(ValueError, match=r"Expected `target\[:, 1\]` \(group 'group1', 2 attributes\) in \[0, 1\] or ignore_index=-100, but got 2 at row 1\."):  # fmt: skip
            fn(x, bad_hard)
        with pytest.raises(ValueError, match=r"Expected `target\[:, 0\]` \(group 'group0', 5 attributes\) in \[0, 4\] or ignore_index=255, but got 254 at row 1\."):  # fmt: skip
            fn(x, bad_uint8, ignore_index=255)
        # Unchecked, a bad label makes the loss NaN (never a label of another group, never 0).
        assert bool(torch.isnan(fn(x, bad_hard, validate_args=False))), name
    for name, fn in _all_losses(None):
        with pytest.raises(ValueError, match=r"Expected `target` values in \{0, 1\} or ignore_index=-100, but got 2 at row 0, column 2\."):  # fmt: skip
            fn(torch.zeros(2, 3), bad_plain)
        assert bool(torch.isnan(fn(torch.zeros(2, 3), bad_plain, validate_args=False))), name


def test_out_of_range_labels_are_caught_on_the_device_path_without_a_host_read():
    # Under torch.compile (as on an accelerator) the label check is a device-side assertion:
    # no host read, and still an error (a RuntimeError on the CPU, naming the argument).
    criterion = torch.compile(AsymmetricLoss(RARE), fullgraph=True, backend="aot_eager")
    x = torch.zeros(2, RARE.num_attributes)
    criterion(x, torch.tensor([[0, 1, 2, 1], [4, 1, 0, 0]]))  # fine
    with pytest.raises(RuntimeError, match=r"Expected every `target\[:, g\]` in \[0, sizes\[g\] - 1\]"):  # fmt: skip
        criterion(x, torch.tensor([[0, 1, 2, 1], [4, 2, 0, 0]]))


# ---------------------------------------------------------------------------------------------
# host-free, compilable, no state across calls


def _targets(groups, n, gen):
    """(kind, target) for every target form a loss of ``groups`` takes."""
    if groups is None:
        multi_hot = (torch.rand(n, 7, generator=gen) < 0.4).float()
        multi_hot[0, 1] = -100
        return [("multi-hot", multi_hot), ("soft", torch.rand(n, 7, generator=gen))]
    return [("hard", _hard_target(n, groups, gen, missing=0.2)), ("soft", _soft_target(n, groups, gen))]  # fmt: skip


@pytest.mark.parametrize("groups", [None, RARE])
def test_every_loss_is_host_free_with_default_arguments(groups):
    # Meta tensors have no values: any read back to the host (.item(), bool(tensor), .tolist())
    # raises. A device tensor takes this same path (value checks as device-side assertions).
    c = 7 if groups is None else groups.num_attributes
    for kind, target in _targets(groups, 4, _gen(45)):
        meta_target = target.to("meta")
        for name, fn in _all_losses(groups):
            x = torch.zeros(4, c, device="meta", requires_grad=True)
            fn(x, meta_target).backward()
            assert x.grad.shape == x.shape, (name, kind)
        for module in _all_modules(groups):
            x = torch.zeros(4, c, device="meta", requires_grad=True)
            module.to("meta")(x, meta_target).backward()
            assert x.grad.shape == x.shape, (module, kind)


@pytest.mark.parametrize("groups", [None, RARE])
def test_every_loss_compiles_with_fullgraph(groups):
    # fullgraph=True fails on any graph break (a host read is one). The "eager" backend runs
    # the captured graph as it is: the capture is what fails on a graph break, and code
    # generation (minutes on a shared CPU) adds nothing to that check.
    c = 7 if groups is None else groups.num_attributes
    gen = _gen(46)
    x = torch.randn(4, c, generator=gen)
    for kind, target in _targets(groups, 4, gen):
        callables = [(n, fn) for n, fn in _all_losses(groups)] + [(repr(m), m) for m in _all_modules(groups)]  # fmt: skip
        for name, fn in callables:
            compiled = torch.compile(fn, fullgraph=True, backend="eager")
            xe, xc = x.clone().requires_grad_(), x.clone().requires_grad_()
            eager, got = fn(xe, target), compiled(xc, target)
            torch.testing.assert_close(got, eager, msg=f"{name} {kind}")
            eager.backward()
            got.backward()
            torch.testing.assert_close(xc.grad, xe.grad, msg=f"{name} {kind}")


def test_first_call_under_inference_mode_then_training():
    # On main, process-wide lru_caches handed layout tensors made under inference mode to every
    # later call: "Inference tensors cannot be saved for backward" in the grouped losses, and
    # "Inplace update to inference tensor" in the grouped metrics. The caches were keyed on the
    # sizes: INFERENCE_FIRST's are used by no other test, so the first call of this process for
    # them is the one under inference mode.
    gen = _gen(48)
    x = torch.randn(4, INFERENCE_FIRST.num_attributes, generator=gen)
    target = _hard_target(4, INFERENCE_FIRST, gen, missing=0.2)
    soft = _soft_target(4, INFERENCE_FIRST, gen)
    with torch.inference_mode():
        for _, fn in _all_losses(INFERENCE_FIRST):
            fn(x, target)
            fn(x, soft)
        for module in _all_modules(INFERENCE_FIRST):
            module(x, target)
        INFERENCE_FIRST.argmax(x)
        grouped_argmax(x, INFERENCE_FIRST)
        confusion_counts(x, target, INFERENCE_FIRST)
        INFERENCE_FIRST.to_one_hot(target)
    for name, fn in _all_losses(INFERENCE_FIRST):
        for t in (target, soft):
            xi = x.clone().requires_grad_()
            fn(xi, t).backward()
            assert bool(torch.isfinite(xi.grad).all()), name
    for module in _all_modules(INFERENCE_FIRST):
        xi = x.clone().requires_grad_()
        module(xi, target).backward()
        assert bool(torch.isfinite(xi.grad).all()), module
    counts = confusion_counts(x, target, INFERENCE_FIRST)
    counts += confusion_counts(x, target, INFERENCE_FIRST)  # a metric's in-place state update
    assert int(counts.sum()) == 2 * int((target != -100).sum())
    one_hot = INFERENCE_FIRST.to_one_hot(target)
    one_hot.mul_(2.0)  # no inference tensor comes back
    assert INFERENCE_FIRST.group_index().tolist() == [0] * 2 + [1] * 5 + [2] * 2 + [3] * 3


def test_modules_check_their_buffers_once():
    # A bad buffer is an error when the module is built; forward does not re-check the buffers
    # (it only checks the shapes of the call).
    with pytest.raises(ValueError, match=r"Expected `pos_weight` >= 0 for every attribute, but got -1 at index 1\."):  # fmt: skip
        AsymmetricLoss(pos_weight=[1, -1, 2])
    criterion = AsymmetricLoss(pos_weight=[1, 2, 3])
    with torch.no_grad():
        criterion.pos_weight[1] = -1.0  # not re-checked at each call
    assert bool(torch.isfinite(criterion(torch.zeros(2, 3), torch.ones(2, 3))))
    with pytest.raises(ValueError, match=r"Expected `pos_weight` of shape \(C,\) = \(4,\), but got \(3,\)\."):  # fmt: skip
        criterion(torch.zeros(2, 4), torch.ones(2, 4))


def test_reduction_none_is_per_sample_for_every_loss_but_dice():
    gen = _gen(49)
    for groups in (None, RARE):
        c = 7 if groups is None else groups.num_attributes
        x = torch.randn(5, c, generator=gen)
        for kind, target in _targets(groups, 5, gen):
            for name, fn in _all_losses(groups):
                none = fn(x, target, reduction="none")
                expected_shape = (c,) if name == "dice" else (5,)
                assert none.shape == expected_shape, (name, kind)
                torch.testing.assert_close(fn(x, target, reduction="sum"), none.sum())
