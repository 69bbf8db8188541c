"""Tests for imbalml.data.stratified_split."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch

from imbalml import AttributeGroups, label_counts
from imbalml.data import StratifiedSplit, stratified_split

FASHION = AttributeGroups([7, 3, 3, 4, 6, 3])
FASHION_COUNTS = [768, 853, 334, 422, 109, 2408, 106, 1523, 862, 2615, 488, 951, 3561,
                  2086, 826, 19, 2069, 310, 702, 3399, 105, 48, 436, 749, 279, 3972]  # fmt: skip


def fashion_target(n: int, seed: int = 0) -> torch.Tensor:
    """Hard labels drawn with the fashion training proportions (rare attributes included)."""
    rng = np.random.default_rng(seed)
    counts = np.array(FASHION_COUNTS, dtype=float)
    cols = [
        rng.choice(k, size=n, p=counts[s] / counts[s].sum())
        for k, s in zip(FASHION.sizes, FASHION.slices)
    ]
    return torch.from_numpy(np.stack(cols, 1))


@pytest.mark.parametrize(("test_size", "n_test"), [(0.2, 120), (0.25, 150), (0.1234, 75), (37, 37)])
def test_sizes_disjoint_complete_and_counts(test_size, n_test: int) -> None:
    target = fashion_target(600)
    split = stratified_split(target, FASHION, test_size=test_size, seed=0)
    assert isinstance(split, StratifiedSplit)
    assert len(split.test) == n_test and len(split.train) == 600 - n_test
    assert split.train.dtype == torch.long and split.test.dtype == torch.long
    assert torch.equal(split.train, split.train.sort().values)
    assert torch.equal(torch.cat([split.train, split.test]).sort().values, torch.arange(600))
    assert torch.equal(split.train_counts, label_counts(target[split.train], FASHION).positives)
    assert torch.equal(split.test_counts, label_counts(target[split.test], FASHION).positives)
    assert torch.equal(
        split.train_counts + split.test_counts, label_counts(target, FASHION).positives
    )


def test_every_attribute_keeps_its_share() -> None:
    target = fashion_target(1000, seed=1)
    total = label_counts(target, FASHION).positives.double()
    split = stratified_split(target, FASHION, test_size=0.2, seed=0)
    deviation = (split.test_counts.double() - 0.2 * total).abs()
    # Iterative stratification: each attribute within 2 images of its share, rare ones included.
    assert float(deviation.max()) <= 2.0
    assert bool((split.test_counts[total > 0] > 0).all()) or bool((total < 5).any())
    # A random split of the same size does markedly worse on average.
    rng = np.random.default_rng(0)
    random_dev = []
    for _ in range(20):
        test = torch.from_numpy(rng.permutation(1000)[:200])
        random_dev.append(
            (label_counts(target[test], FASHION).positives.double() - 0.2 * total).abs().mean()
        )
    assert float(deviation.mean()) < 0.5 * float(np.mean(random_dev))


def test_deterministic_per_seed_and_missing_labels() -> None:
    target = fashion_target(300, seed=2)
    target[::7, 3] = -100
    a = stratified_split(target, FASHION, test_size=0.3, seed=4)
    b = stratified_split(target.numpy(), FASHION, test_size=0.3, seed=4)
    c = stratified_split(target, FASHION, test_size=0.3, seed=5)
    assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test)
    assert not torch.equal(a.test, c.test)
    assert torch.equal(a.train_counts + a.test_counts, label_counts(target, FASHION).positives)
    assert int(a.train_counts.sum() + a.test_counts.sum()) == 300 * 6 - math.ceil(300 / 7)


def test_missing_package_names_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "iterstrat.ml_stratifiers", None)
    with pytest.raises(ImportError, match=r"`pip install iterative-stratification`"):
        stratified_split(fashion_target(20), FASHION, test_size=0.2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"test_size": 0.0}, ValueError, r"Expected `test_size` in \(0, 1\), but got 0"),
        ({"test_size": 1.0}, ValueError, r"Expected `test_size` in \(0, 1\), but got 1"),
        ({"test_size": 20}, ValueError, r"Expected an integer `test_size` in \[1, 19\] for 20 samples, but got 20"),
        ({"test_size": 0}, ValueError, r"Expected an integer `test_size` in \[1, 19\] for 20 samples, but got 0"),
        ({"test_size": 0.999}, ValueError, r"Expected `test_size` to leave at least one sample in each part of 20, but test_size=0.999 gives 20 test samples"),
        ({"test_size": "0.2"}, TypeError, r"Expected `test_size` to be a real number, but got str"),
        ({"test_size": 0.2, "seed": -3}, ValueError, r"Expected `seed` >= 0, but got -3"),
        ({"test_size": 0.5, "target": torch.zeros(1, 6, dtype=torch.long)}, ValueError, r"Expected `target` with at least 2 samples to split, but got 1"),
        ({"test_size": 0.5, "target": torch.zeros(4, 5, dtype=torch.long)}, ValueError, r"Expected `target` of shape \(N, G\) = \(4, 6\) for 6 attribute groups, but got \(4, 5\)"),
    ],
)  # fmt: skip
def test_errors(kwargs, error, match) -> None:
    args = {"target": fashion_target(20)}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        stratified_split(args.pop("target"), FASHION, **args)


def test_exact_size_where_iterative_stratification_misses_it() -> None:
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    target = fashion_target(600, seed=3)
    one_hot = FASHION.to_one_hot(target).numpy()
    total = one_hot.sum(0)
    _, raw_test = next(
        MultilabelStratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=1).split(
            np.zeros((600, 1)), one_hot
        )
    )
    assert len(raw_test) != 120  # the package alone misses the requested size here
    raw_dev = np.abs(one_hot[raw_test].sum(0) - 0.2 * total).max()
    split = stratified_split(target, FASHION, test_size=0.2, seed=1)
    assert len(split.test) == 120
    assert float((split.test_counts.numpy() - 0.2 * total).__abs__().max()) <= raw_dev


@pytest.mark.parametrize("seed", range(8))
def test_plain_missing_labels_are_unknown_not_negatives(seed: int) -> None:
    """Label 0: 10 positives, 10 known negatives, 20 unknown; a 20% test part gets 2 and 2.

    Counting the unknown entries as negatives leaves the known negatives to chance (1 to 3).
    """
    target = torch.tensor([[1, 1]] * 10 + [[0, 1]] * 10 + [[-100, 1]] * 20)
    split = stratified_split(target, test_size=0.2, seed=seed)
    assert len(split.test) == 8
    assert int((target[split.test, 0] == 1).sum()) == 2
    assert int((target[split.test, 0] == 0).sum()) == 2
    assert split.test_counts.tolist() == [2, 8]
