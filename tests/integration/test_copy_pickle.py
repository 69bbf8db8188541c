"""``copy.deepcopy`` and ``pickle`` round-trips of every public object a training script keeps.

DataLoader workers (spawn / forkserver) pickle the collator and the sampler, ``deepcopy`` is how
EMA models, Lightning's ``MetricCollection.clone`` and hyperparameter searches copy a module, and
checkpointing libraries pickle whole objects. The copy must give the same outputs and carry the
state (buffers, metric states, random generators) the original had.
"""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from _integration_cases import (
    LOSSES,
    METRICS,
    LossCase,
    MetricCase,
    assert_same,
    hard_target,
    logits,
    make_groups,
    metric_preds,
    metric_target,
)
from torch.utils.data import DataLoader

import imbalml as im

COPIES = {
    "deepcopy": copy.deepcopy,
    "pickle": lambda obj: pickle.loads(pickle.dumps(obj)),
}


@pytest.mark.parametrize("how", list(COPIES))
@pytest.mark.parametrize("case", LOSSES, ids=repr)
def test_loss_module_copies(case: LossCase, how: str) -> None:
    groups = make_groups()
    criterion = case.make(groups if case.grouped else None)
    clone = COPIES[how](criterion)
    assert type(clone) is type(criterion)
    assert repr(clone) == repr(criterion)
    for name, buffer in criterion.state_dict().items():
        torch.testing.assert_close(clone.state_dict()[name], buffer)
    for form in case.forms:
        y = case.target(form, groups)
        x = logits(groups.num_attributes).requires_grad_(True)
        x_clone = x.detach().clone().requires_grad_(True)
        loss, loss_clone = criterion(x, y), clone(x_clone, y)
        torch.testing.assert_close(loss_clone, loss, rtol=0, atol=0)
        loss.backward()
        loss_clone.backward()
        torch.testing.assert_close(x_clone.grad, x.grad, rtol=0, atol=0)


@pytest.mark.parametrize("how", list(COPIES))
@pytest.mark.parametrize("case", METRICS, ids=repr)
def test_metric_copies_with_its_state(case: MetricCase, how: str) -> None:
    groups = make_groups()
    first = (metric_preds(case, groups, seed=1), metric_target(case, groups, seed=1))
    second = (metric_preds(case, groups, seed=2), metric_target(case, groups, seed=2))
    metric = case.make(groups)
    metric.update(*first)
    clone = COPIES[how](metric)
    assert type(clone) is type(metric)
    assert_same(clone.compute(), metric.compute())
    # The state travelled: one more batch on each gives the same two-batch value.
    clone.update(*second)
    metric.update(*second)
    assert_same(clone.compute(), metric.compute())
    both = case.make(groups)
    both.update(*first)
    both.update(*second)
    assert_same(clone.compute(), both.compute())
    # ... and the copy is independent of the original.
    clone.reset()
    assert_same(metric.compute(), both.compute())


@pytest.mark.parametrize("how", list(COPIES))
def test_attribute_groups_copies(how: str) -> None:
    groups = im.AttributeGroups([3, 2, 4], names=["colour", "size", "shape"])
    clone = COPIES[how](groups)
    assert clone == groups and hash(clone) == hash(groups)
    assert clone.names == groups.names and clone.attribute_names == groups.attribute_names
    assert clone.sizes == groups.sizes and clone.offsets == groups.offsets
    scores = logits(groups.num_attributes)
    for a, b in zip(clone.split(scores), groups.split(scores)):
        assert torch.equal(a, b)
    y = hard_target(groups)
    assert torch.equal(clone.to_one_hot(y), groups.to_one_hot(y))


def _samples(groups: im.AttributeGroups, n: int = 12) -> list[tuple[torch.Tensor, torch.Tensor]]:
    y = hard_target(groups, n)
    return [(torch.full((1, 2, 2), float(i)), y[i]) for i in range(n)]


@pytest.mark.parametrize("how", list(COPIES))
@pytest.mark.parametrize("mode", ["minority", "all", "minority_pairs"])
def test_mixup_collator_copies(how: str, mode: str) -> None:
    groups = make_groups()
    samples = _samples(groups)
    counts = im.label_counts(torch.stack([y for _, y in samples]), groups)
    collator = im.MixupCollator(groups, counts=counts, mode=mode, seed=3)
    collator(samples[:4])  # advance the generator: the copy continues from here
    clone = COPIES[how](collator)
    for _ in range(3):
        images, target = collator(samples)
        images_clone, target_clone = clone(samples)
        assert torch.equal(images_clone, images) and torch.equal(target_clone, target)
    # In a DataLoader, as a worker process would receive it.
    loader = DataLoader(samples, batch_size=6, collate_fn=COPIES[how](collator))
    reference = DataLoader(samples, batch_size=6, collate_fn=COPIES[how](collator))
    for (a, ya), (b, yb) in zip(loader, reference):
        assert torch.equal(a, b) and torch.equal(ya, yb)


@pytest.mark.parametrize("how", list(COPIES))
def test_plain_mixup_collator_copies(how: str) -> None:
    minority = torch.tensor([False, True, True, False])
    collator = im.MixupCollator(minority=minority, mode="all", seed=0)
    gen = torch.Generator().manual_seed(0)
    samples = [
        (torch.randn(3, generator=gen), torch.randint(0, 2, (4,), generator=gen)) for _ in range(8)
    ]
    clone = COPIES[how](collator)
    images, target = collator(samples)
    images_clone, target_clone = clone(samples)
    assert torch.equal(images_clone, images) and torch.equal(target_clone, target)


@pytest.mark.parametrize("how", list(COPIES))
def test_batch_mixup_copies(how: str) -> None:
    groups = make_groups()
    y = hard_target(groups)
    mix = im.BatchMixup(groups, counts=im.label_counts(y, groups), mode="all", seed=1)
    clone = COPIES[how](mix)
    images = torch.randn(y.shape[0], 3, 2, 2, generator=torch.Generator().manual_seed(0))
    for _ in range(2):
        a, ya = mix(images, y)
        b, yb = clone(images, y)
        assert torch.equal(a, b) and torch.equal(ya, yb)


@pytest.mark.parametrize("how", list(COPIES))
@pytest.mark.parametrize("grouped", [True, False], ids=["grouped", "plain"])
def test_minority_oversampler_copies(how: str, grouped: bool) -> None:
    groups = make_groups()
    if grouped:
        sampler = im.MinorityOversampler(hard_target(groups, 20), groups, seed=5)
    else:
        target = torch.zeros(20, 3, dtype=torch.int64)
        target[:, 0] = 1
        target[::7, 1] = 1
        target[3, 2] = 1
        sampler = im.MinorityOversampler(target, seed=5)
    sampler.set_epoch(2)
    clone = COPIES[how](sampler)
    assert len(clone) == len(sampler)
    assert list(clone) == list(sampler)
    torch.testing.assert_close(clone.repeat_factors, sampler.repeat_factors)
    clone.set_epoch(3)
    sampler.set_epoch(3)
    assert list(clone) == list(sampler)
