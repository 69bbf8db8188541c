"""Soft Dice loss per attribute over the batch, on sigmoid or grouped-softmax probabilities."""

from __future__ import annotations

from typing import Any

import torch

from imbalml._layout_checks import parse_target
from imbalml._validation import check_number
from imbalml.functional.grouped import grouped_softmax
from imbalml.functional.losses._common import check_input, check_loss_options, compute_dtype
from imbalml.groups import AttributeGroups

__all__ = ["dice_loss"]


def check_dice_options(smooth: Any, eps: Any) -> None:
    """Check the Dice loss's own hyperparameters."""
    check_number(smooth, "smooth", low=0.0)
    check_number(eps, "eps", low=0.0, low_inclusive=False)


def dice(
    input: torch.Tensor,
    target: torch.Tensor,
    groups: AttributeGroups | None,
    *,
    smooth: float,
    eps: float,
    ignore_index: int,
    reduction: str,
    validate_args: bool,
) -> torch.Tensor:
    """:func:`dice_loss` with checked hyperparameters; ``validate_args`` checks tensor values."""
    input = check_input(input, groups, validate_args)
    n, c = input.shape
    x = input.to(compute_dtype(input))
    y, valid = parse_target(
        target, groups, num_samples=n, num_labels=c, ignore_index=ignore_index, dtype=x.dtype,
        validate_args=validate_args,
    )  # fmt: skip
    if groups is None:
        p, mask = torch.sigmoid(x), valid.to(x.dtype)
    else:
        p = grouped_softmax(x, groups, validate_args=False)
        labelled = valid.to(x.dtype)  # (N, G), repeated over each group's attributes:
        mask = torch.cat([labelled[:, g : g + 1].expand(-1, k) for g, k in enumerate(groups.sizes)], 1)
    p, y = p * mask, y * mask  # missing labels are left out of the sums
    sum_p, sum_t = p.sum(0), y.sum(0)
    intersection = 0.5 * (sum_p + sum_t - (p - y).abs().sum(0))
    denominator = (0.5 * (sum_p + sum_t) + smooth).clamp(min=eps)
    present = (sum_t > 0).to(x.dtype)
    loss = (1.0 - (intersection + smooth) / denominator) * present
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / present.sum().clamp(min=1)


def dice_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    groups: AttributeGroups | None = None,
    *,
    smooth: float = 1.0,
    eps: float = 1e-7,
    ignore_index: int = -100,
    reduction: str = "mean",
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Soft Dice loss per attribute, aggregated over the batch (segmentation-models-pytorch style).

    With probabilities :math:`p` (sigmoid, or softmax per group when ``groups`` is given) and
    targets :math:`t`, summed over the batch for each attribute :math:`c`:

    .. math::
        I_c = \tfrac12 \Big(\sum_n p_{nc} + \sum_n t_{nc} - \sum_n |p_{nc} - t_{nc}|\Big), \qquad
        \ell_c = 1 - \frac{I_c + s}{\max\big(\tfrac12 (\sum_n p_{nc} + \sum_n t_{nc}) + s,\ \epsilon\big)}

    :math:`I_c = \sum_n p_{nc} t_{nc}` for hard targets; the L1 form makes it exact for soft
    targets too (mixup). Missing labels (``ignore_index``, or an all-zero soft segment) are left
    out of the sums.

    **Attributes absent from the batch** (:math:`\sum_n t_{nc} = 0`) get loss 0 and no gradient,
    and are *left out of the mean*: ``"mean"`` averages over the attributes present in the batch
    (0 if none is), so the loss scale does not drift with how many rare attributes a batch
    happens to contain. (smp keeps them in the mean as zeros; its mean over ``C`` equals this
    ``"sum"`` divided by ``C``.) Without this rule the smoothing term would push the probability
    of every absent, typically rare, attribute down.

    Args:
        input: Logits ``(N, C)``.
        target: Sigmoid form: multi-hot or soft ``(N, C)``. Grouped form: hard ``(N, G)`` or soft
            ``(N, C)``.
        groups: ``None`` for sigmoid probabilities, or the layout for grouped-softmax ones.
        smooth: Additive smoothing :math:`s \ge 0` of numerator and denominator.
        eps: Lower clamp :math:`\epsilon > 0` of the denominator.
        ignore_index: Target value marking a missing label.
        reduction: ``"none"`` (per-attribute ``(C,)``, absent attributes 0), ``"sum"``, or
            ``"mean"`` over the present attributes.
        validate_args: Check the values of the tensors, as :func:`asymmetric_loss` does.

    Returns:
        The loss: scalar, or ``(C,)`` for ``"none"``.

    Raises:
        ValueError: For bad shapes, target values or hyperparameters, or (with
            ``validate_args``) a NaN or infinite logit.

    Shape:
        - input: ``(N, C)``
        - target: ``(N, C)``, or ``(N, G)`` integer indices when ``groups`` is given
        - output: scalar, or ``(C,)`` for ``reduction="none"``

    Example:
        >>> import torch
        >>> from imbalml.functional import dice_loss
        >>> x = torch.tensor([[0.0, 2.0, -1.0], [3.0, -2.0, 0.5]])
        >>> y = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 1.0]])
        >>> dice_loss(x, y, reduction="none")  # the middle attribute is absent
        tensor([0.1004, 0.0000, 0.1661])
        >>> dice_loss(x, y)  # mean over the 2 present attributes
        tensor(0.1333)
    """
    groups = check_loss_options(groups, ignore_index, reduction)
    check_dice_options(smooth, eps)
    return dice(
        input, target, groups, smooth=smooth, eps=eps, ignore_index=ignore_index,
        reduction=reduction, validate_args=validate_args,
    )  # fmt: skip
