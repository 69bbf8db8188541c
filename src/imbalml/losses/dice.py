"""``DiceLoss``: the module around :func:`imbalml.functional.dice_loss`."""

from __future__ import annotations

import torch

from imbalml.functional.losses.dice import check_dice_options, dice
from imbalml.groups import AttributeGroups
from imbalml.losses._base import _LossModule

__all__ = ["DiceLoss"]


class DiceLoss(_LossModule):
    r"""Soft Dice loss per attribute over the batch; see :func:`imbalml.functional.dice_loss`.

    Attributes absent from a batch get loss 0 and are left out of the mean.

    Args:
        groups: ``None`` for sigmoid probabilities, or the layout for grouped-softmax ones.
        smooth: Additive smoothing, ``>= 0``.
        eps: Lower clamp of the denominator, ``> 0``.
        ignore_index: Target value marking a missing label.
        reduction: ``"mean"`` (over present attributes), ``"sum"`` or ``"none"`` (``(C,)``).
        validate_args: Check the values of the tensors of each call.

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
        super().__init__(groups, ignore_index, reduction, validate_args, optional=True)
        check_dice_options(smooth, eps)
        self.smooth, self.eps = float(smooth), float(eps)

    _shown = ("smooth", "eps")

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Return the loss of logits ``input`` against ``target``."""
        return dice(
            input, target, self.groups, smooth=self.smooth, eps=self.eps,
            ignore_index=self.ignore_index, reduction=self.reduction,
            validate_args=self.validate_args,
        )  # fmt: skip
