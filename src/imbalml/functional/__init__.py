"""Pure functions: grouped softmax, losses, metrics and mixup kernels."""

from imbalml.functional.grouped import grouped_argmax, grouped_log_softmax, grouped_softmax
from imbalml.functional.losses import (
    adjust_logits,
    asymmetric_loss,
    dice_loss,
    focal_loss,
    logit_adjusted_cross_entropy,
    weighted_cross_entropy,
)
from imbalml.functional.metrics import (
    confusion_counts,
    confusion_matrices,
    group_accuracy,
    mean_class_accuracy,
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
    "grouped_softmax",
    "logit_adjusted_cross_entropy",
    "mean_class_accuracy",
    "minority_attributes",
    "minority_mask",
    "mixup",
    "mixup_plan",
    "per_class_accuracy",
    "weighted_cross_entropy",
]
