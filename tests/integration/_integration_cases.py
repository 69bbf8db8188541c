"""What the integration tests share: a label layout, targets, and every public loss and metric.

Public imports only (``import imbalml``, ``imbalml.functional``): these tests use the library the
way someone else's training code does. Every loss is built with its DEFAULT arguments (the
weighted and logit-adjusted cross-entropies need ``weight`` / ``priors``, fixed tensors here).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

import imbalml as im
from imbalml import functional as F

#: The layout most tests use: three groups, C = 9 attributes.
SIZES = (3, 2, 4)
N = 16

_fresh_sizes = itertools.count(11)


def make_groups(sizes: tuple[int, ...] = SIZES) -> im.AttributeGroups:
    return im.AttributeGroups(list(sizes))


def fresh_groups() -> im.AttributeGroups:
    """A layout no other test of this process has used (sizes ``(k, 2, 3)`` with a new ``k``).

    A process-wide cache keyed by the layout would otherwise already hold tensors made by an
    earlier test, and a test of what a *first* call does would test nothing.
    """
    return im.AttributeGroups([next(_fresh_sizes), 2, 3])


def attribute_weight(groups: im.AttributeGroups) -> torch.Tensor:
    """Per-attribute weights ``(C,)`` for the weighted cross-entropy: all different, > 0."""
    return torch.linspace(0.5, 2.0, groups.num_attributes)


def attribute_priors(groups: im.AttributeGroups) -> torch.Tensor:
    """Per-attribute priors ``(C,)`` for the logit-adjusted loss, each group summing to 1."""
    raw = torch.arange(1, groups.num_attributes + 1, dtype=torch.float32)
    return torch.cat([segment / segment.sum() for segment in groups.split(raw)])


# --------------------------------------------------------------------------------- targets
def hard_target(
    groups: im.AttributeGroups, n: int = N, *, seed: int = 0, dtype: torch.dtype = torch.int64
) -> torch.Tensor:
    """Hard targets ``(N, G)`` in which every attribute occurs (when ``n >= max(sizes)``)."""
    gen = torch.Generator().manual_seed(seed)
    columns = []
    for size in groups.sizes:
        column = torch.arange(n) % size
        columns.append(column[torch.randperm(n, generator=gen)])
    return torch.stack(columns, 1).to(dtype)


def soft_target(groups: im.AttributeGroups, n: int = N, *, seed: int = 0) -> torch.Tensor:
    """Soft targets ``(N, C)``: each group segment a probability vector summing to 1."""
    gen = torch.Generator().manual_seed(seed)
    raw = torch.rand(n, groups.num_attributes, generator=gen) + 0.05
    return torch.cat([s / s.sum(1, keepdim=True) for s in groups.split(raw)], 1)


def multi_hot_target(
    num_labels: int, n: int = N, *, seed: int = 0, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Plain multi-hot targets ``(N, C)`` in which every label has a positive and a negative."""
    gen = torch.Generator().manual_seed(seed)
    target = (torch.rand(n, num_labels, generator=gen) < 0.4).to(torch.int64)
    target[0] = 1
    target[1] = 0
    return target.to(dtype)


def plain_soft_target(num_labels: int, n: int = N, *, seed: int = 0) -> torch.Tensor:
    """Plain soft targets ``(N, C)`` in ``[0, 1]`` (what mixup of multi-hot targets gives)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, num_labels, generator=gen)


def logits(num_labels: int, n: int = N, *, seed: int = 1, scale: float = 2.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, num_labels, generator=gen)


# ----------------------------------------------------------------------------------- losses
@dataclass(frozen=True)
class LossCase:
    """One public loss: its module and its functional, in the grouped or the plain form.

    ``make(groups, **options)`` builds the module and ``function(input, target, groups,
    **options)`` calls the functional; a plain case (``grouped=False``) passes no layout
    (``groups=None``) to either, whatever it is given.
    """

    name: str
    grouped: bool
    make: Callable[..., nn.Module]
    function: Callable[..., torch.Tensor]
    #: The target forms it takes, the first one its usual form.
    forms: tuple[str, ...]

    def __repr__(self) -> str:
        return self.name

    def target(
        self, form: str, groups: im.AttributeGroups, n: int = N, seed: int = 0
    ) -> torch.Tensor:
        if form == "hard":
            return hard_target(groups, n, seed=seed)
        if form == "soft" and self.grouped:
            return soft_target(groups, n, seed=seed)
        if form == "soft":
            return plain_soft_target(groups.num_attributes, n, seed=seed)
        if form == "multi_hot":
            return multi_hot_target(groups.num_attributes, n, seed=seed)
        raise AssertionError(form)


def _asl(groups: Any, **options: Any) -> nn.Module:
    return im.AsymmetricLoss(groups, **options)


def _focal(groups: Any, **options: Any) -> nn.Module:
    return im.FocalLoss(groups, **options)


def _dice(groups: Any, **options: Any) -> nn.Module:
    return im.DiceLoss(groups, **options)


def _grouped_ce(groups: Any, **options: Any) -> nn.Module:
    return im.GroupedCrossEntropyLoss(groups, **options)


def _weighted_ce(groups: Any, **options: Any) -> nn.Module:
    return im.WeightedCrossEntropyLoss(groups, weight=attribute_weight(groups), **options)


def _logit_adjusted_ce(groups: Any, **options: Any) -> nn.Module:
    return im.LogitAdjustedCrossEntropyLoss(groups, priors=attribute_priors(groups), **options)


def _plain_asl(groups: Any, **options: Any) -> nn.Module:
    return im.AsymmetricLoss(**options)


def _plain_focal(groups: Any, **options: Any) -> nn.Module:
    return im.FocalLoss(**options)


def _plain_dice(groups: Any, **options: Any) -> nn.Module:
    return im.DiceLoss(**options)


def _f_asl(x: torch.Tensor, y: torch.Tensor, groups: Any, **options: Any) -> torch.Tensor:
    return F.asymmetric_loss(x, y, groups, **options)


def _f_focal(x: torch.Tensor, y: torch.Tensor, groups: Any, **options: Any) -> torch.Tensor:
    return F.focal_loss(x, y, groups, **options)


def _f_dice(x: torch.Tensor, y: torch.Tensor, groups: Any, **options: Any) -> torch.Tensor:
    return F.dice_loss(x, y, groups, **options)


def _f_grouped_ce(x: torch.Tensor, y: torch.Tensor, groups: Any, **options: Any) -> torch.Tensor:
    return F.grouped_cross_entropy(x, y, groups, **options)


def _f_weighted_ce(x: torch.Tensor, y: torch.Tensor, groups: Any, **options: Any) -> torch.Tensor:
    return F.weighted_cross_entropy(x, y, groups, weight=attribute_weight(groups), **options)


def _f_logit_adjusted_ce(
    x: torch.Tensor, y: torch.Tensor, groups: Any, **options: Any
) -> torch.Tensor:
    return F.logit_adjusted_cross_entropy(x, y, groups, priors=attribute_priors(groups), **options)


def _f_plain_asl(x: torch.Tensor, y: torch.Tensor, groups: Any, **options: Any) -> torch.Tensor:
    return F.asymmetric_loss(x, y, **options)


def _f_plain_focal(x: torch.Tensor, y: torch.Tensor, groups: Any, **options: Any) -> torch.Tensor:
    return F.focal_loss(x, y, **options)


def _f_plain_dice(x: torch.Tensor, y: torch.Tensor, groups: Any, **options: Any) -> torch.Tensor:
    return F.dice_loss(x, y, **options)


GROUPED_LOSSES = [
    LossCase("AsymmetricLoss[grouped]", True, _asl, _f_asl, ("hard", "soft")),
    LossCase("FocalLoss[grouped]", True, _focal, _f_focal, ("hard", "soft")),
    LossCase("DiceLoss[grouped]", True, _dice, _f_dice, ("hard", "soft")),
    LossCase("GroupedCrossEntropyLoss", True, _grouped_ce, _f_grouped_ce, ("hard", "soft")),
    LossCase("WeightedCrossEntropyLoss", True, _weighted_ce, _f_weighted_ce, ("hard", "soft")),
    LossCase(
        "LogitAdjustedCrossEntropyLoss",
        True,
        _logit_adjusted_ce,
        _f_logit_adjusted_ce,
        ("hard", "soft"),
    ),  # fmt: skip
]
PLAIN_LOSSES = [
    LossCase("AsymmetricLoss[plain]", False, _plain_asl, _f_plain_asl, ("multi_hot", "soft")),
    LossCase("FocalLoss[plain]", False, _plain_focal, _f_plain_focal, ("multi_hot", "soft")),
    LossCase("DiceLoss[plain]", False, _plain_dice, _f_plain_dice, ("multi_hot", "soft")),
]
LOSSES = GROUPED_LOSSES + PLAIN_LOSSES


# ---------------------------------------------------------------------------------- metrics
@dataclass(frozen=True)
class MetricCase:
    """One public metric class, built for a grouped layout (or plain, with ``num_labels``).

    ``make(groups, **options)`` builds it (a plain case takes only ``C`` from ``groups``).
    """

    name: str
    grouped: bool
    make: Callable[..., Any]

    def __repr__(self) -> str:
        return self.name


GROUPED_METRICS = [
    MetricCase("MeanClassAccuracy[grouped]", True, lambda g, **o: im.MeanClassAccuracy(g, **o)),
    MetricCase("PerClassAccuracy[grouped]", True, lambda g, **o: im.PerClassAccuracy(g, **o)),
    MetricCase(
        "GroupAccuracy[grouped]", True, lambda g, **o: im.GroupAccuracy(g, average="none", **o)
    ),
    MetricCase(
        "GroupConfusionMatrix[grouped]", True, lambda g, **o: im.GroupConfusionMatrix(g, **o)
    ),
    MetricCase("LabelRecall[grouped]", True, lambda g, **o: im.LabelRecall(g, average="none", **o)),
    MetricCase(
        "LabelPrecision[grouped]", True, lambda g, **o: im.LabelPrecision(g, average="none", **o)
    ),
    MetricCase(
        "LabelF1Score[grouped]", True, lambda g, **o: im.LabelF1Score(g, average="macro", **o)
    ),
    MetricCase(
        "LabelAveragePrecision[grouped]", True, lambda g, **o: im.LabelAveragePrecision(g, **o)
    ),
]
#: Every plain metric takes ``num_labels`` (issue 21, item 5: the same constructor arguments across
#: metrics; before the change ``LabelAveragePrecision`` refused it).
PLAIN_METRICS = [
    MetricCase(
        "MeanClassAccuracy[plain]",
        False,
        lambda g, **o: im.MeanClassAccuracy(None, num_labels=g.num_attributes, **o),
    ),  # fmt: skip
    MetricCase(
        "LabelF1Score[plain]",
        False,
        lambda g, **o: im.LabelF1Score(num_labels=g.num_attributes, **o),
    ),
    MetricCase(
        "LabelAveragePrecision[plain]",
        False,
        lambda g, **o: im.LabelAveragePrecision(num_labels=g.num_attributes, **o),
    ),  # fmt: skip
]
METRICS = GROUPED_METRICS + PLAIN_METRICS


def metric_preds(
    case: MetricCase, groups: im.AttributeGroups, n: int = N, seed: int = 1
) -> torch.Tensor:
    """Probabilities ``(N, C)``: per-group softmax (grouped) or sigmoid (plain) of logits.

    Probabilities are valid input under torchmetrics' rule (scores in ``[0, 1]`` are used as
    given, others go through the sigmoid / softmax), which the metrics follow after issue 21.
    """
    scores = logits(groups.num_attributes, n, seed=seed)
    return F.grouped_softmax(scores, groups) if case.grouped else scores.sigmoid()


def metric_target(
    case: MetricCase, groups: im.AttributeGroups, n: int = N, seed: int = 0
) -> torch.Tensor:
    """Hard ``(N, G)`` (grouped) or int64 multi-hot ``(N, C)`` (plain) targets."""
    if case.grouped:
        return hard_target(groups, n, seed=seed)
    return multi_hot_target(groups.num_attributes, n, seed=seed, dtype=torch.int64)


def as_tuple(value: Any) -> tuple[torch.Tensor, ...]:
    """A metric's ``compute()`` as a tuple of tensors (``GroupConfusionMatrix`` gives a tuple)."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def assert_same(a: Any, b: Any) -> None:
    """Two ``compute()`` results are equal (NaN equal to NaN)."""
    a, b = as_tuple(a), as_tuple(b)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, equal_nan=True)
