"""``nn.Module`` losses: hyperparameters (and weight/prior buffers) around the functional losses.

Each module validates its hyperparameters once, in ``__init__``, and its ``forward(input,
target)`` calls the matching function of :mod:`imbalml.functional`; nothing from a batch is
kept on the module.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from imbalml._validation import (
    as_tensor,
    check_choice,
    check_groups,
    check_int,
    check_number,
    check_optional_groups,
    check_reduction,
)
from imbalml.functional.losses import (
    GROUP_REDUCTIONS,
    _check_asl_hyper,
    _check_attribute_vector,
    asymmetric_loss,
    dice_loss,
    focal_loss,
    grouped_cross_entropy,
    logit_adjusted_cross_entropy,
)
from imbalml.groups import AttributeGroups

__all__ = [
    "AsymmetricLoss",
    "DiceLoss",
    "FocalLoss",
    "GroupedCrossEntropyLoss",
    "LogitAdjustedCrossEntropyLoss",
    "WeightedCrossEntropyLoss",
]


def _attribute_buffer(
    value: Any, name: str, groups: AttributeGroups | None, *, positive: bool
) -> torch.Tensor | None:
    """A checked float32 copy of a per-attribute ``(C,)`` vector (``None`` stays ``None``).

    Without ``groups`` the length is only checked to be 1-D here; the loss checks it against
    the logits at each call.
    """
    if value is None:
        return None
    if groups is None:
        tensor = as_tensor(value, name)
        size = tensor.shape[0] if tensor.ndim == 1 else -1
        names = None
    else:
        size, names = groups.num_attributes, groups.attribute_names
    if size < 0:
        raise ValueError(f"Expected `{name}` of shape (C,), but got {tuple(tensor.shape)}.")
    value = _check_attribute_vector(value, name, size, positive=positive, attribute_names=names)
    return value.detach().clone().float()


class _LabelWeighted(nn.Module):
    """Shared ``weight`` / ``pos_weight`` buffers of the sigmoid-or-grouped losses."""

    weight: torch.Tensor | None
    pos_weight: torch.Tensor | None

    def _register_label_weights(
        self, groups: AttributeGroups | None, weight: Any, pos_weight: Any
    ) -> None:
        self.register_buffer("weight", _attribute_buffer(weight, "weight", groups, positive=False))
        self.register_buffer(
            "pos_weight", _attribute_buffer(pos_weight, "pos_weight", groups, positive=False)
        )


class AsymmetricLoss(_LabelWeighted):
    r"""Asymmetric loss (ASL) on sigmoid (``groups=None``) or grouped-softmax probabilities.

    See :func:`imbalml.functional.asymmetric_loss` for the formula, the numerics and the target
    forms. The fashion report's setting is ``AsymmetricLoss(groups, gamma_pos=1, gamma_neg=4,
    clip=0.05, detach_focal_weight=True)``; the ASL paper's is ``gamma_pos=0`` with
    ``groups=None``; ``reduction="sum"`` reproduces the reference implementations' sum.

    Args:
        groups: ``None`` for the sigmoid form, or the label layout for the grouped form.
        gamma_pos: Focusing exponent of positives, ``>= 0``.
        gamma_neg: Focusing exponent of negatives, ``>= 0``.
        clip: Probability margin shifted off the negatives, in ``[0, 1)``.
        eps: Lower clamp of the probabilities inside the logs, in ``[0, 1)``.
        weight: Per-label weights ``(C,)`` of the loss, as in BCE (a float32 buffer).
        pos_weight: Per-label weights ``(C,)`` of the positive term, as in BCE (a buffer).
        detach_focal_weight: Treat the focusing weight as a constant.
        ignore_index: Target value marking a missing label.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        validate_args: Check tensors at each call.

    Raises:
        ValueError: For out-of-range hyperparameters.
        TypeError: For a ``groups`` that is not an AttributeGroups.

    Shape:
        - input: ``(N, C)`` logits
        - target: ``(N, C)``, or ``(N, G)`` integer indices with ``groups``
        - output: scalar, or ``(N, C)`` for ``reduction="none"``

    Example:
        >>> import torch
        >>> from imbalml import AsymmetricLoss, AttributeGroups
        >>> groups = AttributeGroups([7, 3, 3, 4, 6, 3])
        >>> criterion = AsymmetricLoss(groups, detach_focal_weight=True)
        >>> logits = torch.zeros(2, 26, requires_grad=True)
        >>> loss = criterion(logits, torch.tensor([[5, 2, 2, 3, 2, 2], [0, 0, 0, 0, 0, 0]]))
        >>> loss.backward()
        >>> round(loss.item(), 4)
        0.2466
        >>> sigmoid = AsymmetricLoss(gamma_pos=0.0, pos_weight=torch.tensor([4.0, 1.0]))
        >>> sigmoid(torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]))
        tensor(1.3986)
    """

    def __init__(
        self,
        groups: AttributeGroups | None = None,
        *,
        gamma_pos: float = 1.0,
        gamma_neg: float = 4.0,
        clip: float = 0.05,
        eps: float = 1e-8,
        weight: Any = None,
        pos_weight: Any = None,
        detach_focal_weight: bool = False,
        ignore_index: int = -100,
        reduction: str = "mean",
        validate_args: bool = True,
    ) -> None:
        super().__init__()
        self.groups = check_optional_groups(groups)
        self._register_label_weights(self.groups, weight, pos_weight)
        self.gamma_pos = check_number(gamma_pos, "gamma_pos", low=0.0)
        self.gamma_neg = check_number(gamma_neg, "gamma_neg", low=0.0)
        self.clip = check_number(clip, "clip", low=0.0, high=1.0, high_inclusive=False)
        self.eps = check_number(eps, "eps", low=0.0, high=1.0, high_inclusive=False)
        self.detach_focal_weight = bool(detach_focal_weight)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.reduction = check_reduction(reduction)
        self.validate_args = bool(validate_args)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Return the loss of logits ``input`` against ``target``."""
        return asymmetric_loss(
            input,
            target,
            self.groups,
            gamma_pos=self.gamma_pos,
            gamma_neg=self.gamma_neg,
            clip=self.clip,
            eps=self.eps,
            weight=self.weight,
            pos_weight=self.pos_weight,
            detach_focal_weight=self.detach_focal_weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        """Show the hyperparameters in ``print(module)``."""
        return (
            f"groups={self.groups!r}, gamma_pos={self.gamma_pos:g}, gamma_neg={self.gamma_neg:g}, "
            f"clip={self.clip:g}, eps={self.eps:g}, detach_focal_weight={self.detach_focal_weight}, "
            f"weighted={self.weight is not None}, pos_weighted={self.pos_weight is not None}, "
            f"reduction={self.reduction!r}"
        )


class FocalLoss(_LabelWeighted):
    r"""Focal loss (Lin et al. 2017) on sigmoid or grouped-softmax probabilities.

    See :func:`imbalml.functional.focal_loss`: :class:`AsymmetricLoss` with
    ``gamma_pos = gamma_neg = gamma`` and no clip; with ``groups=None`` and ``eps=0`` it equals
    ``torchvision.ops.sigmoid_focal_loss(alpha=-1)``, and with ``gamma=0`` it is BCE with
    logits (``weight`` and ``pos_weight`` as there).

    Args:
        groups: ``None`` for the sigmoid form, or the label layout for the grouped form.
        gamma: Focusing exponent, ``>= 0``.
        eps: Lower clamp of the probabilities inside the logs, in ``[0, 1)``.
        weight: Per-label weights ``(C,)`` of the loss (a float32 buffer).
        pos_weight: Per-label weights ``(C,)`` of the positive term (a buffer).
        detach_focal_weight: Treat the focusing weight as a constant.
        ignore_index: Target value marking a missing label.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        validate_args: Check tensors at each call.

    Raises:
        ValueError: For out-of-range hyperparameters or weights.
        TypeError: For a ``groups`` that is not an AttributeGroups.

    Shape:
        - input: ``(N, C)`` logits
        - target: ``(N, C)``, or ``(N, G)`` integer indices with ``groups``
        - output: scalar, or ``(N, C)`` for ``reduction="none"``

    Example:
        >>> import torch
        >>> from imbalml import FocalLoss
        >>> criterion = FocalLoss(gamma=2.0)
        >>> criterion(torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]]))
        tensor(0.9117)
    """

    def __init__(
        self,
        groups: AttributeGroups | None = None,
        *,
        gamma: float = 2.0,
        eps: float = 0.0,
        weight: Any = None,
        pos_weight: Any = None,
        detach_focal_weight: bool = False,
        ignore_index: int = -100,
        reduction: str = "mean",
        validate_args: bool = True,
    ) -> None:
        super().__init__()
        self.groups = check_optional_groups(groups)
        _check_asl_hyper(gamma, gamma, 0.0, eps)
        self.gamma = float(gamma)
        self.eps = float(eps)
        self._register_label_weights(self.groups, weight, pos_weight)
        self.detach_focal_weight = bool(detach_focal_weight)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.reduction = check_reduction(reduction)
        self.validate_args = bool(validate_args)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Return the loss of logits ``input`` against ``target``."""
        return focal_loss(
            input,
            target,
            self.groups,
            gamma=self.gamma,
            eps=self.eps,
            weight=self.weight,
            pos_weight=self.pos_weight,
            detach_focal_weight=self.detach_focal_weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        """Show the hyperparameters in ``print(module)``."""
        return (
            f"groups={self.groups!r}, gamma={self.gamma:g}, eps={self.eps:g}, "
            f"weighted={self.weight is not None}, pos_weighted={self.pos_weight is not None}, "
            f"reduction={self.reduction!r}"
        )


class DiceLoss(nn.Module):
    r"""Soft Dice loss per attribute over the batch; see :func:`imbalml.functional.dice_loss`.

    Attributes absent from a batch get loss 0 and are left out of the mean.

    Args:
        groups: ``None`` for sigmoid probabilities, or the layout for grouped-softmax ones.
        smooth: Additive smoothing, ``>= 0``.
        eps: Lower clamp of the denominator, ``> 0``.
        ignore_index: Target value marking a missing label.
        reduction: ``"mean"`` (over present attributes), ``"sum"`` or ``"none"`` (``(C,)``).
        validate_args: Check tensors at each call.

    Raises:
        ValueError: For out-of-range hyperparameters.

    Shape:
        - input: ``(N, C)`` logits
        - target: ``(N, C)``, or ``(N, G)`` integer indices with ``groups``
        - output: scalar, or ``(C,)`` for ``reduction="none"``

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, DiceLoss
        >>> criterion = DiceLoss(AttributeGroups([2, 3]))
        >>> criterion(torch.zeros(4, 5), torch.tensor([[0, 1], [1, 1], [0, 2], [0, 0]]))
        tensor(0.3660)
    """

    def __init__(
        self,
        groups: AttributeGroups | None = None,
        *,
        smooth: float = 1.0,
        eps: float = 1e-7,
        ignore_index: int = -100,
        reduction: str = "mean",
        validate_args: bool = True,
    ) -> None:
        super().__init__()
        self.groups = check_optional_groups(groups)
        self.smooth = check_number(smooth, "smooth", low=0.0)
        self.eps = check_number(eps, "eps", low=0.0, low_inclusive=False)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.reduction = check_reduction(reduction)
        self.validate_args = bool(validate_args)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Return the loss of logits ``input`` against ``target``."""
        return dice_loss(
            input,
            target,
            self.groups,
            smooth=self.smooth,
            eps=self.eps,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        """Show the hyperparameters in ``print(module)``."""
        return f"groups={self.groups!r}, smooth={self.smooth:g}, reduction={self.reduction!r}"


class GroupedCrossEntropyLoss(nn.Module):
    r"""Cross-entropy per attribute group, optionally with per-attribute weights (a buffer).

    See :func:`imbalml.functional.grouped_cross_entropy`: for hard targets each group's term is
    ``F.cross_entropy(..., weight=weight_g)`` with torch's (weighted) mean; the group terms are
    summed (``group_reduction="sum"``) by default.

    Args:
        groups: The label layout.
        weight: Per-attribute weights ``(C,)``, ``>= 0`` (e.g. :func:`imbalml.class_weights`), or
            ``None``; stored as a float32 buffer, so it follows ``.to(device)`` and the
            ``state_dict``.
        label_smoothing: In ``[0, 1]``, spread uniformly within each group.
        ignore_index: Hard-target value marking a missing label.
        group_reduction: ``"sum"``, ``"mean"`` or ``"none"`` over groups.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` over samples.
        validate_args: Check tensors at each call.

    Raises:
        ValueError: For a ``weight`` of the wrong shape or with negative entries, or invalid
            options.

    Shape:
        - input: ``(N, C)`` logits
        - target: ``(N, G)`` integer or ``(N, C)`` soft
        - output: see :func:`imbalml.functional.grouped_cross_entropy`

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, GroupedCrossEntropyLoss
        >>> criterion = GroupedCrossEntropyLoss(AttributeGroups([2, 3]))
        >>> criterion(torch.zeros(2, 5), torch.tensor([[0, 2], [1, 0]]))
        tensor(1.7918)
    """

    weight: torch.Tensor | None

    def __init__(
        self,
        groups: AttributeGroups,
        *,
        weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_index: int = -100,
        group_reduction: str = "sum",
        reduction: str = "mean",
        validate_args: bool = True,
    ) -> None:
        super().__init__()
        self.groups = check_groups(groups)
        self.register_buffer("weight", _attribute_buffer(weight, "weight", groups, positive=False))
        self.label_smoothing = check_number(label_smoothing, "label_smoothing", low=0.0, high=1.0)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.group_reduction = check_choice(group_reduction, "group_reduction", GROUP_REDUCTIONS)
        self.reduction = check_reduction(reduction)
        self.validate_args = bool(validate_args)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Return the loss of logits ``input`` against ``target``."""
        return grouped_cross_entropy(
            input,
            target,
            self.groups,
            weight=self.weight,
            label_smoothing=self.label_smoothing,
            ignore_index=self.ignore_index,
            group_reduction=self.group_reduction,
            reduction=self.reduction,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        """Show the hyperparameters in ``print(module)``."""
        return (
            f"groups={self.groups!r}, weighted={self.weight is not None}, "
            f"label_smoothing={self.label_smoothing:g}, group_reduction={self.group_reduction!r}, "
            f"reduction={self.reduction!r}"
        )


class WeightedCrossEntropyLoss(GroupedCrossEntropyLoss):
    r""":class:`~imbalml.GroupedCrossEntropyLoss` with required per-attribute weights ``(C,)``.

    See :func:`imbalml.functional.weighted_cross_entropy`. Arguments are those of
    :class:`~imbalml.GroupedCrossEntropyLoss`, except that ``weight`` must be given.

    Raises:
        TypeError: If ``weight`` is ``None``.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, WeightedCrossEntropyLoss, class_weights
        >>> groups = AttributeGroups([2, 3])
        >>> weight = class_weights(torch.tensor([30, 10, 5, 5, 10]), groups)
        >>> criterion = WeightedCrossEntropyLoss(groups, weight=weight)
        >>> criterion(torch.zeros(2, 5), torch.tensor([[0, 2], [1, 0]]))
        tensor(1.7918)
    """

    def __init__(
        self,
        groups: AttributeGroups,
        *,
        weight: Any,
        label_smoothing: float = 0.0,
        ignore_index: int = -100,
        group_reduction: str = "sum",
        reduction: str = "mean",
        validate_args: bool = True,
    ) -> None:
        if weight is None:
            raise TypeError(
                "Expected `weight` to be a (C,) tensor of per-attribute weights, but got None "
                "(use GroupedCrossEntropyLoss for the unweighted loss)."
            )
        super().__init__(groups, weight=weight, label_smoothing=label_smoothing, ignore_index=ignore_index, group_reduction=group_reduction, reduction=reduction, validate_args=validate_args)  # fmt: skip


class LogitAdjustedCrossEntropyLoss(nn.Module):
    r"""Logit-adjusted cross-entropy (Menon et al. 2021) per attribute group; priors are a buffer.

    See :func:`imbalml.functional.logit_adjusted_cross_entropy`. Train with this loss and
    evaluate the raw logits; ``tau=1`` with count priors is Balanced Softmax.

    Args:
        groups: The label layout.
        priors: Per-attribute priors ``(C,)``, ``> 0`` (e.g. :func:`imbalml.class_priors`);
            stored as a float32 buffer.
        tau: Adjustment strength, ``>= 0``.
        weight: Optional per-attribute weights ``(C,)`` (a buffer).
        label_smoothing: In ``[0, 1]``, spread uniformly within each group.
        ignore_index: Hard-target value marking a missing label.
        group_reduction: ``"sum"``, ``"mean"`` or ``"none"`` over groups.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` over samples.
        validate_args: Check tensors at each call.

    Raises:
        ValueError: For priors of the wrong shape or with a non-positive entry, or invalid
            options.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, LogitAdjustedCrossEntropyLoss, class_priors
        >>> groups = AttributeGroups([2, 3])
        >>> priors = class_priors(torch.tensor([30, 10, 5, 5, 10]), groups)
        >>> criterion = LogitAdjustedCrossEntropyLoss(groups, priors=priors)
        >>> criterion(torch.zeros(2, 5), torch.tensor([[0, 2], [1, 0]]))
        tensor(1.8767)
    """

    priors: torch.Tensor
    weight: torch.Tensor | None

    def __init__(
        self,
        groups: AttributeGroups,
        *,
        priors: Any,
        tau: float = 1.0,
        weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_index: int = -100,
        group_reduction: str = "sum",
        reduction: str = "mean",
        validate_args: bool = True,
    ) -> None:
        super().__init__()
        self.groups = check_groups(groups)
        self.register_buffer("priors", _attribute_buffer(priors, "priors", groups, positive=True))
        self.tau = check_number(tau, "tau", low=0.0)
        self.register_buffer("weight", _attribute_buffer(weight, "weight", groups, positive=False))
        self.label_smoothing = check_number(label_smoothing, "label_smoothing", low=0.0, high=1.0)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.group_reduction = check_choice(group_reduction, "group_reduction", GROUP_REDUCTIONS)
        self.reduction = check_reduction(reduction)
        self.validate_args = bool(validate_args)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Return the loss of logits ``input`` against ``target``."""
        return logit_adjusted_cross_entropy(
            input,
            target,
            self.groups,
            priors=self.priors,
            tau=self.tau,
            weight=self.weight,
            label_smoothing=self.label_smoothing,
            ignore_index=self.ignore_index,
            group_reduction=self.group_reduction,
            reduction=self.reduction,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        """Show the hyperparameters in ``print(module)``."""
        return (
            f"groups={self.groups!r}, tau={self.tau:g}, weighted={self.weight is not None}, "
            f"reduction={self.reduction!r}"
        )
