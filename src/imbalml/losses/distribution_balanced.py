"""``DistributionBalancedLoss``: the module around :func:`imbalml.functional.distribution_balanced_loss`."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from imbalml._validation import check_int, check_reduction
from imbalml.functional.losses.distribution_balanced import (
    _check_db_options,
    _check_db_statistics,
    _db_loss,
    distribution_balanced_loss,
)

__all__ = ["DistributionBalancedLoss"]


class DistributionBalancedLoss(nn.Module):
    r"""Distribution-balanced loss (Wu et al., ECCV 2020) for long-tailed plain multi-label data.

    See :func:`imbalml.functional.distribution_balanced_loss` for the formulas and the defaults
    (the DB configuration of the authors' repository). The training statistics are checked once
    here and kept as a float32 buffer ``counts`` (it moves with ``.to(device)``).

    Args:
        counts: Training positives per label ``(C,)``, each in ``(0, num_samples)``, or a
            :class:`~imbalml.LabelCounts` (which carries ``num_samples`` too).
        num_samples: Number of training samples (not needed with a ``LabelCounts``).
        alpha: Lift of the smoothed re-balancing weight.
        beta: Slope of the smoothing sigmoid.
        mu: Centre of the smoothing sigmoid.
        neg_scale: Negative-tolerant scale :math:`\lambda > 0`.
        init_bias: Scale :math:`\kappa` of the class-specific prior bias.
        gamma: Focal exponent (0: no focal factor).
        balance: Constant factor of the loss.
        ignore_index: Target value of a missing label.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        validate_args: Check the tensors of each call.

    Raises:
        ValueError: For out-of-range hyperparameters or counts.

    Shape:
        - input: ``(N, C)`` logits
        - target: ``(N, C)`` multi-hot
        - output: scalar, or ``(N,)`` for ``reduction="none"``

    Example:
        >>> import torch
        >>> from imbalml import DistributionBalancedLoss
        >>> loss = DistributionBalancedLoss(torch.tensor([40, 10, 5]), num_samples=100)
        >>> value = loss(torch.zeros(2, 3, requires_grad=True), torch.tensor([[1, 0, 0], [0, 1, 1]]))
        >>> value.backward()
        >>> value.shape
        torch.Size([])
    """

    counts: torch.Tensor

    def __init__(
        self,
        counts: Any,
        num_samples: int | None = None,
        *,
        alpha: float = 0.1,
        beta: float = 10.0,
        mu: float = 0.2,
        neg_scale: float = 2.0,
        init_bias: float = 0.05,
        gamma: float = 2.0,
        balance: float = 2.0,
        ignore_index: int = -100,
        reduction: str = "mean",
        validate_args: bool = True,
    ) -> None:
        super().__init__()
        _check_db_options(alpha, beta, mu, neg_scale, init_bias, gamma, balance)
        counts, self.num_samples = _check_db_statistics(counts, num_samples)
        self.register_buffer("counts", counts.detach().clone().float())
        self.alpha, self.beta, self.mu = float(alpha), float(beta), float(mu)
        self.neg_scale, self.init_bias = float(neg_scale), float(init_bias)
        self.gamma, self.balance = float(gamma), float(balance)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.reduction = check_reduction(reduction)
        self.validate_args = bool(validate_args)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of logits ``input`` against multi-hot ``target``."""
        if self.validate_args:
            return distribution_balanced_loss(
                input, target, counts=self.counts, num_samples=self.num_samples, alpha=self.alpha,
                beta=self.beta, mu=self.mu, neg_scale=self.neg_scale, init_bias=self.init_bias,
                gamma=self.gamma, balance=self.balance, ignore_index=self.ignore_index,
                reduction=self.reduction, validate_args=True,
            )
        return _db_loss(
            input, target, self.counts, self.num_samples, alpha=self.alpha, beta=self.beta,
            mu=self.mu, neg_scale=self.neg_scale, init_bias=self.init_bias, gamma=self.gamma,
            balance=self.balance, ignore_index=self.ignore_index, reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        """The hyperparameters."""
        return (
            f"num_labels={self.counts.shape[0]}, num_samples={self.num_samples}, alpha={self.alpha}, "
            f"beta={self.beta}, mu={self.mu}, neg_scale={self.neg_scale}, init_bias={self.init_bias}, "
            f"gamma={self.gamma}, balance={self.balance}, reduction={self.reduction!r}"
        )
