"""Label statistics: per-attribute counts from hard targets."""

from __future__ import annotations

from typing import Any

import torch

from imbalml._validation import check_groups, check_hard_target
from imbalml.groups import AttributeGroups

__all__ = ["label_counts"]


def label_counts(target: Any, groups: AttributeGroups, *, ignore_index: int = -100) -> torch.Tensor:
    """Count the samples carrying each attribute.

    Args:
        target: Hard targets ``(N, G)`` (tensor or numpy array); ``ignore_index`` is not counted.
        groups: The label layout.
        ignore_index: Label value marking a missing attribute.

    Returns:
        A long tensor ``(C,)``: ``counts[offsets[g] + k]`` is the number of samples with attribute
        ``k`` in group ``g``.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, label_counts
        >>> label_counts(torch.tensor([[0, 1], [0, 0], [2, -100]]), AttributeGroups([3, 2]))
        tensor([2, 0, 1, 1, 1])
    """
    check_groups(groups)
    target = check_hard_target(target, groups, "target", ignore_index=ignore_index).long()
    return groups.to_one_hot(target, ignore_index=ignore_index, dtype=torch.long, validate=False).sum(0)
