"""Datasets, label statistics and splits."""

from imbalml.data.stats import label_counts

__all__ = ["label_counts"]
