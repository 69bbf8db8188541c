"""Numerics: every loss is finite in fp16/bf16 at extreme logits; training stops or skips on NaN.

Part 1 draws logits with hypothesis, in float16 and bfloat16, including the extremes +-1e4, and
targets of every form a loss accepts: hard indices, soft mixtures, all-zero (no label, or all
negatives) and all-one (all positives, sigmoid form only: a group segment of ones does not sum to
1). Every loss (both probability models where it has both, each variant of its options) must
return a finite float32 value and a finite gradient in the input dtype.

Part 2 checks that ``train.py`` notices a non-finite loss: by default it stops with
``FloatingPointError`` naming the epoch and step; with ``--on-nonfinite skip`` it skips the step,
counts it in ``history.csv`` (``skipped_steps``) and trains on.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from _helpers.fashion_example import import_example
from _helpers.strategies import FASHION_SIZES, FAST
from _helpers.tiny_runs import TINY, NaNAtSteps, make_tiny_dataset
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

from imbalml import (
    AsymmetricLoss,
    AttributeGroups,
    DiceLoss,
    GroupedCrossEntropyLoss,
    LogitAdjustedCrossEntropyLoss,
    class_priors,
    class_weights,
)
from imbalml.functional import (
    asymmetric_loss,
    dice_loss,
    focal_loss,
    logit_adjusted_cross_entropy,
    weighted_cross_entropy,
)

GROUPS = AttributeGroups(FASHION_SIZES)
C = GROUPS.num_attributes
COUNTS = torch.tensor([3000, 5, 700, 40, 1, 900, 77, 4000, 10, 3, 2500, 6, 400, 1200, 2, 60, 800, 9,
                       30, 2000, 1, 7, 50, 1500, 11, 2])  # fmt: skip
PRIORS = class_priors(COUNTS, GROUPS)
WEIGHTS = class_weights(COUNTS, GROUPS)

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Losses of the grouped-softmax form: targets hard (N, G) or soft (N, C), segments summing to 1 or 0.
GROUPED: dict[str, Loss] = {
    "asl": lambda x, y: asymmetric_loss(x, y, GROUPS),
    "asl-report": AsymmetricLoss(GROUPS, detach_focal_weight=True, reduction="sum"),
    "asl-no-clip-no-eps": lambda x, y: asymmetric_loss(x, y, GROUPS, clip=0.0, eps=0.0),
    "asl-large-gamma": lambda x, y: asymmetric_loss(x, y, GROUPS, gamma_pos=4.0, gamma_neg=8.0),
    "focal": lambda x, y: focal_loss(x, y, GROUPS, gamma=2.0),
    "dice": DiceLoss(GROUPS),
    "ce": GroupedCrossEntropyLoss(GROUPS),
    "weighted-ce": lambda x, y: weighted_cross_entropy(x, y, GROUPS, weight=WEIGHTS, label_smoothing=0.1),
    "logit-adjusted": LogitAdjustedCrossEntropyLoss(GROUPS, priors=PRIORS, tau=1.0),
    "logit-adjusted-tau2": lambda x, y: logit_adjusted_cross_entropy(x, y, GROUPS, priors=PRIORS, tau=2.0, reduction="sum"),
}  # fmt: skip

#: Losses of the sigmoid form: targets (N, C) in [0, 1], any row sum.
SIGMOID: dict[str, Loss] = {
    "asl": AsymmetricLoss(),
    "asl-paper": lambda x, y: asymmetric_loss(x, y, gamma_pos=0.0, gamma_neg=4.0, reduction="sum"),
    "asl-no-clip-no-eps": lambda x, y: asymmetric_loss(x, y, clip=0.0, eps=0.0),
    "asl-detached": lambda x, y: asymmetric_loss(x, y, detach_focal_weight=True),
    "focal": lambda x, y: focal_loss(x, y, gamma=2.0),
    "dice": lambda x, y: dice_loss(x, y),
}

EXTREMES = [-1e4, 1e4, 0.0, -1e4 + 1.0, 9e3]


def logits(dtype: torch.dtype, rows: int = 4) -> st.SearchStrategy[torch.Tensor]:
    """(rows, C) logits in [-1e4, 1e4] (exactly representable in float16), often extreme."""
    elements = st.one_of(st.sampled_from(EXTREMES), st.floats(-1e4, 1e4, width=16))
    return hnp.arrays(np.float32, (rows, C), elements=elements).map(
        lambda a: torch.from_numpy(a).to(dtype).requires_grad_()
    )


@st.composite
def grouped_target(draw: st.DrawFn, rows: int = 4) -> torch.Tensor:
    """Hard indices (some missing), soft mixtures, or all-zero soft targets (no label at all)."""
    kind = draw(st.sampled_from(["hard", "soft", "zeros", "one-hot-missing"]))
    seed = draw(st.integers(0, 2**16))
    gen = torch.Generator().manual_seed(seed)
    hard = torch.stack([torch.randint(0, k, (rows,), generator=gen) for k in FASHION_SIZES], 1)
    if kind == "hard":
        return hard.masked_fill(torch.rand(hard.shape, generator=gen) < 0.2, -100)
    if kind == "zeros":
        return torch.zeros(rows, C)
    if kind == "one-hot-missing":  # soft form, a few groups without a label (all-zero segment)
        return GROUPS.to_one_hot(
            hard.masked_fill(torch.rand(hard.shape, generator=gen) < 0.5, -100)
        )
    lam = torch.rand(rows, 1, generator=gen)  # a mixup of two samples
    other = GROUPS.to_one_hot(hard.roll(1, 0))
    return lam * GROUPS.to_one_hot(hard) + (1 - lam) * other


@st.composite
def sigmoid_target(draw: st.DrawFn, rows: int = 4) -> torch.Tensor:
    kind = draw(st.sampled_from(["zeros", "ones", "multi-hot", "soft"]))
    if kind == "zeros":
        return torch.zeros(rows, C)
    if kind == "ones":
        return torch.ones(rows, C)
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    y = torch.rand(rows, C, generator=gen)
    return (y < 0.3).float() if kind == "multi-hot" else y


def assert_finite_with_gradient(
    name: str, fn: Loss, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    x.grad = None
    loss = fn(x, y)
    assert loss.dtype == torch.float32, name
    value = float(loss.detach())
    assert math.isfinite(value), f"{name}: loss {value}"
    assert value >= -1e-6, f"{name}: negative loss {value}"
    loss.backward()
    assert x.grad is not None and x.grad.dtype == x.dtype, name
    assert bool(torch.isfinite(x.grad).all()), f"{name}: non-finite gradient"
    return loss.detach()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@given(data=st.data())
@settings(FAST, max_examples=25)
def test_grouped_losses_are_finite_in_low_precision(
    dtype: torch.dtype, data: st.DataObject
) -> None:
    x = data.draw(logits(dtype), label="logits")
    y = data.draw(grouped_target(), label="target")
    for name, fn in GROUPED.items():
        loss = assert_finite_with_gradient(name, fn, x, y)
        if not y.is_floating_point() or bool(y.any()):
            continue
        # No label anywhere: nothing to learn from (an all-zero soft target marks missing labels).
        assert float(loss) == 0.0, name
        assert not bool(x.grad.any()), name


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@given(data=st.data())
@settings(FAST, max_examples=25)
def test_sigmoid_losses_are_finite_in_low_precision(
    dtype: torch.dtype, data: st.DataObject
) -> None:
    x = data.draw(logits(dtype), label="logits")
    y = data.draw(sigmoid_target(), label="target")
    for name, fn in SIGMOID.items():
        assert_finite_with_gradient(name, fn, x, y)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("form", ["grouped", "sigmoid"])
def test_saturated_predictions_cost_nothing_or_everything(dtype: torch.dtype, form: str) -> None:
    """+-1e4 logits that agree with the target give ~0 loss; disagreeing ones a large finite one."""
    hard = torch.tensor([[0, 1, 2, 3, 4, 0]])
    y = GROUPS.to_one_hot(hard)
    right = (y * 2e4 - 1e4).to(dtype).requires_grad_()
    wrong = (-right.detach()).requires_grad_()
    losses = GROUPED if form == "grouped" else SIGMOID
    for name, fn in losses.items():
        if name == "weighted-ce":  # label smoothing (and rare-class weights) on the -1e4 logits
            continue
        good = assert_finite_with_gradient(name, fn, right, y if form == "sigmoid" else hard)
        bad = assert_finite_with_gradient(name, fn, wrong, y if form == "sigmoid" else hard)
        assert float(good) < 1e-3, name
        assert float(bad) > 0.1, name


# ---------------------------------------------------------------------------------------------
# the training loop

train = import_example("train")
builders = import_example("builders")


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("numerics") / "data", num_train=32, num_val=16,
                             num_test=8)  # fmt: skip


def nan_at(monkeypatch: pytest.MonkeyPatch, *steps: int) -> None:
    real = builders.build_loss
    monkeypatch.setattr(
        builders, "build_loss", lambda *a, **k: NaNAtSteps(real(*a, **k), set(steps))
    )


def run(root: Path, out: Path, *extra: str) -> dict:
    args = train.get_args_parser().parse_args(
        ["--data-root", str(root), "--out-dir", str(out), *TINY, *extra]
    )
    return train.main(args)


def test_nonfinite_loss_stops_naming_the_step(
    tiny_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nan_at(monkeypatch, 4)  # 2 steps per epoch: epoch 2, step 2
    with pytest.raises(
        FloatingPointError,
        match=r"^non-finite training loss at epoch 2, step 2 \(loss nan, 0 of 416 logits non-finite\); "
        r"check the learning rate, --amp, or the input data; set --on-nonfinite skip to skip such steps$",
    ):
        run(tiny_root, tmp_path, "--epochs", "3")
    # The last good state is kept: epoch 1's checkpoint, not one written after the NaN.
    assert train.load_checkpoint(tmp_path / "last.pt")["epoch"] == 1


def test_absurd_learning_rate_stops_at_the_first_bad_step(tiny_root: Path, tmp_path: Path) -> None:
    with pytest.raises(
        FloatingPointError,
        match=r"non-finite training loss at epoch 1, step 2 \(loss nan, [1-9]\d* of 416 logits non-finite\)",
    ):
        run(tiny_root, tmp_path, "--epochs", "1", "--lr", "1e30")
    assert not (tmp_path / "last.pt").exists()


def test_skip_counts_the_skipped_steps(tiny_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    nan_at(monkeypatch, 2, 3)  # 2 steps per epoch: epoch 1 step 2, epoch 2 step 1
    run(tiny_root, tmp_path, "--epochs", "2", "--on-nonfinite", "skip")
    rows = list(csv.DictReader((tmp_path / "history.csv").open()))
    assert [int(r["skipped_steps"]) for r in rows] == [1, 1]
    assert all(math.isfinite(float(r["train_loss"])) for r in rows)
    log = capsys.readouterr().err
    assert log.count("WARNING skipping step: non-finite training loss at epoch ") == 2
    assert "at epoch 1, step 2 (loss nan" in log and "at epoch 2, step 1 (loss nan" in log
    state = train.load_checkpoint(tmp_path / "last.pt")
    assert all(
        bool(torch.isfinite(v).all()) for v in state["model"].values() if v.is_floating_point()
    )


def test_skipped_step_leaves_the_weights_alone() -> None:
    """``train_one_epoch`` on a batch list whose every loss is NaN: no parameter moves."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, C))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = {"device": "cpu", "amp": "off", "channels_last": False, "on_nonfinite": "skip"}
    runtime = train.Runtime(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.5)
    target = GROUPS.to_one_hot(torch.zeros(4, GROUPS.num_groups, dtype=torch.long))
    batches = [(torch.randn(4, 3, 2, 2), target) for _ in range(3)]
    criterion = NaNAtSteps(GroupedCrossEntropyLoss(GROUPS), {1, 3})
    result = train.train_one_epoch(model, criterion, batches, optimizer, runtime, GROUPS, 0, config)
    assert result["skipped_steps"] == 2
    assert optimizer.state[model[1].weight]["step"] == 1  # only step 2 was taken
    criterion = NaNAtSteps(GroupedCrossEntropyLoss(GROUPS), {1, 2, 3})
    model.load_state_dict(before)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.5)
    result = train.train_one_epoch(model, criterion, batches, optimizer, runtime, GROUPS, 0, config)
    assert result["skipped_steps"] == 3
    assert math.isnan(result["train_loss"]) and math.isnan(result["train_score"])
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert not optimizer.state  # no step, no moment estimates from a NaN gradient
