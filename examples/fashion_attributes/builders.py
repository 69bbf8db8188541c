"""Build the pieces of a run from its configuration: data, transforms, model, loss, optimiser."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn
from torchvision import transforms as T

import imbalml.models  # noqa: F401  (registers the VAN backbones with timm)
from imbalml import (
    AsymmetricLoss,
    AttributeGroups,
    DiceLoss,
    GroupedCrossEntropyLoss,
    GroupedSoftmaxHead,
    LogitAdjustedCrossEntropyLoss,
    WeightedCrossEntropyLoss,
    class_priors,
    class_weights,
)

log = logging.getLogger("fashion")

NORMALIZATION = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "van": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}


# --------------------------------------------------------------------------------------- data
def dataset_root(config: dict[str, Any]) -> Path:
    """The dataset folder: ``data_root``, or the synthetic stand-in (generated once, cached)."""
    if config["data_root"] is not None:
        root = Path(config["data_root"])
        if not (root / "split").is_dir():
            raise FileNotFoundError(
                f"--data-root {root}: expected the course layout (img/, split/train.txt, ...), "
                f"but {root / 'split'} does not exist."
            )
        return root
    from synthetic import make_synthetic_dataset

    n_train, n_val, n_test = config["synthetic_sizes"]
    size, seed = config["synthetic_image_size"], config["synthetic_seed"]
    root = Path(f"{config['synthetic_dir']}-{n_train}-{n_val}-{n_test}-{size}px-seed{seed}")
    if not (root / "split" / "list_attr_cloth.txt").is_file():
        log.info("generating the synthetic stand-in dataset in %s", root)
        make_synthetic_dataset(
            root, num_train=n_train, num_val=n_val, num_test=n_test, image_size=size, seed=seed
        )
    return root


def build_transforms(config: dict[str, Any], train: bool) -> T.Compose:
    """The report's PIL pipeline: augmentation (train), resize short side, centre crop, normalise."""
    mean, std = NORMALIZATION[config["normalization"]]
    steps: list[Any] = []
    if train and config["augment"]:
        steps += [
            T.RandomHorizontalFlip(0.5),
            T.RandomRotation(20),
            T.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1, hue=0.05),
        ]
    steps += [
        T.Resize(config["resize_size"], interpolation=T.InterpolationMode.BICUBIC),
        T.CenterCrop(config["image_size"]),
        T.ToTensor(),
        T.Normalize(mean, std),
    ]
    return T.Compose(steps)


# --------------------------------------------------------------------------------------- model
class AttributeClassifier(nn.Module):
    """A timm backbone's pooled features followed by a :class:`GroupedSoftmaxHead`."""

    def __init__(self, backbone: nn.Module, head: GroupedSoftmaxHead, *, use_pre_logits: bool) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.use_pre_logits = use_pre_logits

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.use_pre_logits:  # the backbone keeps a classifier it does not use
            features = self.backbone.forward_head(self.backbone.forward_features(images), pre_logits=True)
        else:
            features = self.backbone(images)
        return self.head(features)


def build_model(config: dict[str, Any], groups: AttributeGroups) -> AttributeClassifier:
    """Backbone from timm (pretrained as configured) plus the grouped head."""
    kwargs: dict[str, Any] = {"num_classes": 1000 if config["keep_imagenet_head"] else 0}
    if config["drop_path_rate"]:
        kwargs["drop_path_rate"] = config["drop_path_rate"]
    pretrained = config["pretrained"]
    if pretrained == "none":
        backbone = timm.create_model(config["backbone"], pretrained=False, **kwargs)
    elif pretrained == "download":
        backbone = timm.create_model(config["backbone"], pretrained=True, **kwargs)
    else:
        path = Path(pretrained)
        if not path.is_file():
            raise FileNotFoundError(f"--pretrained {path}: file does not exist (use 'none' for random init).")
        backbone = timm.create_model(
            config["backbone"], pretrained=True, pretrained_cfg_overlay={"file": str(path)}, **kwargs
        )
    head = GroupedSoftmaxHead(
        backbone.num_features, groups, hidden=tuple(config["head_hidden"]), dropout=config["head_dropout"]
    )
    return AttributeClassifier(backbone, head, use_pre_logits=config["keep_imagenet_head"])


# --------------------------------------------------------------------------------------- loss
def build_loss(
    config: dict[str, Any], groups: AttributeGroups, counts: torch.Tensor, *, validate_args: bool = True
) -> nn.Module:
    """The configured loss; class statistics come from the training-set ``counts``.

    ``validate_args=False`` skips the per-call value checks (they synchronise a GPU).
    """
    name, reduction = config["loss"], config["loss_reduction"]
    check = {"validate_args": validate_args}
    if name in ("asl", "asl_sigmoid"):
        return AsymmetricLoss(
            groups if name == "asl" else None,
            gamma_pos=config["gamma_pos"],
            gamma_neg=config["gamma_neg"],
            clip=config["clip"],
            detach_focal_weight=config["detach_focal_weight"],
            reduction=reduction,
            **check,
        )
    if name == "ce":
        return GroupedCrossEntropyLoss(groups, reduction=reduction, **check)
    if name == "weighted_ce":
        weight = class_weights(counts, groups, strategy=config["class_weight_strategy"])
        return WeightedCrossEntropyLoss(groups, weight=weight, reduction=reduction, **check)
    if name == "dice":
        return DiceLoss(groups, **check)
    if name == "logit_adjusted":
        return LogitAdjustedCrossEntropyLoss(
            groups, priors=class_priors(counts, groups), tau=config["logit_adjust_tau"], reduction=reduction,
            **check,
        )
    raise ValueError(f"Unknown loss {name!r}.")  # config validation makes this unreachable


def build_optimizer(config: dict[str, Any], model: nn.Module, device: torch.device) -> torch.optim.Optimizer:
    """Adam with L2 weight decay, as the report (fused kernels on CUDA)."""
    params = [p for p in model.parameters() if p.requires_grad]
    extra = {"fused": True} if device.type == "cuda" else {}
    return torch.optim.Adam(params, lr=config["lr"], weight_decay=config["weight_decay"], **extra)
