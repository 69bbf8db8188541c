"""The public metrics of ``(preds, target, groups)`` that count first: accuracies and label scores."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from imbalml._validation import check_choice
from imbalml.functional.metrics.from_counts import (
    _counts,
    _plain_threshold,
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


AVERAGES = ("macro", "none")


_R = TypeVar("_R")


def _count_metric(
    preds: Any,
    target: Any,
    groups: AttributeGroups | None = None,
    *,
    average: str = "",
    threshold: float | torch.Tensor | None = None,
    ignore_index: int = -100,
    validate_args: bool = True,
) -> None:
    """The signature of every public metric below (``average`` only where one takes it)."""


def _metric_of_counts(
    *, average: tuple[str, tuple[str, ...]] | None = None
) -> Callable[[Callable[..., _R]], Callable[..., _R]]:
    """Make a public metric of ``(preds, target, groups)`` from ``finish(counts, groups)``.

    Every metric of this module counts first (grouped confusion counts or plain 2 x 2 matrices,
    :func:`_counts`) and then reads its value off the counts; the public signature
    (:func:`_count_metric`), the threshold default and the counting are written once.
    ``finish`` gives the name, the docstring and the result; with ``average=(default,
    choices)`` it also takes the checked ``average``.
    """
    params = list(inspect.signature(_count_metric).parameters.values())
    if average is None:
        params = [p for p in params if p.name != "average"]
    else:
        params = [p.replace(default=average[0]) if p.name == "average" else p for p in params]

    def make(finish: Callable[..., _R]) -> Callable[..., _R]:
        signature = inspect.Signature(params, return_annotation=finish.__annotations__["return"])

        # No default in this definition: `signature` holds them (and the API docs show them).
        def metric(*args: Any, **kwargs: Any) -> _R:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            a = bound.arguments
            threshold = _plain_threshold(a["groups"], a["threshold"])
            counts = _counts(
                a["preds"],
                a["target"],
                a["groups"],
                threshold,
                a["ignore_index"],
                a["validate_args"],
            )
            if average is None:
                return finish(counts, a["groups"])
            return finish(counts, a["groups"], check_choice(a["average"], "average", average[1]))

        metric.__signature__ = signature  # type: ignore[attr-defined]
        metric.__annotations__ = {
            **{p.name: p.annotation for p in params},
            "return": signature.return_annotation,
        }
        metric.__name__ = metric.__qualname__ = finish.__name__
        metric.__doc__ = finish.__doc__
        return metric

    return make


# ---------------------------------------------------------------------------------------------
# public metrics


@_metric_of_counts()
def confusion_matrices(  # noqa: D417 (documents the public signature)
    counts: torch.Tensor, groups: AttributeGroups | None
) -> tuple[torch.Tensor, ...]:
    """One confusion matrix per group (rows: true attribute, columns: predicted attribute).

    Args:
        preds: Grouped: ``(N, G)`` predicted indices or ``(N, C)`` scores (argmax per group).
            Plain: ``(N, C)`` probabilities or 0/1 predictions.
        target: Grouped: ``(N, G)`` true indices (or one-hot ``(N, C)``). Plain: multi-hot
            ``(N, C)``.
        groups: The label layout, or ``None`` for plain multi-label (one 2 x 2 matrix per label).
        threshold: Plain only: decision threshold (default 0.5), one number or one per label.
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
    if groups is None:
        return tuple(counts.unbind(0))
    return split_confusion(counts, groups)


@_metric_of_counts()
def per_class_accuracy(  # noqa: D417 (documents the public signature)
    counts: torch.Tensor, groups: AttributeGroups | None
) -> torch.Tensor:
    r"""Grouped: recall of every attribute inside its group. Plain: each label's balanced accuracy.

    Grouped:

    .. math::
        \mathrm{acc}_c = \frac{|\{n : y_{n,g(c)} = c \wedge \hat y_{n,g(c)} = c\}|}
                              {|\{n : y_{n,g(c)} = c\}|}

    Plain multi-label (``groups=None``): :math:`(\mathrm{TPR}_c + \mathrm{TNR}_c) / 2`, equal to
    ``sklearn.metrics.balanced_accuracy_score(target[:, c], preds[:, c] > threshold[c])`` (a label
    with only negatives, or only positives, gets the one defined rate, as there).

    Args:
        preds: ``(N, G)`` predicted indices or ``(N, C)`` scores (grouped); ``(N, C)``
            probabilities or 0/1 predictions (plain).
        target: ``(N, G)`` true indices, ``ignore_index`` for a missing label (grouped);
            multi-hot ``(N, C)`` (plain).
        groups: The label layout, or ``None`` for plain multi-label.
        threshold: Plain only: decision threshold (default 0.5), one number or one per label.
        ignore_index: Label value that is not counted.
        validate_args: Check shapes and values.

    Returns:
        ``(C,)`` float64 tensor (float32 on MPS); NaN for an attribute absent from ``target``.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import per_class_accuracy
        >>> groups = AttributeGroups([2, 2])
        >>> per_class_accuracy(torch.tensor([[0, 1], [0, 1]]), torch.tensor([[0, 1], [1, 1]]), groups)
        tensor([1., 0., nan, 1.], dtype=torch.float64)
    """
    return per_class_from_any(counts, groups)


@_metric_of_counts()
def mean_class_accuracy(counts: torch.Tensor, groups: AttributeGroups | None) -> torch.Tensor:
    r"""Mean of :func:`per_class_accuracy`: the course metric (grouped) or mA (plain).

    Grouped: average per-class accuracy, the mean recall over the attributes present in
    ``target``. A predictor that always outputs the majority attribute scores ``G / C`` (one
    recall of 1 per group) on data where every attribute occurs.

    .. math::
        \mathrm{score} = \frac{1}{|\mathcal C^+|}\sum_{c \in \mathcal C^+} \mathrm{acc}_c

    where :math:`\mathcal C^+` are the attributes with at least one sample in ``target``.

    Plain multi-label (``groups=None``): the pedestrian-attribute mean accuracy
    :math:`\mathrm{mA} = \frac1C \sum_c (\mathrm{TPR}_c + \mathrm{TNR}_c) / 2`, the mean over labels
    of scikit-learn's ``balanced_accuracy_score``; a constant predictor scores 0.5.

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
    if int(counts.sum()) == 0:
        raise ValueError("Expected `target` to hold at least one labelled sample, but got none.")
    return per_class_from_any(counts, groups).nanmean()


@_metric_of_counts(average=("none", ("none", "mean")))
def group_accuracy(  # noqa: D417 (documents the public signature)
    counts: torch.Tensor, groups: AttributeGroups | None, average: str
) -> torch.Tensor:
    """Plain accuracy inside each group (plain multi-label: of each label), or its mean.

    Args:
        preds: ``(N, G)`` predicted indices or ``(N, C)`` scores (argmax per group); plain:
            ``(N, C)`` probabilities or 0/1 predictions.
        target: ``(N, G)`` true indices, ``ignore_index`` for a missing label; plain: multi-hot.
        groups: The label layout, or ``None`` for plain multi-label (each label a group).
        average: ``"none"`` for the ``(G,)`` (plain: ``(C,)``) vector, ``"mean"`` for its mean.
        threshold: Plain only: decision threshold (default 0.5).
        ignore_index: Label value that is not counted.
        validate_args: Check shapes and values.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import group_accuracy
        >>> groups = AttributeGroups([2, 2])
        >>> group_accuracy(torch.tensor([[0, 1], [0, 0]]), torch.tensor([[0, 1], [1, 0]]), groups)
        tensor([0.5000, 1.0000], dtype=torch.float64)
    """
    acc = accuracy_from_any(counts, groups)
    return acc if average == "none" else acc.nanmean()


_LABEL_METRIC_DOC = r"""Per-label {title} and its macro mean (plain multi-label, or per attribute).

    :math:`{formula}` for each label :math:`c` (grouped: each attribute against the other
    attributes of its group, one-vs-rest), 0 where the denominator is 0 (scikit-learn's
    ``zero_division=0``); ``average="macro"`` is the unweighted mean over all ``C`` labels. Equal
    to ``sklearn.metrics.{sklearn}(target, preds > threshold, average=..., zero_division=0)``
    and, for one number ``threshold``, to torchmetrics' ``{torchmetrics}`` wherever every label
    has a positive or a predicted positive.

    Args:
        preds: Plain: probabilities ``(N, C)`` in ``[0, 1]`` or 0/1 predictions. Grouped:
            ``(N, G)`` predicted indices or ``(N, C)`` scores.
        target: Plain: multi-hot ``(N, C)``. Grouped: hard ``(N, G)`` indices.
        groups: ``None`` for plain multi-label, or the label layout.
        threshold: Plain only: decision threshold (default 0.5): one number or one per label
            ``(C,)`` (see :func:`imbalml.tune_thresholds`).
        average: ``"macro"`` (mean over labels) or ``"none"`` (the ``(C,)`` vector).
        ignore_index: Target value that is not counted.
        validate_args: Check shapes and values.

    Returns:
        A float64 scalar, or ``(C,)`` with ``average="none"``.

    Example:
        >>> import torch
        >>> from imbalml.functional import {name}
        >>> probs = torch.tensor([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4]])
        >>> target = torch.tensor([[1, 0], [0, 1], [0, 1]])
        >>> {name}(probs, target, average="none")
        {example}
    """


def _label_metric(
    metric: str,
) -> Callable[[torch.Tensor, AttributeGroups | None, str], torch.Tensor]:
    """The per-label ``metric`` (``"recall"``, ``"precision"``, ``"f1"``) of the counts, or its mean."""

    def score(counts: torch.Tensor, groups: AttributeGroups | None, average: str) -> torch.Tensor:
        scores = label_scores_from_counts(counts, groups, metric)
        return scores if average == "none" else scores.mean()

    return score


def _label_metric_function(
    name: str, metric: str, title: str, formula: str, torchmetrics: str, example: str
) -> Callable[..., torch.Tensor]:
    """One of :func:`label_recall`, :func:`label_precision`, :func:`label_f1_score`.

    The three differ only in the score taken from the counts: one docstring serves them all.
    """
    score = _label_metric(metric)
    score.__name__ = name
    score.__doc__ = _LABEL_METRIC_DOC.format(
        name=name,
        title=title,
        formula=formula,
        sklearn=name.replace("label_", "") if metric == "f1" else f"{metric}_score",
        torchmetrics=torchmetrics,
        example=example,
    )
    return _metric_of_counts(average=("macro", AVERAGES))(score)


label_recall = _label_metric_function(
    "label_recall",
    "recall",
    "recall",
    r"\mathrm{TP}_c / (\mathrm{TP}_c + \mathrm{FN}_c)",
    "multilabel_recall",
    "tensor([1.0000, 0.5000], dtype=torch.float64)",
)
label_precision = _label_metric_function(
    "label_precision",
    "precision",
    "precision",
    r"\mathrm{TP}_c / (\mathrm{TP}_c + \mathrm{FP}_c)",
    "multilabel_precision",
    "tensor([0.5000, 1.0000], dtype=torch.float64)",
)
label_f1_score = _label_metric_function(
    "label_f1_score",
    "f1",
    "F1 score",
    r"2\mathrm{TP}_c / (2\mathrm{TP}_c + \mathrm{FP}_c + \mathrm{FN}_c)",
    "multilabel_f1_score",
    "tensor([0.6667, 0.6667], dtype=torch.float64)",
)
