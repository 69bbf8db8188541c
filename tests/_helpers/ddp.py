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
        "group_mean": GroupAccuracy(groups, average="macro", ignore_index=ignore_index, **kwargs),
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


def make_plain_metrics(num_labels: int, threshold: Any = None) -> dict[str, Metric]:
    """One instance of every metric class in its plain multi-label form (``groups=None``)."""
    from imbalml import (
        LabelAveragePrecision,
        LabelF1Score,
        LabelPrecision,
        LabelRecall,
    )

    kw = {"num_labels": num_labels, "threshold": threshold}
    return {
        "ma": MeanClassAccuracy(None, **kw),
        "per_label": PerClassAccuracy(None, **kw),
        "label_acc": GroupAccuracy(None, **kw),
        "recall": LabelRecall(None, **kw),
        "precision": LabelPrecision(None, **kw),
        "f1": LabelF1Score(None, average="none", **kw),
        "ap": LabelAveragePrecision(None, num_labels=num_labels),
        "ap_none": LabelAveragePrecision(None, num_labels=num_labels, average="none"),
    }


def plain_sync_worker(
    rank: int,
    world_size: int,
    store_path: str,
    preds: torch.Tensor,
    target: torch.Tensor,
    threshold: torch.Tensor,
    bounds: list[int],
    batch_size: int,
    out_dir: str,
) -> None:
    """As :func:`sync_worker`, for the plain multi-label metrics."""
    dist.init_process_group(
        "gloo", init_method=f"file://{store_path}", rank=rank, world_size=world_size
    )
    try:
        collection = MetricCollection(make_plain_metrics(target.shape[1], threshold))
        lo, hi = bounds[rank], bounds[rank + 1]
        for start in range(lo, hi, batch_size):
            stop = min(start + batch_size, hi)
            collection.update(preds[start:stop], target[start:stop])
        torch.save(collection.compute(), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def sampler_worker(
    rank: int,
    world_size: int,
    store_path: str,
    target: torch.Tensor,
    epochs: int,
    batch_size: int,
    out_dir: str,
) -> None:
    """Train-loop skeleton with a per-step scheduler over a MinorityOversampler, in one process.

    Each process builds the sampler with the distributed defaults (world size and rank from
    ``torch.distributed``), steps ``OneCycleLR(total_steps=epochs * len(loader))`` once per batch
    (it raises if stepped more often than that), and records, per epoch, the indices it saw and
    the number of steps every process took (all-gathered).
    """
    from torch.utils.data import DataLoader, TensorDataset

    from imbalml import MinorityOversampler

    dist.init_process_group(
        "gloo", init_method=f"file://{store_path}", rank=rank, world_size=world_size
    )
    try:
        sampler = MinorityOversampler(target, seed=3)  # plain multi-hot target
        loader = DataLoader(TensorDataset(torch.arange(target.shape[0])), batch_size=batch_size,
                            sampler=sampler)  # fmt: skip
        param = torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([param], lr=0.1)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=0.1, total_steps=epochs * len(loader)
        )
        seen, steps = [], []
        for epoch in range(epochs):
            sampler.set_epoch(epoch)
            indices, count = [], 0
            for (batch,) in loader:
                optimizer.step()
                scheduler.step()
                indices.extend(batch.tolist())
                count += 1
            gathered = [torch.zeros(1, dtype=torch.long) for _ in range(world_size)]
            dist.all_gather(gathered, torch.tensor([count]))
            seen.append(indices)
            steps.append([int(g) for g in gathered])
        result = {"seen": seen, "steps": steps, "len_loader": len(loader),
                  "len_sampler": len(sampler), "epoch_size": sampler.epoch_size}  # fmt: skip
        torch.save(result, os.path.join(out_dir, f"sampler{rank}.pt"))
    finally:
        dist.destroy_process_group()
