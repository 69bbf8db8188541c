"""Scores read off the counts of either layout: rates, per-label scores, accuracies."""

from __future__ import annotations

from typing import Any

import torch

from imbalml._layout_checks import check_optional_groups
from imbalml.functional.metrics.grouped_counts import (
    _result_dtype,
    confusion_counts,
    group_accuracy_from_counts,
    per_class_from_counts,
    split_confusion,
)
from imbalml.functional.metrics.multilabel_counts import multilabel_confusion_matrix
from imbalml.groups import AttributeGroups

__all__ = []


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """``numerator / denominator`` as float64 (float32 on MPS), NaN where ``denominator`` is 0."""
    dtype = _result_dtype(numerator.device)
    return numerator.to(dtype) / denominator.to(dtype)


def _zero_if_nan(value: torch.Tensor) -> torch.Tensor:
    return torch.nan_to_num(value, nan=0.0)


def balanced_accuracy_from_confusion(confmat: torch.Tensor) -> torch.Tensor:
    """Per-label ``(TPR + TNR) / 2`` from ``(C, 2, 2)`` counts, ``(C,)``.

    Where a label has only negatives (or only positives), the defined rate alone, as
    scikit-learn's ``balanced_accuracy_score``; NaN for a label without labelled sample.
    """
    tn, fp, fn, tp = confmat.reshape(-1, 4).unbind(-1)
    rates = torch.stack([_ratio(tp, tp + fn), _ratio(tn, tn + fp)], -1)
    return rates.nanmean(-1)


def _one_vs_rest(counts: torch.Tensor, groups: AttributeGroups | None) -> tuple[torch.Tensor, ...]:
    """``(tp, fp, fn)`` per label ``(C,)`` from plain ``(C, 2, 2)`` or flat grouped counts."""
    if groups is None:
        _, fp, fn, tp = counts.reshape(-1, 4).unbind(-1)
        return tp, fp, fn
    mats = split_confusion(counts, groups)
    tp = torch.cat([m.diagonal() for m in mats])
    fp = torch.cat([m.sum(0) - m.diagonal() for m in mats])
    fn = torch.cat([m.sum(1) - m.diagonal() for m in mats])
    return tp, fp, fn


def _weighted_mean(scores: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum(w * s) / sum(w)``, 0 where every weight is 0 (torchmetrics' ``_safe_divide``)."""
    weights = weights.to(scores.dtype)
    total = weights.sum()
    return torch.where(total > 0, (weights * scores).sum() / total.clamp(min=1e-300), 0.0)


def label_scores_from_counts(
    counts: torch.Tensor, groups: AttributeGroups | None, metric: str, average: str = "none"
) -> torch.Tensor:
    """Per-label ``"recall"``, ``"precision"`` or ``"f1"`` ``(C,)`` (0 where undefined), or an average.

    ``average``: ``"none"``, ``"micro"`` (the score of the summed counts), ``"weighted"`` (weights
    ``tp + fn``, the support) or ``"macro"``: the unweighted mean over the labels, leaving out,
    grouped, the attributes with ``tp + fp + fn == 0`` (the rule of :mod:`imbalml.metrics`).
    """
    tp, fp, fn = _one_vs_rest(counts, groups)
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    if metric == "recall":
        scores = _zero_if_nan(_ratio(tp, tp + fn))
    elif metric == "precision":
        scores = _zero_if_nan(_ratio(tp, tp + fp))
    else:
        scores = _zero_if_nan(_ratio(2 * tp, 2 * tp + fp + fn))
    if average in ("none", "micro"):
        return scores
    if average == "weighted":
        return _weighted_mean(scores, tp + fn)
    if groups is None:
        return scores.mean()
    return _weighted_mean(scores, (tp + fp + fn) > 0)


def per_class_from_any(counts: torch.Tensor, groups: AttributeGroups | None) -> torch.Tensor:
    """Grouped: recall of each attribute in its group; plain: balanced accuracy of each label."""
    if groups is None:
        return balanced_accuracy_from_confusion(counts)
    return per_class_from_counts(counts, groups)


def _counts(
    preds: Any,
    target: Any,
    groups: AttributeGroups | None,
    threshold: Any,
    ignore_index: int,
    validate_args: bool,
) -> torch.Tensor:
    groups = check_optional_groups(groups)
    if groups is None:
        return multilabel_confusion_matrix(
            preds, target, threshold=threshold, ignore_index=ignore_index,
            validate_args=validate_args,
        )  # fmt: skip
    if threshold is not None:
        raise ValueError(
            "Expected `threshold=None` with `groups` (grouped predictions are the argmax of each "
            f"group), but got {threshold!r}; thresholds apply to plain multi-label (groups=None)."
        )
    return confusion_counts(
        preds, target, groups, ignore_index=ignore_index, validate_args=validate_args
    )


def _plain_threshold(groups: AttributeGroups | None, threshold: Any) -> Any:
    """The default decision threshold: 0.5 for plain multi-label, none for groups."""
    return 0.5 if groups is None and threshold is None else threshold


def accuracy_from_any(counts: torch.Tensor, groups: AttributeGroups | None) -> torch.Tensor:
    """Accuracy of each group ``(G,)``, or of each label ``(C,)`` for plain counts."""
    if groups is None:
        tn, fp, fn, tp = counts.reshape(-1, 4).unbind(-1)
        return _ratio(tn + tp, tn + fp + fn + tp)
    return group_accuracy_from_counts(counts, groups)
