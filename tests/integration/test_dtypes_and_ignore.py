"""bf16 autocast, and missing labels under every ``ignore_index`` and integer label dtype.

Missing labels (issue 21 and the library-wide decision): ``ignore_index`` entries are unknown,
never negatives, with any integer dtype (int64, int32, uint8) and any ``ignore_index`` (-100, -1,
255 where the dtype holds it). A loss with missing labels must equal the loss of the batch without
their contribution, computed independently: torch's ``F.cross_entropy`` per group for the
cross-entropies, the same loss on the complete sub-batch of each group (each label, plain) for
ASL, focal and dice. ``"mean"`` is the library-wide one: per group (per label), the mean over the
samples labelled there, summed over groups (labels). Dice is compared with ``reduction="sum"``
(a ratio over the batch, its mean has its own rule).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from _integration_cases import (
    GROUPED_LOSSES,
    GROUPED_METRICS,
    LOSSES,
    PLAIN_LOSSES,
    LossCase,
    MetricCase,
    N,
    as_tuple,
    attribute_priors,
    attribute_weight,
    hard_target,
    logits,
    make_groups,
    multi_hot_target,
)
from sklearn.metrics import average_precision_score, confusion_matrix

import imbalml as im

# (ignore_index, dtype): 255 only where representable, -100 / -1 not with uint8.
IGNORE_CASES = [
    pytest.param(ignore, dtype, id=f"{ignore}-{str(dtype).removeprefix('torch.')}")
    for ignore in (-100, -1, 255)
    for dtype in (torch.int64, torch.int32, torch.uint8)
    if not (dtype == torch.uint8 and ignore < 0)
]
#: (sample, group) entries that are missing; every group keeps each of its attributes.
MISSING = [(1, 0), (4, 2), (6, 0), (6, 1), (9, 2), (15, 1)]


# ----------------------------------------------------------------------------- bf16 autocast
@pytest.mark.parametrize("case", LOSSES, ids=repr)
@pytest.mark.parametrize("scale", [1.0, 40.0], ids=["moderate", "large"])
def test_bf16_autocast_forward_backward(case: LossCase, scale: float) -> None:
    groups = make_groups()
    criterion = case.make(groups if case.grouped else None)
    features = torch.randn(N, 6, generator=torch.Generator().manual_seed(0))
    linear = torch.nn.Linear(6, groups.num_attributes)
    for form in case.forms:
        linear.zero_grad()
        y = case.target(form, groups)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = linear(features) * scale
            assert out.dtype == torch.bfloat16
            loss = criterion(out, y)
        loss.backward()
        assert loss.dtype == torch.float32, "losses compute in float32 from half-precision logits"
        assert bool(torch.isfinite(loss))
        assert bool(torch.isfinite(linear.weight.grad).all()) and linear.weight.grad.abs().sum() > 0
        # The value is the float32 loss of the same (bf16-rounded) logits.
        torch.testing.assert_close(
            loss.detach(), criterion(out.detach().float(), y), rtol=1e-3, atol=1e-4
        )


# ---------------------------------------------------------------------------- missing labels
def _with_missing(target: torch.Tensor, ignore: int, dtype: torch.dtype) -> torch.Tensor:
    out = target.clone()
    for n, g in MISSING:
        out[n, g] = ignore
    return out.to(dtype)


def _grouped_reference(case: LossCase, x: torch.Tensor, y: torch.Tensor, groups) -> torch.Tensor:
    """The loss of the labelled entries only (``y`` int64 with -100 for a missing label)."""
    total = x.new_zeros(())
    weight, priors = attribute_weight(groups), attribute_priors(groups)
    for g, s in enumerate(groups.slices):
        labelled = y[:, g] != -100
        xg, yg = x[labelled, s], y[labelled, g]
        one_group = im.AttributeGroups([groups.sizes[g]])
        if case.name == "GroupedCrossEntropyLoss":
            total = total + TF.cross_entropy(xg, yg)
        elif case.name == "WeightedCrossEntropyLoss":
            total = total + TF.cross_entropy(xg, yg, weight=weight[s])
        elif case.name == "LogitAdjustedCrossEntropyLoss":
            total = total + TF.cross_entropy(xg + priors[s].log(), yg)
        elif case.name == "DiceLoss[grouped]":
            total = total + im.DiceLoss(one_group, reduction="sum")(xg, yg[:, None])
        else:  # ASL and focal: the same loss on the complete sub-batch of this group.
            total = total + case.make(one_group)(xg, yg[:, None])
    return total


@pytest.mark.parametrize(("ignore", "dtype"), IGNORE_CASES)
@pytest.mark.parametrize("case", GROUPED_LOSSES, ids=repr)
def test_grouped_loss_leaves_missing_labels_out(
    case: LossCase, ignore: int, dtype: torch.dtype
) -> None:
    groups = make_groups()
    complete = hard_target(groups)
    reduction = "sum" if case.name.startswith("DiceLoss") else "mean"
    criterion = case.make(groups, ignore_index=ignore, reduction=reduction)
    x = logits(groups.num_attributes).requires_grad_(True)
    loss = criterion(x, _with_missing(complete, ignore, dtype))
    loss.backward()

    x_ref = x.detach().clone().requires_grad_(True)
    reference = _grouped_reference(case, x_ref, _with_missing(complete, -100, torch.int64), groups)
    reference.backward()
    torch.testing.assert_close(loss.detach(), reference.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-6)
    for n, g in MISSING:  # a missing label gets no gradient
        assert bool((x.grad[n, groups.slices[g]] == 0).all())


PLAIN_DTYPES = [torch.int64, torch.int32, torch.uint8, torch.float32]


@pytest.mark.parametrize(
    ("ignore", "dtype"),
    [
        pytest.param(i, d, id=f"{i}-{str(d).removeprefix('torch.')}")
        for i in (-100, -1, 255)
        for d in PLAIN_DTYPES
        if not (d == torch.uint8 and i < 0)
    ],
)
@pytest.mark.parametrize("case", PLAIN_LOSSES, ids=repr)
def test_plain_loss_leaves_missing_labels_out(
    case: LossCase, ignore: int, dtype: torch.dtype
) -> None:
    num_labels = 5
    complete = multi_hot_target(num_labels, dtype=torch.int64)
    missing = [(1, 0), (3, 4), (5, 4), (7, 2), (12, 0)]
    target = complete.clone()
    for n, c in missing:
        target[n, c] = ignore
    reduction = "sum" if case.name.startswith("DiceLoss") else "mean"
    criterion = case.make(None, ignore_index=ignore, reduction=reduction)
    x = logits(num_labels).requires_grad_(True)
    loss = criterion(x, target.to(dtype))
    loss.backward()

    x_ref = x.detach().clone().requires_grad_(True)
    reference = x_ref.new_zeros(())
    for c in range(num_labels):
        labelled = target[:, c] != ignore
        column = case.make(None, reduction=reduction)
        reference = reference + column(
            x_ref[labelled, c : c + 1], complete[labelled, c : c + 1].float()
        )
    reference.backward()
    torch.testing.assert_close(loss.detach(), reference.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-6)
    for n, c in missing:
        assert x.grad[n, c] == 0


def _grouped_metric_reference(
    case: MetricCase, probs: torch.Tensor, y: torch.Tensor, groups
) -> tuple[torch.Tensor, ...]:
    """What the metric must give: scikit-learn on the labelled entries of each group."""
    mats, scores = [], []
    for g, s in enumerate(groups.slices):
        labelled = (y[:, g] != -100).numpy()
        p, t = probs[:, s].numpy()[labelled], y[:, g].numpy()[labelled]
        mats.append(confusion_matrix(t, p.argmax(1), labels=range(groups.sizes[g])))
        scores.append((p, t))
    cm = [m.astype(np.float64) for m in mats]
    tp = np.concatenate([m.diagonal() for m in cm])
    support = np.concatenate([m.sum(1) for m in cm])
    predicted = np.concatenate([m.sum(0) for m in cm])
    recall = tp / support  # every attribute occurs, so no division by 0
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(tp / predicted)
        f1 = np.nan_to_num(2 * tp / (support + predicted))
    name = case.name.split("[")[0]
    if name == "MeanClassAccuracy":
        return (torch.tensor(recall.mean()),)
    if name == "PerClassAccuracy":
        return (torch.tensor(recall),)
    if name == "GroupAccuracy":
        return (torch.tensor([m.trace() / m.sum() for m in cm]),)
    if name == "GroupConfusionMatrix":
        return tuple(torch.tensor(m) for m in mats)
    if name == "LabelRecall":
        return (torch.tensor(recall),)
    if name == "LabelPrecision":
        return (torch.tensor(precision),)
    if name == "LabelF1Score":
        return (torch.tensor(f1.mean()),)
    if name == "LabelAveragePrecision":
        ap = [
            average_precision_score(t == k, p[:, k]) for p, t in scores for k in range(p.shape[1])
        ]
        return (torch.tensor(np.mean(ap)),)
    raise AssertionError(case.name)


@pytest.mark.parametrize(("ignore", "dtype"), IGNORE_CASES)
@pytest.mark.parametrize("case", GROUPED_METRICS, ids=repr)
def test_grouped_metric_leaves_missing_labels_out(
    case: MetricCase, ignore: int, dtype: torch.dtype
) -> None:
    groups = make_groups()
    complete = hard_target(groups)
    probs = im.functional.grouped_softmax(logits(groups.num_attributes), groups)
    metric = case.make(groups, ignore_index=ignore)
    metric.update(probs, _with_missing(complete, ignore, dtype))
    expected = _grouped_metric_reference(
        case, probs, _with_missing(complete, -100, torch.int64), groups
    )
    got = as_tuple(metric.compute())
    assert len(got) == len(expected)
    for value, ref in zip(got, expected):
        torch.testing.assert_close(value, ref.to(value.dtype), rtol=1e-6, atol=1e-8)
