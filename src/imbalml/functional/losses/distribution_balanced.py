r"""The distribution-balanced loss of Wu et al. (ECCV 2020) for long-tailed plain multi-label data.

T. Wu, Q. Huang, Z. Liu, Y. Wang, D. Lin, "Distribution-Balanced Loss for Multi-Label
Classification in Long-Tailed Datasets", ECCV 2020. Two parts on top of sigmoid BCE:

* **Re-balanced weighting.** Class-aware resampling draws a sample of label :math:`c` with
  probability :math:`P^C_c \propto 1 / n_c`, while a sample with several labels is drawn through
  each of them, :math:`P^I_n \propto \sum_{j \in Y_n} 1 / n_j`. Their ratio
  :math:`r_{nc} = (1 / n_c) / \sum_{j \in Y_n} (1 / n_j)` is smoothed into the weight
  :math:`\hat r_{nc} = \alpha + \sigma(\beta (r_{nc} - \mu))` of every label (positive and
  negative) of sample :math:`n`.
* **Negative-tolerant regularisation.** The logit is shifted by a class-specific prior bias,
  :math:`z' = z + \kappa \log \frac{p_c}{1 - p_c}` with the class prior
  :math:`p_c = n_c / N` (``init_bias`` :math:`= \kappa`), and the negatives' loss is sharpened
  and scaled down by :math:`\lambda` (``neg_scale``):

  .. math::
      \ell_{nc} = \hat r_{nc} \left[ y \log(1 + e^{-z'}) + \frac{1 - y}{\lambda}
      \log(1 + e^{\lambda z'}) \right]

* Optionally (the published DB configuration), a focal factor :math:`b (1 - p_t)^\gamma` with
  :math:`p_t = e^{-\mathrm{bce}}` of the same regularised logit, ``balance`` :math:`= b`.

The defaults are those of the DB configuration of the authors' repository
(``wutong16/DistributionBalancedLoss``, ``ResampleLoss`` with ``reweight_func="rebalance"``):
``alpha=0.1, beta=10, mu=0.2`` (``map_param``), ``neg_scale=2, init_bias=0.05``
(``logit_reg``), focal on with ``gamma=2, balance=2``. ``gamma=0, balance=1`` is the loss without
the focal factor. Where it differs from the repository (see the docs page of the plain
multi-label example): the reduction (imbalml's one meaning: ``"mean"`` is the per-label mean over
labelled samples summed over labels, the repository's ``loss.mean()`` times ``C``); missing labels
(``ignore_index``) contribute nothing; a sample without any positive label (where :math:`r` is
undefined, the repository divides by zero) gets the limit weight :math:`1 + \alpha`; the prior bias
is :math:`+\kappa \operatorname{logit}(p_c)` as in the repository's ``ResampleLoss`` (read in a
maintained derivative, with the fix of the repository's issue 8), which lowers the initial
probability of rare labels.

Everything is plain PyTorch in log-space (``logsigmoid``); autograd differentiates it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from imbalml._validation import (
    as_tensor,
    check_int,
    check_multi_hot,
    check_number,
    check_reduction,
)
from imbalml.data.stats import LabelCounts
from imbalml.functional.losses._common import reduce

__all__ = ["distribution_balanced_loss"]


def _check_db_options(
    alpha: Any, beta: Any, mu: Any, neg_scale: Any, init_bias: Any, gamma: Any, balance: Any
) -> None:
    """Range-check the hyperparameters of the distribution-balanced loss."""
    check_number(alpha, "alpha", low=0.0)
    check_number(beta, "beta", low=0.0)
    check_number(mu, "mu")
    check_number(neg_scale, "neg_scale", low=0.0, low_inclusive=False)
    check_number(init_bias, "init_bias")
    check_number(gamma, "gamma", low=0.0)
    check_number(balance, "balance", low=0.0, low_inclusive=False)


def _check_db_statistics(counts: Any, num_samples: Any) -> tuple[torch.Tensor, int]:
    """``counts`` as a 1-D float tensor with ``0 < counts < num_samples``, and ``num_samples``.

    A :class:`~imbalml.LabelCounts` gives both (its ``positives`` and ``num_samples``).
    """
    if isinstance(counts, LabelCounts):
        if num_samples is not None and num_samples != counts.num_samples:
            raise ValueError(
                f"Expected `num_samples` None or {counts.num_samples} (the LabelCounts' own), "
                f"but got {num_samples}."
            )
        counts, num_samples = counts.positives, counts.num_samples
    num_samples = check_int(num_samples, "num_samples", low=2)
    counts = as_tensor(counts, "counts")
    if counts.ndim != 1 or counts.numel() == 0:
        raise ValueError(
            "Expected `counts` of shape (C,), the training positives of each label, but got "
            f"shape {tuple(counts.shape)}."
        )
    if counts.is_complex() or counts.dtype == torch.bool:
        raise TypeError(f"Expected `counts` with real values, but got dtype {counts.dtype}.")
    bad = ~((counts > 0) & (counts < num_samples))
    if bool(bad.any()):
        where = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"Expected every `counts` entry in (0, num_samples) = (0, {num_samples}) (the class prior "
            f"must be strictly between 0 and 1), but got {counts[where].item():g} at index {where}."
        )
    return counts, num_samples


def _db_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    counts: torch.Tensor,
    num_samples: int,
    *,
    alpha: float,
    beta: float,
    mu: float,
    neg_scale: float,
    init_bias: float,
    gamma: float,
    balance: float,
    ignore_index: int | None,
    reduction: str,
) -> torch.Tensor:
    """The loss on checked arguments (no host reads)."""
    dtype = torch.float64 if input.dtype == torch.float64 else torch.float32
    x = input.to(dtype)
    target = target.to(x.device)
    labelled = torch.ones_like(x, dtype=torch.bool)
    if ignore_index is not None and target.dtype != torch.bool:
        labelled = target != ignore_index
    positive = (target == 1) & labelled
    n_c = counts.to(device=x.device, dtype=dtype)
    # Re-balanced weighting: r = (1 / n_c) / sum_{j in Y_n} 1 / n_j, smoothed.
    inverse = 1.0 / n_c
    repeat = (positive.to(dtype) * inverse).sum(dim=1, keepdim=True)
    has_positive = repeat > 0
    ratio = inverse / torch.where(has_positive, repeat, torch.ones_like(repeat))
    weight = torch.where(
        has_positive,
        alpha + torch.sigmoid(beta * (ratio - mu)),
        torch.full_like(ratio, 1.0 + alpha),
    )
    # Negative-tolerant regularisation: prior-shifted logit, negatives sharpened by neg_scale.
    prior = n_c / num_samples
    shifted = x + init_bias * (torch.log(prior) - torch.log1p(-prior))
    bce_pos = -F.logsigmoid(shifted)
    bce_neg = -F.logsigmoid(-neg_scale * shifted)
    bce = torch.where(positive, bce_pos, bce_neg)
    scale = torch.where(positive, weight, weight / neg_scale)
    loss = scale * bce
    if gamma != 0.0:
        loss = loss * (-torch.expm1(-bce)) ** gamma
    loss = balance * loss
    loss = torch.where(labelled, loss, torch.zeros_like(loss))
    return reduce(loss, labelled.to(dtype), reduction)


def distribution_balanced_loss(
    input: Any,
    target: Any,
    *,
    counts: Any,
    num_samples: int | None = None,
    alpha: float = 0.1,
    beta: float = 10.0,
    mu: float = 0.2,
    neg_scale: float = 2.0,
    init_bias: float = 0.05,
    gamma: float = 2.0,
    balance: float = 2.0,
    ignore_index: int | None = -100,
    reduction: str = "mean",
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Distribution-balanced loss (Wu et al., ECCV 2020) on plain multi-label logits.

    See the module docstring for the formulas. The class statistics come from the training set:
    ``counts`` positives per label and ``num_samples`` training samples (the class prior is
    ``counts / num_samples``).

    Args:
        input: Logits ``(N, C)``.
        target: Multi-hot ``(N, C)`` labels (0/1, ``ignore_index`` for a missing label).
        counts: Training positives per label ``(C,)``, each in ``(0, num_samples)``, or a
            :class:`~imbalml.LabelCounts` (from :func:`imbalml.label_counts`), which carries
            ``num_samples`` too.
        num_samples: Number of training samples (not needed with a ``LabelCounts``).
        alpha: Lift of the smoothed re-balancing weight (:math:`\alpha`).
        beta: Slope of the smoothing sigmoid (:math:`\beta`).
        mu: Centre of the smoothing sigmoid (:math:`\mu`).
        neg_scale: Negative-tolerant scale :math:`\lambda > 0`.
        init_bias: Scale :math:`\kappa` of the class-specific prior bias.
        gamma: Focal exponent (0: no focal factor).
        balance: Constant factor of the loss (the repository's ``balance_param``).
        ignore_index: Target value of a missing label (contributes 0), or None.
        reduction: ``"mean"`` (per label the mean over labelled samples, summed over labels),
            ``"sum"`` or ``"none"`` (``(N,)``, each sample's loss summed over its labels).
        validate_args: Check hyperparameters, shapes and values (reads ``counts`` and ``target``
            back to the host); ``False`` checks nothing.

    Returns:
        The loss: a scalar, or ``(N,)`` for ``reduction="none"``.

    Raises:
        ValueError: If a shape, a target value, a count or a hyperparameter is invalid.
        TypeError: If a hyperparameter or ``input`` has the wrong type.

    Example:
        >>> import torch
        >>> from imbalml.functional import distribution_balanced_loss
        >>> logits = torch.tensor([[2.0, -1.0, 0.5], [-0.5, 1.5, -2.0]])
        >>> target = torch.tensor([[1, 0, 0], [0, 1, 1]])
        >>> counts = torch.tensor([40, 10, 5])
        >>> loss = distribution_balanced_loss(logits, target, counts=counts, num_samples=100)
        >>> loss.shape, bool(loss > 0)
        (torch.Size([]), True)
        >>> distribution_balanced_loss(logits, target, counts=counts, num_samples=100, reduction="none").shape
        torch.Size([2])
    """
    if validate_args:
        _check_db_options(alpha, beta, mu, neg_scale, init_bias, gamma, balance)
        check_reduction(reduction)
        counts, num_samples = _check_db_statistics(counts, num_samples)
        input = as_tensor(input, "input")
        if not input.is_floating_point():
            raise TypeError(f"Expected `input` logits with a floating dtype, but got {input.dtype}.")
        if input.ndim != 2:
            raise ValueError(f"Expected `input` of shape (N, C), but got {tuple(input.shape)}.")
        target = check_multi_hot(
            target, num_labels=input.shape[1], num_samples=input.shape[0], ignore_index=ignore_index
        )
        if counts.shape[0] != input.shape[1]:
            raise ValueError(
                f"Expected `counts` of shape (C,) = ({input.shape[1]},), one per label of `input`, "
                f"but got {tuple(counts.shape)}."
            )
    if not validate_args and isinstance(counts, LabelCounts):
        counts, num_samples = counts.positives, counts.num_samples
    if num_samples is None:
        raise TypeError(
            "Expected `num_samples` (the number of training samples) with `counts` given as a "
            "tensor, but got None; or pass the LabelCounts of imbalml.label_counts as `counts`."
        )
    return _db_loss(
        input, target, counts, num_samples, alpha=float(alpha), beta=float(beta), mu=float(mu),
        neg_scale=float(neg_scale), init_bias=float(init_bias), gamma=float(gamma),
        balance=float(balance), ignore_index=ignore_index, reduction=reduction,
    )
