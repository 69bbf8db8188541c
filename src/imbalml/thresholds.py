r"""Choosing decision thresholds on a validation split, guarded against over-fitting rare labels.

Plain multi-label (``groups=None``): one probability threshold per label, for
:func:`imbalml.functional.mean_class_accuracy` and the other metrics' ``threshold``. Grouped:
one logit-adjustment strength :math:`\tau_g` per group, for
:func:`imbalml.functional.adjust_logits`. Either way the value that maximises a named metric on
the validation split is chosen for every label (group) separately, and then pulled towards the
best *shared* value, as much as that label (group) has little evidence:

.. math::
    t_c = \frac{n_c\, \hat t_c + k\, t_{\mathrm{global}}}{n_c + k}

with :math:`n_c` the positives of label :math:`c` in the validation split (grouped: the count of
the group's rarest attribute), :math:`k` = ``shrinkage`` and :math:`\hat t_c` the label's own
best value; a label with fewer than ``min_positives`` positives gets :math:`t_{\mathrm{global}}`.
A per-label threshold tuned on three positives is mostly noise; this is the guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from imbalml._layout_checks import check_optional_groups, check_scores
from imbalml._validation import (
    as_tensor,
    check_choice,
    check_finite,
    check_floating,
    check_int,
    check_multi_hot,
    check_number,
    check_shape,
    first_true,
    position,
)
from imbalml.functional.losses import adjust_logits
from imbalml.functional.metrics.from_counts import label_scores_from_counts
from imbalml.functional.metrics.grouped_counts import (
    _grouped_target,
    confusion_counts,
    per_class_from_counts,
)
from imbalml.functional.metrics.multilabel_counts import probabilities
from imbalml.groups import AttributeGroups

__all__ = ["TUNING_METRICS", "TunedThresholds", "tune_thresholds"]

#: The metrics :func:`~imbalml.tune_thresholds` can maximise.
TUNING_METRICS = ("f1", "mean_class_accuracy")


@dataclass(frozen=True)
class TunedThresholds:
    """The result of :func:`~imbalml.tune_thresholds`.

    Attributes:
        thresholds: Plain multi-label: the probability threshold of each label ``(C,)``
            (``None`` for groups).
        tau: Grouped: the logit-adjustment strength of each group ``(G,)`` (``None`` plain).
        global_value: The best value shared by all labels (groups).
        support: The evidence behind each label's (group's) own choice: positives per label
            ``(C,)``, or the count of each group's rarest attribute ``(G,)``.
        score: The metric on the validation split with the tuned values (optimistic: the
            values were chosen on the same data).
        default_score: The metric with the defaults (threshold 0.5, or no adjustment).

    Example:
        >>> import torch
        >>> from imbalml import tune_thresholds
        >>> probs = torch.tensor([[0.3, 0.9], [0.2, 0.8], [0.1, 0.7], [0.4, 0.1]])
        >>> target = torch.tensor([[1, 1], [0, 1], [0, 1], [1, 0]])
        >>> tuned = tune_thresholds(probs, target, min_positives=1, shrinkage=0.0)
        >>> tuned.thresholds
        tensor([0.2500, 0.2500])
        >>> tuned.score, tuned.default_score  # macro F1 on the validation split
        (1.0, 0.5)
    """

    thresholds: torch.Tensor | None
    tau: torch.Tensor | None
    global_value: float
    support: torch.Tensor
    score: float
    default_score: float


def _plain_scores(
    probs: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, t: torch.Tensor, metric: str
) -> torch.Tensor:
    """Per-label metric ``(T, C)`` for every candidate threshold ``t`` ``(T,)``."""
    out = []
    pos = (target == 1) & valid
    neg = (target == 0) & valid
    for value in t.tolist():
        pred = probs > value
        tp = (pred & pos).sum(0).double()
        fp = (pred & neg).sum(0).double()
        fn = (~pred & pos).sum(0).double()
        tn = (~pred & neg).sum(0).double()
        if metric == "f1":
            score = torch.nan_to_num(2 * tp / (2 * tp + fp + fn), nan=0.0)
        else:
            score = torch.stack([tp / (tp + fn), tn / (tn + fp)], -1).nanmean(-1)
        out.append(score)
    return torch.stack(out)


def _best(scores: torch.Tensor, candidates: torch.Tensor, anchor: float) -> torch.Tensor:
    """Per column, the candidate of the highest score; ties go to the one nearest ``anchor``."""
    filled = torch.nan_to_num(scores, nan=-1.0)
    top = filled.max(0, keepdim=True).values
    distance = (candidates - anchor).abs()[:, None].expand_as(filled)
    distance = torch.where(filled >= top - 1e-12, distance, torch.inf)
    return candidates[distance.argmin(0)]


def _shrink(
    own: torch.Tensor, anchor: float, support: torch.Tensor, min_positives: int, k: float
) -> torch.Tensor:
    n = support.double()
    shrunk = (n * own.double() + k * anchor) / (n + k) if k > 0 else own.double()
    return torch.where(support >= min_positives, shrunk, torch.full_like(shrunk, anchor))


def tune_thresholds(
    preds: Any,
    target: Any,
    groups: AttributeGroups | None = None,
    *,
    metric: str = "f1",
    priors: Any = None,
    candidates: Any = None,
    min_positives: int = 10,
    shrinkage: float = 10.0,
    ignore_index: int = -100,
) -> TunedThresholds:
    r"""Pick per-label thresholds (plain) or per-group adjustment strengths (grouped).

    On a validation split (never the test split): for each candidate value, the named metric of
    every label (group) is computed; the best shared value is ``global_value``; each label's
    (group's) own best value is then shrunk towards it (see the module docstring), and labels
    with fewer than ``min_positives`` positives get the shared value.

    Args:
        preds: Scores ``(N, C)`` under the metrics' rule (floats all inside ``[0, 1]`` are
            probabilities, any others logits). Plain: probabilities, or logits (a sigmoid is
            applied; the thresholds are probabilities either way). Grouped: logits of a model
            trained without logit adjustment, or its per-group softmax probabilities (taken to
            log space, where the offsets act: the same result as the logits); values in
            ``[0, 1]`` whose group segments do not sum to 1 are refused.
        target: Plain: multi-hot ``(N, C)``. Grouped: hard ``(N, G)`` indices.
        groups: ``None`` for plain multi-label, or the label layout.
        metric: ``"f1"`` (per-label F1, macro mean) or ``"mean_class_accuracy"`` (plain: mA,
            per label ``(TPR + TNR) / 2``; grouped: the mean attribute recall of each group).
        priors: Grouped only (and then required): the priors ``(C,)`` of
            :func:`imbalml.functional.adjust_logits` (:func:`imbalml.class_priors` of the
            training counts).
        candidates: Values to try: thresholds in ``[0, 1]`` (default 0.05, 0.10, ..., 0.95) or
            strengths ``tau >= 0`` (default 0, 0.1, ..., 2).
        min_positives: A label (group) with fewer positives (rarest-attribute samples) than this
            gets ``global_value``.
        shrinkage: The pseudo-count :math:`k \ge 0` pulling each value towards
            ``global_value`` (0: no pull).
        ignore_index: Target value that is not counted.

    Returns:
        A :class:`TunedThresholds`; pass ``.thresholds`` as ``threshold=`` to the plain metrics,
        or ``.tau`` as ``tau=`` to :func:`imbalml.functional.adjust_logits`.

    Raises:
        ValueError: For bad shapes or values, or ``priors`` missing for groups.

    Example:
        >>> import torch
        >>> from imbalml import tune_thresholds
        >>> from imbalml.functional import mean_class_accuracy
        >>> g = torch.Generator().manual_seed(0)
        >>> target = (torch.rand(400, 3, generator=g) < torch.tensor([0.5, 0.2, 0.05])).long()
        >>> probs = (0.3 * target + 0.5 * torch.rand(400, 3, generator=g)).clamp(0, 1)
        >>> tuned = tune_thresholds(probs, target, metric="mean_class_accuracy")
        >>> tuned.support
        tensor([201,  90,  33])
        >>> tuned.score > tuned.default_score
        True
        >>> float(mean_class_accuracy(probs, target, threshold=tuned.thresholds)) == tuned.score
        True
    """
    groups = check_optional_groups(groups)
    check_choice(metric, "metric", TUNING_METRICS)
    min_positives = check_int(min_positives, "min_positives", low=0)
    k = check_number(shrinkage, "shrinkage", low=0.0)
    if groups is None:
        return _tune_plain(preds, target, metric, candidates, min_positives, k, ignore_index)
    return _tune_grouped(preds, target, groups, metric, priors, candidates, min_positives, k, ignore_index)  # fmt: skip


def _candidates(candidates: Any, default: torch.Tensor, high: float | None) -> torch.Tensor:
    if candidates is None:
        return default
    values = as_tensor(candidates, "candidates").double()
    if values.ndim != 1 or values.numel() == 0:
        raise ValueError(
            f"Expected `candidates` of shape (T,) with T >= 1, but got {tuple(values.shape)}."
        )
    bad = ~((values >= 0) & (values <= (high if high is not None else torch.inf)))
    if bool(bad.any()):
        where = first_true(bad)
        span = "[0, 1]" if high is not None else "[0, inf)"
        raise ValueError(
            f"Expected `candidates` in {span}, but got {values[where].item():g} at {position(where)}."
        )
    return values.sort().values


def _tune_plain(
    preds: Any,
    target: Any,
    metric: str,
    candidates: Any,
    min_positives: int,
    k: float,
    ignore_index: int,
) -> TunedThresholds:
    target = check_multi_hot(target, ignore_index=ignore_index)
    scores = as_tensor(preds, "preds")
    check_floating(scores, "preds")
    check_shape(scores, "preds", tuple(target.shape), "(N, C) like `target`")
    check_finite(scores, "preds")
    probs = probabilities(scores)  # the metrics' rule: logits (outside [0, 1]) get a sigmoid
    t = _candidates(candidates, torch.arange(1, 20, dtype=torch.float64) / 20, 1.0)
    probs, target = probs.cpu(), target.cpu()
    valid = target != ignore_index
    per_label = _plain_scores(probs, target, valid, t, metric)  # (T, C)
    macro = torch.nan_to_num(per_label, nan=0.0).mean(1)
    anchor = float(_best(macro[:, None], t, 0.5)[0])
    own = _best(per_label, t, anchor)
    support = ((target == 1) & valid).sum(0)
    thresholds = _shrink(own, anchor, support, min_positives, k).float()
    final = _plain_scores(probs, target, valid, thresholds.double(), metric)
    tuned = final.diagonal()  # label c scored at its own threshold
    default = _plain_scores(probs, target, valid, torch.tensor([0.5], dtype=torch.float64), metric)
    return TunedThresholds(
        thresholds=thresholds,
        tau=None,
        global_value=anchor,
        support=support,
        score=float(tuned.nanmean()),
        default_score=float(default[0].nanmean()),
    )


def _grouped_logits(scores: torch.Tensor, groups: AttributeGroups) -> torch.Tensor:
    """Logits for the logit-space offsets: per-group probabilities (all in [0, 1]) become log-probabilities.

    The metrics' rule: floats all inside ``[0, 1]`` are probabilities (grouped: a softmax per
    group, each segment summing to 1), any other floats are logits. ``adjust_logits`` subtracts
    ``tau * log(prior)`` in logit space, so probabilities are taken to log space first (a
    log-softmax of the same logits, up to a constant per group: the same predictions).
    """
    if not scores.numel() or not bool(((scores >= 0) & (scores <= 1)).all()):
        return scores
    sums = torch.stack([s.sum(-1) for s in groups.split(scores)], -1)
    bad = (sums - 1).abs() > 1e-3
    if bool(bad.any()):
        row, col = first_true(bad)
        raise ValueError(
            f"Expected `preds` as logits, or as probabilities with each group segment summing "
            f"to 1 (a softmax per group), but every value is in [0, 1] and group "
            f"{groups.names[col]!r} sums to {sums[row, col].item():g} at row {row}. Pass the "
            f"model's logits."
        )
    return scores.clamp(min=torch.finfo(scores.dtype).tiny).log()


def _attribute_scores(
    logits: torch.Tensor,
    hard: torch.Tensor,
    groups: AttributeGroups,
    priors: Any,
    tau: torch.Tensor,
    metric: str,
    ignore_index: int,
) -> torch.Tensor:
    """Per-attribute metric ``(C,)`` with strengths ``tau`` ``(G,)`` (NaN: attribute unseen)."""
    adjusted = adjust_logits(logits, groups, priors=priors, tau=tau)
    counts = confusion_counts(adjusted, hard, groups, ignore_index=ignore_index)
    if metric == "f1":
        return label_scores_from_counts(counts, groups, "f1")
    return per_class_from_counts(counts, groups)


def _group_sums(scores: torch.Tensor, groups: AttributeGroups) -> torch.Tensor:
    """Per group, the summed metric ``scores`` ``(C,)`` of its attributes: its share of the mean.

    A group's strength moves only its own attributes' scores, so maximising each group's sum
    maximises the overall mean (the metric itself: mean over attributes).
    """
    return torch.stack([torch.nan_to_num(s, nan=0.0).sum() for s in groups.split(scores)])


def _tune_grouped(
    preds: Any,
    target: Any,
    groups: AttributeGroups,
    metric: str,
    priors: Any,
    candidates: Any,
    min_positives: int,
    k: float,
    ignore_index: int,
) -> TunedThresholds:
    if priors is None:
        raise TypeError(
            "Expected `priors` (C,) (e.g. class_priors(train_counts, groups)) to tune the "
            "per-group logit adjustment, but got None."
        )
    logits = _grouped_logits(check_scores(preds, groups, "preds").double().cpu(), groups)
    hard = _grouped_target(target, groups, ignore_index, True).cpu()
    check_shape(hard, "target", (logits.shape[0], groups.num_groups), "(N, G)")
    t = _candidates(candidates, torch.arange(0, 21, dtype=torch.float64) / 10, None)
    g = groups.num_groups
    per_attribute = [
        _attribute_scores(logits, hard, groups, priors, torch.full((g,), v), metric, ignore_index)
        for v in t.tolist()
    ]  # one strength for every group, per candidate
    per_group = torch.stack([_group_sums(s, groups) for s in per_attribute])  # (T, G)
    overall_t = torch.tensor([float(s.nanmean()) for s in per_attribute])
    anchor = float(_best(overall_t[:, None], t, 0.0)[0])
    own = _best(per_group, t, anchor)
    one_hot = groups.to_one_hot(hard, ignore_index=ignore_index, dtype=torch.long)
    support = torch.stack([s.sum(0).min() for s in groups.split(one_hot)])
    tau = _shrink(own, anchor, support, min_positives, k).float()

    def overall(values: torch.Tensor) -> float:
        scores = _attribute_scores(logits, hard, groups, priors, values, metric, ignore_index)
        return float(scores.nanmean())

    return TunedThresholds(
        thresholds=None,
        tau=tau,
        global_value=anchor,
        support=support,
        score=overall(tau),
        default_score=overall(torch.zeros(g)),
    )
