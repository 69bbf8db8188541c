"""Data pipelines of the example: the report's PIL ``DataLoader`` path and a tensor path.

* ``pil``: ``DataLoader`` workers decode and augment each image with PIL, and the
  :class:`~imbalml.MixupCollator` mixes the batch: the report's pipeline.
* ``tensor``: every image is decoded once into a uint8 tensor (resized to the preprocessing size)
  that lives on the training device (training images on a canvas with room for the rotation's
  corners, see ``augment.py``); augmentation (``augment.py``, same distributions) and
  :class:`~imbalml.BatchMixup` run there on whole batches. No worker processes, no per-step
  host-device copies and no host synchronisation: the fast path on a GPU. On a CPU the PIL
  workers are faster (``benchmarks/bench_pipeline.py``), so ``auto`` picks ``pil`` there.

* ``protocol: frozen`` (``features.py``): cached backbone features instead of images; only the
  head trains, and mixup mixes features.

``build_data`` returns a :class:`Data` whose ``train_batches(epoch, seed)`` yields
``(inputs, soft_targets)`` batches (minority mixup applied) and whose validation/test loaders yield
``(inputs, hard_targets)``. Every random draw of an epoch derives from its seed, so a resumed run
repeats exactly the epochs it continues.

Checkpoints are selected on ``val`` when it has labels; otherwise (or with ``--holdout``) on a
stratified selection split of the training images (``selection.py``), which then does not train.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler, Subset

from imbalml import AttributeGroups, BatchMixup, MixupCollator, label_counts
from imbalml.data import AttributeImageDataset, read_attribute_list
from imbalml.samplers import MinorityOversampler

from . import augment, builders, features
from .config import eval_sizes
from .selection import Selection, needs_selection, selection_for_run
from .task import GROUP_NAMES


@dataclass
class Data:
    """Everything the training loop needs from the data side."""

    groups: AttributeGroups
    train_targets: torch.Tensor
    num_val: int
    val_loader: DataLoader
    test_loader: DataLoader | None
    make_train_batches: Any
    selection: Selection | None = None  # the held-out part of train, when it selects
    train_paths: list[str] = field(default_factory=list)  # all of split/train.txt
    head_only: bool = False  # inputs are cached features: train and score the head alone
    steps_per_epoch: int = 0  # optimizer steps per epoch (for per-step schedules)

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


def subset(dataset: AttributeImageDataset, indices: torch.Tensor, transform: Any, name: str) -> AttributeImageDataset:
    """The images ``indices`` of ``dataset`` (a view: same root, loader and layout)."""
    view = copy.copy(dataset)
    view.paths = [dataset.paths[i] for i in indices.tolist()]
    view.targets = dataset.targets[indices] if dataset.targets is not None else None
    view.transform, view.split = transform, name
    return view


@dataclass
class Splits:
    """The labelled images that train and those that select checkpoints."""

    groups: AttributeGroups
    all_train: AttributeImageDataset  # split/train.txt, whole
    train: AttributeImageDataset
    val: AttributeImageDataset
    selection: Selection | None
    train_index: torch.Tensor  # the lines of all_train that train


def read_splits(config: dict[str, Any], root: Path, resumed: dict[str, Any] | None = None,
                train_on_all: bool = False) -> Splits:
    """Training and selection images: ``val`` when labelled, else a stratified part of ``train``.

    ``train_on_all`` (a refit): every labelled training image trains, the selection split included
    (it stays the validation set, which a refit does not evaluate).
    """
    groups = read_groups(root)
    all_train = AttributeImageDataset(root, "train", groups=groups, require_labels=True)
    if not needs_selection(config, root):
        val = AttributeImageDataset(root, "val", groups=groups)
        return Splits(groups, all_train, all_train, val, None, torch.arange(len(all_train)))
    sel = selection_for_run(config, all_train.targets, groups, all_train.paths, resumed)
    index = torch.arange(len(all_train)) if train_on_all else sel.train
    train = all_train if train_on_all else subset(all_train, sel.train, None, "train")
    return Splits(groups, all_train, train, subset(all_train, sel.select, None, "selection"), sel, index)


def _steps(config: dict[str, Any], dataset: Any, targets: torch.Tensor, groups: AttributeGroups,
           runtime: Any) -> int:
    """Batches per epoch and process (the sampler's length is the same every epoch)."""
    sampler = _train_sampler(config, dataset, targets, groups, runtime, 0)
    return -(-len(sampler) // _per_process_batch(config, runtime.world_size))


def build_data(config: dict[str, Any], root: Path, runtime: Any, model: Any = None,
               resumed: dict[str, Any] | None = None, train_on_all: bool = False) -> Data:
    """The configured pipeline (``auto``: tensor on CUDA, PIL elsewhere; ``frozen``: features).

    ``model`` is needed by the frozen protocol (its backbone computes the features); ``resumed``
    is the checkpoint's selection split record, reused as it is; ``train_on_all``: see
    :func:`read_splits`.
    """
    splits = read_splits(config, root, resumed, train_on_all)
    if config["protocol"] == "frozen":
        data = build_feature_data(config, root, runtime, splits, model)
    else:
        kind = config["pipeline"]
        if kind == "auto":
            kind = "tensor" if runtime.device.type == "cuda" else "pil"
        build = build_tensor_data if kind == "tensor" else build_pil_data
        data = build(config, root, runtime, splits)
    data.selection, data.train_paths = splits.selection, splits.all_train.paths
    data.steps_per_epoch = _steps(config, range(len(data.train_targets)), data.train_targets,
                                  data.groups, runtime)
    return data


def _test_loader(config: dict[str, Any], root: Path, runtime: Any, groups: AttributeGroups,
                 batch: int) -> DataLoader | None:
    """Test images through the evaluation transforms (rank 0), or ``None`` without a test split."""
    if not ((root / "split" / "test.txt").is_file() and runtime.is_main and config["predict_test"]):
        return None
    test_ds = AttributeImageDataset(root, "test", groups=groups,
                                    transform=builders.build_transforms(config, train=False))
    return DataLoader(test_ds, batch_size=batch, shuffle=False, num_workers=config["workers"])


def build_pil_data(config: dict[str, Any], root: Path, runtime: Any, splits: Splits) -> Data:
    """Datasets, sampler, mixup collator and loaders of the PIL pipeline."""
    groups = splits.groups
    world, rank = runtime.world_size, runtime.rank
    batch = _per_process_batch(config, world)
    pin = runtime.device.type == "cuda"
    train_ds = subset(splits.train, torch.arange(len(splits.train)),
                       builders.build_transforms(config, train=True), "train")
    val_ds = subset(splits.val, torch.arange(len(splits.val)),
                     builders.build_transforms(config, train=False), splits.val.split)
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
    test_loader = _test_loader(config, root, runtime, groups, batch)
    return Data(groups, train_ds.targets, len(val_ds), val_loader, test_loader, train_batches)


# ------------------------------------------------------------------------------- tensor path
def decode_transform(size: int, canvas: int | None = None) -> Any:
    """PIL image to uint8 ``(3, canvas, canvas)``: short side resized to ``size``, centre crop.

    ``canvas`` defaults to ``size``; a canvas larger than the image is padded with black.
    """
    from torchvision import transforms as T

    return T.Compose([T.Resize(size, interpolation=T.InterpolationMode.BICUBIC),
                      T.CenterCrop(canvas or size), T.PILToTensor()])  # fmt: skip


def train_canvas(config: dict[str, Any]) -> int:
    """Side of the tensor path's decoded training images: room for the rotated crop's corners."""
    if not config["augment"]:
        return config["resize_size"]
    return max(config["resize_size"], augment.rotation_canvas(config["image_size"]))


def decode(dataset: AttributeImageDataset, size: int, workers: int, canvas: int | None = None) -> AttributeImageDataset:
    """Decode a dataset once: uint8 images ``(N, 3, canvas, canvas)`` (:func:`decode_transform`).

    Returns a view of the dataset whose images are in the attribute ``images`` (a CPU tensor).
    """
    view = subset(dataset, torch.arange(len(dataset)), decode_transform(size, canvas), dataset.split)
    loader = DataLoader(view, batch_size=64, shuffle=False, num_workers=workers)
    view.images = torch.cat([x for x, _ in loader])  # type: ignore[attr-defined]
    return view


def decode_split(root: Path, split: str, groups: AttributeGroups, size: int, workers: int) -> AttributeImageDataset:
    """:func:`decode` of a whole split of ``root``."""
    return decode(AttributeImageDataset(root, split, groups=groups), size, workers)


def build_tensor_data(config: dict[str, Any], root: Path, runtime: Any, splits: Splits) -> Data:
    """Decode once to uint8 tensors on the device; augment and mix whole batches there."""
    groups = splits.groups
    device, world, rank = runtime.device, runtime.world_size, runtime.rank
    batch = _per_process_batch(config, world)
    mean, std = builders.NORMALIZATION[config["normalization"]]
    size, crop, workers = config["resize_size"], config["image_size"], config["workers"]
    eval_resize, eval_crop = eval_sizes(config)
    train_ds = decode(splits.train, size, workers, canvas=train_canvas(config))
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
                x = augment.preprocess(self.images[start : start + batch], crop=eval_crop, mean=mean, std=std)
                yield x, self.targets[start : start + batch]

        def __len__(self) -> int:
            return -(-len(self.images) // batch)

    val_ds = decode(splits.val, eval_resize, workers)
    val_batches = _Batches(val_ds, range(rank, len(val_ds), world))
    test_batches = None
    if (root / "split" / "test.txt").is_file() and runtime.is_main and config["predict_test"]:
        test_ds = decode_split(root, "test", groups, eval_resize, workers)
        test_batches = _Batches(test_ds, range(len(test_ds)))
    return Data(groups, train_ds.targets, len(val_ds), val_batches, test_batches,  # type: ignore[arg-type]
                train_batches)


# ------------------------------------------------------------------------------ frozen protocol
class _FeatureBatches:
    """A re-iterable list of ``(features, hard_targets)`` batches."""

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor, batch: int) -> None:
        self.inputs, self.targets, self.batch = inputs, targets, batch

    def __iter__(self) -> Any:
        for start in range(0, len(self.inputs), self.batch):
            yield self.inputs[start : start + self.batch], self.targets[start : start + self.batch]

    def __len__(self) -> int:
        return -(-len(self.inputs) // self.batch)


def build_feature_data(config: dict[str, Any], root: Path, runtime: Any, splits: Splits, model: Any) -> Data:
    """Cached backbone features (``features.py``): one view drawn per image and epoch, mixed."""
    if model is None:
        raise ValueError("protocol frozen: build_data needs the model (its backbone computes the features).")
    groups = splits.groups
    device, world, rank = runtime.device, runtime.world_size, runtime.rank
    batch = _per_process_batch(config, world)
    all_train = splits.all_train
    train_idx = splits.train_index  # a refit's: every labelled image, the selection split included
    # val is labelled: its centre features are cached too, as a second "dataset"
    val_idx = splits.selection.select if splits.selection is not None else None
    cache_dir = features.cache_dir_of(config)  # shared by every run by default (features.py)

    def load() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        centre, augmented = features.cached_features(model, all_train, train_idx.tolist(), config, device, cache_dir)
        val = None if val_idx is not None else features.cached_features(model, splits.val, [], config, device, cache_dir)[0]
        return centre, augmented, val

    if runtime.is_main:  # computes (or reads) the cache once; the others read it after the barrier
        loaded = load()
    runtime.barrier()
    if not runtime.is_main:
        loaded = load()
    centre, augmented, val_centre = loaded
    if val_idx is None:
        val_inputs = val_centre
        val_targets = splits.val.targets
    else:
        val_inputs, val_targets = centre[val_idx], all_train.targets[val_idx]
    # views of the training images: (1 + K, N_train, D), view 0 the centre one
    views = torch.cat([centre[train_idx].unsqueeze(0), augmented]).to(device)
    train_targets = all_train.targets[train_idx]
    targets_dev = train_targets.to(device)
    counts = label_counts(train_targets, groups)

    def train_batches(epoch: int, seed: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        sampler = _train_sampler(config, range(len(train_idx)), train_targets, groups, runtime, epoch)
        order = torch.tensor(list(sampler), dtype=torch.long)
        gen = torch.Generator().manual_seed(seed)
        view = torch.randint(0, views.shape[0], (len(order),), generator=gen)
        mixup = BatchMixup(groups, counts=counts, mode=config["mixup"], alpha=config["mixup_alpha"],
                           beta=config["mixup_beta"], count_threshold=config["minority_threshold"],
                           seed=seed, validate_args=False).to(device)
        torch.manual_seed(seed)  # dropout in this process
        for start in range(0, len(order), batch):
            index, v = order[start : start + batch].to(device), view[start : start + batch].to(device)
            yield mixup(views[v, index], targets_dev[index])

    val_loader = _FeatureBatches(val_inputs[rank::world].to(device), val_targets[rank::world].to(device), batch)
    test_loader = _test_loader(config, root, runtime, groups, batch)
    return Data(groups, train_targets, len(val_targets), val_loader, test_loader,  # type: ignore[arg-type]
                train_batches, head_only=True)
