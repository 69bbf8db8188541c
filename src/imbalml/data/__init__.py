"""Datasets, label statistics and splits."""

from imbalml.data.atomic import atomic_write
from imbalml.data.folder import (
    ATTRIBUTE_LIST,
    AttributeImageDataset,
    load_rgb,
    read_attribute_list,
    read_labels,
    read_split,
    write_predictions,
)
from imbalml.data.split import StratifiedSplit, stratified_split
from imbalml.data.stats import LabelCounts, label_counts

__all__ = [
    "ATTRIBUTE_LIST",
    "AttributeImageDataset",
    "LabelCounts",
    "StratifiedSplit",
    "atomic_write",
    "label_counts",
    "load_rgb",
    "read_attribute_list",
    "read_labels",
    "read_split",
    "stratified_split",
    "write_predictions",
]
