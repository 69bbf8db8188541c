"""Cross-entropy per attribute group: weighted, logit-adjusted, and post-hoc logit adjustment."""

from __future__ import annotations

from typing import Any

import torch

from imbalml._layout_checks import check_groups, check_optional_groups, check_scores
from imbalml._validation import (
    as_tensor,
    check_choice,
    check_floating,
    check_number,
    first_true,
    position,
)
from imbalml.functional.grouped import grouped_log_softmax
from imbalml.functional.losses._common import (
    GROUP_REDUCTIONS,
    check_attribute_vector,
    check_loss_options,
    compute_dtype,
    grouped_args,
)
from imbalml.functional.losses._padded import group_sum
from imbalml.groups import AttributeGroups

__all__ = [
    "adjust_logits",
    "grouped_cross_entropy",
    "logit_adjusted_cross_entropy",
    "weighted_cross_entropy",
]


def check_ce_options(
    groups: Any, label_smoothing: Any, ignore_index: Any, group_reduction: Any, reduction: str
) -> AttributeGroups:
    """Check the options of the cross-entropy family; return ``groups``."""
    check_groups(groups)
    check_loss_options(groups, ignore_index, reduction, True)
    check_number(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    check_choice(group_reduction, "group_reduction", GROUP_REDUCTIONS)
    return groups


def _check_priors(priors: Any, groups: AttributeGroups) -> torch.Tensor:
    return check_attribute_vector(
        priors, "priors", groups.num_attributes, positive=True,
        attribute_names=groups.attribute_names,
    )  # fmt: skip


def grouped_ce(
    input: torch.Tensor,
    target: torch.Tensor,
    groups: AttributeGroups,
    *,
    weight: torch.Tensor | None,
    label_smoothing: float,
    ignore_index: int,
    group_reduction: str,
    reduction: str,
    validate_args: bool,
) -> torch.Tensor:
    """:func:`grouped_cross_entropy` with checked options; ``validate_args`` checks tensors."""
    x, y, valid = grouped_args(input, target, groups, ignore_index, validate_args)
    log_p = grouped_log_softmax(x, groups, validate_args=False)
    if weight is not None:
        if validate_args:
            check_attribute_vector(
                weight, "weight", groups.num_attributes, positive=False,
                attribute_names=groups.attribute_names,
            )  # fmt: skip
        w = as_tensor(weight, "weight").to(device=x.device, dtype=x.dtype)
        y_weighted = y * w
    else:
        y_weighted = y
    if label_smoothing > 0:
        sizes = torch.tensor(groups.sizes, dtype=x.dtype, device=x.device)
        uniform = (1.0 / sizes)[groups.group_index(x.device)]
        smoothed = torch.lerp(y, uniform.expand_as(y), label_smoothing)
        smoothed = smoothed * w if weight is not None else smoothed
    else:
        smoothed = y_weighted
    valid_groups = valid.to(x.dtype)
    per_sample = group_sum(-smoothed * log_p, groups) * valid_groups  # (N, G)
    if reduction == "none":
        out = per_sample
    elif reduction == "sum":
        out = per_sample.sum(0)
    else:
        denominator = (group_sum(y_weighted, groups) * valid_groups).sum(0)
        positive = denominator > 0
        out = torch.where(
            positive, per_sample.sum(0) / torch.where(positive, denominator, 1.0), 0.0
        )
    if group_reduction == "sum":
        return out.sum(-1)
    if group_reduction == "mean":
        return out.mean(-1)
    return out


def logit_adjusted_ce(
    input: torch.Tensor,
    target: torch.Tensor,
    groups: AttributeGroups,
    *,
    priors: torch.Tensor,
    tau: float,
    validate_args: bool,
    **options: Any,
) -> torch.Tensor:
    """:func:`logit_adjusted_cross_entropy` with checked options; tensors per ``validate_args``.

    ``options`` are :func:`grouped_ce`'s (``weight``, ``label_smoothing``, ``ignore_index``,
    ``group_reduction``, ``reduction``).
    """
    input = as_tensor(input, "input")
    if validate_args:
        check_scores(input, groups, "input")
        _check_priors(priors, groups)
    dtype = compute_dtype(input)
    log_priors = as_tensor(priors, "priors").to(device=input.device, dtype=dtype).log()
    shifted = input.to(dtype) + tau * log_priors
    return grouped_ce(shifted, target, groups, validate_args=validate_args, **options)


def grouped_cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    groups: AttributeGroups,
    *,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    group_reduction: str = "sum",
    reduction: str = "mean",
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Cross-entropy of each attribute group's softmax (optionally with per-attribute weights).

    For group :math:`g` with :math:`K_g` attributes, log-probabilities :math:`\log p` from the
    group's softmax, weights :math:`w` and (smoothed) target :math:`\tilde t = (1 - \varepsilon) t
    + \varepsilon / K_g`, sample :math:`n` contributes

    .. math::
        \ell_{ng} = -\sum_{c \in g} w_c\, \tilde t_{nc} \log p_{nc}, \qquad
        L_g = \frac{\sum_n \ell_{ng}}{\sum_n \sum_{c \in g} w_c\, t_{nc}} \quad (\text{mean}).

    For hard targets each group's term equals
    ``F.cross_entropy(logits_g, target_g, weight=weight_g, label_smoothing=..., ignore_index=...,
    reduction=...)``: torch's weighted mean divides by the summed weight of the samples' labels,
    not by ``N``. Soft targets use the same formula with the expected label weight
    :math:`\sum_c w_c t_{nc}` in the denominator, so a one-hot soft target gives exactly the
    hard-target loss (torch's own probability-target mode divides by ``N`` instead). Missing labels
    contribute nothing. A group without any labelled sample (or of zero total weight) contributes
    0 to the mean, where torch would return NaN.

    The group terms are then combined by ``group_reduction``: ``"sum"`` (default; one
    cross-entropy per attribute group, added as in multi-task training), ``"mean"``, or
    ``"none"`` (keep a trailing group axis).

    Args:
        input: Logits ``(N, C)``.
        target: Hard ``(N, G)`` indices or soft ``(N, C)`` targets.
        groups: The label layout.
        weight: Per-attribute weights ``(C,)``, ``>= 0`` (e.g. from :func:`imbalml.class_weights`);
            ``None`` for the plain cross-entropy (:math:`w_c = 1`).
        label_smoothing: :math:`\varepsilon \in [0, 1]`, spread uniformly within each group.
        ignore_index: Hard-target value marking a missing label.
        group_reduction: ``"sum"``, ``"mean"`` or ``"none"`` over groups.
        reduction: ``"none"``, ``"sum"`` or ``"mean"`` over samples, as in torch.
        validate_args: Check shapes and values.

    Returns:
        Scalar; ``(G,)`` with ``group_reduction="none"``; ``(N,)`` with ``reduction="none"``;
        ``(N, G)`` with both ``"none"``.

    Raises:
        ValueError: For bad shapes, targets, weights or options, or (with ``validate_args``)
            a NaN or infinite logit.

    Shape:
        - input: ``(N, C)``
        - target: ``(N, G)`` integer or ``(N, C)`` float
        - weight: ``(C,)``

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import grouped_cross_entropy
        >>> groups = AttributeGroups([2, 3])
        >>> logits = torch.tensor([[2.0, 0.0, 0.1, -1.0, 3.0], [0.0, 1.0, 0.0, 0.0, 0.0]])
        >>> target = torch.tensor([[0, 2], [1, 0]])
        >>> grouped_cross_entropy(logits, target, groups, group_reduction="none")
        tensor([0.2201, 0.5847])
        >>> w = torch.tensor([1.0, 3.0, 1.0, 1.0, 1.0])
        >>> grouped_cross_entropy(logits, target, groups, weight=w)
        tensor(0.8514)
    """
    if validate_args:
        check_ce_options(groups, label_smoothing, ignore_index, group_reduction, reduction)
    return grouped_ce(
        input, target, groups, weight=weight, label_smoothing=label_smoothing,
        ignore_index=ignore_index, group_reduction=group_reduction, reduction=reduction,
        validate_args=validate_args,
    )  # fmt: skip


def weighted_cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    groups: AttributeGroups,
    *,
    weight: torch.Tensor,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    group_reduction: str = "sum",
    reduction: str = "mean",
    validate_args: bool = True,
) -> torch.Tensor:
    """:func:`grouped_cross_entropy` with required per-attribute weights ``(C,)``.

    The same kernel and arguments; ``weight`` (e.g. :func:`imbalml.class_weights`) is required
    here, so a configuration that meant to weight cannot silently train unweighted.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, class_weights
        >>> from imbalml.functional import weighted_cross_entropy
        >>> groups = AttributeGroups([2, 3])
        >>> w = class_weights(torch.tensor([30, 10, 5, 5, 10]), groups)
        >>> weighted_cross_entropy(torch.zeros(2, 5), torch.tensor([[0, 2], [1, 0]]), groups, weight=w)
        tensor(1.7918)
    """
    if weight is None:
        raise TypeError(
            "Expected `weight` to be a (C,) tensor of per-attribute weights, but got None "
            "(use grouped_cross_entropy for the unweighted loss)."
        )
    return grouped_cross_entropy(input, target, groups, weight=weight, label_smoothing=label_smoothing, ignore_index=ignore_index, group_reduction=group_reduction, reduction=reduction, validate_args=validate_args)  # fmt: skip


def _is_vector(tau: Any) -> bool:
    return isinstance(tau, (torch.Tensor, list, tuple)) or hasattr(tau, "__array__")


def _check_tau(tau: Any, size: int) -> float | torch.Tensor:
    """``tau``: a number ``>= 0``, or a ``(size,)`` tensor of them (one per group or label)."""
    if _is_vector(tau):
        return check_attribute_vector(tau, "tau", size, positive=False)
    return check_number(tau, "tau", low=0.0)


def adjust_logits(
    input: torch.Tensor,
    groups: AttributeGroups | None,
    *,
    priors: torch.Tensor,
    tau: float | torch.Tensor = 1.0,
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Post-hoc logit adjustment (Menon et al. 2021), per group or per label.

    Grouped: :math:`z_c - \tau_g \log \pi_c` for attribute :math:`c` of group :math:`g`, so that
    the per-group argmax targets the balanced error. Because each group's softmax ignores
    constants, ``priors`` need not be normalised within a group (counts give the same result as
    frequencies). Plain multi-label (``groups=None``): :math:`z_c - \tau_c \log(\pi_c / (1 -
    \pi_c))` with :math:`\pi_c \in (0, 1)` the frequency of label :math:`c`'s positives, which
    moves each label's decision threshold from probability 1/2 to the prior (for :math:`\tau = 1`).

    Use it at evaluation on a model trained with a plain (unadjusted) loss. A model trained with
    :func:`logit_adjusted_cross_entropy` already has the adjustment built in: evaluate its raw
    logits. :func:`imbalml.tune_thresholds` chooses one :math:`\tau_g` per group on a validation
    split.

    Args:
        input: Logits ``(N, C)``.
        groups: The label layout, or ``None`` for plain multi-label.
        priors: Per-attribute prior ``(C,)`` (:func:`imbalml.class_priors`): strictly positive
            with ``groups``; in ``(0, 1)`` without.
        tau: Adjustment strength :math:`\tau \ge 0`: one number, or one per group ``(G,)``
            (``(C,)`` per label when ``groups`` is ``None``).
        validate_args: Check shapes and values.

    Returns:
        Adjusted logits ``(N, C)`` in the dtype of ``input``.

    Raises:
        ValueError: If ``priors`` or ``tau`` has the wrong shape or an out-of-range entry.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import adjust_logits
        >>> groups = AttributeGroups([2])
        >>> adjust_logits(torch.tensor([[1.0, 0.0]]), groups, priors=torch.tensor([0.9, 0.1]))
        tensor([[1.1054, 2.3026]])
        >>> adjust_logits(torch.tensor([[0.0, 0.0]]), None, priors=torch.tensor([0.5, 0.2]))
        tensor([[0.0000, 1.3863]])
    """
    input = as_tensor(input, "input")
    if validate_args:
        groups = check_optional_groups(groups)
        check_floating(input, "input")
        if input.ndim != 2:
            raise ValueError(f"Expected `input` of shape (N, C), but got {tuple(input.shape)}.")
        tau = _check_tau(tau, input.shape[1] if groups is None else groups.num_groups)
        if groups is None:
            pri = check_attribute_vector(priors, "priors", input.shape[1], positive=True)
            if bool((pri >= 1).any()):
                where = first_true(pri >= 1)
                raise ValueError(
                    f"Expected `priors` in (0, 1) (the frequency of each label's positives) "
                    f"for groups=None, but got {pri[where].item():g} at {position(where)}."
                )
        else:
            check_scores(input, groups, "input", finite=False)
            _check_priors(priors, groups)
    elif _is_vector(tau):
        tau = as_tensor(tau, "tau")
    dtype = compute_dtype(input)
    pri_t = as_tensor(priors, "priors").to(device=input.device, dtype=dtype)
    log_odds = pri_t.log() if groups is not None else pri_t.log() - torch.log1p(-pri_t)
    if isinstance(tau, torch.Tensor):
        tau_t = tau.to(device=input.device, dtype=dtype)
        if groups is not None:
            tau_t = tau_t[groups.group_index(input.device)]
        shift = tau_t * log_odds
    else:
        shift = tau * log_odds
    return (input.to(dtype) - shift).to(input.dtype)


def logit_adjusted_cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    groups: AttributeGroups,
    *,
    priors: torch.Tensor,
    tau: float = 1.0,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    group_reduction: str = "sum",
    reduction: str = "mean",
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Logit-adjusted cross-entropy (Menon et al. 2021), one softmax per attribute group.

    .. math::
        \ell_{ng} = -\log \operatorname{softmax}_g\big(z_{n} + \tau \log \pi\big)_{y_{ng}}

    i.e. :func:`grouped_cross_entropy` of the logits shifted by :math:`\tau \log \pi` within
    each group. With :math:`\tau = 1` and ``priors`` set to the training counts this is the
    Balanced Softmax loss. Evaluate the trained model on its raw logits.

    Args:
        input: Logits ``(N, C)``.
        target: Hard ``(N, G)`` or soft ``(N, C)`` targets.
        groups: The label layout.
        priors: Per-attribute prior ``(C,)``, strictly positive (:func:`imbalml.class_priors`).
        tau: Adjustment strength :math:`\tau \ge 0` (0 gives plain cross-entropy).
        weight: Per-attribute weights ``(C,)``, as in :func:`grouped_cross_entropy`.
        label_smoothing: As in :func:`grouped_cross_entropy`.
        ignore_index: Hard-target value marking a missing label.
        group_reduction: ``"sum"``, ``"mean"`` or ``"none"`` over groups.
        reduction: ``"none"``, ``"sum"`` or ``"mean"`` over samples.
        validate_args: Check shapes and values.

    Returns:
        The loss, shaped as in :func:`grouped_cross_entropy`.

    Raises:
        ValueError: For bad shapes, targets, priors or options, or (with ``validate_args``)
            a NaN or infinite logit.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import logit_adjusted_cross_entropy
        >>> groups = AttributeGroups([2])
        >>> x, y = torch.zeros(1, 2), torch.tensor([[1]])
        >>> logit_adjusted_cross_entropy(x, y, groups, priors=torch.tensor([0.9, 0.1]))
        tensor(2.3026)
    """
    if validate_args:
        check_ce_options(groups, label_smoothing, ignore_index, group_reduction, reduction)
        check_number(tau, "tau", low=0.0)
    return logit_adjusted_ce(
        input, target, groups, priors=priors, tau=tau, weight=weight,
        label_smoothing=label_smoothing, ignore_index=ignore_index,
        group_reduction=group_reduction, reduction=reduction, validate_args=validate_args,
    )  # fmt: skip
