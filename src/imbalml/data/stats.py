"""Label statistics: per-attribute counts from hard targets, or positives per label."""

from __future__ import annotations

from typing import Any

import torch

from imbalml._layout_checks import check_hard_target, check_optional_groups
from imbalml._validation import check_multi_hot
from imbalml.groups import AttributeGroups

__all__ = ["label_counts"]


def label_counts(
    target: Any,
    groups: AttributeGroups | None = None,
    *,
    ignore_index: int = -100,
    validate_args: bool = True,
) -> torch.Tensor:
    """Count the samples carrying each attribute (grouped) or each label's positives (plain).

    Args:
        target: Grouped: hard targets ``(N, G)`` (``ignore_index`` is not counted). Plain
            multi-label (``groups=None``): multi-hot ``(N, C)`` with 0/1 entries (integer, bool
            or float) or ``ignore_index``; only the 1s are counted. A tensor, numpy array or list.
        groups: The label layout, or ``None`` for plain multi-label.
        ignore_index: Label value marking a missing attribute.
        validate_args: Check the label values.

    Returns:
        A long tensor ``(C,)``: grouped, ``counts[offsets[g] + k]`` is the number of samples with
        attribute ``k`` in group ``g``; plain, the number of positives of each label (divide by
        ``N`` for the frequencies, or pass ``num_samples=N`` to :func:`imbalml.class_weights`).

    Raises:
        TypeError: For a target of the wrong dtype (e.g. float hard labels with ``groups``).
        ValueError: For a target of the wrong shape or with out-of-range values.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, label_counts
        >>> label_counts(torch.tensor([[0, 1], [0, 0], [2, -100]]), AttributeGroups([3, 2]))
        tensor([2, 0, 1, 1, 1])
        >>> label_counts(torch.tensor([[1, 0, 1], [0, 0, 1], [1, -100, 0]]))  # positives per label
        tensor([2, 0, 2])
    """
    groups = check_optional_groups(groups)
    if groups is None:
        target = check_multi_hot(target, ignore_index=ignore_index, validate_args=validate_args)
        return (target == 1).sum(0)
    target = check_hard_target(target, groups, "target", ignore_index=ignore_index).long()
    return groups.to_one_hot(
        target, ignore_index=ignore_index, dtype=torch.long, validate_args=False
    ).sum(0)
