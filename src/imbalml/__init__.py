"""imbalml: imbalanced multi-label and multi-attribute classification for PyTorch."""

from imbalml import functional
from imbalml.data.stats import label_counts
from imbalml.groups import AttributeGroups
from imbalml.heads import GroupedSoftmaxHead
from imbalml.losses import (
    AsymmetricLoss,
    DiceLoss,
    LogitAdjustedCrossEntropyLoss,
    WeightedCrossEntropyLoss,
)
from imbalml.metrics import GroupAccuracy, GroupConfusionMatrix, MeanClassAccuracy, PerClassAccuracy
from imbalml.mixup import BatchMixup, MixupCollator
from imbalml.weights import class_priors, class_weights

__version__ = "0.1.0"

__all__ = [
    "AsymmetricLoss",
    "AttributeGroups",
    "BatchMixup",
    "DiceLoss",
    "GroupAccuracy",
    "GroupConfusionMatrix",
    "GroupedSoftmaxHead",
    "LogitAdjustedCrossEntropyLoss",
    "MeanClassAccuracy",
    "MixupCollator",
    "PerClassAccuracy",
    "WeightedCrossEntropyLoss",
    "__version__",
    "class_priors",
    "class_weights",
    "functional",
    "label_counts",
]
