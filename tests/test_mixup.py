"""Tests for minority-aware mixup: imbalml.functional.mixup and imbalml.mixup."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats
from torch.utils.data import DataLoader, default_collate

from imbalml import AttributeGroups, BatchMixup, MixupCollator
from imbalml.functional import (
    MIXUP_MODES,
    MixupPlan,
    minority_attributes,
    minority_mask,
    mixup,
    mixup_plan,
)

FAST = settings(max_examples=40, deadline=None)

FASHION = AttributeGroups([7, 3, 3, 4, 6, 3])
#: Training counts of the 26 fashion attributes (RECIPE.md), in flat order.
FASHION_COUNTS = [768, 853, 334, 422, 109, 2408, 106, 1523, 862, 2615, 488, 951, 3561,
                  2086, 826, 19, 2069, 310, 702, 3399, 105, 48, 436, 749, 279, 3972]  # fmt: skip
#: The majority attribute of each group (index inside the group).
FASHION_MAJORITY = [5, 2, 2, 0, 2, 2]


def bits(t: torch.Tensor) -> torch.Tensor:
    """Bit pattern of a float32 tensor, so NaN and -0.0 compare exactly."""
    return t.contiguous().view(torch.int32)


def fashion_batch(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (n, 3, 4, 4) and hard labels drawn with the fashion proportions."""
    g = torch.Generator().manual_seed(seed)
    counts = torch.tensor(FASHION_COUNTS, dtype=torch.float64)
    labels = torch.stack(
        [torch.multinomial(seg, n, replacement=True, generator=g) for seg in FASHION.split(counts)],
        1,
    )
    return torch.randn(n, 3, 4, 4, generator=g), labels


def samples(images: torch.Tensor, labels: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(images[i], labels[i]) for i in range(images.shape[0])]


def reference_minority_mask(labels: np.ndarray, minority: np.ndarray) -> np.ndarray:
    """Loop reference: an image is minority when any present label is a minority attribute."""
    out = np.zeros(labels.shape[0], dtype=bool)
    for i, row in enumerate(labels):
        for g, k in enumerate(row):
            if k != -100 and minority[FASHION.offsets[g] + k]:
                out[i] = True
    return out


# -------------------------------------------------------------------------- minority_attributes


def test_minority_attributes_fashion_marks_18_of_26() -> None:
    minority = minority_attributes(FASHION_COUNTS)
    expected = np.array(FASHION_COUNTS) <= np.mean(FASHION_COUNTS)
    assert minority.dtype == torch.bool and minority.shape == (26,)
    np.testing.assert_array_equal(minority.numpy(), expected)
    assert int(minority.sum()) == 18
    # The majority of every group is not minority; the report's threshold is ~1154.
    for g, k in enumerate(FASHION_MAJORITY):
        assert not minority[FASHION.offsets[g] + k]
    assert np.mean(FASHION_COUNTS) == pytest.approx(5000 * 6 / 26)


@pytest.mark.parametrize("form", ["list", "numpy", "tensor"])
def test_minority_attributes_threshold_is_inclusive(form: str) -> None:
    counts = [5, 1, 3, 3, 0]
    value = {"list": counts, "numpy": np.array(counts), "tensor": torch.tensor(counts)}[form]
    assert minority_attributes(value, count_threshold=3).tolist() == [False, True, True, True, True]
    assert minority_attributes(value, count_threshold=2.5).tolist() == [
        False,
        True,
        False,
        False,
        True,
    ]
    assert minority_attributes(value).tolist() == [False, True, False, False, True]  # mean 2.4


@pytest.mark.parametrize(
    ("counts", "threshold", "error", "match"),
    [
        (
            np.ones((2, 3)),
            None,
            ValueError,
            r"Expected `counts` of shape \(C,\) .* but got \(2, 3\)",
        ),
        (np.array([]), None, ValueError, r"at least one attribute\), but got \(0,\)"),
        (
            [3, -1, 2],
            None,
            ValueError,
            r"Expected `counts` >= 0, but got -1 for label 1",
        ),
        ([1.0, float("nan")], None, ValueError, r"Expected `counts` to be finite"),
        (torch.tensor([True, False]), None, TypeError, r"real dtype, but got torch.bool"),
        (
            "abc",
            None,
            TypeError,
            r"Expected `counts` to be a torch.Tensor, numpy.ndarray or list, but got str",
        ),
        ([1, 2], "3", TypeError, r"Expected `count_threshold` to be a real number, but got str"),
    ],
)
def test_minority_attributes_errors(counts, threshold, error, match) -> None:
    with pytest.raises(error, match=match):
        minority_attributes(counts, count_threshold=threshold)


# ------------------------------------------------------------------------------- minority_mask


def test_minority_mask_hard_matches_reference() -> None:
    _, labels = fashion_batch(200, seed=1)
    labels[5] = torch.tensor([1, 0, -100, 1, 2, 2])  # a missing label next to a minority one
    labels[7] = torch.tensor([5, 2, 2, 0, 2, -100])  # majority everywhere, one missing
    minority = minority_attributes(FASHION_COUNTS)
    got = minority_mask(labels, FASHION, minority=minority)
    np.testing.assert_array_equal(
        got.numpy(), reference_minority_mask(labels.numpy(), minority.numpy())
    )
    assert not got[7]
    assert 0 < int(got.sum()) < 200


def test_minority_mask_soft_counts_nonzero_entries() -> None:
    groups = AttributeGroups([2, 2])
    minority = torch.tensor([False, True, False, False])
    soft = torch.tensor(
        [[1.0, 0.0, 1.0, 0.0], [0.9, 0.1, 0.5, 0.5], [0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]]
    )
    assert minority_mask(soft, groups, minority=minority).tolist() == [False, True, False, True]
    hard = torch.tensor([[0, 0], [1, 1], [-100, 1], [1, -100]])
    assert minority_mask(hard, groups, minority=minority).tolist() == [False, True, False, True]
    # Hard and soft forms agree, also without validation.
    _, labels = fashion_batch(50, seed=2)
    fm = minority_attributes(FASHION_COUNTS)
    assert torch.equal(
        minority_mask(FASHION.to_one_hot(labels), FASHION, minority=fm, validate_args=False),
        minority_mask(labels, FASHION, minority=fm, validate_args=False),
    )


@pytest.mark.parametrize(
    ("target", "minority", "error", "match"),
    [
        (torch.zeros(3, 3, dtype=torch.long), torch.zeros(4, dtype=torch.bool), ValueError,
         r"Expected `target` of shape \(N, G\) = \(3, 2\) for 2 attribute groups, but got \(3, 3\)"),
        (torch.zeros(3, 2, dtype=torch.long), torch.zeros(5, dtype=torch.bool), ValueError,
         r"Expected `minority` of shape \(C,\) = \(4,\), but got \(5,\)"),
        (torch.zeros(3, 2, dtype=torch.long), torch.zeros(4), TypeError,
         r"Expected `minority` to be a bool tensor, but got torch.float32"),
        (torch.tensor([[0, 2]]), torch.zeros(4, dtype=torch.bool), ValueError,
         r"Expected `target\[:, 1\]` \(group 'group1', 2 attributes\) in \[0, 1\]"),
        (torch.full((2, 4), 0.3), torch.zeros(4, dtype=torch.bool), ValueError,
         r"Expected each group segment of `target` to sum to 1"),
        (torch.zeros(2, 5), torch.zeros(4, dtype=torch.bool), ValueError,
         r"Expected `target` of shape \(N, C\) = \(2, 4\) for 4 attributes, but got \(2, 5\)"),
    ],
)  # fmt: skip
def test_minority_mask_errors(target, minority, error, match) -> None:
    with pytest.raises(error, match=match):
        minority_mask(target, AttributeGroups([2, 2]), minority=minority)


def test_minority_mask_unvalidated_still_checks_shape() -> None:
    with pytest.raises(ValueError, match=r"\(N, G\) = \(3, 2\), but got \(3, 3\)"):
        minority_mask(
            torch.zeros(3, 3, dtype=torch.long),
            AttributeGroups([2, 2]),
            minority=torch.zeros(4, dtype=torch.bool),
            validate_args=False,
        )


# ---------------------------------------------------------------------------------------- mixup


def reference_mixup(x, y, lam, partner, mask):
    """Float64 numpy reference of the report's formula, lam weighting the partner."""
    x, y = x.double().numpy(), y.double().numpy()
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), (x.shape[0],))
    xo, yo = x.copy(), y.copy()
    for i in range(x.shape[0]):
        if mask[i]:
            j = int(partner[i])
            xo[i] = (1 - lam[i]) * x[i] + lam[i] * x[j]
            yo[i] = (1 - lam[i]) * y[i] + lam[i] * y[j]
    return xo, yo


@st.composite
def mixup_problems(draw: st.DrawFn):
    n = draw(st.integers(1, 6))
    shape = draw(st.sampled_from([(), (3,), (2, 3, 2)]))
    x = draw(hnp.arrays(np.float32, (n, *shape), elements=st.floats(-1e3, 1e3, width=32)))
    labels = np.stack(
        [draw(hnp.arrays(np.int64, n, elements=st.integers(0, k - 1))) for k in (3, 2)], 1
    )
    partner = draw(hnp.arrays(np.int64, n, elements=st.integers(0, n - 1)))
    mask = draw(hnp.arrays(np.bool_, n))
    if draw(st.booleans()):
        lam = draw(st.floats(0, 1))
    else:
        lam = torch.from_numpy(draw(hnp.arrays(np.float32, n, elements=st.floats(0, 1, width=32))))
    return torch.from_numpy(x), torch.from_numpy(labels), partner, mask, lam


@given(problem=mixup_problems())
@FAST
def test_mixup_matches_float64_reference_and_keeps_other_rows(problem) -> None:
    x, labels, partner, mask, lam = problem
    groups = AttributeGroups([3, 2])
    y = groups.to_one_hot(labels)
    x_before, y_before = x.clone(), y.clone()
    xm, ym = mixup(
        x, y, groups, lam=lam, partner=torch.from_numpy(partner), mask=torch.from_numpy(mask)
    )
    rx, ry = reference_mixup(x, y, lam, partner, mask)
    np.testing.assert_allclose(xm.double().numpy(), rx, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(ym.double().numpy(), ry, rtol=1e-6, atol=1e-6)
    assert torch.equal(bits(xm[~torch.from_numpy(mask)]), bits(x[~torch.from_numpy(mask)]))
    assert torch.equal(ym[~torch.from_numpy(mask)], y[~torch.from_numpy(mask)])
    # Out of place, and every group segment still sums to 1.
    assert torch.equal(x, x_before) and torch.equal(y, y_before)
    sums = torch.stack([s.sum(1) for s in groups.split(ym)], 1)
    torch.testing.assert_close(sums, torch.ones_like(sums))
    assert xm.dtype == x.dtype and ym.dtype == torch.float32


def test_mixup_lam_zero_and_one_are_identities() -> None:
    x, labels = fashion_batch(16, seed=3)
    y = FASHION.to_one_hot(labels)
    partner = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(16, dtype=torch.bool)
    x0, y0 = mixup(x, y, lam=0.0, partner=partner, mask=mask)
    assert torch.equal(x0, x) and torch.equal(y0, y)
    x1, y1 = mixup(x, y, lam=1.0, partner=partner, mask=mask)
    assert torch.equal(x1, x[partner]) and torch.equal(y1, y[partner])
    # Per-row lam: rows with lam 0 keep themselves, rows with lam 1 become their partner.
    lam = torch.tensor([0.0, 1.0] * 8)
    xr, yr = mixup(x, y, lam=lam, partner=partner, mask=mask)
    assert torch.equal(xr[0::2], x[0::2]) and torch.equal(xr[1::2], x[partner][1::2])
    assert torch.equal(yr[1::2], y[partner][1::2])
    # A 0-d tensor lam is the same as the float.
    torch.testing.assert_close(
        mixup(x, y, lam=torch.tensor(0.3), partner=partner, mask=mask)[0],
        mixup(x, y, lam=0.3, partner=partner, mask=mask)[0],
        rtol=0,
        atol=0,
    )


def test_mixup_unmasked_rows_are_bitwise_untouched() -> None:
    x = torch.tensor([[-0.0, float("nan")], [float("inf"), 1e-45], [2.0, 3.0], [1.0, -1.0]])
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    mask = torch.tensor([False, False, True, True])
    xm, ym = mixup(x, y, lam=0.5, partner=torch.tensor([3, 2, 3, 2]), mask=mask)
    assert torch.equal(bits(xm[:2]), bits(x[:2]))
    assert torch.equal(xm[2:], torch.tensor([[1.5, 1.0], [1.5, 1.0]]))
    assert torch.equal(ym[2:], torch.full((2, 2), 0.5))


def test_mixup_missing_label_stays_missing_with_groups() -> None:
    groups = AttributeGroups([2, 3])
    y = groups.to_one_hot(torch.tensor([[1, -100], [0, 2], [1, 1]]))
    x = torch.zeros(3, 1)
    partner, mask = torch.tensor([1, 0, 0]), torch.ones(3, dtype=torch.bool)
    _, ym = mixup(x, y, groups, lam=0.25, partner=partner, mask=mask)
    expected = torch.tensor(
        [
            [0.25, 0.75, 0.0, 0.0, 0.0],  # group 1 missing in row 0: stays missing
            [0.75, 0.25, 0.0, 0.0, 0.0],  # partner (row 0) misses group 1
            [0.0, 1.0, 0.0, 0.0, 0.0],
        ]
    )
    torch.testing.assert_close(ym, expected)
    # Without groups the mix is plain linear, and the segment sums to the partner weight.
    _, linear = mixup(x, y, lam=0.25, partner=partner, mask=mask)
    assert linear[1, 2:].sum().item() == pytest.approx(0.75)


def test_mixup_any_input_shape_and_dtype() -> None:
    y = torch.eye(2).repeat(2, 1)
    partner, mask = torch.tensor([1, 0, 3, 2]), torch.tensor([True, False, True, False])
    for shape in [(4,), (4, 5), (4, 2, 3, 4, 1)]:
        for dtype in (torch.float16, torch.bfloat16, torch.float64):
            x = torch.arange(np.prod(shape), dtype=torch.float64).reshape(shape).to(dtype)
            xm, _ = mixup(x, y, lam=0.5, partner=partner, mask=mask)
            assert xm.shape == x.shape and xm.dtype == dtype
            torch.testing.assert_close(xm[0], ((x[0].double() + x[1].double()) / 2).to(dtype))
            assert torch.equal(xm[1], x[1])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lam": 1.5}, ValueError, r"Expected `lam` in \[0, 1\], but got 1.5"),
        ({"lam": torch.tensor([0.1, -0.2, 0.3])}, ValueError,
         r"Expected `lam` in \[0, 1\], but got -0.2 at row 1"),
        ({"lam": torch.tensor([0.1, 0.2])}, ValueError,
         r"Expected `lam` of shape \(\) or \(N,\) = \(3,\), but got \(2,\)"),
        ({"lam": torch.tensor([0, 1, 0])}, TypeError,
         r"Expected `lam` to have a floating dtype, but got torch.int64"),
        ({"lam": "0.5"}, TypeError, r"Expected `lam` to be a real number, but got str"),
        ({"partner": torch.tensor([0, 3, 1])}, ValueError,
         r"Expected `partner` indices in \[0, 2\], but got 3 at row 1"),
        ({"partner": torch.tensor([0, -1, 1])}, ValueError,
         r"Expected `partner` indices in \[0, 2\], but got -1 at row 1"),
        ({"partner": torch.tensor([0.0, 1.0, 2.0])}, TypeError,
         r"Expected `partner` to be an integer tensor, but got torch.float32"),
        ({"partner": torch.tensor([0, 1])}, ValueError,
         r"Expected `partner` of shape \(N,\) = \(3,\), but got \(2,\)"),
        ({"mask": torch.tensor([1, 0, 1])}, TypeError,
         r"Expected `mask` to be a bool tensor, but got torch.int64"),
        ({"mask": torch.ones(2, dtype=torch.bool)}, ValueError,
         r"Expected `mask` of shape \(N,\) = \(3,\), but got \(2,\)"),
        ({"inputs": torch.zeros(3, 2, dtype=torch.uint8)}, TypeError,
         r"Expected `inputs` to have a floating dtype, but got torch.uint8"),
        ({"inputs": torch.tensor(1.0)}, ValueError,
         r"Expected `inputs` of shape \(N, \*\), but got a 0-d tensor"),
        ({"soft_targets": torch.zeros(4, 2)}, ValueError,
         r"Expected `soft_targets` of shape \(N, C\) = \(3, 2\) to match `inputs`, but got \(4, 2\)"),
        ({"soft_targets": torch.zeros(3, 2, dtype=torch.long)}, TypeError,
         r"Expected `soft_targets` to have a floating dtype"),
        ({"inputs": torch.zeros(3, 2, device="meta")}, ValueError,
         r"Expected `inputs` and `soft_targets` on the same device, but got meta and cpu"),
        ({"groups": AttributeGroups([2]), "soft_targets": torch.full((3, 2), 0.2)}, ValueError,
         r"Expected each group segment of `soft_targets` to sum to 1"),
    ],
)  # fmt: skip
def test_mixup_errors(kwargs, error, match) -> None:
    args = {
        "inputs": torch.zeros(3, 2),
        "soft_targets": torch.eye(2)[[0, 1, 0]],
        "lam": 0.5,
        "partner": torch.tensor([1, 2, 0]),
        "mask": torch.ones(3, dtype=torch.bool),
    }
    args.update(kwargs)
    inputs, soft = args.pop("inputs"), args.pop("soft_targets")
    with pytest.raises(error, match=match):
        mixup(inputs, soft, **args)


# ----------------------------------------------------------------------------------- mixup_plan


def test_plan_lam_follows_beta_distribution() -> None:
    g = torch.Generator().manual_seed(0)
    candidates = torch.ones(4, dtype=torch.bool)
    for alpha, beta in [(0.2, 0.2), (2.0, 5.0)]:
        lams = [
            float(mixup_plan(candidates, alpha=alpha, beta=beta, generator=g).lam)
            for _ in range(1500)
        ]
        assert stats.kstest(lams, stats.beta(alpha, beta).cdf).pvalue > 1e-3
        assert np.mean(lams) == pytest.approx(alpha / (alpha + beta), abs=0.03)
    per_row = mixup_plan(torch.ones(3000, dtype=torch.bool), per_sample_lam=True, generator=g).lam
    assert per_row.shape == (3000,) and per_row.dtype == torch.float32
    assert stats.kstest(per_row.numpy(), stats.beta(0.2, 0.2).cdf).pvalue > 1e-3


def test_plan_modes() -> None:
    g = torch.Generator().manual_seed(1)
    candidates = torch.tensor([True, False, True, True, False, True, False, True])
    identity = torch.arange(8)
    for _ in range(50):
        plan = mixup_plan(candidates, mode="minority", generator=g)
        assert torch.equal(plan.mask, candidates)
        assert torch.equal(plan.partner[~candidates], identity[~candidates])
        assert plan.lam.shape == ()
        plan = mixup_plan(candidates, mode="all", generator=g)
        assert bool(plan.mask.all())
        assert sorted(plan.partner.tolist()) == list(range(8))  # a permutation of the batch
        plan = mixup_plan(candidates, mode="minority_pairs", generator=g)
        assert torch.equal(plan.mask, candidates)
        assert bool(candidates[plan.partner[candidates]].all())  # partners are minority
        assert sorted(plan.partner[candidates].tolist()) == identity[candidates].tolist()
        plan = mixup_plan(candidates, mode="none", generator=g)
        assert not bool(plan.mask.any()) and torch.equal(plan.partner, identity)


def test_plan_partners_are_uniform() -> None:
    g = torch.Generator().manual_seed(2)
    candidates = torch.tensor([True, False, True, True, False, True])
    minority_rows = [0, 2, 3, 5]
    pairs = np.zeros((6, 6))
    whole = np.zeros((6, 6))
    for _ in range(2000):
        p = mixup_plan(candidates, mode="minority_pairs", generator=g).partner
        for i in minority_rows:
            pairs[i, int(p[i])] += 1
        p = mixup_plan(candidates, mode="minority", generator=g).partner
        for i in minority_rows:
            whole[i, int(p[i])] += 1
    for i in minority_rows:
        assert stats.chisquare(pairs[i, minority_rows]).pvalue > 1e-3
        assert pairs[i, [1, 4]].sum() == 0
        assert stats.chisquare(whole[i]).pvalue > 1e-3


def test_plan_p_and_determinism() -> None:
    candidates = torch.ones(5, dtype=torch.bool)
    g = torch.Generator().manual_seed(3)
    applied = [bool(mixup_plan(candidates, p=0.3, generator=g).mask.any()) for _ in range(1000)]
    assert stats.binomtest(sum(applied), 1000, 0.3).pvalue > 1e-3
    assert not any(mixup_plan(candidates, p=0.0, generator=g).mask.any() for _ in range(20))
    # Same seed, same plan; the draws do not depend on the mode.
    a = mixup_plan(candidates, mode="all", generator=torch.Generator().manual_seed(7))
    b = mixup_plan(candidates, mode="minority", generator=torch.Generator().manual_seed(7))
    assert isinstance(a, MixupPlan)
    assert torch.equal(a.lam, b.lam) and torch.equal(a.partner, b.partner)
    c = mixup_plan(candidates, mode="all", generator=torch.Generator().manual_seed(8))
    assert not torch.equal(a.partner, c.partner) or not torch.equal(a.lam, c.lam)
    # An empty batch and a single candidate work.
    assert mixup_plan(torch.zeros(0, dtype=torch.bool), generator=g).mask.shape == (0,)
    single = mixup_plan(torch.tensor([False, True]), mode="minority_pairs", generator=g)
    assert single.partner.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mode": "pairs"}, ValueError, r"Expected `mode` to be one of \('minority', 'all', 'minority_pairs', 'none'\), but got 'pairs'"),
        ({"alpha": 0.0}, ValueError, r"Expected `alpha` in \(0, inf\), but got 0"),
        ({"beta": -1}, ValueError, r"Expected `beta` in \(0, inf\), but got -1"),
        ({"p": 1.5}, ValueError, r"Expected `p` in \[0, 1\], but got 1.5"),
        ({"generator": 0}, TypeError, r"Expected `generator` to be a torch.Generator, but got int"),
        ({"candidates": torch.ones(3)}, TypeError, r"Expected `candidates` to be a bool tensor, but got torch.float32"),
        ({"candidates": torch.ones(2, 2, dtype=torch.bool)}, ValueError, r"Expected `candidates` of shape \(N,\), but got \(2, 2\)"),
    ],
)  # fmt: skip
def test_plan_errors(kwargs, error, match) -> None:
    args = {"candidates": torch.ones(3, dtype=torch.bool), "generator": torch.Generator()}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        mixup_plan(args.pop("candidates"), **args)


def test_modes_constant() -> None:
    assert MIXUP_MODES == ("minority", "all", "minority_pairs", "none")


# ------------------------------------------------------------------------------- MixupCollator


@pytest.mark.parametrize("mode", ["minority", "all", "minority_pairs"])
def test_collator_output_format_and_untouched_rows(mode: str) -> None:
    images, labels = fashion_batch(64, seed=4)
    collate = MixupCollator(FASHION, counts=FASHION_COUNTS, mode=mode, seed=0)
    out, soft = collate(samples(images, labels))
    assert out.shape == images.shape and out.dtype == images.dtype
    assert soft.shape == (64, 26) and soft.dtype == torch.float32
    sums = torch.stack([s.sum(1) for s in FASHION.split(soft)], 1)
    torch.testing.assert_close(sums, torch.ones(64, 6))
    minority = minority_mask(labels, FASHION, minority=minority_attributes(FASHION_COUNTS))
    unmixed = ~minority if mode != "all" else torch.zeros(64, dtype=torch.bool)
    if mode != "all":
        assert 0 < int(unmixed.sum()) < 64
    assert torch.equal(out[unmixed], images[unmixed])
    assert torch.equal(soft[unmixed], FASHION.to_one_hot(labels[unmixed]))
    assert not torch.equal(out, images)


def test_collator_per_row_targets_not_the_reports_first_sample_quirk() -> None:
    # Sample 0 is a majority-only image; the report's code weighted every label by sample 0's flag.
    images, labels = fashion_batch(16, seed=5)
    labels[0] = torch.tensor(FASHION_MAJORITY)
    collate = MixupCollator(FASHION, counts=FASHION_COUNTS, seed=1)
    out, soft = collate(samples(images, labels))
    assert torch.equal(soft[0], FASHION.to_one_hot(labels[:1])[0])
    minority = minority_mask(labels, FASHION, minority=minority_attributes(FASHION_COUNTS))
    changed = (soft != FASHION.to_one_hot(labels)).any(1)
    assert bool(changed.any()) and not bool((changed & ~minority).any())
    # Each mixed row's target moved exactly as far as its image.
    plan = mixup_plan(minority, generator=torch.Generator().manual_seed(1))
    xr, yr = reference_mixup(images, FASHION.to_one_hot(labels), plan.lam, plan.partner, plan.mask)
    np.testing.assert_allclose(out.numpy(), xr, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(soft.numpy(), yr, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("mode", MIXUP_MODES)
@pytest.mark.parametrize("per_sample_lam", [False, True])
def test_collator_equals_batch_mixup(mode: str, per_sample_lam: bool) -> None:
    images, labels = fashion_batch(24, seed=6)
    kwargs = {"counts": FASHION_COUNTS, "mode": mode, "per_sample_lam": per_sample_lam, "seed": 11}
    collate, module = MixupCollator(FASHION, **kwargs), BatchMixup(FASHION, **kwargs)
    for _ in range(4):
        a = collate(samples(images, labels))
        b = module(images, labels)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_collator_none_mode_and_p_zero_are_default_collate() -> None:
    images, labels = fashion_batch(8, seed=7)
    for kwargs in ({"mode": "none"}, {"p": 0.0}):
        out, soft = MixupCollator(FASHION, counts=FASHION_COUNTS, seed=0, **kwargs)(
            samples(images, labels)
        )
        assert torch.equal(out, default_collate(list(images)))
        assert torch.equal(soft, FASHION.to_one_hot(labels))


def test_collator_determinism_and_pickling() -> None:
    images, labels = fashion_batch(32, seed=8)
    batch = samples(images, labels)
    a = MixupCollator(FASHION, counts=FASHION_COUNTS, seed=3)
    b = MixupCollator(FASHION, counts=FASHION_COUNTS, generator=torch.Generator().manual_seed(3))
    c = MixupCollator(FASHION, counts=FASHION_COUNTS, seed=4)
    first = a(batch)
    assert all(torch.equal(u, v) for u, v in zip(first, b(batch)))
    assert not torch.equal(first[0], c(batch)[0])
    clone = pickle.loads(pickle.dumps(a))
    assert all(torch.equal(u, v) for u, v in zip(a(batch), clone(batch)))
    second = a(batch)
    assert not torch.equal(first[0], second[0])  # the stream advances
    assert "18/26 attributes" in repr(a)


def test_collator_label_forms_and_missing_labels() -> None:
    groups = AttributeGroups([3, 2])
    counts = [10, 1, 1, 6, 6]
    images = torch.randn(4, 2)
    rows = [[1, 0], [2, -100], [1, 1], [2, 0]]
    forms = [rows[0], np.array(rows[1]), torch.tensor(rows[2]), tuple(rows[3])]
    collate = MixupCollator(groups, counts=counts, mode="all", seed=0)
    out, soft = collate([(images[i], forms[i]) for i in range(4)])
    reference = BatchMixup(groups, counts=counts, mode="all", seed=0)(images, torch.tensor(rows))
    assert torch.equal(out, reference[0]) and torch.equal(soft, reference[1])
    sums = torch.stack([s.sum(1) for s in groups.split(soft)], 1)
    assert torch.all(((sums - 1).abs() < 1e-6) | (sums == 0))
    assert sums[1, 1] == 0  # row 1's missing group stays missing


@pytest.mark.parametrize(
    ("batch", "error", "match"),
    [
        ([], ValueError, r"Expected `batch` to be a non-empty list of \(image, labels\) pairs, but got list of length 0"),
        ([(torch.zeros(2), [0, 0], 3)], ValueError, r"Expected each sample to be a pair \(image, labels\), but sample 0 is tuple of length 3"),
        ([torch.zeros(2)], ValueError, r"but sample 0 is Tensor\."),
        ([(np.zeros(2), [0, 0])], TypeError, r"Expected the image of sample 0 to be a torch.Tensor, but got ndarray"),
        ([(torch.zeros(2), [0, 0]), (torch.zeros(2), [0])], ValueError, r"Expected the labels of sample 1 of shape \(G,\) = \(2,\) for 2 attribute groups, but got \(1,\)"),
        ([(torch.zeros(2), [0, 0]), (torch.zeros(3), [0, 0])], ValueError, r"Expected every image of shape \(2,\) like sample 0, but sample 1 has \(3,\)"),
        ([(torch.zeros(2, dtype=torch.uint8), [0, 0])], TypeError, r"Expected `image` to have a floating dtype, but got torch.uint8"),
        ([(torch.zeros(2), [0, 2])], ValueError, r"Expected `labels\[:, 1\]` \(group 'group1', 2 attributes\) in \[0, 1\] or ignore_index=-100, but got 2 at row 0"),
        ([(torch.zeros(2), [0.0, 1.0])], TypeError, r"Expected `labels` as hard \(N, G\).*hard labels must have an integer dtype"),
    ],
)  # fmt: skip
def test_collator_batch_errors(batch, error, match) -> None:
    collate = MixupCollator(AttributeGroups([3, 2]), counts=[1, 1, 1, 1, 1], seed=0)
    with pytest.raises(error, match=match):
        collate(batch)


@pytest.mark.parametrize("cls", [MixupCollator, BatchMixup])
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"counts": [1, 2, 3]}, ValueError, r"Expected `counts` of shape \(C,\) = \(5,\), but got \(3,\)"),
        ({"mode": "mixed"}, ValueError, r"Expected `mode` to be one of"),
        ({"alpha": 0}, ValueError, r"Expected `alpha` in \(0, inf\), but got 0"),
        ({"p": -0.1}, ValueError, r"Expected `p` in \[0, 1\], but got -0.1"),
        ({"seed": 1, "generator": torch.Generator()}, ValueError, r"Expected at most one of `seed` and `generator`, but got both"),
        ({"seed": -1}, ValueError, r"Expected `seed` >= 0, but got -1"),
        ({"generator": "gen"}, TypeError, r"Expected `generator` to be a torch.Generator, but got str"),
        ({"groups": [3, 2]}, TypeError, r"Expected `groups` to be an imbalml.AttributeGroups, but got list"),
    ],
)  # fmt: skip
def test_constructor_errors(cls, kwargs, error, match) -> None:
    args = {"groups": AttributeGroups([3, 2]), "counts": [5, 1, 1, 4, 3]}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        cls(args.pop("groups"), **args)


class _Repeated(torch.utils.data.Dataset):
    """The same 8 samples over and over, so every batch of 8 has the same content."""

    def __init__(self) -> None:
        self.images, self.labels = fashion_batch(8, seed=9)

    def __len__(self) -> int:
        return 64

    def __getitem__(self, index: int):
        return self.images[index % 8], self.labels[index % 8]


def _run_loader(seed: int, workers: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    collate = MixupCollator(FASHION, counts=FASHION_COUNTS, mode="all", seed=5)
    loader = DataLoader(
        _Repeated(),
        batch_size=8,
        num_workers=workers,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(seed),
    )
    return list(loader)


def test_collator_in_dataloader_workers_reproducible_and_distinct() -> None:
    first = _run_loader(0, workers=2)
    again = _run_loader(0, workers=2)
    other = _run_loader(1, workers=2)
    assert len(first) == 8
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    assert not torch.equal(first[0][0], other[0][0])
    # Batches 0 and 1 hold the same samples but come from workers 0 and 1: different draws.
    assert not torch.equal(first[0][0], first[1][0])
    # Within a worker the stream advances: batches 0 and 2 both come from worker 0.
    assert not torch.equal(first[0][0], first[2][0])
    # The main-process stream is the collator's own and differs from the workers'.
    main = _run_loader(0, workers=0)
    assert not torch.equal(main[0][0], first[0][0])
    for _, soft in first:
        sums = torch.stack([s.sum(1) for s in FASHION.split(soft)], 1)
        torch.testing.assert_close(sums, torch.ones(8, 6))


# ---------------------------------------------------------------------------------- BatchMixup


def test_batch_mixup_hard_and_soft_targets_agree() -> None:
    images, labels = fashion_batch(16, seed=10)
    a = BatchMixup(FASHION, counts=FASHION_COUNTS, seed=2)
    b = BatchMixup(FASHION, counts=FASHION_COUNTS, seed=2, validate_args=False)
    xa, ya = a(images, labels)
    xb, yb = b(images, FASHION.to_one_hot(labels).double())
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert ya.dtype == torch.float32 and xa.device == images.device
    assert not torch.equal(xa, images)


def test_batch_mixup_none_returns_the_images() -> None:
    images, labels = fashion_batch(4, seed=11)
    module = BatchMixup(FASHION, counts=FASHION_COUNTS, mode="none", seed=0)
    out, soft = module(images, labels)
    assert out is images and torch.equal(soft, FASHION.to_one_hot(labels))
    assert "mode='none'" in repr(module) and "18/26 attributes" in repr(module)


def test_batch_mixup_module_behaviour() -> None:
    module = BatchMixup(FASHION, counts=FASHION_COUNTS, seed=0)
    assert module.state_dict() == {}  # nothing to save but the generator (module.generator)
    assert module.minority.dtype == torch.bool and int(module.minority.sum()) == 18
    images, labels = fashion_batch(8, seed=12)
    state = module.generator.get_state()
    first = module(images, labels)
    module.generator.set_state(state)
    again = module(images, labels)
    assert torch.equal(first[0], again[0])


@pytest.mark.parametrize(
    ("images", "target", "error", "match"),
    [
        (torch.zeros(2, 3, dtype=torch.uint8), torch.zeros(2, 2, dtype=torch.long), TypeError,
         r"Expected `images` to have a floating dtype, but got torch.uint8"),
        (torch.zeros(2, 3, device="meta"), torch.zeros(2, 2, dtype=torch.long), ValueError,
         r"Expected `images` and `target` on the same device, but got meta and cpu"),
        (torch.zeros(2, 3), torch.zeros(3, 2, dtype=torch.long), ValueError,
         r"Expected `target` of shape \(N, G\) = \(2, 2\) for 2 attribute groups, but got \(3, 2\)"),
        (torch.zeros(2, 3), torch.zeros(2, 4), ValueError,
         r"Expected `target` of shape \(N, C\) = \(2, 5\) for 5 attributes, but got \(2, 4\)"),
        ([[0.0]], torch.zeros(1, 2, dtype=torch.long), TypeError,
         r"Expected `images` to be a torch.Tensor, but got list"),
        (torch.tensor(0.0), torch.zeros(1, 2, dtype=torch.long), ValueError,
         r"Expected `images` of shape \(N, \*\), but got a 0-d tensor"),
    ],
)  # fmt: skip
def test_batch_mixup_errors(images, target, error, match) -> None:
    module = BatchMixup(AttributeGroups([3, 2]), counts=[5, 1, 1, 4, 3], seed=0)
    with pytest.raises(error, match=match):
        module(images, target)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batch_mixup_on_cuda_matches_cpu() -> None:  # pragma: no cover - CPU machines
    images, labels = fashion_batch(32, seed=13)
    cpu = BatchMixup(FASHION, counts=FASHION_COUNTS, seed=3)
    gpu = BatchMixup(FASHION, counts=FASHION_COUNTS, seed=3, validate_args=False).cuda()
    a = cpu(images, labels)
    b = gpu(images.cuda(), labels.cuda())
    assert b[0].is_cuda and b[1].is_cuda
    torch.testing.assert_close(b[0].cpu(), a[0])
    torch.testing.assert_close(b[1].cpu(), a[1])


@pytest.mark.slow
def test_collator_with_spawned_workers() -> None:
    # A torch.Generator attribute does not survive torch's spawn pickling; the collator's does.
    collate = MixupCollator(FASHION, counts=FASHION_COUNTS, mode="all", seed=5)
    loader = DataLoader(
        _Repeated(),
        batch_size=8,
        num_workers=1,
        collate_fn=collate,
        multiprocessing_context="spawn",
        generator=torch.Generator().manual_seed(0),
    )
    spawned = list(loader)
    forked = _run_loader(0, workers=1)
    assert len(spawned) == 8
    assert all(torch.equal(a[0], b[0]) for a, b in zip(spawned, forked))


def test_batch_mixup_pickles_and_deep_copies() -> None:
    import copy

    images, labels = fashion_batch(8, seed=14)
    module = BatchMixup(FASHION, counts=FASHION_COUNTS, seed=4)
    clone = pickle.loads(pickle.dumps(module))
    twin = copy.deepcopy(module)
    first = module(images, labels)
    assert torch.equal(clone(images, labels)[0], first[0])
    assert torch.equal(twin(images, labels)[0], first[0])
    assert torch.equal(clone.minority, module.minority)


def test_both_classes_share_one_checked_set_of_options() -> None:
    """Each class writes its signature out; the two agree in name, kind, default and type."""
    import inspect
    import typing

    from imbalml.mixup.options import _MixupOptions

    collator = inspect.signature(MixupCollator).parameters
    batch = inspect.signature(BatchMixup).parameters
    assert list(batch) == [*collator, "validate_args"]
    assert len(collator) == 12
    collator_hints = typing.get_type_hints(MixupCollator.__init__)
    batch_hints = typing.get_type_hints(BatchMixup.__init__)
    for name in collator:
        assert (batch[name].kind, batch[name].default) == (
            collator[name].kind,
            collator[name].default,
        ), name
        assert batch_hints[name] == collator_hints[name], name
    assert collator["groups"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(collator[n].kind is inspect.Parameter.KEYWORD_ONLY for n in list(collator)[1:])
    assert batch_hints["validate_args"] is bool and batch["validate_args"].default is True
    assert (
        collator_hints["alpha"] is float
        and collator_hints["mode"] == typing.Literal["minority", "all", "minority_pairs", "none"]
    )
    for cls in (MixupCollator, BatchMixup):  # plain functions: no rewritten signature
        assert not hasattr(cls.__init__, "__signature__") and cls.__init__.__qualname__ == (
            f"{cls.__name__}.__init__"
        )
    assert issubclass(MixupCollator, _MixupOptions) and issubclass(BatchMixup, _MixupOptions)
    for cls in (MixupCollator, BatchMixup):
        with pytest.raises(ValueError, match=r"Expected `alpha` in \(0, inf\), but got -1"):
            cls(counts=[1, 2], alpha=-1)
    module = BatchMixup(counts=[1, 5, 9], seed=3, validate_args=False)
    assert module.validate_args is False and module.minority.tolist() == [True, True, False]
    assert "minority" in dict(module.named_buffers())


@pytest.mark.parametrize("cls", [MixupCollator, BatchMixup])
def test_constructor_errors_name_the_public_class(cls) -> None:
    name = cls.__name__
    with pytest.raises(
        TypeError, match=rf"^{name}\.__init__\(\) takes from 1 to 2 positional arguments but 3"
    ):
        cls(FASHION, FASHION_COUNTS)  # counts is keyword-only
    with pytest.raises(
        TypeError, match=rf"^{name}\.__init__\(\) got an unexpected keyword argument 'count'"
    ):
        cls(FASHION, count=FASHION_COUNTS)
