"""Label statistics: :class:`LabelCounts`, the one object every class-statistics consumer takes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from imbalml._layout_checks import (
    check_groups,
    check_hard_target,
    check_optional_groups,
    describe_attribute,
)
from imbalml._validation import (
    as_tensor,
    check_finite,
    check_multi_hot,
    check_shape,
    first_true,
)
from imbalml.groups import AttributeGroups

__all__ = ["LabelCounts", "label_counts"]


@dataclass(frozen=True, eq=False)  # tensors have no single truth value: compare fields
class LabelCounts:
    """Per-attribute (per-label) counts of a target, missing labels kept apart.

    What :func:`label_counts` returns and what :func:`imbalml.class_weights`,
    :func:`imbalml.class_priors`, :func:`imbalml.minority_attributes` and the mixup classes'
    ``counts=`` take. A missing label (``ignore_index``) is *unknown*: it is neither a positive
    nor a negative, so every frequency is ``positives / labelled``, never ``positives /
    num_samples``.

    Attributes:
        positives: Long ``(C,)``. Grouped: the samples carrying each attribute. Plain: the
            positives of each label.
        labelled: Long ``(C,)``: the samples whose label is known. Grouped: for attribute ``c``,
            the samples labelled in ``c``'s group (the same for every attribute of a group).
            Plain: the samples whose entry for label ``c`` is not ``ignore_index``; its labelled
            negatives are ``labelled - positives``.
        num_samples: The number ``N`` of samples counted, labelled or not.
        groups: The label layout, or ``None`` for plain multi-label.

    Example:
        >>> import torch
        >>> from imbalml import label_counts
        >>> counts = label_counts(torch.tensor([[1, 0], [0, 1], [-100, 1], [-100, 0]]))
        >>> counts.positives, counts.labelled, counts.num_samples
        (tensor([1, 2]), tensor([2, 4]), 4)
        >>> counts.frequencies()  # label 0: one positive of two known labels
        tensor([0.5000, 0.5000], dtype=torch.float64)
    """

    positives: torch.Tensor
    labelled: torch.Tensor
    num_samples: int
    groups: AttributeGroups | None = None

    @property
    def num_labels(self) -> int:
        """``C``, the number of attributes (plain: labels)."""
        return int(self.positives.numel())

    def frequencies(self) -> torch.Tensor:
        """``positives / labelled`` as float64 ``(C,)``; NaN where no label is known."""
        return self.positives.double() / self.labelled.double()


def label_counts(
    target: Any,
    groups: AttributeGroups | None = None,
    *,
    ignore_index: int = -100,
    validate_args: bool = True,
) -> LabelCounts:
    """Count, per attribute (plain: per label), the positives and the samples whose label is known.

    Args:
        target: Grouped: hard targets ``(N, G)`` (``ignore_index`` marks a missing label). Plain
            multi-label (``groups=None``): multi-hot ``(N, C)`` with 0/1 entries (integer, bool
            or float) or ``ignore_index``. A tensor, numpy array or list.
        groups: The label layout, or ``None`` for plain multi-label.
        ignore_index: Label value marking a missing label (unknown: neither positive nor
            negative).
        validate_args: Check the label values.

    Returns:
        A :class:`LabelCounts` (``positives``, ``labelled``, ``num_samples``, ``groups``) on the
        device of ``target``.

    Raises:
        TypeError: For a target of the wrong dtype (e.g. float hard labels with ``groups``).
        ValueError: For a target of the wrong shape or with out-of-range values.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, label_counts
        >>> counts = label_counts(torch.tensor([[0, 1], [0, 0], [2, -100]]), AttributeGroups([3, 2]))
        >>> counts.positives, counts.labelled
        (tensor([2, 0, 1, 1, 1]), tensor([3, 3, 3, 2, 2]))
        >>> label_counts(torch.tensor([[1, 0, 1], [0, 0, 1], [1, -100, 0]])).positives
        tensor([2, 0, 2])
    """
    groups = check_optional_groups(groups)
    if groups is None:
        target = check_multi_hot(target, ignore_index=ignore_index, validate_args=validate_args)
        known = target != ignore_index
        positives = ((target == 1) & known).sum(0)
        return LabelCounts(positives, known.sum(0), int(target.shape[0]), None)
    target = check_hard_target(target, groups, "target", ignore_index=ignore_index).long()
    positives = groups.to_one_hot(
        target, ignore_index=ignore_index, dtype=torch.long, validate_args=False
    ).sum(0)
    known = (target != ignore_index).sum(0)  # (G,)
    labelled = known[torch.tensor(groups.attribute_group, device=known.device)]
    return LabelCounts(positives, labelled, int(target.shape[0]), groups)


def check_counts(
    counts: Any,
    groups: AttributeGroups | None = None,
    name: str = "counts",
    *,
    plain_tensor: bool = True,
) -> LabelCounts:
    """Check class statistics: a :class:`~imbalml.LabelCounts`, or per-attribute counts ``(C,)``.

    The one check behind :func:`imbalml.class_weights`, :func:`imbalml.class_priors`,
    :func:`imbalml.minority_attributes` and the mixup classes; it returns a
    :class:`~imbalml.LabelCounts` with float64 ``positives`` and ``labelled`` on the device of
    ``counts``.

    * A :class:`~imbalml.LabelCounts` (from :func:`imbalml.label_counts`) is checked against
      ``groups`` (``None`` takes the object's own layout).
    * A plain array of counts ``(C,)`` (real, finite, ``>= 0``) with ``groups``: each group's
      labelled samples are the sum of its counts (a hard target has one attribute per labelled
      sample), ``num_samples`` the largest of these sums.
    * A plain array without ``groups``: only with ``plain_tensor=True`` (the minority rule, which
      needs counts only), read as counts over complete labels; otherwise a ``TypeError`` names
      :func:`imbalml.label_counts` (a label's known negatives are not in its positives).
    """
    if isinstance(counts, LabelCounts):
        if groups is not None and check_groups(groups) != counts.groups:
            raise ValueError(
                f"Expected `{name}` counted with the same layout as `groups` ({groups!r}), but "
                f"it was counted with groups={counts.groups!r}."
            )
        positives = _check_count_values(counts.positives, counts.groups, f"{name}.positives")
        labelled = _check_count_values(counts.labelled, counts.groups, f"{name}.labelled")
        check_shape(labelled, f"{name}.labelled", tuple(positives.shape), "(C,)")
        above = positives > labelled
        if bool(above.any()):
            (i,) = first_true(above)
            raise ValueError(
                f"Expected `{name}.positives` <= `{name}.labelled`, but "
                f"{describe_attribute(i, counts.groups)} has {positives[i].item():g} positives "
                f"of {labelled[i].item():g} labelled samples."
            )
        return LabelCounts(positives, labelled, int(counts.num_samples), counts.groups)
    if isinstance(counts, (int, float)) or counts is None:
        raise TypeError(
            f"Expected `{name}` to be an imbalml.LabelCounts (from imbalml.label_counts) or "
            f"per-attribute counts (C,), but got {type(counts).__name__}."
        )
    groups = check_optional_groups(groups)
    positives = _check_count_values(counts, groups, name)
    if groups is None:
        if not plain_tensor:
            raise TypeError(
                f"Expected `{name}` to be an imbalml.LabelCounts for plain multi-label "
                f"(groups=None): a (C,) array of positives does not say how many samples of each "
                f"label are known. Count with `imbalml.label_counts(target)`."
            )
        total = int(math.ceil(float(positives.max())))
        return LabelCounts(positives, torch.full_like(positives, total), total, None)
    index = torch.tensor(groups.attribute_group, device=positives.device)
    totals = torch.zeros(groups.num_groups, dtype=positives.dtype, device=positives.device)
    totals = totals.index_add(0, index, positives)
    return LabelCounts(positives, totals[index], int(math.ceil(float(totals.max()))), groups)


def _check_count_values(counts: Any, groups: AttributeGroups | None, name: str) -> torch.Tensor:
    """Counts ``(C,)``: real, finite, ``>= 0``, as float64 on their device."""
    counts = as_tensor(counts, name)
    if counts.is_complex() or counts.dtype == torch.bool:
        raise TypeError(f"Expected `{name}` to have a real dtype, but got {counts.dtype}.")
    if groups is not None:
        check_shape(counts, name, (check_groups(groups).num_attributes,), "(C,)")
    elif counts.ndim != 1 or counts.numel() == 0:
        raise ValueError(
            f"Expected `{name}` of shape (C,) with C >= 1 (at least one attribute), "
            f"but got {tuple(counts.shape)}."
        )
    counts = counts.detach().double()
    check_finite(counts, name)
    negative = counts < 0
    if bool(negative.any()):
        (i,) = first_true(negative)
        raise ValueError(
            f"Expected `{name}` >= 0, but got {counts[i].item():g} for "
            f"{describe_attribute(i, groups)}."
        )
    return counts
