r"""Per-attribute class weights and priors from label counts.

Counts come as the :class:`~imbalml.LabelCounts` of :func:`imbalml.label_counts` (with groups,
any ``(C,)`` array of non-negative numbers will do). With an :class:`~imbalml.AttributeGroups`,
everything is computed within each attribute group: an attribute is weighed against the other
attributes of its own group, never against another group's. With ``groups=None`` (plain
multi-label) every label is its own binary problem: its positives against its *known*
negatives (a missing label is unknown, never a negative); the weights are *positive* weights
(BCE's ``pos_weight``) and the priors are the positives' frequencies among the labelled samples.
"""

from __future__ import annotations

from typing import Any

import torch

from imbalml._layout_checks import describe_attribute
from imbalml._validation import check_choice, check_number, first_true
from imbalml.data.stats import LabelCounts, check_counts
from imbalml.groups import AttributeGroups

__all__ = ["STRATEGIES", "class_priors", "class_weights"]

#: The weighting strategies of :func:`class_weights`: inverse frequency (``"balanced"``), its
#: square root, and the effective number of samples (Cui et al., 2019).
STRATEGIES = ("balanced", "inverse_sqrt", "effective_number")


def _check_label_counts(counts: Any, groups: AttributeGroups | None) -> LabelCounts:
    """Float64 CPU :class:`LabelCounts`; plain (C,) arrays are refused (their negatives are unknown)."""
    checked = check_counts(counts, groups, plain_tensor=False)
    return LabelCounts(
        checked.positives.cpu(), checked.labelled.cpu(), checked.num_samples, checked.groups
    )


def class_weights(
    counts: Any,
    groups: AttributeGroups | None = None,
    *,
    strategy: str = "balanced",
    beta: float = 0.999,
) -> torch.Tensor:
    r"""Per-attribute loss weights that up-weight rare attributes (or rare positives).

    Counts come as the :class:`~imbalml.LabelCounts` of :func:`imbalml.label_counts`; a missing
    label (``ignore_index``) is unknown, so only the labelled samples are weighed.

    **Grouped** (counted with ``groups``): with :math:`n_c` the positives of attribute :math:`c`,
    :math:`K_g` the number of attributes and :math:`n_g = \sum_{c \in g} n_c` the labelled
    samples of its group :math:`g`:

    * ``"balanced"``: :math:`w_c = n_g / (K_g\, n_c)`, scikit-learn's
      ``compute_class_weight("balanced", ...)`` applied to each group's labelled samples;
      :math:`\sum_{c \in g} n_c w_c = n_g`, so the average weight per labelled sample is 1.
    * ``"inverse_sqrt"``: :math:`w_c \propto n_c^{-1/2}`.
    * ``"effective_number"`` (Cui et al. 2019, class-balanced loss):
      :math:`w_c \propto (1 - \beta) / (1 - \beta^{n_c})`, the inverse "effective number" of
      samples.

    The last two are normalised as in Cui et al., so that the weights of each group average 1
    over its attributes: :math:`\sum_{c \in g} w_c = K_g`.

    **Plain multi-label** (counted with ``groups=None``): per-label *positive* weights for the
    ``pos_weight`` of BCE, :class:`imbalml.AsymmetricLoss` or :class:`imbalml.FocalLoss`. Label
    :math:`c` with :math:`n_c` positives among its :math:`L_c` labelled samples (``labelled``;
    its :math:`L_c - n_c` known negatives) is a two-class group (negatives, positives); its
    positive weight is the ratio of the two class weights above:

    * ``"balanced"``: :math:`w^+_c = (L_c - n_c) / n_c`, negatives over positives (the usual BCE
      ``pos_weight``; scikit-learn's ``compute_class_weight("balanced")`` of the label's
      labelled entries, positive over negative);
    * ``"inverse_sqrt"``: :math:`w^+_c = \sqrt{(L_c - n_c) / n_c}`;
    * ``"effective_number"``: :math:`w^+_c = (1 - \beta^{L_c - n_c}) / (1 - \beta^{n_c})`.

    Args:
        counts: A :class:`~imbalml.LabelCounts` from :func:`imbalml.label_counts`. With
            ``groups``, a ``(C,)`` array of per-attribute counts ``>= 0`` (tensor, numpy array
            or list, integer or float) is accepted too; without, the object is required (the
            positives alone do not say how many negatives are known).
        groups: The label layout. Optional with a :class:`~imbalml.LabelCounts` (it carries its
            own; if given, it must be the same).
        strategy: ``"balanced"``, ``"inverse_sqrt"`` or ``"effective_number"``.
        beta: :math:`\beta \in [0, 1)` of ``"effective_number"`` (0 gives uniform weights; the
            closer to 1, the closer to inverse frequency).

    Returns:
        Float32 weights ``(C,)``: for :class:`imbalml.WeightedCrossEntropyLoss` and friends
        (grouped), or the ``pos_weight`` of a sigmoid loss (plain).

    Raises:
        ValueError: If a count is zero (its weight would be infinite; the message names the
            attribute: merge it, drop it, or add pseudo-counts), negative or not finite, the
            shape is not ``(C,)``, or ``strategy`` / ``beta`` is invalid.
        TypeError: If ``counts`` is not numeric, or a plain ``(C,)`` array without ``groups``.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, class_weights, label_counts
        >>> groups = AttributeGroups([2, 3])
        >>> counts = torch.tensor([30, 10, 5, 5, 10])
        >>> class_weights(counts, groups)
        tensor([0.6667, 2.0000, 1.3333, 1.3333, 0.6667])
        >>> class_weights(counts, groups, strategy="effective_number", beta=0.9).sum()
        tensor(5.)
        >>> target = torch.tensor([[1, 0], [0, 1], [-100, 1], [-100, 0], [0, 1]])
        >>> class_weights(label_counts(target))  # plain: known negatives / positives
        tensor([2.0000, 0.6667])
    """
    check_choice(strategy, "strategy", STRATEGIES)
    check_number(beta, "beta", low=0.0, high=1.0, high_inclusive=False)
    stats = _check_label_counts(counts, groups)
    groups, counts = stats.groups, stats.positives
    if bool((counts == 0).any()):
        (i,) = first_true(counts == 0)
        raise ValueError(
            f"Expected every count > 0 for strategy={strategy!r}, but {describe_attribute(i, groups)} has "
            f"count 0 (its weight would be infinite). Drop or merge the attribute, or add "
            f"pseudo-counts to `counts`."
        )
    if groups is None:
        negatives = stats.labelled - counts
        if strategy == "balanced":
            return (negatives / counts).float()
        if strategy == "inverse_sqrt":
            return (negatives / counts).sqrt().float()
        log_beta = torch.log(torch.tensor(beta, dtype=torch.float64))
        if beta == 0:
            return (negatives > 0).double().float()  # 1 - 0^n: 1 for n >= 1, 0 for n = 0
        return (torch.expm1(negatives * log_beta) / torch.expm1(counts * log_beta)).float()
    slices = list(groups.slices)
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
) -> torch.Tensor:
    r"""Per-attribute label frequencies among the labelled samples (the priors of logit adjustment).

    .. math::
        \pi_c = \frac{n_c + \alpha}{n_g + K_g\, \alpha}

    with :math:`n_c` the positives of attribute :math:`c`, :math:`n_g` the labelled samples of its
    group and :math:`\alpha` = ``smoothing`` (additive, Laplace-style). With plain multi-label
    counts every label is a two-class group of its :math:`L_c` labelled samples:
    :math:`\pi_c = (n_c + \alpha) / (L_c + 2\alpha)`. A missing label (``ignore_index``) is
    unknown: it counts neither as a positive nor as a negative. This is the documented way to
    get the ``priors`` of :class:`imbalml.LogitAdjustedCrossEntropyLoss`,
    :func:`imbalml.functional.logit_adjusted_cross_entropy` and
    :func:`imbalml.functional.adjust_logits`, which need every prior to be positive (and, plain,
    below 1): use ``smoothing > 0`` when an attribute has no sample.

    Args:
        counts: A :class:`~imbalml.LabelCounts` from :func:`imbalml.label_counts`. With
            ``groups``, a ``(C,)`` array of per-attribute counts ``>= 0`` (integer or float) is
            accepted too; without, the object is required.
        groups: The label layout. Optional with a :class:`~imbalml.LabelCounts`.
        smoothing: Pseudo-count :math:`\alpha \ge 0` added to every attribute.

    Returns:
        Float32 priors ``(C,)``; grouped, each group segment sums to 1.

    Raises:
        ValueError: If a group (plain: a label) has no labelled sample at all (and
            ``smoothing == 0``), or counts are negative, not finite or of the wrong shape.
        TypeError: If ``counts`` is a plain ``(C,)`` array without ``groups``.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, class_priors, label_counts
        >>> class_priors(torch.tensor([30, 10, 5, 5, 0]), AttributeGroups([2, 3]))
        tensor([0.7500, 0.2500, 0.5000, 0.5000, 0.0000])
        >>> class_priors(label_counts(torch.tensor([[1, 0], [0, 1], [-100, 1], [-100, 0]])))
        tensor([0.5000, 0.5000])
    """
    smoothing = check_number(smoothing, "smoothing", low=0.0)
    stats = _check_label_counts(counts, groups)
    groups = stats.groups
    positives = stats.positives + smoothing
    if groups is None:
        labelled = stats.labelled + 2 * smoothing
        if bool((labelled <= 0).any()):
            (i,) = first_true(labelled <= 0)
            raise ValueError(
                f"Expected every label to have a labelled sample, but label {i} has none; pass "
                f"`smoothing` > 0 to give it a prior."
            )
        return (positives / labelled).float()
    out = torch.empty_like(positives)
    for g, s in enumerate(groups.slices):
        total = stats.labelled[s][0] + smoothing * (s.stop - s.start)
        if total <= 0:
            raise ValueError(
                f"Expected a positive total count in every group, but group {groups.names[g]!r} "
                f"has none; pass `smoothing` > 0 to give its attributes a prior."
            )
        out[s] = positives[s] / total
    return out.float()
