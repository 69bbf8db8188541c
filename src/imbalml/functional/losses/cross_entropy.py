"""Cross-entropy per attribute group: weighted, logit-adjusted, and post-hoc logit adjustment."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from imbalml._layout_checks import check_groups, check_optional_groups, check_scores, parse_target
from imbalml._validation import (
    as_tensor,
    check_floating,
    check_number,
    check_values,
    position,
)
from imbalml.data.stats import LabelCounts
from imbalml.functional.losses._common import (
    check_input,
    check_label_vector,
    check_loss_options,
    compute_dtype,
    label_vector,
    reduce,
)
from imbalml.groups import AttributeGroups
from imbalml.weights import class_priors

__all__ = [
    "adjust_logits",
    "grouped_cross_entropy",
    "logit_adjusted_cross_entropy",
    "weighted_cross_entropy",
]


def check_ce_options(
    groups: Any, label_smoothing: Any, ignore_index: Any, reduction: str
) -> AttributeGroups:
    """Check the options of the cross-entropy family; return ``groups``."""
    check_groups(groups)
    check_loss_options(groups, ignore_index, reduction)
    check_number(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    return groups


def priors_of(priors: Any) -> Any:
    """``priors`` as given, or :func:`imbalml.class_priors` of a :class:`~imbalml.LabelCounts`."""
    if isinstance(priors, LabelCounts):
        return class_priors(priors)
    return priors


def check_priors(priors: Any, groups: AttributeGroups, validate: bool = True) -> torch.Tensor:
    """Per-attribute priors ``(C,)``, ``> 0``: frequencies, counts (integers) or a LabelCounts."""
    priors = priors_of(priors)
    return check_label_vector(
        priors, "priors", groups.num_attributes, positive=True,
        attribute_names=groups.attribute_names, validate=validate,
    )  # fmt: skip


def grouped_ce(
    input: torch.Tensor,
    target: torch.Tensor,
    groups: AttributeGroups,
    *,
    weight: torch.Tensor | None,
    label_smoothing: float,
    ignore_index: int,
    reduction: str,
    validate_args: bool,
    check_weights: bool = True,
    log_priors: torch.Tensor | None = None,
) -> torch.Tensor:
    """:func:`grouped_cross_entropy` with checked options.

    ``validate_args`` checks the values of ``input`` and ``target``, ``check_weights`` those of
    ``weight``; ``log_priors`` ``(C,)`` (times ``tau``) is added to the logits first.
    """
    input = check_input(input, groups, validate_args)
    n, c = input.shape
    x = input.to(compute_dtype(input))
    if log_priors is not None:
        x = x + log_priors.to(device=x.device, dtype=x.dtype)
    y, valid = parse_target(
        target, groups, num_samples=n, ignore_index=ignore_index, dtype=x.dtype,
        validate_args=validate_args,
    )  # fmt: skip
    w = label_vector(weight, x, groups, "weight", check_weights)
    labelled = valid.to(x.dtype)
    losses, counts = [], []  # (N,) per group: loss, and the sample's weight in the group's mean
    for g, (x_g, y_g) in enumerate(zip(groups.split(x), groups.split(y))):
        log_p = F.log_softmax(x_g, dim=-1)
        smoothed = torch.lerp(y_g, torch.full_like(y_g, 1.0 / y_g.shape[1]), label_smoothing)
        if w is not None:
            w_g = w[groups.slices[g]]
            smoothed, y_g = smoothed * w_g, y_g * w_g
        losses.append(-(smoothed * log_p).sum(1) * labelled[:, g])
        counts.append(y_g.sum(1) * labelled[:, g])  # w[y] for a hard label; 1 unweighted
    return reduce(torch.stack(losses, 1), torch.stack(counts, 1), reduction)


def grouped_cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    groups: AttributeGroups,
    *,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
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

    Reduction (the one meaning of every imbalml loss but Dice): ``"mean"`` sums the group terms
    :math:`L_g` above (one cross-entropy per attribute group, added as in multi-task training);
    ``"sum"`` is :math:`\sum_{n,g} \ell_{ng}`; ``"none"`` gives ``(N,)``, each sample's
    :math:`\sum_g \ell_{ng}` (missing labels contribute 0).

    Args:
        input: Logits ``(N, C)``.
        target: Hard ``(N, G)`` indices or soft ``(N, C)`` targets.
        groups: The label layout.
        weight: Per-attribute weights ``(C,)``, ``>= 0`` (e.g. from :func:`imbalml.class_weights`);
            ``None`` for the plain cross-entropy (:math:`w_c = 1`).
        label_smoothing: :math:`\varepsilon \in [0, 1]`, spread uniformly within each group.
        ignore_index: Hard-target value marking a missing label.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``, as described above.
        validate_args: Check the values of the tensors, as :func:`asymmetric_loss` does.

    Returns:
        Scalar, or ``(N,)`` with ``reduction="none"``.

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
        >>> grouped_cross_entropy(logits, target, groups)  # 0.2201 + 0.5847, one term per group
        tensor(0.8048)
        >>> grouped_cross_entropy(logits, target, groups, reduction="none")
        tensor([0.1977, 1.4119])
        >>> w = torch.tensor([1.0, 3.0, 1.0, 1.0, 1.0])
        >>> grouped_cross_entropy(logits, target, groups, weight=w)
        tensor(0.8514)
    """
    check_ce_options(groups, label_smoothing, ignore_index, reduction)
    return grouped_ce(
        input, target, groups, weight=weight, label_smoothing=float(label_smoothing),
        ignore_index=ignore_index, reduction=reduction, validate_args=validate_args,
        check_weights=validate_args,
    )  # fmt: skip


def weighted_cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    groups: AttributeGroups,
    *,
    weight: torch.Tensor,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
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
    return grouped_cross_entropy(input, target, groups, weight=weight, label_smoothing=label_smoothing, ignore_index=ignore_index, reduction=reduction, validate_args=validate_args)  # fmt: skip


def _is_vector(tau: Any) -> bool:
    return isinstance(tau, (torch.Tensor, list, tuple)) or hasattr(tau, "__array__")


def _check_tau(tau: Any, size: int) -> float | torch.Tensor:
    """``tau``: a number ``>= 0``, or a ``(size,)`` tensor of them (one per group or label)."""
    if _is_vector(tau):
        return check_label_vector(tau, "tau", size, positive=False)
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
    constants, ``priors`` need not be normalised within a group: counts (integers accepted)
    give the same probabilities and decisions as frequencies. Plain multi-label (``groups=None``): :math:`z_c - \tau_c \log(\pi_c / (1 -
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
            with ``groups`` (frequencies or counts); frequencies in ``(0, 1)`` without (counts
            do not say how many samples were labelled: use :func:`imbalml.class_priors`), or a
            :class:`~imbalml.LabelCounts` (its :func:`imbalml.class_priors` is used).
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
    priors = priors_of(priors)
    if validate_args:
        groups = check_optional_groups(groups)
        check_floating(input, "input")
        if input.ndim != 2:
            raise ValueError(f"Expected `input` of shape (N, C), but got {tuple(input.shape)}.")
        tau = _check_tau(tau, input.shape[1] if groups is None else groups.num_groups)
        if groups is None:
            pri = check_label_vector(priors, "priors", input.shape[1], positive=True)

            def message(where: tuple[int, ...] | None) -> str:
                got = "" if where is None else f", but got {pri[where].item():g} at {position(where)}"
                return (
                    f"Expected `priors` in (0, 1) (the frequency of each label's positives, "
                    f"e.g. imbalml.class_priors(target)) for groups=None{got}."
                )

            check_values(pri >= 1, message)
        else:
            check_scores(input, groups, "input", finite=False)
            check_priors(priors, groups)
    elif _is_vector(tau):
        tau = as_tensor(tau, "tau")
    dtype = compute_dtype(input)
    pri_t = as_tensor(priors, "priors").to(device=input.device, dtype=dtype)  # counts: float
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
    reduction: str = "mean",
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Logit-adjusted cross-entropy (Menon et al. 2021), one softmax per attribute group.

    .. math::
        \ell_{ng} = -\log \operatorname{softmax}_g\big(z_{n} + \tau \log \pi\big)_{y_{ng}}

    i.e. :func:`grouped_cross_entropy` of the logits shifted by :math:`\tau \log \pi` within
    each group (reduction and checks as there). ``priors`` may be frequencies
    (:func:`imbalml.class_priors`) or counts, integers included: each group's softmax ignores a
    constant shift, so counts give exactly the loss of the frequencies normalised per group.
    With :math:`\tau = 1` this is the Balanced Softmax loss. Evaluate the trained model on its
    raw logits.

    Args:
        input: Logits ``(N, C)``.
        target: Hard ``(N, G)`` or soft ``(N, C)`` targets.
        groups: The label layout.
        priors: Per-attribute priors or counts ``(C,)``, strictly positive, or a
            :class:`~imbalml.LabelCounts` (its :func:`imbalml.class_priors` is used).
        tau: Adjustment strength :math:`\tau \ge 0` (0 gives plain cross-entropy).
        weight: Per-attribute weights ``(C,)``, as in :func:`grouped_cross_entropy`.
        label_smoothing: As in :func:`grouped_cross_entropy`.
        ignore_index: Hard-target value marking a missing label.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``, as in :func:`grouped_cross_entropy`.
        validate_args: Check the values of the tensors, as :func:`asymmetric_loss` does.

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
        >>> counts = torch.tensor([90, 10])  # counts work as priors
        >>> logit_adjusted_cross_entropy(x, y, groups, priors=counts)
        tensor(2.3026)
    """
    check_ce_options(groups, label_smoothing, ignore_index, reduction)
    tau = check_number(tau, "tau", low=0.0)
    log_priors = check_priors(priors, groups, validate_args).log()
    return grouped_ce(
        input, target, groups, weight=weight, label_smoothing=float(label_smoothing),
        ignore_index=ignore_index, reduction=reduction, validate_args=validate_args,
        check_weights=validate_args, log_priors=tau * log_priors,
    )  # fmt: skip
