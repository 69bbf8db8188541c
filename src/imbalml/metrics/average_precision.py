"""Per-label average precision (mAP), from every score and target of an evaluation."""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from imbalml._layout_checks import check_optional_groups
from imbalml._validation import check_int, check_shape
from imbalml.functional.metrics.count_metrics import LABEL_AVERAGES, _check_average
from imbalml.functional.metrics.ranking import average_precision_of, ranking_inputs
from imbalml.groups import AttributeGroups
from imbalml.metrics.confusion import _num_labels

__all__ = ["LabelAveragePrecision"]


class LabelAveragePrecision(Metric):
    """Per-label average precision and its macro mean (mAP), accumulated over batches.

    Keeps every score and target (``"cat"`` states, gathered across processes) and computes
    torchmetrics' exact average precision on them; see
    :func:`imbalml.functional.label_average_precision`. Takes the same arguments as the other
    metric classes (no ``threshold``: AP uses every score).

    Args:
        groups: ``None`` for plain multi-label (then ``num_labels`` is required), or the layout
            (each attribute one-vs-rest on its group's probabilities).
        num_labels: Plain only: the number ``C`` of labels.
        average: ``"macro"`` (mAP), ``"micro"``, ``"weighted"`` or ``"none"``.
        ignore_index: Target value that is not counted.
        validate_args: Check every batch.
        kwargs: Passed to ``torchmetrics.Metric``.

    Example:
        >>> import torch
        >>> from imbalml import LabelAveragePrecision
        >>> metric = LabelAveragePrecision(num_labels=2)
        >>> metric.update(torch.tensor([[0.9, 0.2], [0.6, 0.7]]), torch.tensor([[1, 0], [0, 1]]))
        >>> metric.update(torch.tensor([[0.1, 0.4]]), torch.tensor([[0, 1]]))
        >>> metric.compute()
        tensor(1.)
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    scores: list[torch.Tensor]
    labels: list[torch.Tensor]

    def __init__(
        self,
        groups: AttributeGroups | None = None,
        *,
        num_labels: int | None = None,
        average: str | None = "macro",
        ignore_index: int = -100,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.groups = check_optional_groups(groups)
        self.num_labels = _num_labels(self.groups, num_labels)
        self.average = _check_average(average, LABEL_AVERAGES)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.validate_args = bool(validate_args)
        self.add_state("scores", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")

    def update(self, preds: Any, target: Any) -> None:
        """Add a batch of scores ``(N, C)`` and targets."""
        scores, labels = ranking_inputs(
            preds, target, self.groups, self.ignore_index, self.validate_args
        )
        check_shape(scores, "preds", (scores.shape[0], self.num_labels), "(N, C)")
        self.scores.append(scores.float())
        self.labels.append(labels)

    def compute(self) -> torch.Tensor:
        """AP per label, or mAP."""
        scores, labels = dim_zero_cat(self.scores), dim_zero_cat(self.labels)
        return average_precision_of(scores, labels, self.groups, self.average, self.ignore_index)
