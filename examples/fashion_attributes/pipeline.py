"""Data pipelines of the example: the report's PIL ``DataLoader`` path and a tensor path.

* ``pil``: ``DataLoader`` workers decode and augment each image with PIL, and the
  :class:`~imbalml.MixupCollator` mixes the batch: the report's pipeline.
* ``tensor``: every image is decoded once into a uint8 tensor (resized to the preprocessing size)
  that lives on the training device; augmentation (``augment.py``, same distributions) and
  :class:`~imbalml.BatchMixup` run there on whole batches. No worker processes, no per-step
  host-device copies and no host synchronisation: the fast path on a GPU. On a CPU the PIL
  workers are faster (``benchmarks/bench_pipeline.py``), so ``auto`` picks ``pil`` there.

``build_data`` returns a :class:`Data` whose ``train_batches(epoch, seed)`` yields
``(images, soft_targets)`` batches (minority mixup applied) and whose validation/test loaders yield
``(images, hard_targets)``. Every random draw of an epoch derives from its seed, so a resumed run
repeats exactly the epochs it continues.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import augment
import builders
import torch
from fashion import GROUP_NAMES
from torch.utils.data import DataLoader, DistributedSampler, Subset

from imbalml import AttributeGroups, BatchMixup, MixupCollator, label_counts
from imbalml.data import AttributeImageDataset, read_attribute_list
from imbalml.samplers import MinorityOversampler


@dataclass
class Data:
    """Everything the training loop needs from the data side."""

    groups: AttributeGroups
    train_targets: torch.Tensor
    num_val: int
    val_loader: DataLoader
    test_loader: DataLoader | None
    make_train_batches: Any

    def train_batches(self, epoch: int, seed: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        """The training batches of one epoch, drawn from ``seed``."""
        return self.make_train_batches(epoch, seed)


def read_groups(root: Path) -> AttributeGroups:
    """The label layout from ``split/list_attr_cloth.txt`` (group names when it has 6 groups)."""
    path = root / "split" / "list_attr_cloth.txt"
    groups = read_attribute_list(path)
    if groups.num_groups == len(GROUP_NAMES):
        groups = read_attribute_list(path, group_names=GROUP_NAMES)
    return groups


def _per_process_batch(config: dict[str, Any], world: int) -> int:
    if config["batch_size"] % world:
        raise ValueError(
            f"Expected --batch-size ({config['batch_size']}) divisible by the number of processes "
            f"({world}): it is the global batch, split evenly."
        )
    return config["batch_size"] // world


def _train_sampler(config: dict[str, Any], dataset: Any, targets: torch.Tensor, groups: AttributeGroups,
                   runtime: Any, epoch: int) -> Any:
    if config["oversample"]:
        sampler: Any = MinorityOversampler(targets, groups, seed=config["seed"],
                                           num_replicas=runtime.world_size, rank=runtime.rank)
    else:
        sampler = DistributedSampler(dataset, num_replicas=runtime.world_size, rank=runtime.rank,
                                     shuffle=True, seed=config["seed"])
    sampler.set_epoch(epoch)
    return sampler


def build_data(config: dict[str, Any], root: Path, runtime: Any) -> Data:
    """The configured pipeline (``auto``: tensor on CUDA, PIL elsewhere)."""
    kind = config["pipeline"]
    if kind == "auto":
        kind = "tensor" if runtime.device.type == "cuda" else "pil"
    return build_tensor_data(config, root, runtime) if kind == "tensor" else build_pil_data(config, root, runtime)


def build_pil_data(config: dict[str, Any], root: Path, runtime: Any) -> Data:
    """Datasets, sampler, mixup collator and loaders of the PIL pipeline."""
    groups = read_groups(root)
    world, rank = runtime.world_size, runtime.rank
    batch = _per_process_batch(config, world)
    pin = runtime.device.type == "cuda"
    train_ds = AttributeImageDataset(root, "train", groups=groups,
                                     transform=builders.build_transforms(config, train=True))
    val_ds = AttributeImageDataset(root, "val", groups=groups,
                                   transform=builders.build_transforms(config, train=False))
    counts = label_counts(train_ds.targets, groups)
    workers = config["workers"]

    def train_batches(epoch: int, seed: int) -> DataLoader:
        sampler = _train_sampler(config, train_ds, train_ds.targets, groups, runtime, epoch)
        collator = MixupCollator(groups, counts=counts, mode=config["mixup"], alpha=config["mixup_alpha"],
                                 beta=config["mixup_beta"], count_threshold=config["minority_threshold"],
                                 seed=seed)
        torch.manual_seed(seed)  # transforms and dropout in this process
        return DataLoader(train_ds, batch_size=batch, sampler=sampler, collate_fn=collator,
                          num_workers=workers, generator=torch.Generator().manual_seed(seed),
                          pin_memory=pin, persistent_workers=False)

    # Validation: each process takes every world-th image, no padding, so synced metrics are exact.
    val_loader = DataLoader(Subset(val_ds, range(rank, len(val_ds), world)), batch_size=batch,
                            shuffle=False, num_workers=workers, pin_memory=pin)
    test_loader = None
    if (root / "split" / "test.txt").is_file() and runtime.is_main:
        test_ds = AttributeImageDataset(root, "test", groups=groups,
                                        transform=builders.build_transforms(config, train=False))
        test_loader = DataLoader(test_ds, batch_size=batch, shuffle=False, num_workers=workers)
    return Data(groups, train_ds.targets, len(val_ds), val_loader, test_loader, train_batches)


# ------------------------------------------------------------------------------- tensor path
def decode_split(root: Path, split: str, groups: AttributeGroups, size: int, workers: int) -> AttributeImageDataset:
    """Decode a split once: uint8 images ``(N, 3, size, size)`` (short side resized, centre crop).

    Returns the dataset; its images are in the attribute ``images`` (a CPU tensor).
    """
    from torchvision import transforms as T

    dataset = AttributeImageDataset(root, split, groups=groups, transform=T.Compose([
        T.Resize(size, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(size), T.PILToTensor()]))
    loader = DataLoader(dataset, batch_size=64, shuffle=False, num_workers=workers)
    dataset.images = torch.cat([x for x, _ in loader])  # type: ignore[attr-defined]
    return dataset


def build_tensor_data(config: dict[str, Any], root: Path, runtime: Any) -> Data:
    """Decode once to uint8 tensors on the device; augment and mix whole batches there."""
    groups = read_groups(root)
    device, world, rank = runtime.device, runtime.world_size, runtime.rank
    batch = _per_process_batch(config, world)
    mean, std = builders.NORMALIZATION[config["normalization"]]
    size, crop, workers = config["resize_size"], config["image_size"], config["workers"]
    train_ds = decode_split(root, "train", groups, size, workers)
    train_images = train_ds.images.to(device)
    train_targets = train_ds.targets.to(device)
    counts = label_counts(train_ds.targets, groups)

    def train_batches(epoch: int, seed: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        sampler = _train_sampler(config, train_ds, train_ds.targets, groups, runtime, epoch)
        order = torch.tensor(list(sampler), dtype=torch.long).to(device, non_blocking=True)
        gen = torch.Generator(device=device).manual_seed(seed)
        order_gen = torch.Generator().manual_seed(seed)  # the jitter order, drawn on the host
        mixup = BatchMixup(groups, counts=counts, mode=config["mixup"], alpha=config["mixup_alpha"],
                           beta=config["mixup_beta"], count_threshold=config["minority_threshold"],
                           seed=seed, validate_args=False).to(device)  # its minority mask on the device
        torch.manual_seed(seed)  # dropout in this process
        for start in range(0, len(order), batch):
            index = order[start : start + batch]
            images = augment.preprocess(train_images[index], crop=crop, mean=mean, std=std, gen=gen,
                                        order_gen=order_gen, augment=config["augment"])
            yield mixup(images, train_targets[index])

    class _Batches:
        """A re-iterable list of preprocessed batches of a labelled or unlabelled split."""

        def __init__(self, dataset: AttributeImageDataset, indices: range) -> None:
            idx = torch.tensor(list(indices), dtype=torch.long)
            self.images = dataset.images[idx].to(device)  # type: ignore[attr-defined]
            labels = dataset.targets if dataset.targets is not None else torch.full(
                (len(dataset), groups.num_groups), -100, dtype=torch.long)
            self.targets = labels[idx].to(device)

        def __iter__(self) -> Any:
            for start in range(0, len(self.images), batch):
                x = augment.preprocess(self.images[start : start + batch], crop=crop, mean=mean, std=std)
                yield x, self.targets[start : start + batch]

        def __len__(self) -> int:
            return -(-len(self.images) // batch)

    val_ds = decode_split(root, "val", groups, size, workers)
    val_batches = _Batches(val_ds, range(rank, len(val_ds), world))
    test_batches = None
    if (root / "split" / "test.txt").is_file() and runtime.is_main:
        test_ds = decode_split(root, "test", groups, size, workers)
        test_batches = _Batches(test_ds, range(len(test_ds)))
    return Data(groups, train_ds.targets, len(val_ds), val_batches, test_batches,  # type: ignore[arg-type]
                train_batches)
