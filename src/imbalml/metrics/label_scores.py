"""Per-label recall, precision and F1 classes, read off the shared confusion state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch

from imbalml._validation import check_choice
from imbalml.functional.metrics.count_metrics import AVERAGES
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
        average: Literal["macro", "none"] = "macro",
        num_labels: int | None = None,
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
        self.average = check_choice(average, "average", AVERAGES)

    def compute(self) -> torch.Tensor:
        """The per-label scores, or their macro mean."""
        scores = label_scores_from_counts(self.confmat, self.groups, self._metric)
        return scores if self.average == "none" else scores.mean()


_LABEL_SCORE_DOC = """

    See :func:`imbalml.functional.{function}` (0 where undefined, as scikit-learn's
    ``zero_division=0``). Shares its state with :class:`MeanClassAccuracy` of the same layout
    and threshold in a ``MetricCollection``.

    Args:
        groups: ``None`` for plain multi-label (then ``num_labels`` is required), or the layout
            (each attribute one-vs-rest in its group).
        average: ``"macro"`` or ``"none"``.
        num_labels: Plain only: the number ``C`` of labels.
        threshold: Plain only: decision threshold on probabilities (default 0.5), one number or
            one per label ``(C,)``.
        ignore_index: Target value that is not counted.
        validate_args: Check every batch.
        kwargs: Passed to ``torchmetrics.Metric``.

    Example:
        >>> import torch
        >>> from imbalml import {name}
        >>> metric = {name}(num_labels=2, average="none")
        >>> metric.update(torch.tensor([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4]]), torch.tensor([[1, 0], [0, 1], [0, 1]]))
        >>> metric.compute()
        {example}
    """


def _label_score(function: str, example: str) -> Callable[[type[_LabelScore]], type[_LabelScore]]:
    """Complete the docstring of a :class:`_LabelScore` (one text for the three of them)."""

    def document(cls: type[_LabelScore]) -> type[_LabelScore]:
        cls.__doc__ = (cls.__doc__ or "").rstrip() + _LABEL_SCORE_DOC.format(
            function=function, name=cls.__name__, example=example
        )
        return cls

    return document


@_label_score("label_recall", "tensor([1.0000, 0.5000], dtype=torch.float64)")
class LabelRecall(_LabelScore):
    """Per-label recall and its macro mean, accumulated over batches."""

    _metric = "recall"


@_label_score("label_precision", "tensor([0.5000, 1.0000], dtype=torch.float64)")
class LabelPrecision(_LabelScore):
    """Per-label precision and its macro mean, accumulated over batches."""

    _metric = "precision"


@_label_score("label_f1_score", "tensor([0.6667, 0.6667], dtype=torch.float64)")
class LabelF1Score(_LabelScore):
    """Per-label F1 score and its macro mean, accumulated over batches."""

    _metric = "f1"
