"""``torchmetrics.Metric`` classes for grouped attributes and plain multi-label data.

DDP sync comes through torchmetrics. With an :class:`~imbalml.AttributeGroups` the counting
metrics accumulate the flat per-group confusion counts of
:func:`imbalml.functional.confusion_counts`; with ``groups=None`` (plain multi-label, which needs
``num_labels``) the per-label 2 x 2 matrices of
:func:`imbalml.functional.multilabel_confusion_matrix`. In a ``torchmetrics.MetricCollection``
with ``compute_groups=True`` (the default) metrics of the same layout and threshold share one
update.
"""

from imbalml.metrics.accuracy import GroupAccuracy, MeanClassAccuracy, PerClassAccuracy
from imbalml.metrics.average_precision import LabelAveragePrecision
from imbalml.metrics.confusion import GroupConfusionMatrix
from imbalml.metrics.example_based import ExampleF1Score, HammingLoss, PrecisionAtK
from imbalml.metrics.label_scores import LabelF1Score, LabelPrecision, LabelRecall

__all__ = [
    "ExampleF1Score",
    "GroupAccuracy",
    "GroupConfusionMatrix",
    "HammingLoss",
    "LabelAveragePrecision",
    "LabelF1Score",
    "LabelPrecision",
    "LabelRecall",
    "MeanClassAccuracy",
    "PerClassAccuracy",
    "PrecisionAtK",
]
