"""Argument checks that involve the label layout, typed with :class:`~imbalml.AttributeGroups`.

The layout-free checks live in :mod:`imbalml._validation`; the two checks :class:`AttributeGroups`
itself needs (``check_scores``, ``check_hard_target``) live beside it in :mod:`imbalml.groups` and
are re-exported here, so every caller takes its layout checks from this one module. Imports go one
way only: ``_validation`` <- ``groups`` <- ``_layout_checks``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from imbalml._validation import (
    as_tensor,
    check_rows,
    check_values,
    position,
)
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
    "parse_target",
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
    _check_soft_layout(target, groups, name, num_samples)
    if target.numel():
        _check_soft_values(target.detach().float(), groups, name, atol)
    return target


def _check_soft_layout(
    target: torch.Tensor, groups: AttributeGroups, name: str, num_samples: int | None
) -> None:
    c = groups.num_attributes
    if not target.is_floating_point():
        raise TypeError(
            f"Expected `{name}` with soft targets (floating, shape (N, C)), "
            f"but got dtype {target.dtype}."
        )
    check_float_hard_labels(target, groups, name)
    check_rows(target, name, c, num_samples=num_samples, meaning=f" for {c} attributes")


def _segment_sums(target: torch.Tensor, groups: AttributeGroups) -> torch.Tensor:
    """The sum of each group segment of ``(N, C)`` values: ``(N, G)``."""
    return torch.stack([segment.sum(-1) for segment in groups.split(target)], -1)


def _check_soft_values(t: torch.Tensor, groups: AttributeGroups, name: str, atol: float) -> None:
    """Values in [0, 1] (so finite) and segment sums of 1 or 0, per :func:`check_values`."""

    def outside_message(where: tuple[int, ...] | None) -> str:
        got = "" if where is None else f", but got {t[where].item():g} at {position(where)}"
        return f"Expected `{name}` values in [0, 1]{got or ' (checked on the device)'}."

    check_values(~((t >= -atol) & (t <= 1 + atol)), outside_message)
    sums = _segment_sums(t, groups)

    def sum_message(where: tuple[int, ...] | None) -> str:
        head = f"Expected each group segment of `{name}` to sum to 1 (or 0 for a missing label)"
        if where is None:
            return f"{head} (checked on the device)."
        row, col = where
        return (
            f"{head}, but group {groups.names[col]!r} sums to {sums[row, col].item():g} "
            f"at row {row}."
        )

    check_values(((sums - 1).abs() > atol) & (sums.abs() > atol), sum_message)


class ParsedTarget(NamedTuple):
    """What the losses need of a target: label values and where a label is present."""

    values: torch.Tensor
    """Float ``(N, C)``: multi-hot or soft labels (plain), one-hot or soft per group (grouped);
    0 where a label is missing, NaN where an unchecked label is out of range."""
    valid: torch.Tensor
    """Bool: ``(N, C)`` without groups (label present), ``(N, G)`` with groups (group labelled)."""


def parse_target(
    target: Any,
    groups: AttributeGroups | None,
    *,
    num_samples: int,
    num_labels: int | None = None,
    ignore_index: int = -100,
    dtype: torch.dtype = torch.float32,
    validate_args: bool = True,
    name: str = "target",
) -> ParsedTarget:
    """The one target parser of the losses: check ``target`` and return its values and mask.

    Accepted forms:

    * ``groups=None`` (plain multi-label): ``(N, C)`` bool, integer (any width: int64, int32,
      uint8, ...) or floating labels in ``[0, 1]`` (soft values are fine for a loss; the metrics
      take ``{0, 1}`` only, see :func:`imbalml._validation.check_multi_hot`); entries equal to
      ``ignore_index`` are missing.
    * grouped, hard: ``(N, G)`` integer indices (any integer dtype), ``ignore_index`` marking a
      missing group label; ``ignore_index`` may be any int (-100, -1, 255 with uint8 labels).
    * grouped, soft: floating ``(N, C)`` with values in ``[0, 1]`` and each group segment summing
      to 1, or to 0 for a missing label.

    Shapes and dtypes are always checked (in Python, free). With ``validate_args`` the values are
    checked by :func:`imbalml._validation.check_values`: in full with a message naming the
    position on the CPU in eager mode, on the device without a host synchronisation otherwise.
    Without it an out-of-range hard or multi-hot label becomes NaN in ``values``, so the loss is
    NaN, never silently a different label or a missing one.
    """
    target = as_tensor(target, name)
    if target.is_complex():
        raise TypeError(f"Expected `{name}` with real values, but got dtype {target.dtype}.")
    if groups is None:
        return _parse_plain(target, num_samples, num_labels, ignore_index, dtype, validate_args, name)
    if target.is_floating_point():
        _check_soft_layout(target, groups, name, num_samples)
        values = target.to(dtype)
        if validate_args and target.numel():
            _check_soft_values(values.detach(), groups, name, 1e-3)
        return ParsedTarget(values, _segment_sums(values.detach(), groups) > 0.5)
    return _parse_hard(target, groups, num_samples, ignore_index, dtype, validate_args, name)


def _parse_plain(
    target: torch.Tensor, n: int, c: int | None, ignore_index: int, dtype: torch.dtype,
    validate: bool, name: str,
) -> ParsedTarget:  # fmt: skip
    """:func:`parse_target` without groups: ``(N, C)`` multi-hot or soft labels."""
    if target.ndim != 2 or target.shape[0] != n or (c is not None and target.shape[1] != c):
        hint = ""
        if c is not None and target.ndim == 2 and target.shape[0] == n and target.shape[1] < c:
            if not target.is_floating_point() and target.dtype != torch.bool:
                hint = (
                    " This looks like hard (N, G) attribute indices: pass `groups` (an "
                    "imbalml.AttributeGroups) for the grouped form; without `groups` the target "
                    "is multi-hot (N, C)."
                )
        raise ValueError(
            f"Expected `{name}` of shape (N, C) like `input` = ({n}, {c if c is not None else 'C'}) "
            f"(plain multi-label, groups=None), but got {tuple(target.shape)}.{hint}"
        )
    if target.dtype == torch.bool:
        return ParsedTarget(target.to(dtype), torch.ones_like(target))
    if target.is_floating_point():
        t = target.to(dtype)
        valid = target.detach() != ignore_index
        in_range = (t.detach() >= 0) & (t.detach() <= 1)  # False for NaN
        allowed = "[0, 1]"
    else:
        t = target.long()  # uint8 / int32 labels compare with any ignore_index (-100, 255)
        valid = t != ignore_index
        in_range = (t == 0) | (t == 1)
        allowed = "{0, 1}"
    bad = valid & ~in_range
    if validate:

        def message(where: tuple[int, ...] | None) -> str:
            got = " (checked on the device)"
            if where is not None:
                got = f", but got {t[where].item():g} at {position(where)}"
            return f"Expected `{name}` values in {allowed} or ignore_index={ignore_index}{got}."

        check_values(bad, message)
    values = torch.where(valid, t, torch.zeros((), dtype=t.dtype, device=t.device)).to(dtype)
    return ParsedTarget(values.masked_fill(bad, float("nan")), valid)


def _parse_hard(
    target: torch.Tensor, groups: AttributeGroups, n: int, ignore_index: int,
    dtype: torch.dtype, validate: bool, name: str,
) -> ParsedTarget:  # fmt: skip
    """:func:`parse_target` of hard ``(N, G)`` indices: one-hot values, per-group mask."""
    if target.dtype == torch.bool:
        raise TypeError(
            f"Expected `{name}` with integer attribute indices of shape (N, G), "
            f"but got dtype {target.dtype}."
        )
    g = groups.num_groups
    check_rows(target, name, g, num_samples=n, axes="(N, G)", meaning=f" for {g} attribute groups")
    t = target.long()  # uint8 / int32 labels compare with any ignore_index (-100, 255)
    valid = t != ignore_index
    sizes = torch.tensor(groups.sizes, device=t.device)  # tiny, built per call
    offsets = torch.tensor(groups.offsets, device=t.device)
    bad = valid & ((t < 0) | (t >= sizes))
    if validate:

        def message(where: tuple[int, ...] | None) -> str:
            if where is None:
                return (
                    f"Expected every `{name}[:, g]` in [0, sizes[g] - 1] or "
                    f"ignore_index={ignore_index} (checked on the device)."
                )
            row, col = where
            return (
                f"Expected `{name}[:, {col}]` (group {groups.names[col]!r}, "
                f"{groups.sizes[col]} attributes) in [0, {groups.sizes[col] - 1}] or "
                f"ignore_index={ignore_index}, but got {int(t[row, col])} at row {row}."
            )

        check_values(bad, message)
    labelled = valid & ~bad
    columns = torch.where(labelled, t, 0) + offsets
    # A missing label writes its 0 into its own group's first column, so the G columns of a row
    # are distinct and no group's 1 is overwritten; an unchecked bad label writes NaN there.
    fill = labelled.to(dtype).masked_fill(bad, float("nan"))
    values = torch.zeros(t.shape[0], groups.num_attributes, dtype=dtype, device=t.device)
    return ParsedTarget(values.scatter(1, columns, fill), valid)


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

    :func:`parse_target` for callers that know the layout: ``soft`` is a float32 ``(N, C)``
    tensor and ``valid`` a bool ``(N, G)`` mask of the groups that carry a label (hard: not
    ``ignore_index``; soft: segment sum > 0).
    """
    target = as_tensor(target, name)
    n = num_samples if num_samples is not None else (target.shape[0] if target.ndim else 0)
    values, valid = parse_target(
        target, groups, num_samples=n, ignore_index=ignore_index, validate_args=validate_args,
        name=name,
    )  # fmt: skip
    return values, valid


def describe_attribute(index: int, groups: AttributeGroups | None) -> str:
    """How a message names attribute ``index``: ``"label 3"`` or ``"attribute 'x' (index 3, group 'g')"``."""
    if groups is None:
        return f"label {index}"
    group = groups.attribute_group[index]
    return (
        f"attribute {groups.attribute_names[index]!r} (index {index}, group "
        f"{groups.names[group]!r})"
    )
