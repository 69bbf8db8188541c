"""Pure functions: grouped softmax, losses, metrics and mixup kernels."""

from imbalml.functional.grouped import grouped_argmax, grouped_log_softmax, grouped_softmax
from imbalml.functional.losses import (
    adjust_logits,
    asymmetric_loss,
    dice_loss,
    focal_loss,
    grouped_cross_entropy,
    logit_adjusted_cross_entropy,
    weighted_cross_entropy,
)
from imbalml.functional.metrics import (
    confusion_counts,
    confusion_matrices,
    group_accuracy,
    label_average_precision,
    label_f1_score,
    label_precision,
    label_recall,
    mean_class_accuracy,
    multilabel_confusion_matrix,
    per_class_accuracy,
)
from imbalml.functional.mixup import (
    MIXUP_MODES,
    MixupPlan,
    minority_attributes,
    minority_mask,
    mixup,
    mixup_plan,
)

__all__ = [
    "MIXUP_MODES",
    "MixupPlan",
    "adjust_logits",
    "asymmetric_loss",
    "confusion_counts",
    "confusion_matrices",
    "dice_loss",
    "focal_loss",
    "group_accuracy",
    "grouped_argmax",
    "grouped_log_softmax",
    "grouped_cross_entropy",
    "grouped_softmax",
    "label_average_precision",
    "label_f1_score",
    "label_precision",
    "label_recall",
    "logit_adjusted_cross_entropy",
    "mean_class_accuracy",
    "minority_attributes",
    "minority_mask",
    "mixup",
    "mixup_plan",
    "multilabel_confusion_matrix",
    "per_class_accuracy",
    "weighted_cross_entropy",
]
