"""imbalml: imbalanced multi-label and multi-attribute classification for PyTorch.

Every public name is importable from here or from its documented submodule. ``import imbalml``
also registers the VAN backbones with timm (``timm.create_model("van_b0")``), lazily: when timm
is imported, not before (see :mod:`imbalml.models`).
"""

from imbalml import _timm_registration, functional
from imbalml.data.split import StratifiedSplit, stratified_split
from imbalml.data.stats import label_counts
from imbalml.functional.mixup import minority_attributes
from imbalml.groups import AttributeGroups
from imbalml.heads import GroupedSoftmaxHead
from imbalml.losses import (
    AsymmetricLoss,
    DiceLoss,
    DistributionBalancedLoss,
    FocalLoss,
    GroupedCrossEntropyLoss,
    LogitAdjustedCrossEntropyLoss,
    WeightedCrossEntropyLoss,
)
from imbalml.metrics import (
    ExampleF1Score,
    GroupAccuracy,
    GroupConfusionMatrix,
    HammingLoss,
    LabelAveragePrecision,
    LabelF1Score,
    LabelPrecision,
    LabelRecall,
    MeanClassAccuracy,
    PerClassAccuracy,
    PrecisionAtK,
)
from imbalml.mixup import BatchMixup, MixupCollator
from imbalml.plain_thresholds import tune_global_threshold, tune_label_thresholds
from imbalml.samplers import MinorityOversampler
from imbalml.thresholds import TunedThresholds, tune_thresholds
from imbalml.weights import class_priors, class_weights

__version__ = "0.1.0"

_timm_registration.install()

__all__ = [
    "AsymmetricLoss",
    "AttributeGroups",
    "BatchMixup",
    "DiceLoss",
    "DistributionBalancedLoss",
    "ExampleF1Score",
    "FocalLoss",
    "GroupAccuracy",
    "GroupConfusionMatrix",
    "GroupedCrossEntropyLoss",
    "GroupedSoftmaxHead",
    "HammingLoss",
    "LabelAveragePrecision",
    "LabelF1Score",
    "LabelPrecision",
    "LabelRecall",
    "LogitAdjustedCrossEntropyLoss",
    "MeanClassAccuracy",
    "MinorityOversampler",
    "MixupCollator",
    "PerClassAccuracy",
    "PrecisionAtK",
    "StratifiedSplit",
    "TunedThresholds",
    "WeightedCrossEntropyLoss",
    "__version__",
    "class_priors",
    "class_weights",
    "functional",
    "label_counts",
    "minority_attributes",
    "stratified_split",
    "tune_global_threshold",
    "tune_label_thresholds",
    "tune_thresholds",
]
