"""The metric report of a labelled split: what ``val_report.json`` and ``predict.py`` write."""

from __future__ import annotations

import math
from typing import Any

import torch

from imbalml import AttributeGroups
from imbalml.functional import (
    confusion_matrices,
    group_accuracy,
    mean_class_accuracy,
    per_class_accuracy,
)


def majority_labels(train_counts: torch.Tensor, groups: AttributeGroups) -> torch.Tensor:
    """The most frequent training attribute of each group, ``(G,)``."""
    return torch.stack([train_counts[sl].argmax() for sl in groups.slices])


def metric_report(
    preds: torch.Tensor, target: torch.Tensor, groups: AttributeGroups, train_counts: torch.Tensor
) -> dict[str, Any]:
    """Mean per-class accuracy, its majority baseline, per-group accuracy, recalls, confusions."""
    majority = majority_labels(train_counts, groups)
    recall = per_class_accuracy(preds, target, groups).tolist()
    group_acc = group_accuracy(preds, target, groups).tolist()
    return {
        "num_images": len(target),
        "mean_class_accuracy": float(mean_class_accuracy(preds, target, groups)),
        "majority_baseline_mean_class_accuracy": float(
            mean_class_accuracy(majority.expand(len(target), -1), target, groups)
        ),
        "majority_labels": majority.tolist(),
        "group_accuracy": dict(zip(groups.names, group_acc)),
        "mean_group_accuracy": sum(group_acc) / groups.num_groups,
        "per_attribute_recall": {
            name: (None if math.isnan(v) else v) for name, v in zip(groups.attribute_names, recall)
        },
        "confusion_matrices": {
            name: m.tolist() for name, m in zip(groups.names, confusion_matrices(preds, target, groups))
        },
    }
