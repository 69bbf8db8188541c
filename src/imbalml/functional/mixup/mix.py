"""Apply a plan: mix the selected rows of a batch and of its soft targets with their partners."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from imbalml._layout_checks import check_groups, check_soft_target
from imbalml._validation import (
    check_finite,
    check_floating,
    check_number,
    check_same_device,
    check_shape,
    first_true,
)
from imbalml.functional.mixup.plan import MixupPlan
from imbalml.groups import AttributeGroups

__all__ = ["mixup"]


def _check_plan(
    n: int, device: torch.device, lam: Any, partner: Any, mask: Any
) -> tuple[float | torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate ``(lam, partner, mask)`` for a batch of ``n`` rows on ``device``."""
    if not isinstance(partner, torch.Tensor) or partner.is_floating_point() or partner.is_complex():
        kind = partner.dtype if isinstance(partner, torch.Tensor) else type(partner).__name__
        raise TypeError(f"Expected `partner` to be an integer tensor, but got {kind}.")
    if partner.dtype == torch.bool:
        raise TypeError(f"Expected `partner` to be an integer tensor, but got {partner.dtype}.")
    check_shape(partner, "partner", (n,), "(N,)")
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        kind = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise TypeError(f"Expected `mask` to be a bool tensor, but got {kind}.")
    check_shape(mask, "mask", (n,), "(N,)")
    if partner.device != device:
        raise ValueError(
            f"Expected `partner` on the device of `inputs` ({device}), but got {partner.device}."
        )
    if mask.device != device:
        raise ValueError(
            f"Expected `mask` on the device of `inputs` ({device}), but got {mask.device}."
        )
    outside = (partner < 0) | (partner >= n)
    if n and bool(outside.any()):
        (row,) = first_true(outside)
        raise ValueError(
            f"Expected `partner` indices in [0, {n - 1}], but got {int(partner[row])} at row {row}."
        )
    if isinstance(lam, torch.Tensor):
        check_floating(lam, "lam")
        if lam.ndim == 0:
            return check_number(float(lam), "lam", low=0.0, high=1.0), partner, mask
        check_shape(lam, "lam", (n,), "() or (N,)")
        check_finite(lam, "lam")
        outside = (lam < 0) | (lam > 1)
        if bool(outside.any()):
            (row,) = first_true(outside)
            raise ValueError(f"Expected `lam` in [0, 1], but got {float(lam[row]):g} at row {row}.")
        return lam, partner, mask
    return check_number(lam, "lam", low=0.0, high=1.0), partner, mask


def check_batch(value: Any, name: str, *, rows: bool = True) -> torch.Tensor:
    """Check a floating tensor; with ``rows``, one of shape ``(N, *)`` (at least one dimension)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"Expected `{name}` to be a torch.Tensor, but got {type(value).__name__}.")
    check_floating(value, name)
    if rows and value.ndim == 0:
        raise ValueError(f"Expected `{name}` of shape (N, *), but got a 0-d tensor.")
    return value


def _weight(lam: float | torch.Tensor, like: torch.Tensor) -> float | torch.Tensor:
    """``lam`` as a ``torch.lerp`` weight for ``like``: a float, or ``(N, 1, ...)`` of its dtype."""
    if isinstance(lam, torch.Tensor):
        if lam.ndim == 0:
            return float(lam)
        shape = (lam.shape[0],) + (1,) * (like.ndim - 1)
        return lam.to(like.device, like.dtype, non_blocking=True).view(shape)
    return float(lam)


def _mix_targets(
    soft: torch.Tensor,
    lam: float | torch.Tensor,
    partner: torch.Tensor,
    mask: torch.Tensor,
    groups: AttributeGroups | None,
    ignore_index: int | None = None,
) -> torch.Tensor:
    """Mix soft targets ``(N, C)``; with ``groups``, a segment missing on either side stays 0.

    Without ``groups``, an entry equal to ``ignore_index`` on either side stays ``ignore_index``.
    """
    mixed = torch.lerp(soft, soft[partner], _weight(lam, soft))
    if groups is not None:
        valid = torch.stack([s.sum(-1) for s in groups.split(soft)], -1) > 0
        both = (valid & valid[partner])[:, groups.group_index(soft.device)]
        mixed = torch.where(both, mixed, torch.zeros((), dtype=soft.dtype, device=soft.device))
    elif ignore_index is not None:
        ignored = soft == ignore_index
        mixed = torch.where(ignored | ignored[partner], float(ignore_index), mixed)
    return torch.where(mask[:, None], mixed, soft)


def mixup(
    inputs: torch.Tensor,
    soft_targets: torch.Tensor,
    groups: AttributeGroups | None = None,
    *,
    lam: float | torch.Tensor,
    partner: torch.Tensor,
    mask: torch.Tensor,
    ignore_index: int | None = None,
    validate_args: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Mix the rows selected by ``mask`` with their partners; leave the others bit for bit.

    .. math::
        x_i' = \begin{cases} (1 - \lambda_i) x_i + \lambda_i x_{\pi(i)} & \text{mask}_i \\
        x_i & \text{otherwise} \end{cases}

    and the same for the targets. ``lam`` weights the partner. The interpolation is
    ``torch.lerp``, so ``lam = 0`` returns ``x_i`` and ``lam = 1`` returns ``x_{pi(i)}`` exactly
    (up to the sign of zero). Out of place, on any device, without reading values back to the host
    (with ``validate_args=False`` and ``lam`` a float, a CPU tensor or an ``(N,)`` tensor).

    With ``groups``, a group whose label is missing (all-zero segment) in either source row is
    missing (all zero) in the mixed row, so every segment still sums to 1 or 0; without ``groups``
    the targets are mixed linearly (multi-hot labels become soft ones), except that an entry
    equal to ``ignore_index`` (when given) in either source row stays ``ignore_index``.

    Args:
        inputs: Floating batch ``(N, ...)`` of any shape (images ``(N, 3, H, W)``, features).
        soft_targets: Floating targets ``(N, C)``.
        lam: Partner weight in [0, 1]: a float, a 0-d tensor (read with ``float()``), or one per
            row ``(N,)``.
        partner: Integer ``(N,)`` with values in ``[0, N)``, on ``inputs``' device.
        mask: Bool ``(N,)``, on ``inputs``' device.
        groups: The label layout, to keep missing labels missing (optional).
        ignore_index: Without ``groups``: the target value marking a missing label, kept as it
            is (default ``None``: no value is special).
        validate_args: Check dtypes, shapes and ranges (the range checks read values back to the
            host; set ``False`` on a GPU hot path).

    Returns:
        ``(mixed_inputs, mixed_targets)``, new tensors with the dtypes and device of the inputs.

    Raises:
        TypeError: If a tensor has the wrong dtype.
        ValueError: If a shape, device or range is wrong.

    Shape:
        - inputs: ``(N, *)``
        - soft_targets: ``(N, C)``
        - lam: ``()`` or ``(N,)``
        - partner, mask: ``(N,)``

    Example:
        >>> import torch
        >>> from imbalml.functional import mixup
        >>> x = torch.tensor([[0.0, 0.0], [4.0, 8.0], [1.0, 1.0]])
        >>> y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
        >>> xm, ym = mixup(x, y, lam=0.25, partner=torch.tensor([1, 0, 0]),
        ...                mask=torch.tensor([True, False, False]))
        >>> xm
        tensor([[1., 2.],
                [4., 8.],
                [1., 1.]])
        >>> ym[0]
        tensor([0.7500, 0.2500])
    """
    if validate_args:
        check_batch(inputs, "inputs")
        check_batch(soft_targets, "soft_targets", rows=False)
        n = inputs.shape[0]
        if soft_targets.ndim != 2 or soft_targets.shape[0] != n:
            width = soft_targets.shape[-1] if soft_targets.ndim else "C"
            raise ValueError(
                f"Expected `soft_targets` of shape (N, C) = ({n}, {width}) to match `inputs`, "
                f"but got {tuple(soft_targets.shape)}."
            )
        if groups is not None:
            check_groups(groups)
            check_soft_target(soft_targets, groups, "soft_targets", num_samples=n)
        check_same_device(inputs, soft_targets, "inputs", "soft_targets")
        lam, partner, mask = _check_plan(n, inputs.device, lam, partner, mask)
    partner = partner.long()
    view = (inputs.shape[0],) + (1,) * (inputs.ndim - 1)
    mixed = torch.lerp(inputs, inputs[partner], _weight(lam, inputs))
    out = torch.where(mask.view(view), mixed, inputs)
    return out, _mix_targets(soft_targets, lam, partner, mask, groups, ignore_index)


def _stack_mixup(rows: Sequence[torch.Tensor], plan: MixupPlan, out: torch.Tensor) -> torch.Tensor:
    """Stack ``rows`` into ``out`` while applying ``plan``: :func:`mixup` fused with the stack.

    The collator's path: one pass over the batch (a copy for plain rows, one ``torch.lerp`` with
    the same weight as :func:`mixup` for mixed rows) instead of a stack followed by a mix. The plan
    must be on the CPU and valid (from :func:`mixup_plan`).
    """
    lam = plan.lam.tolist()
    partner = plan.partner.tolist()
    for i, selected in enumerate(plan.mask.tolist()):
        if selected:
            weight = lam[i] if isinstance(lam, list) else lam
            torch.lerp(rows[i], rows[partner[i]], weight, out=out[i])
        else:
            out[i].copy_(rows[i])
    return out
