"""What a run writes besides checkpoints: ``history.csv``, the metric report, the report's figures.

``history.csv`` has one row per epoch, per-group accuracies in their own columns, written
atomically; :func:`metric_report` is what ``val_report.json`` and ``predict.py --report`` hold;
the figures are the label distribution and the loss and score curves.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from imbalml import AttributeGroups
from imbalml.data import atomic_write
from imbalml.functional import (
    confusion_matrices,
    group_accuracy,
    mean_class_accuracy,
    per_class_accuracy,
)

# ------------------------------------------------------------------------------------ history.csv
#: The first columns of ``history.csv``, in this order; any other key of a row follows them.
HISTORY_KEYS = ["epoch", "train_loss", "val_loss", "train_score", "val_score", "val_group_accuracy",
                "lr", "seconds", "skipped_steps"]


def history_columns(row: dict[str, Any], groups: AttributeGroups) -> dict[str, Any]:
    """One epoch's row as CSV columns, ``HISTORY_KEYS`` first and the row's other keys after.

    A per-group list ``<split>_group_accuracy`` becomes one column ``<split>_acc_<group>`` per group.
    """
    columns: dict[str, Any] = {}
    for key in [*(k for k in HISTORY_KEYS if k in row), *(k for k in row if k not in HISTORY_KEYS)]:
        value = row[key]
        if isinstance(value, (list, tuple)):
            if len(value) != groups.num_groups:
                raise ValueError(f"Expected `{key}` with one value per group ({groups.num_groups}), "
                                 f"but got {len(value)}.")
            prefix = key.removesuffix("_group_accuracy") + "_acc" if key.endswith("_group_accuracy") else key
            columns.update({f"{prefix}_{name}": v for name, v in zip(groups.names, value)})
        else:
            columns[key] = value
    return columns


def write_history(history: list[dict[str, Any]], path: Path, groups: AttributeGroups) -> None:
    """``history.csv``: one row per epoch, per-group validation accuracy in its own columns.

    The header is built from the rows it describes (:func:`history_columns`); rows with different
    keys are an error, not shifted columns.
    """
    rows = [history_columns(row, groups) for row in history]
    header = list(rows[0]) if rows else []
    for epoch, row in enumerate(rows, 1):
        if list(row) != header:
            raise ValueError(f"Expected every history row to have the columns {header}, "
                             f"but row {epoch} has {list(row)}.")
    with atomic_write(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in rows:
            writer.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row.values()])


# ------------------------------------------------------------------------------------ metric report
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


# ------------------------------------------------------------------------------------ figures
def _pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend, imported when a figure is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_label_distribution(counts: torch.Tensor, groups: AttributeGroups, path: Path) -> None:
    """One bar chart per group of the training-set attribute counts."""
    plt = _pyplot()
    cols = 3
    rows = -(-groups.num_groups // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for g, (name, sl) in enumerate(zip(groups.names, groups.slices)):
        ax = axes[g // cols][g % cols]
        labels = [a.split("/")[-1] for a in groups.attribute_names[sl]]
        ax.bar(range(len(labels)), counts[sl].tolist(), color="tab:blue")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
        ax.set_title(f"{name}")
        ax.set_ylabel("images")
    for g in range(groups.num_groups, rows * cols):
        axes[g // cols][g % cols].axis("off")
    fig.suptitle("Training-set label distribution per group")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(
    history: Sequence[dict[str, float]], keys: tuple[str, str], ylabel: str, path: Path
) -> None:
    """Training vs validation curve of one quantity per epoch."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in zip(keys, ("training", "validation")):
        ax.plot(epochs, [row[key] for row in history], marker="o", markersize=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
