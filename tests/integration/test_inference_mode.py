"""A first call under ``torch.inference_mode()`` (or ``no_grad``), then training: issue 21's reproducer.

An evaluation before the first training step is ordinary: Lightning's ``trainer.validate`` before
``fit``, torchvision's reference ``evaluate``. Nothing a loss or metric makes during that first
call may be handed to a later training call (a process-wide tensor cache made under inference
mode poisons every later backward pass or in-place update). Each test uses a layout no other test
has used (:func:`fresh_groups`), so the first call really is the first for that layout.
"""

from __future__ import annotations

import pytest
import torch
from _integration_cases import (
    GROUPED_METRICS,
    LOSSES,
    METRICS,
    LossCase,
    MetricCase,
    assert_same,
    fresh_groups,
    logits,
    metric_preds,
    metric_target,
)

import imbalml as im

MODES = {"inference_mode": torch.inference_mode, "no_grad": torch.no_grad}


def test_issue_reproducer() -> None:
    """The issue's snippet, verbatim (the fashion layout; in this folder no earlier test uses it)."""
    g = im.AttributeGroups([7, 3, 3, 4, 6, 3])
    crit = im.AsymmetricLoss(g)
    y = torch.stack([torch.randint(0, k, (4,)) for k in g.sizes], 1)
    with torch.inference_mode():
        crit(torch.randn(4, 26), y)
    x = torch.randn(4, 26, requires_grad=True)
    crit(x, y).backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("path", ["module", "function"])
@pytest.mark.parametrize("case", LOSSES, ids=repr)
def test_loss_trains_after_a_first_call_without_grad(case: LossCase, path: str, mode: str) -> None:
    groups = fresh_groups()
    layout = groups if case.grouped else None
    if path == "module":
        loss_fn = case.make(layout)
    else:

        def loss_fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return case.function(x, y, layout)

    for form in case.forms:
        y = case.target(form, groups)
        x = logits(groups.num_attributes)
        with MODES[mode]():
            evaluated = loss_fn(x, y)
        x_train = x.clone().requires_grad_(True)
        loss = loss_fn(x_train, y)
        loss.backward()
        assert x_train.grad is not None
        assert bool(torch.isfinite(x_train.grad).all()) and x_train.grad.abs().sum() > 0
        torch.testing.assert_close(loss.detach(), evaluated)
        # ... and once more, as the second training step would.
        x_again = x.clone().requires_grad_(True)
        loss_fn(x_again, y).backward()
        torch.testing.assert_close(x_again.grad, x_train.grad)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("case", METRICS, ids=repr)
def test_metric_updates_after_an_evaluation_without_grad(case: MetricCase, mode: str) -> None:
    """Evaluate (update, compute, reset) under the mode, then update in training mode."""
    groups = fresh_groups()
    preds, target = metric_preds(case, groups), metric_target(case, groups)
    metric = case.make(groups)
    with MODES[mode]():
        metric.update(preds, target)
        evaluated = metric.compute()
        metric.reset()
    # Training: the metric is updated outside the mode (twice, as over two steps).
    metric.update(preds, target)
    metric.update(preds, target)
    fresh = case.make(groups)
    fresh.update(preds, target)
    fresh.update(preds, target)
    assert_same(metric.compute(), fresh.compute())
    assert_same(evaluated, case.make(groups)(preds, target))


@pytest.mark.parametrize("case", GROUPED_METRICS, ids=repr)
def test_metric_forward_inside_training_after_inference(case: MetricCase) -> None:
    """``metric(preds, target)`` (forward: batch value plus accumulation), as a training step logs it."""
    groups = fresh_groups()
    preds, target = metric_preds(case, groups), metric_target(case, groups)
    metric = case.make(groups)
    with torch.inference_mode():
        metric(preds, target)
        metric.reset()
    batch_value = metric(preds, target)
    assert_same(batch_value, metric.compute())
