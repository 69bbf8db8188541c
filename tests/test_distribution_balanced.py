"""The distribution-balanced loss against float64 transcriptions of the paper and of ResampleLoss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from imbalml import DistributionBalancedLoss, label_counts
from imbalml.functional import distribution_balanced_loss

DEFAULTS = dict(alpha=0.1, beta=10.0, mu=0.2, neg_scale=2.0, init_bias=0.05, gamma=2.0, balance=2.0)


def paper_reference(x, y, counts, n_train, *, alpha, beta, mu, neg_scale, init_bias, gamma, balance):
    """Elementwise DB loss (N, C) in float64, written from Wu et al. (2020), eqs. 3-4 and 6-8."""
    x, y, counts = np.asarray(x, np.float64), np.asarray(y), np.asarray(counts, np.float64)
    n, c = x.shape
    out = np.zeros((n, c))
    prior = counts / n_train
    b_hat = -np.log(1.0 / prior - 1.0)  # the class-specific bias estimate
    for i in range(n):
        pos = y[i] == 1
        if pos.any():
            p_class = 1.0 / c / counts  # P^C_c: class-aware sampling
            p_inst = (1.0 / c * (1.0 / counts[pos])).sum()  # P^I: the instance through its labels
            r = p_class / p_inst
            r_hat = alpha + 1.0 / (1.0 + np.exp(-beta * (r - mu)))
        else:
            r_hat = np.full(c, 1.0 + alpha)  # the limit r -> infinity
        for j in range(c):
            if y[i, j] not in (0, 1):
                continue
            z = x[i, j] + init_bias * b_hat[j]
            if y[i, j] == 1:
                bce = np.log1p(np.exp(-z))
                term = bce
            else:
                bce = np.log1p(np.exp(neg_scale * z))
                term = bce / neg_scale
            focal = (1.0 - np.exp(-bce)) ** gamma
            out[i, j] = balance * focal * r_hat[j] * term
    return out


def resample_loss_reference(x, y, counts, n_train, *, alpha, beta, mu, neg_scale, init_bias, gamma, balance):
    """``ResampleLoss.forward`` (reweight_func="rebalance", focal on, logit_reg) step by step, float64.

    Transcribed from the repository's procedure: weights from ``freq_inv / repeat_rate``, logits
    shifted by ``init_bias`` and the negatives' logits and weights scaled by ``neg_scale``, then a
    focal BCE; returns the repository's ``loss.mean()``.
    """
    x, y, counts = np.asarray(x, np.float64), np.asarray(y, np.float64), np.asarray(counts, np.float64)
    freq_inv = 1.0 / counts
    with np.errstate(divide="ignore"):
        repeat_rate = (y * freq_inv).sum(axis=1, keepdims=True)
        pos_weight = freq_inv[None, :] / repeat_rate
    weight = 1.0 / (1.0 + np.exp(-beta * (pos_weight - mu))) + alpha
    logits = x + (-np.log(n_train / counts - 1.0) * init_bias)
    logits = logits * (1 - y) * neg_scale + logits * y
    weight = weight / neg_scale * (1 - y) + weight * y

    def bce(z, t):
        return np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))

    logpt = -bce(logits, y)
    pt = np.exp(logpt)
    loss = balance * (1 - pt) ** gamma * weight * bce(logits, y)
    return loss.mean()


def _data(seed: int, n: int = 12, c: int = 6):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, generator=g, dtype=torch.float64) * 3
    y = (torch.rand(n, c, generator=g) < 0.3).long()
    y[0] = 0  # a sample without positives
    counts = torch.randint(1, 60, (c,), generator=g)
    return x, y, counts, 100


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "options",
    [
        DEFAULTS,
        dict(DEFAULTS, gamma=0.0, balance=1.0),
        dict(alpha=0.3, beta=4.0, mu=0.5, neg_scale=5.0, init_bias=0.1, gamma=1.5, balance=1.0),
    ],
)
def test_matches_paper_formulas(seed, options):
    x, y, counts, n_train = _data(seed)
    expected = paper_reference(x.numpy(), y.numpy(), counts.numpy(), n_train, **options)
    none = distribution_balanced_loss(x, y, counts=counts, num_samples=n_train, reduction="none", **options)
    np.testing.assert_allclose(none.numpy(), expected.sum(1), rtol=1e-10, atol=1e-12)
    total = distribution_balanced_loss(x, y, counts=counts, num_samples=n_train, reduction="sum", **options)
    np.testing.assert_allclose(float(total), expected.sum(), rtol=1e-10)
    mean = distribution_balanced_loss(x, y, counts=counts, num_samples=n_train, **options)
    np.testing.assert_allclose(float(mean), expected.sum() / x.shape[0], rtol=1e-10)


@pytest.mark.parametrize("seed", [0, 3])
def test_matches_resample_loss_procedure(seed):
    x, y, counts, n_train = _data(seed)
    repo_mean = resample_loss_reference(x.numpy(), y.numpy(), counts.numpy(), n_train, **DEFAULTS)
    ours = distribution_balanced_loss(x, y, counts=counts, num_samples=n_train, **DEFAULTS)
    # imbalml's "mean" sums the per-label means: the repository's elementwise mean times C.
    np.testing.assert_allclose(float(ours), repo_mean * x.shape[1], rtol=1e-10)


def test_reduces_to_bce():
    x, y, counts, n_train = _data(4)
    y[y.sum(1) == 0, 0] = 1  # a sample without positives weighs 1 + alpha: give every sample one
    options = dict(alpha=0.5, beta=0.0, mu=0.0, neg_scale=1.0, init_bias=0.0, gamma=0.0, balance=1.0)
    ours = distribution_balanced_loss(x, y, counts=counts, num_samples=n_train, **options)
    bce = F.binary_cross_entropy_with_logits(x, y.double(), reduction="sum") / x.shape[0]
    torch.testing.assert_close(ours, bce)


def test_missing_labels_are_left_out():
    x, y, counts, n_train = _data(5)
    y_missing = y.clone()
    y_missing[1:4, 2] = -100
    ours = distribution_balanced_loss(x, y_missing, counts=counts, num_samples=n_train, reduction="none")
    expected = paper_reference(x.numpy(), y_missing.numpy(), counts.numpy(), n_train, **DEFAULTS)
    np.testing.assert_allclose(ours.numpy(), expected.sum(1), rtol=1e-10, atol=1e-12)
    mean = distribution_balanced_loss(x, y_missing, counts=counts, num_samples=n_train)
    labelled = (y_missing != -100).sum(0).numpy()
    np.testing.assert_allclose(float(mean), (expected.sum(0) / labelled).sum(), rtol=1e-10)


def test_module_matches_functional_and_gradients_are_finite():
    x, y, counts, n_train = _data(6)
    x32 = (x.float() * 1000).requires_grad_()  # extreme logits
    module = DistributionBalancedLoss(counts, n_train)
    value = module(x32, y)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(x32.grad).all()
    torch.testing.assert_close(
        value, distribution_balanced_loss(x32, y, counts=counts, num_samples=n_train)
    )
    fast = DistributionBalancedLoss(counts, n_train, validate_args=False)
    torch.testing.assert_close(fast(x32, y), value)
    assert "neg_scale=2.0" in repr(module)


@pytest.mark.parametrize(
    ("counts", "num_samples", "match"),
    [
        (torch.tensor([0, 5]), 10, r"`counts` entry in \(0, num_samples\) = \(0, 10\).*got 0 at index 0"),
        (torch.tensor([5, 10]), 10, r"got 10 at index 1"),
        (torch.tensor([[5, 1]]), 10, r"`counts` of shape \(C,\)"),
        (torch.tensor([5, 1]), 1, r"`num_samples` >= 2"),
    ],
)
def test_bad_statistics(counts, num_samples, match):
    with pytest.raises(ValueError, match=match):
        DistributionBalancedLoss(counts, num_samples)


def test_bad_arguments():
    x, y, counts, n_train = _data(7)
    with pytest.raises(ValueError, match=r"`counts` of shape \(C,\) = \(6,\)"):
        distribution_balanced_loss(x, y, counts=counts[:5], num_samples=n_train)
    with pytest.raises(ValueError, match=r"`neg_scale` in \(0, inf\)"):
        DistributionBalancedLoss(counts, n_train, neg_scale=0.0)
    with pytest.raises(ValueError, match=r"`target` values in \{0, 1\}"):
        distribution_balanced_loss(x, y * 2, counts=counts, num_samples=n_train)
    with pytest.raises(ValueError, match=r"`target` of shape \(N, C\) = \(12, 6\)"):
        distribution_balanced_loss(x, y[:, :5], counts=counts, num_samples=n_train)


def test_label_counts_carry_the_statistics():
    """A LabelCounts (the one object for class statistics) gives the loss of its positives and N."""
    x, y, _, _ = _data(7)
    x = x.float()
    # one all-positive and one all-negative pseudo-sample: every prior strictly inside (0, 1)
    counts = label_counts(torch.cat([y, torch.ones_like(y[:1]), torch.zeros_like(y[:1])]))
    expected = distribution_balanced_loss(
        x, y, counts=counts.positives, num_samples=counts.num_samples
    )
    torch.testing.assert_close(distribution_balanced_loss(x, y, counts=counts), expected)
    torch.testing.assert_close(
        distribution_balanced_loss(x, y, counts=counts, validate_args=False), expected
    )
    torch.testing.assert_close(DistributionBalancedLoss(counts)(x, y), expected)
    with pytest.raises(ValueError, match=r"`num_samples` None or \d+"):
        DistributionBalancedLoss(counts, counts.num_samples + 1)
    with pytest.raises(TypeError, match="num_samples"):
        distribution_balanced_loss(x, y, counts=counts.positives, validate_args=False)
