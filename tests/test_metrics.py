"""Tests for imbalml.functional metrics and the torchmetrics classes in imbalml.metrics.

References: scikit-learn's recall_score / accuracy_score / confusion_matrix, applied per group to
the rows whose label in that group is not ``ignore_index``.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from _helpers.ddp import make_metrics, sync_worker
from _helpers.strategies import (
    FASHION_SIZES,
    FAST,
    GroupedProblem,
    batch_splits,
    grouped_problems,
)
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics import accuracy_score, confusion_matrix, recall_score
from torchmetrics import MetricCollection

from imbalml import (
    AttributeGroups,
    GroupAccuracy,
    LabelAveragePrecision,
    MeanClassAccuracy,
    PerClassAccuracy,
)
from imbalml.functional import (
    confusion_counts,
    confusion_matrices,
    group_accuracy,
    label_average_precision,
    label_f1_score,
    label_precision,
    label_recall,
    mean_class_accuracy,
    per_class_accuracy,
)

FASHION = AttributeGroups(FASHION_SIZES)

# ---------------------------------------------------------------------------------- references


def ignore_of(problem: GroupedProblem) -> int:
    return -100 if problem.ignore_index is None else problem.ignore_index


def labelled(
    target: np.ndarray, preds: np.ndarray, g: int, ignore: int
) -> tuple[np.ndarray, np.ndarray]:
    keep = target[:, g] != ignore
    return target[keep, g], preds[keep, g]


def ref_per_class(
    preds: np.ndarray, target: np.ndarray, groups: AttributeGroups, ignore: int
) -> np.ndarray:
    out = []
    for g, k in enumerate(groups.sizes):
        y, p = labelled(target, preds, g, ignore)
        if y.size == 0:
            out.append(np.full(k, np.nan))
        else:
            # torchmetrics' multiclass rule: recall 0 where undefined, NaN (left out of the
            # macro mean) for an attribute neither in the target nor predicted
            recall = recall_score(y, p, labels=range(k), average=None, zero_division=0)
            nothing = ~np.isin(np.arange(k), y) & ~np.isin(np.arange(k), p)
            out.append(np.where(nothing, np.nan, recall))
    return np.concatenate(out)


def ref_group_accuracy(
    preds: np.ndarray, target: np.ndarray, groups: AttributeGroups, ignore: int
) -> np.ndarray:
    out = []
    for g in range(groups.num_groups):
        y, p = labelled(target, preds, g, ignore)
        out.append(accuracy_score(y, p) if y.size else np.nan)
    return np.array(out, dtype=np.float64)


def ref_confusion(
    preds: np.ndarray, target: np.ndarray, groups: AttributeGroups, ignore: int
) -> list[np.ndarray]:
    out = []
    for g, k in enumerate(groups.sizes):
        y, p = labelled(target, preds, g, ignore)
        out.append(
            confusion_matrix(y, p, labels=range(k)) if y.size else np.zeros((k, k), np.int64)
        )
    return out


@st.composite
def scored_problems(draw: st.DrawFn, **kwargs) -> tuple[GroupedProblem, np.ndarray]:
    """A problem plus predicted indices: argmax of the logits, overwritten by the truth on a drawn mask."""
    problem = draw(grouped_problems(**kwargs))
    preds = problem.groups.argmax(torch.from_numpy(problem.logits)).numpy()
    agree = draw(hnp.arrays(np.bool_, preds.shape))
    agree &= problem.target != ignore_of(problem)
    return problem, np.where(agree, problem.target, preds)


# ---------------------------------------------------------------------------------- functional vs sklearn


@given(case=scored_problems(min_samples=1, max_samples=16))
@FAST
def test_functional_metrics_match_sklearn(case: tuple[GroupedProblem, np.ndarray]) -> None:
    problem, preds = case
    groups, target, ignore = problem.groups, problem.target, ignore_of(problem)
    p, t = torch.from_numpy(preds), torch.from_numpy(target)

    per_class = per_class_accuracy(p, t, groups, ignore_index=ignore)
    assert per_class.dtype == torch.float64 and per_class.shape == (groups.num_attributes,)
    np.testing.assert_allclose(
        per_class.numpy(), ref_per_class(preds, target, groups, ignore), rtol=1e-15
    )

    acc = group_accuracy(p, t, groups, ignore_index=ignore)
    expected_acc = ref_group_accuracy(preds, target, groups, ignore)
    assert acc.dtype == torch.float64 and acc.shape == (groups.num_groups,)
    np.testing.assert_allclose(acc.numpy(), expected_acc, rtol=1e-15)
    mean_acc = group_accuracy(p, t, groups, ignore_index=ignore, average="macro")
    if np.isnan(expected_acc).all():
        assert bool(mean_acc.isnan())
    else:
        assert mean_acc.item() == pytest.approx(np.nanmean(expected_acc), rel=1e-15)

    mats = confusion_matrices(p, t, groups, ignore_index=ignore)
    assert len(mats) == groups.num_groups
    for mat, ref, k in zip(mats, ref_confusion(preds, target, groups, ignore), groups.sizes):
        assert mat.dtype == torch.long and mat.shape == (k, k)
        np.testing.assert_array_equal(mat.numpy(), ref)

    if (target != ignore).any():
        mca = mean_class_accuracy(p, t, groups, ignore_index=ignore)
        assert mca.dtype == torch.float64 and mca.ndim == 0
        assert mca.item() == pytest.approx(
            np.nanmean(ref_per_class(preds, target, groups, ignore)), rel=1e-14
        )
    else:
        with pytest.raises(ValueError, match="at least one labelled sample"):
            mean_class_accuracy(p, t, groups, ignore_index=ignore)


@given(case=scored_problems())
@FAST
def test_scores_and_indices_give_the_same_results(case: tuple[GroupedProblem, np.ndarray]) -> None:
    problem, _ = case
    groups, ignore = problem.groups, ignore_of(problem)
    scores = torch.from_numpy(problem.logits)
    indices = groups.argmax(scores)
    t = torch.from_numpy(problem.target)
    for fn in (per_class_accuracy, group_accuracy, confusion_counts):
        a, b = (
            fn(scores, t, groups, ignore_index=ignore),
            fn(indices, t, groups, ignore_index=ignore),
        )
        torch.testing.assert_close(a, b, equal_nan=True, rtol=0, atol=0)
    # float32 / float16 scores and numpy arrays are all accepted
    for variant in (scores.float(), problem.logits, problem.logits.astype(np.float32)):
        torch.testing.assert_close(
            confusion_counts(variant, problem.target, groups, ignore_index=ignore),
            confusion_counts(indices, t, groups, ignore_index=ignore),
        )


def test_numpy_and_narrow_integer_inputs() -> None:
    groups = AttributeGroups([3, 2])
    target = np.array([[0, 1], [2, 1], [2, 0], [1, 0]])
    preds = np.array([[0, 1], [2, 0], [1, 0], [1, 0]])
    expected = per_class_accuracy(torch.from_numpy(preds), torch.from_numpy(target), groups)
    torch.testing.assert_close(
        expected, torch.tensor([1.0, 1.0, 0.5, 1.0, 0.5], dtype=torch.float64)
    )
    for dtype in (np.int8, np.uint8, np.int32, np.int64):
        torch.testing.assert_close(
            per_class_accuracy(preds.astype(dtype), target.astype(dtype), groups), expected
        )


def test_ignore_index_excludes_only_that_group() -> None:
    groups = AttributeGroups([2, 2])
    target = torch.tensor([[0, -100], [1, 1], [-100, 0]])
    preds = torch.tensor([[0, 1], [0, 1], [1, 1]])
    assert [m.tolist() for m in confusion_matrices(preds, target, groups)] == [
        [[1, 0], [1, 0]],
        [[0, 1], [0, 1]],
    ]
    torch.testing.assert_close(
        per_class_accuracy(preds, target, groups),
        torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=torch.float64),
    )
    # a custom ignore_index in range of another group
    target = torch.tensor([[0, 7], [1, 1]])
    torch.testing.assert_close(
        group_accuracy(preds[:2], target, groups, ignore_index=7),
        torch.tensor([0.5, 1.0], dtype=torch.float64),
    )


def test_group_without_labels_is_nan_and_left_out_of_means() -> None:
    groups = AttributeGroups([2, 3])
    target = torch.tensor([[0, -100], [1, -100]])
    preds = torch.tensor([[0, 2], [0, 2]])
    acc = group_accuracy(preds, target, groups)
    assert acc[0].item() == 0.5 and bool(acc[1].isnan())
    assert group_accuracy(preds, target, groups, average="macro").item() == 0.5
    assert mean_class_accuracy(preds, target, groups).item() == 0.5


def test_majority_predictor_scores_g_over_c_on_fashion_layout() -> None:
    """Always predicting the majority attribute scores 6/26 when all 26 attributes occur."""
    rng = np.random.default_rng(0)
    rows = []
    for k in FASHION_SIZES:
        # every attribute at least once, attribute k - 1 the clear majority
        column = np.concatenate([np.arange(k), np.full(20, k - 1), rng.integers(0, k, 12 - k)])
        rows.append(rng.permutation(column))
        assert set(rows[-1]) == set(range(k))
    target = np.stack(rows, 1)
    majority = np.array([np.bincount(target[:, g]).argmax() for g in range(6)])
    preds = np.broadcast_to(majority, target.shape)
    score = mean_class_accuracy(preds, target, FASHION)
    assert score.item() == 6 / 26
    per_class = per_class_accuracy(preds, target, FASHION)
    assert per_class.sum().item() == 6.0 and not bool(per_class.isnan().any())


def test_docstring_values() -> None:
    groups = AttributeGroups([2, 2])
    got = per_class_accuracy(torch.tensor([[0, 1], [0, 1]]), torch.tensor([[0, 1], [1, 1]]), groups)
    torch.testing.assert_close(
        got, torch.tensor([1.0, 0.0, float("nan"), 1.0], dtype=torch.float64), equal_nan=True
    )
    # NaN attributes (no sample) are left out of the mean: (1 + 0 + 1) / 3
    got = mean_class_accuracy(
        torch.tensor([[0, 1], [0, 1]]), torch.tensor([[0, 1], [1, 1]]), groups
    )
    assert got.item() == pytest.approx(2 / 3, rel=1e-15)


def test_confusion_counts_layout() -> None:
    groups = AttributeGroups([2, 3])
    counts = confusion_counts(torch.tensor([[1, 2]]), torch.tensor([[0, 1]]), groups)
    assert counts.dtype == torch.long and counts.shape == (4 + 9,)
    expected = torch.zeros(13, dtype=torch.long)
    expected[0 * 2 + 1] = 1  # group 0: true 0, predicted 1
    expected[4 + 1 * 3 + 2] = 1  # group 1: true 1, predicted 2
    torch.testing.assert_close(counts, expected)
    empty = confusion_counts(
        torch.zeros(0, 2, dtype=torch.long), torch.zeros(0, 2, dtype=torch.long), groups
    )
    torch.testing.assert_close(empty, torch.zeros(13, dtype=torch.long))


# ---------------------------------------------------------------------------------- functional errors

ALL_FUNCTIONS = [
    per_class_accuracy,
    group_accuracy,
    confusion_matrices,
    mean_class_accuracy,
    confusion_counts,
]


@pytest.mark.parametrize("fn", ALL_FUNCTIONS)
def test_preds_errors(fn) -> None:
    groups = AttributeGroups([3, 2], names=["colour", "size"])
    target = torch.tensor([[0, 1], [2, 0], [1, 1]])
    with pytest.raises(
        ValueError,
        match=r"Expected `preds` as \(N, C\) = \(3, 5\) float scores or \(N, G\) = \(3, 2\) integer "
        r"indices, but got float \(3, 2\)\.",
    ):
        fn(torch.zeros(3, 2), target, groups)
    with pytest.raises(
        TypeError,
        match=r"Expected `preds` of shape \(N, C\) = \(3, 5\) to hold float scores, but got dtype torch.int64\.",
    ):
        fn(torch.zeros(3, 5, dtype=torch.long), target, groups)
    with pytest.raises(
        ValueError,
        match=r"Expected `preds` of shape \(N, G\) = \(3, 2\) for 2 attribute groups, but got \(3, 3\)\.",
    ):
        fn(torch.zeros(3, 3, dtype=torch.long), target, groups)
    with pytest.raises(
        ValueError,
        match=r"Expected `preds` of shape \(N, G\) = \(3, 2\) for 2 attribute groups, but got \(4, 2\)\.",
    ):
        fn(torch.zeros(4, 2, dtype=torch.long), target, groups)
    with pytest.raises(
        ValueError,
        match=r"Expected `preds` and `target` to have the same number of samples, but got 2 and 3\.",
    ):
        fn(torch.zeros(2, 5), target, groups)
    scores = torch.zeros(3, 5)
    scores[2, 4] = float("nan")
    with pytest.raises(
        ValueError, match=r"Expected `preds` without NaN, but got nan at row 2, column 4\."
    ):
        fn(scores, target, groups)
    # predictions out of range; no ignore_index for predictions
    with pytest.raises(
        ValueError,
        match=r"Expected `preds\[:, 1\]` \(group 'size', 2 attributes\) in \[0, 1\], but got 2 at row 0\.",
    ):
        fn(torch.tensor([[0, 2], [0, 0], [0, 0]]), target, groups)
    with pytest.raises(
        ValueError, match=r"Expected `preds\[:, 0\]` .* in \[0, 2\], but got -100 at row 1\."
    ):
        fn(torch.tensor([[0, 0], [-100, 0], [0, 0]]), target, groups)
    with pytest.raises(
        TypeError,
        match=r"Expected `preds` with integer attribute indices .* but got dtype torch.bool\.",
    ):
        fn(torch.zeros(3, 2, dtype=torch.bool), target, groups)
    with pytest.raises(
        TypeError,
        match=r"Expected `preds` to be a torch.Tensor, numpy.ndarray or list, but got str\.",
    ):
        fn("01", target, groups)
    listed = fn([[0, 1]] * 3, target, groups)  # a list is accepted as an array is
    expected = fn(torch.tensor([[0, 1]] * 3), target, groups)
    for a, b in zip(listed if isinstance(listed, tuple) else [listed],
                    expected if isinstance(expected, tuple) else [expected]):  # fmt: skip
        torch.testing.assert_close(a, b, equal_nan=True)


@pytest.mark.parametrize("fn", ALL_FUNCTIONS)
def test_target_errors(fn) -> None:
    groups = AttributeGroups([3, 2], names=["colour", "size"])
    preds = torch.zeros(2, 2, dtype=torch.long)
    with pytest.raises(
        ValueError,
        match=r"Expected `target` of shape \(N, G\) = \(2, 5\)|Expected `target` of shape \(N, G\) = \(2, 2\) for 2 attribute groups, but got \(2, 5\)\.",
    ):
        fn(preds, torch.zeros(2, 5, dtype=torch.long), groups)
    with pytest.raises(
        TypeError,
        match=r"Expected `target` as hard \(N, G\) = \(2, 2\) integer attribute indices or soft \(N, C\) = \(2, 5\) probabilities, but got torch.float32 of shape \(2, 2\): hard labels must have an integer dtype \(use `target.long\(\)`\)\.",
    ):
        fn(preds, torch.zeros(2, 2), groups)
    with pytest.raises(
        ValueError,
        match=r"Expected `target\[:, 0\]` \(group 'colour', 3 attributes\) in \[0, 2\] or ignore_index=-100, but got 3 at row 1\.",
    ):
        fn(preds, torch.tensor([[0, 0], [3, 0]]), groups)
    with pytest.raises(
        TypeError, match=r"Expected `groups` to be an imbalml.AttributeGroups, but got tuple\."
    ):
        fn(preds, preds, (3, 2))


def test_mean_class_accuracy_without_labels() -> None:
    groups = AttributeGroups([3, 2])
    match = r"Expected `target` to hold at least one labelled sample, but got none\."
    with pytest.raises(ValueError, match=match):
        mean_class_accuracy(
            torch.zeros(0, 2, dtype=torch.long), torch.zeros(0, 2, dtype=torch.long), groups
        )
    with pytest.raises(ValueError, match=match):
        mean_class_accuracy(torch.zeros(2, 2, dtype=torch.long), torch.full((2, 2), -100), groups)


def test_group_accuracy_bad_average() -> None:
    groups = AttributeGroups([2, 2])
    with pytest.raises(
        ValueError,
        match=r"Expected `average` to be one of \('micro', 'macro', 'none'\), but got 'mean': "
        r"imbalml uses torchmetrics' names",
    ):
        group_accuracy(
            torch.zeros(1, 2, dtype=torch.long),
            torch.zeros(1, 2, dtype=torch.long),
            groups,
            average="mean",
        )


# ---------------------------------------------------------------------------------- metric classes


def one_shot(preds, target, groups: AttributeGroups, ignore: int) -> dict[str, object]:
    per_class = per_class_accuracy(preds, target, groups, ignore_index=ignore)
    group_acc = group_accuracy(preds, target, groups, ignore_index=ignore)
    if groups.num_groups == 1:
        group_acc = group_acc.squeeze()  # torchmetrics squeezes one-element results (documented)
    return {
        "mca": per_class.nanmean(),  # NaN when no label at all, where the functional raises
        "per_class": per_class,
        "group_acc": group_acc,
        "group_mean": group_accuracy(preds, target, groups, ignore_index=ignore, average="macro"),
        "confmat": confusion_matrices(preds, target, groups, ignore_index=ignore),
    }


def assert_same(got: dict, expected: dict) -> None:
    for name, value in got.items():
        exp = expected[name]
        if isinstance(value, tuple):
            assert len(value) == len(exp)
            for a, b in zip(value, exp):
                torch.testing.assert_close(a, b, rtol=0, atol=0)
        else:
            torch.testing.assert_close(value, exp, equal_nan=True, rtol=0, atol=0)


@given(case=scored_problems(min_samples=0, max_samples=16), data=st.data())
@FAST
def test_batch_accumulation_equals_one_shot(
    case: tuple[GroupedProblem, np.ndarray], data: st.DataObject
) -> None:
    problem, preds = case
    groups, ignore = problem.groups, ignore_of(problem)
    use_scores = data.draw(st.booleans())
    p = torch.from_numpy(problem.logits) if use_scores else torch.from_numpy(preds)
    t = torch.from_numpy(problem.target)
    cuts = data.draw(batch_splits(problem.num_samples))
    metrics = make_metrics(groups, ignore)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchmetrics warns on compute() before any update
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            for m in metrics.values():
                m.update(p[lo:hi], t[lo:hi])
        got = {name: m.compute() for name, m in metrics.items()}
    assert_same(got, one_shot(p, t, groups, ignore))


def test_forward_returns_batch_value_and_accumulates() -> None:
    groups = AttributeGroups([2, 2])
    metric = GroupAccuracy(groups)
    first = metric(torch.tensor([[0, 0]]), torch.tensor([[0, 1]]))
    second = metric(torch.tensor([[1, 1]]), torch.tensor([[1, 1]]))
    torch.testing.assert_close(first, torch.tensor([1.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(second, torch.tensor([1.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(metric.compute(), torch.tensor([1.0, 0.5], dtype=torch.float64))


def test_single_group_accuracy_is_squeezed_by_torchmetrics() -> None:
    """Documented: torchmetrics squeezes a one-element result, so G = 1 gives a 0-d tensor."""
    metric = GroupAccuracy(AttributeGroups([3]))
    metric.update(torch.tensor([[0], [1]]), torch.tensor([[0], [2]]))
    assert metric.compute().shape == ()
    assert metric.compute().item() == 0.5
    assert GroupAccuracy.__doc__ is not None and "0-d" in GroupAccuracy.__doc__


def test_reset() -> None:
    groups = AttributeGroups([2, 3])
    metric = MeanClassAccuracy(groups)
    metric.update(torch.tensor([[0, 0]]), torch.tensor([[1, 1]]))
    assert metric.compute().item() == 0.0
    metric.reset()
    torch.testing.assert_close(metric.confmat, torch.zeros(13, dtype=torch.long))
    metric.update(torch.tensor([[1, 1]]), torch.tensor([[1, 1]]))
    assert metric.compute().item() == 1.0


def test_compute_before_update_is_nan() -> None:
    metric = MeanClassAccuracy(AttributeGroups([2, 2]))
    with pytest.warns(UserWarning, match="compute"):
        assert bool(metric.compute().isnan())


def test_validate_args_false_gives_the_same_result() -> None:
    groups = AttributeGroups([3, 2])
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(20, 5, generator=gen)
    target = torch.stack(
        [torch.randint(0, 3, (20,), generator=gen), torch.randint(0, 2, (20,), generator=gen)], 1
    )
    target[::4, 1] = -100
    fast, checked = MeanClassAccuracy(groups, validate_args=False), MeanClassAccuracy(groups)
    fast.update(scores, target)
    checked.update(scores, target)
    torch.testing.assert_close(fast.compute(), checked.compute())
    torch.testing.assert_close(fast.confmat, checked.confmat)


def test_metric_collection_shares_state() -> None:
    groups = AttributeGroups(FASHION_SIZES)
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(40, 26, generator=gen)
    target = torch.stack([torch.randint(0, k, (40,), generator=gen) for k in FASHION_SIZES], 1)
    metrics = make_metrics(groups, -100)
    collection = MetricCollection(dict(make_metrics(groups, -100)), compute_groups=True)
    for lo in range(0, 40, 16):
        collection.update(scores[lo : lo + 16], target[lo : lo + 16])
        for m in metrics.values():
            m.update(scores[lo : lo + 16], target[lo : lo + 16])
    # all five metrics hold the same state, so torchmetrics updates only one of them
    assert len(collection.compute_groups) == 1
    assert sorted(next(iter(collection.compute_groups.values()))) == sorted(metrics)
    got = collection.compute()
    assert_same(got, {name: m.compute() for name, m in metrics.items()})


def test_merge_state_equals_one_metric_over_both_halves() -> None:
    groups = AttributeGroups([3, 2])
    preds = torch.tensor([[0, 1], [2, 1], [1, 0], [2, 0], [0, 0]])
    target = torch.tensor([[0, 1], [2, 0], [1, 0], [0, -100], [2, 1]])
    a, b, whole = (MeanClassAccuracy(groups) for _ in range(3))
    a.update(preds[:2], target[:2])
    b.update(preds[2:], target[2:])
    whole.update(preds, target)
    a.merge_state(b)
    torch.testing.assert_close(a.confmat, whole.confmat)
    torch.testing.assert_close(a.compute(), whole.compute())


def test_state_dict_round_trip() -> None:
    groups = AttributeGroups([3, 2])
    metric = PerClassAccuracy(groups)
    metric.persistent(True)
    metric.update(torch.tensor([[0, 1], [2, 1], [1, 0]]), torch.tensor([[0, 1], [2, 0], [1, 0]]))
    state = metric.state_dict()
    assert set(state) == {"confmat"}
    restored = PerClassAccuracy(groups)
    restored.persistent(True)
    restored.load_state_dict(state)
    torch.testing.assert_close(restored.confmat, metric.confmat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a loaded metric has seen no update() call itself
        torch.testing.assert_close(restored.compute(), metric.compute(), equal_nan=True)


def test_pickle_round_trip() -> None:
    groups = AttributeGroups([3, 2], names=["colour", "size"])
    metric = GroupAccuracy(groups, average="macro", ignore_index=-1)
    metric.update(torch.tensor([[0, 1], [2, 1]]), torch.tensor([[0, 1], [1, -1]]))
    restored = pickle.loads(pickle.dumps(metric))
    assert restored.groups == groups and restored.average == "macro" and restored.ignore_index == -1
    torch.testing.assert_close(restored.compute(), metric.compute())
    restored.update(torch.tensor([[1, 1]]), torch.tensor([[1, 1]]))
    torch.testing.assert_close(
        restored.compute(), torch.tensor((2 / 3 + 2 / 2) / 2, dtype=torch.float64)
    )


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (
            {"groups": (2, 2)},
            TypeError,
            r"Expected `groups` to be an imbalml.AttributeGroups, but got tuple\.",
        ),
        (
            {"ignore_index": -1.0},
            TypeError,
            r"Expected `ignore_index` to be an int, but got float\.",
        ),
        (
            {"average": "mean"},
            ValueError,
            r"Expected `average` to be one of \('micro', 'macro', 'none'\), but got 'mean': "
            r"imbalml uses torchmetrics' names, 'macro' for the unweighted mean\.",
        ),
        (
            {"average": "samples"},
            ValueError,
            r"Expected `average` to be one of \('micro', 'macro', 'none'\), but got 'samples'\.",
        ),
    ],
)
def test_metric_constructor_errors(kwargs: dict, exc: type[Exception], match: str) -> None:
    args = {"groups": AttributeGroups([2, 2]), **kwargs}
    with pytest.raises(exc, match=match):
        GroupAccuracy(args.pop("groups"), **args)


def test_metric_update_errors_are_the_functional_ones() -> None:
    metric = MeanClassAccuracy(AttributeGroups([2, 2]))
    with pytest.raises(
        ValueError,
        match=r"Expected `preds` and `target` to have the same number of samples, but got 1 and 2\.",
    ):
        metric.update(torch.zeros(1, 4), torch.zeros(2, 2, dtype=torch.long))


# ---------------------------------------------------------------------------------- DDP


@pytest.mark.slow
def test_ddp_sync_equals_single_process(tmp_path) -> None:
    groups = AttributeGroups(FASHION_SIZES)
    gen = torch.Generator().manual_seed(0)
    preds = torch.randn(40, 26, generator=gen)
    target = torch.stack([torch.randint(0, k, (40,), generator=gen) for k in FASHION_SIZES], 1)
    target[::5, 2] = -100
    # uneven shares: rank 0 gets the first 23 rows, rank 1 the remaining 17
    mp.spawn(
        sync_worker,
        args=(
            2,
            str(tmp_path / "store"),
            groups.to_dict(),
            preds,
            target,
            [0, 23, 40],
            8,
            str(tmp_path),
        ),
        nprocs=2,
        join=True,
    )
    expected = one_shot(preds, target, groups, -100)
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert set(got) == {"mca", "per_class", "group_acc", "group_mean", "confmat"}
        assert_same(got, expected)


# ------------------------------------------------------------------ the GPU (fixed-shape) counts
@given(problem=grouped_problems(ignore=True, max_samples=40))
@FAST
def test_sync_free_counts_equal_bincount(problem: GroupedProblem) -> None:
    # The counting that CUDA uses (no host synchronisation), run on the CPU against bincount.
    from imbalml.functional.metrics.grouped_counts import _confusion_layout, _sync_free_counts

    groups, ignore = problem.groups, ignore_of(problem)
    t = torch.from_numpy(problem.target).long()
    p = groups.argmax(torch.from_numpy(problem.logits))
    sizes, starts, total = _confusion_layout(groups.sizes, t.device)
    flat = starts + t * sizes + p
    valid = t != ignore
    expected = torch.bincount(flat[valid], minlength=total)
    assert torch.equal(
        _sync_free_counts(torch.where(valid, flat, total).flatten(), total), expected
    )
    assert torch.equal(confusion_counts(p, t, groups, ignore_index=ignore), expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_metric_update_equals_cpu_without_synchronising() -> None:  # pragma: no cover
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(300, 26, generator=g)
    target = torch.stack([torch.randint(0, k, (300,), generator=g) for k in FASHION.sizes], 1)
    target[::7, 2] = -100
    cpu = MeanClassAccuracy(FASHION, validate_args=False)
    gpu = MeanClassAccuracy(FASHION, validate_args=False).cuda()
    x, y = logits.cuda(), target.cuda()
    gpu.update(x, y)  # first call: builds the cached layout tensors
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        gpu.update(x, y)
        gpu.update(FASHION.argmax(x, validate_args=False), y)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    for _ in range(3):
        cpu.update(logits, target)
    assert torch.equal(gpu.confmat.cpu(), cpu.confmat)
    torch.use_deterministic_algorithms(True)
    try:
        assert torch.equal(
            confusion_counts(x, y, FASHION, validate_args=False).cpu(),
            confusion_counts(logits, target, FASHION),
        )
    finally:
        torch.use_deterministic_algorithms(False)


# ---------------------------------------------------------------------------------- one rule for absent attributes


def test_absent_attribute_rule_is_torchmetrics_multiclass_macro() -> None:
    """label_recall and mean_class_accuracy agree on an attribute absent from the data.

    Group of 4: attribute 2 has no sample but is predicted once (recall 0, counted); attribute 3
    has no sample and is never predicted (left out), as torchmetrics' multiclass macro averages.
    """
    from torchmetrics.functional.classification import (
        multiclass_accuracy,
        multiclass_f1_score,
        multiclass_precision,
        multiclass_recall,
    )

    groups = AttributeGroups([4])
    target = torch.tensor([[0], [0], [1], [1], [0]])
    preds = torch.tensor([[0], [1], [1], [2], [0]])
    expected = multiclass_accuracy(preds[:, 0], target[:, 0], num_classes=4, average="macro")
    assert expected.item() == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert mean_class_accuracy(preds, target, groups).item() == pytest.approx(expected.item())
    assert label_recall(preds, target, groups).item() == pytest.approx(expected.item())
    per_class = per_class_accuracy(preds, target, groups)
    assert per_class[2].item() == 0.0 and bool(per_class[3].isnan())
    metric = MeanClassAccuracy(groups)
    metric.update(preds, target)
    assert metric.compute().item() == pytest.approx(expected.item())
    for ours, theirs in (
        (label_recall, multiclass_recall),
        (label_precision, multiclass_precision),
        (label_f1_score, multiclass_f1_score),
    ):
        for average in ("macro", "micro", "weighted", "none"):
            want = theirs(preds[:, 0], target[:, 0], num_classes=4, average=average)
            got = ours(preds, target, groups, average=average)
            torch.testing.assert_close(got.float(), want, rtol=1e-6, atol=1e-7)


@given(case=scored_problems(min_samples=1, max_samples=16))
@FAST
def test_grouped_macro_recall_equals_mean_class_accuracy(case) -> None:
    problem, preds = case
    groups, target, ignore = problem.groups, problem.target, ignore_of(problem)
    if not (target != ignore).any():
        return
    p, t = torch.from_numpy(preds), torch.from_numpy(target)
    mca = mean_class_accuracy(p, t, groups, ignore_index=ignore)
    recall = label_recall(p, t, groups, ignore_index=ignore)
    assert recall.item() == pytest.approx(mca.item(), rel=1e-12)


def test_grouped_average_precision_takes_logits_or_softmax_probabilities() -> None:
    """One rule: floats inside [0, 1] are (per-group) probabilities, others logits."""
    from torchmetrics.functional.classification import multiclass_average_precision

    from imbalml.functional import grouped_softmax

    groups = AttributeGroups([3, 2])
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(40, 5, generator=g) * 3
    target = torch.stack(
        [torch.randint(0, 3, (40,), generator=g), torch.randint(0, 2, (40,), generator=g)], 1
    )
    target[:, 0][target[:, 0] == 2] = 1  # attribute 2 absent: no AP, left out of the macro mean
    probs = grouped_softmax(logits, groups)
    from_logits = label_average_precision(logits, target, groups, average="none")
    torch.testing.assert_close(
        label_average_precision(probs, target, groups, average="none"), from_logits, equal_nan=True
    )
    assert bool(from_logits[2].isnan())
    want = multiclass_average_precision(probs[:, :3], target[:, 0], num_classes=3, average="none")
    torch.testing.assert_close(from_logits[:3], want, equal_nan=True)
    macro = label_average_precision(logits, target, groups)
    assert macro.item() == pytest.approx(from_logits.nanmean().item())
    metric = LabelAveragePrecision(groups)
    metric.update(probs, target)
    assert metric.compute().item() == pytest.approx(macro.item())
