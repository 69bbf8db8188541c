"""Accuracy metric classes: per-class, mean-class (the course metric, mA) and per-group."""

from __future__ import annotations

from typing import Any, Literal

import torch

from imbalml.functional.metrics.count_metrics import GROUP_AVERAGES, _check_average, _group_average
from imbalml.functional.metrics.from_counts import per_class_from_any
from imbalml.groups import AttributeGroups
from imbalml.metrics.confusion import _ConfusionMetric

__all__ = ["GroupAccuracy", "MeanClassAccuracy", "PerClassAccuracy"]


class MeanClassAccuracy(_ConfusionMetric):
    """Mean class accuracy: the course metric (grouped) or mA (plain), accumulated over batches.

    See :func:`imbalml.functional.mean_class_accuracy`. Grouped: the macro attribute recall;
    attributes with nothing to score so far (no sample, never predicted) are left out of the mean,
    as in torchmetrics' ``MulticlassAccuracy(average="macro")``. Plain multi-label
    (``groups=None``, with ``num_labels``): mA, the mean over labels of ``(TPR + TNR) / 2``, with
    a decision ``threshold`` (default 0.5; one number or one per label) on probabilities (logits,
    floats outside ``[0, 1]``, get a sigmoid first). With no labelled sample at all, ``compute``
    returns NaN.

    Args:
        groups: The label layout, or ``None`` for plain multi-label.
        num_labels: Plain only (and then required): the number ``C`` of labels.
        threshold: Plain only: decision threshold on probabilities, one number or ``(C,)``.
        ignore_index: Target value that is not counted.
        validate_args: Check every batch (reads values back to the host).
        kwargs: Passed to ``torchmetrics.Metric`` (``sync_on_compute``, ...).

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, MeanClassAccuracy
        >>> metric = MeanClassAccuracy(AttributeGroups([2, 2]))
        >>> metric.update(torch.tensor([[0, 1]]), torch.tensor([[0, 1]]))
        >>> metric.update(torch.tensor([[0, 1]]), torch.tensor([[1, 0]]))
        >>> metric.compute()
        tensor(0.5000, dtype=torch.float64)
        >>> ma = MeanClassAccuracy(None, num_labels=2)
        >>> ma.update(torch.tensor([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4]]), torch.tensor([[1, 0], [0, 1], [0, 1]]))
        >>> ma.compute()
        tensor(0.7500, dtype=torch.float64)
    """

    higher_is_better = True

    def compute(self) -> torch.Tensor:
        """Mean recall over the attributes seen so far (plain: mA)."""
        return per_class_from_any(self.confmat, self.groups).nanmean()


class PerClassAccuracy(_ConfusionMetric):
    """Recall of each attribute inside its group (plain: each label's balanced accuracy), ``(C,)``.

    NaN for attributes with nothing to score (no sample, never predicted). Arguments as
    :class:`MeanClassAccuracy`.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.metrics import PerClassAccuracy
        >>> metric = PerClassAccuracy(AttributeGroups([2, 2]))
        >>> metric.update(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 1], [0, 1]]))
        >>> metric.compute()  # attribute 1: no sample, predicted once (0); attribute 2: nothing (NaN)
        tensor([0.5000, 0.0000,    nan, 1.0000], dtype=torch.float64)
    """

    higher_is_better = True

    def compute(self) -> torch.Tensor:
        """Per-attribute recall (plain: per-label balanced accuracy)."""
        return per_class_from_any(self.confmat, self.groups)


class GroupAccuracy(_ConfusionMetric):
    """Plain accuracy inside each group (``average="none"``, shape ``(G,)``) or an average.

    With ``groups=None`` every label is a group: the accuracy of each label ``(C,)``. Like every
    ``torchmetrics.Metric``, ``compute`` squeezes a one-element result: with a single group
    (``G = 1``) the accuracy comes back as a 0-d tensor, not shape ``(1,)``.

    Args:
        groups: The label layout, or ``None`` for plain multi-label.
        num_labels: Plain only (and then required): the number ``C`` of labels.
        average: ``"none"`` (per group), ``"macro"`` (mean over the groups) or ``"micro"`` (all
            labelled entries together).
        threshold: Plain only: decision threshold on probabilities.
        ignore_index: Target value that is not counted.
        validate_args: Check every batch.
        kwargs: Passed to ``torchmetrics.Metric``.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, GroupAccuracy
        >>> metric = GroupAccuracy(AttributeGroups([2, 2]), average="macro")
        >>> metric.update(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 1], [0, 1]]))
        >>> metric.compute()
        tensor(0.7500, dtype=torch.float64)
    """

    higher_is_better = True

    def __init__(
        self,
        groups: AttributeGroups | None = None,
        *,
        num_labels: int | None = None,
        average: Literal["micro", "macro", "none"] | None = "none",
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
        self.average = _check_average(average, GROUP_AVERAGES)

    def compute(self) -> torch.Tensor:
        """Per-group (plain: per-label) accuracy, or its average."""
        return _group_average(self.confmat, self.groups, self.average)
