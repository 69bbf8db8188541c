"""Cross-entropy modules around :mod:`imbalml.functional`'s grouped cross-entropy functions."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from imbalml._validation import check_number
from imbalml.functional.losses.cross_entropy import check_ce_options, grouped_ce, priors_of
from imbalml.groups import AttributeGroups
from imbalml.losses._base import _LossModule

__all__ = ["GroupedCrossEntropyLoss", "LogitAdjustedCrossEntropyLoss", "WeightedCrossEntropyLoss"]


class _GroupedCrossEntropy(_LossModule):
    """Options shared by the cross-entropy modules (checked once, here)."""

    weight: torch.Tensor | None
    groups: AttributeGroups
    _shown: ClassVar[tuple[str, ...]] = ("weight", "label_smoothing")

    def __init__(
        self, groups: Any, weight: Any, label_smoothing: Any, ignore_index: Any,
        reduction: str, validate_args: Any,
    ) -> None:  # fmt: skip
        super().__init__(groups, ignore_index, reduction, validate_args, optional=False)
        check_ce_options(groups, label_smoothing, ignore_index, reduction)
        self._buffer("weight", weight)
        self.label_smoothing = float(label_smoothing)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Return the loss of logits ``input`` against ``target``."""
        return grouped_ce(
            input, target, self.groups, weight=self.weight, label_smoothing=self.label_smoothing,
            ignore_index=self.ignore_index, reduction=self.reduction,
            validate_args=self.validate_args, check_weights=False,
        )  # fmt: skip


class GroupedCrossEntropyLoss(_GroupedCrossEntropy):
    r"""Cross-entropy per attribute group, optionally with per-attribute weights (a buffer).

    See :func:`imbalml.functional.grouped_cross_entropy`: for hard targets each group's term is
    ``F.cross_entropy(..., weight=weight_g)`` with torch's (weighted) mean; the group terms are
    summed (``"mean"``: one cross-entropy per group, added). ``reduction="none"`` gives ``(N,)``.

    Args:
        groups: The label layout.
        weight: Per-attribute weights ``(C,)``, ``>= 0`` (e.g. :func:`imbalml.class_weights`), or
            ``None``; stored as a float32 buffer, so it follows ``.to(device)`` and the
            ``state_dict``.
        label_smoothing: In ``[0, 1]``, spread uniformly within each group.
        ignore_index: Hard-target value marking a missing label.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``; see
            :func:`imbalml.functional.grouped_cross_entropy`.
        validate_args: Check the values of the tensors of each call.

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

    def __init__(
        self,
        groups: AttributeGroups,
        *,
        weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_index: int = -100,
        reduction: str = "mean",
        validate_args: bool = True,
    ) -> None:
        super().__init__(groups, weight, label_smoothing, ignore_index, reduction, validate_args)


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
        reduction: str = "mean",
        validate_args: bool = True,
    ) -> None:
        if weight is None:
            raise TypeError(
                "Expected `weight` to be a (C,) tensor of per-attribute weights, but got None "
                "(use GroupedCrossEntropyLoss for the unweighted loss)."
            )
        super().__init__(groups, weight=weight, label_smoothing=label_smoothing, ignore_index=ignore_index, reduction=reduction, validate_args=validate_args)  # fmt: skip


class LogitAdjustedCrossEntropyLoss(_GroupedCrossEntropy):
    r"""Logit-adjusted cross-entropy (Menon et al. 2021) per attribute group; priors are a buffer.

    See :func:`imbalml.functional.logit_adjusted_cross_entropy`. Train with this loss and
    evaluate the raw logits; ``tau=1`` with count priors is Balanced Softmax.

    Args:
        groups: The label layout.
        priors: Per-attribute priors ``(C,)``, ``> 0`` (e.g. :func:`imbalml.class_priors`), or
            counts (integers accepted: within a group the softmax ignores a constant, so
            counts give the loss of the per-group frequencies), or a :class:`~imbalml.LabelCounts`
            (from :func:`imbalml.label_counts`; its :func:`imbalml.class_priors` is used); stored as
            a float32 buffer.
        tau: Adjustment strength, ``>= 0``.
        weight: Optional per-attribute weights ``(C,)`` (a buffer).
        label_smoothing: In ``[0, 1]``, spread uniformly within each group.
        ignore_index: Hard-target value marking a missing label.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``; see
            :func:`imbalml.functional.grouped_cross_entropy`.
        validate_args: Check the values of the tensors of each call.

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
    _shown = ("tau", *_GroupedCrossEntropy._shown)

    def __init__(
        self,
        groups: AttributeGroups,
        *,
        priors: Any,
        tau: float = 1.0,
        weight: Any = None,
        label_smoothing: float = 0.0,
        ignore_index: int = -100,
        reduction: str = "mean",
        validate_args: bool = True,
    ) -> None:
        super().__init__(groups, weight, label_smoothing, ignore_index, reduction, validate_args)
        # counts accepted (integers too), and a LabelCounts (its imbalml.class_priors)
        self._buffer("priors", priors_of(priors), positive=True)
        self.tau = check_number(tau, "tau", low=0.0)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Return the loss of logits ``input`` against ``target``."""
        return grouped_ce(
            input, target, self.groups, weight=self.weight, label_smoothing=self.label_smoothing,
            ignore_index=self.ignore_index, reduction=self.reduction,
            validate_args=self.validate_args, check_weights=False,
            log_priors=self.tau * self.priors.log(),
        )  # fmt: skip
