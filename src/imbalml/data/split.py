"""Train/test splits that keep every attribute's share: iterative stratification on one-hot labels."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from imbalml._layout_checks import check_hard_target, check_optional_groups
from imbalml._validation import check_int, check_multi_hot, check_number
from imbalml.groups import AttributeGroups

__all__ = ["StratifiedSplit", "stratified_split"]

_INSTALL = (
    "stratified_split needs the optional package `iterative-stratification`; install it with "
    "`pip install iterative-stratification` (or `pip install imbalml[examples]`)."
)


@dataclass(frozen=True)
class StratifiedSplit:
    """The result of :func:`~imbalml.stratified_split`.

    Attributes:
        train: Sorted long tensor of the training indices.
        test: Sorted long tensor of the test indices.
        train_counts: Per-attribute counts ``(C,)`` in the training part.
        test_counts: Per-attribute counts ``(C,)`` in the test part.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.data import stratified_split
        >>> target = torch.tensor([[0, 0], [1, 1], [0, 1], [1, 0]] * 5)
        >>> split = stratified_split(target, AttributeGroups([2, 2]), test_size=0.25, seed=0)
        >>> len(split.train), len(split.test), int(split.test_counts.sum())
        (15, 5, 10)
    """

    train: torch.Tensor
    test: torch.Tensor
    train_counts: torch.Tensor
    test_counts: torch.Tensor


def stratified_split(
    target: Any,
    groups: AttributeGroups | None = None,
    *,
    test_size: float | int,
    seed: int = 0,
    ignore_index: int = -100,
) -> StratifiedSplit:
    """Split a dataset so that each attribute keeps its share in both parts.

    Runs the iterative stratification of Sechidis et al. (2011) through
    ``iterstrat.ml_stratifiers.MultilabelStratifiedShuffleSplit`` on the concatenated one-hot
    targets ``(N, C)`` (grouped multiclass labels are multi-label data with one positive per
    group; a missing label is an all-zero segment). Plain multi-label targets (``groups=None``)
    are stratified the same way, each label a two-class group: one column for its positives and
    one for its *known* negatives, so a missing label (``ignore_index``) is an all-zero pair,
    unknown, never a negative. Rare attributes, which a random split may leave out of one part
    entirely, are spread in proportion.

    Args:
        target: Hard targets ``(N, G)``, or multi-hot ``(N, C)`` with ``groups=None`` (tensor,
            array or list).
        groups: The label layout, or ``None`` for plain multi-label.
        test_size: Fraction of the samples in the test part, in (0, 1), or their number in
            [1, N - 1].
        seed: Seed of the split (the algorithm breaks ties at random).
        ignore_index: Label value marking a missing attribute.

    Returns:
        A :class:`StratifiedSplit` with sorted ``train`` and ``test`` indices and the
        per-attribute counts (positives) of both parts. The test part has exactly ``test_size`` samples
        (``ceil(test_size * N)`` for a fraction, as in scikit-learn): where the algorithm misses
        that size by a few samples, the samples whose attributes are most in excess in the larger
        part are moved.

    Raises:
        ImportError: If ``iterative-stratification`` is not installed (the message names the
            ``pip install`` command).
        ValueError: If ``target`` does not match ``groups`` or ``test_size`` is out of range.
        TypeError: If ``test_size`` or ``seed`` has the wrong type.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.data import stratified_split
        >>> groups = AttributeGroups([2, 3])
        >>> target = torch.tensor([[0, 0], [0, 1], [1, 2], [0, 0], [1, 1], [0, 2]] * 5)
        >>> split = stratified_split(target, groups, test_size=0.2, seed=0)
        >>> len(split.train), len(split.test)
        (24, 6)
        >>> split.test_counts
        tensor([4, 2, 2, 2, 2])
        >>> plain = stratified_split(torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]] * 5), test_size=0.2)
        >>> plain.test_counts  # positives per label in the test part
        tensor([2, 2])
    """
    try:
        from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit
    except ImportError as error:  # pragma: no cover - exercised with a patched import
        raise ImportError(_INSTALL) from error
    groups = check_optional_groups(groups)
    if groups is None:
        target = check_multi_hot(target, ignore_index=ignore_index).cpu()
    else:
        target = check_hard_target(target, groups, "target", ignore_index=ignore_index).cpu()
    n = target.shape[0]
    if n < 2:
        raise ValueError(f"Expected `target` with at least 2 samples to split, but got {n}.")
    if isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        test_size = int(test_size)
        if not 1 <= test_size <= n - 1:
            raise ValueError(
                f"Expected an integer `test_size` in [1, {n - 1}] for {n} samples, "
                f"but got {test_size}."
            )
    else:
        test_size = check_number(
            test_size, "test_size", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False
        )
        n_test = math.ceil(test_size * n)  # as scikit-learn rounds a fractional test size
        if not 1 <= n_test <= n - 1:
            raise ValueError(
                f"Expected `test_size` to leave at least one sample in each part of {n}, "
                f"but test_size={test_size:g} gives {n_test} test samples."
            )
    seed = check_int(seed, "seed", low=0)
    if groups is None:
        known = target != ignore_index
        one_hot = ((target == 1) & known).long()
        stratify_on = torch.cat([one_hot, ((target == 0) & known).long()], 1)
    else:
        one_hot = groups.to_one_hot(
            target, ignore_index=ignore_index, dtype=torch.long, validate_args=False
        )
        stratify_on = one_hot
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    labels = stratify_on.numpy()
    train, test = next(splitter.split(np.zeros((n, 1)), labels))
    n_test = test_size if isinstance(test_size, int) else math.ceil(test_size * n)
    in_test = np.zeros(n, dtype=bool)
    in_test[test] = True
    _match_size(in_test, labels, n_test)
    train_t = torch.as_tensor(np.flatnonzero(~in_test), dtype=torch.long)
    test_t = torch.as_tensor(np.flatnonzero(in_test), dtype=torch.long)
    return StratifiedSplit(
        train=train_t,
        test=test_t,
        train_counts=one_hot[train_t].sum(0),
        test_counts=one_hot[test_t].sum(0),
    )


def _match_size(in_test: np.ndarray, labels: np.ndarray, n_test: int) -> None:
    """Move samples between the parts (in place) until the test part has ``n_test`` of them.

    Iterative stratification favours label balance over the requested size and can miss it by a
    few samples. Each move takes, from the larger part, the sample whose attributes that part has
    most in excess of its share (ties: lowest index), so balance suffers as little as possible.
    """
    share = labels.sum(0) * (n_test / len(labels))
    while (size := int(in_test.sum())) != n_test:
        source = in_test if size > n_test else ~in_test
        counts = labels[in_test].sum(0)
        excess = (counts - share) if size > n_test else (share - counts)
        candidates = np.flatnonzero(source)
        best = candidates[np.argmax(labels[candidates] @ excess)]
        in_test[best] = not in_test[best]
