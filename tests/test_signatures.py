"""Constructors write their signatures out: no decorator rewrites what ``inspect`` and IDEs see.

A class that adds an argument to its base repeats the base's arguments (as torchmetrics does in
every class); these tests check that the repeated lists agree with the base, and that no public
constructor carries a generated ``__signature__``.
"""

from __future__ import annotations

import inspect
import typing

import pytest

import imbalml
import imbalml.data
import imbalml.losses
import imbalml.metrics
import imbalml.mixup
import imbalml.samplers
import imbalml.thresholds
import imbalml.weights
from imbalml.functional.metrics.count_metrics import GROUP_AVERAGES, LABEL_AVERAGES
from imbalml.metrics import GroupAccuracy, LabelF1Score, LabelPrecision, LabelRecall
from imbalml.metrics.confusion import _ConfusionMetric

MODULES = [imbalml, imbalml.losses, imbalml.metrics, imbalml.mixup, imbalml.samplers,
           imbalml.weights, imbalml.data, imbalml.thresholds]  # fmt: skip


def public_classes() -> list[type]:
    found = {getattr(m, name) for m in MODULES for name in m.__all__}
    return sorted((c for c in found if inspect.isclass(c)), key=lambda c: c.__qualname__)


def test_no_public_constructor_has_a_generated_signature() -> None:
    classes = public_classes()
    assert len(classes) > 20
    for cls in classes:
        for klass in cls.__mro__:
            init = vars(klass).get("__init__")
            if klass.__module__.startswith("imbalml") and inspect.isfunction(init):
                assert not hasattr(init, "__signature__"), init.__qualname__
                assert not hasattr(init, "__wrapped__"), init.__qualname__
                assert init.__qualname__ == f"{klass.__qualname__}.__init__"


@pytest.mark.parametrize("cls", [GroupAccuracy, LabelRecall, LabelPrecision, LabelF1Score])
def test_metric_signatures_repeat_the_shared_arguments(cls: type) -> None:
    """``average`` after ``num_labels`` (torchmetrics' order); the rest as the shared base defines it."""
    base = inspect.signature(_ConfusionMetric).parameters
    own = inspect.signature(cls).parameters
    assert list(own) == ["groups", "num_labels", "average", *list(base)[2:]]
    base_hints = typing.get_type_hints(_ConfusionMetric.__init__)
    own_hints = typing.get_type_hints(cls.__init__)
    for name, param in base.items():
        assert (own[name].kind, own[name].default) == (param.kind, param.default), name
        if name in base_hints:
            assert own_hints[name] == base_hints[name], name
    assert own["average"].kind is inspect.Parameter.KEYWORD_ONLY
    expected = ("none", GROUP_AVERAGES) if cls is GroupAccuracy else ("macro", LABEL_AVERAGES)
    assert own["average"].default == expected[0]
    literal, none = typing.get_args(own_hints["average"])
    assert typing.get_args(literal) == expected[1] and none is type(None)


@pytest.mark.parametrize("cls", [GroupAccuracy, LabelRecall])
def test_metric_arguments_reach_the_base(cls: type) -> None:
    metric = cls(None, num_labels=3, threshold=0.25, ignore_index=7, validate_args=False,
                 average="none", sync_on_compute=False)  # fmt: skip
    assert (metric.num_labels, metric.ignore_index, metric.validate_args) == (3, 7, False)
    assert metric.threshold.tolist() == [0.25] * 3 and metric.average == "none"
    assert metric.sync_on_compute is False
