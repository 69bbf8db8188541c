"""Classification metrics for grouped attributes and for plain multi-label data.

Two layouts, chosen by ``groups`` (the third argument everywhere):

* **grouped** (an :class:`~imbalml.AttributeGroups`): ``preds`` are ``(N, G)`` predicted indices
  or ``(N, C)`` scores (argmax per group), ``target`` hard ``(N, G)`` indices (or one-hot
  ``(N, C)`` floats, as :class:`imbalml.MixupCollator` with ``mode="none"`` returns them). Every
  metric derives from one flat vector of per-group confusion counts (one ``K_g x K_g`` block per
  group, rows = true attribute, columns = predicted attribute, as in scikit-learn).
* **plain multi-label** (``groups=None``): ``preds`` are ``(N, C)`` probabilities (a label is
  predicted positive where ``preds > threshold``, as in torchmetrics; ``threshold`` is one number
  or one per label) or 0/1 predictions, ``target`` multi-hot ``(N, C)``. Every metric derives from
  the per-label 2 x 2 confusion matrices of :func:`multilabel_confusion_matrix` (scikit-learn's
  layout ``[[tn, fp], [fn, tp]]``).

Accumulating the counts batch by batch and computing once gives exactly the one-shot result.
"""

from imbalml.functional.metrics.count_metrics import (
    confusion_matrices,
    group_accuracy,
    label_f1_score,
    label_precision,
    label_recall,
    mean_class_accuracy,
    per_class_accuracy,
)
from imbalml.functional.metrics.example_based import (
    example_f1_score,
    hamming_loss,
    precision_at_k,
)
from imbalml.functional.metrics.grouped_counts import confusion_counts
from imbalml.functional.metrics.multilabel_counts import multilabel_confusion_matrix
from imbalml.functional.metrics.ranking import label_average_precision

__all__ = [
    "confusion_counts",
    "confusion_matrices",
    "example_f1_score",
    "group_accuracy",
    "hamming_loss",
    "label_average_precision",
    "label_f1_score",
    "label_precision",
    "label_recall",
    "mean_class_accuracy",
    "multilabel_confusion_matrix",
    "per_class_accuracy",
    "precision_at_k",
]
