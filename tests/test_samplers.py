"""Tests for imbalml.samplers.MinorityOversampler."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from scipy import stats
from torch.utils.data import DataLoader, TensorDataset

from imbalml import AttributeGroups
from imbalml.samplers import MinorityOversampler

GROUPS = AttributeGroups([4, 3])


def imbalanced_target(n: int = 60, seed: int = 0) -> torch.Tensor:
    """Hard labels with skewed attribute frequencies and a few missing labels."""
    rng = np.random.default_rng(seed)
    g0 = rng.choice(4, size=n, p=[0.75, 0.15, 0.07, 0.03])
    g1 = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    target = np.stack([g0, g1], 1)
    target[rng.choice(n, size=3, replace=False), 1] = -100
    return torch.from_numpy(target)


def reference_repeat_factors(target: np.ndarray, t: float, power: float) -> np.ndarray:
    """Loop reference of LVIS repeat factors: r_c = max(1, (t / f_c) ** power), image max.

    ``f_c``: the attribute's share of the images *labelled* in its group (missing = unknown).
    """
    n = target.shape[0]
    counts = np.zeros(GROUPS.num_attributes)
    labelled = np.zeros(GROUPS.num_groups)
    for row in target:
        for g, k in enumerate(row):
            if k != -100:
                counts[GROUPS.offsets[g] + k] += 1
                labelled[g] += 1
    out = np.ones(n)
    for i, row in enumerate(target):
        for g, k in enumerate(row):
            if k != -100:
                f = counts[GROUPS.offsets[g] + k] / labelled[g]
                out[i] = max(out[i], max(1.0, (t / f) ** power))
    return out


@pytest.mark.parametrize(
    ("strategy", "power"), [("repeat_factor", 0.5), ("inverse_frequency", 1.0)]
)
@pytest.mark.parametrize("threshold", [None, 0.05, 0.5])
def test_repeat_factors_match_reference(strategy: str, power: float, threshold) -> None:
    target = imbalanced_target()
    sampler = MinorityOversampler(target, GROUPS, strategy=strategy, frequency_threshold=threshold)
    freqs = np.array(
        [
            (target[:, g] == k).sum().item() / (target[:, g] != -100).sum().item()
            for g, s in enumerate(GROUPS.sizes)
            for k in range(s)
        ]
    )
    t = freqs.mean() if threshold is None else threshold
    assert sampler.frequency_threshold == pytest.approx(t)
    np.testing.assert_allclose(
        sampler.repeat_factors.numpy(), reference_repeat_factors(target.numpy(), t, power)
    )
    assert sampler.repeat_factors.dtype == torch.float64
    assert sampler.expected_epoch_size == pytest.approx(sampler.repeat_factors.sum().item())


def test_default_threshold_repeats_exactly_the_minority_attributes() -> None:
    from imbalml.functional import minority_attributes

    target = imbalanced_target(200, seed=1)
    sampler = MinorityOversampler(target, GROUPS)
    counts = torch.stack(
        [(target[:, g] == k).sum() for g, s in enumerate(GROUPS.sizes) for k in range(s)]
    )
    below_mean = counts.double() < counts.double().mean()
    assert torch.equal(sampler.attribute_repeat_factors > 1, below_mean)
    assert torch.equal(below_mean, minority_attributes(counts) & (counts != counts.double().mean()))


def test_each_epoch_repeats_floor_or_ceil_with_a_fixed_length() -> None:
    target = imbalanced_target()
    sampler = MinorityOversampler(target, GROUPS, seed=3)
    r = sampler.repeat_factors.numpy()
    size = round(r.sum())
    assert sampler.epoch_size == size == len(sampler)
    epochs = 400
    total = np.zeros(60)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        counts = np.bincount(list(sampler), minlength=60)
        assert np.all((counts == np.floor(r)) | (counts == np.floor(r) + 1))
        assert counts.sum() == size  # the same length in every epoch
        total += counts
    # Per image: the extra copy comes with probability frac(r_i) * extra / sum(frac), the
    # fractional parts rescaled to the fixed number of extra places; 5 sigma.
    frac = r - np.floor(r)
    p = frac * (size - np.floor(r).sum()) / frac.sum()
    assert np.all(p <= 1) and abs(p.sum() - frac.sum()) < 0.5 + 1e-9
    sigma = np.sqrt(p * (1 - p) / epochs) + 1e-12
    assert np.all(np.abs(total / epochs - (np.floor(r) + p)) <= 5 * sigma + 1e-9)
    assert np.any(frac > 0)


def test_epoch_length_is_fixed_for_many_layouts() -> None:
    """Before the fix the length was ``sum`` of stochastically rounded factors: it varied."""
    for seed in range(20):
        target = imbalanced_target(37 + seed, seed=seed)
        sampler = MinorityOversampler(target, GROUPS, seed=seed, num_replicas=3, rank=seed % 3)
        lengths = set()
        for epoch in range(6):
            sampler.set_epoch(epoch)
            lengths.add(len(list(sampler)))
            assert len(sampler) in lengths
        assert lengths == {len(sampler)}
        assert sampler.epoch_indices().numel() == sampler.epoch_size


def test_extra_places_are_capped_at_one_copy_per_image() -> None:
    """Large fractional parts on few images: no image gets more than one extra copy."""
    from imbalml.samplers import _fixed_size_rounding

    r = torch.tensor([1.9, 1.7, 1.0, 1.0], dtype=torch.float64)  # sum 5.6 -> 6 places, 2 extra
    for seed in range(50):
        copies = _fixed_size_rounding(r, 6, torch.Generator().manual_seed(seed))
        assert copies.tolist() == [2, 2, 1, 1]
    whole = torch.tensor([2.0, 1.0, 3.0], dtype=torch.float64)
    assert _fixed_size_rounding(whole, 6, torch.Generator()).tolist() == [2, 1, 3]


def test_a_per_step_scheduler_runs_every_epoch() -> None:
    """OneCycleLR(total_steps=epochs * len(loader)) raises if an epoch is longer than planned."""
    target = imbalanced_target(90, seed=4)
    sampler = MinorityOversampler(target, GROUPS, seed=0)
    loader = DataLoader(TensorDataset(torch.arange(90)), batch_size=8, sampler=sampler)
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.1)
    epochs = 8
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.1, total_steps=epochs * len(loader)
    )
    steps = 0
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for _ in loader:
            optimizer.step()
            scheduler.step()
            steps += 1
    assert steps == epochs * len(loader)


@pytest.mark.slow
def test_two_processes_take_equal_fixed_length_shards(tmp_path) -> None:
    """Two gloo processes: same number of steps in every epoch, disjoint shards of one list."""
    import torch.multiprocessing as mp
    from _helpers.ddp import sampler_worker

    rng = np.random.default_rng(0)
    target = torch.from_numpy(
        (rng.random((101, 6)) < [0.6, 0.3, 0.1, 0.05, 0.5, 0.02]).astype(np.int64)
    )
    epochs = 4
    mp.spawn(sampler_worker, args=(2, str(tmp_path / "store"), target, epochs, 7, str(tmp_path)),
             nprocs=2, join=True)  # fmt: skip
    results = [torch.load(tmp_path / f"sampler{rank}.pt", weights_only=True) for rank in range(2)]
    reference = MinorityOversampler(target, seed=3, num_replicas=1, rank=0)
    for epoch in range(epochs):
        steps = [r["steps"][epoch] for r in results]
        assert steps[0] == steps[1] == [results[0]["len_loader"]] * 2
        reference.set_epoch(epoch)
        full = reference.epoch_indices().tolist()
        together = results[0]["seen"][epoch] + results[1]["seen"][epoch]
        padded = full + full[: len(together) - len(full)]
        assert Counter(together) == Counter(padded)
    assert (
        results[0]["len_sampler"]
        == results[1]["len_sampler"]
        == math.ceil(reference.epoch_size / 2)
    )


def test_replacement_frequencies_are_proportional_to_factors() -> None:
    target = imbalanced_target()
    sampler = MinorityOversampler(target, GROUPS, replacement=True, num_indices=30000, seed=0)
    counts = np.bincount(list(sampler), minlength=60)
    r = sampler.repeat_factors.numpy()
    assert stats.chisquare(counts, 30000 * r / r.sum()).pvalue > 1e-3
    default = MinorityOversampler(target, GROUPS, replacement=True)
    assert len(default) == round(default.expected_epoch_size)


def test_fixed_length_without_replacement() -> None:
    target = imbalanced_target()
    sampler = MinorityOversampler(target, GROUPS, num_indices=200, seed=1)
    indices = list(sampler)
    assert len(indices) == len(sampler) == 200
    assert set(indices) == set(range(60))  # a full round first: every image at least once
    r = sampler.repeat_factors.numpy()
    counts = np.bincount(indices, minlength=60)
    # 200 indices span more than two full rounds of ~sum(r), so each image appears >= 2 times.
    assert sampler.expected_epoch_size < 100 and counts.min() >= 2
    assert counts.max() <= 3 * math.ceil(r.max())


@pytest.mark.parametrize("num_replicas", [1, 2, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_shards_are_disjoint_and_complete(num_replicas: int, drop_last: bool) -> None:
    target = imbalanced_target()
    shards = [
        MinorityOversampler(
            target, GROUPS, seed=5, num_replicas=num_replicas, rank=k, drop_last=drop_last
        )
        for k in range(num_replicas)
    ]
    for s in shards:
        s.set_epoch(2)
    whole = shards[0].epoch_indices().tolist()
    lists = [list(s) for s in shards]
    lengths = {len(x) for x in lists}
    assert len(lengths) == 1 and lengths == {len(shards[0])}
    if drop_last:
        expected = whole[: (len(whole) // num_replicas) * num_replicas]
    else:
        size = math.ceil(len(whole) / num_replicas) * num_replicas
        expected = (whole * 2)[:size]
    # Interleaving the shards position by position gives back the (padded) epoch list.
    rebuilt = [lists[k][j] for j in range(len(lists[0])) for k in range(num_replicas)]
    assert rebuilt == expected
    if not drop_last:
        assert set().union(*map(set, lists)) == set(range(60))
    assert Counter(i for x in lists for i in x) == Counter(expected)


def test_padding_when_the_list_is_shorter_than_the_ranks() -> None:
    target = torch.tensor([[0, 0], [1, 1]])
    shards = [
        MinorityOversampler(target, GROUPS, frequency_threshold=0.5, num_replicas=5, rank=k)
        for k in range(5)
    ]
    size = len(shards[0].epoch_indices())
    assert size == 2
    assert [len(s) for s in shards] == [1] * 5
    assert sorted(i for s in shards for i in s) == [0, 0, 0, 1, 1]
    dropped = MinorityOversampler(
        target, GROUPS, frequency_threshold=0.5, num_replicas=5, rank=0, drop_last=True
    )
    assert len(dropped) == 0 and list(dropped) == []


def test_set_epoch_changes_order_deterministically() -> None:
    target = imbalanced_target()
    a = MinorityOversampler(target, GROUPS, seed=7)
    b = MinorityOversampler(target, GROUPS, seed=7)
    c = MinorityOversampler(target, GROUPS, seed=8)
    first = list(a)
    assert first == list(a) == list(b)
    assert first != list(c)
    a.set_epoch(1)
    second = list(a)
    assert second != first
    b.set_epoch(1)
    assert list(b) == second
    a.set_epoch(0)
    assert list(a) == first


def test_distributed_defaults_come_from_torch_distributed(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch.distributed as dist

    target = imbalanced_target()
    assert MinorityOversampler(target, GROUPS).num_replicas == 1
    monkeypatch.setattr(dist, "is_available", lambda: True)
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda *a, **k: 4)
    monkeypatch.setattr(dist, "get_rank", lambda *a, **k: 3)
    sampler = MinorityOversampler(target, GROUPS)
    assert (sampler.num_replicas, sampler.rank) == (4, 3)
    explicit = MinorityOversampler(target, GROUPS, num_replicas=2, rank=0)
    assert (explicit.num_replicas, explicit.rank) == (2, 0)


def test_works_in_a_dataloader() -> None:
    target = imbalanced_target()
    dataset = TensorDataset(torch.arange(60), target)
    sampler = MinorityOversampler(target, GROUPS, seed=0)
    loader = DataLoader(dataset, batch_size=16, sampler=sampler)
    seen = torch.cat([idx for idx, _ in loader]).tolist()
    assert seen == list(sampler)
    assert len(loader) == math.ceil(len(sampler) / 16)
    assert "MinorityOversampler(strategy='repeat_factor'" in repr(sampler)


def test_numpy_target_and_images_without_labels() -> None:
    target = np.array([[0, 0], [0, 0], [3, 2], [-100, -100]])
    sampler = MinorityOversampler(target, GROUPS, frequency_threshold=0.5)
    # attribute 3 of group 0 and 2 of group 1: 1 of the 3 labelled images (the 4th is unknown)
    assert sampler.repeat_factors.tolist() == pytest.approx([1.0, 1.0, math.sqrt(1.5), 1.0])


def test_missing_labels_are_unknown_not_negatives() -> None:
    """Label 1 is positive in 1 of its 2 known entries (f = 0.5), not 1 of 4 images (0.25)."""
    target = torch.tensor([[1, 1], [1, 0], [1, -100], [1, -100]])
    sampler = MinorityOversampler(target, frequency_threshold=1.0)
    assert sampler.attribute_repeat_factors.tolist() == pytest.approx([1.0, math.sqrt(2.0)])
    assert sampler.repeat_factors.tolist() == pytest.approx([math.sqrt(2.0), 1.0, 1.0, 1.0])
    # default threshold: the mean frequency among the known labels, (1 + 0.5) / 2
    assert MinorityOversampler(target).frequency_threshold == pytest.approx(0.75)
    assert MinorityOversampler(target).counts.labelled.tolist() == [4, 2]
    grouped = MinorityOversampler(
        torch.tensor([[0, 1], [0, 0], [1, -100], [1, -100]]),
        AttributeGroups([2, 2]),
        frequency_threshold=1.0,
    )
    # group 1: attribute 3 in 1 of the 2 labelled images
    assert grouped.attribute_repeat_factors.tolist() == pytest.approx(
        [math.sqrt(2.0), math.sqrt(2.0), math.sqrt(2.0), math.sqrt(2.0)]
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"strategy": "lvis"}, ValueError, r"Expected `strategy` to be one of \('repeat_factor', 'inverse_frequency'\), but got 'lvis'"),
        ({"frequency_threshold": 0.0}, ValueError, r"Expected `frequency_threshold` in \(0, 1\], but got 0"),
        ({"frequency_threshold": 2}, ValueError, r"Expected `frequency_threshold` in \(0, 1\], but got 2"),
        ({"num_indices": 0}, ValueError, r"Expected `num_indices` >= 1, but got 0"),
        ({"num_indices": 2.5}, TypeError, r"Expected `num_indices` to be an int, but got float"),
        ({"seed": -1}, ValueError, r"Expected `seed` >= 0, but got -1"),
        ({"num_replicas": 0}, ValueError, r"Expected `num_replicas` >= 1, but got 0"),
        ({"num_replicas": 2, "rank": 2}, ValueError, r"Expected `rank` in \[0, 1\] for num_replicas=2, but got 2"),
        ({"target": torch.zeros(0, 2, dtype=torch.long)}, ValueError, r"Expected `target` with at least one sample, but got 0"),
        ({"target": torch.zeros(3, 3, dtype=torch.long)}, ValueError, r"Expected `target` of shape \(N, G\) = \(3, 2\) for 2 attribute groups, but got \(3, 3\)"),
        ({"target": torch.tensor([[4, 0]])}, ValueError, r"Expected `target\[:, 0\]` \(group 'group0', 4 attributes\) in \[0, 3\]"),
    ],
)  # fmt: skip
def test_errors(kwargs, error, match) -> None:
    args = {"target": imbalanced_target()}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        MinorityOversampler(args.pop("target"), GROUPS, **args)


def test_set_epoch_error() -> None:
    sampler = MinorityOversampler(imbalanced_target(), GROUPS)
    with pytest.raises(ValueError, match=r"Expected `epoch` >= 0, but got -1"):
        sampler.set_epoch(-1)
