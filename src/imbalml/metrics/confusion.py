"""The shared state of the counting metric classes: confusion counts of either layout."""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric

from imbalml._layout_checks import check_optional_groups
from imbalml._validation import check_int
from imbalml.functional.metrics.from_counts import _counts
from imbalml.functional.metrics.grouped_counts import split_confusion
from imbalml.functional.metrics.multilabel_counts import _check_threshold
from imbalml.groups import AttributeGroups

__all__ = ["GroupConfusionMatrix"]


def _num_labels(groups: AttributeGroups | None, num_labels: Any) -> int:
    """``C``: from ``groups``, or the required ``num_labels`` for plain multi-label."""
    if groups is not None:
        if num_labels is not None and num_labels != groups.num_attributes:
            raise ValueError(
                f"Expected `num_labels=None` (or {groups.num_attributes}) with `groups`, "
                f"but got {num_labels!r}."
            )
        return groups.num_attributes
    if num_labels is None:
        raise TypeError(
            "Expected `num_labels` (the number C of labels) for plain multi-label "
            "(groups=None), but got None."
        )
    return check_int(num_labels, "num_labels", low=1)


class _ConfusionMetric(Metric):
    """Shared state and update: grouped confusion counts or per-label 2 x 2 matrices."""

    is_differentiable = False
    full_state_update = False
    confmat: torch.Tensor
    threshold: torch.Tensor | None

    def __init__(
        self,
        groups: AttributeGroups | None = None,
        *,
        num_labels: int | None = None,
        threshold: float | torch.Tensor | None = None,
        ignore_index: int = -100,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.groups = check_optional_groups(groups)
        self.num_labels = _num_labels(self.groups, num_labels)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.validate_args = bool(validate_args)
        if self.groups is None:
            value = _check_threshold(0.5 if threshold is None else threshold, self.num_labels)
            thr = torch.as_tensor(value, dtype=torch.float32).expand(self.num_labels).clone()
            self.register_buffer("threshold", thr, persistent=False)
            default = torch.zeros(self.num_labels, 2, 2, dtype=torch.long)
        else:
            if threshold is not None:
                raise ValueError(
                    "Expected `threshold=None` with `groups` (grouped predictions are the argmax "
                    f"of each group), but got {threshold!r}."
                )
            self.threshold = None
            default = torch.zeros(sum(k * k for k in self.groups.sizes), dtype=torch.long)
        self.add_state("confmat", default=default, dist_reduce_fx="sum")

    def update(self, preds: Any, target: Any) -> None:
        """Add a batch (the forms of :func:`imbalml.functional.mean_class_accuracy`)."""
        counts = _counts(
            preds, target, self.groups, self.threshold, self.ignore_index, self.validate_args
        )
        # Not in place (as torchmetrics does): a state reset under torch.inference_mode() (a
        # Lightning validate before fit) is an inference tensor, which may not be updated in place.
        self.confmat = self.confmat + counts.to(self.confmat.device)


class GroupConfusionMatrix(_ConfusionMetric):
    """One confusion matrix per group (rows: true, columns: predicted), as a tuple.

    With ``groups=None``: one ``(2, 2)`` matrix ``[[tn, fp], [fn, tp]]`` per label.

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
        """The per-group (plain: per-label) matrices."""
        if self.groups is None:
            return tuple(self.confmat.unbind(0))
        return split_confusion(self.confmat, self.groups)
