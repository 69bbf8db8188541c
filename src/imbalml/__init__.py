"""imbalml: imbalanced multi-label and multi-attribute classification for PyTorch."""

from imbalml import functional
from imbalml.data.stats import label_counts
from imbalml.groups import AttributeGroups
from imbalml.heads import GroupedSoftmaxHead
from imbalml.metrics import GroupAccuracy, GroupConfusionMatrix, MeanClassAccuracy, PerClassAccuracy
from imbalml.mixup import BatchMixup, MixupCollator

__version__ = "0.1.0"

__all__ = [
    "AttributeGroups",
    "BatchMixup",
    "GroupAccuracy",
    "GroupConfusionMatrix",
    "GroupedSoftmaxHead",
    "MeanClassAccuracy",
    "MixupCollator",
    "PerClassAccuracy",
    "__version__",
    "functional",
    "label_counts",
]
