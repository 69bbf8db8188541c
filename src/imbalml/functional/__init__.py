"""Pure functions: grouped softmax, losses, metrics and mixup kernels."""

from imbalml.functional.grouped import grouped_argmax, grouped_log_softmax, grouped_softmax
from imbalml.functional.metrics import (
    confusion_counts,
    confusion_matrices,
    group_accuracy,
    mean_class_accuracy,
    per_class_accuracy,
)

__all__ = [
    "confusion_counts",
    "confusion_matrices",
    "group_accuracy",
    "grouped_argmax",
    "grouped_log_softmax",
    "grouped_softmax",
    "mean_class_accuracy",
    "per_class_accuracy",
]
