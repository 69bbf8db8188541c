"""The padded group layout: every group's attributes in one ``(K, G, N)`` tensor.

``K`` is the largest group size and ``G`` the number of groups; the ``N`` samples run along the
last, contiguous axis, so a reduction over a group (over ``K``) is one vectorised pass for all
groups at once. One ``index_select`` of the transposed ``(C, N)`` logits builds it; the slots
beyond a group's size (the padding) point at the group's first column and are masked.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import torch

from imbalml._layout_checks import check_hard_target, check_scores, check_soft_target
from imbalml._validation import as_tensor
from imbalml.groups import AttributeGroups


class PaddedLayout(NamedTuple):
    """Index tensors of the padded layout of one ``AttributeGroups`` on one device."""

    columns: torch.Tensor  # (K * G,) column of each slot (k, g), k-major; padding -> first column
    keep: torch.Tensor  # (C,) slot of each column, in column order
    real: torch.Tensor  # (K, G, 1) bool, True for the slots that hold an attribute
    slot: torch.Tensor  # (K, 1, 1) long, the position k of each slot in its group
    sizes: torch.Tensor  # (G, 1) long, the group sizes
    key: tuple[int, ...]  # the group sizes, as given to padded_layout

    @property
    def shape(self) -> tuple[int, int]:
        """``(K, G)``."""
        return self.real.shape[0], self.real.shape[1]


@functools.lru_cache(maxsize=64)
def padded_layout(sizes: tuple[int, ...], device: torch.device) -> PaddedLayout:
    """The cached :class:`PaddedLayout` of group ``sizes`` on ``device``."""
    k, g = max(sizes), len(sizes)
    starts = [sum(sizes[:j]) for j in range(g)]
    index = [starts[j] + i if i < sizes[j] else starts[j] for i in range(k) for j in range(g)]
    keep = [i * g + j for j in range(g) for i in range(sizes[j])]
    real = [[[i < sizes[j]] for j in range(g)] for i in range(k)]
    return PaddedLayout(
        torch.tensor(index, dtype=torch.long, device=device),
        torch.tensor(keep, dtype=torch.long, device=device),
        torch.tensor(real, dtype=torch.bool, device=device),
        torch.arange(k, device=device).view(k, 1, 1),
        torch.tensor(sizes, device=device).view(g, 1),
        sizes,
    )


@functools.lru_cache(maxsize=64)
def real_mask(sizes: tuple[int, ...], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``(K, G, 1)`` in ``dtype``: 1 on the attributes, 0 on the padding."""
    return padded_layout(sizes, device).real.to(dtype)


def layout_of(groups: AttributeGroups, device: torch.device) -> PaddedLayout:
    """The padded layout of ``groups`` on ``device``."""
    return padded_layout(groups.sizes, device)


def pad(values: torch.Tensor, layout: PaddedLayout) -> torch.Tensor:
    """``(N, C)`` to ``(K, G, N)``; the padding repeats each group's first column."""
    k, g = layout.shape
    return values.t().index_select(0, layout.columns).view(k, g, values.shape[0])


def unpad(values: torch.Tensor, layout: PaddedLayout) -> torch.Tensor:
    """``(K, G, N)`` back to ``(N, C)`` (a transposed view of a ``(C, N)`` tensor)."""
    k, g = layout.shape
    return values.reshape(k * g, values.shape[-1]).index_select(0, layout.keep).t()


def group_sum(values: torch.Tensor, groups: AttributeGroups) -> torch.Tensor:
    """Sum ``(N, C)`` values within each group: ``(N, G)``."""
    layout = layout_of(groups, values.device)
    return (pad(values, layout) * layout.real).sum(0).t()


def check_grouped_args(
    input: Any, target: Any, groups: AttributeGroups, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check the grouped form's logits ``(N, C)`` and hard ``(N, G)`` or soft ``(N, C)`` target."""
    input = check_scores(input, groups, "input")
    target = as_tensor(target, "target")
    n = input.shape[0]
    if target.is_floating_point():
        check_soft_target(target, groups, "target", num_samples=n)
    else:
        check_hard_target(target, groups, "target", ignore_index=ignore_index, num_samples=n)
    return input, target


def padded_targets(
    input: torch.Tensor,
    target: Any,
    groups: AttributeGroups,
    layout: PaddedLayout,
    dtype: torch.dtype,
    *,
    ignore_index: int,
    weight: torch.Tensor | None,
    validate: bool,
    one_hot: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | int]:
    """Targets, elementwise scale and label count of the grouped form, in the padded layout.

    ``target``: hard ``(N, G)`` indices or soft ``(N, C)`` (a group summing to 0 is missing).
    Returns ``y`` ``(K, G, N)``; ``scale`` (``weight`` where labelled, 0 for a missing label
    and on the padding; ``(K, G, 1)`` when ``validate`` finds no label missing); and the number
    of labelled attributes (the divisor of the mean). The arguments are checked already.
    With ``one_hot=False`` a hard target is returned as the ``(G, N)`` indices instead of ``y``.
    """
    target = as_tensor(target, "target")
    n = input.shape[0]
    real = real_mask(layout.key, input.device, dtype)
    base = real if weight is None else pad(weight.view(1, -1), layout) * real
    if target.is_floating_point():
        y = pad(target, layout).to(dtype) * real
        valid = y.sum(0) > 0.5
    else:
        labels = target.t()
        y = (layout.slot == labels).to(dtype) if one_hot else labels
        valid = labels != ignore_index
    if validate and bool(valid.all()):
        return y, base, n * groups.num_attributes
    return y, base * valid, (valid * layout.sizes).sum()
