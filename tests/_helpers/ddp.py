"""The set of metric classes under test, and the worker of the two-process DDP metric test.

Kept in its own light module (torch, torchmetrics, imbalml only) because ``spawn`` re-imports the
worker's module in every child; importing the test module would also import scikit-learn and
hypothesis there.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist
from torchmetrics import Metric, MetricCollection

from imbalml import (
    AttributeGroups,
    GroupAccuracy,
    GroupConfusionMatrix,
    MeanClassAccuracy,
    PerClassAccuracy,
)


def make_metrics(groups: AttributeGroups, ignore_index: int, **kwargs: Any) -> dict[str, Metric]:
    """One instance of every grouped metric class (both averages of GroupAccuracy)."""
    return {
        "mca": MeanClassAccuracy(groups, ignore_index=ignore_index, **kwargs),
        "per_class": PerClassAccuracy(groups, ignore_index=ignore_index, **kwargs),
        "group_acc": GroupAccuracy(groups, ignore_index=ignore_index, **kwargs),
        "group_mean": GroupAccuracy(groups, average="mean", ignore_index=ignore_index, **kwargs),
        "confmat": GroupConfusionMatrix(groups, ignore_index=ignore_index, **kwargs),
    }


def sync_worker(
    rank: int,
    world_size: int,
    store_path: str,
    groups_dict: dict[str, Any],
    preds: torch.Tensor,
    target: torch.Tensor,
    bounds: list[int],
    batch_size: int,
    out_dir: str,
) -> None:
    """Update the metrics on rows ``bounds[rank]:bounds[rank + 1]``; save the synced compute().

    The metrics are built here, in the child: Metric objects passed through
    ``torch.multiprocessing`` arguments would have their state tensors moved to shared memory,
    so both ranks would add into the same counts.
    """
    dist.init_process_group(
        "gloo", init_method=f"file://{store_path}", rank=rank, world_size=world_size
    )
    try:
        groups = AttributeGroups.from_dict(groups_dict)
        collection = MetricCollection(make_metrics(groups, -100))
        lo, hi = bounds[rank], bounds[rank + 1]
        for start in range(lo, hi, batch_size):
            stop = min(start + batch_size, hi)
            collection.update(preds[start:stop], target[start:stop])
        torch.save(collection.compute(), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()
