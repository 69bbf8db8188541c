"""Argument checks that involve the label layout, typed with :class:`~imbalml.AttributeGroups`.

The layout-free checks live in :mod:`imbalml._validation`; the two checks :class:`AttributeGroups`
itself needs (``check_scores``, ``check_hard_target``) live beside it in :mod:`imbalml.groups` and
are re-exported here, so every caller takes its layout checks from this one module. Imports go one
way only: ``_validation`` <- ``groups`` <- ``_layout_checks``.
"""

from __future__ import annotations

from typing import Any

import torch

from imbalml._validation import as_tensor, check_finite, check_rows, check_shape, first_true
from imbalml.groups import AttributeGroups, check_float_hard_labels, check_hard_target, check_scores

__all__ = [
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
