r"""Per-attribute class weights and priors from label counts.

Counts come from :func:`imbalml.label_counts` (or any ``(C,)`` array of non-negative numbers).
With an :class:`~imbalml.AttributeGroups`, everything is computed within each attribute group: an
attribute is weighed against the other attributes of its own group, never against another
group's. With ``groups=None`` (plain multi-label) every label is its own binary problem: the
counts are its positives out of ``num_samples`` images, the weights are *positive* weights
(BCE's ``pos_weight``, the positives weighed against the negatives of the same label) and the
priors are the positives' frequencies.
"""

from __future__ import annotations

from typing import Any

import torch

from imbalml._layout_checks import check_counts, describe_attribute
from imbalml._validation import check_choice, check_int, check_number, first_true
from imbalml.groups import AttributeGroups

__all__ = ["STRATEGIES", "class_priors", "class_weights"]

#: The weighting strategies of :func:`class_weights`: inverse frequency (``"balanced"``), its
#: square root, and the effective number of samples (Cui et al., 2019).
STRATEGIES = ("balanced", "inverse_sqrt", "effective_number")


def _check_counts(counts: Any, groups: AttributeGroups | None) -> tuple[torch.Tensor, list[slice]]:
    """Return float64 CPU counts ``(C,)`` and the slice of each group (one slice without groups)."""
    counts = check_counts(counts, groups).cpu()
    slices = [slice(0, counts.numel())] if groups is None else list(groups.slices)
    return counts, slices


def _check_num_samples(num_samples: Any, counts: torch.Tensor, groups: Any) -> int:
    """``num_samples`` is required (and only allowed) for plain multi-label counts."""
    if groups is not None:
        if num_samples is not None:
            raise ValueError(
                "Expected `num_samples=None` with `groups` (each group's total is the sum of its "
                f"counts), but got {num_samples!r}."
            )
        return 0
    if num_samples is None:
        raise TypeError(
            "Expected `num_samples` (the number of images the positives in `counts` were "
            "counted over) for plain multi-label counts (groups=None), but got None."
        )
    n = check_int(num_samples, "num_samples", low=1)
    if bool((counts > n).any()):
        (i,) = first_true(counts > n)
        raise ValueError(
            f"Expected every count <= num_samples={n}, but label {i} has {counts[i].item():g} "
            f"positives."
        )
    return n


def class_weights(
    counts: Any,
    groups: AttributeGroups | None = None,
    *,
    strategy: str = "balanced",
    beta: float = 0.999,
    num_samples: int | None = None,
) -> torch.Tensor:
    r"""Per-attribute loss weights that up-weight rare attributes (or rare positives).

    **Grouped** (``groups`` given): with :math:`n_c` the count of attribute :math:`c`,
    :math:`K_g` the number of attributes and :math:`n_g = \sum_{c \in g} n_c` the labelled
    samples of its group :math:`g`:

    * ``"balanced"``: :math:`w_c = n_g / (K_g\, n_c)`, scikit-learn's
      ``compute_class_weight("balanced", ...)`` applied to each group's labels;
      :math:`\sum_{c \in g} n_c w_c = n_g`, so the average weight per labelled sample is 1.
    * ``"inverse_sqrt"``: :math:`w_c \propto n_c^{-1/2}`.
    * ``"effective_number"`` (Cui et al. 2019, class-balanced loss):
      :math:`w_c \propto (1 - \beta) / (1 - \beta^{n_c})`, the inverse "effective number" of
      samples.

    The last two are normalised as in Cui et al., so that the weights of each group average 1
    over its attributes: :math:`\sum_{c \in g} w_c = K_g`.

    **Plain multi-label** (``groups=None``): per-label *positive* weights for the ``pos_weight``
    of BCE, :class:`imbalml.AsymmetricLoss` or :class:`imbalml.FocalLoss`. Label :math:`c` with
    :math:`n_c` positives among :math:`N` = ``num_samples`` images is a two-class group
    (negatives, positives); its positive weight is the ratio of the two class weights above:

    * ``"balanced"``: :math:`w^+_c = (N - n_c) / n_c`, negatives over positives (the usual BCE
      ``pos_weight``);
    * ``"inverse_sqrt"``: :math:`w^+_c = \sqrt{(N - n_c) / n_c}`;
    * ``"effective_number"``: :math:`w^+_c = (1 - \beta^{N - n_c}) / (1 - \beta^{n_c})`.

    Args:
        counts: Per-attribute counts ``(C,)`` (e.g. :func:`imbalml.label_counts`), ``>= 0``: a
            tensor, numpy array or list.
        groups: The label layout, or ``None`` for plain multi-label counts of positives.
        strategy: ``"balanced"``, ``"inverse_sqrt"`` or ``"effective_number"``.
        beta: :math:`\beta \in [0, 1)` of ``"effective_number"`` (0 gives uniform weights; the
            closer to 1, the closer to inverse frequency).
        num_samples: With ``groups=None`` only (and then required): the number of images
            :math:`N` the positives were counted over.

    Returns:
        Float32 weights ``(C,)``: for :class:`imbalml.WeightedCrossEntropyLoss` and friends
        (grouped), or the ``pos_weight`` of a sigmoid loss (plain).

    Raises:
        ValueError: If a count is zero (its weight would be infinite; the message names the
            attribute: merge it, drop it, or add pseudo-counts), negative or not finite, the
            shape is not ``(C,)``, or ``strategy`` / ``beta`` is invalid.
        TypeError: If ``counts`` is not numeric, or ``num_samples`` is missing for plain counts.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, class_weights
        >>> groups = AttributeGroups([2, 3])
        >>> counts = torch.tensor([30, 10, 5, 5, 10])
        >>> class_weights(counts, groups)
        tensor([0.6667, 2.0000, 1.3333, 1.3333, 0.6667])
        >>> class_weights(counts, groups, strategy="effective_number", beta=0.9).sum()
        tensor(5.)
        >>> class_weights(torch.tensor([10, 50, 2]), num_samples=100)  # plain: negatives / positives
        tensor([ 9.,  1., 49.])
    """
    check_choice(strategy, "strategy", STRATEGIES)
    check_number(beta, "beta", low=0.0, high=1.0, high_inclusive=False)
    counts, slices = _check_counts(counts, groups)
    n = _check_num_samples(num_samples, counts, groups)
    if bool((counts == 0).any()):
        (i,) = first_true(counts == 0)
        raise ValueError(
            f"Expected every count > 0 for strategy={strategy!r}, but {describe_attribute(i, groups)} has "
            f"count 0 (its weight would be infinite). Drop or merge the attribute, or add "
            f"pseudo-counts to `counts`."
        )
    if groups is None:
        negatives = n - counts
        if strategy == "balanced":
            return (negatives / counts).float()
        if strategy == "inverse_sqrt":
            return (negatives / counts).sqrt().float()
        log_beta = torch.log(torch.tensor(beta, dtype=torch.float64))
        if beta == 0:
            return (negatives > 0).double().float()  # 1 - 0^n: 1 for n >= 1, 0 for n = 0
        return (torch.expm1(negatives * log_beta) / torch.expm1(counts * log_beta)).float()
    if strategy == "balanced":
        raw = torch.empty_like(counts)
        for s in slices:
            raw[s] = counts[s].sum() / (counts[s].numel() * counts[s])
        return raw.float()
    if strategy == "inverse_sqrt":
        raw = counts.rsqrt()
    else:
        # 1 - beta^n computed as -expm1(n log beta): exact for beta close to 1. beta = 0 gives 1.
        log_beta = torch.log(torch.tensor(beta, dtype=torch.float64))
        raw = (1.0 - beta) / -torch.expm1(counts * log_beta)
    out = torch.empty_like(counts)
    for s in slices:
        out[s] = raw[s] * (raw[s].numel() / raw[s].sum())
    return out.float()


def class_priors(
    counts: Any,
    groups: AttributeGroups | None = None,
    *,
    smoothing: float = 0.0,
    num_samples: int | None = None,
) -> torch.Tensor:
    r"""Per-attribute label frequencies, normalised within each group (or per label).

    .. math::
        \pi_c = \frac{n_c + \alpha}{n_g + K_g\, \alpha}

    with :math:`\alpha` = ``smoothing`` (additive, Laplace-style). With ``groups=None`` (plain
    multi-label) every label is a two-class group of :math:`N` = ``num_samples`` images:
    :math:`\pi_c = (n_c + \alpha) / (N + 2\alpha)`, the frequency of its positives. These are
    the priors of :func:`imbalml.functional.logit_adjusted_cross_entropy` and
    :func:`imbalml.functional.adjust_logits`, which need every prior to be positive (and, plain,
    below 1): use ``smoothing > 0`` when an attribute has no sample.

    Args:
        counts: Per-attribute counts ``(C,)``, ``>= 0``.
        groups: The label layout, or ``None`` for plain multi-label counts of positives.
        smoothing: Pseudo-count :math:`\alpha \ge 0` added to every attribute.
        num_samples: With ``groups=None`` only (and then required): the number of images.

    Returns:
        Float32 priors ``(C,)``; each group segment sums to 1.

    Raises:
        ValueError: If a group has no count at all (and ``smoothing == 0``), or counts are
            negative, not finite or of the wrong shape.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, class_priors
        >>> class_priors(torch.tensor([30, 10, 5, 5, 0]), AttributeGroups([2, 3]))
        tensor([0.7500, 0.2500, 0.5000, 0.5000, 0.0000])
        >>> class_priors(torch.tensor([10, 50, 0]), num_samples=100, smoothing=1.0)
        tensor([0.1078, 0.5000, 0.0098])
    """
    smoothing = check_number(smoothing, "smoothing", low=0.0)
    counts, slices = _check_counts(counts, groups)
    n = _check_num_samples(num_samples, counts, groups)
    if groups is None:
        return ((counts + smoothing) / (n + 2 * smoothing)).float()
    counts = counts + smoothing
    out = torch.empty_like(counts)
    for g, s in enumerate(slices):
        total = counts[s].sum()
        if total <= 0:
            where = f"group {groups.names[g]!r}" if groups is not None else "`counts`"
            raise ValueError(
                f"Expected a positive total count in every group, but {where} has none; "
                f"pass `smoothing` > 0 to give its attributes a prior."
            )
        out[s] = counts[s] / total
    return out.float()
