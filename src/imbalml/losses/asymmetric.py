"""``AsymmetricLoss`` and ``FocalLoss``: modules around :func:`imbalml.functional.asymmetric_loss`."""

from __future__ import annotations

from typing import Any

import torch

from imbalml._validation import check_number
from imbalml.functional.losses.asymmetric import asymmetric, check_asymmetric_options
from imbalml.groups import AttributeGroups
from imbalml.losses._base import _LossModule

__all__ = ["AsymmetricLoss", "FocalLoss"]


class _LabelWeighted(_LossModule):
    """ASL and focal loss: ``weight`` / ``pos_weight`` buffers and one ``forward``."""

    weight: torch.Tensor | None
    pos_weight: torch.Tensor | None
    gamma_pos: float
    gamma_neg: float
    clip: float
    eps: float
    detach_focal_weight: bool

    def _label_weights(self, weight: Any, pos_weight: Any) -> None:
        self._buffer("weight", weight)
        self._buffer("pos_weight", pos_weight)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Return the loss of logits ``input`` against ``target``."""
        return asymmetric(
            input, target, self.groups, gamma_pos=self.gamma_pos, gamma_neg=self.gamma_neg,
            clip=self.clip, eps=self.eps, detach_focal_weight=self.detach_focal_weight,
            weight=self.weight, pos_weight=self.pos_weight, ignore_index=self.ignore_index,
            reduction=self.reduction, validate_args=self.validate_args, check_weights=False,
        )  # fmt: skip


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
        pos_weight: Per-label weights ``(C,)`` of the positive term, as in BCE (a float32
            buffer; integers accepted).
        detach_focal_weight: Treat the focusing weight as a constant.
        ignore_index: Target value marking a missing label.
        reduction: ``"mean"`` (per label or group the mean over labelled samples, summed),
            ``"sum"`` or ``"none"`` (``(N,)``); see :func:`imbalml.functional.asymmetric_loss`.
        validate_args: Check the values of the tensors of each call, without a device
            synchronisation (see :func:`imbalml.functional.asymmetric_loss`).

    Raises:
        ValueError: For out-of-range hyperparameters or weights (checked once, here).
        TypeError: For a ``groups`` that is not an AttributeGroups.

    Shape:
        - input: ``(N, C)`` logits
        - target: ``(N, C)``, or ``(N, G)`` integer indices with ``groups``
        - output: scalar, or ``(N,)`` for ``reduction="none"``

    Example:
        >>> import torch
        >>> from imbalml import AsymmetricLoss, AttributeGroups
        >>> groups = AttributeGroups([7, 3, 3, 4, 6, 3])
        >>> criterion = AsymmetricLoss(groups, detach_focal_weight=True)
        >>> logits = torch.zeros(2, 26, requires_grad=True)
        >>> loss = criterion(logits, torch.tensor([[5, 2, 2, 3, 2, 2], [0, 0, 0, 0, 0, 0]]))
        >>> loss.backward()
        >>> round(loss.item(), 4)
        6.4121
        >>> sigmoid = AsymmetricLoss(gamma_pos=0.0, pos_weight=torch.tensor([4.0, 1.0]))
        >>> sigmoid(torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]))
        tensor(2.7971)
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
        super().__init__(groups, ignore_index, reduction, validate_args, optional=True)
        self._label_weights(weight, pos_weight)
        check_asymmetric_options(gamma_pos, gamma_neg, clip, eps)
        self.gamma_pos, self.gamma_neg = float(gamma_pos), float(gamma_neg)
        self.clip, self.eps = float(clip), float(eps)
        self.detach_focal_weight = bool(detach_focal_weight)

    _shown = (
        "gamma_pos",
        "gamma_neg",
        "clip",
        "eps",
        "detach_focal_weight",
        "weight",
        "pos_weight",
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
        reduction: ``"mean"``, ``"sum"`` or ``"none"``, as for :class:`AsymmetricLoss`.
        validate_args: Check the values of the tensors of each call.

    Raises:
        ValueError: For out-of-range hyperparameters or weights.
        TypeError: For a ``groups`` that is not an AttributeGroups.

    Shapes are those of :class:`AsymmetricLoss`.

    Example:
        >>> import torch
        >>> from imbalml import FocalLoss
        >>> criterion = FocalLoss(gamma=2.0)
        >>> criterion(torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]]))
        tensor(1.8234)
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
        super().__init__(groups, ignore_index, reduction, validate_args, optional=True)
        self._label_weights(weight, pos_weight)
        self.gamma = check_number(gamma, "gamma", low=0.0)
        check_asymmetric_options(gamma, gamma, 0.0, eps)
        self.gamma_pos = self.gamma_neg = self.gamma  # ASL with equal exponents and no clip
        self.clip, self.eps = 0.0, float(eps)
        self.detach_focal_weight = bool(detach_focal_weight)

    _shown = ("gamma", "eps", "detach_focal_weight", "weight", "pos_weight")
