"""Argument checks that involve the label layout, typed with :class:`~imbalml.AttributeGroups`.

The layout-free checks live in :mod:`imbalml._validation`; the two checks :class:`AttributeGroups`
itself needs (``check_scores``, ``check_hard_target``) live beside it in :mod:`imbalml.groups` and
are re-exported here, so every caller takes its layout checks from this one module. Imports go one
way only: ``_validation`` <- ``groups`` <- ``_layout_checks``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from imbalml._validation import as_tensor, check_finite, check_rows, check_shape, first_true
from imbalml.groups import AttributeGroups, check_float_hard_labels, check_hard_target, check_scores

if TYPE_CHECKING:
    from imbalml.data.stats import LabelCounts

__all__ = [
    "check_counts",
    "check_float_hard_labels",
    "check_groups",
    "check_hard_target",
    "check_optional_groups",
    "check_scores",
    "check_soft_target",
    "check_target",
    "describe_attribute",
]


def check_groups(groups: Any, name: str = "groups") -> AttributeGroups:
    """Check that ``groups`` is an :class:`~imbalml.AttributeGroups`."""
    if groups is None:
        raise TypeError(
            f"Expected `{name}` to be an imbalml.AttributeGroups (this function needs the label "
            f"layout; `groups=None`, plain multi-label, does not apply here), but got None."
        )
    if not isinstance(groups, AttributeGroups):
        raise TypeError(
            f"Expected `{name}` to be an imbalml.AttributeGroups, but got {type(groups).__name__}."
        )
    return groups


def check_optional_groups(groups: Any, name: str = "groups") -> AttributeGroups | None:
    """``None`` (plain multi-label) or an :class:`~imbalml.AttributeGroups`."""
    return None if groups is None else check_groups(groups, name)


def check_soft_target(
    target: Any,
    groups: AttributeGroups,
    name: str = "target",
    *,
    num_samples: int | None = None,
    atol: float = 1e-3,
) -> torch.Tensor:
    """Check soft targets ``(N, C)``: values in [0, 1], each group segment summing to 1 (or 0).

    A segment that sums to 0 marks a missing label for that group.
    """
    target = as_tensor(target, name)
    c = groups.num_attributes
    if not target.is_floating_point():
        raise TypeError(
            f"Expected `{name}` with soft targets (floating, shape (N, C)), "
            f"but got dtype {target.dtype}."
        )
    check_float_hard_labels(target, groups, name)
    check_rows(target, name, c, num_samples=num_samples, meaning=f" for {c} attributes")
    check_finite(target, name)
    if target.numel():
        t = target.detach().float()
        outside = (t < -atol) | (t > 1 + atol)
        if bool(outside.any()):
            row, col = first_true(outside)
            raise ValueError(
                f"Expected `{name}` values in [0, 1], but got {t[row, col].item():g} "
                f"at row {row}, column {col}."
            )
        sums = torch.stack([s.sum(-1) for s in groups.split(t)], -1)
        bad = ((sums - 1).abs() > atol) & (sums.abs() > atol)
        if bool(bad.any()):
            row, col = first_true(bad)
            raise ValueError(
                f"Expected each group segment of `{name}` to sum to 1 (or 0 for a missing label), "
                f"but group {groups.names[col]!r} sums to {sums[row, col].item():g} at row {row}."
            )
    return target


def check_target(
    target: Any,
    groups: AttributeGroups,
    name: str = "target",
    *,
    num_samples: int | None = None,
    ignore_index: int = -100,
    validate_args: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Accept hard ``(N, G)`` or soft ``(N, C)`` targets; return ``(soft, valid)``.

    ``soft`` is a float32 ``(N, C)`` tensor and ``valid`` a bool ``(N, G)`` mask of the groups that
    carry a label (hard: not ``ignore_index``; soft: segment sum > 0).
    """
    target = as_tensor(target, name)
    if target.is_floating_point():
        if validate_args:
            check_soft_target(target, groups, name, num_samples=num_samples)
        elif target.ndim != 2 or target.shape[1] != groups.num_attributes:
            check_shape(
                target, name, (num_samples or target.shape[0], groups.num_attributes), "(N, C)"
            )
        soft = target.float()
        sums = torch.stack([s.sum(-1) for s in groups.split(soft)], -1)
        return soft, sums > 0.5
    if validate_args:
        check_hard_target(target, groups, name, ignore_index=ignore_index, num_samples=num_samples)
    return groups.to_one_hot(
        target, ignore_index=ignore_index, validate_args=False
    ), target != ignore_index


def describe_attribute(index: int, groups: AttributeGroups | None) -> str:
    """How a message names attribute ``index``: ``"label 3"`` or ``"attribute 'x' (index 3, group 'g')"``."""
    if groups is None:
        return f"label {index}"
    group = groups.attribute_group[index]
    return (
        f"attribute {groups.attribute_names[index]!r} (index {index}, group "
        f"{groups.names[group]!r})"
    )


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
    from imbalml.data.stats import LabelCounts

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
