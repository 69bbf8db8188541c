"""``nn.Module`` losses: hyperparameters (and weight/prior buffers) around the functional losses.

Each module validates its hyperparameters once, in ``__init__``, and its ``forward(input,
target)`` calls the matching function of :mod:`imbalml.functional` (checking only the tensors
of the call, with ``validate_args``); nothing from a batch is kept on the module. The modules
mirror the functional ones: ``imbalml.losses.asymmetric`` (ASL, focal loss),
``imbalml.losses.dice`` and ``imbalml.losses.cross_entropy``.
"""

from imbalml.losses.asymmetric import AsymmetricLoss, FocalLoss
from imbalml.losses.cross_entropy import (
    GroupedCrossEntropyLoss,
    LogitAdjustedCrossEntropyLoss,
    WeightedCrossEntropyLoss,
)
from imbalml.losses.dice import DiceLoss
from imbalml.losses.distribution_balanced import DistributionBalancedLoss

__all__ = [
    "AsymmetricLoss",
    "DiceLoss",
    "DistributionBalancedLoss",
    "FocalLoss",
    "GroupedCrossEntropyLoss",
    "LogitAdjustedCrossEntropyLoss",
    "WeightedCrossEntropyLoss",
]
