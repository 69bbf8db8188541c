"""Tests for imbalml.functional grouped_softmax / grouped_log_softmax / grouped_argmax."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _helpers.strategies import (
    FASHION_SIZES,
    FAST,
    GroupedProblem,
    attribute_groups,
    grouped_problems,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from imbalml import AttributeGroups
from imbalml.functional import grouped_argmax, grouped_log_softmax, grouped_softmax


def numpy_log_softmax(x: np.ndarray, groups: AttributeGroups) -> np.ndarray:
    """Float64 reference: x - logsumexp over each group's columns (max-shifted)."""
    x = x.astype(np.float64)
    out = np.empty_like(x)
    for s in groups.slices:
        seg = x[:, s]
        m = seg.max(axis=1, keepdims=True)
        out[:, s] = seg - m - np.log(np.exp(seg - m).sum(axis=1, keepdims=True))
    return out


def group_sums(p: torch.Tensor, groups: AttributeGroups) -> torch.Tensor:
    return torch.stack([s.double().sum(-1) for s in groups.split(p)], -1)


# ---------------------------------------------------------------------------------- properties


@given(problem=grouped_problems(min_samples=0))
@FAST
def test_softmax_segments_sum_to_one(problem: GroupedProblem) -> None:
    groups = problem.groups
    for dtype, atol in ((torch.float32, 1e-6), (torch.float64, 1e-14)):
        x = torch.from_numpy(problem.logits).to(dtype)
        p = grouped_softmax(x, groups)
        assert p.dtype == dtype and p.shape == x.shape
        assert bool(((p >= 0) & (p <= 1)).all())
        ones = torch.ones(x.shape[0], groups.num_groups, dtype=torch.float64)
        torch.testing.assert_close(group_sums(p, groups), ones, atol=atol, rtol=0)
        log_p = grouped_log_softmax(x, groups)
        assert log_p.dtype == dtype
        torch.testing.assert_close(log_p.exp(), p)


@given(
    problem=grouped_problems(),
    shifts=hnp.arrays(np.float64, 4, elements=st.floats(-50, 50, width=32)),
)
@FAST
def test_shift_invariance_per_group(problem: GroupedProblem, shifts: np.ndarray) -> None:
    """Adding one constant per (row, group) to that group's logits changes nothing."""
    groups = problem.groups
    x = torch.from_numpy(problem.logits)
    per_group = torch.from_numpy(shifts[: groups.num_groups])
    # a different constant per row too: row n gets shifts[g] * (n + 1)
    rows = torch.arange(1, x.shape[0] + 1, dtype=torch.float64).unsqueeze(1)
    shift = (rows * per_group)[:, groups.group_index()]
    y = x + shift
    torch.testing.assert_close(grouped_softmax(y, groups), grouped_softmax(x, groups))
    torch.testing.assert_close(
        grouped_log_softmax(y, groups), grouped_log_softmax(x, groups), atol=1e-9, rtol=1e-9
    )


@given(problem=grouped_problems(), data=st.data())
@FAST
def test_groups_are_independent(problem: GroupedProblem, data: st.DataObject) -> None:
    """Changing one group's logits leaves every other group's output untouched."""
    groups = problem.groups
    g = data.draw(st.integers(0, groups.num_groups - 1))
    x = torch.from_numpy(problem.logits)
    y = x.clone()
    y[:, groups.slices[g]] = y[:, groups.slices[g]] * 3.0 + 7.0
    px, py = grouped_softmax(x, groups), grouped_softmax(y, groups)
    for h, s in enumerate(groups.slices):
        if h != g:
            torch.testing.assert_close(px[:, s], py[:, s], rtol=0, atol=0)


@given(problem=grouped_problems(min_samples=0))
@FAST
def test_argmax_consistency(problem: GroupedProblem) -> None:
    groups = problem.groups
    # Logits on a 1/4 grid: distinct maxima stay distinct after softmax (logits 1e-38 apart would
    # tie in probability), while equal logits still test first-index tie breaking.
    x = torch.from_numpy(np.round(problem.logits * 4) / 4)
    idx = grouped_argmax(x, groups)
    assert idx.dtype == torch.long and idx.shape == (x.shape[0], groups.num_groups)
    per_group = torch.stack([x[:, s].argmax(dim=1) for s in groups.slices], -1)
    torch.testing.assert_close(idx, per_group.reshape(idx.shape))
    torch.testing.assert_close(grouped_argmax(grouped_softmax(x, groups), groups), idx)
    torch.testing.assert_close(grouped_argmax(grouped_log_softmax(x, groups), groups), idx)
    torch.testing.assert_close(groups.argmax(x), idx)


@given(problem=grouped_problems())
@FAST
def test_float64_matches_numpy_reference(problem: GroupedProblem) -> None:
    groups = problem.groups
    x = torch.from_numpy(problem.logits)
    expected = numpy_log_softmax(problem.logits, groups)
    np.testing.assert_allclose(
        grouped_log_softmax(x, groups).numpy(), expected, rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(
        grouped_softmax(x, groups).numpy(), np.exp(expected), rtol=1e-12, atol=1e-15
    )


def test_float32_close_to_float64_reference_at_large_logits() -> None:
    groups = AttributeGroups(FASHION_SIZES)
    x = torch.linspace(-300.0, 300.0, 26).reshape(1, 26).repeat(3, 1)
    x[1] *= -1
    expected = numpy_log_softmax(x.double().numpy(), groups)
    out = grouped_log_softmax(x, groups)
    assert out.dtype == torch.float32 and bool(out.isfinite().all())
    np.testing.assert_allclose(out.double().numpy(), expected, rtol=1e-6, atol=1e-4)


# ---------------------------------------------------------------------------------- half precision


@pytest.mark.parametrize(("dtype", "atol"), [(torch.float16, 2e-3), (torch.bfloat16, 1.2e-2)])
@given(
    x=hnp.arrays(
        np.float32,
        (5, sum(FASHION_SIZES)),
        elements=st.one_of(st.sampled_from([-1e4, 1e4, 0.0]), st.floats(-1e4, 1e4, width=16)),
    )
)
@settings(FAST, max_examples=20)
def test_half_precision_extreme_logits(dtype: torch.dtype, atol: float, x: np.ndarray) -> None:
    groups = AttributeGroups(FASHION_SIZES)
    logits = torch.from_numpy(x).to(dtype)
    p = grouped_softmax(logits, groups)
    assert p.dtype == dtype
    assert bool(p.isfinite().all())
    torch.testing.assert_close(
        group_sums(p, groups),
        torch.ones(5, groups.num_groups, dtype=torch.float64),
        atol=atol,
        rtol=0,
    )
    log_p = grouped_log_softmax(logits, groups)
    assert log_p.dtype == torch.float32  # documented: computed and returned in float32
    assert bool(log_p.isfinite().all())
    assert bool((log_p <= 0).all())
    # float32 probabilities: each of up to 7 terms carries a rounding error of ~6e-8.
    torch.testing.assert_close(
        group_sums(log_p.exp(), groups),
        torch.ones(5, groups.num_groups, dtype=torch.float64),
        atol=1e-6,
        rtol=0,
    )
    # The float32 result equals the float32 computation on the upcast input.
    torch.testing.assert_close(log_p, grouped_log_softmax(logits.float(), groups))
    torch.testing.assert_close(
        grouped_argmax(logits, groups), grouped_argmax(logits.float(), groups)
    )


def test_half_precision_gradients_are_finite() -> None:
    groups = AttributeGroups(FASHION_SIZES)
    x = torch.tensor([[1e4, -1e4] * 13], dtype=torch.float16, requires_grad=True)
    target = groups.to_one_hot(torch.tensor([[1, 0, 1, 0, 1, 0]]))
    loss = -(grouped_log_softmax(x, groups) * target).sum()
    loss.backward()
    assert x.grad is not None and x.grad.dtype == torch.float16
    assert bool(torch.isfinite(loss)) and bool(x.grad.isfinite().all())


def test_under_cpu_autocast() -> None:
    groups = AttributeGroups([3, 2])
    linear = torch.nn.Linear(4, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = linear(torch.randn(2, 4, generator=torch.Generator().manual_seed(0)))
        assert logits.dtype == torch.bfloat16
        log_p = grouped_log_softmax(logits, groups)
    assert log_p.dtype == torch.float32
    torch.testing.assert_close(
        group_sums(log_p.exp(), groups), torch.ones(2, 2, dtype=torch.float64)
    )


# ---------------------------------------------------------------------------------- gradients


def test_gradcheck_log_softmax_float64() -> None:
    groups = AttributeGroups([3, 2, 4])
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 9, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: grouped_log_softmax(t, groups), (x,))
    assert torch.autograd.gradgradcheck(lambda t: grouped_log_softmax(t, groups), (x,))
    assert torch.autograd.gradcheck(lambda t: grouped_softmax(t, groups), (x,))


def test_log_softmax_gradient_matches_closed_form() -> None:
    """d/dx of -sum(y * log p) is p - y within each group (y one-hot per group)."""
    groups = AttributeGroups([3, 2])
    x = torch.tensor([[0.5, -1.0, 2.0, 0.0, 3.0]], dtype=torch.float64, requires_grad=True)
    y = groups.to_one_hot(torch.tensor([[2, 0]]), dtype=torch.float64)
    (-(grouped_log_softmax(x, groups) * y).sum()).backward()
    torch.testing.assert_close(x.grad, grouped_softmax(x.detach(), groups) - y)


# ---------------------------------------------------------------------------------- inputs and errors


def test_examples_from_docstrings() -> None:
    groups = AttributeGroups([2, 3])
    p = grouped_softmax(torch.zeros(2, 5), groups)
    torch.testing.assert_close(p, torch.tensor([[0.5, 0.5, 1 / 3, 1 / 3, 1 / 3]] * 2))
    assert grouped_argmax(torch.tensor([[0.0, 1.0, 3.0, 2.0, 1.0]]), groups).tolist() == [[1, 0]]


@pytest.mark.parametrize("fn", [grouped_softmax, grouped_log_softmax, grouped_argmax])
def test_wrong_shape(fn) -> None:
    groups = AttributeGroups([2, 3])
    with pytest.raises(
        ValueError,
        match=r"Expected `input` of shape \(N, C\) = \(4, 5\) for 5 attributes in 2 groups, but got \(4, 6\)\.",
    ):
        fn(torch.zeros(4, 6), groups)
    with pytest.raises(
        ValueError, match=r"Expected `input` of shape \(N, C\) = \(2, 5\) .* but got \(2, 3, 5\)\."
    ):
        fn(torch.zeros(2, 3, 5), groups)


@pytest.mark.parametrize("fn", [grouped_softmax, grouped_log_softmax, grouped_argmax])
def test_integer_input_and_bad_groups(fn) -> None:
    groups = AttributeGroups([2, 3])
    with pytest.raises(
        TypeError, match=r"Expected `input` to have a floating dtype, but got torch.int64\."
    ):
        fn(torch.zeros(1, 5, dtype=torch.long), groups)
    with pytest.raises(
        TypeError, match=r"Expected `groups` to be an imbalml.AttributeGroups, but got tuple\."
    ):
        fn(torch.zeros(1, 5), (2, 3))


def test_argmax_nan_names_input() -> None:
    groups = AttributeGroups([2, 3])
    x = torch.zeros(2, 5)
    x[1, 4] = float("nan")
    with pytest.raises(
        ValueError, match=r"Expected `input` without NaN, but got nan at row 1, column 4\."
    ):
        grouped_argmax(x, groups)


def test_nan_stays_inside_its_group() -> None:
    groups = AttributeGroups([2, 3])
    x = torch.zeros(1, 5)
    x[0, 0] = float("nan")
    p = grouped_softmax(x, groups)
    assert bool(p[:, :2].isnan().all())
    torch.testing.assert_close(p[:, 2:], torch.full((1, 3), 1 / 3))


def test_validate_args_false_skips_checks_but_split_still_guards() -> None:
    groups = AttributeGroups([2, 3])
    out = grouped_softmax(torch.zeros(1, 5), groups, validate_args=False)
    assert out.shape == (1, 5)
    with pytest.raises(ValueError, match=r"Expected `tensor` with last dimension C = 5"):
        grouped_log_softmax(torch.zeros(1, 6), groups, validate_args=False)


@given(groups=attribute_groups(max_groups=3))
@FAST
def test_uniform_logits_give_uniform_probabilities(groups: AttributeGroups) -> None:
    p = grouped_softmax(torch.zeros(2, groups.num_attributes, dtype=torch.float64), groups)
    expected = torch.tensor(
        [1.0 / groups.sizes[g] for g in groups.attribute_group], dtype=torch.float64
    )
    torch.testing.assert_close(p, expected.expand(2, -1))
