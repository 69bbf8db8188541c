"""The report's three figures: label distribution, loss curves, score curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from imbalml import AttributeGroups


def plot_label_distribution(counts: torch.Tensor, groups: AttributeGroups, path: Path) -> None:
    """One bar chart per group of the training-set attribute counts."""
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
