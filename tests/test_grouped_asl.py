"""The grouped ASL (plain autograd on a per-group log-softmax) against finite differences and
an independent float64 formula, with missing labels, label weights, tied maxima and confident
groups (where the top attribute's log(1 - p) is the log-sum-exp of the others).
"""

from __future__ import annotations

import pytest
import torch

from imbalml import AttributeGroups
from imbalml.functional import asymmetric_loss, grouped_softmax

GROUPS = AttributeGroups([3, 2, 4])


def _logits(n: int, seed: int, scale: float = 3.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, GROUPS.num_attributes, generator=gen, dtype=torch.float64) * scale
    x[0] = 0.0  # every group tied
    x[1, :3] = torch.tensor([25.0, -5.0, -5.0])  # a confident group (1 - p ~ 1e-13)
    x[2, 3:5] = torch.tensor([4.0, 4.0])  # a tie inside one group
    return x


def _hard(n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    target = torch.stack([torch.randint(0, k, (n,), generator=gen) for k in GROUPS.sizes], 1)
    target[3] = -100  # a fully missing row
    target[4, 1] = -100  # one missing group
    target[1, 0] = 0  # the confident group's label is its top attribute
    return target


def _one_minus_p(p: torch.Tensor) -> torch.Tensor:
    """``1 - p`` as the sum of the group's other probabilities (no cancellation near p = 1)."""
    parts = []
    for s in GROUPS.split(p):
        parts.append(torch.stack([s[:, [k for k in range(s.shape[1]) if k != j]].sum(1) for j in range(s.shape[1])], 1))  # fmt: skip
    return torch.cat(parts, 1)


def _reference(x, y, mask, gamma_pos=1.0, gamma_neg=4.0, clip=0.05, eps=1e-8):
    """The reference ASL formula on grouped-softmax probabilities, in float64."""
    p = grouped_softmax(x, GROUPS)
    one_minus_p = _one_minus_p(p)
    q = (one_minus_p + clip).clamp(max=1) if clip > 0 else one_minus_p
    loss = y * p.clamp(min=eps).log() + (1 - y) * q.clamp(min=eps).log()
    base = y * one_minus_p + (1 - y) * (p - clip).clamp(min=0)
    return -(loss * base.pow(gamma_pos * y + gamma_neg * (1 - y)) * mask)


@pytest.mark.parametrize("detach", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_hard_targets_gradcheck_float64(detach, weighted):
    x = _logits(7, 1).requires_grad_()
    target = _hard(7, 2)
    weight = torch.linspace(0.5, 2.0, GROUPS.num_attributes, dtype=torch.float64)
    kwargs = {"weight": weight if weighted else None, "detach_focal_weight": detach}
    loss = asymmetric_loss(x, target, GROUPS, reduction="sum", **kwargs)
    if not detach:  # the detached weight is not the gradient of the loss
        assert torch.autograd.gradcheck(
            lambda t: asymmetric_loss(t, target, GROUPS, reduction="sum", **kwargs), (x,)
        )
    # Against autograd through the float64 formula (independent of the library's).
    y = GROUPS.to_one_hot(target).double()
    mask = (target != -100).double()[:, list(GROUPS.attribute_group)]
    mask = mask * (weight if weighted else 1.0)
    x_ref = x.detach().clone().requires_grad_()
    ref = _reference(x_ref, y, mask)
    if detach:  # the same loss with the focusing weight held constant
        p = grouped_softmax(x_ref, GROUPS)
        one_minus_p = _one_minus_p(p)
        with torch.no_grad():
            base = y * one_minus_p + (1 - y) * (p - 0.05).clamp(min=0)
            w = base.pow(1.0 * y + 4.0 * (1 - y))
        q = (one_minus_p + 0.05).clamp(max=1)
        term = y * p.clamp(min=1e-8).log() + (1 - y) * q.clamp(min=1e-8).log()
        (-(term * w * mask)).sum().backward()
    else:
        ref.sum().backward()
    x.grad = None
    asymmetric_loss(x, target, GROUPS, reduction="sum", **kwargs).backward()
    torch.testing.assert_close(loss, ref.sum().detach(), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-9, atol=1e-12)


def test_hard_targets_equal_one_hot_soft_targets():
    x = _logits(9, 3, scale=10.0)
    target = _hard(9, 4)
    soft = GROUPS.to_one_hot(target).double()
    for reduction in ("sum", "mean", "none"):
        results = []
        for tgt in (target, soft, soft.clone().requires_grad_()):
            xi = x.clone().requires_grad_()
            loss = asymmetric_loss(xi, tgt, GROUPS, reduction=reduction)
            loss.sum().backward()
            results.append((loss.detach(), xi.grad))
        for loss, grad in results[1:]:
            torch.testing.assert_close(results[0][0], loss, rtol=1e-12, atol=1e-13)
            torch.testing.assert_close(results[0][1], grad, rtol=1e-10, atol=1e-12)


def test_second_derivatives_gradgradcheck_float64():
    x = _logits(5, 5).requires_grad_()
    target = _hard(5, 6)
    assert torch.autograd.gradgradcheck(lambda t: asymmetric_loss(t, target, GROUPS), (x,))


@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_soft_targets_gradcheck_float64_with_missing_labels(reduction):
    # Soft targets (a missing label as an all-zero segment), clip = 0 and eps = 0 (focal-like
    # negatives: the top attribute's two-way log-softmax), tied and confident rows.
    x = _logits(6, 8).requires_grad_()
    gen = torch.Generator().manual_seed(9)
    parts = [torch.rand(6, k, generator=gen, dtype=torch.float64) for k in GROUPS.sizes]
    y = torch.cat([q / q.sum(1, keepdim=True) for q in parts], 1)
    y[3] = 0.0
    y[4, 3:5] = 0.0
    kwargs = {"gamma_pos": 1.5, "gamma_neg": 2.0, "clip": 0.0, "eps": 0.0}
    loss = asymmetric_loss(x, y, GROUPS, reduction=reduction, **kwargs)
    assert torch.autograd.gradcheck(
        lambda t: asymmetric_loss(t, y, GROUPS, reduction=reduction, **kwargs), (x,)
    )
    mask = torch.ones_like(y)
    mask[3] = 0.0
    mask[4, 3:5] = 0.0
    exact = _reference(x.detach(), y, mask, **kwargs)
    torch.testing.assert_close(loss.detach(), exact.sum(1) if reduction == "none" else exact.sum())


def test_tied_logits_give_the_uniform_softmax_loss():
    x = torch.zeros(2, GROUPS.num_attributes, requires_grad=True)
    target = torch.tensor([[0, 1, 3], [2, 0, 0]])
    loss = asymmetric_loss(x, target, GROUPS, reduction="sum")
    y = GROUPS.to_one_hot(target).double()
    exact = _reference(x.detach().double(), y, torch.ones_like(y)).sum()
    assert loss.item() == pytest.approx(exact.item(), rel=1e-6)
    loss.backward()
    assert bool(torch.isfinite(x.grad).all()) and float(x.grad.abs().sum()) > 0
