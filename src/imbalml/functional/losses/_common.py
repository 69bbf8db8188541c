"""What every loss shares: option checks, the logits check, label vectors and the reduction.

Reduction has one meaning for every loss but Dice (see :func:`reduce`); targets are parsed by
:func:`imbalml._layout_checks.parse_target`, the one target parser.
"""

from __future__ import annotations

from typing import Any

import torch

from imbalml._layout_checks import check_optional_groups, check_scores
from imbalml._validation import (
    as_tensor,
    check_finite,
    check_floating,
    check_int,
    check_reduction,
    check_shape,
    check_values,
    host_checks_apply,
    position,
)
from imbalml.groups import AttributeGroups


def check_loss_options(groups: Any, ignore_index: Any, reduction: str) -> AttributeGroups | None:
    """Check the options every loss shares; return ``groups``."""
    groups = check_optional_groups(groups)
    check_int(ignore_index, "ignore_index")
    check_reduction(reduction)
    return groups


def compute_dtype(tensor: torch.Tensor) -> torch.dtype:
    """float64 for float64 input, float32 for everything else (half precision included)."""
    return torch.float64 if tensor.dtype == torch.float64 else torch.float32


def check_input(input: Any, groups: AttributeGroups | None, validate: bool) -> torch.Tensor:
    """Floating logits ``(N, C)`` (``C`` of ``groups``); finite when checked on the host.

    The shape and dtype are always checked. Finiteness is checked (with ``validate``) only where
    it costs no device synchronisation (:func:`imbalml._validation.host_checks_apply`): a device
    assert could not be recovered from, and a non-finite logit gives a non-finite loss, which a
    training loop checks anyway.
    """
    input = as_tensor(input, "input")
    if groups is not None:
        check_scores(input, groups, "input", finite=False)
    else:
        check_floating(input, "input")
        if input.ndim != 2:
            raise ValueError(
                f"Expected `input` of shape (N, C) (one logit per attribute), "
                f"but got {tuple(input.shape)}."
            )
    if validate and host_checks_apply(input):
        check_finite(input, "input")
    return input


def check_label_vector(
    value: Any,
    name: str,
    size: int,
    *,
    positive: bool,
    attribute_names: Any = None,
    validate: bool = True,
) -> torch.Tensor:
    """A per-label ``(C,)`` vector (weights, priors): real, finite, ``>= 0`` (or ``> 0``).

    Integer and bool inputs are accepted (``pos_weight=[1, 2, 3, 4]``); the result is floating.
    The values are checked by :func:`imbalml._validation.check_values` (on the host on the CPU).
    """
    value = as_tensor(value, name)
    if value.is_complex():
        raise TypeError(f"Expected `{name}` with real values, but got dtype {value.dtype}.")
    check_shape(value, name, (size,), "(C,)")
    if not value.is_floating_point():
        value = value.float()
    if validate:

        def finite_message(where: tuple[int, ...] | None) -> str:
            got = "" if where is None else f", but got {value[where].item()} at {position(where)}"
            return f"Expected `{name}` to be finite{got}."

        check_values(~torch.isfinite(value), finite_message)
        bad = ~(value > 0) if positive else ~(value >= 0)

        def message(where: tuple[int, ...] | None) -> str:
            expected = f"Expected `{name}` {'> 0' if positive else '>= 0'}"
            if where is None:
                return f"{expected} for every attribute (checked on the device)."
            label = ""
            if attribute_names is not None:
                label = f" (attribute {attribute_names[where[0]]!r})"
            return (
                f"{expected} for every attribute, but got {value[where].item():g} at "
                f"{position(where)}{label}."
            )

        check_values(bad, message)
    return value


def label_vector(
    value: torch.Tensor | None,
    like: torch.Tensor,
    groups: AttributeGroups | None,
    name: str,
    validate: bool,
) -> torch.Tensor | None:
    """``value`` (a ``(C,)`` weight vector or ``None``) checked and cast to ``like``'s dtype."""
    if value is None:
        return None
    if validate:
        names = None if groups is None else groups.attribute_names
        value = check_label_vector(
            value, name, like.shape[1], positive=False, attribute_names=names
        )
    value = as_tensor(value, name)
    check_shape(value, name, (like.shape[1],), "(C,)")  # always: a shape check is free
    return value.to(device=like.device, dtype=like.dtype)


def reduce(loss: torch.Tensor, count: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce ``(N, U)`` losses per sample and unit (a label, or an attribute group).

    ``loss`` is already 0 where a label is missing; ``count`` ``(N, U)`` says how much each
    sample weighs in its unit's mean (1 or 0 for present or missing; the label's weight for a
    weighted cross-entropy). ``"none"``: ``(N,)``, each sample's loss summed over its units.
    ``"sum"``: the total. ``"mean"``: for each unit the (weighted) mean over the samples that
    count there (0 for a unit without any), summed over units; with every label present,
    ``loss.sum() / N``.
    """
    if reduction == "none":
        return loss.sum(1)
    if reduction == "sum":
        return loss.sum()
    total, weight = loss.sum(0), count.sum(0)
    present = weight != 0  # weights are >= 0; a NaN (an unchecked bad label) stays NaN
    return torch.where(present, total / torch.where(present, weight, 1.0), 0.0).sum()
