"""imbalml: imbalanced multi-label and multi-attribute classification for PyTorch.

Every public name is importable from here or from its documented submodule. The metric classes
(``MeanClassAccuracy`` ...) subclass ``torchmetrics.Metric`` and import torchmetrics the first time
one of them is used, so ``import imbalml`` stays fast.

``import imbalml`` does not import timm. The VAN backbones register with timm when
:mod:`imbalml.models` is imported, as timm's own model files do (``@register_model`` at import):
``import imbalml.models`` (or ``from imbalml.models import ...``), then
``timm.create_model("van_b0")``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imbalml import functional
from imbalml.data.split import StratifiedSplit, stratified_split
from imbalml.data.stats import LabelCounts, label_counts
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
from imbalml.mixup import BatchMixup, MixupCollator
from imbalml.plain_thresholds import tune_global_threshold, tune_label_thresholds
from imbalml.samplers import MinorityOversampler
from imbalml.thresholds import TunedThresholds, tune_thresholds
from imbalml.weights import class_priors, class_weights

if TYPE_CHECKING:  # imported on first use, by __getattr__ below
    from imbalml import metrics as metrics
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

__version__ = "0.1.0"

# The metric classes subclass torchmetrics.Metric; importing torchmetrics takes seconds, so
# imbalml.metrics is imported the first time one of these names (or ``imbalml.metrics``) is used.
_METRICS = (
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
)


def __getattr__(name: str) -> Any:
    """Import :mod:`imbalml.metrics` on first use of a metric class (PEP 562)."""
    if name == "metrics" or name in _METRICS:
        module = importlib.import_module("imbalml.metrics")
        return module if name == "metrics" else getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "metrics"})


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
    "LabelCounts",
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
