"""Argument handling shared by the losses: targets, masks, label weights and reductions.

The sigmoid form takes ``(N, C)`` targets in ``[0, 1]`` (``ignore_index`` marks a missing
label); the grouped form takes hard ``(N, G)`` indices or soft ``(N, C)`` targets. Each helper
checks tensors only when asked (``validate``); hyperparameters are checked by the callers, once.
"""

from __future__ import annotations

from typing import Any

import torch

from imbalml._layout_checks import check_optional_groups, check_scores, check_target
from imbalml._validation import (
    as_tensor,
    check_finite,
    check_floating,
    check_int,
    check_reduction,
    check_shape,
    first_true,
    position,
)
from imbalml.groups import AttributeGroups

GROUP_REDUCTIONS = ("sum", "mean", "none")


def check_loss_options(
    groups: Any, ignore_index: Any, reduction: str, validate: bool
) -> AttributeGroups | None:
    """Check the options every loss shares (when ``validate``); return ``groups``."""
    if validate:
        groups = check_optional_groups(groups)
        check_int(ignore_index, "ignore_index")
        check_reduction(reduction)
    return groups


def compute_dtype(tensor: torch.Tensor) -> torch.dtype:
    """float64 for float64 input, float32 for everything else (half precision included)."""
    return torch.float64 if tensor.dtype == torch.float64 else torch.float32


def ignore_mask(y: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Float mask, 1 where ``y != ignore_index``, for targets in ``[0, 1] | {ignore_index}``."""
    if ignore_index < 0:  # sign(y - ignore_index) is 1 on [0, 1] and 0 on ignore_index;
        return torch.sign(y - ignore_index)  # much faster on CPU than a bool mask and a cast
    if ignore_index > 1:
        return torch.sign(ignore_index - y)
    return (y != ignore_index).to(y.dtype)


def _check_sigmoid_target_shape(input: torch.Tensor, target: torch.Tensor) -> None:
    """The sigmoid form's target is ``(N, C)`` like ``input``; name ``groups`` for ``(N, G)``."""
    if tuple(target.shape) == tuple(input.shape):
        return
    hint = ""
    if target.ndim == 2 and target.shape[0] == input.shape[0] and target.shape[1] < input.shape[1]:
        if not target.is_floating_point() and target.dtype != torch.bool:
            hint = (
                " This looks like hard (N, G) attribute indices: pass `groups` (an "
                "imbalml.AttributeGroups) for the grouped form; without `groups` the target is "
                "multi-hot (N, C)."
            )
    raise ValueError(
        f"Expected `target` of shape (N, C) like `input` = {tuple(input.shape)} (plain "
        f"multi-label, groups=None), but got {tuple(target.shape)}.{hint}"
    )


def check_sigmoid_input(input: Any) -> torch.Tensor:
    """Floating, finite logits ``(N, C)`` of the sigmoid form."""
    input = as_tensor(input, "input")
    check_floating(input, "input")
    if input.ndim != 2:
        raise ValueError(
            f"Expected `input` of shape (N, C) (one logit per attribute), "
            f"but got {tuple(input.shape)}."
        )
    check_finite(input, "input")
    return input


def sigmoid_args(
    input: Any, target: Any, ignore_index: int, validate: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Check and convert the sigmoid form's arguments.

    Returns ``(x, y, mask)``: logits and targets in the compute dtype, and a float mask of the
    non-ignored entries (``None`` when validation found none ignored).
    """
    input = as_tensor(input, "input")
    target = as_tensor(target, "target")
    any_ignored = True
    if validate:
        check_sigmoid_input(input)
        _check_sigmoid_target_shape(input, target)
        if target.is_complex():
            raise TypeError(f"Expected `target` with real values, but got dtype {target.dtype}.")
        t = target.detach()
        ignored = t == ignore_index
        bad = ((t < 0) | (t > 1)) & ~ignored
        if target.is_floating_point():
            bad |= torch.isnan(t)
        if bool(bad.any()):
            where = first_true(bad)
            raise ValueError(
                f"Expected `target` values in [0, 1] or ignore_index={ignore_index}, "
                f"but got {t[where].item():g} at {position(where)}."
            )
        any_ignored = bool(ignored.any())
    dtype = compute_dtype(input)
    x, y = input.to(dtype), target.to(dtype)
    if not any_ignored:
        return x, y, None
    mask = ignore_mask(y, ignore_index)
    return x, y * mask, mask


def grouped_args(
    input: Any,
    target: Any,
    groups: AttributeGroups,
    ignore_index: int,
    validate: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Check and convert the grouped form's arguments.

    Returns ``(x, y, valid)``: logits, soft ``(N, C)`` targets and the bool ``(N, G)`` mask of
    the groups that carry a label.
    """
    input = as_tensor(input, "input")
    if validate:
        check_scores(input, groups, "input")
    y, valid = check_target(
        target, groups, "target", num_samples=input.shape[0], ignore_index=ignore_index,
        validate_args=validate,
    )  # fmt: skip
    dtype = compute_dtype(input)
    if isinstance(target, torch.Tensor) and target.is_floating_point():
        y = target  # keep a float64 (or differentiable) soft target as it is
    return input.to(dtype), y.to(dtype), valid


def attribute_mask(
    valid: torch.Tensor, groups: AttributeGroups, dtype: torch.dtype, validate: bool
) -> torch.Tensor | None:
    """Expand a bool ``(N, G)`` group mask to a float ``(N, C)`` mask.

    ``None`` when every group is labelled and ``validate`` already pays for a host sync.
    """
    if validate and bool(valid.all()):
        return None
    return valid[:, groups.group_index(valid.device)].to(dtype)


def reduce(loss: torch.Tensor, mask: torch.Tensor | None, reduction: str) -> torch.Tensor:
    """Reduce an already masked elementwise loss; the mean runs over the unmasked elements."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    if mask is None:
        return total / max(loss.numel(), 1)
    return total / mask.sum().clamp(min=1)


def check_attribute_vector(
    value: Any, name: str, num_attributes: int, *, positive: bool, attribute_names: Any = None
) -> torch.Tensor:
    """Check a per-attribute ``(C,)`` float tensor: finite, ``>= 0`` (or ``> 0``)."""
    value = as_tensor(value, name)
    check_floating(value, name)
    check_shape(value, name, (num_attributes,), "(C,)")
    check_finite(value, name)
    bad = value <= 0 if positive else value < 0
    if bool(bad.any()):
        where = first_true(bad)
        label = f" (attribute {attribute_names[where[0]]!r})" if attribute_names is not None else ""
        raise ValueError(
            f"Expected `{name}` {'> 0' if positive else '>= 0'} for every attribute, "
            f"but got {value[where].item():g} at {position(where)}{label}."
        )
    return value


def label_weights(
    weight: Any,
    pos_weight: Any,
    groups: AttributeGroups | None,
    num_attributes: int,
    device: torch.device,
    dtype: torch.dtype,
    validate: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Check ``weight`` and ``pos_weight`` (each ``(C,)``, ``>= 0``); return them in ``dtype``."""
    out: list[torch.Tensor | None] = []
    names = groups.attribute_names if groups is not None else None
    for value, name in ((weight, "weight"), (pos_weight, "pos_weight")):
        if value is None:
            out.append(None)
            continue
        if validate:
            value = check_attribute_vector(
                value, name, num_attributes, positive=False, attribute_names=names
            )
        out.append(as_tensor(value, name).to(device=device, dtype=dtype))
    return out[0], out[1]
