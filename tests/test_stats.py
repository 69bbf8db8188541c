"""Tests for imbalml.label_counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _helpers.strategies import FAST, GroupedProblem, grouped_problems
from hypothesis import given

from imbalml import AttributeGroups, LabelCounts, label_counts
from imbalml.data import label_counts as data_label_counts


@given(problem=grouped_problems(min_samples=0, max_samples=20))
@FAST
def test_matches_numpy_bincount_per_group(problem: GroupedProblem) -> None:
    groups, target = problem.groups, problem.target
    ignore = -100 if problem.ignore_index is None else problem.ignore_index
    expected = np.concatenate(
        [
            np.bincount(target[target[:, g] != ignore, g], minlength=k)
            for g, k in enumerate(groups.sizes)
        ]
    )
    labelled = np.concatenate(
        [np.full(k, (target[:, g] != ignore).sum()) for g, k in enumerate(groups.sizes)]
    )
    for value in (torch.from_numpy(target), target, target.astype(np.int32)):
        stats = label_counts(value, groups, ignore_index=ignore)
        counts = stats.positives
        assert counts.dtype == torch.long and counts.shape == (groups.num_attributes,)
        np.testing.assert_array_equal(counts.numpy(), expected)
        np.testing.assert_array_equal(stats.labelled.numpy(), labelled)
        assert stats.num_samples == target.shape[0] and stats.groups == groups
    # every labelled group entry is counted exactly once
    assert int(counts.sum()) == int((target != ignore).sum())


def test_ignored_label_next_to_labelled_group() -> None:
    # Regression: a missing label in group 1 erased group 0's count in the same row.
    groups = AttributeGroups([2, 3])
    counts = label_counts(torch.tensor([[0, -100], [0, -100], [1, 2]]), groups)
    assert counts.positives.tolist() == [2, 1, 0, 0, 1]
    assert counts.labelled.tolist() == [3, 3, 1, 1, 1]


def test_docstring_example_and_public_paths() -> None:
    assert data_label_counts is label_counts
    groups = AttributeGroups([3, 2])
    assert label_counts(torch.tensor([[0, 1], [0, 0], [2, -100]]), groups).positives.tolist() == [
        2,
        0,
        1,
        1,
        1,
    ]


def test_empty_and_all_missing() -> None:
    groups = AttributeGroups([3, 2])
    assert label_counts(torch.zeros(0, 2, dtype=torch.long), groups).positives.tolist() == [0] * 5
    missing = label_counts(torch.full((4, 2), -1), groups, ignore_index=-1)
    assert missing.positives.tolist() == [0] * 5 and missing.labelled.tolist() == [0] * 5
    assert missing.num_samples == 4


def test_errors() -> None:
    groups = AttributeGroups([3, 2], names=["colour", "size"])
    with pytest.raises(
        ValueError,
        match=r"Expected `target\[:, 1\]` \(group 'size', 2 attributes\) in \[0, 1\] or ignore_index=-100, "
        r"but got 2 at row 1\.",
    ):
        label_counts(torch.tensor([[0, 1], [0, 2]]), groups)
    with pytest.raises(
        ValueError,
        match=r"Expected `target` of shape \(N, G\) = \(2, 2\) for 2 attribute groups, but got \(2, 5\)\.",
    ):
        label_counts(torch.zeros(2, 5, dtype=torch.long), groups)
    with pytest.raises(
        TypeError,
        match=r"but got torch.float32 of shape \(2, 2\): hard labels must have an integer dtype",
    ):
        label_counts(torch.zeros(2, 2), groups)
    with pytest.raises(
        TypeError, match=r"Expected `groups` to be an imbalml.AttributeGroups, but got list\."
    ):
        label_counts(torch.zeros(2, 2, dtype=torch.long), [3, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("dtype", "ignore"), [(torch.int64, -100), (torch.int32, -1), (torch.uint8, 255)]
)
def test_plain_counts_keep_missing_labels_apart(dtype: torch.dtype, ignore: int) -> None:
    """The issue's example: label 0 of [[1,0],[0,1],[-,1],[-,0]] is known twice, positive once."""
    target = torch.tensor([[1, 0], [0, 1], [ignore, 1], [ignore, 0]]).to(dtype)
    counts = label_counts(target, ignore_index=ignore)
    assert isinstance(counts, LabelCounts) and counts.groups is None
    assert counts.positives.tolist() == [1, 2]
    assert counts.labelled.tolist() == [2, 4]
    assert counts.num_samples == 4 and counts.num_labels == 2
    assert counts.frequencies().tolist() == [0.5, 0.5]


def test_label_counts_is_frozen() -> None:
    counts = label_counts(torch.tensor([[1, 0]]))
    with pytest.raises(AttributeError):
        counts.num_samples = 3  # type: ignore[misc]
