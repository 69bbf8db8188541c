"""The public metrics of ``(preds, target, groups)`` that count first: accuracies and label scores.

Every function counts (grouped confusion counts or plain 2 x 2 matrices, :func:`_counts`) and
then reads its value off the counts. The signatures are written out for each function.
"""

from __future__ import annotations

from typing import Any

import torch

from imbalml._validation import check_choice
from imbalml.functional.metrics.from_counts import (
    _counts,
    _plain_threshold,
    _ratio,
    accuracy_from_any,
    label_scores_from_counts,
    per_class_from_any,
)
from imbalml.functional.metrics.grouped_counts import split_confusion
from imbalml.groups import AttributeGroups

__all__ = [
    "confusion_matrices",
    "group_accuracy",
    "label_f1_score",
    "label_precision",
    "label_recall",
    "mean_class_accuracy",
    "per_class_accuracy",
]

#: The ``average`` values of the per-label scores (torchmetrics' vocabulary).
LABEL_AVERAGES = ("micro", "macro", "weighted", "none")
#: The ``average`` values of the per-group (plain: per-label) accuracy.
GROUP_AVERAGES = ("micro", "macro", "none")


def _check_average(average: Any, choices: tuple[str, ...]) -> str:
    if average is None:
        return "none"  # torchmetrics spells "none" as None too
    if average == "mean":
        raise ValueError(
            f"Expected `average` to be one of {choices}, but got 'mean': imbalml uses "
            f"torchmetrics' names, 'macro' for the unweighted mean."
        )
    return check_choice(average, "average", choices)


def confusion_matrices(
    preds: Any,
    target: Any,
    groups: AttributeGroups | None = None,
    *,
    threshold: float | torch.Tensor | None = None,
    ignore_index: int = -100,
    validate_args: bool = True,
) -> tuple[torch.Tensor, ...]:
    """One confusion matrix per group (rows: true attribute, columns: predicted attribute).

    Args:
        preds: Grouped: ``(N, G)`` predicted indices or ``(N, C)`` scores (argmax per group).
            Plain: ``(N, C)`` probabilities, logits (floats outside ``[0, 1]`` get a sigmoid) or
            0/1 predictions.
        target: Grouped: ``(N, G)`` true indices (or one-hot ``(N, C)``). Plain: multi-hot
            ``(N, C)``.
        groups: The label layout, or ``None`` for plain multi-label (one 2 x 2 matrix per label).
        threshold: Plain only: decision threshold on probabilities (default 0.5), one number or
            one per label.
        ignore_index: Label value that is not counted.
        validate_args: Check shapes and values.

    Returns:
        ``G`` long tensors, the ``g``-th of shape ``(K_g, K_g)``; equal to
        ``sklearn.metrics.confusion_matrix(target[:, g], preds[:, g], labels=range(K_g))``.
        Plain: ``C`` matrices ``(2, 2)``, as :func:`multilabel_confusion_matrix`.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import confusion_matrices
        >>> groups = AttributeGroups([2, 3])
        >>> cm = confusion_matrices(torch.tensor([[0, 2], [1, 2]]), torch.tensor([[0, 2], [0, 1]]), groups)
        >>> cm[0]
        tensor([[1, 1],
                [0, 0]])
    """
    threshold = _plain_threshold(groups, threshold)
    counts = _counts(preds, target, groups, threshold, ignore_index, validate_args)
    if groups is None:
        return tuple(counts.unbind(0))
    return split_confusion(counts, groups)


def per_class_accuracy(
    preds: Any,
    target: Any,
    groups: AttributeGroups | None = None,
    *,
    threshold: float | torch.Tensor | None = None,
    ignore_index: int = -100,
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Grouped: recall of every attribute inside its group. Plain: each label's balanced accuracy.

    Grouped:

    .. math::
        \mathrm{acc}_c = \frac{|\{n : y_{n,g(c)} = c \wedge \hat y_{n,g(c)} = c\}|}
                              {|\{n : y_{n,g(c)} = c\}|}

    NaN for an attribute with nothing to score (no sample in ``target`` and never predicted),
    0 for one without sample that was predicted: the attributes a macro average leaves out are
    the NaNs (see the metrics guide, "A label absent from the data").

    Plain multi-label (``groups=None``): :math:`(\mathrm{TPR}_c + \mathrm{TNR}_c) / 2`, equal to
    ``sklearn.metrics.balanced_accuracy_score(target[:, c], preds[:, c] > threshold[c])`` (a label
    with only negatives, or only positives, gets the one defined rate, as there; NaN for a label
    without labelled sample).

    Args:
        preds: ``(N, G)`` predicted indices or ``(N, C)`` scores (grouped); ``(N, C)``
            probabilities, logits or 0/1 predictions (plain).
        target: ``(N, G)`` true indices, ``ignore_index`` for a missing label (grouped);
            multi-hot ``(N, C)`` (plain).
        groups: The label layout, or ``None`` for plain multi-label.
        threshold: Plain only: decision threshold (default 0.5), one number or one per label.
        ignore_index: Label value that is not counted.
        validate_args: Check shapes and values.

    Returns:
        ``(C,)`` float64 tensor (float32 on MPS).

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import per_class_accuracy
        >>> groups = AttributeGroups([2, 2])
        >>> per_class_accuracy(torch.tensor([[0, 1], [0, 1]]), torch.tensor([[0, 1], [1, 1]]), groups)
        tensor([1., 0., nan, 1.], dtype=torch.float64)
    """
    threshold = _plain_threshold(groups, threshold)
    counts = _counts(preds, target, groups, threshold, ignore_index, validate_args)
    return per_class_from_any(counts, groups)


def mean_class_accuracy(
    preds: Any,
    target: Any,
    groups: AttributeGroups | None = None,
    *,
    threshold: float | torch.Tensor | None = None,
    ignore_index: int = -100,
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Mean of :func:`per_class_accuracy`: the course metric (grouped) or mA (plain).

    Grouped: average per-class accuracy, the macro recall over the attributes:

    .. math::
        \mathrm{score} = \frac{1}{|\mathcal C^+|}\sum_{c \in \mathcal C^+} \mathrm{acc}_c

    where :math:`\mathcal C^+` leaves out the attributes with nothing to score (no sample in
    ``target`` and never predicted), as torchmetrics' ``MulticlassAccuracy(average="macro")``
    does: for one group, the two are equal. A predictor that always outputs the majority
    attribute scores ``G / C`` (one recall of 1 per group) on data where every attribute occurs.

    Plain multi-label (``groups=None``): the pedestrian-attribute mean accuracy
    :math:`\mathrm{mA} = \frac1C \sum_c (\mathrm{TPR}_c + \mathrm{TNR}_c) / 2`, the mean over labels
    of scikit-learn's ``balanced_accuracy_score``; a constant predictor scores 0.5.

    Args:
        preds: ``(N, G)`` predicted indices or ``(N, C)`` scores (grouped); ``(N, C)``
            probabilities, logits (floats outside ``[0, 1]`` get a sigmoid) or 0/1 predictions
            (plain).
        target: ``(N, G)`` true indices, ``ignore_index`` for a missing label (grouped);
            multi-hot ``(N, C)`` (plain).
        groups: The label layout, or ``None`` for plain multi-label.
        threshold: Plain only: decision threshold (default 0.5), one number or one per label.
        ignore_index: Label value that is not counted.
        validate_args: Check shapes and values.

    Returns:
        A float64 scalar (float32 on MPS).

    Raises:
        ValueError: If ``target`` holds no labelled sample.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import mean_class_accuracy
        >>> groups = AttributeGroups([2, 2])
        >>> target = torch.tensor([[0, 0], [1, 1], [1, 1]])
        >>> mean_class_accuracy(torch.tensor([[1, 1]]).expand(3, 2), target, groups)  # majority
        tensor(0.5000, dtype=torch.float64)
        >>> probs = torch.tensor([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4]])
        >>> mean_class_accuracy(probs, torch.tensor([[1, 0], [0, 1], [0, 1]]))  # plain: mA
        tensor(0.7500, dtype=torch.float64)
    """
    threshold = _plain_threshold(groups, threshold)
    counts = _counts(preds, target, groups, threshold, ignore_index, validate_args)
    if int(counts.sum()) == 0:
        raise ValueError("Expected `target` to hold at least one labelled sample, but got none.")
    return per_class_from_any(counts, groups).nanmean()


def group_accuracy(
    preds: Any,
    target: Any,
    groups: AttributeGroups | None = None,
    *,
    average: str | None = "none",
    threshold: float | torch.Tensor | None = None,
    ignore_index: int = -100,
    validate_args: bool = True,
) -> torch.Tensor:
    """Plain accuracy inside each group (plain multi-label: of each label), or an average.

    Args:
        preds: ``(N, G)`` predicted indices or ``(N, C)`` scores (argmax per group); plain:
            ``(N, C)`` probabilities, logits or 0/1 predictions.
        target: ``(N, G)`` true indices, ``ignore_index`` for a missing label; plain: multi-hot.
        groups: The label layout, or ``None`` for plain multi-label (each label a group).
        average: ``"none"`` for the ``(G,)`` (plain: ``(C,)``) vector, ``"macro"`` for its mean
            over the groups with a labelled sample, ``"micro"`` for the accuracy of all labelled
            entries together.
        threshold: Plain only: decision threshold (default 0.5).
        ignore_index: Label value that is not counted.
        validate_args: Check shapes and values.

    Returns:
        A float64 ``(G,)`` tensor (plain ``(C,)``), or a scalar.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import group_accuracy
        >>> groups = AttributeGroups([2, 2])
        >>> group_accuracy(torch.tensor([[0, 1], [0, 0]]), torch.tensor([[0, 1], [1, 0]]), groups)
        tensor([0.5000, 1.0000], dtype=torch.float64)
        >>> group_accuracy(torch.tensor([[0, 1], [0, 0]]), torch.tensor([[0, 1], [1, 0]]), groups, average="macro")
        tensor(0.7500, dtype=torch.float64)
    """
    average = _check_average(average, GROUP_AVERAGES)
    threshold = _plain_threshold(groups, threshold)
    counts = _counts(preds, target, groups, threshold, ignore_index, validate_args)
    return _group_average(counts, groups, average)


def _group_average(
    counts: torch.Tensor, groups: AttributeGroups | None, average: str
) -> torch.Tensor:
    """The per-group (plain: per-label) accuracy of ``counts``, or its ``"macro"`` / ``"micro"`` average."""
    if average == "micro":
        if groups is None:
            tn, fp, fn, tp = counts.reshape(-1, 4).sum(0).unbind(-1)
            return _ratio(tn + tp, tn + fp + fn + tp)
        mats = split_confusion(counts, groups)
        correct = sum(m.diagonal().sum() for m in mats)
        return _ratio(torch.as_tensor(correct), counts.sum())
    acc = accuracy_from_any(counts, groups)
    return acc if average == "none" else acc.nanmean()


def _label_score(
    metric: str,
    preds: Any,
    target: Any,
    groups: AttributeGroups | None,
    average: str | None,
    threshold: Any,
    ignore_index: int,
    validate_args: bool,
) -> torch.Tensor:
    average = _check_average(average, LABEL_AVERAGES)
    threshold = _plain_threshold(groups, threshold)
    counts = _counts(preds, target, groups, threshold, ignore_index, validate_args)
    return label_scores_from_counts(counts, groups, metric, average)


def label_recall(
    preds: Any,
    target: Any,
    groups: AttributeGroups | None = None,
    *,
    average: str | None = "macro",
    threshold: float | torch.Tensor | None = None,
    ignore_index: int = -100,
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Per-label recall and its averages (plain multi-label, or per attribute one-vs-rest).

    :math:`\mathrm{TP}_c / (\mathrm{TP}_c + \mathrm{FN}_c)` for each label :math:`c` (grouped:
    each attribute against the other attributes of its group), 0 where the denominator is 0
    (scikit-learn's ``zero_division=0``). Equal to torchmetrics' ``multilabel_recall`` (plain)
    and ``multiclass_recall`` of each group (grouped), for every ``average``; see the metrics
    guide for the rule on a label absent from the data.

    Args:
        preds: Plain: probabilities ``(N, C)``, logits (floats outside ``[0, 1]`` get a
            sigmoid) or 0/1 predictions. Grouped: ``(N, G)`` predicted indices or ``(N, C)``
            scores.
        target: Plain: multi-hot ``(N, C)``. Grouped: hard ``(N, G)`` indices.
        groups: ``None`` for plain multi-label, or the label layout.
        average: ``"macro"`` (mean over labels), ``"micro"`` (recall of the summed counts),
            ``"weighted"`` (mean weighted by each label's positives) or ``"none"`` (the ``(C,)``
            vector).
        threshold: Plain only: decision threshold (default 0.5): one number or one per label
            ``(C,)`` (see :func:`imbalml.tune_thresholds`).
        ignore_index: Target value that is not counted.
        validate_args: Check shapes and values.

    Returns:
        A float64 scalar, or ``(C,)`` with ``average="none"``.

    Example:
        >>> import torch
        >>> from imbalml.functional import label_recall
        >>> probs = torch.tensor([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4]])
        >>> target = torch.tensor([[1, 0], [0, 1], [0, 1]])
        >>> label_recall(probs, target, average="none")
        tensor([1.0000, 0.5000], dtype=torch.float64)
        >>> label_recall(probs, target, average="micro")  # 2 of 3 positives found
        tensor(0.6667, dtype=torch.float64)
    """
    return _label_score(
        "recall", preds, target, groups, average, threshold, ignore_index, validate_args
    )


def label_precision(
    preds: Any,
    target: Any,
    groups: AttributeGroups | None = None,
    *,
    average: str | None = "macro",
    threshold: float | torch.Tensor | None = None,
    ignore_index: int = -100,
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Per-label precision and its averages (plain multi-label, or per attribute one-vs-rest).

    :math:`\mathrm{TP}_c / (\mathrm{TP}_c + \mathrm{FP}_c)` for each label :math:`c` (grouped:
    each attribute against the other attributes of its group), 0 where the denominator is 0
    (scikit-learn's ``zero_division=0``). Equal to torchmetrics' ``multilabel_precision`` (plain)
    and ``multiclass_precision`` of each group (grouped), for every ``average``; see the metrics
    guide for the rule on a label absent from the data.

    Args:
        preds: Plain: probabilities ``(N, C)``, logits (floats outside ``[0, 1]`` get a
            sigmoid) or 0/1 predictions. Grouped: ``(N, G)`` predicted indices or ``(N, C)``
            scores.
        target: Plain: multi-hot ``(N, C)``. Grouped: hard ``(N, G)`` indices.
        groups: ``None`` for plain multi-label, or the label layout.
        average: ``"macro"`` (mean over labels), ``"micro"`` (precision of the summed counts),
            ``"weighted"`` (mean weighted by each label's positives) or ``"none"`` (the ``(C,)``
            vector).
        threshold: Plain only: decision threshold (default 0.5): one number or one per label
            ``(C,)`` (see :func:`imbalml.tune_thresholds`).
        ignore_index: Target value that is not counted.
        validate_args: Check shapes and values.

    Returns:
        A float64 scalar, or ``(C,)`` with ``average="none"``.

    Example:
        >>> import torch
        >>> from imbalml.functional import label_precision
        >>> probs = torch.tensor([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4]])
        >>> target = torch.tensor([[1, 0], [0, 1], [0, 1]])
        >>> label_precision(probs, target, average="none")
        tensor([0.5000, 1.0000], dtype=torch.float64)
    """
    return _label_score(
        "precision", preds, target, groups, average, threshold, ignore_index, validate_args
    )


def label_f1_score(
    preds: Any,
    target: Any,
    groups: AttributeGroups | None = None,
    *,
    average: str | None = "macro",
    threshold: float | torch.Tensor | None = None,
    ignore_index: int = -100,
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Per-label F1 score and its averages (plain multi-label, or per attribute one-vs-rest).

    :math:`2\mathrm{TP}_c / (2\mathrm{TP}_c + \mathrm{FP}_c + \mathrm{FN}_c)` for each label
    :math:`c` (grouped: each attribute against the other attributes of its group), 0 where the
    denominator is 0 (scikit-learn's ``zero_division=0``). Equal to torchmetrics'
    ``multilabel_f1_score`` (plain) and ``multiclass_f1_score`` of each group (grouped), for
    every ``average``; see the metrics guide for the rule on a label absent from the data.

    Args:
        preds: Plain: probabilities ``(N, C)``, logits (floats outside ``[0, 1]`` get a
            sigmoid) or 0/1 predictions. Grouped: ``(N, G)`` predicted indices or ``(N, C)``
            scores.
        target: Plain: multi-hot ``(N, C)``. Grouped: hard ``(N, G)`` indices.
        groups: ``None`` for plain multi-label, or the label layout.
        average: ``"macro"`` (mean over labels), ``"micro"`` (F1 of the summed counts),
            ``"weighted"`` (mean weighted by each label's positives) or ``"none"`` (the ``(C,)``
            vector).
        threshold: Plain only: decision threshold (default 0.5): one number or one per label
            ``(C,)`` (see :func:`imbalml.tune_thresholds`).
        ignore_index: Target value that is not counted.
        validate_args: Check shapes and values.

    Returns:
        A float64 scalar, or ``(C,)`` with ``average="none"``.

    Example:
        >>> import torch
        >>> from imbalml.functional import label_f1_score
        >>> probs = torch.tensor([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4]])
        >>> target = torch.tensor([[1, 0], [0, 1], [0, 1]])
        >>> label_f1_score(probs, target, average="none")
        tensor([0.6667, 0.6667], dtype=torch.float64)
    """
    return _label_score(
        "f1", preds, target, groups, average, threshold, ignore_index, validate_args
    )
