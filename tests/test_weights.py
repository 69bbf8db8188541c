"""Class weights and priors against scikit-learn and float64 formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils.class_weight import compute_class_weight

from imbalml import AttributeGroups, class_priors, class_weights, label_counts

FASHION = AttributeGroups(
    [7, 3, 3, 4, 6, 3], names=["pattern", "sleeve", "length", "neckline", "fabric", "fit"]
)
# Training-set counts of the fashion recipe (RECIPE.md).
FASHION_COUNTS = torch.tensor(
    [768, 853, 334, 422, 109, 2408, 106, 1523, 862, 2615, 488, 951, 3561, 2086, 826, 19, 2069]
    + [310, 702, 3399, 105, 48, 436, 749, 279, 3972]
)

counts_strategy = st.lists(st.integers(1, 5000), min_size=9, max_size=9)
GROUPS = AttributeGroups([3, 2, 4])


def _expanded_labels(counts: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(counts)), counts)


def test_balanced_equals_sklearn_within_each_group():
    weights = class_weights(FASHION_COUNTS, FASHION)
    for s in FASHION.slices:
        counts = FASHION_COUNTS[s].numpy()
        labels = _expanded_labels(counts)
        expected = compute_class_weight("balanced", classes=np.arange(len(counts)), y=labels)
        np.testing.assert_allclose(weights[s].numpy(), expected, rtol=1e-6)
    assert weights.dtype == torch.float32 and weights.shape == (26,)


@settings(max_examples=30, deadline=None)
@given(counts=counts_strategy)
def test_balanced_equals_sklearn_in_one_group(counts):
    counts = np.array(counts)
    expected = compute_class_weight(
        "balanced", classes=np.arange(len(counts)), y=_expanded_labels(counts)
    )
    one_group = AttributeGroups([len(counts)])
    np.testing.assert_allclose(class_weights(counts, one_group).numpy(), expected, rtol=1e-6)
    # The average weight per labelled sample is 1 in every group.
    weights = class_weights(counts, GROUPS).double().numpy()
    for s in GROUPS.slices:
        assert (counts[s] * weights[s]).sum() == pytest.approx(counts[s].sum(), rel=1e-6)


@pytest.mark.parametrize("beta", [0.0, 0.9, 0.999, 0.9999])
def test_effective_number_matches_cui_formula(beta):
    weights = class_weights(FASHION_COUNTS, FASHION, strategy="effective_number", beta=beta)
    n = FASHION_COUNTS.double().numpy()
    raw = (1 - beta) / (1 - np.power(beta, n))
    for s in FASHION.slices:
        expected = raw[s] / raw[s].sum() * len(raw[s])
        np.testing.assert_allclose(weights[s].numpy(), expected, rtol=1e-6)
        assert float(weights[s].sum()) == pytest.approx(len(raw[s]), rel=1e-6)
    if beta == 0.0:
        torch.testing.assert_close(weights, torch.ones(26))


def test_effective_number_tends_to_inverse_frequency():
    counts = torch.tensor([10, 100, 1000])
    weights = class_weights(
        counts, AttributeGroups([3]), strategy="effective_number", beta=1 - 1e-9
    )
    inverse = 1 / counts.double()
    torch.testing.assert_close(weights.double(), inverse / inverse.sum() * 3, rtol=1e-5, atol=0)


def test_inverse_sqrt():
    weights = class_weights(FASHION_COUNTS, FASHION, strategy="inverse_sqrt").double()
    raw = FASHION_COUNTS.double().rsqrt()
    for s in FASHION.slices:
        torch.testing.assert_close(weights[s], raw[s] / raw[s].mean(), rtol=1e-6, atol=0)


def test_weights_from_label_counts_and_numpy():
    target = torch.tensor([[0, 1, 3], [0, 0, 3], [2, -100, 1], [1, 1, 0], [0, 1, 2]])
    counts = label_counts(target, GROUPS)
    weights = class_weights(counts.positives.numpy(), GROUPS)
    torch.testing.assert_close(weights[:3], torch.tensor([5 / 9, 5 / 3, 5 / 3]))
    torch.testing.assert_close(weights[3:5], torch.tensor([2.0, 2 / 3]))
    torch.testing.assert_close(class_weights(counts), weights)  # the object carries its groups
    torch.testing.assert_close(class_weights(counts, GROUPS), weights)
    torch.testing.assert_close(class_priors(counts), class_priors(counts.positives, GROUPS))


def test_priors_normalise_within_groups():
    priors = class_priors(FASHION_COUNTS, FASHION)
    for s in FASHION.slices:
        assert float(priors[s].sum()) == pytest.approx(1.0, abs=1e-6)
        torch.testing.assert_close(priors[s], FASHION_COUNTS[s] / FASHION_COUNTS[s].sum())
    smoothed = class_priors(torch.tensor([3, 0, 1, 1, 0]), AttributeGroups([2, 3]), smoothing=1.0)
    torch.testing.assert_close(smoothed, torch.tensor([0.8, 0.2, 0.4, 0.4, 0.2]))
    torch.testing.assert_close(
        class_priors([1, 3], AttributeGroups([2])), torch.tensor([0.25, 0.75])
    )


def test_zero_count_errors_name_the_attribute():
    counts = FASHION_COUNTS.clone()
    counts[15] = 0
    with pytest.raises(ValueError, match=r"Expected every count > 0 for strategy='balanced', but attribute 'neckline/2' \(index 15, group 'neckline'\) has count 0"):  # fmt: skip
        class_weights(counts, FASHION)
    with pytest.raises(ValueError, match=r"strategy='effective_number', but label 1 has count 0"):
        class_weights(
            label_counts(torch.tensor([[1, 0, 1], [0, 0, 1], [1, 0, 0]])),
            strategy="effective_number",
        )


def test_argument_errors():
    with pytest.raises(ValueError, match=r"Expected `counts` >= 0, but got -1 for label 2\."):
        class_weights([1, 2, -1])
    with pytest.raises(ValueError, match=r"Expected `counts` of shape \(C,\) = \(9,\), but got \(8,\)\."):  # fmt: skip
        class_weights(torch.ones(8), GROUPS)
    with pytest.raises(ValueError, match=r"Expected `counts` of shape \(C,\) with C >= 1 \(at least one attribute\), but got \(2, 2\)\."):  # fmt: skip
        class_weights(torch.ones(2, 2))
    with pytest.raises(ValueError, match=r"Expected `strategy` to be one of \('balanced', 'inverse_sqrt', 'effective_number'\), but got 'inverse'\."):  # fmt: skip
        class_weights([1, 2], strategy="inverse")
    with pytest.raises(ValueError, match=r"Expected `beta` in \[0, 1\), but got 1\."):
        class_weights([1, 2], strategy="effective_number", beta=1.0)
    with pytest.raises(ValueError, match=r"Expected `counts` to be finite, but got inf"):
        class_weights([1.0, float("inf")])
    with pytest.raises(TypeError, match=r"Expected `counts` to be a torch\.Tensor, numpy\.ndarray or list, but got str\."):  # fmt: skip
        class_weights("123")
    with pytest.raises(ValueError, match=r"Expected a positive total count in every group, but group 'group1' has none; pass `smoothing` > 0"):  # fmt: skip
        class_priors(torch.tensor([1, 2, 3, 0, 0, 1, 1, 1, 1]), GROUPS)
    with pytest.raises(ValueError, match=r"Expected `smoothing` in \[0, inf\), but got -1\."):
        class_priors([1, 2], smoothing=-1.0)


def test_strategies_are_public_and_each_one_is_accepted() -> None:
    import imbalml.weights

    assert "STRATEGIES" in imbalml.weights.__all__
    assert imbalml.weights.STRATEGIES == ("balanced", "inverse_sqrt", "effective_number")
    counts = torch.tensor([30.0, 10.0, 5.0, 5.0, 2.0])
    groups = AttributeGroups([2, 3])
    for strategy in imbalml.weights.STRATEGIES:
        weights = class_weights(counts, groups, strategy=strategy)
        assert weights.shape == (5,) and bool((weights > 0).all()), strategy


# ---------------------------------------------------------------------------------- missing labels


def plain_partial_target(seed: int = 0, n: int = 80, c: int = 4) -> torch.Tensor:
    """Multi-hot labels with about a third of the entries missing (-100)."""
    g = torch.Generator().manual_seed(seed)
    target = (torch.rand(n, c, generator=g) < torch.tensor([0.5, 0.3, 0.15, 0.6])).long()
    target[torch.rand(n, c, generator=g) < 0.35] = -100
    return target


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plain_balanced_equals_sklearn_on_the_labelled_entries(seed: int) -> None:
    """pos_weight = w_pos / w_neg of compute_class_weight("balanced") over each label's known entries."""
    target = plain_partial_target(seed)
    weights = class_weights(label_counts(target))
    for c in range(target.shape[1]):
        known = target[:, c][target[:, c] != -100].numpy()
        w = compute_class_weight("balanced", classes=np.array([0, 1]), y=known)
        assert float(weights[c]) == pytest.approx(w[1] / w[0], rel=1e-6)


def test_issue_example_priors_ignore_missing_labels() -> None:
    """Label 0 of [[1,0],[0,1],[-100,1],[-100,0]]: 2 labelled, 1 positive: prior 0.5, not 0.25."""
    counts = label_counts(torch.tensor([[1, 0], [0, 1], [-100, 1], [-100, 0]]))
    priors = class_priors(counts)
    assert priors.dtype == torch.float32
    torch.testing.assert_close(priors, torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(class_weights(counts), torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(class_priors(counts, smoothing=1.0), torch.tensor([2 / 4, 3 / 6]))


def test_grouped_priors_and_weights_from_partially_labelled_targets() -> None:
    """A missing group label is unknown: each group's frequencies are over its labelled rows."""
    groups = AttributeGroups([2, 2])
    target = torch.tensor([[0, 0], [0, 1], [1, -100], [1, -100], [0, -100]])
    counts = label_counts(target, groups)
    torch.testing.assert_close(class_priors(counts), torch.tensor([0.6, 0.4, 0.5, 0.5]))
    w = compute_class_weight("balanced", classes=np.array([0, 1]), y=np.array([0, 1]))
    torch.testing.assert_close(class_weights(counts)[2:], torch.tensor(w, dtype=torch.float32))


def test_integer_counts_give_float_priors() -> None:
    priors = class_priors(torch.tensor([3, 1]), AttributeGroups([2]))
    assert priors.dtype == torch.float32
    torch.testing.assert_close(priors, torch.tensor([0.75, 0.25]))
    torch.testing.assert_close(
        class_priors(np.array([3, 1], dtype=np.uint8), AttributeGroups([2])), priors
    )
