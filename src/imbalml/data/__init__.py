"""Datasets, label statistics and splits."""

from imbalml.data.split import StratifiedSplit, stratified_split
from imbalml.data.stats import label_counts

__all__ = ["StratifiedSplit", "label_counts", "stratified_split"]
