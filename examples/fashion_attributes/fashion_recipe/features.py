"""The frozen-backbone protocol: backbone features computed once, cached on disk, a head trained on them.

``protocol: frozen`` trains only the grouped head. Each training image gets a centre view (the
evaluation preprocessing) and ``feature_views`` augmented views (the training transforms: the
recipe's flip, rotation and colour jitter, or the configured crops), passed once through the
backbone in eval mode. Every epoch draws one view per image (uniformly) and mixup, when on, mixes
the **features** of the chosen views (a linear mix in feature space, not in pixel space). The
selection images are scored on their centre-view features.

The features are cached in ``cache_dir``, by default a user cache folder shared by every run
(:func:`default_cache_dir`: ``$IMBALML_CACHE/features``, else ``$XDG_CACHE_HOME/imbalml/features``,
else ``~/.cache/imbalml/features``, the way torch hub and timm keep theirs; never beside the
images, whose folder may be read-only), under a key of everything that changes them: backbone,
a hash of its weights, preprocessing, number of views, the seed of the augmented views, the image
list and every image's bytes, and which images get augmented views. Any run with the same key
(whatever its ``out_dir``) reuses the file; any change makes a new one. Files are written
atomically, so runs that share the folder never read a half-written one.

The checkpoint holds backbone and head (the whole :class:`~builders.AttributeClassifier`), so
``predict.py`` runs on images, unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from imbalml.data import AttributeImageDataset, atomic_write

from . import builders
from .progress import progress

log = logging.getLogger("fashion")

CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    """The user's feature cache folder, shared by every run that does not name its own.

    ``$IMBALML_CACHE/features``, else ``$XDG_CACHE_HOME/imbalml/features``, else
    ``~/.cache/imbalml/features`` (the first whose variable is set).

    Examples:
        >>> default_cache_dir().name
        'features'
    """
    if os.environ.get("IMBALML_CACHE"):
        return Path(os.environ["IMBALML_CACHE"]) / "features"
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "imbalml" / "features"
    return Path.home() / ".cache" / "imbalml" / "features"


def cache_dir_of(config: dict[str, Any]) -> Path:
    """The run's feature cache: its ``cache_dir`` option, else :func:`default_cache_dir`."""
    return Path(config["cache_dir"]) if config["cache_dir"] else default_cache_dir()


class HeadOnly(nn.Module):
    """The classifier's head (and its logit offset) applied to cached features."""

    def __init__(self, model: builders.AttributeClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(features)


class _Views(Dataset):
    """Image ``i`` of ``dataset`` through ``transform``, seeded per (view, image): deterministic."""

    def __init__(self, dataset: AttributeImageDataset, indices: list[int], transform: Any, seed: int) -> None:
        self.dataset, self.indices, self.transform, self.seed = dataset, indices, transform, seed

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> torch.Tensor:
        index = self.indices[i]
        torch.manual_seed(self.seed * 1_000_003 + index)  # the random transforms of this image
        return self.transform(self.dataset.loader(self.dataset.image_path(index)))


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_digest(dataset: AttributeImageDataset) -> str:
    """SHA-256 over the image list and every listed image's bytes (a change anywhere shows)."""
    h = hashlib.sha256()
    for rel in dataset.paths:
        h.update(rel.encode() + b"\0")
        h.update(bytes.fromhex(_file_digest(dataset.root / rel)))
    return h.hexdigest()


def cache_key(config: dict[str, Any], weights_digest: str, data: str, augmented: list[int]) -> dict[str, Any]:
    """Every input that changes the cached features, as a JSON-able mapping."""
    return {
        "format": CACHE_FORMAT,
        "backbone": config["backbone"],
        "weights_sha256": weights_digest,
        "image_size": config["image_size"],
        "resize_size": config["resize_size"],
        "resize_mode": config["resize_mode"],
        "normalization": config["normalization"],
        "augment": config["augment"],
        "train_crop": config["train_crop"],
        "feature_views": config["feature_views"],
        "feature_seed": config["feature_seed"],
        "data_sha256": data,
        "augmented_sha256": hashlib.sha256(json.dumps(augmented).encode()).hexdigest(),
    }


def key_digest(key: dict[str, Any]) -> str:
    """The cache file's name part: a hash of the key."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def weights_digest(backbone: nn.Module) -> str:
    """SHA-256 of the backbone's weights as loaded (covers named, file and random weights)."""
    h = hashlib.sha256()
    for name, tensor in sorted(backbone.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def _extract(backbone_model: builders.AttributeClassifier, views: Dataset, config: dict[str, Any],
             device: torch.device, desc: str) -> torch.Tensor:
    loader = DataLoader(views, batch_size=64, shuffle=False, num_workers=config["workers"])
    out = []
    for images in progress(loader, len(loader), desc, config["progress"]):
        images = images.to(device)
        if config["channels_last"]:
            images = images.contiguous(memory_format=torch.channels_last)
        out.append(backbone_model.features(images).float().cpu())
    return torch.cat(out)


def cached_features(model: builders.AttributeClassifier, dataset: AttributeImageDataset,
                    augmented: list[int], config: dict[str, Any], device: torch.device,
                    cache_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre-view features ``(N, D)`` of every image and ``(K, len(augmented), D)`` augmented ones.

    Read from ``cache_dir`` when a file with the same key is there; else computed (the backbone
    in eval mode, a progress bar per view) and written atomically.
    """
    key = cache_key(config, weights_digest(model.backbone), data_digest(dataset), augmented)
    path = cache_dir / f"features-{key_digest(key)}.pt"
    if path.is_file():
        try:
            cached = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a damaged cache is rebuilt, never trusted
            log.warning("feature cache %s unreadable (%s): computing it again", path, exc)
        else:
            if cached.get("key") == key:
                log.info("feature cache hit: %s", path)
                return cached["centre"], cached["augmented"]
            log.warning("feature cache %s holds another key: computing it again", path)
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    try:
        centre = _extract(model, _Views(dataset, list(range(len(dataset))),
                                        builders.build_transforms(config, train=False), 0),
                          config, device, "features, centre view")
        aug = [_extract(model, _Views(dataset, augmented, builders.build_transforms(config, train=True),
                                      config["feature_seed"] * 1000 + v + 1),
                        config, device, f"features, augmented view {v + 1}/{config['feature_views']}")
               for v in range(config["feature_views"] if augmented else 0)]
    finally:
        model.train(was_training)
    augmented_features = torch.stack(aug) if aug else centre.new_zeros(0, len(augmented), centre.shape[1])
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as f:
        torch.save({"key": key, "centre": centre, "augmented": augmented_features}, f)
    log.info("feature cache written: %s (%d images x %d views, %.0f s)", path, len(dataset),
             1 + config["feature_views"], time.perf_counter() - start)
    return centre, augmented_features
