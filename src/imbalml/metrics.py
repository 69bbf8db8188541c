"""``torchmetrics.Metric`` classes for grouped attributes and plain multi-label data.

DDP sync comes through torchmetrics. With an :class:`~imbalml.AttributeGroups` the counting
metrics accumulate the flat per-group confusion counts of
:func:`imbalml.functional.confusion_counts`; with ``groups=None`` (plain multi-label, which needs
``num_labels``) the per-label 2 x 2 matrices of
:func:`imbalml.functional.multilabel_confusion_matrix`. In a ``torchmetrics.MetricCollection``
with ``compute_groups=True`` (the default) metrics of the same layout and threshold share one
update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from imbalml._layout_checks import check_optional_groups
from imbalml._signatures import lists_options_of
from imbalml._validation import check_choice, check_int
from imbalml.functional.metrics import (
    AVERAGES,
    _check_threshold,
    _counts,
    accuracy_from_any,
    label_average_precision,
    label_scores_from_counts,
    per_class_from_any,
    ranking_inputs,
    split_confusion,
)
from imbalml.groups import AttributeGroups

__all__ = [
    "GroupAccuracy",
    "GroupConfusionMatrix",
    "LabelAveragePrecision",
    "LabelF1Score",
    "LabelPrecision",
    "LabelRecall",
    "MeanClassAccuracy",
    "PerClassAccuracy",
]


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
        self.confmat += counts.to(self.confmat.device)


class MeanClassAccuracy(_ConfusionMetric):
    """Mean class accuracy: the course metric (grouped) or mA (plain), accumulated over batches.

    See :func:`imbalml.functional.mean_class_accuracy`. Grouped: the mean attribute recall;
    attributes without any sample so far are left out of the mean. Plain multi-label
    (``groups=None``, with ``num_labels``): mA, the mean over labels of
    ``(TPR + TNR) / 2``, with a decision ``threshold`` (default 0.5; one number or one per label)
    on probabilities. With no labelled sample at all, ``compute`` returns NaN.

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

    NaN for attributes not seen. Arguments as :class:`MeanClassAccuracy`.

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
        """Per-attribute recall (plain: per-label balanced accuracy)."""
        return per_class_from_any(self.confmat, self.groups)


class GroupAccuracy(_ConfusionMetric):
    """Plain accuracy inside each group (``average="none"``, shape ``(G,)``) or its mean.

    With ``groups=None`` every label is a group: the accuracy of each label ``(C,)``. Like every
    ``torchmetrics.Metric``, ``compute`` squeezes a one-element result: with a single group
    (``G = 1``) the accuracy comes back as a 0-d tensor, not shape ``(1,)``.

    Args:
        groups: The label layout, or ``None`` for plain multi-label.
        average: ``"none"`` or ``"mean"``.
        num_labels: Plain only (and then required): the number ``C`` of labels.
        threshold: Plain only: decision threshold on probabilities.
        ignore_index: Target value that is not counted.
        validate_args: Check every batch.
        kwargs: Passed to ``torchmetrics.Metric``.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, GroupAccuracy
        >>> metric = GroupAccuracy(AttributeGroups([2, 2]), average="mean")
        >>> metric.update(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 1], [0, 1]]))
        >>> metric.compute()
        tensor(0.7500, dtype=torch.float64)
    """

    higher_is_better = True

    @lists_options_of(
        _ConfusionMetric.__init__, first=True, average=("none", Literal["none", "mean"])
    )
    def __init__(
        self, groups: AttributeGroups | None = None, *, average: str = "none", **options: Any
    ) -> None:
        super().__init__(groups, **options)
        self.average = check_choice(average, "average", ("none", "mean"))

    def compute(self) -> torch.Tensor:
        """Per-group (plain: per-label) accuracy, or its mean."""
        acc = accuracy_from_any(self.confmat, self.groups)
        return acc if self.average == "none" else acc.nanmean()


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


class _LabelScore(_ConfusionMetric):
    """Per-label recall, precision or F1 from the shared confusion state."""

    higher_is_better = True
    _metric = ""

    @lists_options_of(_ConfusionMetric.__init__, first=True, average=("macro", "str"))
    def __init__(
        self, groups: AttributeGroups | None = None, *, average: str = "macro", **options: Any
    ) -> None:
        super().__init__(groups, **options)
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
