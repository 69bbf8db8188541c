"""Minority-aware mixup: a DataLoader collator (CPU, in the workers) and an on-device module.

Both apply the fashion report's recipe (see :mod:`imbalml.functional.mixup`) through the same
three functions, :func:`~imbalml.functional.minority_mask`, :func:`~imbalml.functional.mixup_plan`
and :func:`~imbalml.functional.mixup`, so for the same seed and batch they return the same tensors.
"""

from imbalml.mixup.batch import BatchMixup
from imbalml.mixup.collator import MixupCollator

__all__ = ["BatchMixup", "MixupCollator"]
