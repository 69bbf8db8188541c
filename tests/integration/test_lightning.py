"""imbalml inside a PyTorch Lightning training loop, and in a ``torchmetrics.MetricCollection``.

The order is the one of issue 21's first bug: a baseline ``trainer.validate`` (run under
``torch.inference_mode()``) before ``trainer.fit``, then ``trainer.test``. The model is a tiny MLP
on random features, so each run takes seconds on a CPU.
"""

from __future__ import annotations

import math

import lightning.pytorch as pl
import pytest
import torch
from _integration_cases import (
    GROUPED_METRICS,
    PLAIN_METRICS,
    N,
    assert_same,
    hard_target,
    make_groups,
    metric_preds,
    metric_target,
    multi_hot_target,
)
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics import MetricCollection

import imbalml as im

NUM_FEATURES = 8
NUM_SAMPLES = 48


class _Classifier(pl.LightningModule):
    """An MLP with one flat logit output; a loss and imbalml metrics logged per stage."""

    def __init__(
        self, criterion: nn.Module, groups: im.AttributeGroups | None, num_outputs: int
    ) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(NUM_FEATURES, 16), nn.ReLU(), nn.Linear(16, num_outputs))
        self.criterion = criterion
        self.groups = groups
        if groups is not None:
            self.val_mca = im.MeanClassAccuracy(groups)
            self.val_group_acc = im.GroupAccuracy(groups, average="none")
            self.test_mca = im.MeanClassAccuracy(groups)
        else:
            self.val_f1 = im.LabelF1Score(num_labels=num_outputs, average="macro")
            self.val_ap = im.LabelAveragePrecision(num_labels=num_outputs)
            self.test_f1 = im.LabelF1Score(num_labels=num_outputs, average="macro")
        self.train_losses: list[float] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        if self.groups is None:
            return logits.sigmoid()
        return im.functional.grouped_softmax(logits, self.groups)

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        x, y = batch
        loss = self.criterion(self(x), y)
        self.train_losses.append(float(loss.detach()))
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.log("val_loss", self.criterion(logits, y))
        probs = self._probabilities(logits)
        if self.groups is not None:
            self.val_mca.update(probs, y)
            self.val_group_acc.update(probs, y)
            self.log("val_mca", self.val_mca)
        else:
            self.val_f1.update(probs, y)
            self.val_ap.update(probs, y)
            self.log("val_f1", self.val_f1)
            self.log("val_map", self.val_ap)

    def on_validation_epoch_end(self) -> None:
        if self.groups is not None:
            for name, value in zip(self.groups.names, self.val_group_acc.compute()):
                self.log(f"val_acc_{name}", value)
            self.val_group_acc.reset()

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.log("test_loss", self.criterion(logits, y))
        probs = self._probabilities(logits)
        if self.groups is not None:
            self.test_mca.update(probs, y)
            self.log("test_mca", self.test_mca)
        else:
            self.test_f1.update(probs, y)
            self.log("test_f1", self.test_f1)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.5)


def _loader(target: torch.Tensor, *, seed: int) -> DataLoader:
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(target.shape[0], NUM_FEATURES, generator=gen)
    return DataLoader(TensorDataset(features, target), batch_size=16)


def _trainer(tmp_path) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )


def _validate_fit_test(model: _Classifier, target_of, tmp_path) -> dict[str, float]:
    """Baseline validation, two epochs of training, then test; returns every logged metric."""
    train, val, test = (_loader(target_of(seed), seed=seed) for seed in (0, 1, 2))
    before = [p.detach().clone() for p in model.parameters()]
    trainer = _trainer(tmp_path)
    (baseline,) = trainer.validate(model, val)
    trainer.fit(model, train, val)
    logged = {f"baseline_{k}": float(v) for k, v in baseline.items()}
    logged.update({k: float(v) for k, v in trainer.callback_metrics.items()})  # fit's last epoch
    after = list(model.parameters())
    assert any(not torch.equal(b, a.detach()) for b, a in zip(before, after)), "no weight changed"
    assert len(model.train_losses) == 2 * math.ceil(NUM_SAMPLES / 16)
    assert all(math.isfinite(v) for v in model.train_losses)
    (tested,) = trainer.test(model, test)
    logged.update({k: float(v) for k, v in tested.items()})
    return logged


def test_grouped_loss_and_metrics_in_lightning(tmp_path) -> None:
    groups = make_groups()
    model = _Classifier(im.AsymmetricLoss(groups), groups, groups.num_attributes)
    logged = _validate_fit_test(
        model, lambda seed: hard_target(groups, NUM_SAMPLES, seed=seed), tmp_path
    )
    for key in ("baseline_val_mca", "val_mca", "test_mca", *(f"val_acc_{n}" for n in groups.names)):
        assert key in logged, sorted(logged)
        assert 0.0 <= logged[key] <= 1.0, (key, logged[key])
    for key in ("baseline_val_loss", "val_loss", "train_loss", "test_loss"):
        assert math.isfinite(logged[key]) and logged[key] > 0, (key, logged[key])


def test_plain_multilabel_loss_and_metrics_in_lightning(tmp_path) -> None:
    num_labels = 5
    model = _Classifier(im.AsymmetricLoss(), None, num_labels)
    logged = _validate_fit_test(
        model, lambda seed: multi_hot_target(num_labels, NUM_SAMPLES, seed=seed), tmp_path
    )
    for key in ("baseline_val_f1", "baseline_val_map", "val_f1", "val_map", "test_f1"):
        assert key in logged, sorted(logged)
        assert 0.0 <= logged[key] <= 1.0, (key, logged[key])
    for key in ("baseline_val_loss", "val_loss", "train_loss", "test_loss"):
        assert math.isfinite(logged[key]) and logged[key] > 0, (key, logged[key])


# ------------------------------------------------------------------------- MetricCollection
@pytest.mark.parametrize("cases", [GROUPED_METRICS, PLAIN_METRICS], ids=["grouped", "plain"])
def test_metric_collection_update_compute_reset_clone(cases) -> None:
    """A ``MetricCollection`` (with torchmetrics' shared compute groups) gives each metric's value."""
    groups = make_groups()
    collection = MetricCollection({case.name: case.make(groups) for case in cases})
    batches = [
        (metric_preds(cases[0], groups, seed=s), metric_target(cases[0], groups, seed=s))
        for s in (1, 2)
    ]
    for preds, target in batches:
        collection.update(preds, target)
    values = collection.compute()
    assert set(values) == {case.name for case in cases}
    for case in cases:
        alone = case.make(groups)
        for preds, target in batches:
            alone.update(preds, target)
        assert_same(values[case.name], alone.compute())

    # clone: same values, independent state.
    clone = collection.clone(prefix="val_")
    cloned = clone.compute()
    assert set(cloned) == {f"val_{case.name}" for case in cases}
    for case in cases:
        assert_same(cloned[f"val_{case.name}"], values[case.name])
    clone.update(*batches[0])
    for case in cases:
        assert_same(collection.compute()[case.name], values[case.name])

    # reset, then one batch: the values of that batch alone.
    collection.reset()
    collection.update(*batches[1])
    for case in cases:
        alone = case.make(groups)
        alone.update(*batches[1])
        assert_same(collection.compute()[case.name], alone.compute())


def test_metric_collection_with_the_same_target_for_mixed_layouts() -> None:
    """Grouped metrics next to a torchmetrics metric on the same (N, G) target."""
    from torchmetrics.classification import MulticlassAccuracy

    groups = im.AttributeGroups([3, 4])
    target = hard_target(groups, N)
    scores = torch.randn(N, groups.num_attributes, generator=torch.Generator().manual_seed(3))
    probs = im.functional.grouped_softmax(scores, groups)
    collection = MetricCollection(
        {"mca": im.MeanClassAccuracy(groups), "f1": im.LabelF1Score(groups, average="macro")}
    )
    collection.update(probs, target)
    first = MulticlassAccuracy(3, average="macro")
    first.update(groups.split(probs)[0], target[:, 0])
    second = MulticlassAccuracy(4, average="macro")
    second.update(groups.split(probs)[1], target[:, 1])
    # The mean class accuracy is the mean recall over all 7 attributes (every one present).
    expected = (3 * first.compute() + 4 * second.compute()) / 7
    torch.testing.assert_close(collection.compute()["mca"].float(), expected)
