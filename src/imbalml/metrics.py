"""``torchmetrics.Metric`` classes for grouped attributes (DDP sync through torchmetrics).

All of them accumulate the same state, the flat per-group confusion counts of
:func:`imbalml.functional.confusion_counts`; in a ``torchmetrics.MetricCollection`` with
``compute_groups=True`` (the default) they share one update.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torchmetrics import Metric

from imbalml._validation import check_choice, check_groups, check_int
from imbalml.functional.metrics import (
    confusion_counts,
    group_accuracy_from_counts,
    per_class_from_counts,
    split_confusion,
)
from imbalml.groups import AttributeGroups

__all__ = ["GroupAccuracy", "GroupConfusionMatrix", "MeanClassAccuracy", "PerClassAccuracy"]


class _GroupConfusionMetric(Metric):
    """Shared state and update: flat per-group confusion counts, summed across processes."""

    is_differentiable = False
    full_state_update = False
    confmat: torch.Tensor

    def __init__(
        self,
        groups: AttributeGroups,
        *,
        ignore_index: int = -100,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.groups = check_groups(groups)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.validate_args = bool(validate_args)
        total = sum(k * k for k in groups.sizes)
        self.add_state(
            "confmat", default=torch.zeros(total, dtype=torch.long), dist_reduce_fx="sum"
        )

    def update(self, preds: Any, target: Any) -> None:
        """Add a batch: ``preds`` ``(N, G)`` indices or ``(N, C)`` scores, ``target`` ``(N, G)``."""
        counts = confusion_counts(
            preds,
            target,
            self.groups,
            ignore_index=self.ignore_index,
            validate_args=self.validate_args,
        )
        self.confmat += counts.to(self.confmat.device)


class MeanClassAccuracy(_GroupConfusionMetric):
    """Average per-class accuracy (mean attribute recall), accumulated over batches.

    See :func:`imbalml.functional.mean_class_accuracy`. Attributes without any sample so far are
    left out of the mean; with no labelled sample at all, ``compute`` returns NaN.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.metrics import MeanClassAccuracy
        >>> metric = MeanClassAccuracy(AttributeGroups([2, 2]))
        >>> metric.update(torch.tensor([[0, 1]]), torch.tensor([[0, 1]]))
        >>> metric.update(torch.tensor([[0, 1]]), torch.tensor([[1, 0]]))
        >>> metric.compute()
        tensor(0.5000, dtype=torch.float64)
    """

    higher_is_better = True

    def compute(self) -> torch.Tensor:
        """Mean recall over the attributes seen so far."""
        return per_class_from_counts(self.confmat, self.groups).nanmean()


class PerClassAccuracy(_GroupConfusionMetric):
    """Recall of each attribute inside its group, ``(C,)``; NaN for attributes not seen.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.metrics import PerClassAccuracy
        >>> metric = PerClassAccuracy(AttributeGroups([2, 2]))
        >>> metric.update(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 1], [0, 1]]))
        >>> metric.compute()
        tensor([0.5000,    nan,    nan, 1.0000], dtype=torch.float64)
    """

    higher_is_better = True

    def compute(self) -> torch.Tensor:
        """Per-attribute recall."""
        return per_class_from_counts(self.confmat, self.groups)


class GroupAccuracy(_GroupConfusionMetric):
    """Plain accuracy inside each group (``average="none"``, shape ``(G,)``) or its mean.

    Like every ``torchmetrics.Metric``, ``compute`` squeezes a one-element result: with a single
    group (``G = 1``) the accuracy comes back as a 0-d tensor, not shape ``(1,)``.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.metrics import GroupAccuracy
        >>> metric = GroupAccuracy(AttributeGroups([2, 2]), average="mean")
        >>> metric.update(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 1], [0, 1]]))
        >>> metric.compute()
        tensor(0.7500, dtype=torch.float64)
    """

    higher_is_better = True

    def __init__(
        self,
        groups: AttributeGroups,
        *,
        average: Literal["none", "mean"] = "none",
        ignore_index: int = -100,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(groups, ignore_index=ignore_index, validate_args=validate_args, **kwargs)
        self.average = check_choice(average, "average", ("none", "mean"))

    def compute(self) -> torch.Tensor:
        """Per-group accuracy, or its mean."""
        acc = group_accuracy_from_counts(self.confmat, self.groups)
        return acc if self.average == "none" else acc.nanmean()


class GroupConfusionMatrix(_GroupConfusionMetric):
    """One confusion matrix per group (rows: true, columns: predicted), as a tuple.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.metrics import GroupConfusionMatrix
        >>> metric = GroupConfusionMatrix(AttributeGroups([2, 2]))
        >>> metric.update(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 1], [0, 1]]))
        >>> metric.compute()[0]
        tensor([[1, 1],
                [0, 0]])
    """

    def compute(self) -> tuple[torch.Tensor, ...]:
        """The per-group matrices."""
        return split_confusion(self.confmat, self.groups)
