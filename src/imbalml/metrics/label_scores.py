"""Per-label recall, precision and F1 classes, read off the shared confusion state."""

from __future__ import annotations

from typing import Any, Literal

import torch

from imbalml.functional.metrics.count_metrics import LABEL_AVERAGES, _check_average
from imbalml.functional.metrics.from_counts import label_scores_from_counts
from imbalml.groups import AttributeGroups
from imbalml.metrics.confusion import _ConfusionMetric

__all__ = ["LabelF1Score", "LabelPrecision", "LabelRecall"]


class _LabelScore(_ConfusionMetric):
    """Per-label recall, precision or F1 from the shared confusion state."""

    higher_is_better = True
    _metric = ""

    def __init__(
        self,
        groups: AttributeGroups | None = None,
        *,
        num_labels: int | None = None,
        average: Literal["micro", "macro", "weighted", "none"] | None = "macro",
        threshold: float | torch.Tensor | None = None,
        ignore_index: int = -100,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            groups,
            num_labels=num_labels,
            threshold=threshold,
            ignore_index=ignore_index,
            validate_args=validate_args,
            **kwargs,
        )
        self.average = _check_average(average, LABEL_AVERAGES)

    def compute(self) -> torch.Tensor:
        """The per-label scores, or their average."""
        return label_scores_from_counts(self.confmat, self.groups, self._metric, self.average)


class LabelRecall(_LabelScore):
    """Per-label recall and its averages, accumulated over batches.

    See :func:`imbalml.functional.label_recall` (0 where undefined, as scikit-learn's
    ``zero_division=0``). Shares its state with :class:`MeanClassAccuracy` of the same layout
    and threshold in a ``MetricCollection``.

    Args:
        groups: ``None`` for plain multi-label (then ``num_labels`` is required), or the layout
            (each attribute one-vs-rest in its group).
        num_labels: Plain only: the number ``C`` of labels.
        average: ``"macro"``, ``"micro"``, ``"weighted"`` or ``"none"`` (torchmetrics' values).
        threshold: Plain only: decision threshold on probabilities (default 0.5), one number or
            one per label ``(C,)``.
        ignore_index: Target value that is not counted.
        validate_args: Check every batch.
        kwargs: Passed to ``torchmetrics.Metric``.

    Example:
        >>> import torch
        >>> from imbalml import LabelRecall
        >>> metric = LabelRecall(num_labels=2, average="none")
        >>> metric.update(torch.tensor([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4]]), torch.tensor([[1, 0], [0, 1], [0, 1]]))
        >>> metric.compute()
        tensor([1.0000, 0.5000], dtype=torch.float64)
    """

    _metric = "recall"


class LabelPrecision(_LabelScore):
    """Per-label precision and its averages, accumulated over batches.

    See :func:`imbalml.functional.label_precision` (0 where undefined, as scikit-learn's
    ``zero_division=0``). Shares its state with :class:`MeanClassAccuracy` of the same layout
    and threshold in a ``MetricCollection``.

    Args:
        groups: ``None`` for plain multi-label (then ``num_labels`` is required), or the layout
            (each attribute one-vs-rest in its group).
        num_labels: Plain only: the number ``C`` of labels.
        average: ``"macro"``, ``"micro"``, ``"weighted"`` or ``"none"`` (torchmetrics' values).
        threshold: Plain only: decision threshold on probabilities (default 0.5), one number or
            one per label ``(C,)``.
        ignore_index: Target value that is not counted.
        validate_args: Check every batch.
        kwargs: Passed to ``torchmetrics.Metric``.

    Example:
        >>> import torch
        >>> from imbalml import LabelPrecision
        >>> metric = LabelPrecision(num_labels=2, average="none")
        >>> metric.update(torch.tensor([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4]]), torch.tensor([[1, 0], [0, 1], [0, 1]]))
        >>> metric.compute()
        tensor([0.5000, 1.0000], dtype=torch.float64)
    """

    _metric = "precision"


class LabelF1Score(_LabelScore):
    """Per-label F1 score and its averages, accumulated over batches.

    See :func:`imbalml.functional.label_f1_score` (0 where undefined, as scikit-learn's
    ``zero_division=0``). Shares its state with :class:`MeanClassAccuracy` of the same layout
    and threshold in a ``MetricCollection``.

    Args:
        groups: ``None`` for plain multi-label (then ``num_labels`` is required), or the layout
            (each attribute one-vs-rest in its group).
        num_labels: Plain only: the number ``C`` of labels.
        average: ``"macro"``, ``"micro"``, ``"weighted"`` or ``"none"`` (torchmetrics' values).
        threshold: Plain only: decision threshold on probabilities (default 0.5), one number or
            one per label ``(C,)``.
        ignore_index: Target value that is not counted.
        validate_args: Check every batch.
        kwargs: Passed to ``torchmetrics.Metric``.

    Example:
        >>> import torch
        >>> from imbalml import LabelF1Score
        >>> metric = LabelF1Score(num_labels=2, average="none")
        >>> metric.update(torch.tensor([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4]]), torch.tensor([[1, 0], [0, 1], [0, 1]]))
        >>> metric.compute()
        tensor([0.6667, 0.6667], dtype=torch.float64)
    """

    _metric = "f1"
