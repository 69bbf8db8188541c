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
    LabelCounts,
    LogitAdjustedCrossEntropyLoss,
    WeightedCrossEntropyLoss,
    class_priors,
    class_weights,
)
from imbalml.models import load_weights

from .config import eval_sizes

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
    from .synthetic import make_synthetic_dataset

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
    """The report's PIL pipeline: augmentation (train), resize short side, centre crop, normalise.

    ``resize_mode: squash`` resizes to a ``resize_size`` square instead (the aspect is not kept);
    ``train_crop: random`` replaces the report's augmentation by a random ``image_size`` crop and
    a horizontal flip (the evaluation keeps the centre crop). Evaluation resizes to
    ``eval_resize_size`` and crops ``eval_image_size`` where they are set (:func:`~.config.eval_sizes`).
    """
    mean, std = NORMALIZATION[config["normalization"]]
    size, crop = (config["resize_size"], config["image_size"]) if train else eval_sizes(config)
    resize = T.Resize((size, size) if config["resize_mode"] == "squash" else size,
                      interpolation=T.InterpolationMode.BICUBIC)
    steps: list[Any] = []
    random_crop = train and config["augment"] and config["train_crop"] == "random"
    if train and config["augment"] and not random_crop:
        steps += [
            T.RandomHorizontalFlip(0.5),
            T.RandomRotation(20),
            T.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1, hue=0.05),
        ]
    steps += [resize]
    if random_crop:
        steps += [T.RandomCrop(crop), T.RandomHorizontalFlip(0.5)]
    else:
        steps += [T.CenterCrop(crop)]
    steps += [T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(steps)


# --------------------------------------------------------------------------------------- model
class AttributeClassifier(nn.Module):
    """A timm backbone's pooled features followed by a :class:`GroupedSoftmaxHead`.

    ``logit_offset`` (a buffer, zeros unless a post-hoc adjustment set it) is added to the head's
    logits, so a checkpoint carries its adjustment to ``predict.py``. With ``tta_flip`` the logits
    of an image in eval mode are the mean of its own and its mirror image's.
    """

    logit_offset: torch.Tensor

    def __init__(self, backbone: nn.Module, head: GroupedSoftmaxHead, *, use_pre_logits: bool,
                 tta_flip: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.use_pre_logits = use_pre_logits
        self.tta_flip = tta_flip
        self.register_buffer("logit_offset", torch.zeros(head.groups.num_attributes))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The backbone's pooled features ``(N, D)``."""
        if self.use_pre_logits:  # the backbone keeps a classifier it does not use
            return self.backbone.forward_head(self.backbone.forward_features(images), pre_logits=True)
        return self.backbone(images)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, C)`` from pooled features (the frozen protocol trains this part)."""
        return self.head(features) + self.logit_offset

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.forward_head(self.features(images))
        if self.tta_flip and not self.training:
            logits = (logits + self.forward_head(self.features(images.flip(-1)))) / 2
        return logits


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
    else:  # a named set of offline weights or a file, in any layout imbalml reads
        backbone = timm.create_model(config["backbone"], pretrained=False, **kwargs)
        try:
            load_weights(backbone, pretrained)
        except (FileNotFoundError, ValueError, ImportError) as exc:
            raise type(exc)(f"--pretrained: {exc}") from exc  # the message names the file
    head = GroupedSoftmaxHead(
        backbone.num_features, groups, hidden=tuple(config["head_hidden"]), dropout=config["head_dropout"]
    )
    model = AttributeClassifier(backbone, head, use_pre_logits=config["keep_imagenet_head"],
                                tta_flip=config["tta_flip"])
    if config["protocol"] == "frozen":
        backbone.requires_grad_(False)
    elif config["freeze_stages"]:
        freeze_stages(backbone, config["freeze_stages"])
    return model


def freeze_stages(backbone: nn.Module, stages: int) -> list[str]:
    """Freeze the stem and the first ``stages`` stages (timm's ``group_matcher`` says which is which).

    Returns the names of the frozen parameters. The frozen BatchNorm layers keep training mode
    (their running statistics still adapt); only their weights stop training.
    """
    import re

    matcher = backbone.group_matcher(coarse=True) if hasattr(backbone, "group_matcher") else None
    blocks = matcher.get("blocks") if matcher else None
    if isinstance(blocks, (list, tuple)) and blocks:  # [(regex, ordinal), ...]: the stages come first
        blocks = blocks[0][0]
    if not matcher or not isinstance(blocks, str):
        raise ValueError(
            f"Expected a timm backbone with a group_matcher to freeze {stages} stage(s), but "
            f"{type(backbone).__name__} has none usable; set freeze_stages: 0."
        )
    stem, pattern = re.compile(str(matcher["stem"])), re.compile(blocks)
    frozen = []
    for name, param in backbone.named_parameters():
        found = pattern.match(name)
        stage = int(found.group(1)) if found and found.groups() else None
        if stem.match(name) or (stage is not None and stage < stages):
            param.requires_grad_(False)
            frozen.append(name)
    return frozen


# --------------------------------------------------------------------------------------- loss
def build_loss(
    config: dict[str, Any], groups: AttributeGroups, counts: LabelCounts, *, validate_args: bool = True
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
        return DiceLoss(groups, reduction=reduction, **check)  # "mean" (config refuses "sum")
    if name == "logit_adjusted":
        return LogitAdjustedCrossEntropyLoss(
            groups, priors=class_priors(counts, groups), tau=config["logit_adjust_tau"], reduction=reduction,
            **check,
        )
    raise ValueError(f"Unknown loss {name!r}.")  # config validation makes this unreachable


def build_optimizer(config: dict[str, Any], model: nn.Module, device: torch.device) -> torch.optim.Optimizer:
    """Adam with L2 weight decay, as the report, or AdamW (fused kernels on CUDA).

    The backbone's trainable parameters learn at ``lr * backbone_lr_scale``, the rest at ``lr``.
    """
    backbone = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("backbone.")]
    rest = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("backbone.")]
    groups = [{"params": rest, "lr": config["lr"]}]
    if backbone:
        groups.append({"params": backbone, "lr": config["lr"] * config["backbone_lr_scale"]})
    # fused on CUDA, and wherever the deferred non-finite check is asked for (it needs fused kernels)
    extra = {"fused": True} if device.type == "cuda" or config.get("nonfinite_check") == "deferred" else {}
    kind = torch.optim.AdamW if config["optimizer"] == "adamw" else torch.optim.Adam
    return kind(groups, lr=config["lr"], weight_decay=config["weight_decay"], **extra)


def build_scheduler(config: dict[str, Any], optimizer: torch.optim.Optimizer,
                    steps_per_epoch: int) -> tuple[torch.optim.lr_scheduler.LRScheduler, bool]:
    """The learning-rate schedule and whether it steps per batch (else per epoch).

    ``cosine``: the report's cosine annealing over the epochs, stepped per epoch. ``onecycle``:
    timm-style one-cycle (30% warm-up, cosine decay), stepped per batch, each group peaking at
    its own learning rate.
    """
    if config["scheduler"] == "onecycle":
        peaks = [g["lr"] for g in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=peaks, epochs=config["epochs"], steps_per_epoch=steps_per_epoch,
            pct_start=0.3), True
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config["epochs"]), False
