"""A plain PyTorch training loop wiring every consumer of class statistics from ``label_counts``.

Issue 21, item 5 (and the library-wide decision): class statistics travel as the one object
``label_counts`` returns, accepted by ``class_weights``, ``class_priors``, the mixup collator and
the logit-adjusted loss (``priors=counts``); missing labels are unknown, never negatives.
"""

from __future__ import annotations

import pytest
import torch
from _integration_cases import hard_target, make_groups
from torch import nn
from torch.utils.data import DataLoader

import imbalml as im

NUM_FEATURES = 4


def _dataset(groups: im.AttributeGroups, n: int = 40) -> list[tuple[torch.Tensor, torch.Tensor]]:
    y = hard_target(groups, n)
    y[3, 0] = -100
    y[7, 2] = -100
    x = torch.randn(n, NUM_FEATURES, generator=torch.Generator().manual_seed(0))
    return [(x[i], y[i]) for i in range(n)]


def _criterion(name: str, groups: im.AttributeGroups, counts) -> nn.Module:
    if name == "weighted_ce":
        return im.WeightedCrossEntropyLoss(groups, weight=im.class_weights(counts, groups))
    if name == "logit_adjusted_priors":
        return im.LogitAdjustedCrossEntropyLoss(groups, priors=im.class_priors(counts, groups))
    if name == "logit_adjusted_counts":  # counts as priors: the softmax ignores the scale
        return im.LogitAdjustedCrossEntropyLoss(groups, priors=counts)
    return im.AsymmetricLoss(groups)


@pytest.mark.parametrize(
    "name", ["weighted_ce", "logit_adjusted_priors", "logit_adjusted_counts", "asl"]
)
def test_grouped_training_loop_with_mixup_and_sampler(name: str) -> None:
    groups = make_groups()
    samples = _dataset(groups)
    targets = torch.stack([y for _, y in samples])
    counts = im.label_counts(targets, groups)
    criterion = _criterion(name, groups, counts)
    loader = DataLoader(
        samples,
        batch_size=8,
        sampler=im.MinorityOversampler(targets, groups, seed=0),
        collate_fn=im.MixupCollator(groups, counts=counts, mode="all", seed=0),
    )
    torch.manual_seed(0)
    model = nn.Linear(NUM_FEATURES, groups.num_attributes)
    before = model.weight.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(2):
        loader.sampler.set_epoch(epoch)
        for x, soft in loader:
            assert soft.shape == (x.shape[0], groups.num_attributes)
            loss = criterion(model(x), soft)
            assert torch.isfinite(loss)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    assert not torch.equal(model.weight.detach(), before)
    metric = im.MeanClassAccuracy(groups)
    with torch.inference_mode():
        features = torch.stack([x for x, _ in samples])
        metric.update(im.functional.grouped_softmax(model(features), groups), targets)
    assert 0.0 <= float(metric.compute()) <= 1.0


def test_missing_labels_are_unknown_for_class_statistics() -> None:
    """The issue's example: label 0 of this target is labelled twice, positive once: prior 0.5."""
    target = torch.tensor([[1, 0], [0, 1], [-100, 1], [-100, 0]])
    counts = im.label_counts(target)
    torch.testing.assert_close(im.class_priors(counts), torch.tensor([0.5, 0.5]))
    # negatives / positives among the labelled samples: 1/1 and 2/2.
    torch.testing.assert_close(im.class_weights(counts), torch.tensor([1.0, 1.0]))
    criterion = im.AsymmetricLoss(pos_weight=im.class_weights(counts))
    logits = torch.zeros(4, 2, requires_grad=True)
    criterion(logits, target).backward()
    assert bool(torch.isfinite(logits.grad).all())
    assert bool((logits.grad[2:, 0] == 0).all())


def test_grouped_class_statistics_leave_missing_labels_out() -> None:
    groups = im.AttributeGroups([2, 3])
    target = torch.tensor([[0, 2], [1, -100], [-100, 0], [0, 1]])
    counts = im.label_counts(target, groups)
    # Group 0: 3 labelled samples (2 of attribute 0); group 1: 3 labelled samples (one each).
    torch.testing.assert_close(
        im.class_priors(counts, groups), torch.tensor([2 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3])
    )
    collator = im.MixupCollator(groups, counts=counts, mode="none", seed=0)
    images, soft = collator([(torch.zeros(1), y) for y in target])
    torch.testing.assert_close(soft.sum(1), torch.tensor([2.0, 1.0, 1.0, 2.0]))
