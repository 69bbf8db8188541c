"""``history.csv``: one row per epoch, per-group accuracies in their own columns, written atomically."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from imbalml import AttributeGroups
from imbalml.data import atomic_write

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
