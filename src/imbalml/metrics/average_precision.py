"""Per-label average precision (mAP), from every score and target of an evaluation."""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from imbalml._layout_checks import check_optional_groups
from imbalml._validation import check_choice, check_int
from imbalml.functional.metrics.count_metrics import AVERAGES
from imbalml.functional.metrics.ranking import label_average_precision, ranking_inputs
from imbalml.groups import AttributeGroups

__all__ = ["LabelAveragePrecision"]


class LabelAveragePrecision(Metric):
    """Per-label average precision and its macro mean (mAP), accumulated over batches.

    Keeps every score and target (``"cat"`` states, gathered across processes) and computes
    torchmetrics' exact ``multilabel_average_precision`` on them; see
    :func:`imbalml.functional.label_average_precision`.

    Args:
        groups: ``None`` for plain multi-label, or the layout (each attribute one-vs-rest on its
            group's softmax probabilities).
        average: ``"macro"`` (mAP) or ``"none"``.
        ignore_index: Target value that is not counted.
        validate_args: Check every batch.
        kwargs: Passed to ``torchmetrics.Metric``.

    Example:
        >>> import torch
        >>> from imbalml import LabelAveragePrecision
        >>> metric = LabelAveragePrecision()
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
        average: str = "macro",
        ignore_index: int = -100,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.groups = check_optional_groups(groups)
        self.average = check_choice(average, "average", AVERAGES)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.validate_args = bool(validate_args)
        self.add_state("scores", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")

    def update(self, preds: Any, target: Any) -> None:
        """Add a batch of scores ``(N, C)`` and targets."""
        scores, labels = ranking_inputs(
            preds, target, self.groups, self.ignore_index, self.validate_args
        )
        self.scores.append(scores.float())
        self.labels.append(labels)

    def compute(self) -> torch.Tensor:
        """AP per label, or mAP."""
        scores, labels = dim_zero_cat(self.scores), dim_zero_cat(self.labels)
        return label_average_precision(
            scores, labels, None, average=self.average, ignore_index=self.ignore_index,
            validate_args=False,
        )  # fmt: skip
