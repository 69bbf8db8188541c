"""Ranking metrics of plain multi-label scores: per-label average precision (mAP)."""

from __future__ import annotations

from typing import Any

import torch

from imbalml._layout_checks import check_optional_groups, check_scores
from imbalml._validation import as_tensor, check_finite, check_multi_hot, check_shape
from imbalml.functional.grouped import grouped_softmax
from imbalml.functional.metrics.count_metrics import LABEL_AVERAGES, _check_average
from imbalml.functional.metrics.grouped_counts import _grouped_target
from imbalml.functional.metrics.multilabel_counts import probabilities
from imbalml.groups import AttributeGroups

__all__ = ["label_average_precision"]


def ranking_inputs(
    preds: Any,
    target: Any,
    groups: AttributeGroups | None,
    ignore_index: int,
    validate_args: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores ``(N, C)`` and long multi-hot targets (``ignore_index`` kept) for ranking metrics.

    Float ``preds`` follow torchmetrics' rule: all inside ``[0, 1]``, probabilities (grouped: per
    group, as a softmax gives them); otherwise logits, which get a sigmoid (plain) or a softmax
    per group (grouped). Grouped targets become one-hot, a missing group label marking its whole
    segment ``ignore_index``.
    """
    groups = check_optional_groups(groups)
    preds = as_tensor(preds, "preds")
    if not preds.is_floating_point():
        raise TypeError(
            f"Expected `preds` to hold floating scores (probabilities or logits) for a ranking "
            f"metric, but got dtype {preds.dtype}."
        )
    if groups is None:
        target = check_multi_hot(target, ignore_index=ignore_index, validate_args=validate_args)
        if validate_args:
            if tuple(preds.shape) != tuple(target.shape):
                raise ValueError(
                    f"Expected `preds` of shape (N, C) = {tuple(target.shape)} like `target`, "
                    f"but got {tuple(preds.shape)}."
                )
            check_finite(preds, "preds")
        return probabilities(preds), target.long()
    hard = _grouped_target(target, groups, ignore_index, validate_args)
    check_scores(preds, groups, "preds")
    check_shape(preds, "preds", (hard.shape[0], groups.num_attributes), "(N, C)")
    one_hot = groups.to_one_hot(
        hard, ignore_index=ignore_index, dtype=torch.long, validate_args=False
    )
    missing = (hard == ignore_index)[:, groups.group_index(hard.device)]
    inside = ((preds >= 0) & (preds <= 1)).all()
    probs = torch.where(inside, preds, grouped_softmax(preds, groups, validate_args=False))
    return probs, torch.where(missing, ignore_index, one_hot)


def label_average_precision(
    preds: Any,
    target: Any,
    groups: AttributeGroups | None = None,
    *,
    average: str | None = "macro",
    ignore_index: int = -100,
    validate_args: bool = True,
) -> torch.Tensor:
    """Per-label average precision (area under the precision-recall curve) and its averages (mAP).

    Computed by torchmetrics (exact, ``thresholds=None``). Plain: torchmetrics'
    ``multilabel_average_precision``, equal to
    ``sklearn.metrics.average_precision_score(target, preds, average=...)``; a label without
    positives gets AP 0 and counts in the macro mean, as in both. Grouped: each attribute
    one-vs-rest on its group's probabilities, as torchmetrics' ``multiclass_average_precision``
    of each group: an attribute without positives has no AP (NaN) and is left out of the macro
    mean (see the metrics guide, "A label absent from the data").

    Args:
        preds: Scores ``(N, C)``: probabilities if all are in ``[0, 1]`` (grouped: per group, as
            a softmax gives them), else logits (a sigmoid, or a softmax per group, is applied).
        target: Plain: multi-hot ``(N, C)``. Grouped: hard ``(N, G)`` indices.
        groups: ``None`` for plain multi-label, or the label layout.
        average: ``"macro"`` (mAP), ``"micro"`` (AP of all entries pooled), ``"weighted"``
            (weighted by each label's positives) or ``"none"`` (the ``(C,)`` vector).
        ignore_index: Target value that is not counted.
        validate_args: Check shapes and values.

    Returns:
        A float32 scalar, or ``(C,)`` with ``average="none"``.

    Example:
        >>> import torch
        >>> from imbalml.functional import label_average_precision
        >>> probs = torch.tensor([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4]])
        >>> target = torch.tensor([[1, 0], [0, 1], [0, 1]])
        >>> label_average_precision(probs, target, average="none")
        tensor([1., 1.])
        >>> label_average_precision(torch.logit(probs), target)  # logits: the same ranking
        tensor(1.)
    """
    average = _check_average(average, LABEL_AVERAGES)
    scores, labels = ranking_inputs(preds, target, groups, ignore_index, validate_args)
    return average_precision_of(scores, labels, groups, average, ignore_index)


def average_precision_of(
    scores: torch.Tensor,
    labels: torch.Tensor,
    groups: AttributeGroups | None,
    average: str,
    ignore_index: int,
) -> torch.Tensor:
    """AP of checked ``(scores, labels)`` from :func:`ranking_inputs`, under the layout's rule."""
    from torchmetrics.functional.classification import multilabel_average_precision

    def ap(mode: str | None) -> torch.Tensor:
        return multilabel_average_precision(
            scores.float(), labels, num_labels=scores.shape[1], average=mode,  # type: ignore[arg-type]
            ignore_index=ignore_index, validate_args=False,
        )  # fmt: skip

    if average == "micro" or (groups is None and average != "none"):
        return ap(average)
    per_label = ap(None)
    if groups is None:
        return per_label
    positives = (labels == 1).sum(0)
    per_label = torch.where(positives > 0, per_label, torch.nan)
    if average == "none":
        return per_label
    if average == "weighted":
        weights = positives.to(per_label.dtype)
        return torch.nan_to_num(per_label, nan=0.0).mul(weights).sum() / weights.sum()
    return per_label.nanmean()
