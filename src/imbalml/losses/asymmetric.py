"""``AsymmetricLoss`` and ``FocalLoss``: modules around :func:`imbalml.functional.asymmetric_loss`."""

from __future__ import annotations

from typing import Any

import torch

from imbalml._validation import check_number
from imbalml.functional.losses._asymmetric_math import AsymmetricOptions
from imbalml.functional.losses.asymmetric import asymmetric, asymmetric_options
from imbalml.groups import AttributeGroups
from imbalml.losses._base import _LossModule

__all__ = ["AsymmetricLoss", "FocalLoss"]


class _LabelWeighted(_LossModule):
    """ASL and focal loss: ``weight`` / ``pos_weight`` buffers, the options as one tuple."""

    _loss_function = staticmethod(asymmetric)
    _arguments = ("_options", "weight", "pos_weight", "ignore_index", "reduction")
    weight: torch.Tensor | None
    pos_weight: torch.Tensor | None

    def _label_weights(self, weight: Any, pos_weight: Any) -> None:
        self._buffer("weight", weight)
        self._buffer("pos_weight", pos_weight)


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
        super().__init__(groups, ignore_index, reduction, validate_args, optional=True)
        self._label_weights(weight, pos_weight)
        options = asymmetric_options(gamma_pos, gamma_neg, clip, eps, detach_focal_weight, True)
        self.gamma_pos, self.gamma_neg, self.clip, self.eps, self.detach_focal_weight = options

    @property
    def _options(self) -> AsymmetricOptions:
        """The hyperparameters, as the loss function takes them."""
        return AsymmetricOptions(
            self.gamma_pos, self.gamma_neg, self.clip, self.eps, self.detach_focal_weight
        )

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
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        validate_args: Check tensors at each call.

    Raises:
        ValueError: For out-of-range hyperparameters or weights.
        TypeError: For a ``groups`` that is not an AttributeGroups.

    Shapes are those of :class:`AsymmetricLoss`.

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
        super().__init__(groups, ignore_index, reduction, validate_args, optional=True)
        self._label_weights(weight, pos_weight)
        self.gamma = check_number(gamma, "gamma", low=0.0)
        options = asymmetric_options(gamma, gamma, 0.0, eps, detach_focal_weight, True)
        self.eps, self.detach_focal_weight = options.eps, options.detach_focal_weight

    @property
    def _options(self) -> AsymmetricOptions:
        """The hyperparameters, as the loss function takes them."""
        return AsymmetricOptions(self.gamma, self.gamma, 0.0, self.eps, self.detach_focal_weight)

    _shown = ("gamma", "eps", "detach_focal_weight", "weight", "pos_weight")
