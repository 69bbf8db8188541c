"""Which attributes and which images are minority: the rows mixup may select."""

from __future__ import annotations

from typing import Any

import torch

from imbalml._layout_checks import (
    check_hard_target,
    check_optional_groups,
    check_soft_target,
)
from imbalml._validation import as_tensor, check_multi_hot, check_number, check_shape
from imbalml.data.stats import check_counts
from imbalml.groups import AttributeGroups

__all__ = ["minority_attributes", "minority_mask"]


def minority_attributes(counts: Any, *, count_threshold: float | None = None) -> torch.Tensor:
    """Mark the attributes (labels) whose training count is at most ``count_threshold``.

    A missing label is unknown, never a negative: each attribute's count is first brought to
    the whole set, ``positives * num_samples / labelled`` (the count it would have if every
    label were known, at its frequency among the labelled samples), and compared with the
    threshold. With complete labels this is the count itself.

    Args:
        counts: A :class:`~imbalml.LabelCounts` from :func:`imbalml.label_counts`, or
            per-attribute counts ``(C,)`` over complete labels (tensor, array or list); plain
            multi-label, the positives of each label.
        count_threshold: An attribute is minority when its count is ``<= count_threshold`` (a
            number of samples, not a frequency). Default: the mean count per attribute (the
            fashion report's choice: 5000 images x 6 groups / 26 attributes, about 1154).

    Returns:
        A bool tensor ``(C,)`` on the device of ``counts``.

    Raises:
        TypeError: If ``counts`` is not numeric or ``count_threshold`` not a real number.
        ValueError: If ``counts`` is not a non-empty 1-D array of finite non-negative values.

    Example:
        >>> import torch
        >>> from imbalml import label_counts
        >>> from imbalml.functional import minority_attributes
        >>> fashion = [768, 853, 334, 422, 109, 2408, 106, 1523, 862, 2615, 488, 951, 3561,
        ...            2086, 826, 19, 2069, 310, 702, 3399, 105, 48, 436, 749, 279, 3972]
        >>> int(minority_attributes(fashion).sum())  # threshold 30000 / 26 = 1153.8
        18
        >>> minority_attributes([5, 1, 3], count_threshold=3)
        tensor([False,  True,  True])
        >>> target = torch.tensor([[1, 0], [0, 1], [-100, 1], [-100, 1]])  # label 0: 1 of 2 known
        >>> minority_attributes(label_counts(target), count_threshold=1.5)
        tensor([False, False])
    """
    stats = check_counts(counts)
    known = stats.labelled > 0
    scaled = torch.where(
        known,
        stats.positives * stats.num_samples / torch.where(known, stats.labelled, 1.0),
        stats.positives,
    )
    limit = (
        scaled.mean()
        if count_threshold is None
        else check_number(count_threshold, "count_threshold")
    )
    return scaled <= limit


def _rows(tensor: torch.Tensor) -> int:
    return tensor.shape[0] if tensor.ndim else 0


def check_minority(minority: Any, num_attributes: int | None) -> torch.Tensor:
    """Check a bool ``(C,)`` minority mask (``C`` free when ``num_attributes`` is None)."""
    minority = as_tensor(minority, "minority")
    if minority.dtype != torch.bool:
        raise TypeError(f"Expected `minority` to be a bool tensor, but got {minority.dtype}.")
    if num_attributes is None:
        if minority.ndim != 1 or minority.numel() == 0:
            raise ValueError(
                f"Expected `minority` of shape (C,) with C >= 1, but got {tuple(minority.shape)}."
            )
    else:
        check_shape(minority, "minority", (num_attributes,), "(C,)")
    return minority


def minority_mask(
    target: Any,
    groups: AttributeGroups | None = None,
    *,
    minority: Any,
    ignore_index: int = -100,
    validate_args: bool = True,
) -> torch.Tensor:
    """Mark the images that carry at least one minority attribute (plain: a minority positive).

    Args:
        target: Grouped: hard targets ``(N, G)`` (integer indices, ``ignore_index`` for a missing
            label) or soft targets ``(N, C)`` (an attribute counts where its value is nonzero, so
            a mixed image is minority when either source was). Plain multi-label
            (``groups=None``): multi-hot or mixed ``(N, C)``; only *positives* count (entries
            ``> 0``, not ``ignore_index``), so a frequent label's negatives never make an image
            minority.
        groups: The label layout, or ``None`` for plain multi-label.
        minority: Bool ``(C,)`` from :func:`minority_attributes`; moved to ``target``'s device.
        ignore_index: Label value marking a missing attribute (hard targets).
        validate_args: Check label ranges and soft-target sums (these checks read values back to
            the host; set ``False`` on a GPU hot path).

    Returns:
        A bool tensor ``(N,)`` on ``target``'s device.

    Raises:
        TypeError: If ``minority`` is not bool or ``target`` has an unsupported dtype.
        ValueError: If a shape does not match ``groups`` or a label is out of range.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import minority_mask
        >>> groups = AttributeGroups([2, 3])
        >>> minority = torch.tensor([False, True, False, False, True])
        >>> minority_mask(torch.tensor([[0, 0], [1, 0], [0, 2], [0, -100]]), groups, minority=minority)
        tensor([False,  True,  True, False])
        >>> minority_mask(torch.tensor([[1, 0, 0], [0, 0, 1], [1, 1, 0]]), minority=torch.tensor([False, True, True]))
        tensor([False,  True,  True])
    """
    groups = check_optional_groups(groups)
    target = as_tensor(target, "target")
    if groups is None:
        minority = check_minority(minority, None)
        if validate_args:
            check_shape(target, "target", (_rows(target), minority.numel()), "(N, C)")
            if not target.is_floating_point():
                check_multi_hot(target, ignore_index=ignore_index)
        else:
            check_shape(target, "target", (_rows(target), minority.numel()), "(N, C)")
        present = (target > 0) & (target != ignore_index)
        return (present & minority.to(target.device, non_blocking=True)).any(dim=1)
    minority = check_minority(minority, groups.num_attributes)
    if target.is_floating_point():
        if validate_args:
            check_soft_target(target, groups, "target")
        else:
            check_shape(target, "target", (_rows(target), groups.num_attributes), "(N, C)")
        present = target != 0
    else:
        if validate_args:
            check_hard_target(target, groups, "target", ignore_index=ignore_index)
        else:
            check_shape(target, "target", (_rows(target), groups.num_groups), "(N, G)")
        present = groups.to_one_hot(
            target, ignore_index=ignore_index, dtype=torch.bool, validate_args=False
        )
    return (present & minority.to(target.device, non_blocking=True)).any(dim=1)
